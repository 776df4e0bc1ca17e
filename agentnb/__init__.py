"""agentnb: Jupyter-native multi-agent conversations with AutoGen 0.2's API.

``import agentnb as autogen`` runs AutoGen 0.2 code. Names are imported lazily so
that ``import agentnb`` stays fast (the ``openai`` SDK loads on the first model call).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Agent": "agentnb.agents.conversable",
    "ConversableAgent": "agentnb.agents.conversable",
    "AssistantAgent": "agentnb.agents.assistant",
    "UserProxyAgent": "agentnb.agents.assistant",
    "ChatResult": "agentnb.agents.result",
    "gather_usage_summary": "agentnb.agents.result",
    "GroupChat": "agentnb.groupchat",
    "GroupChatManager": "agentnb.groupchat",
    "register_function": "agentnb.agents.tools",
    "config_list_from_json": "agentnb.llm.config",
    "Cache": "agentnb.llm.cache",
    "initiate_chats": "agentnb.agents.chat",
    "config_list_openai_aoai": "agentnb.llm.config",
    "filter_config": "agentnb.llm.config",
    "set_default_llm_config": "agentnb.llm.config",
    "ModelClient": "agentnb.llm.client",
    "OpenAIWrapper": "agentnb.llm.client",
    "human_handlers": "agentnb.agents.human",
    "ApprovalRequest": "agentnb.messages",
    "ApprovalDecision": "agentnb.messages",
    "CodeBlock": "agentnb.coding.base",
    "CodeResult": "agentnb.coding.base",
    "CodeExecutor": "agentnb.coding.base",
    "KernelExecutor": "agentnb.coding.kernel",
    "LocalCommandLineExecutor": "agentnb.coding.local",
    "ConsoleView": "agentnb.console",
    "AgentNBError": "agentnb.errors",
    "ConfigError": "agentnb.errors",
    "ModelError": "agentnb.errors",
    "ChatError": "agentnb.errors",
    "load_ipython_extension": "agentnb.notebook",
    "unload_ipython_extension": "agentnb.notebook",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentnb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

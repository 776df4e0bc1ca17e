"""agentnb: Jupyter-native multi-agent conversations with AutoGen 0.2's API.

``import agentnb as autogen`` runs AutoGen 0.2 code: the names 0.2 exports at the top level, and
its module paths (``autogen.agentchat``, ``autogen.oai``, ``autogen.code_utils``, ``autogen.coding``,
``autogen.cache``, ``autogen.io``, ``autogen.runtime_logging``, ...) as attributes. Names and
submodules are imported lazily so that ``import agentnb`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # autogen.agentchat
    "Agent": "agentnb.agents.conversable",
    "ConversableAgent": "agentnb.agents.conversable",
    "AssistantAgent": "agentnb.agents.assistant",
    "UserProxyAgent": "agentnb.agents.assistant",
    "ChatResult": "agentnb.agents.result",
    "gather_usage_summary": "agentnb.agents.result",
    "GroupChat": "agentnb.groupchat",
    "GroupChatManager": "agentnb.groupchat",
    "register_function": "agentnb.agents.tools",
    "initiate_chats": "agentnb.agents.chat",
    # autogen.oai
    "OpenAIWrapper": "agentnb.oai.client",
    "ModelClient": "agentnb.oai.client",
    "Cache": "agentnb.llm.cache",
    "config_list_from_json": "agentnb.llm.config",
    "filter_config": "agentnb.llm.config",
    "config_list_openai_aoai": "agentnb.oai.openai_utils",
    "config_list_from_dotenv": "agentnb.oai.openai_utils",
    "config_list_from_models": "agentnb.oai.openai_utils",
    "config_list_gpt4_gpt35": "agentnb.oai.openai_utils",
    "get_config_list": "agentnb.oai.openai_utils",
    # autogen.exception_utils
    "AgentNameConflict": "agentnb.exception_utils",
    "InvalidCarryOverType": "agentnb.exception_utils",
    "NoEligibleSpeaker": "agentnb.exception_utils",
    "SenderRequired": "agentnb.exception_utils",
    "UndefinedNextAgent": "agentnb.exception_utils",
    # autogen.code_utils
    "DEFAULT_MODEL": "agentnb.code_utils",
    "FAST_MODEL": "agentnb.code_utils",
    # agentnb's own
    "set_default_llm_config": "agentnb.llm.config",
    "human_handlers": "agentnb.agents.human",
    "ApprovalRequest": "agentnb.messages",
    "ApprovalDecision": "agentnb.messages",
    "CodeBlock": "agentnb.coding.base",
    "CodeResult": "agentnb.coding.base",
    "CodeExecutor": "agentnb.coding.base",
    "KernelExecutor": "agentnb.coding.kernel",
    "LocalCommandLineExecutor": "agentnb.coding.local",
    "ConsoleView": "agentnb.console",
    "IOStream": "agentnb.io",
    "AgentNBError": "agentnb.errors",
    "ConfigError": "agentnb.errors",
    "ModelError": "agentnb.errors",
    "ChatError": "agentnb.errors",
    "load_ipython_extension": "agentnb.notebook",
    "unload_ipython_extension": "agentnb.notebook",
    "UnsafePathError": "agentnb.errors",
    "run_batch": "agentnb.batch",
    "dump_team": "agentnb.studio.dump",
    "load_team": "agentnb.studio.build",
}

_SUBMODULES = frozenset({
    # AutoGen 0.2's module paths
    "agentchat", "oai", "io", "coding", "cache", "code_utils", "function_utils", "graph_utils",
    "token_count_utils", "runtime_logging", "logger", "exception_utils", "formatting_utils",
    # agentnb's own
    "agents", "batch", "chat_utils", "contrib", "errors", "export", "groupchat", "llm", "messages", "notebook",
    "studio", "testing",
})

__all__ = [
    "DEFAULT_MODEL",
    "FAST_MODEL",
    "Agent",
    "AgentNBError",
    "AgentNameConflict",
    "ApprovalDecision",
    "ApprovalRequest",
    "AssistantAgent",
    "Cache",
    "ChatError",
    "ChatResult",
    "CodeBlock",
    "CodeExecutor",
    "CodeResult",
    "ConfigError",
    "ConsoleView",
    "ConversableAgent",
    "GroupChat",
    "GroupChatManager",
    "IOStream",
    "InvalidCarryOverType",
    "KernelExecutor",
    "LocalCommandLineExecutor",
    "ModelClient",
    "ModelError",
    "NoEligibleSpeaker",
    "OpenAIWrapper",
    "SenderRequired",
    "UndefinedNextAgent",
    "UnsafePathError",
    "UserProxyAgent",
    "__version__",
    "agentchat",
    "cache",
    "code_utils",
    "coding",
    "config_list_from_dotenv",
    "config_list_from_json",
    "config_list_from_models",
    "config_list_gpt4_gpt35",
    "config_list_openai_aoai",
    "dump_team",
    "exception_utils",
    "filter_config",
    "formatting_utils",
    "function_utils",
    "gather_usage_summary",
    "get_config_list",
    "graph_utils",
    "human_handlers",
    "initiate_chats",
    "io",
    "load_ipython_extension",
    "load_team",
    "logger",
    "oai",
    "register_function",
    "run_batch",
    "runtime_logging",
    "set_default_llm_config",
    "studio",
    "token_count_utils",
    "unload_ipython_extension",
]
"""Every public name and the 0.2 submodules (all imported lazily)."""

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time everything is imported on first use
    from . import (
        agentchat,
        cache,
        code_utils,
        coding,
        exception_utils,
        formatting_utils,
        function_utils,
        graph_utils,
        io,
        logger,
        oai,
        runtime_logging,
        studio,
        token_count_utils,
    )
    from .agents.assistant import AssistantAgent, UserProxyAgent
    from .agents.chat import initiate_chats
    from .agents.conversable import Agent, ConversableAgent
    from .agents.human import human_handlers
    from .agents.result import ChatResult, gather_usage_summary
    from .agents.tools import register_function
    from .batch import run_batch
    from .code_utils import DEFAULT_MODEL, FAST_MODEL
    from .coding.base import CodeBlock, CodeExecutor, CodeResult
    from .coding.kernel import KernelExecutor
    from .coding.local import LocalCommandLineExecutor
    from .console import ConsoleView
    from .errors import AgentNBError, ChatError, ConfigError, ModelError, UnsafePathError
    from .exception_utils import (
        AgentNameConflict,
        InvalidCarryOverType,
        NoEligibleSpeaker,
        SenderRequired,
        UndefinedNextAgent,
    )
    from .groupchat import GroupChat, GroupChatManager
    from .io import IOStream
    from .llm.cache import Cache
    from .llm.config import config_list_from_json, filter_config, set_default_llm_config
    from .messages import ApprovalDecision, ApprovalRequest
    from .notebook import load_ipython_extension, unload_ipython_extension
    from .oai.client import ModelClient, OpenAIWrapper
    from .oai.openai_utils import (
        config_list_from_dotenv,
        config_list_from_models,
        config_list_gpt4_gpt35,
        config_list_openai_aoai,
        get_config_list,
    )
    from .studio.build import load_team
    from .studio.dump import dump_team


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=_SUBMODULES, public=__all__)

"""AutoGen 0.2's import paths resolve to agentnb's own objects (aliases, not copies)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import agentnb as autogen
from agentnb.errors import AgentNBError

PATHS = {
    "agentnb.agentchat": ["Agent", "ConversableAgent", "AssistantAgent", "UserProxyAgent", "GroupChat",
                          "GroupChatManager", "register_function", "initiate_chats", "gather_usage_summary",
                          "ChatResult"],
    "agentnb.agentchat.agent": ["Agent", "LLMAgent"],
    "agentnb.agentchat.conversable_agent": ["ConversableAgent", "register_function"],
    "agentnb.agentchat.assistant_agent": ["AssistantAgent"],
    "agentnb.agentchat.user_proxy_agent": ["UserProxyAgent"],
    "agentnb.agentchat.groupchat": ["GroupChat", "GroupChatManager", "NoEligibleSpeaker"],
    "agentnb.agentchat.chat": ["ChatResult", "initiate_chats", "a_initiate_chats"],
    "agentnb.agentchat.utils": ["gather_usage_summary", "parse_tags_from_content"],
    "agentnb.agentchat.contrib.capabilities.agent_capability": ["AgentCapability"],
    "agentnb.agentchat.contrib.capabilities.transform_messages": ["TransformMessages"],
    "agentnb.agentchat.contrib.capabilities.transforms": ["MessageHistoryLimiter", "MessageTokenLimiter"],
    "agentnb.oai": ["OpenAIWrapper", "ModelClient", "config_list_from_json", "config_list_from_dotenv",
                    "config_list_openai_aoai", "config_list_from_models", "config_list_gpt4_gpt35",
                    "get_config_list", "filter_config", "Cache"],
    "agentnb.oai.client": ["OpenAIWrapper", "ModelClient"],
    "agentnb.oai.openai_utils": ["config_list_from_json", "filter_config", "get_config_list"],
    "agentnb.io": ["IOStream", "IOConsole", "InputStream", "OutputStream"],
    "agentnb.io.base": ["IOStream"],
    "agentnb.runtime_logging": ["start", "stop", "get_connection", "logging_enabled", "log_event"],
    "agentnb.logger": ["SqliteLogger", "FileLogger", "LoggerFactory", "BaseLogger"],
    "agentnb.exception_utils": ["NoEligibleSpeaker", "SenderRequired", "InvalidCarryOverType",
                                "UndefinedNextAgent", "AgentNameConflict"],
    "agentnb.formatting_utils": ["colored"],
}


@pytest.mark.parametrize("module", sorted(PATHS))
def test_0_2_import_paths_resolve(module):
    mod = importlib.import_module(module)
    for name in PATHS[module]:
        assert getattr(mod, name) is not None, f"{module}.{name}"


def test_aliases_are_the_same_objects():
    from agentnb.agentchat.contrib.capabilities.transforms import MessageHistoryLimiter

    from agentnb.agentchat.conversable_agent import ConversableAgent
    from agentnb.agentchat.groupchat import GroupChat, NoEligibleSpeaker
    from agentnb.contrib.capabilities import transforms
    from agentnb.groupchat import selection

    assert ConversableAgent is autogen.ConversableAgent is autogen.agentchat.ConversableAgent
    assert GroupChat is autogen.GroupChat
    assert MessageHistoryLimiter is transforms.MessageHistoryLimiter
    assert NoEligibleSpeaker is selection.NoEligibleSpeaker is autogen.NoEligibleSpeaker
    assert autogen.OpenAIWrapper is autogen.oai.client.OpenAIWrapper
    assert autogen.agentchat.utils.gather_usage_summary is autogen.gather_usage_summary


def test_submodules_load_on_attribute_access_without_import():
    code = ("import agentnb as autogen, sys\n"
            "assert 'agentnb.code_utils' not in sys.modules\n"
            "print(autogen.code_utils.extract_code('```python\\nprint(1)\\n```')[0][0])\n"
            "print(autogen.runtime_logging.logging_enabled(), autogen.oai.client.OpenAIWrapper.__name__)\n"
            "print(type(autogen.io.IOStream.get_default()).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["python", "False", "OpenAIWrapper", "IOConsole"]


def test_import_agentnb_stays_lazy():
    code = ("import agentnb, sys\n"
            "print(sorted(m for m in ('openai', 'agentnb.oai', 'agentnb.agents') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves_and_dir_lists_submodules():
    for name in autogen.__all__:
        assert getattr(autogen, name) is not None
    assert {"code_utils", "coding", "agentchat", "oai", "io", "runtime_logging"} <= set(dir(autogen))
    with pytest.raises(AttributeError):
        autogen.no_such_name  # noqa: B018


def test_exception_utils_types_and_messages():
    from agentnb.exception_utils import (
        AgentNameConflict,
        InvalidCarryOverType,
        NoEligibleSpeaker,
        SenderRequired,
        UndefinedNextAgent,
    )

    assert str(AgentNameConflict()) == "Found multiple agents with the same name."
    assert str(NoEligibleSpeaker()) == "No eligible speakers."
    assert str(SenderRequired()) == "Sender is required but not provided."
    assert str(UndefinedNextAgent()) == "The provided agents list does not overlap with agents in the group."
    assert "Carryover should be a string or a list of strings" in str(InvalidCarryOverType())
    for cls in (AgentNameConflict, NoEligibleSpeaker, SenderRequired, UndefinedNextAgent, InvalidCarryOverType):
        assert issubclass(cls, AgentNBError) and issubclass(cls, Exception)


def test_colored_matches_termcolor_codes():
    from agentnb.formatting_utils import colored

    assert colored("x", "red") == "\x1b[31mx\x1b[0m"
    assert colored("x", "green", "on_blue", attrs=["bold"]) == "\x1b[32m\x1b[44m\x1b[1mx\x1b[0m"
    assert colored("x") == "x"

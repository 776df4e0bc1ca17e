"""A careless user: every bad API input gives one clear ConfigError (a ValueError) naming the argument,
the value's type and what is allowed; AutoGen 0.2 inputs that are fine keep working."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from agentnb import AssistantAgent, ConversableAgent, GroupChat, GroupChatManager, UserProxyAgent, register_function
from agentnb.coding import LocalCommandLineExecutor
from agentnb.errors import ConfigError
from agentnb.llm.client import ModelClient

URL = "http://127.0.0.1:9/v1"
ENTRY = {"model": "gpt-4o", "api_key": "sk-test-local", "base_url": URL}
SECRET = "sk-do-not-show-this-key-123456"


def cfg(**extra):
    return {"config_list": [dict(ENTRY)], "cache_seed": None, **extra}


def entry(**extra):
    return {"config_list": [{**ENTRY, **extra}], "cache_seed": None}


def agent(**kw):
    return ConversableAgent("a", llm_config=False, **kw)


def executor(**code_cfg):
    return UserProxyAgent("u", human_input_mode="NEVER", code_execution_config=code_cfg)


def _bob():
    return ConversableAgent("bob", llm_config=False)


def chat(*args, **kw):
    alice = ConversableAgent("alice", llm_config=False, human_input_mode="NEVER", max_consecutive_auto_reply=0)
    return alice.initiate_chat(*args, **kw)


def chat_with_bob(**kw):
    kw.setdefault("message", "hi")
    return chat(_bob(), silent=True, **kw)


def group(**kw):
    return GroupChat(**{"agents": [_bob()], **kw})


# (what, call, the argument the message must name, the type name it must show)
BAD = [
    ("max_retries str", lambda: ModelClient(cfg(max_retries="lots")), "max_retries", "str"),
    ("max_retries negative", lambda: ModelClient(cfg(max_retries=-1)), "max_retries", "int"),
    ("max_retries float", lambda: ModelClient(cfg(max_retries=1.5)), "max_retries", "float"),
    ("max_retries bool", lambda: ModelClient(cfg(max_retries=True)), "max_retries", "bool"),
    ("llm timeout str", lambda: ModelClient(cfg(timeout="10")), "timeout", "str"),
    ("llm timeout negative", lambda: ModelClient(cfg(timeout=-5)), "timeout", "int"),
    ("llm timeout zero", lambda: ModelClient(cfg(timeout=0)), "timeout", "int"),
    ("llm timeout nan", lambda: ModelClient(cfg(timeout=float("nan"))), "timeout", "float"),
    ("stream str", lambda: ModelClient(cfg(stream="yes")), "stream", "str"),
    ("cache_seed float", lambda: ModelClient(cfg(cache_seed=4.2)), "cache_seed", "float"),
    ("cache_path_root int", lambda: ModelClient(cfg(cache_path_root=3)), "cache_path_root", "int"),
    ("temperature str", lambda: ModelClient(cfg(temperature="hot")), "temperature", "str"),
    ("max_tokens str", lambda: ModelClient(cfg(max_tokens="100")), "max_tokens", "str"),
    ("max_tokens zero", lambda: ModelClient(cfg(max_tokens=0)), "max_tokens", "int"),
    ("stop int", lambda: ModelClient(cfg(stop=5)), "stop", "int"),
    ("tools dict", lambda: ModelClient(cfg(tools={"name": "f"})), "tools", "dict"),
    ("config_list empty", lambda: ModelClient({"config_list": []}), "config_list", "list"),
    ("config_list dict", lambda: ModelClient({"config_list": ENTRY}), "config_list", "dict"),
    ("config_list of str", lambda: ModelClient({"config_list": ["gpt-4o"]}), "config_list", "list"),
    ("base_url int", lambda: ModelClient(entry(base_url=123)), "base_url", "int"),
    ("base_url no scheme", lambda: ModelClient(entry(base_url="localhost:8000")), "base_url", "str"),
    ("base_url ftp", lambda: ModelClient(entry(base_url="ftp://127.0.0.1/v1")), "base_url", "str"),
    ("model int", lambda: ModelClient(entry(model=4)), "model", "int"),
    ("model empty", lambda: ModelClient(entry(model="")), "model", "str"),
    ("api_key int", lambda: ModelClient(entry(api_key=123456789)), "api_key", "int"),
    ("api_version int", lambda: ModelClient(entry(api_version=2024)), "api_version", "int"),
    ("price str", lambda: ModelClient(entry(price="cheap")), "price", "str"),
    ("price negative", lambda: ModelClient(entry(price=[-1, 2])), "price", "list"),
    ("tags str list mix", lambda: ModelClient(entry(tags=["a", 1])), "tags", "list"),
    ("default_headers list", lambda: ModelClient(entry(default_headers=["x"])), "default_headers", "list"),
    ("llm_config list", lambda: ConversableAgent("a", llm_config=[ENTRY]), "llm_config", "list"),
    ("llm_config str", lambda: ConversableAgent("a", llm_config="gpt-4o"), "llm_config", "str"),
    ("exec timeout str", lambda: executor(timeout="10"), "timeout", "str"),
    ("exec timeout negative", lambda: executor(timeout=-5), "timeout", "int"),
    ("work_dir int", lambda: executor(work_dir=5), "work_dir", "int"),
    ("work_dir empty", lambda: executor(work_dir=""), "work_dir", "str"),
    ("last_n_messages str", lambda: executor(last_n_messages="x"), "last_n_messages", "str"),
    ("last_n_messages negative", lambda: executor(last_n_messages=-1), "last_n_messages", "int"),
    ("use_docker int", lambda: executor(use_docker=3), "use_docker", "int"),
    ("executor int", lambda: executor(executor=3), "executor", "int"),
    ("executor class not instance", lambda: executor(executor=_Protocol02), "executor", "type"),
    ("env list", lambda: executor(env=["A=1"]), "env", "list"),
    ("code_execution_config str", lambda: UserProxyAgent("u", code_execution_config="yes"),
     "code_execution_config", "str"),
    ("system_message int", lambda: agent(system_message=123), "system_message", "int"),
    ("description int", lambda: agent(description=5), "description", "int"),
    ("is_termination_msg str", lambda: agent(is_termination_msg="TERMINATE"), "is_termination_msg", "str"),
    ("max_consecutive_auto_reply str", lambda: agent(max_consecutive_auto_reply="3"),
     "max_consecutive_auto_reply", "str"),
    ("max_consecutive_auto_reply bool", lambda: agent(max_consecutive_auto_reply=True),
     "max_consecutive_auto_reply", "bool"),
    ("function_map list", lambda: agent(function_map=[print]), "function_map", "list"),
    ("function_map value", lambda: agent(function_map={"f": "print"}), "function_map", "dict"),
    ("default_auto_reply int", lambda: agent(default_auto_reply=1), "default_auto_reply", "int"),
    ("silent str", lambda: agent(silent="no"), "silent", "str"),
    ("initiate_chat name", lambda: chat("assistant", message="hi"), "recipient", "str"),
    ("initiate_chat None", lambda: chat(None, message="hi"), "recipient", "None"),
    ("message list", lambda: chat_with_bob(message=[1, {"x": 2}]), "message", "list"),
    ("message int", lambda: chat_with_bob(message=42), "message", "int"),
    ("content parts", lambda: chat_with_bob(message={"content": [1, {"x": 2}]}), "content", "list"),
    ("content int", lambda: chat_with_bob(message={"content": 7}), "content", "int"),
    ("max_turns str", lambda: chat_with_bob(max_turns="2"), "max_turns", "str"),
    ("clear_history str", lambda: chat_with_bob(clear_history="yes"), "clear_history", "str"),
    ("summary_args list", lambda: chat_with_bob(summary_args=["x"]), "summary_args", "list"),
    ("GroupChat names", lambda: GroupChat(agents=["alice", "bob"]), "agents[0]", "str"),
    ("GroupChat agents str", lambda: GroupChat(agents="alice"), "agents", "str"),
    ("GroupChat max_round str", lambda: group(max_round="5"), "max_round", "str"),
    ("GroupChat max_round bool", lambda: group(max_round=True), "max_round", "bool"),
    ("GroupChat messages dict", lambda: group(messages={"content": "x"}), "messages", "dict"),
    ("GroupChat func_call_filter str", lambda: group(func_call_filter="no"), "func_call_filter", "str"),
    ("GroupChat admin_name int", lambda: group(admin_name=1), "admin_name", "int"),
    ("agent name int", lambda: ConversableAgent(123, llm_config=False), "name", "int"),
    ("agent name empty", lambda: ConversableAgent("", llm_config=False), "name", "str"),
    ("human_input_mode lower case", lambda: agent(human_input_mode="never"), "human_input_mode", "str"),
    ("GroupChatManager list", lambda: GroupChatManager([_bob()], llm_config=False), "groupchat", "list"),
    ("register_function caller name", lambda: register_function(print, caller="assistant", executor=_bob(),
                                                                description="Print."), "caller", "str"),
    ("register_for_llm description int", lambda: ConversableAgent("a", llm_config=cfg()).register_for_llm(
        description=5), "description", "int"),
]


@pytest.mark.parametrize(("what", "call", "arg", "type_name"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gives_one_clear_config_error(what, call, arg, type_name):
    with pytest.raises(ConfigError) as info:
        call()
    text = str(info.value)
    assert arg in text, text
    assert type_name in text, text
    assert " must be " in text, text  # says what is allowed
    assert isinstance(info.value, ValueError)  # AutoGen 0.2 code catches ValueError
    assert info.traceback[-1].frame.f_globals["__name__"].startswith("agentnb."), "raised by agentnb itself"


def test_a_bad_key_of_the_wrong_type_is_never_shown():
    with pytest.raises(ConfigError) as info:
        ModelClient(entry(api_key=SECRET.encode()))
    assert "api_key" in str(info.value) and "bytes" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def test_there_are_at_least_forty_bad_inputs():
    assert len(BAD) >= 40


# ----------------------------------------------------------------- still accepted (AutoGen 0.2 code)


class _Custom(LocalCommandLineExecutor):
    pass


class _Protocol02:
    """Follows AutoGen 0.2's CodeExecutor protocol without subclassing agentnb's."""

    def execute_code_blocks(self, code_blocks):
        return None

    def restart(self):
        return None


GOOD = [
    ("llm_config False", lambda: ConversableAgent("a", llm_config=False)),
    ("code_execution_config False", lambda: UserProxyAgent("u", code_execution_config=False)),
    ("config_list extra keys", lambda: ModelClient({"config_list": [{
        **ENTRY, "tags": ["gpt4", "fast"], "api_type": "openai", "api_version": "2024-02-01", "price": [0.01, 0.03],
        "api_rate_limit": 60, "whatever": {"nested": True}}]})),
    ("azure entry", lambda: ModelClient({"config_list": [{"model": "gpt-4", "api_key": "k", "api_type": "azure",
                                                          "base_url": "https://x.openai.azure.com",
                                                          "api_version": "2024-02-01"}]})),
    ("inline model", lambda: ModelClient({"model": "gpt-4o", "api_key": "k", "base_url": URL})),
    ("empty base_url means unset, tags as a str", lambda: ModelClient(entry(base_url="", tags="gpt4"))),
    ("0.2 request options", lambda: ModelClient(cfg(temperature=0, timeout=600, cache_seed=42, max_tokens=256,
                                                    seed=1, stop=["TERMINATE"], top_p=1.0, stream=False))),
    ("timeout None and cache_seed str", lambda: ModelClient(cfg(timeout=None, cache_seed="run-1"))),
    ("unknown request option passes through", lambda: ModelClient(cfg(extra_body={"x": 1}, logprobs=True))),
    ("0.2 code_execution_config", lambda: UserProxyAgent("u", code_execution_config={
        "work_dir": "coding", "use_docker": False, "timeout": 60, "last_n_messages": 3})),
    ("work_dir path and auto", lambda: UserProxyAgent("u", code_execution_config={
        "work_dir": pathlib.Path("coding"), "last_n_messages": "auto", "timeout": 2.5})),
    ("executor instance", lambda: UserProxyAgent("u", code_execution_config={"executor": _Custom("coding")})),
    ("executor name", lambda: UserProxyAgent("u", code_execution_config={"executor": "commandline-local"})),
    ("0.2 protocol executor", lambda: UserProxyAgent("u", code_execution_config={"executor": _Protocol02()})),
    ("system_message list", lambda: agent(system_message=["You are", {"type": "text", "text": "helpful"}])),
    ("system_message None", lambda: agent(system_message=None)),
    ("function_map", lambda: agent(function_map={"f": print}, default_auto_reply={"content": "x"})),
    ("assistant defaults", lambda: AssistantAgent("assistant", llm_config=cfg())),
    ("group chat", lambda: GroupChatManager(GroupChat(agents=[agent(), _bob()], messages=[], max_round=3,
                                                      speaker_selection_method="round_robin"), llm_config=False)),
]


@pytest.mark.parametrize(("what", "call"), GOOD, ids=[g[0] for g in GOOD])
def test_good_input_is_accepted(what, call):
    call()


def test_multimodal_and_dict_messages_still_start_chats():
    for message in ("hi", {"content": "hi"}, {"content": [{"type": "text", "text": "hi"}]},
                    lambda sender, recipient, context: "hi"):
        result = chat(_bob(), message=message, silent=True)
        assert result.chat_history[0]["content"] in ("hi", [{"type": "text", "text": "hi"}])


def test_async_initiate_chat_checks_too():
    alice = ConversableAgent("alice", llm_config=False)
    with pytest.raises(ConfigError, match="recipient"):
        asyncio.run(alice.a_initiate_chat("bob", message="hi"))


# ----------------------------------------------------------------- AutoGen 0.2's exception types


def test_errors_match_the_types_autogen_02_raised():
    """0.2 code catches ValueError for bad configs and AssertionError where 0.2 asserted."""
    with pytest.raises(AssertionError, match="llm_config must be a dict"):
        ConversableAgent("a", llm_config="gpt-4o")
    with pytest.raises(ValueError, match="llm_config must be a dict"):
        ConversableAgent("a", llm_config="gpt-4o")
    no_model = ConversableAgent("a", llm_config=False)
    with pytest.raises(AssertionError, match="To update a tool signature, agent must have an llm_config"):
        no_model.register_for_llm(description="do things.")(lambda s: s)
    with pytest.raises(AssertionError, match="To update a function signature, agent must have an llm_config"):
        no_model.update_function_signature({"name": "f"}, is_remove=False)
    with pytest.raises(ValueError):
        ModelClient({"config_list": []})

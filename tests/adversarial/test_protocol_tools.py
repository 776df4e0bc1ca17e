"""A hostile model breaks the tool-call protocol; every call must still be answered exactly once.

The scripted server checks each request as OpenAI does (a ``tool_calls`` id without its ``tool``
message, or a stray ``tool`` message, is a 400), so a chat that breaks the protocol fails here.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from agentnb import AssistantAgent, ConversableAgent, GroupChat, GroupChatManager, UserProxyAgent
from agentnb.agents.replies import oai_messages
from agentnb.agents.tools import pair_tool_calls
from agentnb.coding.base import extract_code_blocks
from agentnb.testing import ScriptedModelServer, raw_tool_calls, tool_calls
from agentnb.testing.replies import protocol_problem


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def bare_add(a: int, b: int) -> object:
    """A tool call for ``add`` without an ``id``."""
    return raw_tool_calls([{"type": "function", "function": {"name": "add", "arguments": f'{{"a": {a}, "b": {b}}}'}}])


def tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m["role"] == "tool"]


def assistant_calls(request: dict) -> list[dict]:
    return [c for m in request["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]


def pair(server: ScriptedModelServer, *, executor_tools: bool = True, stream: bool = False):
    """An assistant offered ``add`` (and whatever the script calls) and a user proxy that may run ``add``."""
    assistant = AssistantAgent("assistant", llm_config=server.llm_config(stream=stream))
    assistant.register_for_llm(description="Add two integers.")(add)
    proxy = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                           max_consecutive_auto_reply=2,
                           is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
    if executor_tools:
        proxy.register_for_execution()(add)
    return assistant, proxy


def test_scripted_server_rejects_unanswered_tool_calls_like_openai(model_server):
    """The guard itself: a request with an unanswered call, or a stray tool message, is refused."""
    calls = [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}]
    unanswered = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": calls},
                  {"role": "user", "content": "next"}]
    stray = [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "zz", "content": "1"}]
    assert "c1" in protocol_problem(unanswered)
    assert "preceding message" in protocol_problem(stray)
    assert protocol_problem(pair_tool_calls(unanswered)) is None
    assert protocol_problem(pair_tool_calls(stray)) is None


@pytest.mark.parametrize("stream", [False, True])
def test_a_reply_calling_only_unknown_tools_is_answered(model_server, stream):
    """The executor has tools, none of them the one called: it must still answer, or the next request is invalid."""
    model_server.add(tool_calls([("subtract", {"a": 3, "b": 1})]), "TERMINATE")
    assistant, proxy = pair(model_server, stream=stream)
    proxy.initiate_chat(assistant, message="3 - 1?", silent=True)
    (call,) = assistant_calls(model_server.requests[1])
    (answer,) = tool_messages(model_server.requests[1])
    assert answer["tool_call_id"] == call["id"]
    assert answer["content"] == "Error: Function subtract not found. Available functions: add."


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_tool_name_gets_an_error_tool_message(model_server, stream):
    model_server.add(tool_calls([("subtract", {"a": 3, "b": 1}), ("add", {"a": 3, "b": 1})]), "TERMINATE")
    assistant, proxy = pair(model_server, stream=stream)
    proxy.initiate_chat(assistant, message="3 - 1?", silent=True)
    second = model_server.requests[1]
    calls = assistant_calls(second)
    answers = {m["tool_call_id"]: m["content"] for m in tool_messages(second)}
    assert sorted(answers) == sorted(c["id"] for c in calls) and len(calls) == 2
    unknown = next(c["id"] for c in calls if c["function"]["name"] == "subtract")
    assert "subtract" in answers[unknown] and "not found" in answers[unknown] and "add" in answers[unknown]
    known = next(c["id"] for c in calls if c["function"]["name"] == "add")
    assert answers[known] == "4"


def test_calls_no_agent_can_run_are_answered_before_the_next_request(model_server):
    """The proxy has no tools at all: it leaves the calls alone, but the model is still told."""
    model_server.add(tool_calls([("lookup", {"key": "k"})]), "TERMINATE")
    assistant, proxy = pair(model_server, executor_tools=False)
    proxy.initiate_chat(assistant, message="look it up", silent=True)
    second = model_server.requests[1]
    (call,) = assistant_calls(second)
    (answer,) = tool_messages(second)
    assert answer["tool_call_id"] == call["id"] and "lookup" in answer["content"]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_without_id_keeps_one_id_for_call_and_reply(model_server, stream):
    model_server.add(bare_add(2, 5), "TERMINATE")
    assistant, proxy = pair(model_server, stream=stream)
    result = proxy.initiate_chat(assistant, message="2 + 5?", silent=True)
    second = model_server.requests[1]
    (call,) = assistant_calls(second)
    (answer,) = tool_messages(second)
    assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"]) and answer["tool_call_id"] == call["id"]
    assert answer["content"] == "7"
    stored = next(m for m in result.chat_history if m.get("tool_calls"))["tool_calls"][0]["id"]
    assert stored == call["id"]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_without_function_tells_the_model(model_server, stream):
    model_server.add(raw_tool_calls([{"id": "call_bare", "type": "function"}]), "TERMINATE")
    assistant, proxy = pair(model_server, stream=stream)
    proxy.initiate_chat(assistant, message="go", silent=True)  # no AttributeError
    (answer,) = tool_messages(model_server.requests[1])
    assert answer["tool_call_id"] == "call_bare"
    assert answer["content"].startswith("Error:") and "add" in answer["content"]


@pytest.mark.parametrize("stream", [False, True])
def test_repeated_ids_and_object_arguments_still_pair_up(model_server, stream):
    """Two calls sharing one id, arguments sent as a JSON object: each call still gets its own answer."""
    model_server.add(raw_tool_calls([
        {"id": "dup", "type": "function", "function": {"name": "add", "arguments": {"a": 1, "b": 2}}},
        {"id": "dup", "type": "function", "function": {"name": "add", "arguments": '{"a": 5, "b": 5}'}}]),
        "TERMINATE")
    assistant, proxy = pair(model_server, stream=stream)
    proxy.initiate_chat(assistant, message="sums", silent=True)
    calls = assistant_calls(model_server.requests[1])
    answers = {m["tool_call_id"]: m["content"] for m in tool_messages(model_server.requests[1])}
    assert len({c["id"] for c in calls}) == 2 and [answers[c["id"]] for c in calls] == ["3", "10"]


def test_tool_call_without_function_in_a_group_chat(model_server):
    """Speaker selection reads tool names too: a call with ``function: None`` must not crash it."""
    model_server.add(raw_tool_calls([{"id": "call_x", "type": "function", "function": None}]), "TERMINATE")
    assistant, proxy = pair(model_server)
    group = GroupChat(agents=[proxy, assistant], messages=[], max_round=4, speaker_selection_method="round_robin")
    manager = GroupChatManager(group, llm_config=False)
    proxy.initiate_chat(manager, message="go", silent=True)
    (answer,) = tool_messages(model_server.requests[1])
    assert answer["tool_call_id"] == "call_x" and answer["content"].startswith("Error:")


def test_history_with_missing_tool_ids_is_repaired_before_sending():
    """A history written by hand (or by a custom reply function) is made valid when sent to a model."""
    agent = ConversableAgent("a", llm_config=False)
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {"role": "tool", "tool_call_id": "c2", "content": "two again"},
        {"role": "user", "content": "and?"},
    ]
    sent = oai_messages(agent, history)
    assert protocol_problem(sent) is None
    answers = [m for m in sent if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in answers] == ["c2", "c1"]
    assert "f" in answers[1]["content"]
    assert any(m["role"] == "user" and "two again" in m["content"] for m in sent)


CRLF_REPLIES = [
    "Run this:\r\n```python\r\nprint(6 * 7)\r\n```\r\n",
    "```python\r\nprint(6 * 7)\r\n```",
    "Run this:\r```python\rprint(6 * 7)\r```\r",
    "  ```py\r\n  print(6 * 7)\r\n  ```\r\n",
    "~~~python\r\nprint(6 * 7)\r\n~~~\r\n",
]


@pytest.mark.parametrize("reply", CRLF_REPLIES)
def test_crlf_fences_are_extracted(reply):
    (block,) = extract_code_blocks(reply)
    assert block.language == "python" and block.code == "print(6 * 7)\n"


def test_crlf_fence_runs_in_a_chat(model_server, tmp_workdir):
    model_server.add("Here:\r\n```python\r\nprint(6 * 7)\r\n```\r\n", "TERMINATE")
    assistant = AssistantAgent("assistant", llm_config=model_server.llm_config())
    proxy = UserProxyAgent("user", human_input_mode="NEVER", max_consecutive_auto_reply=2,
                           code_execution_config={"executor": "commandline-local", "work_dir": str(tmp_workdir)})
    proxy.initiate_chat(assistant, message="compute", silent=True)
    feedback = model_server.requests[1]["messages"][-1]["content"]
    assert "exitcode: 0" in feedback and "42" in feedback


def test_tool_reply_ids_survive_async_concurrent_chats(model_server):
    """Two chats at once on one server: each tool reply answers its own call id."""
    model_server.add(bare_add(1, 1), bare_add(2, 2), "TERMINATE", "TERMINATE")

    async def both():
        chats = [pair(model_server) for _ in range(2)]
        return await asyncio.gather(*(p.a_initiate_chat(a, message="go", silent=True) for a, p in chats))

    asyncio.run(both())
    follow_ups = [r for r in model_server.requests if tool_messages(r)]
    assert len(follow_ups) == 2
    for request in follow_ups:
        assert protocol_problem(request["messages"]) is None
        (call,) = assistant_calls(request)
        (answer,) = tool_messages(request)
        a = int(call["function"]["arguments"].split('"a": ')[1].split(",")[0])
        assert answer["content"] == str(2 * a)

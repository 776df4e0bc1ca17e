"""Held: a faulty model endpoint in the middle of a chat that already ran code in a kernel.

Transient faults (429, 5xx, a dropped connection, a hang past the timeout, a stalled stream) are retried
and the chat finishes with every earlier message resent unchanged. Faults that do not go away (5xx
exhausted, a 4xx, a garbage body, a hang with no retries left) end the chat with a :class:`ModelError`
that names the endpoint and the model and never the API key — even when the endpoint echoes the key —
while the history so far is kept (on the error, on the agents, and in the next chat). After each chat
no kernel is left and the server has no request still open.
"""

from __future__ import annotations

import itertools
import pickle
import threading
import traceback

import pytest
from support.faults import assert_gone, printed_pids

import agentnb as autogen
from agentnb.errors import ModelError, ModelResponseError, ModelUnavailableError
from agentnb.messages import subscribe
from agentnb.testing import Fault, ScriptedModelServer, code, tool_calls

SECRET = "sk-held-model-faults-0123456789abcdef"
MODEL = "gpt-faulty"
STEP_ONE = code("import os\nprint('PIDS', os.getpid(), os.getppid())\nprint('step one done')")


def _team(server, tmp_path, *, stream=False, **llm):
    llm_config = {"config_list": [{"model": MODEL, "api_key": SECRET, "base_url": server.base_url}],
                  "cache_seed": None, "stream": stream, "max_retries": 2, **llm}
    assistant = autogen.AssistantAgent("assistant", llm_config=llm_config)
    proxy = autogen.UserProxyAgent(
        "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=3,
        code_execution_config={"work_dir": str(tmp_path / "work"), "executor": "jupyter"})
    return assistant, proxy


def _assert_no_orphans(pids: set[int]) -> None:
    assert_gone(pids, "kernel processes")
    assert not [t for t in threading.enumerate() if t.name.startswith("agentnb-scripted-server")]


def _history_before_the_fault(messages: list[dict]) -> list[str | None]:
    return [m.get("content") for m in messages[:3]]


TRANSIENT = {
    "429 twice": [Fault.status(429, times=2, retry_after=0.01)],
    "500 once": [Fault.status(500, retry_after=0.01)],
    "503 twice": [Fault.status(503, times=2, retry_after=0.01)],
    "dropped connection": [Fault.disconnect()],
    "hang past the timeout": [Fault.hang(30)],
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_transient_faults_are_retried_and_nothing_is_lost(tmp_path, stream):
    """One chat, a different fault before every model reply; each is retried and the chat finishes."""
    faults = dict(TRANSIENT, **({"stalled stream": [Fault.stall(30, after=2)]} if stream else {}))
    script: list = [STEP_ONE]
    for n, fault in enumerate(faults.values(), start=2):
        script += [*fault, code(f"print('step {n} done')")]
    script[-1] = "TERMINATE"
    with ScriptedModelServer(script) as server:
        assistant, proxy = _team(server, tmp_path, stream=stream, timeout=1)
        proxy.update_max_consecutive_auto_reply(len(faults) + 2)
        result = proxy.initiate_chat(assistant, message="go", silent=True)
        pids = printed_pids(server)
        sent = [r["messages"] for r in server.requests]
    contents = [m.get("content") or "" for m in result.chat_history]
    assert contents[-1] == "TERMINATE", contents[-3:]
    for n in range(2, len(faults) + 1):
        assert any(f"step {n} done" in c for c in contents), f"step {n} is missing from the history"
    assert len(sent) == 1 + len(faults) + sum(f.times for fault in faults.values() for f in fault)
    for before, after in itertools.pairwise(sent):  # a retry resends the same, a new turn extends it
        assert after[:len(before)] == before, "a request lost or changed earlier messages"
    _assert_no_orphans(pids)


FATAL = {
    "500s exhausted": ([Fault.status(500, times=3, retry_after=0.01)], ModelUnavailableError),
    "500s echoing the key": ([Fault.status(500, times=3, retry_after=0.01,
                                           message=f"upstream rejected key {SECRET} (Bearer {SECRET})")],
                             ModelUnavailableError),
    "401 echoing the key": ([Fault.status(401, message=f"Incorrect API key provided: {SECRET}")],
                            ModelResponseError),
    "garbage body": ([Fault.malformed()], ModelError),
    "hang, no retries": ([Fault.hang(30)], ModelUnavailableError),
}


FATAL_CASES = [("500s exhausted", False), ("500s echoing the key", True), ("401 echoing the key", False),
               ("garbage body", False), ("garbage body", True), ("hang, no retries", False),
               ("hang, no retries", True)]


@pytest.mark.parametrize(("case", "stream"), FATAL_CASES,
                         ids=[f"{c}-{'streamed' if s else 'plain'}" for c, s in FATAL_CASES])
def test_lasting_faults_raise_a_clear_model_error_and_keep_the_history(tmp_path, case, stream):
    faults, error_type = FATAL[case]
    events = []
    llm = {"timeout": 0.5, "max_retries": 0} if case.startswith("hang") else {}
    with ScriptedModelServer([STEP_ONE, *faults]) as server:
        assistant, proxy = _team(server, tmp_path, stream=stream, **llm)
        with subscribe(events.append), pytest.raises(ModelError) as info:
            proxy.initiate_chat(assistant, message="go", silent=True)
        pids = printed_pids(server)
        exc = info.value
        # the chat can be picked up again: nothing of it was lost
        server.reset()
        server.add("TERMINATE")
        again = proxy.initiate_chat(assistant, message="go on", clear_history=False, silent=True)
        resumed_with = server.requests[-1]["messages"]
    assert isinstance(exc, error_type), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert MODEL in text and server.base_url in text and exc.model == MODEL and exc.base_url == server.base_url
    rendered = [text, repr(exc), "".join(traceback.format_exception(exc)), *map(repr, events)]
    assert not [r for r in rendered if SECRET in r], "the API key reached an error or an event"
    assert SECRET.encode() not in pickle.dumps(exc)
    kept = ["go", STEP_ONE.content, None]
    assert _history_before_the_fault(exc.chat_history)[:2] == kept[:2]
    assert "step one done" in exc.chat_history[2]["content"]
    assert _history_before_the_fault(proxy.chat_messages[assistant])[:2] == kept[:2]
    assert [m.get("content") for m in again.chat_history[:3]] == [m.get("content") for m in exc.chat_history[:3]]
    assert STEP_ONE.content in [m.get("content") for m in resumed_with]
    _assert_no_orphans(pids)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_reply_with_lone_surrogates_does_not_end_the_chat(stream):
    """Found by this suite: a reply holding ``"\\ud800"`` (valid JSON, not encodable as UTF-8) was stored as is,
    and the next request failed to encode, ending the chat with a misleading "reply could not be parsed"."""
    with ScriptedModelServer(["broken \ud800 half of a pair", "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config={**server.llm_config(), "stream": stream})
        proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=1,
                                       code_execution_config=False)
        result = proxy.initiate_chat(assistant, message="go", silent=True)
        resent = server.requests[1]["messages"]
    assert len(server.requests) == 2 and result.chat_history[-1]["content"] == "TERMINATE"
    assert [m["content"] for m in resent[-2:]] == ["broken \ufffd half of a pair", ""]
    assert result.chat_history[1]["content"] == "broken \ufffd half of a pair"


def test_a_tool_result_with_lone_surrogates_is_sent():
    with ScriptedModelServer([tool_calls([("read", {})]), "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
        proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=1,
                                       code_execution_config=False)

        @proxy.register_for_execution()
        @assistant.register_for_llm(description="Read a file.")
        def read() -> str:
            return b"caf\xe9".decode("utf-8", "surrogateescape")

        result = proxy.initiate_chat(assistant, message="go", silent=True)
        (answer,) = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert answer["content"] == "caf\ufffd" and result.chat_history[-1]["content"] == "TERMINATE"

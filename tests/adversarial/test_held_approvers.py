"""Held: odd approvers. Only ``True`` or ``ApprovalDecision(approved=True)`` (sync, async or awaitable) approves.

Every other answer — ``None``, ``"yes"``, ``1``, a dict, a look-alike object, an exception, an async
approver that raises — rejects: the block's side-effect file does not exist, the tool was never called,
the decision every view sees is a rejection, and the chat goes on. An approver that hangs holds the
chat until it is cancelled; then nothing runs, even if the approver says yes afterwards.
A real Jupyter kernel runs the code; the scripted server is the model.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from support.faults import Tools, code_chat, decisions, tool_team, touch_code

import agentnb as autogen
from agentnb.agents.human import human_handlers
from agentnb.messages import ApprovalDecision
from agentnb.testing import ScriptedModelServer, code, tool_calls


class LooksApproved:
    """Not an ApprovalDecision, but has ``approved = True`` and is truthy."""

    approved = True
    code = None
    reason = ""

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


def _raise(request):
    raise RuntimeError("approver crashed")


async def _async_raise(request):
    raise RuntimeError("async approver crashed")


async def _async_none(request):
    return None


async def _async_true(request):
    return True


async def _async_decision(request):
    await asyncio.sleep(0)
    return ApprovalDecision(approved=True)


async def _coroutine_true():
    await asyncio.sleep(0)
    return True


class AsyncCallable:
    """An approver object whose ``__call__`` is a coroutine function."""

    async def __call__(self, request):
        return "yes"


REJECTING = {
    "None": lambda r: None,
    "'yes'": lambda r: "yes",
    "'True'": lambda r: "True",
    "1": lambda r: 1,
    "1.0": lambda r: 1.0,
    "dict approved=True": lambda r: {"approved": True},
    "list [True]": lambda r: [True],
    "object with approved=True": lambda r: LooksApproved(),
    "False": lambda r: False,
    "decision approved=False": lambda r: ApprovalDecision(approved=False, reason="no"),
    "raises": _raise,
    "async raises": _async_raise,
    "async returns None": _async_none,
    "async __call__ returns 'yes'": AsyncCallable(),
    "coroutine returning 'yes'": lambda r: asyncio.sleep(0, result="yes"),
    "the approver is not callable": "always",
}

APPROVING = {
    "True": lambda r: True,
    "decision approved=True": lambda r: ApprovalDecision(approved=True),
    "async returns True": _async_true,
    "async returns a decision": _async_decision,
    "sync returns a coroutine returning True": lambda r: _coroutine_true(),
}


def _tool_chat(approver):
    tools = Tools()
    with ScriptedModelServer([tool_calls([("wipe", {"path": "/data"})]), "TERMINATE"]) as server:
        assistant, proxy = tool_team(server, tools)
        with human_handlers(approver=approver):
            result = proxy.initiate_chat(assistant, message="go", silent=True)
    return result, server, tools.calls


@pytest.mark.parametrize("approver", REJECTING.values(), ids=REJECTING.keys())
def test_odd_answers_reject_code(tmp_path, kernel_executor, approver):
    marker = tmp_path / "ran.txt"
    result, server = code_chat(code(touch_code(marker)), approver, kernel_executor)
    assert not marker.exists(), "the block ran on an answer that is not an approval"
    assert decisions(result) == [False]  # what every view and the export see
    assert len(server.requests) == 2 and not server.requests[1]["messages"][-1]["content"].startswith("exitcode")


@pytest.mark.parametrize("approver", REJECTING.values(), ids=REJECTING.keys())
def test_odd_answers_reject_tool_calls(approver):
    result, server, calls = _tool_chat(approver)
    assert calls == []
    assert decisions(result) == [False]
    (answer,) = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert answer["content"].startswith("Error:")


@pytest.mark.parametrize("approver", APPROVING.values(), ids=APPROVING.keys())
def test_real_approvals_run_code_once(tmp_path, kernel_executor, approver):
    marker = tmp_path / "ran.txt"
    result, server = code_chat(code(touch_code(marker)), approver, kernel_executor)
    assert marker.read_text() == "ran"
    assert decisions(result) == [True]
    assert server.requests[1]["messages"][-1]["content"].startswith("exitcode: 0")


@pytest.mark.parametrize("approver", APPROVING.values(), ids=APPROVING.keys())
def test_real_approvals_run_the_tool_once(approver):
    result, _, calls = _tool_chat(approver)
    assert calls == [("wipe", {"path": "/data"})]
    assert decisions(result) == [True]


async def _chat_until_cancelled(tmp_path, approver, deciding: threading.Event | asyncio.Event):
    """Start a chat whose approver hangs; cancel it once the approver is deciding."""
    with ScriptedModelServer([code(touch_code(tmp_path / "ran.txt")), "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
        proxy = autogen.UserProxyAgent(
            "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=1,
            code_execution_config={"work_dir": str(tmp_path / "work"), "executor": "jupyter", "approval": "always"})
        with human_handlers(approver=approver):
            task = asyncio.ensure_future(proxy.a_initiate_chat(assistant, message="go", silent=True))
        if isinstance(deciding, asyncio.Event):
            await asyncio.wait_for(deciding.wait(), 60)
        else:
            assert await asyncio.to_thread(deciding.wait, 60), "the approver was never asked"
        assert not task.done(), "the chat did not wait for the hanging approver"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_a_hanging_async_approver_holds_the_chat_until_cancelled(tmp_path):
    async def main():
        deciding = asyncio.Event()
        cancelled = []

        async def hang(request):
            deciding.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            return True

        await _chat_until_cancelled(tmp_path, hang, deciding)
        return cancelled

    cancelled = asyncio.run(main())
    assert cancelled == [True], "the approver was not cancelled with the chat"
    assert not (tmp_path / "ran.txt").exists()


def test_a_hanging_sync_approver_that_says_yes_after_cancel_runs_nothing(tmp_path):
    deciding, release, returned = threading.Event(), threading.Event(), threading.Event()

    def hang(request):
        deciding.set()
        release.wait(60)
        returned.set()
        return True  # the person clicks "yes" after the chat was stopped

    async def main():
        await _chat_until_cancelled(tmp_path, hang, deciding)
        release.set()
        assert await asyncio.to_thread(returned.wait, 60)
        for _ in range(20):  # let anything the late "yes" could have started get going
            await asyncio.sleep(0.05)

    asyncio.run(main())
    assert not (tmp_path / "ran.txt").exists(), "a late approval ran code after the chat was cancelled"


def test_no_approver_and_no_person_rejects(tmp_path, kernel_executor):
    """Headless (pytest, nbconvert, a CI job): with no approver installed and nobody at a terminal, nothing runs."""
    marker = tmp_path / "ran.txt"
    script = [code(touch_code(marker)), tool_calls([("wipe", {"path": "/data"})]), "TERMINATE"]
    with ScriptedModelServer(script) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
        proxy = autogen.UserProxyAgent(
            "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=2,
            code_execution_config={"executor": kernel_executor, "approval": "always"})
        tools = Tools()
        autogen.register_function(tools.wipe, caller=assistant, executor=proxy, name="wipe",
                                  description="Wipe a folder.")
        result = proxy.initiate_chat(assistant, message="go", silent=True)
    assert not marker.exists() and tools.calls == []
    assert decisions(result) == [False, False]

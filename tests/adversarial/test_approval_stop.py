"""Attack: Stop pressed while a synchronous approver is deciding, then the approver says yes.

The execute request used to go out to the (warm) kernel anyway. After Stop nothing new may start:
a sync approver now runs off the loop (so the Stop is delivered while it blocks), and the gate checks
for a Stop right after the decision and again right before anything executes — which also covers
an approver that blocks the loop itself. Real Jupyter kernel; the Stop is ``ChatHandle.cancel``
called from another thread, as the panel's Stop button does it.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

import agentnb as autogen
from agentnb.agents.human import human_handlers
from agentnb.messages import ApprovalDecision
from agentnb.notebook.handle import ChatHandle
from agentnb.testing import ScriptedModelServer, code, tool_calls

pytestmark = pytest.mark.slow

SPARE = ["TERMINATE"] * 4


def touch_code(path) -> str:
    return f"open({str(path)!r}, 'w').write('ran')"


class SlowApprover:
    """Approves at once the first time (so the kernel is warm), then waits for ``release`` before approving."""

    def __init__(self) -> None:
        self.calls = 0
        self.deciding = threading.Event()
        self.release = threading.Event()

    def decide(self) -> ApprovalDecision:
        self.calls += 1
        if self.calls > 1:
            self.deciding.set()
            assert self.release.wait(60), "the test never released the approver"
        return ApprovalDecision(approved=True)

    def sync(self, request):
        return self.decide()

    async def blocking_async(self, request):  # an async approver that blocks the loop anyway
        return self.decide()


def _press_stop_while_deciding(loop, handle, approver, stop: bool, hops: int) -> threading.Thread:
    """Stop, then "yes". A click reaches its handler ``hops`` loop iterations after it arrives
    (ipykernel reads the comm message, then dispatches it), so the cancel is posted that late."""

    def later(n: int) -> None:
        if n == 0:
            handle.cancel()
        else:
            loop.call_soon(later, n - 1)

    def press():
        if not approver.deciding.wait(120):
            return
        if stop:
            loop.call_soon_threadsafe(later, hops)  # the Stop button
        approver.release.set()  # ... and the person's "yes" comes right after

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


async def _chat(tmp_path, script, approver_fn, approver, stop, hops, **agent_kw):
    setup = agent_kw.pop("setup", None)
    with ScriptedModelServer(script) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
        user = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=3,
                                      **agent_kw)
        if setup:
            setup(user, assistant)
        with human_handlers(approver=approver_fn):
            task = asyncio.ensure_future(user.a_initiate_chat(assistant, message="go", silent=True))
        handle = ChatHandle(task, name="chat1")
        thread = _press_stop_while_deciding(asyncio.get_running_loop(), handle, approver, stop, hops)
        try:
            await task
            cancelled = False
        except asyncio.CancelledError:
            cancelled = True
        thread.join(10)
        return cancelled


# A sync approver runs off the loop, so a Stop click is handled while it decides, however late the
# click's handler runs. An async approver that blocks the loop is a bug of that approver: the gate
# still catches a Stop that is already posted when the decision returns (hops=0).
KINDS = [("sync", 3), ("blocking_async", 0)]


@pytest.mark.parametrize(("kind", "hops"), KINDS, ids=[k for k, _ in KINDS])
@pytest.mark.parametrize("stop", [False, True], ids=["no-stop", "stop"])
def test_stop_during_a_slow_approval_runs_nothing(tmp_path, kind, hops, stop):
    marker = tmp_path / "after_stop.txt"
    approver = SlowApprover()
    script = [code("print('warm kernel')"), code(touch_code(marker)), *SPARE]
    cancelled = asyncio.run(_chat(
        tmp_path, script, getattr(approver, kind), approver, stop, hops,
        code_execution_config={"work_dir": str(tmp_path), "executor": "kernel", "approval": "always"}))
    assert approver.calls == 2
    if stop:
        assert cancelled and not marker.exists(), "code approved after Stop was executed"
    else:  # the same chat without Stop does run the block: the test can fail
        assert not cancelled and marker.exists()


@pytest.mark.parametrize(("kind", "hops"), KINDS, ids=[k for k, _ in KINDS])
def test_stop_during_a_slow_tool_approval_runs_no_tool(tmp_path, kind, hops):
    ran = []
    approver = SlowApprover()
    approver.calls = 1  # block already on the first (only) question

    def setup(user, assistant):
        user.tool_approval = "always"

        @user.register_for_execution()
        @assistant.register_for_llm(description="Delete the data.")
        def delete_data() -> str:
            ran.append(True)
            return "deleted"

    cancelled = asyncio.run(_chat(tmp_path, [tool_calls([("delete_data", {})]), *SPARE], getattr(approver, kind),
                                  approver, True, hops, code_execution_config=False, setup=setup))
    assert cancelled and ran == []

"""Pieces of the hostile-model scenarios (``tests/adversarial``): approvers that record, tools that record,
a chat whose only reply is a model's proposal under approval "always", and the kernel processes a chat left.

    with human_handlers(approver=RecordingApprover(False)):
        ...
    result, server = code_chat(code(touch_code(marker)), rejecting, kernel_executor)
    assert not marker.exists() and decisions(result) == [False]
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

import agentnb as autogen
from agentnb.agents.human import human_handlers
from agentnb.messages import ApprovalDecided, ApprovalDecision, ApprovalRequest
from agentnb.testing import ScriptedModelServer

if TYPE_CHECKING:
    from agentnb.coding.kernel import KernelExecutor


class RecordingApprover:
    """A sync approver that answers ``answer`` and remembers every request (thread-safe)."""

    def __init__(self, answer: object = False) -> None:
        self.answer = answer
        self.requests: list[ApprovalRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: ApprovalRequest) -> object:
        with self._lock:
            self.requests.append(request)
        if isinstance(self.answer, bool):
            return ApprovalDecision(approved=self.answer, reason="" if self.answer else "not allowed")
        return self.answer

    @property
    def kinds(self) -> list[str]:
        return [r.kind for r in self.requests]


class Tools:
    """Two functions a model may call, ``wipe`` and ``backup``, that record every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def wipe(self, path: str) -> str:
        self.calls.append(("wipe", {"path": path}))
        return "wiped"

    def backup(self, path: str, keep: int = 1) -> str:
        self.calls.append(("backup", {"path": path, "keep": keep}))
        return "saved"


def tool_team(server: ScriptedModelServer, tools: Tools, *, stream: bool = False, policy: str = "tool_approval"):
    """An assistant on ``server`` that may call ``tools``, and a user proxy that runs them.

    ``policy`` says where approval "always" is set: ``"tool_approval"`` (the proxy's attribute),
    ``"code_execution_config"`` (its ``approval`` key), anything else: nowhere (the test sets it).
    """
    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config(stream=stream))
    cfg = {"executor": "commandline-local", "approval": "always"} if policy == "code_execution_config" else False
    proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=1,
                                   code_execution_config=cfg)
    if policy == "tool_approval":
        proxy.tool_approval = "always"
    autogen.register_function(tools.wipe, caller=assistant, executor=proxy, name="wipe", description="Wipe a folder.")
    autogen.register_function(tools.backup, caller=assistant, executor=proxy, name="backup",
                              description="Back a folder up.")
    return assistant, proxy


def touch_code(marker: Path) -> str:
    """Python that appends ``ran`` to ``marker``: the file exists only if the block ran."""
    return f"open({str(marker)!r}, 'a').write('ran')"


def code_chat(reply: Any, approver: Any, executor: KernelExecutor):
    """One model ``reply`` (then TERMINATE) to a user proxy that runs code in ``executor`` under approval
    "always", with ``approver`` answering; returns ``(result, server)`` (the server is stopped)."""
    with ScriptedModelServer([reply, "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
        proxy = autogen.UserProxyAgent(
            "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=1,
            code_execution_config={"executor": executor, "approval": "always"})
        with human_handlers(approver=approver):
            result = proxy.initiate_chat(assistant, message="go", silent=True)
    return result, server


def group_in_group(server: ScriptedModelServer, runner: Any, *, inner_rounds: int) -> tuple[Any, Any]:
    """``(boss, outer)``: boss in an outer group whose other member manages an inner group of a coder on
    ``server`` and ``runner`` (round robin, ``inner_rounds`` rounds)."""
    coder = autogen.AssistantAgent("coder", llm_config=server.llm_config())
    inner = autogen.GroupChatManager(
        autogen.GroupChat(agents=[coder, runner], messages=[], max_round=inner_rounds,
                          speaker_selection_method="round_robin"),
        name="inner_manager", llm_config=False)
    boss = autogen.UserProxyAgent("boss", human_input_mode="NEVER", code_execution_config=False)
    outer = autogen.GroupChatManager(
        autogen.GroupChat(agents=[boss, inner], messages=[], max_round=2, speaker_selection_method="round_robin"),
        name="outer_manager", llm_config=False)
    return boss, outer


def decisions(result: Any) -> list[bool]:
    """Each approval decision of a chat, as every view and the export see it."""
    return [e.decision.approved for e in result.events if isinstance(e, ApprovalDecided)]


PIDS = "import os\nprint('PIDS', os.getpid(), os.getppid(), flush=True)\n"
"""A block's first lines: print its kernel's pid and its parent's (the supervisor's), for ``printed_pids``."""


def jupyter_chat(server: ScriptedModelServer, tmp_path: Path, *, timeout: float = 30, turns: int = 3) -> Any:
    """A chat of ``turns`` replies from ``server`` to a user proxy running code in its own ``jupyter`` executor."""
    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
    proxy = autogen.UserProxyAgent(
        "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=turns,
        code_execution_config={"work_dir": str(tmp_path / "work"), "executor": "jupyter", "timeout": timeout})
    return proxy.initiate_chat(assistant, message="go", silent=True)


def told(server: ScriptedModelServer, n: int) -> str:
    """What the model was told after the ``n``-th block (the last message of request ``n``)."""
    return server.requests[n]["messages"][-1]["content"]


def exit_code(text: str) -> int:
    """The exit code of an execution result as the model reads it (``exitcode: N ...``)."""
    found = re.match(r"exitcode: (\d+)", text)
    assert found, f"the model was not given an execution result: {text[:300]!r}"
    return int(found.group(1))


def printed_pids(server: ScriptedModelServer) -> set[int]:
    """The process ids blocks printed as ``PIDS <pid> <ppid>`` into what the model was sent (not this process)."""
    pids: set[int] = set()
    for request in server.requests:
        for message in request["messages"]:
            for found in re.findall(r"PIDS (\d+) (\d+)", str(message.get("content"))):
                pids.update(int(p) for p in found)
    pids.discard(psutil.Process().pid)
    assert pids, "no block ran: the scenario is broken"
    return pids


def running(pid: int) -> bool:
    """``pid`` is a live process (a zombie is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_gone(pids: set[int], what: str = "processes", timeout: float = 10) -> None:
    """Every process of ``pids`` exits within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if running(p)}
        time.sleep(0.05)
    assert not alive, f"{what} outlived the chat: {alive}"

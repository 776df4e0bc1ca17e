"""``%%agents`` in a REAL notebook kernel, driven through jupyter_client like a front end would.

Buttons are clicked by sending the comm message a browser sends; the chat's model is the
scripted OpenAI-compatible server on 127.0.0.1 (passed to the kernel as ``OAI_CONFIG_LIST``).
"""

from __future__ import annotations

import json
import os
import queue
import re
import time
from collections.abc import Callable
from typing import Any

import nbformat
import psutil
import pytest
from jupyter_client import KernelManager

from agentnb.testing import ScriptedModelServer, code

pytestmark = pytest.mark.slow

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class NotebookKernel:
    """A real ipykernel plus a client that records every iopub message and widget state."""

    def __init__(self, cwd: str, env: dict[str, str]) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "VSCODE_"))}
        full_env.update(env)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), full_env.get("PYTHONPATH")]))
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=full_env, cwd=cwd)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.messages: list[dict[str, Any]] = []
        self.widgets: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid

    def _pump(self, timeout: float) -> bool:
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return False
        self.messages.append(msg)
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "comm_open":
            self.widgets[content["comm_id"]] = dict(content.get("data", {}).get("state", {}))
        elif kind == "comm_msg" and content.get("data", {}).get("method") == "update":
            self.widgets.setdefault(content["comm_id"], {}).update(content["data"].get("state", {}))
        return True

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 90, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            self._pump(0.2)
        raise AssertionError(f"timed out waiting for {what or predicate}")

    def execute(self, source: str, timeout: float = 120) -> list[dict[str, Any]]:
        """Run a cell; return its iopub messages (up to idle). Fails on an error reply."""
        msg_id = self.kc.execute(source)
        start = len(self.messages)

        def idle():
            return any(m["parent_header"].get("msg_id") == msg_id and m["header"]["msg_type"] == "status"
                       and m["content"]["execution_state"] == "idle" for m in self.messages[start:])

        self.wait_for(idle, timeout, f"cell {source[:40]!r}")
        reply = self.reply_to(msg_id, timeout)
        mine = [m for m in self.messages[start:] if m["parent_header"].get("msg_id") == msg_id]
        errors = [m["content"] for m in mine if m["header"]["msg_type"] == "error"]
        assert reply["content"]["status"] == "ok", (reply["content"], errors)
        return mine

    def reply_to(self, msg_id: str, timeout: float = 60) -> dict[str, Any]:
        """The shell reply to ``msg_id`` (stale replies, e.g. extra kernel_info, are skipped)."""
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def button(self, description: str, enabled: bool = True) -> str | None:
        for comm_id, state in self.widgets.items():
            if (state.get("_model_name") == "ButtonModel" and state.get("description") == description
                    and (not enabled or not state.get("disabled"))):
                return comm_id
        return None

    def set_value(self, comm_id: str, value: str) -> None:
        self._send(comm_id, {"method": "update", "state": {"value": value}, "buffer_paths": []})

    def click(self, comm_id: str) -> None:
        self._send(comm_id, {"method": "custom", "content": {"event": "click"}})

    def _send(self, comm_id: str, data: dict[str, Any]) -> None:
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.kc.shell_channel.send(msg)

    def text_widget(self, placeholder_start: str) -> str | None:
        return next((c for c, s in self.widgets.items() if s.get("_model_name") == "TextModel"
                     and str(s.get("placeholder", "")).startswith(placeholder_start)), None)

    def stdout(self, msgs: list[dict[str, Any]]) -> str:
        return "".join(m["content"].get("text", "") for m in msgs if m["header"]["msg_type"] == "stream")


@pytest.fixture
def kernel_factory(tmp_path):
    kernels: list[NotebookKernel] = []

    def start(config_list: list[dict], **env: str) -> NotebookKernel:
        nb = NotebookKernel(str(tmp_path), {"OAI_CONFIG_LIST": json.dumps(config_list), **env})
        kernels.append(nb)
        return nb

    yield start
    for nb in kernels:
        nb.close()


def _magic(work: str, extra: str = "") -> str:
    return f"%%agents --work-dir {work} --max-turns 3 --out h {extra}\nCreate the file made.txt\n"


def test_approve_click_runs_code(kernel_factory, tmp_path):
    work = tmp_path / "work"
    made = work / "made.txt"
    with ScriptedModelServer([code("open('made.txt','w').write('x')"), "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        msgs = nb.execute(_magic(str(work)))
        assert any(WIDGET_VIEW in m["content"].get("data", {}) for m in msgs), "no panel displayed"
        approve = nb.wait_for(lambda: nb.button("Approve"), what="the Approve button")
        assert not made.exists(), "code ran before approval"
        nb.execute("assert not h.done()")
        nb.click(approve)
        out = nb.stdout(nb.execute("r = await h\nprint(r.stop_reason, len(r.chat_history))"))
        assert made.read_text() == "x"
        assert out.split()[0] == "terminated"
        assert nb.widgets[approve]["disabled"] is True
        assert "chat1: finished: terminated" in nb.stdout(nb.execute("%agents list"))
        nb.execute(f"%agents export {tmp_path / 'chat.ipynb'}")
        exported = nbformat.read(tmp_path / "chat.ipynb", as_version=4)
        assert any("made.txt" in cell.source for cell in exported.cells)


def test_reject_click_never_runs_code_and_reason_reaches_model(kernel_factory, tmp_path):
    work = tmp_path / "work"
    with ScriptedModelServer([code("open('made.txt','w').write('x')"), "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        nb.execute(_magic(str(work)))
        reject = nb.wait_for(lambda: nb.button("Reject"), what="the Reject button")
        nb.set_value(nb.wait_for(lambda: nb.text_widget("reason")), "no files please")
        nb.click(reject)
        nb.execute("r = await h")
        assert not (work / "made.txt").exists()
        told = json.dumps(srv.requests[-1]["messages"])
        assert "rejected" in told and "no files please" in told


def _kernel_children(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if p.is_running()
                and p.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def test_stop_button_cancels_and_leaves_no_execution_kernel(kernel_factory, tmp_path):
    work = tmp_path / "work"
    script = "import os, time\nprint('pid', os.getpid(), flush=True)\ntime.sleep(120)"
    with ScriptedModelServer([code(script), "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list(), AGENTNB_KERNEL_POOL="0")  # no spare warm kernel
        nb.execute("%load_ext agentnb")
        nb.execute(_magic(str(work), "--approve never"))

        def running_pid():
            found = re.search(r"pid (\d+)", json.dumps([s.get("outputs", "") for s in nb.widgets.values()]))
            return int(found.group(1)) if found else None

        pid = nb.wait_for(running_pid, what="the code to start")
        assert psutil.pid_exists(pid) and pid in [p.pid for p in _kernel_children(nb.pid)]
        nb.click(nb.wait_for(lambda: nb.button("Stop"), what="the Stop button"))
        out = nb.stdout(nb.execute("import asyncio\ntry:\n    await h\nexcept asyncio.CancelledError:\n"
                                   "    print('cancelled', h.status, len(h.chat_history))"))
        assert out.startswith("cancelled stopped") and int(out.split()[-1]) >= 1  # history kept
        nb.wait_for(lambda: not _kernel_children(nb.pid), timeout=60, what="the execution kernel to exit")
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_bad_options_give_short_usage_error(kernel_factory):
    nb = kernel_factory([{"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}])
    nb.execute("%load_ext agentnb")
    reply = nb.reply_to(nb.kc.execute("%%agents --approve sometimes\ntask\n"))
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "UsageError"
    reply = nb.reply_to(nb.kc.execute("%%agents --model nonexistent\ntask\n"))
    assert reply["content"]["ename"] == "UsageError" and "nonexistent" in reply["content"]["evalue"]


SYNC_CELL = """
import agentnb
a = agentnb.AssistantAgent("assistant")
u = agentnb.UserProxyAgent("user_proxy", human_input_mode="NEVER", llm_config=False,
                           code_execution_config={{"work_dir": {work!r}, "approval": "never"}})
r = u.initiate_chat(a, message="say hi", max_turns=2)
print("returned", r.stop_reason)
"""


@pytest.mark.parametrize("view", ["widget", "plain"])
def test_sync_initiate_chat_shows_view_and_returns(kernel_factory, tmp_path, view):
    with ScriptedModelServer(["Hello from the **assistant**", "TERMINATE"]) as srv:
        env = {"JPY_SESSION_NAME": "test.ipynb"} if view == "widget" else {}
        nb = kernel_factory(srv.config_list(), **env)
        msgs = nb.execute(SYNC_CELL.format(work=str(tmp_path / "work")))
        assert "returned" in nb.stdout(msgs)
        shown = [m["content"]["data"] for m in msgs if m["header"]["msg_type"] == "display_data"]
        if view == "widget":
            assert any(WIDGET_VIEW in d for d in shown)
            html = json.dumps([s.get("value", "") for s in nb.widgets.values()])
            assert "Hello from the <strong>assistant</strong>" in html.replace("\\u003c", "<")
            # when the chat ends, the panel's output becomes the static page; no live widget stays behind
            updates = [m["content"]["data"] for m in msgs if m["header"]["msg_type"] == "update_display_data"]
            assert updates and WIDGET_VIEW not in updates[-1]
            assert "Hello from the <strong>assistant</strong>" in updates[-1]["text/html"]
            assert sum(WIDGET_VIEW in d for d in shown) == 1  # no toolbar: nothing to export there
        else:
            assert any("Hello from the **assistant**" in d.get("text/markdown", "") for d in shown)
            assert not any(WIDGET_VIEW in d for d in shown)


def test_explicit_approve_applies_to_a_team(kernel_factory, tmp_path):
    """A team whose user proxy never asks still waits for a click when the cell says --approve always."""
    work = tmp_path / "work"
    made = work / "made.txt"
    with ScriptedModelServer([code("open('made.txt','w').write('x')"), "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        nb.execute(
            "import agentnb as autogen\n"
            "team = (autogen.UserProxyAgent('user_proxy', human_input_mode='NEVER', code_execution_config="
            f"{{'work_dir': {str(work)!r}, 'approval': 'never'}}), autogen.AssistantAgent('assistant'))\n")
        nb.execute("%%agents --team team --approve always --out h\nCreate the file made.txt\n")
        approve = nb.wait_for(lambda: nb.button("Approve"), what="the Approve button")
        assert not made.exists(), "code ran before approval"
        nb.click(approve)
        nb.execute("r = await h")
        assert made.read_text() == "x"


def test_team_group_chat_from_the_magic(kernel_factory, tmp_path):
    """`%%agents --team manager` runs a GroupChat: coder writes code, user_proxy runs it, reviewer ends it."""
    work = tmp_path / "work"
    with ScriptedModelServer() as srv:
        srv.add(code("open('made.txt','w').write('team')"), model="coder")
        srv.add("Looks right. TERMINATE", model="reviewer")
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        nb.execute(
            "import agentnb as autogen\n"
            f"coder = autogen.AssistantAgent('coder', llm_config={srv.llm_config(model='coder')!r})\n"
            f"reviewer = autogen.AssistantAgent('reviewer', llm_config={srv.llm_config(model='reviewer')!r})\n"
            "done = lambda m: (m.get('content') or '').rstrip().endswith('TERMINATE')\n"
            "user_proxy = autogen.UserProxyAgent('user_proxy', human_input_mode='NEVER', is_termination_msg=done, "
            f"code_execution_config={{'work_dir': {str(work)!r}}})\n"
            "def order(last, gc):\n"
            "    if last is coder: return user_proxy\n"
            "    return coder if len(gc.messages) == 1 else reviewer\n"
            "gc = autogen.GroupChat([user_proxy, coder, reviewer], messages=[], max_round=6, "
            "speaker_selection_method=order)\n"
            "manager = autogen.GroupChatManager(gc, llm_config=False, is_termination_msg=done)\n")
        nb.execute("%%agents --team manager --approve never --out h\nCreate made.txt\n")
        out = nb.stdout(nb.execute("r = await h\nprint(r.stop_reason, [m['name'] for m in gc.messages])"))
        assert (work / "made.txt").read_text() == "team"
        assert out.startswith("terminated") and "'coder', 'user_proxy', 'reviewer'" in out

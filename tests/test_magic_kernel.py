"""``%%agents`` in a REAL notebook kernel, driven through jupyter_client like a front end would.

Buttons are clicked by sending the comm message a browser sends; the chat's model is the
scripted OpenAI-compatible server on 127.0.0.1 (passed to the kernel as ``OAI_CONFIG_LIST``).
"""

from __future__ import annotations

import json
import re

import nbformat
import psutil
import pytest
from support.kernel import WIDGET_VIEW, NotebookKernel

from agentnb.testing import ScriptedModelServer, code

pytestmark = pytest.mark.slow


MAKE_FILE = code("open('made.txt','w').write('x')")


@pytest.fixture
def kernel_factory(tmp_path):
    """``start(config_list, load_ext=True, **env)``: a kernel with the model in ``OAI_CONFIG_LIST`` and (unless
    ``load_ext=False``) ``%load_ext agentnb`` run; every kernel is shut down after the test."""
    kernels: list[NotebookKernel] = []

    def start(config_list: list[dict], *, load_ext: bool = True, **env: str) -> NotebookKernel:
        nb = NotebookKernel(str(tmp_path), {"OAI_CONFIG_LIST": json.dumps(config_list), **env})
        kernels.append(nb)
        if load_ext:
            nb.execute("%load_ext agentnb")
        return nb

    yield start
    for nb in kernels:
        nb.close()


def _magic(work: str, extra: str = "") -> str:
    return f"%%agents --work-dir {work} --max-turns 3 --out h {extra}\nCreate the file made.txt\n"


def test_approve_click_runs_code(kernel_factory, tmp_path):
    work = tmp_path / "work"
    made = work / "made.txt"
    with ScriptedModelServer([MAKE_FILE, "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
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
    with ScriptedModelServer([MAKE_FILE, "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
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
    # stop_on_error=False: ipykernel 7 sends an error's reply before it starts aborting the queue, so a request
    # sent at once on that reply may land in the queue it aborts (status "aborted": Jupyter's run-all semantics)
    reply = nb.reply_to(nb.kc.execute("%%agents --approve sometimes\ntask\n", stop_on_error=False))
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "UsageError"
    reply = nb.reply_to(nb.kc.execute("%%agents --model nonexistent\ntask\n", stop_on_error=False))
    assert reply["content"]["status"] == "error", reply["content"]
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
        nb = kernel_factory(srv.config_list(), load_ext=False, **env)
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
            assert any("Hello from the <strong>assistant</strong>" in d.get("text/html", "") for d in shown)
            assert not any("text/markdown" in d for d in shown)
            assert not any(WIDGET_VIEW in d for d in shown)


def test_explicit_approve_applies_to_a_team(kernel_factory, tmp_path):
    """A team whose user proxy never asks still waits for a click when the cell says --approve always."""
    work = tmp_path / "work"
    made = work / "made.txt"
    with ScriptedModelServer([MAKE_FILE, "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
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

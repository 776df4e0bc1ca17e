"""The ChatPanel in a real browser: JupyterLab on 127.0.0.1 driven by Playwright + Debian Chromium.

Runs ``%%agents`` against a scripted model server started here, clicks Approve, waits for the
matplotlib plot to appear inside the panel, and saves a screenshot to ``test-output/``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from agentnb.testing import ScriptedModelServer, code

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "test-output"

PLOT = """import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 6.3, 200)
plt.plot(x, np.sin(x), label="sin(x)")
plt.title("y = sin(x)")
plt.legend()
plt.show()"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """Yield ``start(env) -> (base_url, token, root)``; the server is killed by PID afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    procs: list[subprocess.Popen] = []

    def start(extra_env: dict[str, str]) -> tuple[str, str, Path]:
        root = tmp_path / "root"
        root.mkdir()
        settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        port, token = _free_port(), secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "VSCODE_"))}
        env.update(extra_env)
        env.update({
            "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
            "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-ws"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        })
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
               "--ServerApp.open_browser=False"]
        with open(tmp_path / "jupyterlab.log", "wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "jupyterlab.log").read_text()[-3000:]) from None
                time.sleep(0.3)
        return base, token, root

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _write_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]

DEEP_ERROR = """def step(n):
    if n == 0:
        raise FileNotFoundError(2, "No such file or directory", "data/sales.csv")
    return step(n - 1)
step(38)"""

SLOW = "import time\nprint('working')\ntime.sleep(120)"


def _open(page, base: str, token: str, name: str) -> None:
    page.goto(f"{base}/lab/tree/{name}?token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        dialog.wait_for(timeout=5_000)
        dialog.click()
    except Exception:
        pass  # the kernel from the notebook metadata started without asking
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)


def _run_cells(page, count: int) -> None:
    page.locator(".jp-Cell .jp-InputArea-editor").first.click()
    for _ in range(count):
        page.keyboard.press("Shift+Enter")


def _shutdown_kernels(base: str, token: str) -> None:
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as resp:
        kernels = json.loads(resp.read())
    for kernel in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def _height(page, selector: str) -> int:
    return int(page.locator(selector).first.evaluate("e => e.getBoundingClientRect().height"))


def test_panel_approve_plot_save_and_reopen(jupyterlab):
    """Approve on the proposed block, the plot, the static page; saved and reopened: no 'model not found'."""
    from playwright.sync_api import sync_playwright

    replies = [code(PLOT, before="I will plot **sin(x)**:"), "The plot shows one period of sin(x). TERMINATE",
               "TERMINATE"]
    with ScriptedModelServer(replies) as srv:
        base, token, root = jupyterlab({"OAI_CONFIG_LIST": json.dumps(srv.config_list())})
        _write_notebook(root / "demo.ipynb", [
            "%load_ext agentnb",
            "%%agents --work-dir coding --max-turns 3\nPlot y = sin(x) for x in [0, 2π].",
            "print('next cell')",
        ])
        OUTPUT.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                _open(page, base, token, "demo.ipynb")
                _run_cells(page, 2)
                approve = page.locator(".agentnb-panel button:has-text('Approve')")
                approve.wait_for(timeout=120_000)
                assert not (root / "coding").exists() or not any((root / "coding").glob("*.png"))
                # the approval controls sit right under the message that holds the block (code shown once)
                attached = page.locator(".agentnb-approval").first.evaluate(
                    "e => !!(e.previousElementSibling && e.previousElementSibling.querySelector('pre.agentnb-code'))")
                assert attached, "the approval card does not follow the proposed block"
                assert page.locator(".agentnb-panel pre.agentnb-code").count() == 1
                assert page.locator(".agentnb-approval button:has-text('Approve')").is_visible()
                page.screenshot(path=str(OUTPUT / "quickstart-approval.png"), full_page=True)
                approve.click()
                page.locator(".agentnb-static img").first.wait_for(timeout=120_000)
                static = page.locator(".agentnb-static").first
                static.scroll_into_view_if_needed()
                height = _height(page, ".jp-Cell:nth-child(2) .jp-OutputArea")
                (OUTPUT / "quickstart-panel-height.txt").write_text(f"{height}\n")
                page.screenshot(path=str(OUTPUT / "quickstart-panel.png"), full_page=True)
                text = static.inner_text()
                assert "✔ finished" in text and "sin(x)" in text and "TERMINATE" not in text
                assert "exitcode" not in text  # what the model saw is folded, not shown
                assert page.locator(".agentnb-static details.agentnb-saw").count() == 1
                assert page.locator(".agentnb-panel").count() == 0  # the live widget was replaced
                page.locator(".jp-Cell").nth(2).locator(".jp-InputArea-editor").click()
                page.keyboard.press("Shift+Enter")  # the notebook moves on: the Export toolbar leaves
                page.locator(".jp-OutputArea-output:has-text('next cell')").wait_for(timeout=60_000)
                page.keyboard.press("Control+s")
                page.wait_for_timeout(1500)
                saved = json.loads((root / "demo.ipynb").read_text())
                assert "application/vnd.jupyter.widget-view+json" not in json.dumps(saved["cells"][1]["outputs"])
                # reopened with a NEW kernel (the old one, and every widget model, is gone)
                _shutdown_kernels(base, token)
                page.reload()
                page.wait_for_selector(".jp-Notebook", timeout=120_000)
                page.locator(".agentnb-static img").first.wait_for(timeout=60_000)
                page.wait_for_timeout(3000)  # the widget manager has restored by now
                assert "model not found" not in page.locator(".jp-Notebook").inner_text()
                assert "sin(x)" in page.locator(".agentnb-static").first.inner_text()
                page.screenshot(path=str(OUTPUT / "quickstart-reopened.png"), full_page=True)
            finally:
                browser.close()


def test_group_chat_error_chat_and_export_after_stop(jupyterlab):
    """Three agents in three colours (dark theme); a deep traceback folded to one line; Stop, then Export."""
    from playwright.sync_api import sync_playwright

    with ScriptedModelServer() as srv:
        srv.add("I will split the work: the coder writes it, the reviewer checks it.", model="planner")
        srv.add(code("print(sum(range(10)))"), model="coder")
        srv.add("Correct: 45. TERMINATE", model="reviewer")
        srv.add("TERMINATE", model="reviewer")  # however the group reads the first one, it ends here
        srv.add("TERMINATE", model="planner")
        srv.add(code(DEEP_ERROR, before="Reading the sales data:"), model="analyst")
        srv.add(code(SLOW, before="Trying again, slowly:"), model="analyst")
        srv.add("never reached", model="analyst")
        base, token, root = jupyterlab({"OAI_CONFIG_LIST": json.dumps(srv.config_list())})
        team = (
            "import agentnb as autogen\n"
            f"planner = autogen.AssistantAgent('planner', llm_config={srv.llm_config(model='planner')!r})\n"
            f"coder = autogen.AssistantAgent('coder', llm_config={srv.llm_config(model='coder')!r})\n"
            f"reviewer = autogen.AssistantAgent('reviewer', llm_config={srv.llm_config(model='reviewer')!r})\n"
            "user_proxy = autogen.UserProxyAgent('user_proxy', human_input_mode='NEVER', "
            "code_execution_config={'work_dir': 'coding'})\n"
            "order = {'planner': lambda: coder, 'coder': lambda: user_proxy, 'user_proxy': lambda: reviewer}\n"
            "def pick(last, gc):\n"
            "    return order.get(last.name, lambda: planner)() if len(gc.messages) > 1 else planner\n"
            "gc = autogen.GroupChat([user_proxy, planner, coder, reviewer], messages=[], max_round=5, "
            "speaker_selection_method=pick)\n"
            "manager = autogen.GroupChatManager(gc, llm_config=False, "
            "is_termination_msg=lambda m: (m.get('content') or '').rstrip().endswith('TERMINATE'))\n"
            f"analyst = autogen.AssistantAgent('analyst', llm_config={srv.llm_config(model='analyst')!r})\n"
            "runner = autogen.UserProxyAgent('user_proxy', human_input_mode='NEVER', "
            "code_execution_config={'work_dir': 'coding'})\n"
            "pair = (runner, analyst)"
        )
        _write_notebook(root / "team.ipynb", [
            "%load_ext agentnb\n" + team,
            "%%agents --team manager --approve never --out group\nSum the numbers below 10.",
            "%%agents --team pair --approve never --max-turns 4 --out failing\nSummarise data/sales.csv.",
        ])
        themes = root.parent / "lab-settings" / "@jupyterlab" / "apputils-extension"
        (themes / "themes.jupyterlab-settings").write_text(json.dumps({"theme": "JupyterLab Dark"}))
        OUTPUT.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                _open(page, base, token, "team.ipynb")
                _run_cells(page, 2)
                group = page.locator(".jp-Cell").nth(1).locator(".agentnb-static")
                group.wait_for(timeout=120_000)
                assert "✔ finished" in group.inner_text()
                colours = page.locator(".jp-Cell").nth(1).locator(".agentnb-card").evaluate_all(
                    "cards => cards.map(c => [c.querySelector('.agentnb-head').firstChild.textContent.trim(), "
                    "c.style.getPropertyValue('--agent-colour')])")
                by_agent = dict(colours)
                assert {"planner", "coder", "reviewer"} <= set(by_agent)
                assert len(set(by_agent.values())) == len(by_agent), by_agent
                group.scroll_into_view_if_needed()
                page.screenshot(path=str(OUTPUT / "group-chat.png"), full_page=True)
                page.locator(".jp-Cell").nth(2).locator(".jp-InputArea-editor").click()
                page.keyboard.press("Shift+Enter")
                cell = page.locator(".jp-Cell").nth(2)
                cell.locator(".agentnb-panel pre:text-is('working')").wait_for(timeout=120_000)
                folded = cell.locator(".agentnb-panel .agentnb-warning:has-text('FileNotFoundError')")
                assert folded.count() == 1 and "data/sales.csv" in folded.inner_text()
                cell.locator(".agentnb-panel button:has-text('Stop')").click()
                cell.locator(".agentnb-static :text('■ stopped')").wait_for(timeout=60_000)
                assert cell.locator(".agentnb-static :text('■ interrupted')").count() == 1
                assert not cell.locator("button:has-text('Stop')").is_visible()  # no Stop on a chat that is over
                (root / "stopped-run.ipynb").write_text("an earlier file")
                name = cell.locator(".agentnb-toolbar input[title='file name of the exported notebook']")
                name.fill("stopped-run.ipynb")
                name.press("Enter")
                cell.locator(".agentnb-toolbar button:has-text('Export')").click()
                link = cell.locator(".agentnb-toolbar a")
                link.wait_for(timeout=60_000)
                assert link.inner_text() == "stopped-run-2.ipynb"
                assert (root / "stopped-run.ipynb").read_text() == "an earlier file"
                exported = nbformat.read(root / "stopped-run-2.ipynb", as_version=4)
                assert any("step(38)" in c.source for c in exported.cells)
                cell.scroll_into_view_if_needed()
                page.screenshot(path=str(OUTPUT / "error-chat.png"), full_page=True)
                with page.context.expect_page(timeout=60_000) as opened:
                    link.click()
                new = opened.value
                new.wait_for_selector(".jp-Notebook", timeout=120_000)
                assert "stopped-run-2.ipynb" in new.url
                new.close()
                # the block the coder wrote, as a new cell of this notebook
                last = page.locator(".jp-Cell").last
                last.locator(".jp-InputArea-editor").click()
                page.keyboard.type("%agents insert 1 chat1")
                page.keyboard.press("Shift+Enter")
                inserted = page.locator(".jp-Cell .jp-InputArea-editor:has-text('print(sum(range(10)))')")
                inserted.last.wait_for(timeout=60_000)
                assert inserted.count() >= 1
            finally:
                browser.close()


def test_pending_approve_stays_in_view_under_a_long_message(jupyterlab):
    """A long plan above the block: the pending approval sticks to the bottom of the notebook view."""
    from playwright.sync_api import sync_playwright

    plan = "\n\n".join(f"Step {i} of a long plan." for i in range(60))
    with ScriptedModelServer([code("print(1)", before=plan), "TERMINATE"]) as srv:
        base, token, root = jupyterlab({"OAI_CONFIG_LIST": json.dumps(srv.config_list())})
        _write_notebook(root / "long.ipynb", ["%load_ext agentnb", "%%agents --max-turns 2\nPlan it."])
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                _open(page, base, token, "long.ipynb")
                _run_cells(page, 2)
                approve = page.locator(".agentnb-panel button:has-text('Approve')")
                approve.wait_for(timeout=120_000)
                page.locator(".agentnb-card").first.scroll_into_view_if_needed()
                page.wait_for_timeout(500)
                box = approve.bounding_box()
                assert box is not None and box["y"] + box["height"] <= 900, box
                approve.click()  # and it works from there
                page.locator(".agentnb-static").first.wait_for(timeout=120_000)
            finally:
                browser.close()

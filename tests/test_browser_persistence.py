"""A notebook saved while a chat runs, reopened anywhere: real JupyterLab 4 and Notebook 7 in headless Chromium.

A ``%%agents`` chat plots, then waits on the approval of its second block; the notebook is saved (Ctrl+S)
right then, and again right after the chat ends (the Export toolbar still live). The kernel is shut
down; each file is reopened with a new kernel in JupyterLab (trusted, and untrusted), in Notebook 7,
and as nbconvert's HTML (what nbviewer shows): the conversation so far with its plot is visible, the
error "model not found" is not, and nothing shows twice. Screenshots go to ``test-output/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
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
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]

PLOT = """import matplotlib.pyplot as plt
plt.plot([0, 1, 2, 3], [0, 1, 4, 9])
plt.title("squares")
plt.show()
print("plotted")"""

SECOND = "print('second step done')"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyter(tmp_path):
    """Yield ``start(app, env) -> base_url, token`` (app: ``jupyterlab`` or ``notebook``), all serving
    ``tmp_path/root`` with the same isolated Jupyter dirs (one notary: what one saved, another trusts)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    procs: list[subprocess.Popen] = []
    root = tmp_path / "root"
    root.mkdir()
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))

    def start(app: str, extra_env: dict[str, str]) -> tuple[str, str]:
        port, token = _free_port(), secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "VSCODE_"))}
        env.update(extra_env)
        env.update({
            "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
            "JUPYTER_DATA_DIR": str(tmp_path / "jdata"),
            "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-ws"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        })
        cmd = [sys.executable, "-m", app, "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
               "--ServerApp.open_browser=False"]
        log_path = tmp_path / f"{app}-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    return base, token
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log_path.read_text()[-3000:]) from None
                time.sleep(0.3)

    yield start, root
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _shutdown_kernels(base: str, token: str) -> None:
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as resp:
        kernels = json.loads(resp.read())
    for kernel in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        dialog.wait_for(timeout=5_000)
        dialog.click()
    except Exception:
        pass  # the kernel from the notebook metadata started without asking


def _saved(path: Path, *needles: str, timeout: float = 60) -> dict:
    """The notebook at ``path`` once its chat cell's outputs hold every one of ``needles``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            nb = json.loads(path.read_text())
            outputs = json.dumps(nb["cells"][1]["outputs"])
            if all(n in outputs for n in needles):
                return nb
        except (OSError, ValueError, IndexError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} was not saved with {needles}")
        time.sleep(0.3)


def _chat_cell(page):
    """The chat cell of the notebook in view (JupyterLab may restore other notebooks in hidden tabs)."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(1)


def _check_reopened(page, shot: str, *, expect: list[str], absent: list[str]) -> str:
    """The chat cell of a reopened notebook: conversation and plot visible, no widget error visible."""
    cell = _chat_cell(page)
    cell.locator(".agentnb-static img").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(3000)  # the widget manager has restored (and failed to find the old models) by now
    text = cell.locator(".jp-OutputArea").inner_text()  # innerText: what is rendered, not what is hidden
    for needle in expect:
        assert needle in text, (needle, text[:2000])
    for needle in ["model not found", "ChatPanel(", "Toolbar(", *absent]:
        assert needle not in text, (needle, text[:2000])
    assert cell.locator(".agentnb-static:visible").count() == 1, "the conversation shows more than once"
    cell.scroll_into_view_if_needed()
    page.screenshot(path=str(OUTPUT / shot), full_page=True)
    return text


def _nbconvert_html(path: Path, out_dir: Path) -> Path:
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir", str(out_dir), str(path)],
                   check=True, capture_output=True, timeout=300)
    return out_dir / (path.stem + ".html")


def test_saved_mid_chat_and_at_the_end_reopens_everywhere(jupyter, tmp_path):
    from playwright.sync_api import sync_playwright

    replies = [code(PLOT, before="I will plot the squares:"), code(SECOND, before="Now the second step:"),
               "Both steps are done. TERMINATE", "TERMINATE"]
    start, root = jupyter
    with ScriptedModelServer(replies) as srv:
        env = {"OAI_CONFIG_LIST": json.dumps(srv.config_list())}
        base, token = start("jupyterlab", env)
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell("%load_ext agentnb"),
                    nbformat.v4.new_code_cell("%%agents --work-dir coding --max-turns 4\nPlot the squares, "
                                              "then do a second step.")]
        nbformat.write(nb, root / "demo.ipynb")
        OUTPUT.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                _open(page, f"{base}/lab/workspaces/demo/tree/demo.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
                page.locator(".jp-Cell .jp-InputArea-editor").first.click()
                page.keyboard.press("Shift+Enter")
                page.keyboard.press("Shift+Enter")
                cell = _chat_cell(page)
                cell.locator(".agentnb-panel button:has-text('Approve')").first.click(timeout=120_000)
                cell.locator(".agentnb-panel img").first.wait_for(timeout=120_000)
                second = cell.locator(".agentnb-approval").nth(1).locator("button:has-text('Approve')")
                second.wait_for(timeout=120_000)
                # live: the panel shows, its snapshot (kept up to date in the same cell) does not, nor leaves a gap
                snapshot = cell.locator(".agentnb-snapshot")
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.agentnb-snapshot')].some("
                    "e => e.textContent.includes('waiting for approval'))", timeout=60_000)
                assert snapshot.count() == 1 and not snapshot.is_visible()
                assert cell.locator(".jp-OutputArea-child:has(.agentnb-snapshot)").is_hidden()
                assert cell.locator(".agentnb-panel").is_visible()
                page.screenshot(path=str(OUTPUT / "persistence-live-waiting.png"), full_page=True)
                page.keyboard.press("Control+s")  # saved while the chat waits on the second approval
                saved = _saved(root / "demo.ipynb", "waiting for approval", "data:image/png;base64,")
                assert "application/vnd.jupyter.widget-view+json" in json.dumps(saved["cells"][1]["outputs"])
                shutil.copy(root / "demo.ipynb", root / "midchat.ipynb")
                second.click()
                cell.locator(".agentnb-static:has-text('✔ finished')").wait_for(timeout=120_000)
                cell.locator(".agentnb-toolbar button:has-text('Export')").wait_for(timeout=60_000)
                assert snapshot.count() == 0, "the snapshot stayed after the chat ended"
                page.keyboard.press("Control+s")  # saved at once: the Export toolbar is still a live widget
                _saved(root / "demo.ipynb", "agentnb-page", "Both steps are done")
                _shutdown_kernels(base, token)

                # JupyterLab, new kernel: the mid-chat save shows the chat so far with its plot
                _open(page, f"{base}/lab/workspaces/midchat/tree/midchat.ipynb?token={token}")
                text = _check_reopened(page, "persistence-reopened-midchat-lab.png",
                                       expect=["I will plot the squares", "plotted", "Now the second step",
                                               "waiting for approval", "saved while the chat was running"],
                                       absent=["live widget", "Both steps are done"])
                assert not re.search(r"^second step done$", text, re.MULTILINE), "an output that came later"
                dead = _chat_cell(page).locator(".jp-OutputArea-child:has-text('model not found')")
                assert dead.count() == 1 and dead.is_hidden(), "the dead widget is there, hidden by the snapshot"
                # and the save right at the end: the final page once, the dead toolbar hidden
                _open(page, f"{base}/lab/workspaces/demo/tree/demo.ipynb?token={token}")
                _check_reopened(page, "persistence-reopened-finished-lab.png",
                                expect=["✔ finished", "second step done", "Both steps are done"],
                                absent=["saved while the chat was running", "live widget"])
                # untrusted (changed outside Jupyter since it was saved): sanitized HTML, no styles
                untrusted = nbformat.read(root / "midchat.ipynb", as_version=4)
                untrusted.metadata["edited_elsewhere"] = True
                nbformat.write(untrusted, root / "untrusted.ipynb")
                _open(page, f"{base}/lab/workspaces/untrusted/tree/untrusted.ipynb?token={token}")
                text = _check_reopened(page, "persistence-reopened-untrusted-lab.png",
                                       expect=["I will plot the squares", "Now the second step",
                                               "waiting for approval",
                                               "a live widget, shown while the kernel that ran it runs"],
                                       absent=["display: none", ":has("])
                _shutdown_kernels(base, token)

                # Notebook 7 (same root, same notary): the mid-chat save
                base7, token7 = start("notebook", env)
                _open(page, f"{base7}/notebooks/midchat.ipynb?token={token7}")
                _check_reopened(page, "persistence-reopened-midchat-nb7.png",
                                expect=["I will plot the squares", "Now the second step", "waiting for approval"],
                                absent=["live widget"])
                _shutdown_kernels(base7, token7)

                # nbconvert --to html (nbviewer): the widget's one text line is hidden, the chat so far shows
                for name, expect, absent in [
                    ("midchat", ["Now the second step", "waiting for approval"], ["Both steps are done"]),
                    ("demo", ["✔ finished", "Both steps are done"], ["saved while the chat was running"]),
                ]:
                    html = _nbconvert_html(root / f"{name}.ipynb", tmp_path / "html")
                    assert re.search(r'<img [^>]*src="data:image/png;base64,', html.read_text())
                    page.goto(html.as_uri())
                    page.locator(".agentnb-static img").first.wait_for(state="visible", timeout=30_000)
                    text = page.locator(".jp-Cell").nth(1).inner_text()
                    for needle in expect:
                        assert needle in text, (name, needle)
                    for needle in ["live widget", "model not found", "ChatPanel(", "Toolbar(", *absent]:
                        assert needle not in text, (name, needle)
                    page.screenshot(path=str(OUTPUT / f"persistence-nbconvert-{name}.png"), full_page=True)
                    # styles stripped (GitHub keeps no <style>): still the conversation, as plain HTML
                    page.evaluate("() => document.querySelectorAll('style').forEach(s => s.remove())")
                    text = page.locator(".jp-Cell").nth(1).inner_text()
                    assert all(needle in text for needle in expect) and "display: none" not in text
                    assert page.locator(".agentnb-static img").first.is_visible()
            finally:
                browser.close()

"""Copy / Insert below / Edit in place in a real browser: JupyterLab 4 and Notebook 7 with agentnb's extension.

A ``%%agents`` chat against the scripted model proposes a block that holds a zero-width space and an
escape; the test copies it, edits it in place and cancels, inserts it below the chat's cell (from the
live panel and again from the static page the finished chat becomes), saves, and reads the saved
notebook: the new cells sit right under the chat's cell and hold the visible marks, never the raw
characters. The extension is served from this checkout's ``agentnb/labextension`` (``JUPYTER_PATH``),
so the test checks the committed build, installed or not. Screenshots go to ``test-output/``.
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
from agentnb.textguard import visible

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "test-output"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]

CODE = 'label = "total\u200b"\nprint(label, "\x1b[1m", sum(range(10)))'
SHOWN = visible(CODE)
APPS = {"lab": ("jupyterlab", "lab/tree"), "notebook": ("notebook", "notebooks")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyter_server(tmp_path):
    """Yield ``start(app, env) -> (base_url, token, root)``: JupyterLab or Notebook 7, killed by PID afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    if not (REPO / "agentnb" / "labextension" / "package.json").exists():
        pytest.skip("agentnb/labextension is not built (scripts/build-labextension)")
    procs: list[subprocess.Popen] = []

    def start(app: str, extra_env: dict[str, str]) -> tuple[str, str, Path]:
        root = tmp_path / "root"
        root.mkdir()
        settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        extensions = tmp_path / "jpath" / "labextensions"
        extensions.mkdir(parents=True)
        (extensions / "agentnb-jupyterlab").symlink_to(REPO / "agentnb" / "labextension")
        port, token = _free_port(), secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "VSCODE_"))}
        env.update(extra_env)
        env.update({
            "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
            "JUPYTER_PATH": str(tmp_path / "jpath"),
            "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-ws"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        })
        cmd = [sys.executable, "-m", APPS[app][0], "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
               "--ServerApp.open_browser=False"]
        log_path = tmp_path / f"{app}.log"
        with open(log_path, "wb") as log:
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
                    raise RuntimeError(log_path.read_text()[-3000:]) from None
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


def _visible_copies(page) -> int:
    """How many copies of the block a person sees: shown ``<pre>`` blocks plus a shown editor holding it."""
    pres = page.locator(".agentnb-panel pre.agentnb-code:visible").evaluate_all(
        "(els, code) => els.filter(e => e.textContent.includes(code)).length", "label = ")
    editors = page.locator(".agentnb-panel textarea:visible").evaluate_all(
        "(els, code) => els.filter(e => e.value.includes(code)).length", "label = ")
    return pres + editors


def _saved_sources(page, root: Path, name: str) -> list[str]:
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while True:
        cells = nbformat.read(root / name, as_version=4).cells
        if len(cells) >= 5 or time.monotonic() > deadline:
            return [c.source for c in cells]
        time.sleep(0.3)


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_copy_edit_in_place_and_insert_below(jupyter_server, app):
    from playwright.sync_api import sync_playwright

    replies = [code(CODE, before="This prints the label and the sum:"), "Done. TERMINATE", "TERMINATE"]
    with ScriptedModelServer(replies) as srv:
        base, token, root = jupyter_server(app, {"OAI_CONFIG_LIST": json.dumps(srv.config_list())})
        _write_notebook(root / "bridge.ipynb", [
            "%load_ext agentnb",
            "%%agents --max-turns 2\nPrint the label and the sum of 0..9.",
            "print('after the chat')",
        ])
        OUTPUT.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 1000},
                                              permissions=["clipboard-read", "clipboard-write"])
                page = context.new_page()
                page.goto(f"{base}/{APPS[app][1]}/bridge.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
                dialog = page.locator(".jp-Dialog .jp-mod-accept")
                try:
                    dialog.wait_for(timeout=5_000)
                    dialog.click()
                except Exception:
                    pass  # the kernel from the notebook metadata started without asking
                assert page.evaluate("document.body.dataset.agentnbFrontend") == "0.1.0"
                page.locator(".jp-Cell .jp-InputArea-editor").first.click()
                page.keyboard.press("Shift+Enter")
                page.keyboard.press("Shift+Enter")
                chat = page.locator(".jp-Cell").nth(1)
                approve = chat.locator(".agentnb-panel button:has-text('Approve')")
                approve.wait_for(timeout=120_000)
                block = chat.locator(".agentnb-card .agentnb-snippet").first
                assert block.locator("button[data-agentnb-action='copy']").is_visible()
                assert _visible_copies(page) == 1

                # Copy: the clipboard holds the code as shown (the marks, not the raw characters)
                block.locator("button[data-agentnb-action='copy']").click()
                block.locator("button:has-text('Copied')").wait_for(timeout=10_000)
                assert page.evaluate("navigator.clipboard.readText()") == SHOWN

                # Edit in place: the editor takes the block's place; Cancel puts it back
                chat.locator(".agentnb-approval button[title='Edit']").click()
                chat.locator(".agentnb-approval textarea").wait_for(state="visible", timeout=10_000)
                block.wait_for(state="hidden", timeout=10_000)  # class and layout are separate widget updates
                assert _visible_copies(page) == 1 and not block.is_visible()
                head = chat.locator(".agentnb-approval .agentnb-head").first.inner_text()
                assert head.startswith("Edit the code") and "Approve?" not in head
                assert chat.locator(".agentnb-approval textarea").input_value().rstrip("\n") == SHOWN
                page.screenshot(path=str(OUTPUT / f"code-actions-{app}-editing.png"), full_page=True)
                chat.locator(".agentnb-approval button:text-is('Cancel')").click()
                block.wait_for(state="visible", timeout=10_000)
                chat.locator(".agentnb-approval textarea").wait_for(state="hidden", timeout=10_000)
                approve.wait_for(state="visible", timeout=10_000)
                assert _visible_copies(page) == 1 and approve.is_visible()
                assert chat.locator(".agentnb-approval .agentnb-head").first.inner_text().startswith("Approve?")

                # Insert below from the live panel: a new cell right under the chat's cell
                block.locator("button[data-agentnb-action='insert-below']").click()
                block.locator("button:has-text('Inserted')").wait_for(timeout=10_000)
                assert page.locator(".jp-Cell").count() == 4
                page.screenshot(path=str(OUTPUT / f"code-actions-{app}-inserted.png"), full_page=True)

                # Approve; the finished chat's static page keeps the buttons, and they still work
                approve.click()
                static = chat.locator(".agentnb-static")
                static.wait_for(timeout=120_000)
                static.locator(".agentnb-snippet").first.hover()
                static.locator("button[data-agentnb-action='insert-below']").first.click()
                static.locator("button:has-text('Inserted')").wait_for(timeout=10_000)
                assert page.locator(".jp-Cell").count() == 5
                sources = _saved_sources(page, root, "bridge.ipynb")
                assert sources[1].startswith("%%agents") and sources[2] == SHOWN and sources[3] == SHOWN
                assert sources[4] == "print('after the chat')"
                raw = (root / "bridge.ipynb").read_text(encoding="utf-8")
                assert "\u200b" not in raw and "\\u200b" not in raw and "\\u001b" not in raw
                page.screenshot(path=str(OUTPUT / f"code-actions-{app}-static.png"), full_page=True)

                # Without the extension (a bare page: VS Code, nbviewer) the buttons are not shown
                bare = context.new_page()
                bare.set_content(static.evaluate("e => e.parentElement.innerHTML"))
                assert bare.locator(".agentnb-snippet pre").first.is_visible()
                assert not bare.locator(".agentnb-snippet-action").first.is_visible()
                bare.close()
            finally:
                browser.close()


FAKE = ('<div class="agentnb-snippet"><button class="agentnb-snippet-action agentnb-action-insert-below" '
        'data-agentnb-action="insert-below">Insert below</button><pre class="agentnb-code"><code>'
        'print("seen")<span style="display:none">; import os; os.remove("x")</span></code></pre></div>')


def test_untrusted_saved_page_and_foreign_html(jupyter_server):
    """A notebook received from elsewhere (untrusted: JupyterLab's sanitizer drops ``data-*``) still inserts
    from agentnb's blocks; a look-alike block inside an agent's ``text/html`` output inserts nothing."""
    from playwright.sync_api import sync_playwright

    from agentnb.messages import ChatFinished, ChatStarted, ExecutionFinished, MessageSent
    from agentnb.notebook.static import transcript_html

    events = [
        ChatStarted(sender="user_proxy", recipient="assistant", agents=["user_proxy", "assistant"]),
        MessageSent(sender="assistant", recipient="user_proxy", message={"content": f"```python\n{CODE}\n```"}),
        ExecutionFinished(executor="user_proxy", block_id="b1", language="python", code=CODE, exit_code=0,
                          summary="", outputs=[{"output_type": "display_data",
                                                "data": {"text/html": FAKE, "text/plain": "fake"}}]),
        ChatFinished(reason="terminated"),
    ]
    base, token, root = jupyter_server("lab", {})
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    chat = nbformat.v4.new_code_cell("%%agents\nPrint the label.")
    chat.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": transcript_html(events, state="finished"), "text/plain": "agentnb chat"})]
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), chat]
    nbformat.write(nb, root / "received.ipynb")  # unsigned: JupyterLab treats its outputs as untrusted
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900},
                                          permissions=["clipboard-read", "clipboard-write"])
            page = context.new_page()
            page.goto(f"{base}/lab/tree/received.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .agentnb-static", timeout=120_000)
            ours = page.locator(".agentnb-card .agentnb-snippet")
            assert ours.locator("button[data-agentnb-action]").count() == 0  # sanitized away
            fake = page.locator(".agentnb-html .agentnb-snippet-action")
            fake.click()
            page.wait_for_timeout(500)
            assert page.locator(".jp-Cell").count() == 2 and fake.inner_text() == "Insert below"
            ours.locator(".agentnb-action-insert-below").click()
            ours.locator("button:has-text('Inserted')").wait_for(timeout=10_000)
            assert page.locator(".jp-Cell").count() == 3
            ours.locator(".agentnb-action-copy").click()
            assert page.evaluate("navigator.clipboard.readText()") == SHOWN
            page.screenshot(path=str(OUTPUT / "code-actions-untrusted.png"), full_page=True)
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 30
            while len(nbformat.read(root / "received.ipynb", as_version=4).cells) < 3:
                assert time.monotonic() < deadline, "the notebook was not saved"
                time.sleep(0.3)
            assert [c.source for c in nbformat.read(root / "received.ipynb", as_version=4).cells][2] == SHOWN
        finally:
            browser.close()

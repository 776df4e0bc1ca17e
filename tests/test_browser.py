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


def test_panel_approve_and_plot_in_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright

    with ScriptedModelServer([code(PLOT, before="I will plot **sin(x)**:"), "Done. TERMINATE"]) as srv:
        base, token, root = jupyterlab({"OAI_CONFIG_LIST": json.dumps(srv.config_list())})
        _write_notebook(root / "demo.ipynb", [
            "%load_ext agentnb",
            "%%agents --work-dir coding --max-turns 3\nPlot y = sin(x) for x in [0, 2π].",
        ])
        OUTPUT.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1400})
                page.goto(f"{base}/lab/tree/demo.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook", timeout=120_000)
                dialog = page.locator(".jp-Dialog .jp-mod-accept")
                try:
                    dialog.wait_for(timeout=5_000)
                    dialog.click()
                except Exception:
                    pass  # the kernel from the notebook metadata started without asking
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
                page.locator(".jp-Cell .jp-InputArea-editor").first.click()
                page.keyboard.press("Shift+Enter")
                page.keyboard.press("Shift+Enter")
                approve = page.locator(".agentnb-panel button:has-text('Approve')")
                approve.wait_for(timeout=120_000)
                assert not (root / "coding").exists() or not any((root / "coding").glob("*.png"))
                page.screenshot(path=str(OUTPUT / "browser-approval.png"), full_page=True)
                approve.click()
                page.locator(".agentnb-panel img").first.wait_for(timeout=120_000)
                page.locator(".agentnb-panel :text('chat finished')").wait_for(timeout=120_000)
                page.screenshot(path=str(OUTPUT / "browser-plot.png"), full_page=True)
                assert page.locator(".agentnb-panel button:has-text('Approve')").is_disabled()
                assert "sin(x)" in page.locator(".agentnb-panel").inner_text()
            finally:
                browser.close()

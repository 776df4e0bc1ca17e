"""Studio in a real browser (Debian Chromium via Playwright): the builder in JupyterLab and the served page.

Each test builds/runs a team against the scripted model server, approves a code block by clicking,
waits for the matplotlib plot, and saves screenshots to ``test-output/`` for a person to look at.
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
REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PLOT = """import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 6.3, 200)
plt.plot(x, np.sin(x), label="sin(x)")
plt.title("y = sin(x)")
plt.legend()
plt.show()"""


def _needs_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """``start(env) -> (base_url, token, root)``; the server is stopped by PID afterwards."""
    _needs_browser()
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
        env.update({"JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
                    "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
                    "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-ws"),
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))})
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root"]
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


def test_builder_in_jupyterlab_build_run_approve_plot(jupyterlab):
    from playwright.sync_api import sync_playwright

    with ScriptedModelServer([code(PLOT, before="Plotting:"), "Done. TERMINATE"]) as srv:
        base, token, root = jupyterlab({"AGENTNB_HISTORY": "off"})
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(
            "from agentnb.studio import studio\n"
            f"s = studio('coder', models={{'default': {srv.llm_config()!r}}})\ns")]
        nbformat.write(nb, root / "studio.ipynb")
        OUTPUT.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1800})
                page.goto(f"{base}/lab/tree/studio.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook", timeout=120_000)
                dialog = page.locator(".jp-Dialog .jp-mod-accept")
                try:
                    dialog.wait_for(timeout=5_000)
                    dialog.click()
                except Exception:
                    pass  # the kernel from the metadata started without asking
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
                page.locator(".jp-Cell .jp-InputArea-editor").first.click()
                page.keyboard.press("Shift+Enter")
                add = page.locator("button:has-text('Add agent')")
                add.wait_for(timeout=120_000)
                assert page.locator(".widget-text input").count() >= 2  # two agent cards, name boxes
                names_before = page.locator(".widget-text input").count()
                add.click()
                page.wait_for_function(f"document.querySelectorAll('.widget-text input').length > {names_before}",
                                       timeout=30_000)
                page.locator("button:has-text('Remove')").last.click()  # back to the two-agent team
                page.wait_for_function(f"document.querySelectorAll('.widget-text input').length == {names_before}",
                                       timeout=30_000)
                page.screenshot(path=str(OUTPUT / "studio-builder.png"), full_page=True)
                page.locator("button:has-text('Run')").first.click()
                approve = page.locator(".agentnb-panel button:has-text('Approve')")
                approve.wait_for(timeout=120_000)
                assert not any(root.rglob("*.png")), "code ran before approval"
                page.screenshot(path=str(OUTPUT / "studio-approval.png"), full_page=True)
                approve.click()
                page.locator(".agentnb-panel img").first.wait_for(timeout=120_000)
                page.screenshot(path=str(OUTPUT / "studio-plot.png"), full_page=True)
                assert "sin(x)" in page.locator(".agentnb-panel").inner_text()
            finally:
                browser.close()


def test_served_page_approve_and_plot(tmp_path, monkeypatch):
    _needs_browser()
    from playwright.sync_api import sync_playwright

    from agentnb.studio import gallery_spec
    from agentnb.studio.serve import serve_in_thread

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTNB_HISTORY", "off")
    with ScriptedModelServer([code(PLOT, before="Plotting:"), "Done. TERMINATE"]) as srv:
        server, port, stop = serve_in_thread(gallery_spec("coder"), models={"default": srv.llm_config()})
        OUTPUT.mkdir(exist_ok=True)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1000, "height": 1400})
                    page.goto(f"http://127.0.0.1:{port}/?token={server.token}")
                    page.wait_for_function("document.getElementById('task').value.length > 0", timeout=30_000)
                    page.locator("#run").click()
                    approve = page.locator("button:has-text('Approve')")
                    approve.wait_for(timeout=120_000)
                    assert "plt.plot" in page.locator(".approval pre").first.inner_text()
                    assert not any(tmp_path.rglob("*.png")), "code ran before approval"
                    page.screenshot(path=str(OUTPUT / "studio-serve-approval.png"), full_page=True)
                    approve.click()
                    page.locator("img[alt='plot']").first.wait_for(timeout=120_000)
                    page.locator("#status:has-text('finished')").wait_for(timeout=120_000)
                    page.screenshot(path=str(OUTPUT / "studio-serve-plot.png"), full_page=True)
                finally:
                    browser.close()
        finally:
            stop()


def test_builder_under_voila_run_approve_plot(tmp_path):
    """``voila notebooks/studio.ipynb``: the builder as a standalone page; the default model is the scripted one."""
    _needs_browser()
    from playwright.sync_api import sync_playwright

    voila = Path(sys.executable).with_name("voila")
    if not voila.exists():
        pytest.skip("voila is not installed")
    root = tmp_path / "app"
    root.mkdir()
    (root / "studio.ipynb").write_bytes((REPO / "notebooks" / "studio.ipynb").read_bytes())
    OUTPUT.mkdir(exist_ok=True)
    with ScriptedModelServer([code(PLOT, before="Plotting:"), "Done. TERMINATE"]) as srv:
        port, token = _free_port(), secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "VSCODE_"))}
        env.update({"OAI_CONFIG_LIST": json.dumps(srv.config_list()), "AGENTNB_HISTORY": str(tmp_path / "h.sqlite"),
                    "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))})
        with open(tmp_path / "voila.log", "wb") as log:
            proc = subprocess.Popen([str(voila), "studio.ipynb", "--no-browser", f"--port={port}",
                                     "--Voila.ip=127.0.0.1", f"--token={token}"],
                                    env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 1800})
                    deadline = time.monotonic() + 120
                    while True:
                        try:
                            page.goto(f"http://127.0.0.1:{port}/?token={token}", timeout=60_000)
                            break
                        except Exception:
                            if proc.poll() is not None or time.monotonic() > deadline:
                                raise RuntimeError((tmp_path / "voila.log").read_text()[-3000:]) from None
                            time.sleep(0.5)
                    run = page.locator("button:has-text('Run')").first
                    run.wait_for(timeout=180_000)
                    page.screenshot(path=str(OUTPUT / "studio-voila-builder.png"), full_page=True)
                    run.click()
                    approve = page.locator(".agentnb-panel button:has-text('Approve')")
                    approve.wait_for(timeout=120_000)
                    assert not any(root.rglob("*.png")), "code ran before approval"
                    approve.click()
                    page.locator(".agentnb-panel img").first.wait_for(timeout=120_000)
                    page.screenshot(path=str(OUTPUT / "studio-voila-plot.png"), full_page=True)
                    assert "sin(x)" in page.locator(".agentnb-panel").inner_text()
                finally:
                    browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

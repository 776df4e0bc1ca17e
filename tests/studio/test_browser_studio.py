"""Studio in a real browser (Debian Chromium via Playwright): the builder in JupyterLab and the served page.

Each test builds/runs a team against the scripted model server, approves a code block by clicking,
waits for the matplotlib plot, and saves screenshots to ``test-output/`` for a person to look at.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.browser import (
    OUTPUT,
    PLOT,
    REPO,
    JupyterServer,
    chromium,
    free_port,
    isolated_env,
    needs_browser,
    open_notebook,
    run_cells,
    stop_process,
    write_notebook,
)

from agentnb.testing import ScriptedModelServer, code

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_browser]

def test_builder_in_jupyterlab_build_run_approve_plot(tmp_path):
    with (ScriptedModelServer([code(PLOT, before="Plotting:"), "Done. TERMINATE"]) as srv,
          JupyterServer(tmp_path, env={"AGENTNB_HISTORY": "off"}) as lab):
        root = lab.root
        write_notebook(root / "studio.ipynb", [
            "from agentnb.studio import studio\n"
            f"s = studio('coder', models={{'default': {srv.llm_config()!r}}})\ns"])
        OUTPUT.mkdir(exist_ok=True)
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            open_notebook(page, lab.url("studio.ipynb"))
            run_cells(page, 1)
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


def test_served_page_approve_and_plot(tmp_path, monkeypatch):
    from agentnb.studio import gallery_spec
    from agentnb.studio.serve import serve_in_thread

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTNB_HISTORY", "off")
    with ScriptedModelServer([code(PLOT, before="Plotting:"), "Done. TERMINATE"]) as srv:
        server, port, stop = serve_in_thread(gallery_spec("coder"), models={"default": srv.llm_config()})
        OUTPUT.mkdir(exist_ok=True)
        try:
            with chromium() as browser:
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
            stop()


def test_builder_under_voila_run_approve_plot(tmp_path):
    """``voila notebooks/studio.ipynb``: the builder as a standalone page; the default model is the scripted one."""
    voila = Path(sys.executable).with_name("voila")
    if not voila.exists():
        pytest.skip("voila is not installed")
    root = tmp_path / "app"
    root.mkdir()
    (root / "studio.ipynb").write_bytes((REPO / "notebooks" / "studio.ipynb").read_bytes())
    OUTPUT.mkdir(exist_ok=True)
    with ScriptedModelServer([code(PLOT, before="Plotting:"), "Done. TERMINATE"]) as srv:
        port, token = free_port(), secrets.token_hex(16)
        env = isolated_env(tmp_path, {"OAI_CONFIG_LIST": json.dumps(srv.config_list()),
                                      "AGENTNB_HISTORY": str(tmp_path / "h.sqlite")})
        with open(tmp_path / "voila.log", "wb") as log:
            proc = subprocess.Popen([str(voila), "studio.ipynb", "--no-browser", f"--port={port}",
                                     "--Voila.ip=127.0.0.1", f"--token={token}"],
                                    env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
        try:
            with chromium() as browser:
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
            stop_process(proc)

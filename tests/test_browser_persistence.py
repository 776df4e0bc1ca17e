"""A notebook saved while a chat runs, reopened anywhere: real JupyterLab 4 and Notebook 7 in headless Chromium.

A ``%%agents`` chat plots, then waits on the approval of its second block; the notebook is saved (Ctrl+S)
right then, and again right after the chat ends (the Export toolbar still live). The kernel is shut
down; each file is reopened with a new kernel in JupyterLab (trusted, and untrusted), in Notebook 7,
and as nbconvert's HTML (what nbviewer shows): the conversation so far with its plot is visible, the
error "model not found" is not, and nothing shows twice. Screenshots go to ``test-output/``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from support.browser import (
    OUTPUT,
    JupyterServer,
    chromium,
    needs_browser,
    open_notebook,
    run_cells,
    write_notebook,
)

from agentnb.testing import ScriptedModelServer, code

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_browser]

PLOT = """import matplotlib.pyplot as plt
plt.plot([0, 1, 2, 3], [0, 1, 4, 9])
plt.title("squares")
plt.show()
print("plotted")"""

SECOND = "print('second step done')"


def _in_workspace(lab: JupyterServer, name: str) -> str:
    """``name`` opened in a JupyterLab workspace of its own (no other notebook restored in a hidden tab)."""
    return f"{lab.base}/lab/workspaces/{Path(name).stem}/tree/{name}?token={lab.token}"


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


def test_saved_mid_chat_and_at_the_end_reopens_everywhere(tmp_path):
    replies = [code(PLOT, before="I will plot the squares:"), code(SECOND, before="Now the second step:"),
               "Both steps are done. TERMINATE", "TERMINATE"]
    with ScriptedModelServer(replies) as srv:
        env = {"OAI_CONFIG_LIST": json.dumps(srv.config_list())}
        lab = JupyterServer(tmp_path, "lab", env)
        notebook7 = JupyterServer(tmp_path, "notebook", env)  # same root, same notary
        root = lab.root
        root.mkdir(parents=True)
        write_notebook(root / "demo.ipynb", ["%load_ext agentnb",
                                             "%%agents --work-dir coding --max-turns 4\nPlot the squares, "
                                             "then do a second step."])
        OUTPUT.mkdir(exist_ok=True)
        with lab, notebook7, chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            open_notebook(page, _in_workspace(lab, "demo.ipynb"))
            run_cells(page, 2)
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
            lab.shutdown_kernels()

            # JupyterLab, new kernel: the mid-chat save shows the chat so far with its plot
            open_notebook(page, _in_workspace(lab, "midchat.ipynb"), idle=False)
            text = _check_reopened(page, "persistence-reopened-midchat-lab.png",
                                   expect=["I will plot the squares", "plotted", "Now the second step",
                                           "waiting for approval", "saved while the chat was running"],
                                   absent=["live widget", "Both steps are done"])
            assert not re.search(r"^second step done$", text, re.MULTILINE), "an output that came later"
            dead = _chat_cell(page).locator(".jp-OutputArea-child:has-text('model not found')")
            assert dead.count() == 1 and dead.is_hidden(), "the dead widget is there, hidden by the snapshot"
            # and the save right at the end: the final page once, the dead toolbar hidden
            open_notebook(page, _in_workspace(lab, "demo.ipynb"), idle=False)
            _check_reopened(page, "persistence-reopened-finished-lab.png",
                            expect=["✔ finished", "second step done", "Both steps are done"],
                            absent=["saved while the chat was running", "live widget"])
            # untrusted (changed outside Jupyter since it was saved): sanitized HTML, no styles
            untrusted = nbformat.read(root / "midchat.ipynb", as_version=4)
            untrusted.metadata["edited_elsewhere"] = True
            nbformat.write(untrusted, root / "untrusted.ipynb")
            open_notebook(page, _in_workspace(lab, "untrusted.ipynb"), idle=False)
            text = _check_reopened(page, "persistence-reopened-untrusted-lab.png",
                                   expect=["I will plot the squares", "Now the second step",
                                           "waiting for approval",
                                           "a live widget, shown while the kernel that ran it runs"],
                                   absent=["display: none", ":has("])
            lab.shutdown_kernels()

            # Notebook 7 (same root, same notary): the mid-chat save
            open_notebook(page, notebook7.url("midchat.ipynb"), idle=False)
            _check_reopened(page, "persistence-reopened-midchat-nb7.png",
                            expect=["I will plot the squares", "Now the second step", "waiting for approval"],
                            absent=["live widget"])
            notebook7.shutdown_kernels()

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

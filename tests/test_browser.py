"""The ChatPanel in a real browser: JupyterLab on 127.0.0.1 driven by Playwright + Debian Chromium.

Runs ``%%agents`` against a scripted model server started here, clicks Approve, waits for the
matplotlib plot to appear inside the panel, and saves a screenshot to ``test-output/``.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from support.browser import (
    OUTPUT,
    PLOT,
    JupyterServer,
    chromium,
    needs_browser,
    open_notebook,
    run_cells,
    write_notebook,
)

from agentnb.testing import ScriptedModelServer, code

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_browser]

DEEP_ERROR = """def step(n):
    if n == 0:
        raise FileNotFoundError(2, "No such file or directory", "data/sales.csv")
    return step(n - 1)
step(38)"""

SLOW = "import time\nprint('working')\ntime.sleep(120)"


def _height(page, selector: str) -> int:
    return int(page.locator(selector).first.evaluate("e => e.getBoundingClientRect().height"))


def test_panel_approve_plot_save_and_reopen(tmp_path):
    """Approve on the proposed block, the plot, the static page; saved and reopened: no 'model not found'."""
    replies = [code(PLOT, before="I will plot **sin(x)**:"), "The plot shows one period of sin(x). TERMINATE",
               "TERMINATE"]
    with (ScriptedModelServer(replies) as srv,
          JupyterServer(tmp_path, env={"OAI_CONFIG_LIST": json.dumps(srv.config_list())}) as lab):
        root = lab.root
        write_notebook(root / "demo.ipynb", [
            "%load_ext agentnb",
            "%%agents --work-dir coding --max-turns 3\nPlot y = sin(x) for x in [0, 2π].",
            "print('next cell')",
        ])
        OUTPUT.mkdir(exist_ok=True)
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            open_notebook(page, lab.url("demo.ipynb"))
            run_cells(page, 2)
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
            lab.shutdown_kernels()
            page.reload()
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            page.locator(".agentnb-static img").first.wait_for(timeout=60_000)
            page.wait_for_timeout(3000)  # the widget manager has restored by now
            assert "model not found" not in page.locator(".jp-Notebook").inner_text()
            assert "sin(x)" in page.locator(".agentnb-static").first.inner_text()
            page.screenshot(path=str(OUTPUT / "quickstart-reopened.png"), full_page=True)


def test_group_chat_error_chat_and_export_after_stop(tmp_path):
    """Three agents in three colours (dark theme); a deep traceback folded to one line; Stop, then Export."""
    with (ScriptedModelServer() as srv,
          JupyterServer(tmp_path, env={"OAI_CONFIG_LIST": json.dumps(srv.config_list())}) as lab):
        srv.add("I will split the work: the coder writes it, the reviewer checks it.", model="planner")
        srv.add(code("print(sum(range(10)))"), model="coder")
        srv.add("Correct: 45. TERMINATE", model="reviewer")
        srv.add("TERMINATE", model="reviewer")  # however the group reads the first one, it ends here
        srv.add("TERMINATE", model="planner")
        srv.add(code(DEEP_ERROR, before="Reading the sales data:"), model="analyst")
        srv.add(code(SLOW, before="Trying again, slowly:"), model="analyst")
        srv.add("never reached", model="analyst")
        root = lab.root
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
        write_notebook(root / "team.ipynb", [
            "%load_ext agentnb\n" + team,
            "%%agents --team manager --approve never --out group\nSum the numbers below 10.",
            "%%agents --team pair --approve never --max-turns 4 --out failing\nSummarise data/sales.csv.",
        ])
        themes = lab.lab_settings / "@jupyterlab" / "apputils-extension"
        (themes / "themes.jupyterlab-settings").write_text(json.dumps({"theme": "JupyterLab Dark"}))
        OUTPUT.mkdir(exist_ok=True)
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            open_notebook(page, lab.url("team.ipynb"))
            run_cells(page, 2)
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


def test_pending_approve_stays_in_view_under_a_long_message(tmp_path):
    """A long plan above the block: the pending approval sticks to the bottom of the notebook view."""
    plan = "\n\n".join(f"Step {i} of a long plan." for i in range(60))
    with (ScriptedModelServer([code("print(1)", before=plan), "TERMINATE"]) as srv,
          JupyterServer(tmp_path, env={"OAI_CONFIG_LIST": json.dumps(srv.config_list())}) as lab):
        root = lab.root
        write_notebook(root / "long.ipynb", ["%load_ext agentnb", "%%agents --max-turns 2\nPlan it."])
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            open_notebook(page, lab.url("long.ipynb"))
            run_cells(page, 2)
            approve = page.locator(".agentnb-panel button:has-text('Approve')")
            approve.wait_for(timeout=120_000)
            page.locator(".agentnb-card").first.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            box = approve.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 900, box
            approve.click()  # and it works from there
            page.locator(".agentnb-static").first.wait_for(timeout=120_000)

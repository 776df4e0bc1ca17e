"""The bridge to the user's notebook in a real browser: JupyterLab 4 in headless Chromium (Playwright).

One session: ``%%agents --share df`` tells the scripted model the DataFrame's schema and first rows and
the model's block derives ``summary`` in the agents' kernel; a long output folds to one line and
unfolds on a click; the panel's follow-up box continues the same chat with the same kernel state;
``%agents pull summary`` and ``await chat.pull(...)`` bring the DataFrame back into the notebook.
Screenshots go to ``test-output/bridge-*.png``.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from support.browser import OUTPUT, JupyterServer, chromium, needs_browser, open_notebook, run_cells, write_notebook

from agentnb.messages import content_str
from agentnb.testing import ScriptedModelServer, code

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_browser]

DATA = {"region": ["north", "south", "north", "east", "south", "east"],
        "sales": [10, 20, 30, 40, 50, 60], "units": [1, 2, 3, 4, 5, 6]}
DERIVE = """summary = df.groupby("region", as_index=False)["sales"].sum()
print(summary.to_string())"""
LONG = """for i in range(200):
    print(f"row {i} of the long listing")"""
FOLLOW_UP = "Now double the best region's sales."
USES_STATE = 'print("double top:", summary["sales"].max() * 2)'


def _text(messages: list[dict]) -> str:
    return "\n".join(content_str(m.get("content")) for m in messages)


def test_share_fold_follow_up_and_pull(tmp_path):
    """share df -> summary in the agents' kernel; fold/unfold; follow-up keeps the chat and kernel; pull back."""
    replies = [code(DERIVE, before="Sales per region:"), code(LONG, before="And the full listing:"),
               "Summary done. TERMINATE",
               code(USES_STATE, before="Using the summary from before:"), "Doubled. TERMINATE"]
    df = pd.DataFrame(DATA)
    with (ScriptedModelServer(replies) as srv,
          JupyterServer(tmp_path, env={"OAI_CONFIG_LIST": json.dumps(srv.config_list())}) as lab):
        write_notebook(lab.root / "bridge.ipynb", [
            f"%load_ext agentnb\nimport pandas as pd\ndf = pd.DataFrame({DATA!r})",
            "%%agents --share df --approve never --max-turns 4 --out chat\nSummarise the sales per region in df.",
            "%agents pull summary",
            'again = await chat.pull("summary")\n'
            "print(type(summary).__name__, summary.shape, summary.equals(again))\n"
            'print(summary.to_dict("list"))',
            'await chat.close()\nprint("agents kernel closed")',
        ])
        OUTPUT.mkdir(exist_ok=True)
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            open_notebook(page, lab.url("bridge.ipynb"))
            run_cells(page, 2)
            chat_cell = page.locator(".jp-Cell").nth(1)
            static = chat_cell.locator(".agentnb-static")
            static.wait_for(timeout=180_000)

            # 1. the model was told what df is; its block ran on the shared copy, the panel shows the result
            assert srv.requests, static.inner_text()
            first = _text(srv.requests[0]["messages"])
            assert "Summarise the sales per region in df." in first
            assert "`df`: pandas.DataFrame, 6 rows × 3 columns" in first
            dtypes = ", ".join(f"{c}: {t}" for c, t in df.dtypes.items())
            assert f"dtypes: {dtypes}; first rows:" in first
            assert all(line in first for line in df.head(3).to_string().splitlines())
            page_text = static.inner_text()
            assert f"dtypes: {dtypes}; first rows:" in page_text  # shown to people as the model got it
            assert "✔ finished" in page_text
            assert all(f"{region}" in page_text for region in ("east", "north", "south"))
            assert "100" in page_text and "70" in page_text  # east 40+60, south 20+50
            static.scroll_into_view_if_needed()
            page.screenshot(path=str(OUTPUT / "bridge-shared.png"), full_page=True)

            # 3. 200 printed lines fold to one line; a click unfolds them, another folds them again
            fold = static.locator("details:has(> summary:has-text('more lines'))")
            assert fold.count() == 1
            summary_line = fold.locator("> summary")
            assert summary_line.inner_text().strip() == "row 0 of the long listing ▸ 199 more lines"
            last_row = fold.locator("> pre:has-text('row 199 of the long listing')")
            assert not last_row.is_visible()
            summary_line.click()
            last_row.wait_for(state="visible", timeout=10_000)
            last_row.scroll_into_view_if_needed()
            page.screenshot(path=str(OUTPUT / "bridge-unfolded.png"), full_page=True)
            summary_line.scroll_into_view_if_needed()
            summary_line.click()
            last_row.wait_for(state="hidden", timeout=10_000)
            page.screenshot(path=str(OUTPUT / "bridge-folded.png"), full_page=True)

            # 4. the follow-up box continues the same chat: history kept, summary still defined there
            asked = len(srv.requests)
            box = chat_cell.locator(".agentnb-toolbar input[placeholder^='follow-up']")
            box.wait_for(state="visible", timeout=30_000)
            box.fill(FOLLOW_UP)
            chat_cell.locator(".agentnb-toolbar button:has-text('Continue')").click()
            chat_cell.locator(".agentnb-static:has-text('double top: 200')").wait_for(timeout=180_000)
            follow = [r for r in srv.requests[asked:] if FOLLOW_UP in _text(r["messages"])]
            assert follow, "the follow-up never reached the model"
            history = _text(follow[0]["messages"])
            assert "`df`: pandas.DataFrame" in history and 'groupby("region"' in history
            assert history.index("Summarise the sales per region") < history.index(FOLLOW_UP)
            assert "double top: 200" in chat_cell.locator(".agentnb-static").inner_text()
            assert "NameError" not in chat_cell.locator(".agentnb-static").inner_text()
            chat_cell.scroll_into_view_if_needed()
            page.screenshot(path=str(OUTPUT / "bridge-follow-up.png"), full_page=True)

            # 2. pull the DataFrame back into the notebook, with the magic and with the handle
            page.locator(".jp-Cell").nth(2).locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            page.locator(".jp-Cell").nth(2).locator(
                ".jp-OutputArea-output:has-text('pulled summary from chat1')").wait_for(timeout=120_000)
            page.locator(".jp-Cell").nth(3).locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            shown = page.locator(".jp-Cell").nth(3).locator(".jp-OutputArea-output")
            shown.first.wait_for(timeout=120_000)
            text = shown.first.inner_text()
            assert "DataFrame (3, 2) True" in text
            assert "{'region': ['east', 'north', 'south'], 'sales': [100, 40, 70]}" in text
            page.locator(".jp-Cell").nth(3).scroll_into_view_if_needed()
            page.screenshot(path=str(OUTPUT / "bridge-pulled.png"), full_page=True)

            page.locator(".jp-Cell").nth(4).locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            page.locator(".jp-Cell").nth(4).locator(
                ".jp-OutputArea-output:has-text('agents kernel closed')").wait_for(timeout=60_000)

"""Copy / Insert below / Edit in place in a real browser: JupyterLab 4 and Notebook 7 with agentnb's extension.

The kernel sends code blocks without buttons; the extension adds Copy / Insert below to a block when the
keyboard focuses it or the pointer enters it. A ``%%agents`` chat against the scripted model proposes a
block that holds a zero-width space and an escape; the test reaches it by keyboard (Shift+Tab from
Approve) and copies it with Enter, edits it in place and cancels, inserts it below the chat's cell (from
the live panel, and by hovering the static page the finished chat becomes), saves, and reads the saved
notebook: the new cells sit right under the chat's cell and hold the visible marks, never the raw
characters. The extension is served from this checkout's ``agentnb/labextension`` (``JUPYTER_PATH``),
so the test checks the committed build, installed or not. Screenshots go to ``test-output/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
from support.browser import (
    LABEXTENSION,
    OUTPUT,
    JupyterServer,
    chromium,
    needs_browser,
    needs_labextension,
    open_notebook,
    run_cells,
    write_notebook,
)

from agentnb.testing import ScriptedModelServer, code
from agentnb.textguard import visible

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_browser, needs_labextension]

CODE = 'label = "total\u200b"\nprint(label, "\x1b[1m", sum(range(10)))'
SHOWN = visible(CODE)
VERSION = json.loads((LABEXTENSION / "package.json").read_text(encoding="utf-8"))["version"]
ACTIONS = ".agentnb-snippet-actions"


def _visible_copies(page) -> int:
    """How many copies of the block a person sees: shown ``<pre>`` blocks plus a shown editor holding it."""
    pres = page.locator(".agentnb-panel pre.agentnb-code:visible").evaluate_all(
        "(els, code) => els.filter(e => e.textContent.includes(code)).length", "label = ")
    editors = page.locator(".agentnb-panel textarea:visible").evaluate_all(
        "(els, code) => els.filter(e => e.value.includes(code)).length", "label = ")
    return pres + editors


def _shift_tab_to(page, selector: str, tries: int = 8) -> None:
    """Shift+Tab, as a keyboard user does, until the focused element matches ``selector``."""
    for _ in range(tries):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"Shift+Tab never reached {selector}")


def _saved_sources(page, root: Path, name: str) -> list[str]:
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while True:
        cells = nbformat.read(root / name, as_version=4).cells
        if len(cells) >= 5 or time.monotonic() > deadline:
            return [c.source for c in cells]
        time.sleep(0.3)


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_copy_edit_in_place_and_insert_below(tmp_path, app):
    replies = [code(CODE, before="This prints the label and the sum:"), "Done. TERMINATE", "TERMINATE"]
    with (ScriptedModelServer(replies) as srv,
          JupyterServer(tmp_path, app, env={"OAI_CONFIG_LIST": json.dumps(srv.config_list())},
                        labextension=True) as server):
        root = server.root
        write_notebook(root / "bridge.ipynb", [
            "%load_ext agentnb",
            "%%agents --max-turns 2\nPrint the label and the sum of 0..9.",
            "print('after the chat')",
        ])
        OUTPUT.mkdir(exist_ok=True)
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 1280, "height": 1000},
                                          permissions=["clipboard-read", "clipboard-write"])
            page = context.new_page()
            open_notebook(page, server.url("bridge.ipynb"), ready=".jp-Notebook .jp-Cell", idle=False)
            assert page.evaluate("document.body.dataset.agentnbFrontend") == VERSION  # this build is served
            run_cells(page, 2)
            chat = page.locator(".jp-Cell").nth(1)
            approve = chat.locator(".agentnb-panel button:has-text('Approve')")
            approve.wait_for(timeout=120_000)
            block = chat.locator(".agentnb-card .agentnb-snippet").first
            assert _visible_copies(page) == 1

            # Keyboard: from Approve, Shift+Tab reaches the block, which then gets its buttons; Tab, Enter copies.
            # The clipboard holds the code as shown (the marks, not the raw characters).
            page.mouse.move(1, 1)
            assert block.locator(ACTIONS).count() == 0  # nothing until a person comes to the block
            approve.focus()
            _shift_tab_to(page, ".agentnb-card .agentnb-snippet")
            assert block.evaluate("e => e === document.activeElement")
            block.locator(ACTIONS).wait_for(timeout=10_000)
            page.keyboard.press("Tab")
            copy_button = block.locator("button[data-agentnb-action='copy']")
            assert copy_button.evaluate("e => e === document.activeElement") and copy_button.is_visible()
            page.screenshot(path=str(OUTPUT / f"code-actions-{app}-keyboard.png"), full_page=True)
            page.keyboard.press("Enter")
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

            # Approve; on the finished chat's static page, hovering a block gives it its buttons, and they work
            approve.click()
            page.mouse.move(1, 1)
            static = chat.locator(".agentnb-static")
            static.wait_for(timeout=120_000)
            assert static.locator(".agentnb-snippet").count() >= 1 and static.locator(ACTIONS).count() == 0
            static.locator(".agentnb-snippet").first.hover()
            assert static.locator(ACTIONS).count() == 1
            static.locator("button[data-agentnb-action='insert-below']").first.click()
            static.locator("button:has-text('Inserted')").wait_for(timeout=10_000)
            assert page.locator(".jp-Cell").count() == 5
            sources = _saved_sources(page, root, "bridge.ipynb")
            assert sources[1].startswith("%%agents") and sources[2] == SHOWN and sources[3] == SHOWN
            assert sources[4] == "print('after the chat')"
            raw = (root / "bridge.ipynb").read_text(encoding="utf-8")
            assert "\u200b" not in raw and "\\u200b" not in raw and "\\u001b" not in raw
            page.screenshot(path=str(OUTPUT / f"code-actions-{app}-static.png"), full_page=True)

            # Without the extension (a bare page: VS Code, nbviewer) the saved page shows code and no buttons
            bare = context.new_page()
            saved = nbformat.read(root / "bridge.ipynb", as_version=4).cells[1].outputs
            (html,) = [o.data["text/html"] for o in saved if "agentnb-static" in o.get("data", {}).get("text/html", "")]
            bare.set_content(html)  # the page as the kernel wrote it
            bare.locator(".agentnb-snippet pre").first.hover()
            bare.keyboard.press("Tab")
            assert bare.locator(".agentnb-snippet pre").first.is_visible()
            assert bare.locator(".agentnb-snippet").count() >= 1 and bare.locator("button").count() == 0
            bare.close()


FAKE = ('<div class="agentnb-snippet"><button class="agentnb-snippet-action agentnb-action-insert-below" '
        'data-agentnb-action="insert-below">Insert below</button><pre class="agentnb-code"><code>'
        'print("seen")<span style="display:none">; import os; os.remove("x")</span></code></pre></div>'
        '<div class="agentnb-snippet"><pre class="agentnb-code"><code>print("bare")'
        '<span style="display:none">; import os; os.remove("y")</span></code></pre></div>')
"""An agent's ``text/html`` output imitating agentnb's blocks: one with its own button, one bare."""


def test_untrusted_saved_page_and_foreign_html(tmp_path):
    """A notebook received from elsewhere (untrusted: JupyterLab's sanitizer drops ``data-*`` and ``tabindex``)
    still gets buttons on agentnb's blocks, by keyboard and by pointer, and inserts from them; look-alike blocks
    inside an agent's ``text/html`` output get no buttons, no tab stop, and insert nothing."""
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
    page_html = transcript_html(events, state="finished")
    assert page_html.count('class="agentnb-snippet"') == 1  # agentnb strips the agent's look-alikes itself...
    # ...so the page below is crafted (by hand, or by an older agentnb): the look-alikes reach the browser,
    # and the extension must still ignore them inside an agent's output region.
    crafted = page_html + f'<div class="agentnb-html">{FAKE}</div>'
    chat = nbformat.v4.new_code_cell("%%agents\nPrint the label.")
    chat.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": crafted, "text/plain": "agentnb chat"})]
    with JupyterServer(tmp_path, labextension=True) as server, chromium() as browser:
        root = server.root
        write_notebook(root / "received.ipynb", ["x = 1", chat])  # unsigned: its outputs are untrusted
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.goto(server.url("received.ipynb"))
        page.wait_for_selector(".jp-Notebook .agentnb-static", timeout=120_000)
        ours = page.locator(".agentnb-card .agentnb-snippet")
        fakes = page.locator(".agentnb-html .agentnb-snippet")
        assert ours.get_attribute("data-agentnb-key") is None and fakes.count() == 2  # sanitized, classes kept
        assert ours.locator(ACTIONS).count() == 0

        # Keyboard: focus in the chat's cell makes agentnb's block a tab stop (not the look-alikes)
        page.locator(".jp-Cell").nth(1).focus()
        page.keyboard.press("Tab")
        assert ours.get_attribute("tabindex") == "0"
        assert fakes.evaluate_all("els => els.filter(e => e.hasAttribute('tabindex')).length") == 0
        ours.focus()
        ours.locator(ACTIONS).wait_for(timeout=10_000)

        # Look-alikes: hovering gives them nothing, their own button inserts nothing
        for i in range(2):
            fakes.nth(i).hover()
        page.wait_for_timeout(300)
        assert fakes.locator(ACTIONS).count() == 0
        fake = page.locator(".agentnb-html .agentnb-snippet-action")
        fake.click()
        page.wait_for_timeout(500)
        assert page.locator(".jp-Cell").count() == 2 and fake.inner_text() == "Insert below"
        ours.hover()
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

"""The code-block markup the extension gives Copy / Insert below, and Edit in place on the approval card (no browser).

The kernel sends each block as ``<div class="agentnb-snippet" data-agentnb-key=…>`` around its ``<pre>``, and no
buttons: the extension adds them in the browser (tests/test_browser_code_actions.py).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from agentnb.messages import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalRequested,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ExecutionFinished,
    MessageSent,
)
from agentnb.notebook.cards import message_html
from agentnb.notebook.code_actions import block_key, hide_while_editing, with_actions
from agentnb.notebook.controls import ApprovalCard
from agentnb.notebook.html import CSS, highlight_code
from agentnb.notebook.static import transcript_html
from agentnb.textguard import has_hidden, visible


class _Snippets(HTMLParser):
    """Every element's tag, and per ``.agentnb-snippet``: its key, its direct children, buttons and ``<pre>`` text.

    The extension finds a block by its class and reads ``.agentnb-snippet > pre.agentnb-code > code``.
    """

    VOID = {"br", "img", "input", "hr", "meta", "link", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.snippets: list[dict] = []
        self._stack: list[str] = []
        self._open: int | None = None  # stack depth of the open snippet
        self._pre = 0  # inside the open snippet's <pre> while > 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if self._open is not None:
            snippet = self.snippets[-1]
            if len(self._stack) == self._open:
                snippet["children"].append(f"{tag}.{a.get('class') or ''}")
            if len(self._stack) == self._open + 1 and tag == "code" and self._stack[-1] == "pre":
                snippet["children"][-1] += " > code"
            if tag == "button":
                snippet["buttons"] += 1
            if tag == "pre":
                self._pre += 1
        elif "agentnb-snippet" in (a.get("class") or "").split():
            self.snippets.append({"key": a.get("data-agentnb-key"), "attrs": a, "children": [], "buttons": 0,
                                  "text": ""})
            self._open = len(self._stack) + 1
        if tag not in self.VOID:
            self._stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID or tag not in self._stack:
            return
        while self._stack and self._stack.pop() != tag:
            pass
        if tag == "pre" and self._pre:
            self._pre -= 1
        if self._open is not None and len(self._stack) < self._open:
            self._open = None

    def handle_data(self, data):
        if self._pre and self._open is not None:
            self.snippets[-1]["text"] += data


def snippets(html: str) -> _Snippets:
    parser = _Snippets()
    parser.feed(html)
    return parser


def test_code_that_closes_the_pre_stays_inert_text():
    code = 'x = "</code></pre><script>alert(1)</script><img src=x onerror=alert(2)>"\nprint(x)'
    html = highlight_code(code, "python", actions=True)
    parsed = snippets(html)
    assert "script" not in parsed.tags and "img" not in parsed.tags and "button" not in parsed.tags
    (snippet,) = parsed.snippets
    assert snippet["children"] == ["pre.agentnb-code > code"]  # what the extension reads, and nothing else
    assert snippet["text"].rstrip("\n") == code  # the buttons act on exactly this text
    assert snippet["key"] == block_key(code)


def test_what_the_buttons_take_is_what_the_person_sees():
    """Hidden characters reach the clipboard / a new cell only as their visible marks."""
    code = 'label = "total\u200b"  # \u202eevil\nprint("\x1b[2Jdone")'
    parsed = snippets(message_html("assistant", "user_proxy", {"content": f"Run:\n```python\n{code}\n```"}))
    (snippet,) = parsed.snippets
    text = snippet["text"].rstrip("\n")
    assert text == visible(code) and not has_hidden(text)
    assert "⟨U+200B⟩" in text and "⟨U+202E⟩" in text and "␛[2J" in text


def test_every_fenced_block_gets_buttons_but_tool_arguments_do_not():
    message = {"content": "One:\n```python\na = 1\n```\nTwo:\n```sh\nls\n```",
               "tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}]}
    parsed = snippets(message_html("assistant", None, message))
    assert [s["text"].rstrip("\n") for s in parsed.snippets] == ["a = 1", "ls"]


def test_the_kernel_sends_only_a_small_wrapper_and_no_buttons():
    """500 messages stay small, and a front end without the extension has no button to show (nothing to hide)."""
    code = "import numpy as np\nprint(np.arange(3))"
    pre = highlight_code(code, "python")
    block = with_actions(pre, code)
    assert block.endswith(pre + "</div>") and len(block) - len(pre) <= 80  # the buttons were ~470
    assert snippets(block).snippets[0]["attrs"] == {"class": "agentnb-snippet", "data-agentnb-key": block_key(code)}
    page = message_html("assistant", "user_proxy", {"content": f"```python\n{code}\n```"})
    assert "button" not in snippets(page).tags and "agentnb-snippet-action" not in page
    assert "data-agentnb-frontend" not in CSS  # no rule hides buttons that no longer exist


def test_edit_hides_the_message_block_it_edits_and_cancel_restores():
    code = "print('hi')"
    shown = snippets(message_html("assistant", "user_proxy", {"content": f"```python\n{code}\n```"})).snippets[0]
    card = ApprovalCard(ApprovalRequest(kind="code", agent="user_proxy", code=code), show_code=False)
    head = card.children[0].value
    assert hide_while_editing(code) in head and f'data-agentnb-key="{shown["key"]}"' in head
    assert re.search(r"\.widget-html:has\(\+ \.agentnb-editing\)", head)
    assert "agentnb-editing" not in card._dom_classes and card.editor.layout.display == "none"

    card.edit_button.click()
    assert "agentnb-editing" in card._dom_classes
    assert card.editor.layout.display is None and card.edit_row.layout.display is None
    assert card.button_row.layout.display == "none"  # no Approve of the unedited code while editing
    card.editor.value = "print('changed')"
    card.cancel_edit_button.click()
    assert "agentnb-editing" not in card._dom_classes and card.decision is None
    assert card.editor.layout.display == "none" and card.button_row.layout.display is None
    assert card.editor.value == code  # Cancel drops the edits

    card.edit_button.click()
    card.editor.value = "print('edited')"
    card.run_edited_button.click()
    assert card.decision is not None and card.decision.code == "print('edited')"
    assert "agentnb-editing" not in card._dom_classes
    (ran,) = snippets(card.status.value).snippets
    assert ran["text"].rstrip("\n") == "print('edited')" and ran["key"] == block_key("print('edited')")


def test_a_card_showing_its_own_code_hides_it_while_editing():
    card = ApprovalCard(ApprovalRequest(kind="code", agent="user_proxy", code="x = 1"), show_code=True)
    head = card.children[0].value
    (own,) = snippets(head).snippets
    assert f'.agentnb-editing .agentnb-snippet[data-agentnb-key="{own["key"]}"]' in head


def test_the_static_page_keeps_proposed_and_edited_code_as_blocks():
    code, edited = "print(1)", "print(2)"
    request = ApprovalRequest(kind="code", agent="user_proxy", code=code)
    events = [
        ChatStarted(sender="user_proxy", recipient="assistant", agents=["user_proxy", "assistant"]),
        MessageSent(sender="assistant", recipient="user_proxy", message={"content": f"```python\n{code}\n```"}),
        CodeBlockProposed(executor="user_proxy", block_id="b1", language="python", code=code, needs_approval=True),
        ApprovalRequested(request=request),
        ApprovalDecided(request=request, decision=ApprovalDecision(approved=True, code=edited)),
        ExecutionFinished(executor="user_proxy", block_id="b1", language="python", code=edited, exit_code=0,
                          summary="", outputs=[]),
        ChatFinished(reason="terminated"),
    ]
    page = snippets(transcript_html(events, state="finished"))
    assert [s["text"].rstrip("\n") for s in page.snippets] == [code, edited]
    assert [s["key"] for s in page.snippets] == [block_key(code), block_key(edited)]
    assert all(s["children"] == ["pre.agentnb-code > code"] and not s["buttons"] for s in page.snippets)

"""Attack: model text that hides what really runs from the person approving it.

Terminal escapes (``ESC[2K ESC[1G`` erases the line that runs), carriage returns, bidi
overrides (U+202E reorders a line) and zero-width characters. Every place a person reads code
or model text for a decision must show them, never obey them; the code that runs stays the
model's, byte for byte.
"""

from __future__ import annotations

import asyncio
import io
import sys

import pytest

import agentnb as autogen
from agentnb.agents.human import ask_human, human_handlers
from agentnb.console import ConsoleView
from agentnb.messages import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalRequested,
    HumanInputRequested,
    MessageSent,
    ToolCallProposed,
)
from agentnb.testing import ScriptedModelServer, code
from agentnb.textguard import has_hidden, hidden_characters, visible

ESC = "\x1b"
HIDDEN = ["\x1b", "\r", "\x08", "\x07", "\x00", "\x7f", "\x9b", "\u202e", "\u2066", "\u2069", "\u200b",
          "\u200d", "\u2060", "\ufeff", "\u00ad", "\U000e0041", "\ufe0f"]
"""Characters that hide, move or reorder text: none may reach a person's screen as itself."""

# A comment whose escapes erase the real line on a terminal and print a harmless one instead.
ERASER = "doomed = 'rm -rf ~/important'  # \x1b[2K\x1b[1Gprint('hello')"
# Bidi: what the eye reads differs from what Python parses.
BIDI = "access = 'user\u202e \u2066# admin\u2069 \u2066'\nprint(access)"
ZERO_WIDTH = "user = 'admin'\nif user == 'admin\u200b':  # looks true, is false\n    grant()"


def _raw_hidden(text: str) -> list[str]:
    return [ch for ch in HIDDEN if ch in text]


# ------------------------------------------------------------------ the one function


@pytest.mark.parametrize("ch", HIDDEN)
def test_visible_shows_every_hiding_character(ch):
    shown = visible(f"a{ch}b")
    assert ch not in shown and shown.startswith("a") and shown.endswith("b") and len(shown) > 2
    assert has_hidden(f"a{ch}b")


def test_every_control_format_private_or_separator_character_is_caught():
    """Against this Python's Unicode tables: no Cc/Cf/Co/Cs/Zl/Zp code point slips through."""
    import unicodedata

    missed = [hex(cp) for cp in range(0x110000)
              if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp")
              and chr(cp) not in "\n\t" and (not has_hidden(chr(cp)) or chr(cp) in visible(chr(cp)))]
    assert missed == []


def test_visible_keeps_ordinary_text_and_layout():
    text = "def f(x):\n\treturn 'héllo 中文 😀' + x\n"
    assert visible(text) == text and not has_hidden(text)
    assert not has_hidden("line one\r\nline two\r\n")  # Windows line ends are not an attack ...
    assert "\r" not in visible("a\r\nb")  # ... but still shown, never sent to a terminal
    assert visible(visible(ERASER)) == visible(ERASER)  # idempotent: escaping twice changes nothing
    assert len(hidden_characters(BIDI)) == 3


# ------------------------------------------------------------------ console approval prompt


def _approving_pair(server, work_dir=None):
    """An assistant on ``server`` and a user proxy that runs its blocks locally under approval "always"."""
    config = {"executor": "commandline-local", "approval": "always"}
    if work_dir is not None:
        config["work_dir"] = str(work_dir)
    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
    user = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=1,
                                  code_execution_config=config)
    return assistant, user


class _Terminal(io.StringIO):
    """A stdin a person types into (answers given up front)."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("source", [ERASER, BIDI, ZERO_WIDTH], ids=["escapes", "bidi", "zero-width"])
def test_console_approval_prompt_shows_hidden_characters_and_runs_exact_code(source, tmp_path, monkeypatch,
                                                                            capsys):
    """The default console approver prints escaped code plus a warning; the approved code runs unchanged."""
    marker = tmp_path / "ran.txt"
    # The block writes its own first line to a file: proof of exactly what ran.
    block = f"{source}\nopen({str(marker)!r}, 'w', encoding='utf-8').write({source!r})"
    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    with ScriptedModelServer([code(block), "TERMINATE"]) as server:
        assistant, user = _approving_pair(server, tmp_path)
        user.initiate_chat(assistant, message="go", silent=True)
    out = capsys.readouterr().out
    assert _raw_hidden(out) == [], "a hidden character reached the terminal"
    assert visible(block) in out, "the person was not shown the code as it runs"
    assert "hidden characters" in out  # the warning line
    assert marker.read_text(encoding="utf-8") == source  # what ran is the model's code, byte for byte


def test_console_view_never_sends_escapes_to_the_terminal():
    stream = io.StringIO()
    view = ConsoleView(stream=stream, color=False)
    view.handle_event(MessageSent(sender="assistant", recipient="user_proxy",
                                  message={"content": f"```python\n{ERASER}\n```\n{BIDI}", "role": "assistant",
                                           "tool_calls": [{"id": "c1", "function": {
                                               "name": "f", "arguments": '{"x": "\u202eevil\x1b[8m"}'}}]}))
    view.handle_event(ToolCallProposed(executor="user_proxy", call_id="c1", name="f",
                                       arguments='{"x": "\x1b]0;title\x07"}'))
    out = stream.getvalue()
    assert _raw_hidden(out) == []
    assert visible(ERASER) in out and visible(BIDI) in out and "hidden characters" in out


def test_console_view_colours_are_its_own_only():
    stream = io.StringIO()
    ConsoleView(stream=stream, color=True).handle_event(
        MessageSent(sender="a\x1b[31m", recipient="b", message={"content": ERASER}))
    out = stream.getvalue()
    # every ESC left is one of the view's own colour codes (ESC[3xm / ESC[0m), none from the message
    assert out.count(ESC) == out.count(ESC + "[33m") + out.count(ESC + "[31m") + out.count(ESC + "[0m")
    assert visible(ERASER) in out and "a␛[31m" in out


def test_input_prompt_is_shown_escaped(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("my reply\n"))
    reply = asyncio.run(ask_human("user_proxy", "Reply to bob\x1b[2K\x1b[1G\u202e: "))
    out = capsys.readouterr().out
    assert reply == "my reply"
    assert _raw_hidden(out) == [] and "Reply to bob␛[2K␛[1G⟨U+202E⟩: " in out


# ------------------------------------------------------------------ notebook views


def test_approval_card_shows_hidden_characters_and_warns():
    from agentnb.notebook.controls import ApprovalCard

    for source in (ERASER, BIDI, ZERO_WIDTH):
        card = ApprovalCard(ApprovalRequest(kind="code", agent="user_proxy", code=source))
        html = card.children[0].value
        assert _raw_hidden(html) == []
        assert "hidden characters" in html
        # the editor holds what the person sees: editing and running it runs what was read
        assert _raw_hidden(card.editor.value) == [] and card.editor.value == visible(source)
    plain = ApprovalCard(ApprovalRequest(kind="code", agent="user_proxy", code="print(1)\n"))
    assert "hidden characters" not in plain.children[0].value and plain.editor.value == "print(1)\n"
    tool = ApprovalCard(ApprovalRequest(kind="tool", agent="u", tool_name="rm\u202e", code='rm(path="/\u200b")'))
    assert _raw_hidden(tool.children[0].value) == []


def test_message_cards_reply_prompt_and_notes_are_escaped():
    from agentnb.notebook.cards import message_html
    from agentnb.notebook.controls import ReplyBox
    from agentnb.notebook.panel import ChatPanel

    html = message_html("assistant\u202e", "user", {"content": f"See:\n```python\n{ERASER}\n```\n{BIDI}",
                                                   "tool_calls": [{"function": {"name": "f\u200b",
                                                                                "arguments": "{\"a\": \"\x1b\"}"}}]})
    assert _raw_hidden(html) == [] and "hidden characters" in html
    box = ReplyBox()
    box.open_prompt("Provide feedback to bob\x1b[2K\u202e")
    assert _raw_hidden(box.prompt.value) == []
    panel = ChatPanel()
    panel.handle_event(ToolCallProposed(executor="u", call_id="c", name="f", arguments='{"x": "\u202e\x1b"}'))
    panel.handle_event(ApprovalRequested(request=ApprovalRequest(kind="code", agent="u", code=ERASER)))
    for item in panel.items:
        values = [item.value] if hasattr(item, "value") else [c.value for c in item.children
                                                              if isinstance(getattr(c, "value", None), str)]
        for value in values:
            assert _raw_hidden(value) == []


def test_plain_renderer_shows_escaped_text(monkeypatch):
    from agentnb.notebook import render

    shown: list[dict] = []
    monkeypatch.setattr(render, "display", lambda bundle, **kw: shown.append(bundle))
    renderer = render.PlainRenderer()
    renderer.handle_event(MessageSent(sender="assistant", recipient="user", message={"content": BIDI}))
    renderer.handle_event(ApprovalRequested(request=ApprovalRequest(kind="code", agent="u", code=ERASER)))
    renderer.handle_event(HumanInputRequested(agent="u", prompt="answer\x1b[2K"))
    renderer.handle_event(ToolCallProposed(executor="u", call_id="c", name="f", arguments="\u202e"))
    assert len(shown) == 4
    for bundle in shown:
        for text in bundle.values():
            assert _raw_hidden(text) == []
    approval = shown[1]
    assert visible(ERASER) in approval["text/plain"] and "hidden characters" in approval["text/html"]


def test_the_panel_approval_runs_the_models_exact_code(tmp_path):
    """Approve clicked on a card showing escaped code: the model's own bytes run, not the stand-ins."""
    from agentnb.notebook.panel import ChatPanel

    marker = tmp_path / "ran.txt"
    source = "x = 'a\u202eb\x1b[2K'"
    block = f"{source}\nopen({str(marker)!r}, 'w', encoding='utf-8').write(x)"

    async def main():
        with ScriptedModelServer([code(block), "TERMINATE"]) as server:
            assistant, user = _approving_pair(server, tmp_path)
            panel = ChatPanel()
            with panel.attached():
                chat = asyncio.ensure_future(user.a_initiate_chat(assistant, message="go", silent=True))
                while not chat.done():
                    cards = [c for c in panel.items if hasattr(c, "approve_button") and c.decision is None]
                    for card in cards:
                        assert _raw_hidden(card.children[0].value) == []
                        card.approve_button.click()
                    await asyncio.sleep(0.01)
                await chat

    asyncio.run(main())
    assert marker.read_text(encoding="utf-8") == "a\u202eb\x1b[2K"


def test_an_approver_sees_the_real_code_not_the_display_form():
    """The request handed to approvers carries the model's code; only views escape it."""
    seen = []
    with ScriptedModelServer([code("print('\u202e')"), "TERMINATE"]) as server:
        assistant, user = _approving_pair(server)
        with human_handlers(approver=lambda r: seen.append(r.code) or ApprovalDecision(approved=False)):
            user.initiate_chat(assistant, message="go", silent=True)
    assert len(seen) == 1 and "print('\u202e')" in seen[0]

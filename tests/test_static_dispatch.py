"""The static page (``transcript_html``, ``transcript_text``) takes every event type, and shows what it should.

Both ``match`` on :data:`agentnb.messages.AnyEvent` (plus the page's own compact ``Said``) and end with
``assert_never``, so mypy rejects a page that misses a member; here each one is fed every member, for real.
"""

from __future__ import annotations

import pytest
from test_event_views import MEMBERS, sample

from agentnb.messages import (
    ApprovalDecided,
    ChatStarted,
    CodeBlockProposed,
    ErrorOccurred,
    Event,
    ExecutionFinished,
    MessageSent,
    ToolCallFinished,
)
from agentnb.notebook.static import Said, transcript_html, transcript_text

ids = {"ids": lambda c: c.__name__}

SHOWN = {MessageSent: "hello", CodeBlockProposed: '<div class="agentnb-block">',
         ExecutionFinished: '<div class="agentnb-block">', ToolCallFinished: "x returned",
         ApprovalDecided: "✘ rejected", ErrorOccurred: "✘ x: x"}
"""What the page shows of each event on its own (the sample ApprovalDecided is a rejection, its ErrorOccurred
not fatal); the others show nothing by themselves: a chat's start and end head the page, streamed outputs
and approvals belong to a block, tokens to the message they make up."""
LINES = {MessageSent: "x: hello", ExecutionFinished: "  [x block ran: ✔]"}
"""The lines of the text form (after its title line)."""


class Custom(Event):
    """An event agentnb does not define."""


def body(events: list) -> str:
    """The page's conversation, without its CSS and status line."""
    return transcript_html(events).split('<div class="agentnb-status"></div>', 1)[1].removesuffix("</div>")


@pytest.mark.parametrize("cls", MEMBERS, **ids)
def test_the_page_shows_each_event_as_it_should(cls):
    ev = sample(cls)
    shown = body([ChatStarted(sender="user_proxy", recipient="assistant"), ev])
    if cls in SHOWN:
        assert SHOWN[cls] in shown
    else:
        assert shown == ""


@pytest.mark.parametrize("cls", MEMBERS, **ids)
def test_the_text_form_has_who_said_what_and_which_blocks_ran(cls):
    lines = transcript_text([ChatStarted(sender="user_proxy", recipient="assistant"), sample(cls)]).split("\n")
    assert lines[1:] == ([LINES[cls]] if cls in LINES else [])


def test_said_is_shown_as_its_message_and_other_events_are_left_out():
    said = Said("x", "x", {"role": "user", "content": "hello"})
    assert body([said]) == body([sample(MessageSent)]) and "hello" in body([said])
    assert transcript_text([said]) == transcript_text([sample(MessageSent)])
    assert body([Custom()]) == "" and transcript_text([Custom()]).count("\n") == 0


def test_a_report_after_a_block_folds_under_it_in_both_forms():
    events = [CodeBlockProposed(executor="u", block_id="b", language="python", code="1"),
              ExecutionFinished(executor="u", block_id="b", language="python", code="1", exit_code=0, summary=""),
              Said("u", "a", {"content": "exitcode: 0 (execution succeeded)"})]
    page = body(events)
    assert "what the model saw" in page and "exitcode: 0" in page and "agentnb-card" not in page
    assert "u: exitcode" not in transcript_text(events)

"""Every event type reaches every view: the event union is complete and each view handles each member.

The views (ChatPanel, PlainRenderer, ConsoleView) ``match`` on :data:`agentnb.messages.AnyEvent` and end
with ``assert_never``: mypy (``./dev lint``) rejects a view that misses a member, and at run time a missed
member raises ``AssertionError`` here instead of being silently not shown.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import typing
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

import agentnb.messages as messages
from agentnb.console import ConsoleView
from agentnb.messages import (
    AnyEvent,
    ApprovalDecision,
    ApprovalRequest,
    ChatFinished,
    ChatStarted,
    Event,
    MessageSent,
    UsageUpdated,
)
from agentnb.notebook.panel import ChatPanel
from agentnb.notebook.render import PlainRenderer

MEMBERS = typing.get_args(AnyEvent)
PACKAGE = Path(messages.__file__).parent
SAMPLES: dict[str, typing.Any] = {
    "str": "x",
    "str | None": None,
    "int": 0,
    "float": 0.0,
    "bool": False,
    "Message": {"role": "user", "content": "hello"},
    "dict[str, Any]": {},
    "ApprovalRequest": ApprovalRequest(kind="code", agent="user_proxy", code="print(1)"),
    "ApprovalDecision": ApprovalDecision(approved=False, reason="not now"),
}


def sample(cls: type[Event]) -> Event:
    """An instance of ``cls`` with every required field filled by its annotated type."""
    required = {f.name: SAMPLES[str(f.type)] for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    return cls(**required)


def event_classes_in_source() -> dict[str, str]:
    """Every class in agentnb's source whose bases name ``Event`` or an event (module not imported)."""
    names = {"Event", *(m.__name__ for m in MEMBERS)}
    found = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(ast.unparse(b).split(".")[-1] in names for b in node.bases):
                found[node.name] = str(path.relative_to(PACKAGE))
    return found


def test_the_union_holds_every_event_type():
    defined = {obj for obj in vars(messages).values()
               if isinstance(obj, type) and issubclass(obj, Event) and obj is not Event}
    assert set(MEMBERS) == defined
    # no view-invisible event defined elsewhere in agentnb
    assert event_classes_in_source() == {m.__name__: "messages.py" for m in MEMBERS}


def views():
    return [ChatPanel(), PlainRenderer(), ConsoleView(stream=io.StringIO(), color=False)]


@pytest.mark.parametrize("cls", MEMBERS, ids=lambda c: c.__name__)
def test_every_view_handles_every_event(cls, capsys):
    event = sample(cls)
    for view in views():
        view.handle_event(ChatStarted(sender="user_proxy", recipient="assistant"))
        view.handle_event(event)  # a member a view's match misses raises AssertionError (assert_never)


def test_an_event_outside_the_union_is_ignored_not_an_error():
    class Custom(Event):
        pass

    for view in views():
        view.handle_event(Custom())


def test_usage_adds_up_the_same_in_the_panel_and_the_plain_output():
    calls = [UsageUpdated(agent="assistant", model="m", prompt_tokens=100, completion_tokens=20, cost=0.5),
             UsageUpdated(agent="critic", model="m", prompt_tokens=1000, completion_tokens=3, cost=0.25)]
    panel, plain = ChatPanel(), PlainRenderer()
    for view in (panel, plain):
        view.handle_event(ChatStarted(sender="u", recipient="a"))
        view.handle_event(MessageSent(sender="u", recipient="a", message={"role": "user", "content": "hi"}))
        for call in calls:
            view.handle_event(call)
    assert (panel.usage.tokens, panel.usage.cost) == (plain.usage.tokens, plain.usage.cost) == (1123, 0.75)
    assert "1,123 tokens" in panel.status.value and "$0.7500" in panel.status.value
    with capture_output() as shown:  # printed, or published when an IPython shell exists
        plain.handle_event(ChatFinished(reason="terminated"))
    text = shown.stdout + "".join(o.data.get("text/plain", "") for o in shown.outputs)
    assert "chat finished: terminated (1,123 tokens, $0.7500)" in text

"""The running chat's scope and the event stream: the caller owns the view, the core never picks one."""

from __future__ import annotations

import asyncio
import contextlib
import io

import pytest
from support.agents import pair

from agentnb._compose import default_view, install_defaults
from agentnb.agents import scope
from agentnb.agents.result import ChatResult
from agentnb.console import ConsoleView
from agentnb.errors import ModelUnavailableError
from agentnb.messages import ChatFinished, ChatStarted, Event, MessageSent, subscribe
from agentnb.testing import Fault


def test_a_run_stream_yields_the_chats_events_then_its_result(model_server, capsys):
    model_server.add("first", "done TERMINATE")
    assistant, user = pair(model_server)

    async def collect():
        return [item async for item in user.a_run_stream(assistant, message="go")]

    items = asyncio.run(collect())
    *events, result = items
    assert isinstance(result, ChatResult) and result.summary == "done"
    assert all(isinstance(e, Event) for e in events)
    assert isinstance(events[0], ChatStarted) and isinstance(events[-1], ChatFinished)
    assert [e.sender for e in events if isinstance(e, MessageSent)] == [m["name"] for m in result.chat_history]
    assert events == result.events  # the same stream the recorder saw, in the same order
    assert capsys.readouterr().out == ""  # the caller owns the view: nothing printed by a default one


def test_a_run_stream_raises_the_chats_error_after_its_events(model_server):
    model_server.add(Fault.status(500, times=3, retry_after=0.01))
    assistant, user = pair(model_server)
    seen: list[Event] = []

    async def collect():
        async for item in user.a_run_stream(assistant, message="go"):
            seen.append(item)

    with pytest.raises(ModelUnavailableError):
        asyncio.run(collect())
    assert isinstance(seen[-1], ChatFinished) and seen[-1].reason == "error"


def test_closing_the_stream_early_stops_the_chat(model_server):
    model_server.add("one", "two", "three TERMINATE")
    assistant, user = pair(model_server)

    async def first_message():
        stream = user.a_run_stream(assistant, message="go")
        async for item in stream:
            if isinstance(item, MessageSent):
                await stream.aclose()
                return item

    assert asyncio.run(first_message()).sender == "user"
    assert len(model_server.requests) <= 1


def test_the_view_factory_comes_from_the_scope(model_server):
    model_server.add("hi TERMINATE", "again TERMINATE")
    assistant, user = pair(model_server)
    shown: list[tuple[bool, type]] = []

    @contextlib.contextmanager
    def recording_view(sync):
        with subscribe(lambda e: shown.append((sync, type(e)))):
            yield

    previous = scope.set_view_factory(recording_view)
    try:
        user.initiate_chat(assistant, message="go")
        assert shown and shown[0] == (True, ChatStarted) and shown[-1][1] is ChatFinished  # sync: the bridge
        shown.clear()
        user.initiate_chat(assistant, message="go", silent=True)
        assert shown == []  # silent=True: no view, as before
    finally:
        scope.set_view_factory(previous)


def test_the_composition_root_shows_non_silent_chats_on_the_console_outside_a_kernel(model_server, capsys):
    model_server.add("hi TERMINATE", "again TERMINATE")
    assistant, user = pair(model_server)
    previous = scope.set_view_factory(default_view)  # what install_defaults registers
    try:
        user.initiate_chat(assistant, message="go")
        assert "user (to assistant):" in capsys.readouterr().out
        buf = io.StringIO()
        scope.set_view_factory(lambda sync: ConsoleView(stream=buf).attach(sync=sync))
        install_defaults()  # a factory the caller chose wins over the default
        user.initiate_chat(assistant, message="go")
        assert "assistant (to user):" in buf.getvalue() and capsys.readouterr().out == ""
    finally:
        scope.set_view_factory(previous)


def test_note_stop_first_reason_wins_and_is_a_noop_outside_a_chat():
    scope.note_stop("ignored")  # no chat: nothing to record, no error
    outer = scope.ChatScope(members=[])
    with scope.entered(outer):
        scope.note_stop("max_turns")
        scope.note_stop("terminated")
        inner = scope.ChatScope(members=[], parent=outer)
        with scope.entered(inner):
            scope.note_stop("human_exit")
        assert scope.current_scope() is outer
    assert outer.stop_reason == "max_turns" and inner.stop_reason == "human_exit"
    assert scope.current_scope() is None


def test_human_handlers_install_all_three_in_one_place():
    def provider(prompt):
        return "x"

    def approver(request):
        return True

    def chooser(names, prompt):
        return names[0]

    with scope.human_handlers(input_provider=provider, approver=approver, speaker_chooser=chooser):
        assert (scope.input_provider(), scope.approver(), scope.speaker_chooser()) == (provider, approver, chooser)
        with scope.human_handlers(approver=None):  # None leaves the current handler in place
            assert scope.approver() is approver
    assert (scope.input_provider(), scope.approver(), scope.speaker_chooser()) == (None, None, None)

"""The entry point owns the view: ``scope.viewed_by`` / ``views.shown_in`` show the chats one caller starts.

``%%agents`` and the Studio builder show their chat in a panel they made (Stop, Export and follow-ups
wired to it) through the same view factory the package face uses; ``silent=True`` still shows nothing.
"""

from __future__ import annotations

import asyncio
import contextlib

import ipywidgets as widgets
from support.agents import pair

from agentnb.agents import scope
from agentnb.messages import ChatFinished, ChatStarted, subscribe
from agentnb.notebook.panel import ChatPanel
from agentnb.views import shown_in


def recording(shown: list[tuple[str, bool, type]], name: str):
    @contextlib.contextmanager
    def view(sync: bool):
        with subscribe(lambda e: shown.append((name, sync, type(e)))):
            yield

    return view


def test_the_entry_points_view_wins_for_the_chats_it_starts_only(model_server, capsys):
    model_server.add("one TERMINATE", "two TERMINATE", "three TERMINATE")
    assistant, user = pair(model_server)
    shown: list[tuple[str, bool, type]] = []
    previous = scope.set_view_factory(recording(shown, "process"))
    try:
        with scope.viewed_by(recording(shown, "entry")):
            user.initiate_chat(assistant, message="go")
            assert {name for name, _, _ in shown} == {"entry"}
            assert shown[0][1:] == (True, ChatStarted) and shown[-1][2] is ChatFinished
            shown.clear()
            user.initiate_chat(assistant, message="go", silent=True)
            assert shown == []  # silent=True keeps AutoGen 0.2's meaning: nothing shown, whoever owns the view
        user.initiate_chat(assistant, message="go")
        assert shown and {name for name, _, _ in shown} == {"process"}  # outside the block: as before
    finally:
        scope.set_view_factory(previous)
    assert capsys.readouterr().out == ""


def _html(panel: ChatPanel) -> str:
    out: list[str] = []

    def walk(w):
        if isinstance(w, widgets.HTML):
            out.append(w.value)
        for child in getattr(w, "children", ()):
            walk(child)

    walk(panel.conversation)
    return "\n".join(out)


def test_shown_in_puts_the_chat_in_the_callers_panel_and_its_speaker_choice_too(model_server):
    model_server.add("hello from the model TERMINATE")
    assistant, user = pair(model_server)
    panel = ChatPanel("mine")
    previous = scope.set_view_factory(None)  # no process-wide view: only the caller's panel shows the chat
    choosers: list[object] = []

    async def run():
        with shown_in(panel):
            result = await user.a_initiate_chat(assistant, message="go")
        choosers.append(scope.speaker_chooser())  # after the chat: the panel's chooser is gone
        return result

    try:
        with subscribe(lambda e: choosers.append(scope.speaker_chooser()) if isinstance(e, ChatStarted) else None):
            result = asyncio.run(run())
    finally:
        scope.set_view_factory(previous)
    assert result.stop_reason == "terminated"
    assert "hello from the model" in _html(panel) and panel.state == "finished"
    assert choosers[0] == panel.choose_speaker  # an async chat: someone can click the candidates
    assert choosers[-1] is None

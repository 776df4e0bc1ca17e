"""Every event type reaches every consumer that is not a view: the exporter, ``runtime_logging`` and the run history.

Like the views (``test_event_views.py``), each of them ``match``es on :data:`agentnb.messages.AnyEvent` and ends with
``assert_never``, so mypy rejects a consumer that misses a member. Here each one is fed every member, for real (a
notebook validated by nbformat, a log file, a history database read back), and must keep what it should.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import typing
import warnings

import nbformat
import pytest
from test_event_views import MEMBERS, sample

from agentnb import runtime_logging
from agentnb.export import Recorder as ExportRecorder
from agentnb.export import events_to_notebook
from agentnb.messages import (
    ApprovalDecided,
    ChatFinished,
    ChatStarted,
    ErrorOccurred,
    Event,
    ExecutionFinished,
    HumanInputReceived,
    MessageSent,
    ModelCallFinished,
    StreamStarted,
    TokenChunk,
    ToolCallFinished,
    ToolCallProposed,
    UsageUpdated,
    emit,
)
from agentnb.studio.history_ui import transcript_html
from agentnb.studio.runs import open_run
from agentnb.studio.store import EventKind, open_recorder

ids = {"ids": lambda c: c.__name__}

EXPORTED = {MessageSent: "markdown", ExecutionFinished: "code", ToolCallFinished: "markdown",
            ErrorOccurred: "markdown", ChatFinished: "markdown", ApprovalDecided: "markdown"}
"""The events that become a cell of their own (the sample ApprovalDecided is a rejection)."""
STORED_EVENTS = {ExecutionFinished, ApprovalDecided, ToolCallFinished, ErrorOccurred, HumanInputReceived}
"""The events the run history keeps as an ``events`` row (messages have their own table)."""
NOT_LOGGED = {TokenChunk, StreamStarted, UsageUpdated, ToolCallProposed}
"""What runtime_logging leaves out: per-token noise, usage (in chat_completions), a call's arguments (in its result)."""


class Custom(Event):
    """An event agentnb does not define."""


def event(cls: type[Event]) -> Event:
    ev = sample(cls)
    if isinstance(ev, UsageUpdated):
        ev = dataclasses.replace(ev, prompt_tokens=3, completion_tokens=4, cost=0.5)
    return ev


# --------------------------------------------------------------------------------- export


def exported_cells(events: list[Event]) -> list[typing.Any]:
    recorder = ExportRecorder()
    for ev in events:
        recorder(ev)
    nb = events_to_notebook(recorder.events)
    nbformat.validate(nb)
    return nb.cells[1:]  # after the title cell


@pytest.mark.parametrize("cls", MEMBERS, **ids)
def test_the_exporter_gives_each_event_its_place(cls):
    cells = exported_cells([ChatStarted(sender="user_proxy", recipient="assistant"), event(cls)])
    assert [c.cell_type for c in cells] == ([EXPORTED[cls]] if cls in EXPORTED else [])


def test_the_exporter_skips_an_event_outside_the_union():
    assert exported_cells([ChatStarted(sender="u", recipient="a"), Custom()]) == []


# ------------------------------------------------------------------------------- runtime_logging


def logged(tmp_path, *events: Event) -> list[dict[str, typing.Any]]:
    log = tmp_path / "runtime.log"
    runtime_logging.start(logger_type="file", config={"filename": str(log)})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # emit() turns a subscriber's exception into a warning: raise it
            for ev in events:
                emit(ev)
    finally:
        runtime_logging.stop()
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert records[0]["event_name"] == "session_started"
    return records[1:]


@pytest.mark.parametrize("cls", MEMBERS, **ids)
def test_runtime_logging_logs_each_event_as_autogen_did(cls, tmp_path):
    records = logged(tmp_path, event(cls))
    if cls in NOT_LOGGED:
        assert records == []
    elif cls is ModelCallFinished:
        assert [set(r) >= {"invocation_id", "request", "response", "cost"} for r in records] == [True]
    elif cls is ToolCallFinished:
        assert [(r["function_name"], r["returns"]["content"]) for r in records] == [("x", "x")]
    elif cls is MessageSent:
        assert [(r["event_name"], r["json_state"]["sender"]) for r in records] == [("received_message", "x")]
    else:  # a row named after the event, with its fields
        name = "".join(f"_{c.lower()}" if c.isupper() else c for c in cls.__name__).lstrip("_")
        assert [r["event_name"] for r in records] == [name]
        assert set(records[0]["json_state"]) == {f.name for f in dataclasses.fields(cls)} - {"time"}


def test_runtime_logging_writes_every_event_into_sqlite(tmp_path):
    runtime_logging.start(config={"dbname": str(tmp_path / "logs.db")})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for cls in MEMBERS:
                emit(event(cls))
        con = runtime_logging.get_connection()
        names = [row[0] for row in con.execute("SELECT event_name FROM events ORDER BY id")]
        states = [json.loads(row[0]) for row in con.execute("SELECT json_state FROM events ORDER BY id")]
        calls = con.execute("SELECT count(*) FROM chat_completions").fetchone()[0]
        functions = con.execute("SELECT count(*) FROM function_calls").fetchone()[0]
    finally:
        runtime_logging.stop()
    generic = [c for c in MEMBERS if c not in NOT_LOGGED | {ModelCallFinished, ToolCallFinished}]
    assert len(names) == len(generic) and "received_message" in names
    assert {"source": "x", "error_type": "x", "message": "x", "fatal": False, "chat_id": None} in states
    assert (calls, functions) == (1, 1)


def test_runtime_logging_still_logs_an_event_outside_the_union(tmp_path):
    assert [r["event_name"] for r in logged(tmp_path, Custom())] == ["custom"]


# --------------------------------------------------------------------------------- run history


def record(tmp_path, *events: Event):
    db = tmp_path / "history.sqlite"
    recorder = open_recorder(db, {"label": "consumers"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a HistoryWarning would mean the recorder failed
        recorder(ChatStarted(sender="user_proxy", recipient="assistant", chat_id="chat-1"))
        for ev in events:
            recorder(ev)
        recorder(ChatFinished(reason="terminated", chat_id="chat-1"))
    assert not recorder.failed
    return open_run(recorder.run_id, db)


@pytest.mark.parametrize("cls", MEMBERS, **ids)
def test_the_history_keeps_what_a_transcript_needs(cls, tmp_path):
    run = record(tmp_path, event(cls))
    assert run.info.status == "finished"  # a nested chat's start or end (the samples) leaves the run as it is
    assert len(run.messages) == (cls is MessageSent)
    assert [e["kind"] for e in run.events] == ([cls.__name__] if cls in STORED_EVENTS else [])
    assert run.info.tokens == (7 if cls is UsageUpdated else 0)
    # the readers of stored rows: replay (a panel's events) and the HTML transcript
    replayed = [type(e) for e in run.replay_events()]
    html = transcript_html(run)
    if cls is ExecutionFinished:
        assert ExecutionFinished in replayed and " ran " in html
    if cls is ApprovalDecided:
        assert ApprovalDecided in replayed and "code rejected" in html


def test_stored_kinds_are_the_names_of_the_events_they_record():
    assert set(typing.get_args(EventKind)) == {cls.__name__ for cls in STORED_EVENTS}


def test_the_history_passes_over_an_event_outside_the_union(tmp_path):
    run = record(tmp_path, Custom())
    assert (run.messages, run.events, run.info.status) == ([], [], "finished")


def test_rows_of_a_kind_this_version_does_not_know_are_skipped_by_the_readers(tmp_path):
    db = tmp_path / "history.sqlite"
    run = record(tmp_path, event(ExecutionFinished))
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)", (run.id, 99, 0.0, "FromANewerVersion", "{}"))
    conn.close()
    run = open_run(run.id, db)
    assert [e["kind"] for e in run.events] == ["ExecutionFinished", "FromANewerVersion"]
    assert [type(e) for e in run.replay_events()].count(ExecutionFinished) == 1
    assert " ran " in transcript_html(run)

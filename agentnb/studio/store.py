"""The run history database (stdlib ``sqlite3``, WAL) and the recorder that writes a chat into it as it happens.

One row per run in ``runs``; its ``messages`` and other ``events`` (code executed, approvals, tool results,
errors, human input) in their own tables. The recorder appends each of them to the run's journal (one
``write()`` on the thread that emits the event) before ``emit`` returns, so a crash loses nothing already sent,
and moves the journal into SQLite in one transaction per batch and at the chat's end (see
:mod:`agentnb.studio.journal`). WAL, ``synchronous=NORMAL``; the connection stays open for the process. Streamed
pieces (tokens, progress) are not stored: the finished message is. Images are written as
files next to the database and stored by reference. Text is passed through :func:`agentnb.errors.redact`
first, so API keys do not land in the file.

A database that is locked for longer than :data:`BUSY_TIMEOUT` or is not a database gives one
:class:`HistoryWarning` and the chat goes on without history.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from typing_extensions import assert_never  # typing has it from Python 3.11

from ..errors import redact
from ..messages import (
    AnyEvent,
    ApprovalDecided,
    ApprovalRequested,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ErrorOccurred,
    Event,
    ExecutionFinished,
    ExecutionOutput,
    HumanInputReceived,
    HumanInputRequested,
    MessageSent,
    ModelCallFinished,
    SpeakerSelected,
    StreamStarted,
    TokenChunk,
    ToolCallFinished,
    ToolCallProposed,
    UsageUpdated,
)
from . import journal

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 0.5
"""Seconds a write waits for another process's lock before history gives up for this chat."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT, label TEXT, task TEXT, spec TEXT, agents TEXT,
    model TEXT, source TEXT, parent_run INTEGER, started REAL, finished REAL, status TEXT, reason TEXT,
    summary TEXT, error TEXT, prompt_tokens INTEGER DEFAULT 0, completion_tokens INTEGER DEFAULT 0,
    cost REAL DEFAULT 0, pid INTEGER, cwd TEXT);
CREATE TABLE IF NOT EXISTS messages (
    run_id INTEGER, seq INTEGER, time REAL, sender TEXT, recipient TEXT, message TEXT,
    PRIMARY KEY (run_id, seq));
CREATE TABLE IF NOT EXISTS events (
    run_id INTEGER, seq INTEGER, time REAL, kind TEXT, data TEXT, PRIMARY KEY (run_id, seq));
"""

_STATUS = {"stopped": "stopped", "error": "error"}
_Journaled = (MessageSent | ExecutionFinished | ApprovalDecided | ToolCallFinished | ErrorOccurred | HumanInputReceived
              | ChatFinished)
"""The events a run's journal keeps (with :class:`ChatStarted`, which opens the run, and :class:`UsageUpdated`,
added up and written with the next row)."""
_Passed = (TokenChunk | StreamStarted | ExecutionOutput | ModelCallFinished | CodeBlockProposed | ToolCallProposed
           | ApprovalRequested | HumanInputRequested | SpeakerSelected)
"""The events a run does not keep: streamed pieces, progress, requests (the finished message, execution or
decision is kept)."""
_KEPT = frozenset(get_args(AnyEvent)) - frozenset(get_args(_Passed))
"""The events a run keeps, looked up by exact type: one set probe for each of the many that are not (tokens
stream by the hundred)."""

EventKind = Literal["ExecutionFinished", "ApprovalDecided", "ToolCallFinished", "ErrorOccurred", "HumanInputReceived"]
"""The ``kind`` of a row of ``events``: the event it records, by the name its class had when the row was written
(a stored name, kept when a class is renamed, so that old files still read). Readers ``match`` on
:func:`event_kind` with ``assert_never``, so a new kind is a type error until each reader decides what to show."""
_EVENT_KINDS = frozenset(get_args(EventKind))


def event_kind(row: dict[str, Any]) -> EventKind | None:
    """The ``kind`` of an ``events`` row if this version knows it, else None (a newer agentnb wrote it)."""
    kind = row.get("kind")
    return kind if kind in _EVENT_KINDS else None


class HistoryWarning(RuntimeWarning):
    """The run history could not be written; the chat went on without it."""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the history database at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            conn.executescript(_SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")
    except BaseException:
        conn.close()
        raise
    return conn


class _Database:
    """This process's one connection to a history file, shared by its recorders (writes hold :attr:`lock`).

    It stays open: closing the last connection of a WAL database checkpoints it with an ``fsync``."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.conn: sqlite3.Connection | None = None
        self.journal_ready = False

    def write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> int | None:
        """Run ``statements`` as one transaction (a single statement commits by itself); a lone INSERT's row id."""
        if self.conn is None:
            self.conn = connect(self.path)
        conn = self.conn
        try:
            if len(statements) == 1:
                return conn.execute(*statements[0]).lastrowid
            conn.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                conn.execute(sql, params)
            conn.execute("COMMIT")
            return None
        except BaseException:
            self.drop()
            raise

    def drop(self) -> None:
        """Close the connection after an error (the next chat reopens it: the file may be fixed by then)."""
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass


_databases: dict[Path, _Database] = {}
_databases_lock = threading.Lock()


def database_for(path: Path) -> _Database:
    database = _databases.get(path) if path.is_absolute() else None  # as given, then resolved: one connection
    if database is not None:
        return database
    key = path.resolve()
    with _databases_lock:
        database = _databases.get(key)
        if database is None:
            database = _databases[key] = _Database(path)
        if path.is_absolute():
            _databases[path] = database
        return database


_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _json(value: Any) -> str:
    return redact(_encode(value))


class Recorder:
    """Subscriber writing one chat (nested chats included) into the history database.

    Each message (and each code run, approval, tool result, error, human input) is appended to the run's
    :mod:`journal <agentnb.studio.journal>` before :func:`~agentnb.messages.emit` returns (one ``write()``);
    the rows move into SQLite in one transaction per :data:`~agentnb.studio.journal.BATCH` rows and at the end."""

    def __init__(self, path: Path, context: dict[str, Any]):
        self.path = path
        self.context = context
        self.database = database_for(path)
        self.run_id: int | None = None
        self.chat_id: str | None = None
        self.seq = 0
        self.error: BaseException | None = None
        self.warned = False
        self.images = 0
        self.has_task = False
        self.usage = [0, 0, 0.0]
        """The run's prompt tokens, completion tokens and cost so far."""
        self.fd: int | None = None
        self.pending: list[journal.Row] = []
        """Rows in the journal, not yet in the database."""
        self.usage_changed = False

    def __call__(self, event: Event) -> None:
        if type(event) not in _KEPT:
            return  # passed over, or not an agentnb event
        if TYPE_CHECKING:  # what the set probe proved, for mypy (no cost at run time)
            assert isinstance(event, AnyEvent) and not isinstance(event, _Passed)
        match event:
            case _ if self.error is not None:
                self._warn()  # history is off for this chat
            case UsageUpdated():  # kept in memory, written with the next row
                usage = self.usage
                usage[0] += event.prompt_tokens
                usage[1] += event.completion_tokens
                usage[2] += event.cost
                self.usage_changed = True
            case (MessageSent() | ExecutionFinished() | ApprovalDecided() | ToolCallFinished() | ErrorOccurred()
                  | HumanInputReceived() | ChatFinished()):
                try:
                    with self.database.lock:
                        self._append(event)
                except (sqlite3.Error, OSError) as exc:
                    self._fail(exc)
                    self._warn()
            case ChatStarted():
                try:
                    with self.database.lock:
                        self._start(event)
                except (sqlite3.Error, OSError) as exc:
                    self._fail(exc)
                    self._warn()
            case _:
                assert_never(event)

    def _fail(self, exc: BaseException) -> None:
        """A write failed: history is off for this chat (the journal keeps what it has)."""
        self.error = exc
        self._close()

    @property
    def failed(self) -> bool:
        return self.error is not None

    def _warn(self) -> None:
        if self.warned:
            return
        self.warned = True
        exc = self.error
        kept = f" (run {self.run_id} keeps what was written before)" if self.run_id else ""
        warnings.warn(f"agentnb run history is off for this chat: {self.path}: {type(exc).__name__}: {exc}{kept}. "
                      "The chat goes on. Set AGENTNB_HISTORY to another file, or AGENTNB_HISTORY=off.",
                      HistoryWarning, stacklevel=4)

    def _start(self, event: ChatStarted) -> None:
        if self.run_id is not None:
            return  # a nested chat: its messages belong to this run
        ctx = self.context
        database = self.database
        if database.conn is None:
            database.conn = connect(self.path)
            journal.recover(database.conn, self.path)  # runs an earlier crash left in journals
        self.run_id = database.write([(
            "INSERT INTO runs (chat_id, label, task, spec, agents, model, source, parent_run, started, status, pid, "
            "cwd) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (event.chat_id, ctx.get("label"), ctx.get("task"), ctx.get("spec"), json.dumps(event.agents),
             event.model, ctx.get("source", "python"), ctx.get("parent_run"), event.time, "running", os.getpid(),
             os.getcwd()))])
        assert self.run_id is not None
        self.chat_id = event.chat_id
        self.has_task = bool(ctx.get("task"))
        if not database.journal_ready:
            journal.journal_path(self.path, 0).parent.mkdir(parents=True, exist_ok=True)
            database.journal_ready = True
        self.fd = journal.open_journal(self.path, self.run_id)

    def _append(self, event: _Journaled) -> None:
        if self.fd is None:
            return  # the run is closed (finished, or history failed)
        rows = self._rows(event)
        if not rows:
            return
        if self.usage_changed:
            self.usage_changed = False
            rows.append(("u", *self.usage))
        os.write(self.fd, "".join(map(journal.line, rows)).encode())
        pending = self.pending
        pending.extend(rows)
        finished = rows[0][0] == "f"
        if finished or len(pending) >= journal.BATCH:
            conn = self.database.conn
            if conn is None:
                conn = self.database.conn = connect(self.path)
            try:
                journal.apply(conn, self.run_id, pending)  # type: ignore[arg-type]
            except sqlite3.Error:
                self.database.drop()
                raise
            self.pending = []
            if finished:
                self._close(delete=True)
            else:
                os.ftruncate(self.fd, 0)

    def _close(self, delete: bool = False) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            if delete and self.run_id is not None:
                journal.journal_path(self.path, self.run_id).unlink(missing_ok=True)

    def _rows(self, event: _Journaled) -> list[journal.Row]:
        """The journal rows that record ``event``."""
        match event:
            case MessageSent():
                self.seq += 1
                message = event.message
                rows: list[journal.Row] = [("m", self.seq, event.time, event.sender, event.recipient,
                                            _json(message))]
                if not self.has_task:  # the first message is the task
                    self.has_task = True
                    rows.append(("t", _task(message)))
                return rows
            case ExecutionFinished():
                return [self._event("ExecutionFinished", event, {
                    "executor": event.executor, "block_id": event.block_id, "language": event.language,
                    "code": event.code, "exit_code": event.exit_code, "summary": event.summary,
                    "outputs": [self._output(o) for o in event.outputs]})]
            case ApprovalDecided():
                request, decision = event.request, event.decision
                return [self._event("ApprovalDecided", event, {
                    "request_kind": request.kind, "agent": request.agent, "code": request.code,
                    "tool_name": request.tool_name, "approved": decision.approved, "edited_code": decision.code,
                    "reason": decision.reason})]
            case ToolCallFinished():
                return [self._event("ToolCallFinished", event, {
                    "executor": event.executor, "name": event.name, "content": event.content,
                    "is_error": event.is_error})]
            case ErrorOccurred():
                return [self._event("ErrorOccurred", event, {
                    "source": event.source, "error_type": event.error_type, "message": event.message,
                    "fatal": event.fatal})]
            case HumanInputReceived():
                return [self._event("HumanInputReceived", event, {"agent": event.agent, "text": event.text})]
            case ChatFinished():
                if event.chat_id != self.chat_id:
                    return []  # a nested chat's end: its messages are already written
                return [("f", event.time, _STATUS.get(event.reason, "finished"), event.reason,
                         redact(event.summary or ""), redact(event.error) if event.error else None)]
            case _:
                assert_never(event)

    def _event(self, kind: EventKind, event: Event, data: dict[str, Any]) -> journal.Row:
        self.seq += 1
        return ("e", self.seq, event.time, kind, _json(data))

    def _output(self, output: dict[str, Any]) -> dict[str, Any]:
        """An nbformat output with each image written to a file and replaced by ``{"$file": relative path}``."""
        data = output.get("data")
        if not isinstance(data, dict):
            return output
        out = dict(output, data=dict(data))
        for mime, ext in (("image/png", "png"), ("image/jpeg", "jpg"), ("image/gif", "gif")):
            value = data.get(mime)
            if isinstance(value, str):
                self.images += 1
                rel = Path("outputs") / f"run-{self.run_id}" / f"image-{self.images}.{ext}"
                target = self.path.parent / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(value))
                out["data"][mime] = {"$file": rel.as_posix()}
        return out


def _task(message: dict[str, Any]) -> str:
    from ..messages import content_str

    return redact(content_str(message.get("content")))


def open_recorder(path: Path, context: dict[str, Any]) -> Recorder:
    return Recorder(path, dict(context, started=time.time()))

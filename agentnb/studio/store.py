"""The run history database (stdlib ``sqlite3``, WAL) and the recorder that writes a chat into it as it happens.

One row per run in ``runs``; its ``messages`` and other ``events`` (code executed, approvals, tool results,
errors) in their own tables, each committed as it arrives, so a crash loses nothing already written. Images
are written as files next to the database and stored by reference. Text is passed through
:func:`agentnb.errors.redact` first, so API keys do not land in the file.

A database that is locked for longer than :data:`BUSY_TIMEOUT` or is not a database gives one
:class:`HistoryWarning` and the chat goes on without history.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import sqlite3
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from ..errors import redact
from ..messages import (
    ApprovalDecided,
    ChatFinished,
    ChatStarted,
    ErrorOccurred,
    Event,
    ExecutionFinished,
    HumanInputReceived,
    MessageSent,
    ToolCallFinished,
    UsageUpdated,
)

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
_RECORDED = (ChatStarted, MessageSent, UsageUpdated, ExecutionFinished, ApprovalDecided, ToolCallFinished,
             ErrorOccurred, HumanInputReceived, ChatFinished)


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


class _Writer(threading.Thread):
    """The one thread that writes a database file for this process (keeps the chat's loop free of disk I/O).

    Its connection stays open: closing the last connection of a WAL database checkpoints it with an fsync."""

    def __init__(self, path: Path):
        super().__init__(name=f"agentnb-history-{path.name}", daemon=True)
        self.path = path
        self.queue: queue.SimpleQueue[tuple[Recorder | None, Any]] = queue.SimpleQueue()
        self.conn: sqlite3.Connection | None = None
        self.cpu_seconds = 0.0
        """CPU time this thread spent writing (for the benchmark)."""
        self.events_written = 0

    def run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while not self.queue.empty():  # whatever arrived meanwhile goes into the same transaction
                batch.append(self.queue.get_nowait())
            markers = [item for recorder, item in batch if recorder is None]
            self._write([(r, item) for r, item in batch if r is not None and r.error is None])
            for marker in markers:
                marker.set()  # a flush marker: everything queued before it is written

    def _write(self, batch: list[tuple[Recorder, Any]]) -> None:
        if not batch:
            return
        started = time.thread_time()
        try:
            self._write_batch(batch)
        finally:
            self.cpu_seconds += time.thread_time() - started
            self.events_written += len(batch)

    def _write_batch(self, batch: list[tuple[Recorder, Any]]) -> None:
        try:
            if self.conn is None:
                self.conn = connect(self.path)
            if len(batch) == 1:  # one event: its statements commit by themselves (no BEGIN/COMMIT round trips)
                recorder, event = batch[0]
                recorder.conn = self.conn
                recorder._record(event)
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for recorder, event in batch:
                    recorder.conn = self.conn
                    recorder._record(event)
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            for recorder, _event in batch:
                recorder.error = exc
            conn, self.conn = self.conn, None
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass

    def flush(self, timeout: float = 10.0) -> None:
        done = threading.Event()
        self.queue.put((None, done))
        done.wait(timeout)


_writers: dict[Path, _Writer] = {}
_writers_lock = threading.Lock()


def writer_for(path: Path) -> _Writer:
    key = path.resolve()
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = _Writer(path)
            writer.start()
        return writer


def _json(value: Any) -> str:
    return redact(json.dumps(value, default=str, ensure_ascii=False))


class Recorder:
    """Subscriber writing one chat (nested chats included) into the history database.

    The chat's thread only queues each event; the database's writer thread writes it (within a
    millisecond) and the chat's end waits until everything is written."""

    def __init__(self, path: Path, context: dict[str, Any]):
        self.path = path
        self.context = context
        self.writer = writer_for(path)
        self.conn: sqlite3.Connection | None = None
        self.run_id: int | None = None
        self.chat_id: str | None = None
        self.seq = 0
        self.error: BaseException | None = None
        self.warned = False
        self.images = 0
        self.has_task = False

    def __call__(self, event: Event) -> None:
        if self.error is not None:
            self._warn()
            return
        if not isinstance(event, _RECORDED):
            return  # streamed pieces, progress: the finished message / execution is what is kept
        if isinstance(event, ChatStarted) and self.chat_id is None:
            self.chat_id = event.chat_id
        self.writer.queue.put((self, event))
        if isinstance(event, ChatFinished) and event.chat_id == self.chat_id:
            self.writer.flush()  # the run is complete in the file when the chat returns
            if self.error is not None:
                self._warn()

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
                      HistoryWarning, stacklevel=3)

    def _record(self, event: Event) -> None:
        if isinstance(event, ChatStarted) and self.run_id is None:
            self._start(event)
            return
        if self.conn is None:
            return
        conn, run = self.conn, self.run_id
        if isinstance(event, MessageSent):
            self.seq += 1
            message = event.message
            conn.execute("INSERT INTO messages VALUES (?,?,?,?,?,?)",
                         (run, self.seq, event.time, event.sender, event.recipient, _json(message)))
            if not self.has_task:  # the first message is the task (one UPDATE per run; counts are read on listing)
                self.has_task = True
                conn.execute("UPDATE runs SET task = COALESCE(task, ?) WHERE id = ?", (_task(message), run))
        elif isinstance(event, UsageUpdated):
            conn.execute("UPDATE runs SET prompt_tokens = prompt_tokens + ?, completion_tokens = "
                         "completion_tokens + ?, cost = cost + ? WHERE id = ?",
                         (event.prompt_tokens, event.completion_tokens, event.cost, run))  # totals only: cheap
        elif isinstance(event, ExecutionFinished):
            self._event(event, {"executor": event.executor, "block_id": event.block_id, "language": event.language,
                                "code": event.code, "exit_code": event.exit_code, "summary": event.summary,
                                "outputs": [self._output(o) for o in event.outputs]})
        elif isinstance(event, ApprovalDecided):
            request, decision = event.request, event.decision
            self._event(event, {"request_kind": request.kind, "agent": request.agent, "code": request.code,
                                "tool_name": request.tool_name, "approved": decision.approved,
                                "edited_code": decision.code, "reason": decision.reason})
        elif isinstance(event, ToolCallFinished):
            self._event(event, {"executor": event.executor, "name": event.name, "content": event.content,
                                "is_error": event.is_error})
        elif isinstance(event, ErrorOccurred):
            self._event(event, {"source": event.source, "error_type": event.error_type, "message": event.message,
                                "fatal": event.fatal})
        elif isinstance(event, HumanInputReceived):
            self._event(event, {"agent": event.agent, "text": event.text})
        elif isinstance(event, ChatFinished) and event.chat_id == self.chat_id:
            conn.execute("UPDATE runs SET finished = ?, status = ?, reason = ?, summary = ?, error = ? WHERE id = ?",
                         (event.time, _STATUS.get(event.reason, "finished"), event.reason, redact(event.summary or ""),
                          redact(event.error) if event.error else None, run))

    def _start(self, event: ChatStarted) -> None:
        ctx = self.context
        self.has_task = bool(ctx.get("task"))
        assert self.conn is not None
        cur = self.conn.execute(
            "INSERT INTO runs (chat_id, label, task, spec, agents, model, source, parent_run, started, status, pid, "
            "cwd) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (event.chat_id, ctx.get("label"), ctx.get("task"), ctx.get("spec"), json.dumps(event.agents),
             event.model, ctx.get("source", "python"), ctx.get("parent_run"), event.time, "running", os.getpid(),
             os.getcwd()))
        self.run_id = cur.lastrowid

    def _event(self, event: Event, data: dict[str, Any]) -> None:
        self.seq += 1
        assert self.conn is not None
        self.conn.execute("INSERT INTO events VALUES (?,?,?,?,?)",
                          (self.run_id, self.seq, event.time, type(event).__name__, _json(data)))

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

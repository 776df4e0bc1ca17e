"""A recorded run's append-only journal: what makes every message durable for the price of one ``write()``.

While a chat runs, each message (code run, approval, tool result, error, human input) is appended to
``<db stem>.journal/run-<id>.jsonl`` next to the database with a single ``os.write`` on an ``O_APPEND``
descriptor, so once ``emit`` returns it is in the file: a crash of the process (``os._exit``, a killed kernel)
loses nothing already sent. The journal's rows move into SQLite in one transaction per :data:`BATCH` rows and at
the chat's end, after which the journal is emptied. A journal whose process is gone is moved into the database
by :func:`recover` (``history()`` and ``open_run()`` call it); the moves are idempotent (``INSERT OR IGNORE``;
usage lines carry the run's totals, not increments), so a crash between a commit and emptying the journal
counts nothing twice.

A row is a tuple: ``("m", seq, time, sender, recipient, message_json)``, ``("e", seq, time, kind, data_json)``,
``("t", task)``, ``("u", prompt_tokens, completion_tokens, cost)`` (totals so far) or
``("f", time, status, reason, summary, error)``. A line is the row as a JSON array (the JSON columns inline).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

BATCH = 64
"""Journal rows moved into the database per transaction while a chat runs."""

_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode
Row = tuple[Any, ...]


def journal_path(db: Path, run_id: int) -> Path:
    return db.parent / f"{db.stem}.journal" / f"run-{run_id}.jsonl"


def open_journal(db: Path, run_id: int) -> int:
    """A descriptor appending to the run's journal (created ``0600``; its folder must exist)."""
    return os.open(journal_path(db, run_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def line(row: Row) -> str:
    """``row`` as one journal line; the JSON text columns of messages and events are inlined, not re-encoded."""
    tag = row[0]
    if tag == "m":
        return f'["m",{row[1]},{_number(row[2])},{_name(row[3])},{_name(row[4])},{row[5]}]\n'
    if tag == "u":
        return f'["u",{_number(row[1])},{_number(row[2])},{_number(row[3])}]\n'
    if tag == "e":
        return f'["e",{row[1]},{_number(row[2])},{_name(row[3])},{row[4]}]\n'
    return _encode(row) + "\n"


_names: dict[Any, str] = {}


def _name(value: Any) -> str:
    """An agent or event name as JSON (the few names of a process are encoded once)."""
    text = _names.get(value)
    if text is None:
        text = _encode(value)
        if len(_names) < 4096:
            _names[value] = text
    return text


def _number(value: Any) -> str:
    return repr(value) if type(value) in (int, float) and value == value and abs(value) != float("inf") \
        else _encode(value)


def read(path: Path) -> list[Row]:
    """The rows of a journal file (a torn last line, from a crash inside ``write``, is skipped)."""
    rows: list[Row] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return rows
    for raw in text.splitlines():
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(item, list) or not item:
            continue
        if item[0] in ("m", "e") and len(item) in (5, 6):
            item[-1] = _encode(item[-1])  # back to the column's JSON text
        rows.append(tuple(item))
    return rows


def apply(conn: sqlite3.Connection, run_id: int, rows: list[Row]) -> None:
    """Write ``rows`` into the database in one transaction (idempotent: safe to apply twice)."""
    messages = [(run_id, *row[1:6]) for row in rows if row[0] == "m" and len(row) == 6]
    events = [(run_id, *row[1:5]) for row in rows if row[0] == "e" and len(row) == 5]
    conn.execute("BEGIN IMMEDIATE")
    try:
        if messages:
            conn.executemany("INSERT OR IGNORE INTO messages VALUES (?,?,?,?,?,?)", messages)
        if events:
            conn.executemany("INSERT OR IGNORE INTO events VALUES (?,?,?,?,?)", events)
        usage = next((row for row in reversed(rows) if row[0] == "u" and len(row) == 4), None)
        if usage is not None:
            conn.execute("UPDATE runs SET prompt_tokens = ?, completion_tokens = ?, cost = ? WHERE id = ?",
                         (*usage[1:], run_id))
        for row in rows:
            if row[0] == "t" and len(row) == 2:
                conn.execute("UPDATE runs SET task = COALESCE(task, ?) WHERE id = ?", (row[1], run_id))
            elif row[0] == "f" and len(row) == 6:
                conn.execute("UPDATE runs SET finished = ?, status = ?, reason = ?, summary = ?, error = ? "
                             "WHERE id = ?", (*row[1:], run_id))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def recover(conn: sqlite3.Connection, db: Path) -> None:
    """Move the journals of runs whose process is gone into the database, then delete them."""
    folder = db.parent / f"{db.stem}.journal"
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("run-*.jsonl")):
        try:
            run_id = int(path.stem.removeprefix("run-"))
        except ValueError:
            continue
        found = conn.execute("SELECT pid FROM runs WHERE id = ?", (run_id,)).fetchone()
        if found is not None and alive(found[0]):
            continue  # a live chat (maybe in this process) owns it
        if found is not None:
            apply(conn, run_id, read(path))
        path.unlink(missing_ok=True)


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

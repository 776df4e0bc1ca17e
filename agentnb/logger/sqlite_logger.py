"""``SqliteLogger``: 0.2's tables in one sqlite file (``config={"dbname": "logs.db"}``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .base_logger import BaseLogger, dumps, source_fields

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_completions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, invocation_id TEXT, client_id INTEGER, wrapper_id INTEGER,
    session_id TEXT, source_name TEXT, request TEXT, response TEXT, is_cached INEGER, cost REAL,
    start_time DATETIME DEFAULT CURRENT_TIMESTAMP, end_time DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id INTEGER, wrapper_id INTEGER, session_id TEXT, name TEXT,
    class TEXT, init_args TEXT, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, UNIQUE(agent_id, session_id));
CREATE TABLE IF NOT EXISTS oai_wrappers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, wrapper_id INTEGER, session_id TEXT, init_args TEXT,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, UNIQUE(wrapper_id, session_id));
CREATE TABLE IF NOT EXISTS oai_clients (
    id INTEGER PRIMARY KEY AUTOINCREMENT, client_id INTEGER, wrapper_id INTEGER, session_id TEXT, class TEXT,
    init_args TEXT, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, UNIQUE(client_id, session_id));
CREATE TABLE IF NOT EXISTS version (id INTEGER PRIMARY KEY CHECK (id = 1), version_number INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    event_name TEXT, source_id INTEGER, source_name TEXT, agent_module TEXT DEFAULT NULL,
    agent_class_name TEXT DEFAULT NULL, id INTEGER PRIMARY KEY, json_state TEXT,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS function_calls (
    source_id INTEGER, source_name TEXT, function_name TEXT, args TEXT DEFAULT NULL, returns TEXT DEFAULT NULL,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
"""


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteLogger(BaseLogger):
    """Writes each record as a row; ``get_connection()`` returns the open ``sqlite3`` connection."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__(config)
        self.dbname = str(self.config.get("dbname", "logs.db"))
        self.con: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def start(self) -> str:
        self.con = sqlite3.connect(self.dbname, check_same_thread=False)
        with self._lock:
            self.con.executescript(SCHEMA)
            self.con.execute("INSERT OR IGNORE INTO version (id, version_number) VALUES (1, ?)", (SCHEMA_VERSION,))
            self.con.commit()
        return self.session_id

    def _run(self, sql: str, args: tuple[Any, ...]) -> None:
        if self.con is None:
            return
        with self._lock:
            self.con.execute(sql, args)
            self.con.commit()

    def log_chat_completion(self, invocation_id: Any, client_id: int, wrapper_id: int, source: Any,
                            request: dict[str, Any], response: Any, is_cached: int, cost: float,
                            start_time: str) -> None:
        self._run("INSERT INTO chat_completions (invocation_id, client_id, wrapper_id, session_id, request, "
                  "response, is_cached, cost, start_time, end_time, source_name) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                  (str(invocation_id), client_id, wrapper_id, self.session_id, dumps(request),
                   response if isinstance(response, str) else dumps(response), int(is_cached), cost, start_time,
                   now(), source_fields(source)[1]))

    def log_new_agent(self, agent: Any, init_args: dict[str, Any]) -> None:
        client = getattr(agent, "client", None)
        self._run("INSERT OR IGNORE INTO agents (agent_id, wrapper_id, session_id, name, class, init_args, "
                  "timestamp) VALUES (?,?,?,?,?,?,?)",
                  (id(agent), id(client) if client is not None else "", self.session_id,
                   str(getattr(agent, "name", "")), type(agent).__name__, dumps(init_args), now()))

    def log_event(self, source: Any, name: str, /, **kwargs: Any) -> None:
        source_id, source_name, module, cls = source_fields(source)
        self._run("INSERT INTO events (source_id, source_name, event_name, agent_module, agent_class_name, "
                  "json_state, timestamp) VALUES (?,?,?,?,?,?,?)",
                  (source_id, source_name, name, module, cls, dumps(kwargs), now()))

    def log_new_wrapper(self, wrapper: Any, init_args: dict[str, Any]) -> None:
        self._run("INSERT OR IGNORE INTO oai_wrappers (wrapper_id, session_id, init_args, timestamp) "
                  "VALUES (?,?,?,?)", (id(wrapper), self.session_id, dumps(init_args), now()))

    def log_new_client(self, client: Any, wrapper: Any, init_args: dict[str, Any]) -> None:
        self._run("INSERT OR IGNORE INTO oai_clients (client_id, wrapper_id, session_id, class, init_args, "
                  "timestamp) VALUES (?,?,?,?,?,?)",
                  (id(client), id(wrapper), self.session_id, type(client).__name__, dumps(init_args), now()))

    def log_function_use(self, source: Any, function: Callable[..., Any] | str, args: dict[str, Any],
                         returns: Any) -> None:
        source_id, source_name, _, _ = source_fields(source)
        name = function if isinstance(function, str) else getattr(function, "__name__", repr(function))
        self._run("INSERT INTO function_calls (source_id, source_name, function_name, args, returns, timestamp) "
                  "VALUES (?,?,?,?,?,?)", (source_id, source_name, name, dumps(args), dumps(returns), now()))

    def stop(self) -> None:
        if self.con is not None:
            with self._lock:
                self.con.close()
            self.con = None

    def get_connection(self) -> sqlite3.Connection | None:
        return self.con

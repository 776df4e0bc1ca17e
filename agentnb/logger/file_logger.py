"""``FileLogger``: one JSON object per line in a text file (``config={"filename": "runtime.log"}``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from .base_logger import BaseLogger, to_jsonable
from .sqlite_logger import now


class FileLogger(BaseLogger):
    """Appends records as JSON lines; ``get_connection()`` is None (there is no database)."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__(config)
        self.filename = str(self.config.get("filename", "runtime.log"))
        self._file: Any = None
        self._lock = threading.Lock()

    def start(self) -> str:
        self._file = open(self.filename, "a", encoding="utf-8")  # closed by stop()
        self._write({"event_name": "session_started", "session_id": self.session_id})
        return self.session_id

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        line = json.dumps(to_jsonable({**record, "timestamp": now(), "thread_id": threading.get_ident()}),
                          ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def log_chat_completion(self, invocation_id: Any, client_id: int, wrapper_id: int, source: Any,
                            request: dict[str, Any], response: Any, is_cached: int, cost: float,
                            start_time: str) -> None:
        self._write({"invocation_id": str(invocation_id), "client_id": client_id, "wrapper_id": wrapper_id,
                     "request": request, "response": response, "is_cached": is_cached, "cost": cost,
                     "start_time": start_time, "end_time": now(),
                     "source_name": source if isinstance(source, str) else getattr(source, "name", None)})

    def log_new_agent(self, agent: Any, init_args: dict[str, Any]) -> None:
        self._write({"id": id(agent), "agent_name": getattr(agent, "name", None), "session_id": self.session_id,
                     "agent_type": type(agent).__name__, "args": init_args})

    def log_event(self, source: Any, name: str, /, **kwargs: Any) -> None:
        self._write({"source_id": None if isinstance(source, str) else id(source),
                     "source_name": source if isinstance(source, str) else getattr(source, "name", None),
                     "event_name": name, "json_state": kwargs})

    def log_new_wrapper(self, wrapper: Any, init_args: dict[str, Any]) -> None:
        self._write({"wrapper_id": id(wrapper), "session_id": self.session_id, "json_state": init_args})

    def log_new_client(self, client: Any, wrapper: Any, init_args: dict[str, Any]) -> None:
        self._write({"client_id": id(client), "wrapper_id": id(wrapper), "session_id": self.session_id,
                     "class": type(client).__name__, "json_state": init_args})

    def log_function_use(self, source: Any, function: Callable[..., Any] | str, args: dict[str, Any],
                         returns: Any) -> None:
        name = function if isinstance(function, str) else getattr(function, "__name__", repr(function))
        self._write({"source_id": None if isinstance(source, str) else id(source),
                     "source_name": source if isinstance(source, str) else getattr(source, "name", None),
                     "agent_module": None, "function_name": name, "args": args, "returns": returns})

    def stop(self) -> None:
        if self._file is not None:
            with self._lock:
                self._file.close()
            self._file = None

    def get_connection(self) -> None:
        return None

"""Is run history on for the chat starting now? A tiny module: ``run_chat`` imports it for every chat.

The answer, first match wins:

1. ``AGENTNB_HISTORY=off`` (or ``0``/``false``/``no``): never record;
2. ``AGENTNB_HISTORY=on`` or a path: always record (a path names the database file);
3. :func:`record_history` scope (``%%agents`` and the builder's Run use it) or
   :func:`enable_history` in this process: record;
4. otherwise (plain Python): do not record.

``sqlite3`` and the recorder are imported only when a chat is recorded.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_OFF = ("off", "0", "false", "no")
_ON = ("on", "1", "true", "yes")

_scope: contextvars.ContextVar[bool | None] = contextvars.ContextVar("agentnb_history_scope", default=None)
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("agentnb_run_context",
                                                                               default=None)
_process: dict[str, Any] = {"enabled": None, "path": None}


def enable_history(enabled: bool = True, path: str | os.PathLike[str] | None = None) -> None:
    """Record every chat of this process (``enabled=False``: none, unless ``AGENTNB_HISTORY`` says so)."""
    _process["enabled"] = bool(enabled)
    _process["path"] = Path(path) if path is not None else None


@contextlib.contextmanager
def record_history(enabled: bool = True) -> Iterator[None]:
    """Chats started inside the block are recorded (unless ``AGENTNB_HISTORY=off``)."""
    token = _scope.set(enabled)
    try:
        yield
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def run_context(**info: Any) -> Iterator[None]:
    """Facts the recorder stores with the next chat: ``spec`` (JSON), ``label``, ``parent_run``, ``source``."""
    merged = dict(_context.get() or {}, **{k: v for k, v in info.items() if v is not None})
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get() or {})


def history_path() -> Path:
    """The database file: ``AGENTNB_HISTORY`` if it is a path, else :func:`enable_history`'s, else
    ``.agentnb/history.sqlite`` under the current directory."""
    env = os.environ.get("AGENTNB_HISTORY", "").strip()
    if env and env.lower() not in _OFF + _ON:
        return Path(env).expanduser()
    if _process["path"] is not None:
        return _process["path"]
    return Path.cwd() / ".agentnb" / "history.sqlite"


def history_wanted() -> bool:
    """Should the chat starting now be recorded? (Cheap: no imports, no file access.)"""
    env = os.environ.get("AGENTNB_HISTORY", "").strip().lower()
    if env in _OFF:
        return False
    if env:
        return True
    scoped = _scope.get()
    if scoped is not None:
        return scoped
    return bool(_process["enabled"])


def history_view(sender: Any, recipient: Any) -> contextlib.AbstractContextManager[Any]:
    """What ``run_chat`` enters around an outermost chat: nothing, or a recorder writing it to the history."""
    if not history_wanted():
        return contextlib.nullcontext()
    from ..messages import subscribe
    from .store import open_recorder

    context = current_context()
    if "spec" not in context:
        context.update(_spec_of(sender, recipient))
    return subscribe(open_recorder(history_path(), context))


def _spec_of(sender: Any, recipient: Any) -> dict[str, Any]:
    """The spec of a chat started from Python, when the agents can be described (for resume)."""
    try:
        from .dump import describe_team

        return {"spec": describe_team(sender, recipient).spec.to_json(indent=None)}
    except Exception:  # an agent a spec cannot describe: the run is recorded without a spec
        return {}

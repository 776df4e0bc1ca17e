"""The loopback guard: refuse model endpoints and sockets outside 127.0.0.0/8, ::1 and localhost.

The model-endpoint switch lives in :mod:`agentnb.llm.guard` (the runtime obeys it without
importing the test harness); it is re-exported here with the socket guard for tests.

:func:`guard_sockets` extends the switch to every socket of the process, whoever opens it (an
SDK, a library, a kernel client): one ``sys.addaudithook`` hook on the ``socket.connect`` audit
event, installed once (a test session's ``conftest.py`` calls it at import), and a no-op while
loopback-only mode is off. Nothing is patched.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from agentnb.errors import OutsideLoopbackError
from agentnb.llm.guard import check_loopback, is_loopback_host, loopback_only, loopback_required

__all__ = ["check_loopback", "guard_sockets", "install_socket_guard", "is_loopback_host", "loopback_only",
           "loopback_required"]

_hook_lock = threading.Lock()
_hook_installed = False


def guard_sockets() -> None:
    """Refuse socket connections outside loopback while loopback-only mode is on (process-wide, idempotent).

    An audit hook cannot be removed: switch the guard with :func:`loopback_only` or
    ``AGENTNB_LOOPBACK_ONLY=1`` rather than by installing and uninstalling it.
    """
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or not loopback_required():
        return
    sock, address = args
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        if not is_loopback_host(host):
            sock.close()  # callers such as socket.create_connection only close on OSError
            raise OutsideLoopbackError(f"refusing a socket connection to non-loopback host {host!r}")


def _guarded(original: Callable) -> Callable:
    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
            if not is_loopback_host(host):
                sock.close()  # callers such as socket.create_connection only close on OSError
                raise OutsideLoopbackError(f"refusing a socket connection to non-loopback host {host!r}")
        return original(sock, address)

    connect.__name__ = original.__name__
    return connect


def install_socket_guard(monkeypatch: Any) -> None:
    """Make ``socket.connect``/``connect_ex`` refuse non-loopback addresses (undone by ``monkeypatch``)."""
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _guarded(getattr(socket.socket, name)))

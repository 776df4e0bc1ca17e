"""The loopback guard: refuse model endpoints and sockets outside 127.0.0.0/8, ::1 and localhost.

The model-endpoint switch lives in :mod:`agentnb.llm.guard` (the runtime obeys it without
importing the test harness); it is re-exported here with the socket guard for tests.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from agentnb.errors import OutsideLoopbackError
from agentnb.llm.guard import check_loopback, is_loopback_host, loopback_only, loopback_required

__all__ = ["check_loopback", "install_socket_guard", "is_loopback_host", "loopback_only", "loopback_required"]


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

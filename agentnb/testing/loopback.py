"""The loopback guard: refuse model endpoints and sockets outside 127.0.0.0/8, ::1 and localhost."""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from agentnb.errors import OutsideLoopbackError

_loopback_only: contextvars.ContextVar[bool] = contextvars.ContextVar("agentnb_loopback_only", default=False)


def loopback_required() -> bool:
    """True inside :func:`loopback_only` or when ``AGENTNB_LOOPBACK_ONLY=1``."""
    return _loopback_only.get() or os.environ.get("AGENTNB_LOOPBACK_ONLY") == "1"


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Within this block, model clients refuse endpoints outside loopback (see :func:`check_loopback`)."""
    token = _loopback_only.set(True)
    try:
        yield
    finally:
        _loopback_only.reset(token)


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (also IPv4-mapped)."""
    if not host:
        return False
    host = host.strip("[]").split("%")[0].lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def check_loopback(url: str) -> None:
    """Raise :class:`OutsideLoopbackError` naming the host unless ``url`` points at loopback."""
    host = urlsplit(url if "://" in url else f"//{url}").hostname
    if not is_loopback_host(host):
        raise OutsideLoopbackError(
            f"refusing to reach host {host or '(none)'!r}: loopback-only mode (AGENTNB_LOOPBACK_ONLY=1 or "
            "agentnb.testing.loopback_only()) allows only 127.0.0.0/8, ::1 and localhost"
        )


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

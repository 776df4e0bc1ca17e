"""The loopback switch: in loopback-only mode no model call leaves 127.0.0.0/8, ::1 or localhost.

The switch lives with the model client that obeys it, so the runtime never looks at the test
harness. It is on inside :func:`loopback_only` (a context variable, as pydantic-ai's
``ALLOW_MODEL_REQUESTS``) or when ``AGENTNB_LOOPBACK_ONLY=1``; :mod:`agentnb.testing`
re-exports it for users' tests.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

from ..errors import OutsideLoopbackError

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

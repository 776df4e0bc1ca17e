"""AutoGen 0.2's ``autogen.io``: :class:`IOStream` (the protocol and its defaults) and :class:`IOConsole`.

``IOWebsockets`` (0.2's websocket stream) is not provided: agentnb's notebook panel is its browser front end.
"""

from __future__ import annotations

from .base import InputStream, IOStream, OutputStream
from .console import IOConsole

try:
    IOStream.get_global_default()
except RuntimeError:  # none set yet: the console
    IOStream.set_global_default(IOConsole())


def custom_iostream() -> IOStream | None:
    """The default IOStream when the user replaced the console with their own, else None."""
    stream = IOStream.get_default()
    return None if type(stream) is IOConsole else stream


__all__ = ["IOConsole", "IOStream", "InputStream", "OutputStream", "custom_iostream"]

"""AutoGen 0.2's ``IOStream``: where agent output goes and where human input comes from.

``IOStream.get_default()`` is the stream set with ``IOStream.set_default(stream)`` (a context manager,
scoped like a context variable: a chat started inside the block, and its tasks, use it), else the
global default (:class:`~agentnb.io.console.IOConsole` unless ``IOStream.set_global_default`` changed it).

agentnb's console view prints through it, so a custom stream receives the conversation::

    class Collect:
        def __init__(self): self.lines = []
        def print(self, *objects, sep=" ", end="\\n", flush=False): self.lines.append(sep.join(map(str, objects)))
        def input(self, prompt="", *, password=False): return ""

    with IOStream.set_default(Collect()):
        user.initiate_chat(assistant, message="Hi")
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any, ClassVar, Protocol, runtime_checkable


@runtime_checkable
class OutputStream(Protocol):
    def print(self, *objects: Any, sep: str = " ", end: str = "\n", flush: bool = False) -> None:
        """Print ``objects`` like the builtin ``print``."""
        ...  # pragma: no cover


@runtime_checkable
class InputStream(Protocol):
    def input(self, prompt: str = "", *, password: bool = False) -> str:
        """Read a line (hidden when ``password``)."""
        ...  # pragma: no cover


_default_io_stream: contextvars.ContextVar[Any] = contextvars.ContextVar("agentnb_iostream", default=None)


@runtime_checkable
class IOStream(InputStream, OutputStream, Protocol):
    """An input and output stream; see the module docstring for the defaults."""

    _global_default: ClassVar[Any] = None

    @staticmethod
    def set_global_default(stream: IOStream) -> None:
        """Use ``stream`` wherever no ``set_default`` block is active."""
        IOStream._global_default = stream

    @staticmethod
    def get_global_default() -> IOStream:
        if IOStream._global_default is None:
            raise RuntimeError("No global default IOStream has been set")
        return IOStream._global_default

    @staticmethod
    def get_default() -> IOStream:
        """The stream of the current context, else the global default."""
        stream = _default_io_stream.get()
        return stream if stream is not None else IOStream.get_global_default()

    @staticmethod
    @contextlib.contextmanager
    def set_default(stream: IOStream | None) -> Iterator[None]:
        """Use ``stream`` as the default inside the block (``None``: the global default)."""
        token = _default_io_stream.set(stream)
        try:
            yield
        finally:
            _default_io_stream.reset(token)


__all__ = ["IOStream", "InputStream", "OutputStream"]

"""``IOConsole``: the terminal as an :class:`~agentnb.io.base.IOStream` (``print`` and ``input``)."""

from __future__ import annotations

import getpass
from typing import Any

from .base import IOStream


class IOConsole(IOStream):
    """Prints to stdout and reads from stdin (``getpass`` for passwords)."""

    def print(self, *objects: Any, sep: str = " ", end: str = "\n", flush: bool = False) -> None:
        print(*objects, sep=sep, end=end, flush=flush)

    def input(self, prompt: str = "", *, password: bool = False) -> str:
        return getpass.getpass(prompt or "Password: ") if password else input(prompt)


__all__ = ["IOConsole"]

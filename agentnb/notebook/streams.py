"""A model reply streaming into a panel card: its tokens buffered, re-rendered at most once per interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


class TokenStream:
    """The tokens of one streamed reply so far, and the card (``widget``) they are shown in."""

    __slots__ = ("last_flush", "parts", "sender", "timer", "widget")

    def __init__(self, sender: str, widget: Any) -> None:
        self.sender = sender
        self.widget = widget
        self.parts: list[str] = []
        self.last_flush = float("-inf")
        self.timer: asyncio.TimerHandle | None = None

    def add(self, text: str, interval: float, flush: Callable[[TokenStream], None]) -> None:
        """Buffer ``text``; ``flush(self)`` now if ``interval`` has passed since the last flush, else once
        when it has (on the running loop; a blocked caller thread is flushed by a later token)."""
        self.parts.append(text)
        wait = self.last_flush + interval - time.monotonic()
        if wait <= 0:
            flush(self)
        elif self.timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self.timer = loop.call_later(wait, flush, self)

    def text(self) -> str:
        """Everything streamed so far (the parts are joined once, then kept joined)."""
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def flushed(self) -> None:
        self.cancel_timer()
        self.last_flush = time.monotonic()

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

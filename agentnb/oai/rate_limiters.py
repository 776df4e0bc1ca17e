"""AutoGen 0.2's ``autogen.oai.rate_limiters``: at most ``rate`` requests per second per config entry.

An ``OpenAIWrapper`` entry with ``"api_rate_limit": 2.0`` waits between its calls so that they start at
least half a second apart.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class RateLimiter(Protocol):
    def sleep(self, *args: object, **kwargs: object) -> None: ...  # pragma: no cover


class TimeRateLimiter:
    """Blocks in :meth:`sleep` until ``1 / rate`` seconds have passed since the previous call started."""

    def __init__(self, rate: float):
        if not rate > 0:
            raise ValueError(f"api_rate_limit must be a positive number of requests per second, not {rate!r}")
        self._time_interval_seconds = 1.0 / rate
        self._last_time_called = 0.0
        self._lock = threading.Lock()

    def sleep(self, *args: object, **kwargs: object) -> None:
        with self._lock:
            wait = self._last_time_called + self._time_interval_seconds - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_time_called = time.monotonic()


__all__ = ["RateLimiter", "TimeRateLimiter"]

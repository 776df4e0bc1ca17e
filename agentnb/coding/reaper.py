"""Kernel shutdowns off the caller's critical path: :func:`retire` now, :func:`drain_reaps` later.

A retired kernel stays recorded (:mod:`.kernel_process`) until its shutdown completes, so nothing
leaks: the atexit sweep kills it if the interpreter exits first, a shutdown cancelled by its loop
closing kills it synchronously, and the supervisor kills its tree if this process dies.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from .kernel_process import Kernel

REAP_DELAY = 0.05
"""Seconds a retired kernel waits before its shutdown starts (the caller has its result first)."""
MAX_PENDING_REAPS = 4
"""Beyond this many pending background shutdowns, :func:`reap_backlog` waits for them."""

_reaps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[asyncio.Task[Any]]] = weakref.WeakKeyDictionary()


def retire(kernel: Kernel) -> None:
    """Shut ``kernel`` down in the background, off the caller's critical path.

    :meth:`KernelPool.close` and :func:`drain_reaps` wait for it. Without a running loop it is
    killed right away.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        kernel.kill()
        return
    task = loop.create_task(_reap(kernel))
    pending = _reaps.setdefault(loop, set())
    pending.add(task)
    task.add_done_callback(_reaped)


async def _reap(kernel: Kernel) -> None:
    """Shut ``kernel`` down once the caller has had its result (the process walk takes milliseconds)."""
    try:
        await asyncio.sleep(REAP_DELAY)
    except asyncio.CancelledError:
        kernel.kill()
        raise
    await kernel.shutdown()


def _reaped(task: asyncio.Task[Any]) -> None:
    _reaps.get(task.get_loop(), set()).discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failed shutdown already fell back to kill()


def pending_reaps() -> int:
    """Background shutdowns not finished yet on the running loop."""
    return len(_reaps.get(asyncio.get_running_loop(), ()))


async def drain_reaps() -> None:
    """Wait until every background shutdown started on the running loop has finished."""
    pending = _reaps.get(asyncio.get_running_loop(), set())
    while live := [task for task in pending if not task.done()]:
        await asyncio.shield(asyncio.gather(*live, return_exceptions=True))


async def reap_backlog() -> None:
    """Bound the background work: beyond :data:`MAX_PENDING_REAPS` pending shutdowns, wait for them first."""
    if pending_reaps() > MAX_PENDING_REAPS:
        await drain_reaps()

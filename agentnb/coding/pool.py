"""Warm Jupyter kernels: started ahead of need, handed out once, always shut down.

A :class:`KernelPool` keeps ``size`` started, warmed-up kernels (helpers loaded, matplotlib
pre-imported and its fonts rendered once) and refills in the background after each
:meth:`KernelPool.acquire`. Kernels themselves (start, bind, shutdown, the atexit sweep) are in
:mod:`.kernel_process`; background shutdowns in :mod:`.reaper`.

    pool = KernelPool(size=2)
    kernel = await pool.acquire()       # instant when one is ready
    await kernel.bind("coding", {})     # chdir + env, before the first block
    ...
    await kernel.shutdown(); await pool.close()
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

from ..errors import ConfigError, ExecutionError
from .kernel_helper import HELPER_SOURCE
from .kernel_process import Kernel, kill_all_kernels, live_kernel_count, start_kernel
from .reaper import drain_reaps, pending_reaps, reap_backlog, retire

POOL_SIZE_ENV = "AGENTNB_KERNEL_POOL"
PREIMPORTS_ENV = "AGENTNB_KERNEL_PREIMPORTS"
DEFAULT_PREIMPORTS = ("matplotlib",)


def preimports_from_env() -> tuple[str, ...]:
    """Modules warm pool kernels import ahead of need: ``AGENTNB_KERNEL_PREIMPORTS`` (comma-separated;
    empty or ``none`` for nothing), default ``matplotlib`` (pyplot imported and one figure rendered)."""
    raw = os.environ.get(PREIMPORTS_ENV)
    if raw is None:
        return DEFAULT_PREIMPORTS
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    return () if names in ((), ("none",)) else names


class KernelPool:
    """Keeps ``size`` warm kernels of ``kernel_name`` ready; ``size=0`` starts each on demand.

    A pool kernel imports ``preload`` (default: :func:`preimports_from_env`) after it answers, unless a
    caller is already waiting for it: then it is handed out as soon as it answers, like a raw kernel.
    A pool belongs to the event loop it is first used on. Kernels it hands out belong to the caller,
    who shuts them down (:meth:`Kernel.shutdown`, or :func:`retire` off the critical path).
    """

    def __init__(self, size: int = 1, *, kernel_name: str = "python3",
                 preload: tuple[str, ...] | None = None, env: dict[str, str] | None = None):
        if size < 0:
            raise ConfigError("size must be >= 0")
        self.size = size
        self.kernel_name = kernel_name
        self.preload = preimports_from_env() if preload is None else tuple(preload)
        self.env = dict(env or {})
        self._ready: list[Kernel] = []
        self._starting: set[asyncio.Task[Any]] = set()
        self._waiters = 0
        self._closed = False
        self._finalizer = weakref.finalize(self, _kill_list, self._ready)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: :meth:`acquire` refuses, nothing is started any more."""
        return self._closed

    @property
    def ready(self) -> int:
        """Started kernels waiting to be handed out."""
        return len(self._ready)

    @property
    def starting(self) -> int:
        """Kernels on their way (starting, or warming up)."""
        return len(self._starting)

    async def _start_one(self, warm: bool = True) -> Kernel:
        kernel = await start_kernel(self.kernel_name, env=self.env)
        if warm and not self._waiters:
            try:
                await kernel.warm(self.preload)
            except BaseException:
                await asyncio.shield(kernel.shutdown())
                raise
        return kernel

    def fill(self, *, warm: bool = True) -> None:
        """Start kernels in the background until ``size`` are ready or starting (``warm=False``: no
        pre-imports, for a kernel about to be used)."""
        if self._closed:
            return
        while len(self._ready) + len(self._starting) < self.size:
            task = asyncio.ensure_future(self._start_one(warm))
            self._starting.add(task)
            task.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[Any]) -> None:
        self._starting.discard(task)
        if task.cancelled() or task.exception() is not None:
            return
        kernel = task.result()
        if self._closed:
            stopping = asyncio.ensure_future(kernel.shutdown())
            self._starting.add(stopping)
            stopping.add_done_callback(self._starting.discard)
        else:
            self._ready.append(kernel)

    async def _take_ready(self) -> Kernel | None:
        while self._ready:
            candidate = self._ready.pop(0)
            if await candidate.is_alive() and not candidate.holds_secret():
                return candidate
            retire(candidate)
        return None

    async def acquire(self) -> Kernel:
        """A started kernel for the caller to keep; refills the pool in the background."""
        if self._closed:
            raise ExecutionError("this KernelPool is closed")
        await reap_backlog()
        kernel = await self._take_ready()
        self._waiters += 1
        try:
            while kernel is None and self._starting:
                # a kernel already on its way is sooner than a new one
                await asyncio.wait(set(self._starting), return_when=asyncio.FIRST_COMPLETED)
                await asyncio.sleep(0)
                kernel = await self._take_ready()
        finally:
            self._waiters -= 1
        if kernel is None:
            kernel = await self._start_one(warm=False)
        self.fill()
        return kernel

    async def close(self) -> None:
        """Shut down ready kernels, any still starting and this loop's background shutdowns; idempotent."""
        self._closed = True
        starting = list(self._starting)
        for task in starting:
            task.cancel()
        if starting:
            await asyncio.gather(*starting, return_exceptions=True)
        kernels, self._ready[:] = list(self._ready), []
        if kernels:
            await asyncio.shield(asyncio.gather(*(k.shutdown() for k in kernels), return_exceptions=True))
        await drain_reaps()

    async def __aenter__(self) -> KernelPool:
        self.fill()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _kill_list(kernels: list[Kernel]) -> None:
    for kernel in list(kernels):
        kernel.kill()


_default_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, KernelPool]] = (
    weakref.WeakKeyDictionary()
)


def default_pool(kernel_name: str = "python3") -> KernelPool:
    """The process-wide pool of the running event loop (size from ``AGENTNB_KERNEL_POOL``, default 1)."""
    loop = asyncio.get_running_loop()
    pools = _default_pools.setdefault(loop, {})
    pool = pools.get(kernel_name)
    if pool is None or pool.closed:
        try:
            size = int(os.environ.get(POOL_SIZE_ENV, "1"))
        except ValueError:
            size = 1
        pool = pools[kernel_name] = KernelPool(max(size, 0), kernel_name=kernel_name)
    return pool


def default_pools() -> list[KernelPool]:
    """The default pools of the running event loop (one per kernel name), for closing them with it."""
    return list(_default_pools.get(asyncio.get_running_loop(), {}).values())


def prestart_kernel(config: Any) -> None:
    """A chat is starting with an agent whose ``code_execution_config`` is ``config``: if that means a
    kernel from the default pool, start it now (no pre-imports) so its start overlaps the first model
    call. Does nothing for other executors, for ``AGENTNB_KERNEL_POOL=0``, or when one is already warm."""
    if not isinstance(config, dict) or config.get("use_docker"):
        return
    from . import _KERNEL_NAMES

    executor = config.get("executor", "jupyter")
    if not isinstance(executor, str) or executor.lower() not in _KERNEL_NAMES or isinstance(config.get(executor), dict):
        return
    kernel_name = config.get("kernel_name", "python3")
    if isinstance(kernel_name, str):
        default_pool(kernel_name).fill(warm=False)


__all__ = [  # the kernel and reaper names are re-exported: ``agentnb.coding.pool`` was their home
    "DEFAULT_PREIMPORTS",
    "HELPER_SOURCE",
    "POOL_SIZE_ENV",
    "PREIMPORTS_ENV",
    "Kernel",
    "KernelPool",
    "default_pool",
    "default_pools",
    "drain_reaps",
    "kill_all_kernels",
    "live_kernel_count",
    "pending_reaps",
    "preimports_from_env",
    "prestart_kernel",
    "retire",
    "start_kernel",
]

"""Warm Jupyter kernels: started ahead of need, handed out once, always shut down.

A :class:`KernelPool` keeps ``size`` started, warmed-up kernels (helpers loaded,
matplotlib pre-imported and its fonts rendered once) and refills in the
background after each :meth:`KernelPool.acquire`. Every kernel started here is
recorded until it is shut down; a lazily registered ``atexit`` sweep kills
whatever is left, so no kernel outlives the Python process.

    pool = KernelPool(size=2)
    kernel = await pool.acquire()       # instant when one is ready
    await kernel.bind("coding", {})     # chdir + env, before the first block
    ...
    await kernel.shutdown(); await pool.close()
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import os
import signal
import tempfile
import threading
import uuid
import weakref
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from ..errors import contains_secret
from . import proctree
from .base import execution_env

POOL_SIZE_ENV = "AGENTNB_KERNEL_POOL"

# Loaded into every Python kernel as the module ``__agentnb__`` (kept out of the user namespace).
HELPER_SOURCE = r'''
import os, sys
last_rc = 0

def bind(work_dir, env, neutral):
    os.chdir(work_dir)
    sys.path[:] = [p for p in sys.path if p not in ("", neutral)]
    sys.path.insert(0, work_dir)
    os.environ.update(env)
    try:
        sh = get_ipython()
        sh.user_ns["_dh"][:] = [work_dir]
    except Exception:
        pass

def harden():
    """Send outputs holding lone surrogates with U+FFFD instead of failing in the iopub thread."""
    import re
    from ipykernel.kernelapp import IPKernelApp
    bad = re.compile("[\ud800-\udfff]")

    def scrub(v):
        if isinstance(v, str):
            return bad.sub("\ufffd", v)
        if isinstance(v, dict):
            return {scrub(k): scrub(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [scrub(x) for x in v]
        return v

    session = IPKernelApp.instance().session
    original = session.pack

    def pack(obj):
        try:
            return original(obj)
        except UnicodeEncodeError:
            return original(scrub(obj))

    session.pack = pack

def warm(preload):
    for name in preload:
        try:
            __import__(name)
        except Exception:
            continue
        if name == "matplotlib":
            _warm_matplotlib()

def _warm_matplotlib():
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import print_figure
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="warm")
    ax.set_title("warm"); ax.legend()
    print_figure(fig, "png", bbox_inches="tight")
    plt.close(fig)

def run_sh(code):
    """Run ``code`` with bash in the kernel's cwd, streaming stdout/stderr; return when bash exits.

    Background jobs (``cmd &``) may keep the pipes open: once bash has exited, what is already in the
    pipes is shown and a thread drains (and drops) the rest, so such a job runs on unharmed (no
    SIGPIPE) until the kernel shuts down, without holding up the block.
    """
    global last_rc
    import codecs, selectors, subprocess, threading, time
    p = subprocess.Popen(["bash", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    sel = selectors.DefaultSelector()
    for pipe, out in ((p.stdout, sys.stdout), (p.stderr, sys.stderr)):
        sel.register(pipe, selectors.EVENT_READ, (out, codecs.getincrementaldecoder("utf-8")("replace")))
    try:
        pidfd = os.pidfd_open(p.pid)
    except (AttributeError, OSError):
        pidfd = None  # no pidfd: notice bash's exit by polling
    else:
        sel.register(pidfd, selectors.EVENT_READ, None)
    handed_over = False
    try:
        exited_at = None
        while len(sel.get_map()) > (pidfd is not None):
            if exited_at is None and p.poll() is not None:
                exited_at = time.monotonic()
            if exited_at is not None and time.monotonic() - exited_at > 0.2:
                break  # a background job keeps writing: the block is over all the same
            timeout = 0 if exited_at is not None else (None if pidfd is not None else 0.05)
            ready = sel.select(timeout)
            if not ready and exited_at is not None:
                break  # bash is gone and nothing more is waiting in the pipes
            for key, _ in ready:
                if key.data is None:  # the pidfd: bash exited
                    sel.unregister(key.fileobj)
                    os.close(pidfd)
                    pidfd = None
                    continue
                out, dec = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    out.write(dec.decode(b"", final=True))
                    key.fileobj.close()
                    continue
                out.write(dec.decode(chunk))
                out.flush()
        last_rc = p.wait()
        rest = [key.fileobj for key in sel.get_map().values() if key.data is not None]
        for key in list(sel.get_map().values()):
            if key.data is not None:
                out, dec = key.data
                out.write(dec.decode(b"", final=True))
        if rest:
            threading.Thread(target=_drain, args=(rest,), daemon=True, name="agentnb-sh-drain").start()
            handed_over = True
    except BaseException:
        p.kill()
        p.wait()
        last_rc = p.returncode
        raise
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
        if not handed_over:
            for pipe in (p.stdout, p.stderr):
                pipe.close()

def _drain(pipes):
    """Read and drop what background jobs of a finished shell block still write, until they exit."""
    import selectors
    sel = selectors.DefaultSelector()
    for pipe in pipes:
        sel.register(pipe, selectors.EVENT_READ)
    try:
        while sel.get_map():
            for key, _ in sel.select():
                if not os.read(key.fd, 65536):
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
    finally:
        sel.close()
'''

_LOAD_HELPERS = (
    "import sys as _s, types as _t\n"
    "_m = _t.ModuleType('__agentnb__'); exec({src!r}, _m.__dict__); _s.modules['__agentnb__'] = _m\n"
    "_m.harden(); del _s, _t, _m\n"
)
PREIMPORTS_ENV = "AGENTNB_KERNEL_PREIMPORTS"
DEFAULT_PREIMPORTS = ("matplotlib",)
_REAP_DELAY = 0.05  # seconds a retired kernel waits before its shutdown starts
_MAX_PENDING_REAPS = 4  # acquire() waits for older background shutdowns beyond this many


def preimports_from_env() -> tuple[str, ...]:
    """Modules warm pool kernels import ahead of need: ``AGENTNB_KERNEL_PREIMPORTS`` (comma-separated;
    empty or ``none`` for nothing), default ``matplotlib`` (pyplot imported and one figure rendered)."""
    raw = os.environ.get(PREIMPORTS_ENV)
    if raw is None:
        return DEFAULT_PREIMPORTS
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    return () if names in ((), ("none",)) else names

_live: set[Kernel] = set()
_live_lock = threading.Lock()
_atexit_registered = False


class _SupervisedKernelManager(AsyncKernelManager):
    """Starts the kernel under :mod:`agentnb.coding.launcher` (Linux) so its process tree dies with us."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return proctree.supervised(super().format_kernel_cmd(extra_arguments))


class Kernel:
    """One started kernel: its manager, a connected client, and whether helpers are loaded.

    ``pid`` is the process agentnb started: the launcher on Linux, which owns the kernel's process tree.
    """

    def __init__(self, km: AsyncKernelManager, kc: AsyncKernelClient, language: str, neutral_dir: str,
                 env: dict[str, str] | None = None):
        self.km = km
        self.kc = kc
        self.language = language
        self.neutral_dir = neutral_dir
        self.env = dict(env or {})
        """The environment the kernel process was started with (checked for keys registered later)."""
        process = getattr(km.provisioner, "process", None)  # the local provisioner's Popen (not on the base class)
        self.pid = process.pid if process else None
        self.supervised = proctree.supervision_enabled()
        self._closed = False

    def holds_secret(self) -> bool:
        """True if the kernel's start environment holds a key registered for redaction since then."""
        return any(contains_secret(value) for value in self.env.values())

    def _process(self) -> Any:
        return getattr(self.km.provisioner, "process", None) if self.km.provisioner else None

    @property
    def helpers(self) -> bool:
        return self.language == "python"

    async def is_alive(self) -> bool:
        return not self._closed and await self.km.is_alive()

    def exit_code(self) -> int | None:
        proc = getattr(self.km.provisioner, "process", None)
        return proc.poll() if proc is not None else None

    async def run_silent(self, code: str, timeout: float = 60, *, silent: bool = True) -> dict[str, Any]:
        """Execute ``code`` silently (no history; ``silent=False``: a visible no-history run) and return
        the execute_reply content."""
        msg_id = self.kc.execute(code, silent=silent, store_history=False, allow_stdin=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                reply = await self.kc.get_shell_msg(timeout=0.5)
            except Exception:  # queue.Empty
                if loop.time() > deadline or not await self.km.is_alive():
                    raise RuntimeError(f"kernel did not run its setup code: {code[:60]!r}") from None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                content: dict[str, Any] = reply["content"]
                return content

    async def bind(self, work_dir: str, env: dict[str, str]) -> None:
        """Move the kernel into ``work_dir`` and add ``env`` to its environment."""
        if self.helpers:
            code = f"__import__('__agentnb__').bind({work_dir!r}, {dict(env)!r}, {self.neutral_dir!r})"
            content = await self.run_silent(code)
            if content.get("status") != "ok":
                raise RuntimeError(f"could not bind kernel to {work_dir}: {content.get('evalue')}")

    async def warm(self, preload: tuple[str, ...]) -> bool:
        """Import ``preload`` in the kernel (matplotlib: render one figure) and run one visible no-op, so
        the first real block does not pay IPython's first-run costs (~2 ms); True if it ran cleanly."""
        if not self.helpers:
            return True
        ok = True
        if preload:
            content = await self.run_silent(f"__import__('__agentnb__').warm({tuple(preload)!r})", timeout=120)
            ok = content.get("status") == "ok"
        await self.run_silent("pass", silent=False)
        return ok

    async def shutdown(self) -> None:
        """Stop the kernel and reap its process group; idempotent. Cancelled midway (its event loop
        closing), it finishes with the synchronous :meth:`kill`: a kernel never outlives its shutdown."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._shutdown()
        except BaseException:
            self.kill()
            raise

    async def _shutdown(self) -> None:
        tree = proctree.snapshot(self.pid)  # before anything dies: orphans are still descendants now
        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        proc = self._process()
        if self.supervised and proctree.ask_supervisor_to_stop(proc):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while proc.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.01)
        try:
            await self.km.shutdown_kernel(now=True)
        except Exception:
            self.kill()
        proctree.kill_procs(tree)
        self._remove_ipc_files()
        _forget(self)

    def kill(self) -> None:
        """Synchronous last resort (atexit, finalizers, a cancelled shutdown): SIGKILL the process group."""
        self._closed = True
        if self not in _live:
            return  # already shut down completely
        proc = self._process()
        tree = proctree.snapshot(self.pid)
        if self.supervised and proctree.ask_supervisor_to_stop(proc):
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
        if proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(timeout=5)
        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        with contextlib.suppress(Exception):
            self.km.cleanup_connection_file()
        proctree.kill_procs(tree)
        self._remove_ipc_files()
        _forget(self)

    def _remove_ipc_files(self) -> None:
        if self.km.transport == "ipc":
            for path in glob.glob(glob.escape(self.km.ip) + "-*"):
                with contextlib.suppress(OSError):
                    os.remove(path)


def _remember(kernel: Kernel) -> None:
    global _atexit_registered
    with _live_lock:
        _live.add(kernel)
        if not _atexit_registered:
            atexit.register(kill_all_kernels)
            _atexit_registered = True


def _forget(kernel: Kernel) -> None:
    with _live_lock:
        _live.discard(kernel)


def kill_all_kernels() -> None:
    """Kill every kernel this process started and has not shut down (the atexit sweep)."""
    with _live_lock:
        kernels = list(_live)
    for kernel in kernels:
        kernel.kill()


def live_kernel_count() -> int:
    with _live_lock:
        return len(_live)


async def start_kernel(kernel_name: str = "python3", *, cwd: str | None = None,
                       env: dict[str, str] | None = None, preload: tuple[str, ...] = (),
                       startup_timeout: float = 60) -> Kernel:
    """Start one kernel, wait until it answers, load the helpers (Python kernels), then import ``preload``.

    The helpers are small (one module exec'd from source); pre-imports are what takes time, so the
    on-demand path passes none and a kernel answers its first block as soon as a raw one would.
    """
    proctree.make_undumpable()  # before any kernel exists: none may read our environ or memory
    neutral = tempfile.gettempdir()
    # IPC (unix sockets) with an absolute path: no TCP ports, no plain-TCP warning from ipykernel
    ipc = os.path.join(neutral, f"agentnb-{uuid.uuid4().hex[:12]}-ipc")
    km = _SupervisedKernelManager(kernel_name=kernel_name, transport="ipc", ip=ipc)
    full_env = execution_env({"PYDEVD_DISABLE_FILE_VALIDATION": "1", **(env or {})})
    full_env.pop("JPY_PARENT_PID", None)
    try:
        await km.start_kernel(cwd=cwd or neutral, env=full_env)
    except BaseException:  # cancelled or failed after the process was spawned: it must not outlive this
        _kill_unfinished(km)
        raise
    kc = km.client()
    kernel = Kernel(km, kc, (km.kernel_spec.language or "").lower() if km.kernel_spec else "", neutral, full_env)
    _remember(kernel)
    try:
        kc.start_channels()
        await kc.wait_for_ready(timeout=startup_timeout)
        if kernel.helpers:
            content = await kernel.run_silent(_LOAD_HELPERS.format(src=HELPER_SOURCE))
            if content.get("status") != "ok":
                raise RuntimeError(f"kernel helpers failed to load: {content.get('evalue')}")
            if preload:
                await kernel.warm(preload)  # a module that fails to import is skipped, as before
    except BaseException:
        await asyncio.shield(kernel.shutdown())
        raise
    return kernel


def _kill_unfinished(km: AsyncKernelManager) -> None:
    proc = getattr(km.provisioner, "process", None) if km.provisioner else None
    if proc is None:
        return
    tree = proctree.snapshot(proc.pid)
    if proctree.ask_supervisor_to_stop(proc):
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
    with contextlib.suppress(Exception):
        proc.kill()
        proc.wait(timeout=5)
    proctree.kill_procs(tree)
    with contextlib.suppress(Exception):
        km.cleanup_connection_file()


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
            raise ValueError("size must be >= 0")
        self.size = size
        self.kernel_name = kernel_name
        self.preload = preimports_from_env() if preload is None else tuple(preload)
        self.env = dict(env or {})
        self._ready: list[Kernel] = []
        self._starting: set[asyncio.Task[Any]] = set()
        self._waiters = 0
        self._closed = False
        self._finalizer = weakref.finalize(self, _kill_list, self._ready)

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
            raise RuntimeError("this KernelPool is closed")
        await _reap_backlog()
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


_reaps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[asyncio.Task[Any]]] = weakref.WeakKeyDictionary()


def retire(kernel: Kernel) -> None:
    """Shut ``kernel`` down in the background, off the caller's critical path.

    Nothing leaks: the kernel stays recorded until its shutdown completes, so the atexit sweep kills
    it if the interpreter exits first; a shutdown cancelled by its loop closing kills it synchronously;
    :meth:`KernelPool.close` and :func:`drain_reaps` wait for it; and the supervisor kills the kernel's
    tree if this process dies (SIGKILL included). Without a running loop it is killed right away.
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
        await asyncio.sleep(_REAP_DELAY)
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


async def _reap_backlog() -> None:
    """Bound the background work: beyond a few pending shutdowns, wait for them first."""
    if pending_reaps() > _MAX_PENDING_REAPS:
        await drain_reaps()


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
    if pool is None or pool._closed:
        try:
            size = int(os.environ.get(POOL_SIZE_ENV, "1"))
        except ValueError:
            size = 1
        pool = pools[kernel_name] = KernelPool(max(size, 0), kernel_name=kernel_name)
    return pool

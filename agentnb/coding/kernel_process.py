"""One started Jupyter kernel: its process, its client, and the guarantee that it never outlives us.

:func:`start_kernel` starts a kernel under :mod:`agentnb.coding.launcher` (Linux: its process tree
dies with ours), waits until it answers and loads the helpers (:mod:`.kernel_helper`). Every kernel
started here is recorded until it is shut down; a lazily registered ``atexit`` sweep kills whatever
is left.

    kernel = await start_kernel("python3", cwd="coding")
    await kernel.bind("coding", {"KEY": "value"})
    ...
    await kernel.shutdown()
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
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from ..errors import ExecutionError, KernelDiedError, contains_secret
from . import proctree
from .base import execution_env
from .kernel_helper import load_code

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
        process = self._process()
        self.pid = process.pid if process else None
        self.supervised = proctree.supervision_enabled()
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` or :meth:`kill` has begun: the kernel must not be used."""
        return self._closed

    def holds_secret(self) -> bool:
        """True if the kernel's start environment holds a key registered for redaction since then."""
        return any(contains_secret(value) for value in self.env.values())

    def _process(self) -> Any:
        # the local provisioner's Popen (not on the provisioner base class)
        return getattr(self.km.provisioner, "process", None) if self.km.provisioner else None

    @property
    def helpers(self) -> bool:
        return self.language == "python"

    async def is_alive(self) -> bool:
        return not self._closed and await self.km.is_alive()

    def exit_code(self) -> int | None:
        proc = self._process()
        return proc.poll() if proc is not None else None

    async def interrupt(self) -> None:
        """Interrupt the running cell (SIGINT, or the kernel's interrupt mode)."""
        await self.km.interrupt_kernel()

    async def run_silent(self, code: str, timeout: float = 60, *, silent: bool = True) -> dict[str, Any]:
        """Execute ``code`` silently (no history; ``silent=False``: a visible no-history run) and return
        the execute_reply content. Raises :class:`KernelDiedError` if the kernel dies first,
        :class:`ExecutionError` if it does not answer within ``timeout`` seconds."""
        msg_id = self.kc.execute(code, silent=silent, store_history=False, allow_stdin=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                reply = await self.kc.get_shell_msg(timeout=0.5)
            except Exception:  # queue.Empty
                if not await self.km.is_alive():
                    raise KernelDiedError(f"the kernel died (exit code {self.exit_code()}) before it ran "
                                          f"its setup code {code[:60]!r}") from None
                if loop.time() > deadline:
                    raise ExecutionError(f"the kernel did not run its setup code {code[:60]!r} "
                                         f"within {timeout:g} s") from None
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
                raise ExecutionError(f"could not bind the kernel to {work_dir}: {content.get('evalue')}")

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
        self._close_client()
        proc = self._process()
        if self.supervised and proctree.ask_supervisor_to_stop(proc):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while proc.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.01)
        try:
            await self.km.shutdown_kernel(now=True)  # also closes the manager's control socket and context
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
        self._close_client()
        _release(self.km)
        proctree.kill_procs(tree)
        self._remove_ipc_files()
        _forget(self)

    def _close_client(self) -> None:
        """Close the client's channels and the zmq context the client created for them."""
        with contextlib.suppress(Exception):
            self.kc.stop_channels()

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
        try:
            await kc.wait_for_ready(timeout=startup_timeout)
        except RuntimeError as exc:  # jupyter_client's "Kernel died before replying to kernel_info"
            if not await km.is_alive():
                raise KernelDiedError(f"the {kernel_name} kernel died while starting: {exc}") from None
            raise ExecutionError(f"the {kernel_name} kernel did not answer within {startup_timeout:g} s") from None
        if kernel.helpers:
            content = await kernel.run_silent(load_code())
            if content.get("status") != "ok":
                raise ExecutionError(f"the kernel could not load agentnb's helpers: {content.get('evalue')}")
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
    _release(km)


def _release(km: AsyncKernelManager) -> None:
    """Synchronously free what a manager holds after its kernel was killed: the connection and IPC
    files, and its zmq context with every socket in it (``shutdown_kernel`` does this when it can run)."""
    with contextlib.suppress(Exception):
        km.cleanup_connection_file()
        km.cleanup_ipc_files()
    if not km.context.closed:
        km.context.destroy(linger=0)

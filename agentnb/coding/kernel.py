"""Run code blocks in a dedicated Jupyter kernel (``jupyter_client``), streaming MIME outputs.

    async with KernelExecutor(work_dir="coding") as ex:
        await ex.a_execute(CodeBlock("x = 21"))
        result = await ex.a_execute(CodeBlock("x * 2"), on_output=print)
        result.output   # '42'

Kernels come from :mod:`.pool` (started by :mod:`.kernel_process`); each block's iopub messages are
collected by :mod:`.iopub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import weakref
from typing import Any

from ..errors import KernelDiedError
from .base import BoundedText, CodeBlock, CodeExecutor, CodeResult, OutputCallback, shielded
from .iopub import (
    EXIT_NOTE,
    MAX_IMAGE_CHARS,
    OutputCollector,
    OutputFiles,
    asked_to_exit,
    cap_bundle,
    cap_text,
    cap_traceback,
    png_size,
    strip_ansi,
)
from .kernel_helper import SH_RC_EXPRESSIONS, run_sh_code
from .kernel_process import Kernel, start_kernel
from .pool import KernelPool, default_pool, prestart_kernel
from .reaper import retire

_POLL = 0.3  # seconds between liveness checks while waiting on the kernel
_INTERRUPT_GRACE = 10.0  # seconds a cell may take to stop after an interrupt


class KernelExecutor(CodeExecutor):
    """Runs Python (and ``sh`` via bash) blocks in a dedicated Jupyter kernel that keeps state.

    Outputs stream to ``on_output`` as nbformat dicts, their text capped at ``max_display_chars``
    (oversized images become a note); the model gets a concise summary (images saved under
    ``work_dir``). Timeouts interrupt the cell and keep state; a dead kernel, or one the code
    ``exit()``-ed, is replaced and reported. Kernels come warm from ``pool`` (default: a shared pool).
    """

    name = "jupyter-kernel"

    def __init__(self, work_dir: str | os.PathLike[str] = "coding", *, kernel_name: str = "python3",
                 timeout: float = 60, env: dict[str, str] | None = None, max_output_chars: int = 20_000,
                 max_display_chars: int = 1_000_000, pool: KernelPool | None = None):
        self.work_dir = os.path.abspath(os.fspath(work_dir))
        self.kernel_name = kernel_name
        self.timeout = timeout
        self.env = dict(env or {})
        self.max_output_chars = max_output_chars
        self.max_display_chars = max_display_chars
        self.pool = pool
        self._kernel: Kernel | None = None
        self._lock: asyncio.Lock | None = None
        self._files = OutputFiles(self.work_dir)
        """Saved image outputs; work_dir's real path is resolved once, before model code runs there."""
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._abandoned: str | None = None

    @property
    def kernel(self) -> Kernel | None:
        return self._kernel

    # -- lifecycle -------------------------------------------------------------------------
    async def _new_kernel(self) -> Kernel:
        os.makedirs(self.work_dir, exist_ok=True)
        self._files.pin()
        pool = self.pool if self.pool is not None else default_pool(self.kernel_name)
        if pool.kernel_name == self.kernel_name:
            kernel = await pool.acquire()
            if kernel.helpers:
                try:
                    await kernel.bind(self.work_dir, self.env)
                except BaseException:
                    await asyncio.shield(kernel.shutdown())
                    raise
                return kernel
            retire(kernel)  # cannot chdir a non-Python kernel: start one in place
        return await start_kernel(self.kernel_name, cwd=self.work_dir, env=self.env)

    async def a_start(self) -> None:
        if self._kernel is None:
            self._kernel = await self._new_kernel()
            if self._finalizer is not None:
                self._finalizer.detach()
            self._finalizer = weakref.finalize(self, self._kernel.kill)

    def _give_up_kernel(self) -> Kernel | None:
        kernel, self._kernel, self._abandoned = self._kernel, None, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        return kernel

    async def _drop_kernel(self) -> None:
        kernel = self._give_up_kernel()
        if kernel is not None:
            await shielded(kernel.shutdown())

    async def a_close(self) -> None:
        await self._drop_kernel()

    def close_in_background(self) -> None:
        """Give the kernel up now and shut it down off the caller's critical path (:func:`reaper.retire`:
        recorded until gone, killed at exit, awaited by :meth:`KernelPool.close`). Needs a running loop
        for the background part; without one the kernel is killed synchronously."""
        kernel = self._give_up_kernel()
        if kernel is not None:
            retire(kernel)

    async def a_restart(self) -> None:
        await self._drop_kernel()
        await self.a_start()

    async def a_interrupt(self) -> None:
        if self._kernel is not None:
            await self._kernel.interrupt()

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- execution ---------------------------------------------------------------------------
    async def a_execute(self, block: CodeBlock, *, on_output: OutputCallback | None = None,
                        timeout: float | None = None) -> CodeResult:
        if block.language not in self.languages:
            return self.unsupported(block)
        async with self._get_lock():
            await self.a_start()
            assert self._kernel is not None
            note = ""
            if not await self._kernel.is_alive():
                code = self._kernel.exit_code()
                await self.a_restart()
                note = (f"Note: the kernel had died (exit code {code}); it was restarted and "
                        "all variables were lost.\n")
            collector = OutputCollector(on_output, max_output_chars=self.max_output_chars,
                                        max_display_chars=self.max_display_chars, save_file=self._files.save)
            try:
                result = await self._run(block, collector, self.timeout if timeout is None else timeout)
            except (KernelDiedError, TimeoutError) as lost:  # died, or ignored the interrupt: a new kernel
                await self.a_restart()
                result = collector.lost(lost)
            if note:
                result.output = note + result.output
            return result

    async def _run(self, block: CodeBlock, collector: OutputCollector, timeout: float) -> CodeResult:
        """Run ``block``, collecting its iopub messages until the kernel is idle. Raises
        :class:`KernelDiedError` if the kernel dies meanwhile, ``TimeoutError`` if it ignores the
        interrupt sent at ``timeout`` (the caller replaces the kernel)."""
        kernel = self._kernel
        assert kernel is not None
        kc = kernel.kc
        sh = block.language == "sh"
        if sh and not kernel.helpers:
            return self.unsupported(block)
        code = run_sh_code(block.code) if sh else block.code
        if self._abandoned is not None:
            abandoned, self._abandoned = self._abandoned, None
            await self._shell_reply(kernel, abandoned, wait=_INTERRUPT_GRACE)
        loop = asyncio.get_running_loop()
        # stop_on_error=False: an interrupted or failing cell must not make the kernel abort the requests
        # queued behind it (ipykernel does so by default, which silently dropped the next block)
        msg_id = kc.execute(code, store_history=not sh, allow_stdin=False, stop_on_error=False,
                            user_expressions=dict(SH_RC_EXPRESSIONS) if sh else None)
        deadline = loop.time() + timeout
        timed_out = False
        try:
            while True:  # iopub until our status: idle
                try:
                    msg = await kc.get_iopub_msg(timeout=max(0.0, min(_POLL, deadline - loop.time())))
                except queue.Empty:
                    if not await kernel.is_alive():
                        raise KernelDiedError(f"the kernel died while running this code (exit code "
                                              f"{kernel.exit_code()}); it was restarted and all variables "
                                              "were lost.") from None
                    if loop.time() >= deadline:
                        if timed_out:
                            raise TimeoutError(f"code execution exceeded {timeout:g} s and the cell ignored "
                                               "the interrupt; the kernel was restarted and all variables "
                                               "were lost.") from None
                        timed_out = True
                        await kernel.interrupt()
                        deadline = loop.time() + _INTERRUPT_GRACE
                    continue
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "status":
                    if msg["content"].get("execution_state") == "idle":
                        break
                    continue
                collector.handle(msg)
            reply = await self._shell_reply(kernel, msg_id)
        except asyncio.CancelledError:
            self._abandoned = msg_id  # the next block first waits for this cell to stop
            with contextlib.suppress(Exception):
                await shielded(kernel.interrupt())
            raise
        content = reply.get("content", {}) if reply else {}
        result = collector.result(content, sh=sh, timeout=timeout, timed_out=timed_out)
        if asked_to_exit(content):
            self.close_in_background()  # the kernel is shutting itself down: never send it another block
            await self.a_start()
        return result

    async def _shell_reply(self, kernel: Kernel, msg_id: str, wait: float = 30) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while loop.time() < deadline:
            try:
                reply = await kernel.kc.get_shell_msg(timeout=_POLL)
            except queue.Empty:
                if not await kernel.is_alive():
                    return None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
        return None


__all__ = [  # the output helpers and prestart_kernel are re-exported: ``agentnb.coding.kernel`` was their home
    "EXIT_NOTE",
    "MAX_IMAGE_CHARS",
    "BoundedText",
    "KernelExecutor",
    "asked_to_exit",
    "cap_bundle",
    "cap_text",
    "cap_traceback",
    "png_size",
    "prestart_kernel",
    "strip_ansi",
]

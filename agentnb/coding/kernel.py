"""Run code blocks in a dedicated Jupyter kernel (``jupyter_client``), streaming MIME outputs.

    async with KernelExecutor(work_dir="coding") as ex:
        await ex.a_execute(CodeBlock("x = 21"))
        result = await ex.a_execute(CodeBlock("x * 2"), on_output=print)
        result.output   # '42'
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import queue
import re
import weakref
from collections.abc import Awaitable
from typing import Any

from ..errors import UnsafePathError
from .base import CodeBlock, CodeExecutor, CodeResult, OutputCallback, scrub_surrogates
from .pool import Kernel, KernelPool, default_pool, retire, start_kernel
from .safepath import resolve_root, write_file

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_POLL = 0.3  # seconds between liveness checks while waiting on the kernel
_INTERRUPT_GRACE = 10.0  # seconds a cell may take to stop after an interrupt
_IMAGE_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/svg+xml": "svg"}
_TEXT_MIME = re.compile(r"^(text/|application/(json|javascript|xml)$|.*\+(json|xml)$)")
MAX_IMAGE_CHARS = 20_000_000
"""An image output (base64 or SVG text) longer than this reaches views as a note, not as data."""


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _joined(payload: Any) -> str:
    return payload if isinstance(payload, str) else "".join(str(p) for p in payload)


def cap_text(text: str, cap: int, what: str) -> str:
    """``text`` cut after ``cap`` characters, with a visible marker saying how much was left out."""
    if cap <= 0 or len(text) <= cap:
        return text
    return f"{text[:cap]}\n... [{what} truncated for display after {cap} characters; {len(text) - cap} omitted] ...\n"


def cap_bundle(data: dict[str, Any], cap: int) -> dict[str, Any]:
    """A display bundle for views: text parts cut at ``cap`` characters (JSON that long is shown as
    cut text/plain instead), images longer than :data:`MAX_IMAGE_CHARS` replaced by a note."""
    shown: dict[str, Any] = {}
    notes: list[str] = []
    for mime, payload in data.items():
        if mime in _IMAGE_EXT or mime.startswith("image/"):
            size = len(_joined(payload)) if isinstance(payload, str | list) else 0
            if size > MAX_IMAGE_CHARS:
                notes.append(f"[{mime} output of {size} characters not shown: larger than {MAX_IMAGE_CHARS}]")
            else:
                shown[mime] = payload
        elif _TEXT_MIME.match(mime) and isinstance(payload, str | list):
            text = _joined(payload)
            shown[mime] = cap_text(text, cap, mime) if len(text) > cap > 0 else payload
        elif _TEXT_MIME.match(mime):  # application/json and friends: a structure
            text = json.dumps(payload, default=str)
            if cap > 0 and len(text) > cap:
                notes.append(f"[{mime} output of {len(text)} characters not shown: longer than {cap}]"
                             if "text/plain" in data else cap_text(text, cap, mime))
            else:
                shown[mime] = payload
        else:
            shown[mime] = payload
    if notes:
        plain = shown.get("text/plain")
        shown["text/plain"] = "\n".join(([_joined(plain)] if plain else []) + notes)
    return shown


def cap_traceback(lines: list[Any], cap: int) -> list[str]:
    """An error's traceback for views, at most ``cap`` characters in all (the cut marked)."""
    kept: list[str] = []
    used = 0
    for line in lines:
        text = str(line)
        if cap > 0 and used + len(text) > cap:
            if cap > used:
                kept.append(text[: cap - used])
            kept.append(f"\n... [traceback truncated for display after {cap} characters] ...")
            break
        kept.append(text)
        used += len(text)
    return kept


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None if ``data`` is not a PNG."""
    if len(data) >= 24 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


class BoundedText:
    """Accumulates text keeping only a head and a tail; renders like :func:`base.truncate`."""

    def __init__(self, limit: int):
        self.limit = limit
        self.head = ""
        self.tail = ""
        self.total = 0

    def add(self, text: str) -> None:
        if not text:
            return
        self.total += len(text)
        if len(self.head) < self.limit:
            self.head += text[: self.limit - len(self.head)]
        self.tail = (self.tail + text[-self.limit:])[-self.limit:]

    def clear(self) -> None:
        self.head, self.tail, self.total = "", "", 0

    def render(self) -> str:
        if self.limit <= 0 or self.total <= self.limit:
            return self.head if self.total <= len(self.head) else self.head + self.tail
        head = int(self.limit * 0.7)
        tail = self.limit - head
        cut = self.total - head - tail
        return f"{self.head[:head]}\n... [output truncated: {cut} characters omitted] ...\n{self.tail[-tail:]}"


class _Run:
    """Collects one execution's outputs: the kept list, the streamed callbacks, the summary."""

    def __init__(self, ex: KernelExecutor, on_output: OutputCallback | None):
        self.ex = ex
        self.on_output = on_output
        self.outputs: list[dict[str, Any]] = []
        self.summary = BoundedText(ex.max_output_chars)
        self.stream_chars: dict[str, int] = {}
        self.files: list[str] = []
        self.clear_pending = False
        self.execution_count: int | None = None
        self.error = False

    def emit(self, out: dict[str, Any]) -> None:
        if self.on_output is not None:
            self.on_output(out)

    def keep(self, out: dict[str, Any]) -> None:
        if self.clear_pending:
            self.outputs.clear()
            self.stream_chars.clear()
            self.summary.clear()
            self.clear_pending = False
        last = self.outputs[-1] if self.outputs else None
        if (out["output_type"] == "stream" and last is not None and last["output_type"] == "stream"
                and last["name"] == out["name"]):
            last["text"] += out["text"]
        else:
            self.outputs.append(out)

    def handle(self, msg: dict[str, Any]) -> None:
        """Take one iopub message; a malformed output becomes a note in the result, never an exception."""
        try:
            self._handle(msg["msg_type"], scrub_surrogates(msg["content"]))
        except Exception as exc:  # the kernel sent something we cannot use: tell the model, go on
            note = (f"[an output of this code could not be processed ({msg.get('msg_type')}): "
                    f"{type(exc).__name__}: {exc}]")
            self.summary.add(self._sep() + note + "\n")
            out = {"output_type": "stream", "name": "stderr", "text": note + "\n"}
            self.emit(dict(out))
            self.keep(out)

    def _handle(self, kind: str, c: dict[str, Any]) -> None:
        if kind == "stream":
            self._stream(c["name"], c.get("text", ""))
        elif kind in ("display_data", "execute_result"):
            data = c.get("data", {})
            out: dict[str, Any] = {"output_type": kind, "data": cap_bundle(data, self.ex.max_display_chars),
                                   "metadata": c.get("metadata", {})}
            if kind == "execute_result":
                out["execution_count"] = c.get("execution_count")
            if c.get("transient"):
                out["transient"] = c["transient"]
            self.emit(out)
            self.keep(out)
            self._summarize_bundle(data)  # the model's summary: from the whole bundle, bounded on its own
        elif kind == "update_display_data":
            out = {"output_type": kind, "data": cap_bundle(c.get("data", {}), self.ex.max_display_chars),
                   "metadata": c.get("metadata", {}), "transient": c.get("transient", {})}
            self.emit(out)
            display_id = out["transient"].get("display_id")
            for kept in self.outputs:
                if display_id and kept.get("transient", {}).get("display_id") == display_id:
                    kept["data"], kept["metadata"] = out["data"], out["metadata"]
        elif kind == "error":
            self.error = True
            cap = self.ex.max_display_chars
            ename, evalue = str(c.get("ename") or ""), str(c.get("evalue") or "")
            traceback = c.get("traceback") or []
            out = {"output_type": "error", "ename": cap_text(ename, cap, "error name"),
                   "evalue": cap_text(evalue, cap, "error value"), "traceback": cap_traceback(traceback, cap)}
            self.emit(out)
            self.keep(out)
            tb = strip_ansi("\n".join(str(line) for line in traceback)).rstrip()
            head = f"{ename}: {evalue}".rstrip()
            self.summary.add(self._sep() + (tb if head in tb else f"{tb}\n{head}".strip()) + "\n")
        elif kind == "clear_output":
            out = {"output_type": "clear_output", "wait": bool(c.get("wait"))}
            self.emit(out)
            if out["wait"]:
                self.clear_pending = True
            else:
                self.outputs.clear()
                self.stream_chars.clear()
                self.summary.clear()
        elif kind == "execute_input":
            self.execution_count = c.get("execution_count", self.execution_count)

    def _sep(self) -> str:
        text = self.summary.tail
        return "" if not text or text.endswith("\n") else "\n"

    def _stream(self, name: str, text: str) -> None:
        self.summary.add(strip_ansi(text))
        cap = self.ex.max_display_chars
        used = self.stream_chars.get(name, 0)
        if used >= cap:
            return
        if used + len(text) > cap:
            text = text[: cap - used] + f"\n... [{name} truncated for display after {cap} characters] ...\n"
            used = cap
        else:
            used += len(text)
        self.stream_chars[name] = used
        out = {"output_type": "stream", "name": name, "text": text}
        self.emit(dict(out))
        self.keep(out)

    def _summarize_bundle(self, data: dict[str, Any]) -> None:
        lines = []
        for mime, ext in _IMAGE_EXT.items():
            if mime in data:
                lines.append(self._save_image(mime, ext, data[mime]))
        if not lines:
            if "text/plain" in data:
                lines.append(strip_ansi(_joined(data["text/plain"])))
            elif data:
                lines.append("[" + ", ".join(sorted(data)) + " output]")
        if lines:
            self.summary.add(self._sep() + "\n".join(lines) + "\n")

    def _save_image(self, mime: str, ext: str, payload: Any) -> str:
        text = payload if isinstance(payload, str) else "".join(str(p) for p in payload)
        if mime == "image/svg+xml":
            raw = text.encode("utf-8", "replace")
        else:
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                return f"[{mime} output is not valid base64 ({len(text)} characters); it was not saved]"
        try:
            path = self.ex._save_output_file(ext, raw)
        except (UnsafePathError, OSError) as exc:
            return f"[{mime} output not saved: {exc}]"
        self.files.append(path)
        size = png_size(raw)
        dims = f" {size[0]}x{size[1]}" if size else ""
        return f"[{mime}{dims} saved to {_display_path(path)}]"


EXIT_NOTE = "Note: the code called exit(): the kernel was restarted, its state is lost."


def asked_to_exit(reply_content: dict[str, Any]) -> bool:
    """True if an execute reply carries IPython's ``ask_exit`` payload for a kernel that will stop
    (``exit()`` / ``quit()``; ``exit(keep_kernel=True)`` keeps it running)."""
    payload = reply_content.get("payload")
    if not isinstance(payload, list):
        return False
    return any(isinstance(p, dict) and p.get("source") == "ask_exit" and not p.get("keepkernel") for p in payload)


def _display_path(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


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
        self._image_counter = 0
        self._root: str | None = None
        """work_dir's real path, resolved once before model code runs there."""
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._abandoned: str | None = None

    @property
    def kernel(self) -> Kernel | None:
        return self._kernel

    # -- lifecycle -------------------------------------------------------------------------
    async def _new_kernel(self) -> Kernel:
        os.makedirs(self.work_dir, exist_ok=True)
        if self._root is None:
            self._root = resolve_root(self.work_dir)
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

    async def _drop_kernel(self) -> None:
        kernel, self._kernel, self._abandoned = self._kernel, None, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if kernel is not None:
            await _shielded(kernel.shutdown())

    async def a_close(self) -> None:
        await self._drop_kernel()

    def close_in_background(self) -> None:
        """Give the kernel up now and shut it down off the caller's critical path (:func:`pool.retire`:
        recorded until gone, killed at exit, awaited by :meth:`KernelPool.close`). Needs a running loop
        for the background part; without one the kernel is killed synchronously."""
        kernel, self._kernel, self._abandoned = self._kernel, None, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if kernel is not None:
            retire(kernel)

    async def a_restart(self) -> None:
        await self._drop_kernel()
        await self.a_start()

    async def a_interrupt(self) -> None:
        if self._kernel is not None:
            await self._kernel.km.interrupt_kernel()

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _save_output_file(self, ext: str, data: bytes) -> str:
        """Write an image output as a new ``output_N.ext`` in work_dir (never through a link)."""
        root = self._root or resolve_root(self.work_dir)
        for _ in range(10_000):
            self._image_counter += 1
            try:
                return write_file(root, f"output_{self._image_counter}.{ext}", data, exclusive=True)
            except FileExistsError:
                continue
        raise UnsafePathError(f"no free output_N.{ext} name in {self.work_dir}")

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
            result = await self._run(block, on_output, self.timeout if timeout is None else timeout)
            if note:
                result.output = note + result.output
            return result

    async def _run(self, block: CodeBlock, on_output: OutputCallback | None, timeout: float) -> CodeResult:
        kernel = self._kernel
        assert kernel is not None
        kc = kernel.kc
        sh = block.language == "sh"
        if sh and not kernel.helpers:
            return self.unsupported(block)
        code = f"__import__('__agentnb__').run_sh({block.code!r})" if sh else block.code
        if self._abandoned is not None:
            abandoned, self._abandoned = self._abandoned, None
            await self._shell_reply(kernel, abandoned, wait=_INTERRUPT_GRACE)
        run = _Run(self, on_output)
        loop = asyncio.get_running_loop()
        # stop_on_error=False: an interrupted or failing cell must not make the kernel abort the requests
        # queued behind it (ipykernel does so by default, which silently dropped the next block)
        msg_id = kc.execute(code, store_history=not sh, allow_stdin=False, stop_on_error=False,
                            user_expressions={"rc": "__import__('__agentnb__').last_rc"} if sh else None)
        deadline = loop.time() + timeout
        timed_out = False
        try:
            # iopub until our status: idle
            while True:
                try:
                    msg = await kc.get_iopub_msg(timeout=max(0.0, min(_POLL, deadline - loop.time())))
                except queue.Empty:
                    if not await kernel.is_alive():
                        return await self._died(run, kernel)
                    if loop.time() >= deadline:
                        if timed_out:  # the interrupt did not stop it: replace the kernel
                            return await self._died(run, kernel, stuck=timeout)
                        timed_out = True
                        await kernel.km.interrupt_kernel()
                        deadline = loop.time() + _INTERRUPT_GRACE
                    continue
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "status":
                    if msg["content"].get("execution_state") == "idle":
                        break
                    continue
                run.handle(msg)
            reply = await self._shell_reply(kernel, msg_id)
        except asyncio.CancelledError:
            self._abandoned = msg_id  # the next block first waits for this cell to stop
            with contextlib.suppress(Exception):
                await _shielded(kernel.km.interrupt_kernel())
            raise
        content = reply.get("content", {}) if reply else {}
        run.execution_count = content.get("execution_count", run.execution_count)
        exit_code = 1 if (run.error or content.get("status") == "error") else 0
        if sh and not timed_out:
            rc = content.get("user_expressions", {}).get("rc", {})
            with contextlib.suppress(Exception):
                shell_rc = int(rc.get("data", {}).get("text/plain", "0"))
                exit_code = shell_rc or exit_code
        text = run.summary.render()
        if timed_out:
            exit_code = 124
            text = (text.rstrip("\n") + "\n" if text.strip() else "") + (
                f"TimeoutError: code execution exceeded {timeout:g} s (the cell was interrupted; "
                "the kernel and its variables are kept)")
        if asked_to_exit(content):
            text = (text.rstrip("\n") + "\n" if text.strip() else "") + EXIT_NOTE
            run.keep({"output_type": "stream", "name": "stderr", "text": EXIT_NOTE + "\n"})
            run.emit({"output_type": "stream", "name": "stderr", "text": EXIT_NOTE + "\n"})
            self.close_in_background()  # the kernel is shutting itself down: never send it another block
            await self.a_start()
        return CodeResult(exit_code=exit_code, output=text, outputs=run.outputs,
                          execution_count=None if sh else run.execution_count, files=run.files,
                          timed_out=timed_out)

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

    async def _died(self, run: _Run, kernel: Kernel, stuck: float | None = None) -> CodeResult:
        code = kernel.exit_code()
        await self._drop_kernel()
        await self.a_start()
        if stuck is not None:
            why = (f"TimeoutError: code execution exceeded {stuck:g} s and the cell ignored the interrupt; "
                   "the kernel was restarted and all variables were lost.")
        else:
            why = (f"KernelDiedError: the kernel died while running this code (exit code {code}); "
                   "it was restarted and all variables were lost.")
        return lost_kernel_result(run, why, stuck)


def lost_kernel_result(run: _Run, why: str, stuck: float | None) -> CodeResult:
    """The result of a block whose kernel was lost (died, or ``stuck``: ignored the interrupt and was
    replaced): ``why`` ("ErrorName: message") ends the model's text and is shown to people as an error."""
    text = run.summary.render()
    text = (text.rstrip("\n") + "\n" if text.strip() else "") + why
    out = {"output_type": "error", "ename": why.split(":")[0], "evalue": why.split(": ", 1)[1],
           "traceback": [why]}
    run.emit(out)
    run.keep(out)
    return CodeResult(exit_code=124 if stuck is not None else 1, output=text, outputs=run.outputs,
                      execution_count=run.execution_count, files=run.files,
                      timed_out=stuck is not None, kernel_died=stuck is None)


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


async def _shielded(coro: Awaitable[Any]) -> Any:
    """Await ``coro`` to completion even if the caller is cancelled meanwhile, then re-raise."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise

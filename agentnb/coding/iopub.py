"""One execution's iopub messages, collected: nbformat outputs for views, a bounded summary for the model.

Both kernel executors (:mod:`.kernel`, :mod:`.gateway`) feed each iopub message of a block to an
:class:`OutputCollector` and end with :meth:`OutputCollector.result` (the block ran) or
:meth:`OutputCollector.lost` (its kernel died, or ignored an interrupt and was replaced).

    collector = OutputCollector(print, max_output_chars=20_000, max_display_chars=1_000_000,
                                save_file=OutputFiles("coding").save)
    collector.handle(msg)                   # each iopub message of the block, in order
    result = collector.result(reply["content"], sh=False, timeout=60, timed_out=False)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import UnsafePathError
from .base import BoundedText, CodeResult, OutputCallback, scrub_surrogates
from .outputs import OutputFold
from .safepath import resolve_root, write_file

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_POLL = 0.3  # seconds between liveness checks while waiting on the kernel
_INTERRUPT_GRACE = 10.0  # seconds a cell may take to stop after an interrupt
_SHOWN = frozenset({"stream", "display_data", "execute_result", "error"})  # the iopub outputs a notebook keeps
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


EXIT_NOTE = "Note: the code called exit(): the kernel was restarted, its state is lost."


def asked_to_exit(reply_content: dict[str, Any]) -> bool:
    """True if an execute reply carries IPython's ``ask_exit`` payload for a kernel that will stop
    (``exit()`` / ``quit()``; ``exit(keep_kernel=True)`` keeps it running)."""
    payload = reply_content.get("payload")
    if not isinstance(payload, list):
        return False
    return any(isinstance(p, dict) and p.get("source") == "ask_exit" and not p.get("keepkernel") for p in payload)


def display_path(path: str) -> str:
    """``path`` relative to the current directory when it is under it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


class OutputCollector:
    """Collects one execution's outputs: the kept list, the streamed callbacks, the model's summary.

    ``save_file(ext, data)`` writes an image output and returns its path (:meth:`OutputFiles.save`).
    """

    def __init__(self, on_output: OutputCallback | None, *, max_output_chars: int, max_display_chars: int,
                 save_file: Callable[[str, bytes], str]):
        self.on_output = on_output
        self.max_display_chars = max_display_chars
        self.save_file = save_file
        self.fold = OutputFold(on_clear=self._cleared)
        """The block's outputs as a notebook keeps them (clear_output and display updates applied)."""
        self.summary = BoundedText(max_output_chars)
        self.stream_chars: dict[str, int] = {}
        self.files: list[str] = []
        self.execution_count: int | None = None
        self.error = False

    def emit(self, out: dict[str, Any]) -> None:
        if self.on_output is not None:
            self.on_output(out)

    def _cleared(self) -> None:  # the model's summary shows what is left on screen, as people see it
        self.stream_chars.clear()
        self.summary.clear()

    def handle(self, msg: dict[str, Any]) -> None:
        """Take one iopub message; a malformed output becomes a note in the result, never an exception."""
        if msg.get("msg_type") in _SHOWN:  # a clear_output(wait=True) before it applies to the summary first
            self.fold.settle()
        try:
            self._handle(msg["msg_type"], scrub_surrogates(msg["content"]))
        except Exception as exc:  # the kernel sent something we cannot use: tell the model, go on
            note = (f"[an output of this code could not be processed ({msg.get('msg_type')}): "
                    f"{type(exc).__name__}: {exc}]")
            self.summary.add(self._sep() + note + "\n")
            out = {"output_type": "stream", "name": "stderr", "text": note + "\n"}
            self.emit(dict(out))
            self.fold.add(out)

    def _handle(self, kind: str, c: dict[str, Any]) -> None:
        if kind == "stream":
            self._stream(c["name"], c.get("text", ""))
        elif kind in ("display_data", "execute_result"):
            data = c.get("data", {})
            out: dict[str, Any] = {"output_type": kind, "data": cap_bundle(data, self.max_display_chars),
                                   "metadata": c.get("metadata", {})}
            if kind == "execute_result":
                out["execution_count"] = c.get("execution_count")
            if c.get("transient"):
                out["transient"] = c["transient"]
            self.emit(out)
            self.fold.add(out)
            self._summarize_bundle(data)  # the model's summary: from the whole bundle, bounded on its own
        elif kind == "update_display_data":
            out = {"output_type": kind, "data": cap_bundle(c.get("data", {}), self.max_display_chars),
                   "metadata": c.get("metadata", {}), "transient": c.get("transient", {})}
            self.emit(out)
            self.fold.add(out)
        elif kind == "error":
            self.error = True
            cap = self.max_display_chars
            ename, evalue = str(c.get("ename") or ""), str(c.get("evalue") or "")
            traceback = c.get("traceback") or []
            out = {"output_type": "error", "ename": cap_text(ename, cap, "error name"),
                   "evalue": cap_text(evalue, cap, "error value"), "traceback": cap_traceback(traceback, cap)}
            self.emit(out)
            self.fold.add(out)
            tb = strip_ansi("\n".join(str(line) for line in traceback)).rstrip()
            head = f"{ename}: {evalue}".rstrip()
            self.summary.add(self._sep() + (tb if head in tb else f"{tb}\n{head}".strip()) + "\n")
        elif kind == "clear_output":
            out = {"output_type": "clear_output", "wait": bool(c.get("wait"))}
            self.emit(out)
            self.fold.add(out)
        elif kind == "execute_input":
            self.execution_count = c.get("execution_count", self.execution_count)

    def _sep(self) -> str:
        text = self.summary.tail
        return "" if not text or text.endswith("\n") else "\n"

    def _stream(self, name: str, text: str) -> None:
        self.summary.add(strip_ansi(text))
        cap = self.max_display_chars
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
        self.fold.add(out)

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
            path = self.save_file(ext, raw)
        except (UnsafePathError, OSError) as exc:
            return f"[{mime} output not saved: {exc}]"
        self.files.append(path)
        size = png_size(raw)
        dims = f" {size[0]}x{size[1]}" if size else ""
        return f"[{mime}{dims} saved to {display_path(path)}]"

    def note(self, text: str) -> None:
        """Show ``text`` to people as a stderr line of this block (the model's text is composed apart)."""
        out = {"output_type": "stream", "name": "stderr", "text": text + "\n"}
        self.fold.add(out)
        self.emit(out)

    def result(self, content: dict[str, Any], *, sh: bool, timeout: float, timed_out: bool,
               notes: Sequence[str] = ()) -> CodeResult:
        """The block's result from its execute_reply ``content`` (empty if none came): exit code (an
        ``sh`` block's own; 124 on timeout), the summary with ``notes`` and the timeout or exit note."""
        self.execution_count = content.get("execution_count", self.execution_count)
        exit_code = 1 if (self.error or content.get("status") == "error") else 0
        if sh and not timed_out:
            rc = content.get("user_expressions", {}).get("rc", {})
            with contextlib.suppress(Exception):
                exit_code = int(rc.get("data", {}).get("text/plain", "0")) or exit_code
        notes = list(notes)
        if timed_out:
            exit_code = 124
            notes.append(f"TimeoutError: code execution exceeded {timeout:g} s (the cell was interrupted; "
                         "the kernel and its variables are kept)")
        if asked_to_exit(content):
            notes.append(EXIT_NOTE)
            self.note(EXIT_NOTE)
        text = self.summary.render()
        for note in notes:
            text = _append(text, note)
        return CodeResult(exit_code=exit_code, output=text, outputs=self.fold.outputs,
                          execution_count=None if sh else self.execution_count, files=self.files,
                          timed_out=timed_out)

    def lost(self, error: BaseException) -> CodeResult:
        """The result of a block whose kernel was lost: ``error`` is a :class:`KernelDiedError` (it died)
        or a ``TimeoutError`` (it ignored the interrupt and was replaced). ``"Name: message"`` ends the
        model's text and is shown to people as an error output."""
        stuck = isinstance(error, TimeoutError)
        why = f"{type(error).__name__}: {error}"
        out = {"output_type": "error", "ename": type(error).__name__, "evalue": str(error), "traceback": [why]}
        self.emit(out)
        self.fold.add(out)
        return CodeResult(exit_code=124 if stuck else 1, output=_append(self.summary.render(), why),
                          outputs=self.fold.outputs, execution_count=self.execution_count, files=self.files,
                          timed_out=stuck, kernel_died=not stuck)


def _append(text: str, line: str) -> str:
    return (text.rstrip("\n") + "\n" if text.strip() else "") + line


class OutputFiles:
    """Image outputs saved as new ``output_N.ext`` files under ``work_dir``, never through a link.

    :meth:`pin` resolves ``work_dir``'s real path once, before model code runs there; unpinned, it is
    resolved on each save.
    """

    def __init__(self, work_dir: str):
        self.work_dir = work_dir
        self.root: str | None = None
        self.counter = 0

    def pin(self) -> None:
        if self.root is None:
            self.root = resolve_root(self.work_dir)

    def save(self, ext: str, data: bytes) -> str:
        root = self.root or resolve_root(self.work_dir)
        for _ in range(10_000):
            self.counter += 1
            try:
                return write_file(root, f"output_{self.counter}.{ext}", data, exclusive=True)
            except FileExistsError:
                continue
        raise UnsafePathError(f"no free output_N.{ext} name in {self.work_dir}")

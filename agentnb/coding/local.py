"""Run each code block in its own subprocess on the host (AutoGen's ``LocalCommandLineExecutor``).

    with LocalCommandLineExecutor("coding") as ex:
        ex.execute(CodeBlock("print(6 * 7)")).output   # '42\\n'
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import signal
import sys
from typing import Any

from ..errors import UnsafePathError
from . import proctree
from .base import BoundedText, CodeBlock, CodeExecutor, CodeResult, OutputCallback, execution_env
from .safepath import resolve_root, write_file

_FILENAME = re.compile(r"^\s*(?:#|//)\s*filename:\s*(\S+)\s*$")


async def stop_block(proc: asyncio.subprocess.Process, supervised: bool) -> None:
    """End a block: the supervisor kills the whole tree (setsid'd processes too); then the group, to be sure."""
    if supervised:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), 5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


class LocalCommandLineExecutor(CodeExecutor):
    """One process per block: Python via ``python``, ``sh`` via ``bash``; no state between blocks.

    On Linux each block runs under :mod:`agentnb.coding.launcher`: every process the block starts
    (background, ``setsid``, double-forked) ends when the block ends, and when agentnb dies.
    """

    name = "commandline-local"

    def __init__(self, work_dir: str | os.PathLike[str] = "coding", timeout: float = 60,
                 python: str = sys.executable, max_output_chars: int = 20_000, env: dict[str, str] | None = None):
        self.work_dir = os.path.abspath(os.fspath(work_dir))
        self.env = dict(env or {})
        self.timeout = timeout
        self.python = python
        self.max_output_chars = max_output_chars
        self._root: str | None = None
        """work_dir's real path, resolved once before model code runs there."""

    def _write(self, block: CodeBlock) -> str:
        """Save the block under work_dir (``# filename: x`` names it); never through a link out of it."""
        first = block.code.lstrip().split("\n", 1)[0]
        match = _FILENAME.match(first)
        if match:
            name = match.group(1)
        else:
            digest = hashlib.md5(block.code.encode()).hexdigest()[:12]
            name = f"tmp_code_{digest}.{'py' if block.language == 'python' else 'sh'}"
        if self._root is None:
            self._root = resolve_root(self.work_dir)
        return write_file(self._root, name, block.code.encode("utf-8", "surrogatepass"))

    async def a_execute(self, block: CodeBlock, *, on_output: OutputCallback | None = None,
                        timeout: float | None = None) -> CodeResult:
        if block.language not in self.languages:
            return self.unsupported(block)
        timeout = self.timeout if timeout is None else timeout
        proctree.make_undumpable()  # model code must not read our environ or memory
        os.makedirs(self.work_dir, exist_ok=True)
        try:
            path = self._write(block)
        except (UnsafePathError, OSError) as exc:
            return CodeResult(exit_code=1, output=f"Error: {exc}. Nothing was executed.")
        argv = [self.python, "-u", path] if block.language == "python" else ["bash", path]
        # under the supervisor (Linux): the block's whole process tree ends with it, detached or not
        supervised = proctree.supervision_enabled()
        argv = proctree.supervised(argv) if supervised else argv
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=self.work_dir, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True, env=execution_env(self.env))
        summary = BoundedText(self.max_output_chars)
        outputs: list[dict[str, Any]] = []

        async def pump() -> None:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                text = chunk.decode("utf-8", "replace")
                summary.add(text)
                if summary.total <= self.max_output_chars:
                    out = {"output_type": "stream", "name": "stdout", "text": text}
                    if on_output is not None:
                        on_output(dict(out))
                    if outputs:
                        outputs[-1]["text"] += text
                    else:
                        outputs.append(out)

        timed_out = False
        try:
            await asyncio.wait_for(asyncio.gather(pump(), proc.wait()), timeout)
        except asyncio.TimeoutError:
            timed_out = True
        finally:
            if proc.returncode is None:
                await asyncio.shield(stop_block(proc, supervised))
        text = summary.render()
        if timed_out:
            text = (text.rstrip("\n") + "\n" if text.strip() else "") + (
                f"TimeoutError: code execution exceeded {timeout:g} s (the process was killed)")
            return CodeResult(exit_code=124, output=text, outputs=outputs, timed_out=True)
        return CodeResult(exit_code=proc.returncode or 0, output=text, outputs=outputs)

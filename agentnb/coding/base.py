"""Code blocks, results, and the small interface every executor implements."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .._aio import run_sync
from ..errors import contains_secret

if TYPE_CHECKING:
    from typing_extensions import Self

_T = TypeVar("_T")

OutputCallback = Callable[[dict[str, Any]], None]
"""Receives each output as it arrives, as an nbformat-style dict.

``output_type`` is one of ``stream`` (``name``, ``text``), ``display_data`` /
``execute_result`` (``data``, ``metadata``, ``execution_count``), ``error``
(``ename``, ``evalue``, ``traceback``), ``update_display_data`` (``data``,
``metadata``, ``transient.display_id``) and ``clear_output`` (``wait``).
"""

PYTHON_TAGS = {"", "python", "py", "python3", "ipython", "pycon"}
SHELL_TAGS = {"sh", "bash", "shell", "console", "zsh"}

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.\-]*)[^\n]*\n(?P<code>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)

_OPEN_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.\-]*)[^\n]*\n", re.MULTILINE)

TRUNCATED_MARK = "[agentnb: this reply was cut off by the model's max_tokens limit; none of its code was run]"
"""Appended to a model reply that ended with ``finish_reason == "length"``: shown to the person, seen by the model."""


def normalize_language(tag: str | None) -> str:
    """Map a fence tag to ``python``, ``sh``, or the tag itself (lower-cased)."""
    tag = (tag or "").strip().lower()
    if tag in PYTHON_TAGS:
        return "python"
    if tag in SHELL_TAGS:
        return "sh"
    return tag


@dataclass
class CodeBlock:
    """A fenced code block found in a message."""

    code: str
    language: str = "python"


@dataclass
class CodeResult:
    """The outcome of running one code block."""

    exit_code: int
    """0 on success; 1 on an error in the code; 124 on timeout; other values executor-specific."""
    output: str
    """The concise text summary the model is told."""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    """Every output as an nbformat dict (MIME bundles kept whole), folded by :class:`~agentnb.coding.outputs.OutputFold`
    (clear_output and display updates applied, streams merged; no ``transient``), for views and export."""
    execution_count: int | None = None
    files: list[str] = field(default_factory=list)
    """Files the executor wrote for outputs (saved images)."""
    timed_out: bool = False
    kernel_died: bool = False


def extract_code_blocks(text: str | None) -> list[CodeBlock]:
    """Closed fenced code blocks of ``text`` in order; untagged blocks are Python.

    Line endings are normalised first (CRLF and lone CR become LF, as Python reads source), so
    fences written with Windows line endings are found. A block whose closing fence never comes
    is not returned (see :func:`cut_off`): its code may be cut short.
    """
    if not text:
        return []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = []
    for m in _FENCE.finditer(text):
        code = m.group("code")
        indent = m.group("indent")
        if indent:
            code = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in code.split("\n"))
        blocks.append(CodeBlock(code=code.rstrip("\n") + "\n", language=normalize_language(m.group("lang"))))
    return blocks


def mark_truncated(content: str | None) -> str:
    """``content`` of a reply cut off by ``max_tokens``, with :data:`TRUNCATED_MARK` appended."""
    return f"{(content or '').rstrip()}\n\n{TRUNCATED_MARK}"


def cut_off(text: str | None) -> str | None:
    """Why no code of ``text`` may run, or None: ``"max_tokens"`` (the reply holds code and was cut off)
    or ``"unclosed"`` (it ends inside a code block whose closing fence never came)."""
    if not text:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _OPEN_FENCE.search(text) is None:
        return None  # no code at all: nothing that could run
    if text.rstrip().endswith(TRUNCATED_MARK):
        return "max_tokens"
    ends = [m.end() for m in _FENCE.finditer(text)]
    tail = text[ends[-1] if ends else 0:]
    last = _OPEN_FENCE.search(tail)
    if last and tail[last.end():].strip():
        return "unclosed"
    return None


def cut_off_reply(reason: str) -> str:
    """What the executing agent tells the model when :func:`cut_off` found a reason."""
    if reason == "max_tokens":
        why = "Your previous message was cut off by the max_tokens limit (finish_reason 'length')"
    else:
        why = "Your previous message ends inside a code block that is never closed (its closing fence is missing)"
    return (f"{why}, so nothing in it was run (no code, no tool call). Send it again complete: shorter, "
            "or in smaller pieces, each code block closed with its fence.")


class CodeExecutor(abc.ABC):
    """Runs code blocks and reports outputs as they arrive.

    Executors are async context managers; each async method has a sync twin.
    """

    name: str = "executor"
    languages: frozenset[str] = frozenset({"python", "sh"})

    @abc.abstractmethod
    async def a_execute(self, block: CodeBlock, *, on_output: OutputCallback | None = None,
                        timeout: float | None = None) -> CodeResult:
        """Run one block; never raises for errors *in* the code (they are in the result)."""

    async def a_start(self) -> None:
        """Acquire resources ahead of the first block (optional)."""

    async def a_interrupt(self) -> None:
        """Interrupt whatever is running (optional)."""

    async def a_restart(self) -> None:
        """Forget all state (optional)."""

    async def a_close(self) -> None:
        """Release every resource; idempotent."""

    async def __aenter__(self) -> Self:
        await self.a_start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.a_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, block: CodeBlock, *, on_output: OutputCallback | None = None,
                timeout: float | None = None) -> CodeResult:
        return run_sync(self.a_execute(block, on_output=on_output, timeout=timeout))

    def start(self) -> None:
        run_sync(self.a_start())

    def restart(self) -> None:
        run_sync(self.a_restart())

    def close(self) -> None:
        run_sync(self.a_close())

    def unsupported(self, block: CodeBlock) -> CodeResult:
        """The result for a block in a language this executor cannot run."""
        langs = ", ".join(sorted(self.languages))
        return CodeResult(
            exit_code=1,
            output=f"Error: unknown language {block.language!r}; this executor runs {langs}. "
            "Send the code as a ```python block.",
        )


SECRET_ENV_NAMES = {"OAI_CONFIG_LIST", "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "OPENAI_ORG_ID"}


def execution_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for model-written code: ours minus model credentials, plus ``extra``.

    Code the model writes has no business reading the keys that pay for the model: variables named
    like keys and any variable holding a key registered for redaction are left out. Pass one in
    ``extra`` (the executor's ``env=``) if a task really needs it.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in SECRET_ENV_NAMES and not k.endswith("_API_KEY") and not contains_secret(v)}
    env.update(extra or {})
    return env


_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub_surrogates(value: Any) -> Any:
    """``value`` with lone UTF-16 surrogates in every string (and dict key) replaced by U+FFFD.

    Such strings cannot be encoded as UTF-8: written to a notebook, a terminal or a JSON request
    they raise. Containers are copied only when something changed.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {scrub_surrogates(k): scrub_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub_surrogates(v) for v in value)
    return value


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, keeping head and tail around a clear marker."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = int(limit * 0.7)
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n... [output truncated: {cut} characters omitted] ...\n{text[len(text) - tail:]}"


class BoundedText:
    """Accumulates text keeping only a head and a tail; renders like :func:`truncate`."""

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


async def shielded(coro: Awaitable[_T]) -> _T:
    """Await ``coro`` to completion even if the caller is cancelled meanwhile, then re-raise: what an
    executor's shutdown needs to finish (a kernel must not be left half-closed)."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise

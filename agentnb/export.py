"""Conversation -> ``.ipynb``: turn a chat's event stream into a re-runnable notebook.

Messages become Markdown cells, executed code becomes code cells carrying the outputs
the person saw (plots, DataFrames, errors), tool results become Markdown cells.
Every string goes through :func:`agentnb.errors.redact` and metadata keys that look
like credentials are dropped, so an exported notebook never holds an API key.

Example::

    rec = Recorder()
    with subscribe(rec):
        await user.a_initiate_chat(assistant, message="Plot y = x**2")
    write_notebook(rec.events, "chat.ipynb")
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from typing_extensions import assert_never  # typing has it from Python 3.11

from ._lazy import LazyModule
from .coding.outputs import fold_outputs, output_dict
from .errors import redact
from .messages import (
    AnyEvent,
    ApprovalDecided,
    ApprovalRequested,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ErrorOccurred,
    Event,
    ExecutionFinished,
    ExecutionOutput,
    HumanInputReceived,
    HumanInputRequested,
    MessageSent,
    ModelCallFinished,
    SpeakerSelected,
    StreamStarted,
    TokenChunk,
    ToolCallFinished,
    ToolCallProposed,
    UsageUpdated,
    content_str,
)

nbformat: Any = LazyModule("nbformat")  # nbformat pulls in jsonschema: ~0.3 s, paid at the first export
v4: Any = LazyModule("nbformat.v4")

__all__ = ["Recorder", "events_to_notebook", "write_notebook"]

_SECRET_KEY = re.compile(r"(?i)(api[_-]?key|authorization|secret|password|passwd|access[_-]?token|^token$)")
_SHELL = {"sh", "bash", "shell", "console", "zsh"}
_PYTHON = {"", "python", "py", "python3", "ipython"}
# Outside code, these would be rendered as HTML by the notebook's Markdown renderer.
_CODE_SPANS = re.compile(r"(```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]+`)", re.S)
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


class Recorder:
    """A subscriber that keeps the events of a chat (without the redundant token chunks).

    Streamed :class:`ExecutionOutput` events are kept only until their block's
    :class:`ExecutionFinished` arrives with its own ``outputs``.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, TokenChunk):
            return
        if isinstance(event, ExecutionFinished) and event.outputs:
            self.events = [e for e in self.events
                           if not (isinstance(e, ExecutionOutput) and e.block_id == event.block_id)]
        self.events.append(event)

    def clear(self) -> None:
        self.events.clear()

    def to_notebook(self, path: str | Path, **kw: Any) -> Path:
        """Write the recorded chat to ``path`` (see :func:`write_notebook`)."""
        return write_notebook(self.events, path, **kw)


# ----------------------------------------------------------------------- sanitizing


def _clean(value: Any) -> Any:
    """Redact every string and drop credential-named keys, recursively."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


def _clean_bundle(data: dict[str, Any]) -> dict[str, Any]:
    """Redact a MIME bundle's text parts; leave base64 binary (images, pdf) untouched."""
    out = {}
    for mime, value in data.items():
        binary = (mime.startswith("image/") and mime != "image/svg+xml") or mime == "application/pdf"
        out[mime] = value if binary else _clean(value)
    return out


def _escape_markdown(text: str) -> str:
    """Escape HTML outside code spans/fences so raw tags cannot break the rendered cell."""
    parts = _CODE_SPANS.split(text)
    return "".join(p if i % 2 else p.translate(_HTML_ESCAPES) for i, p in enumerate(parts))


def _fenced(text: str, lang: str = "") -> str:
    """A code fence longer than any backtick run inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


# ------------------------------------------------------------------------- outputs


def _notebook_outputs(outputs: Iterable[dict[str, Any]], execution_count: int | None) -> list[Any]:
    """A block's outputs folded (:func:`~agentnb.coding.outputs.fold_outputs`) as redacted nbformat nodes."""
    nodes = []
    for out in fold_outputs(outputs):
        kind = out["output_type"]
        if kind == "stream":
            nodes.append(v4.new_output("stream", name=out["name"], text=redact(out["text"])))
        elif kind == "error":
            nodes.append(v4.new_output("error", ename=redact(str(out["ename"])), evalue=redact(str(out["evalue"])),
                                       traceback=[redact(str(t)) for t in out["traceback"]]))
        else:  # display_data, execute_result
            kw: dict[str, Any] = {"data": _clean_bundle(out["data"]), "metadata": _clean(out["metadata"])}
            if kind == "execute_result":
                kw["execution_count"] = execution_count
            nodes.append(v4.new_output(kind, **kw))
    return nodes


def _cell_source(language: str, code: str) -> str:
    lang = (language or "").strip().lower()
    if lang in _PYTHON or code.lstrip().startswith("%%"):
        return code
    if lang in _SHELL:
        return "%%bash\n" + code
    return f"%%script {lang}\n" + code


def _counts(finished: list[ExecutionFinished]) -> list[int]:
    """Recorded execution counts if present and strictly increasing, else 1..n."""
    recorded = [f.execution_count for f in finished]
    if all(isinstance(c, int) and c > 0 for c in recorded) and all(
            a < b for a, b in itertools.pairwise(recorded)):  # type: ignore[operator]
        return recorded  # type: ignore[return-value]
    return list(range(1, len(finished) + 1))


# ----------------------------------------------------------------------- notebook


def _message_markdown(ev: MessageSent) -> str:
    msg = ev.message or {}
    head = f"**{_escape_markdown(redact(ev.sender))} → {_escape_markdown(redact(ev.recipient))}**"
    body = redact(content_str(msg.get("content")))
    parts = [head]
    if body.strip():
        parts.append(_escape_markdown(body))
    calls = msg.get("tool_calls") or ([msg["function_call"]] if msg.get("function_call") else [])
    if calls:
        parts.append("Tool calls:\n\n" + _fenced(json.dumps(_clean(calls), indent=2, ensure_ascii=False),
                                                 "json"))
    if len(parts) == 1:
        parts.append("*(empty message)*")
    return "\n\n".join(parts)


def _summary(events: list[Event], metadata: dict[str, Any]) -> dict[str, Any]:
    started = [e for e in events if isinstance(e, ChatStarted)]
    agents: list[str] = []
    for start in started:
        for name in [start.sender, start.recipient, *start.agents]:
            if name not in agents:
                agents.append(name)
    models = [m for m in dict.fromkeys([*(e.model for e in started),
                                        *(e.model for e in events if isinstance(e, UsageUpdated))]) if m]
    usage: dict[str, Any] = {}
    for e in events:
        if isinstance(e, UsageUpdated):  # each event is one model call: add them up per agent
            row = usage.setdefault(e.agent, {"model": e.model, "prompt_tokens": 0, "completion_tokens": 0,
                                             "cost": 0.0})
            row["model"] = e.model
            row["prompt_tokens"] += e.prompt_tokens
            row["completion_tokens"] += e.completion_tokens
            row["cost"] += e.cost
    first_msg = next((e for e in events if isinstance(e, MessageSent)), None)
    chat_ids = list(dict.fromkeys(e.chat_id for e in events if e.chat_id))
    created = min((e.time for e in events), default=None)
    info: dict[str, Any] = {
        "agents": agents or list(dict.fromkeys(
            n for e in events if isinstance(e, MessageSent) for n in (e.sender, e.recipient))),
        "models": models,
        "chat_id": chat_ids[0] if len(chat_ids) == 1 else (chat_ids or None),
        "created": _dt.datetime.fromtimestamp(created or _dt.datetime.now().timestamp(),
                                              tz=_dt.timezone.utc).isoformat(timespec="seconds"),
        "agentnb_version": _version(),
        "task": content_str(first_msg.message.get("content")) if first_msg else "",
        "usage": usage,
    }
    info.update(metadata)
    return _clean(info)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("agentnb")
    except Exception:
        return "unknown"


def _title_cell(title: str | None, info: dict[str, Any]) -> Any:
    lines = [f"# {_escape_markdown(redact(title or 'agentnb conversation'))}", ""]
    if info.get("agents"):
        lines.append(f"- **Agents:** {_escape_markdown(', '.join(map(str, info['agents'])))}")
    if info.get("models"):
        lines.append(f"- **Model:** {_escape_markdown(', '.join(map(str, info['models'])))}")
    lines.append(f"- **Date:** {info['created']}")
    task = str(info.get("task") or "").strip()
    if task:
        first = task.splitlines()[0]
        lines.append(f"- **Task:** {_escape_markdown(first[:200] + ('…' if len(first) > 200 else ''))}")
    return v4.new_markdown_cell("\n".join(lines))


def events_to_notebook(events: Iterable[Event], *, title: str | None = None,
                       metadata: dict[str, Any] | None = None) -> nbformat.NotebookNode:
    """Build an nbformat v4.5 notebook from a chat's events."""
    events = [e for e in events if not isinstance(e, TokenChunk)]
    info = _summary(events, dict(metadata or {}))
    finished = [e for e in events if isinstance(e, ExecutionFinished)]
    counts = dict(zip(map(id, finished), _counts(finished), strict=True))
    streamed: dict[str, list[ExecutionOutput]] = {}
    proposed: dict[str, ToolCallProposed] = {}
    ran: set[str] = set()  # agents that ran (or were refused) a block since their last message
    cells = [_title_cell(title, info)]
    for ev in events:
        if not isinstance(ev, AnyEvent):
            continue  # not an agentnb event: nothing to export
        match ev:
            case MessageSent():
                reported, ran = ev.sender in ran, set()
                if reported:  # the executor's report to the model, right after its blocks: folded under the code
                    told = redact(content_str(ev.message.get("content")))
                    cells.append(v4.new_markdown_cell(
                        f"<details><summary>what the model saw</summary>\n\n{_fenced(told)}\n\n</details>"))
                else:
                    cells.append(v4.new_markdown_cell(_message_markdown(ev)))
            case CodeBlockProposed():
                ran.add(ev.executor)
            case ExecutionOutput():
                streamed.setdefault(ev.block_id, []).append(ev)
            case ExecutionFinished():
                count = counts[id(ev)]
                raw = ev.outputs or [output_dict(e) for e in streamed.pop(ev.block_id, [])]
                cells.append(v4.new_code_cell(
                    source=redact(_cell_source(ev.language, ev.code)), execution_count=count,
                    outputs=_notebook_outputs(raw, count)))
            case ToolCallProposed():
                proposed[ev.call_id] = ev
            case ToolCallFinished():
                call = proposed.get(ev.call_id)
                args = f"({redact(call.arguments)})" if call else "()"
                status = "error" if ev.is_error else "result"
                cells.append(v4.new_markdown_cell(
                    f"**Tool `{redact(ev.name)}` {status}** (run by {_escape_markdown(redact(ev.executor))})"
                    f"\n\n{_fenced(redact(ev.name) + args, 'python')}\n\n{_fenced(redact(ev.content))}"))
            case ApprovalDecided():
                if not ev.decision.approved:  # an approved block shows as its code cell
                    reason = f": {_escape_markdown(redact(ev.decision.reason))}" if ev.decision.reason else ""
                    cells.append(v4.new_markdown_cell(f"*{ev.request.kind} rejected{reason}*"))
            case ErrorOccurred():
                cells.append(v4.new_markdown_cell(
                    f"**Error in {_escape_markdown(redact(ev.source))}:** `{redact(ev.error_type)}`\n\n"
                    + _fenced(redact(ev.message))))
            case ChatFinished():
                text = f"*Chat finished ({_escape_markdown(redact(ev.reason))}).*"
                if ev.summary:
                    text += "\n\n**Summary:** " + _escape_markdown(redact(ev.summary))
                cells.append(v4.new_markdown_cell(text))
            case ChatStarted() | UsageUpdated():
                pass  # in the notebook's metadata and title cell (see _summary)
            case (StreamStarted() | TokenChunk() | SpeakerSelected() | ApprovalRequested() | HumanInputRequested()
                  | HumanInputReceived() | ModelCallFinished()):
                pass  # progress and requests: the message, code cell or rejection that follows is exported
            case _:
                assert_never(ev)
    nb = v4.new_notebook(cells=cells)
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"}
    nb.metadata["agentnb"] = info
    return nb


def write_notebook(events: Iterable[Event], path: str | Path, *, overwrite: bool = False, unique: bool = False,
                   **kw: Any) -> Path:
    """Export ``events`` (see :func:`events_to_notebook`), validate, and write to ``path``; returns the path.

    An existing file is never replaced silently: it raises :class:`FileExistsError` unless
    ``overwrite=True`` (then replaced atomically, a symlink at ``path`` replaced, not followed),
    or with ``unique=True`` the first free name ``stem-2.ipynb``, ``stem-3.ipynb``, ... is used.
    """
    if overwrite and unique:
        raise ValueError("write_notebook: pass overwrite=True or unique=True, not both")
    nb = events_to_notebook(events, **kw)
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if overwrite:
        return _replace(path, text)
    candidates = _numbered(path) if unique else iter([path])
    for candidate in candidates:
        try:
            with open(candidate, "x", encoding="utf-8") as fh:  # O_EXCL: never an existing file or symlink
                fh.write(text)
        except FileExistsError:
            if unique:
                continue
            raise FileExistsError(
                f"{candidate} already exists; not overwritten. Pass overwrite=True to replace it "
                f"(or unique=True to write under a free name)") from None
        return candidate
    raise AssertionError("unreachable: _numbered is endless")


def _numbered(path: Path) -> Iterator[Path]:
    """``path``, then ``stem-2.suffix``, ``stem-3.suffix``, ... (endless)."""
    yield path
    for n in itertools.count(2):
        yield path.with_name(f"{path.stem}-{n}{path.suffix}")


def _replace(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file next to ``path`` and move it over ``path`` in one step."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path

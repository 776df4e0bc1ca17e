"""Conversation -> ``.ipynb``: turn a chat's event stream into a re-runnable notebook.

Messages become Markdown cells, executed code becomes code cells carrying the outputs
the person saw (plots, DataFrames, errors), tool results become Markdown cells.
Model text never reaches a Markdown parser as Markdown: each message cell is one HTML block built by
agentnb's escaping renderer (:mod:`agentnb.notebook.html`: every ``<``, ``>``, ``&`` escaped before any
tag is added, links only http(s)), with ``[`` and line breaks as character references, so no renderer
(JupyterLab on a trusted notebook, nbconvert, Voilà) can find a tag, a link or a blank line in it.
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
_BLOCK_START = re.compile(r"(?=<(?:p|pre|ul|ol|li|h[1-6]|blockquote|details)>)|(?=<(?:div|pre) )")
"""Where a line break may go in a cell's HTML (before our own block tags: model text holds no ``<``)."""
_INLINE_MARKUP = str.maketrans({"[": "&#91;", "]": "&#93;", "`": "&#96;", "\\": "&#92;", "\n": " ",
                                "\r": " "})


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


# agentnb.notebook imports this module (the Export button): its escaping renderer is imported on use.


def _text(value: object) -> str:
    """Redacted model or user text as escaped HTML text (hidden characters made visible)."""
    from .notebook.html import escape

    return escape(redact(str(value)))


def _markdown(text: str) -> str:
    """Redacted model text as HTML by agentnb's escaping Markdown-subset renderer (http(s) links only)."""
    from .notebook.html import markdown_to_html

    return markdown_to_html(redact(text))


def _html_cell(body: str) -> Any:
    """A Markdown cell that is a single HTML block: ``body`` inside one ``<div>``, no blank line anywhere.

    ``body`` is built from escaped text only (model text holds no ``<``). Its line breaks become ``&#10;``
    (the same text inside ``<pre>``) and ``[`` becomes ``&#91;``, so the Markdown parser never ends the
    block early nor forms a link; line breaks are then put back only before our own block tags.
    """
    flat = body.replace("\r", "&#13;").replace("\n", "&#10;").replace("[", "&#91;")
    return v4.new_markdown_cell(f'<div class="agentnb-export">{_BLOCK_START.sub(chr(10), flat)}</div>')


def _code(text: str, language: str = "text") -> str:
    """``<pre>`` of redacted ``text`` (escaped, highlighted as ``language``)."""
    from .notebook.html import highlight_code

    return highlight_code(redact(text), language)


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


def _message_cell(ev: MessageSent) -> Any:
    msg = ev.message or {}
    parts = [f"<p><strong>{_text(ev.sender)} → {_text(ev.recipient)}</strong></p>"]
    body = content_str(msg.get("content"))
    if body.strip():
        parts.append(_markdown(body))
    calls = msg.get("tool_calls") or ([msg["function_call"]] if msg.get("function_call") else [])
    if calls:
        parts.append("<p>Tool calls:</p>" + _code(json.dumps(_clean(calls), indent=2, ensure_ascii=False), "json"))
    if len(parts) == 1:
        parts.append("<p><em>(empty message)</em></p>")
    return _html_cell("".join(parts))


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
    """A Markdown heading (escaped inline text: no tag, link or code span can form) and an HTML list."""
    heading = _text(title or "agentnb conversation").translate(_INLINE_MARKUP)
    items = []
    if info.get("agents"):
        items.append(f"<li><strong>Agents:</strong> {_text(', '.join(map(str, info['agents'])))}</li>")
    if info.get("models"):
        items.append(f"<li><strong>Model:</strong> {_text(', '.join(map(str, info['models'])))}</li>")
    items.append(f"<li><strong>Date:</strong> {_text(info['created'])}</li>")
    task = str(info.get("task") or "").strip()
    if task:
        first = task.splitlines()[0]
        items.append(f"<li><strong>Task:</strong> {_text(first[:200] + ('…' if len(first) > 200 else ''))}</li>")
    listing = _html_cell("<ul>" + "".join(items) + "</ul>").source
    return v4.new_markdown_cell(f"# {heading}\n\n{listing}")


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
                    cells.append(_html_cell(f"<details><summary>what the model saw</summary>{_code(told)}</details>"))
                else:
                    cells.append(_message_cell(ev))
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
                args = f"({call.arguments})" if call else "()"
                status = "error" if ev.is_error else "result"
                cells.append(_html_cell(
                    f"<p><strong>Tool <code>{_text(ev.name)}</code> {status}</strong> (run by {_text(ev.executor)})</p>"
                    + _code(ev.name + args, "python") + _code(ev.content)))
            case ApprovalDecided():
                if not ev.decision.approved:  # an approved block shows as its code cell
                    reason = f": {_text(ev.decision.reason)}" if ev.decision.reason else ""
                    cells.append(_html_cell(f"<p><em>{_text(ev.request.kind)} rejected{reason}</em></p>"))
            case ErrorOccurred():
                cells.append(_html_cell(
                    f"<p><strong>Error in {_text(ev.source)}:</strong> <code>{_text(ev.error_type)}</code></p>"
                    + _code(ev.message)))
            case ChatFinished():
                text = f"<p><em>Chat finished ({_text(ev.reason)}).</em></p>"
                if ev.summary:
                    text += "<p><strong>Summary:</strong></p>" + _markdown(ev.summary)
                cells.append(_html_cell(text))
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

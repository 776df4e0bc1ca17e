"""A conversation as one static HTML page: what a saved notebook keeps of a ChatPanel.

The panel is a widget; a saved notebook keeps only a reference to it, which no other
front end can show ("Error displaying widget: model not found"). So when a chat ends the
panel replaces itself with :func:`transcript_html` of its events — ordinary ``text/html``
with plots inlined as ``data:`` images — which JupyterLab, Notebook 7, VS Code, nbviewer
and GitHub all render. The same helpers fold long outputs in the live panel.

Model text goes through :mod:`agentnb.notebook.html` (made visible with
:func:`agentnb.textguard.visible`, then escaped). Execution outputs are shown as the
kernel produced them, except ``text/html``: cleaned by :func:`~.safe_output.clean_html` (this page is
trusted ``text/html`` of the user's notebook; a script of the agents' kernel must not run in it).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from typing_extensions import assert_never  # typing has it from Python 3.11

from ..coding.outputs import fold_outputs, output_dict
from ..messages import (
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
from .html import CSS, Palette, escape, for_people, highlight_code, strip_colours
from .safe_output import clean_html

_FENCED = re.compile(r"^[ \t]*(?:`{3,}|~{3,})[ \t]*([\w+#.-]*).*?(?:^[ \t]*(?:`{3,}|~{3,})[ \t]*$|\Z)",
                     re.MULTILINE | re.DOTALL)

FOLD_LINES = 12
"""Outputs and tracebacks longer than this fold behind a one-line summary."""

STATE_LABELS = {"running": "● running", "waiting": "● waiting for you", "stopping": "■ stopping…",
                "finished": "✔ finished", "stopped": "■ stopped", "failed": "✘ failed", "idle": "idle"}


@dataclass(slots=True)
class Said:
    """A message as the static page needs it (a tenth of a :class:`MessageSent`'s memory)."""

    sender: str
    recipient: str
    message: dict[str, Any]


def state_of(reason: str, error: str | None = None) -> str:
    """The panel state for a ChatFinished ``reason``: finished, stopped or failed."""
    if reason == "stopped":
        return "stopped"
    if error or reason == "error":
        return "failed"
    return "finished"


def _pre(text: str, css: str = "agentnb-out") -> str:
    return f'<pre class="{css}">{escape(strip_colours(text))}</pre>'


def fold_text(text: str, *, summary: str = "", css: str = "agentnb-out") -> str:
    """``<pre>`` of ``text``, folded behind ``summary`` (default its first line) when it is long."""
    lines = text.rstrip("\n").split("\n")
    if len(lines) <= FOLD_LINES:
        return _pre(text, css)
    first = summary or strip_colours(lines[0])
    more = len(lines) - 1
    return (f"<details><summary>{escape(first[:200])} ▸ {more} more lines</summary>"
            f"{_pre(text, css)}</details>")


def _image(mime: str, data: Any) -> str:
    if isinstance(data, list):
        data = "".join(data)
    if mime == "image/svg+xml":
        data = base64.b64encode(str(data).encode("utf-8")).decode("ascii")
    payload = escape(str(data).replace("\n", ""))
    return f'<img src="data:{mime};base64,{payload}" alt="plot">'


def bundle_html(data: dict[str, Any]) -> str:
    """The richest form of a MIME bundle this page can show."""
    for mime in ("image/png", "image/jpeg", "image/svg+xml"):
        if mime in data:
            return _image(mime, data[mime])
    if "text/html" in data:
        value = data["text/html"]
        html = "".join(value) if isinstance(value, list) else str(value)
        return f'<div class="agentnb-html">{clean_html(html)}</div>'
    for mime in ("text/markdown", "text/latex", "text/plain", "application/json"):
        if mime in data:
            value = data[mime]
            return fold_text("".join(value) if isinstance(value, list) else str(value))
    return ""


def error_summary(ename: str, evalue: str) -> str:
    """``ZeroDivisionError: division by zero`` — the line a traceback folds behind."""
    return f"{ename}: {evalue}" if evalue else ename


def outputs_html(outputs: list[dict[str, Any]]) -> str:
    """nbformat-style outputs as HTML: streams merged, long text and tracebacks folded."""
    parts: list[str] = []
    stream: list[str] = []
    stream_name = ""

    def flush() -> None:
        if stream:
            parts.append(fold_text("".join(stream), css="agentnb-out agentnb-err" if stream_name == "stderr"
                                   else "agentnb-out"))
            stream.clear()

    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") != stream_name:
                flush()
                stream_name = str(out.get("name"))
            text = out.get("text", "")
            stream.append("".join(text) if isinstance(text, list) else str(text))
            continue
        flush()
        if kind == "error":
            ename, evalue = str(out.get("ename", "Error")), str(out.get("evalue", ""))
            tb = "\n".join(out.get("traceback") or []) or error_summary(ename, evalue)
            head = error_summary(ename, evalue)
            lines = strip_colours(tb).rstrip("\n").split("\n")
            body = _pre(tb, "agentnb-out agentnb-err")
            parts.append(f'<div class="agentnb-warning">✘ {escape(head[:300])}</div>'
                         + (f"<details><summary>traceback ▸ {len(lines)} lines</summary>{body}</details>"
                            if len(lines) > 1 else ""))
        elif kind in ("display_data", "execute_result"):
            parts.append(bundle_html(out.get("data") or {}))
    flush()
    return "".join(parts)


def is_protocol_only(message: dict[str, Any]) -> bool:
    """True for a message people need not see: empty, or nothing but the protocol word (``TERMINATE``)."""
    text = content_str(message.get("content"))
    return not for_people(text).strip() and not (
        message.get("tool_calls") or message.get("function_call") or message.get("tool_responses"))


def model_saw_html(text: str) -> str:
    """The text the model was given about a block, folded."""
    return (f'<details class="agentnb-saw"><summary>what the model saw</summary>'
            f'{_pre(text)}</details>')


class _Block:
    __slots__ = ("code", "edited", "executor", "finished", "language", "pending", "saw", "streamed", "verdict")

    def __init__(self, executor: str, language: str, code: str) -> None:
        self.executor, self.language, self.code = executor, language, code
        self.streamed: list[ExecutionOutput] = []
        self.finished: ExecutionFinished | None = None
        self.verdict = ""
        self.edited = False
        self.pending = False
        self.saw = ""


def _undecided(blocks: dict[str, _Block], agent: str) -> _Block | None:
    """The latest block of ``agent`` with no approval verdict yet."""
    return next((b for b in reversed(list(blocks.values())) if b.executor == agent and not b.verdict), None)


def block_html(block: _Block, *, interrupted: bool = False) -> str:
    """One code block's outcome: edited code, outputs (folded), verdict, what the model saw."""
    parts = []
    if block.verdict:
        parts.append(f'<div class="agentnb-note">{escape(block.verdict)}</div>')
    if block.edited:
        parts.append(highlight_code(block.code, block.language, actions=True))  # Copy / Insert below
    raw = block.finished.outputs if block.finished and block.finished.outputs else map(output_dict, block.streamed)
    parts.append(outputs_html(fold_outputs(raw)))
    if block.finished is not None and block.finished.exit_code not in (0, None) and "✘" not in parts[-1]:
        parts.append(f'<div class="agentnb-warning">✘ exit code {block.finished.exit_code}</div>')
    elif interrupted and block.finished is None and block.verdict != "✘ rejected":
        parts.append('<div class="agentnb-warning">■ interrupted</div>')
    elif block.pending and not block.verdict:
        parts.append('<div class="agentnb-note">● waiting for approval</div>')
    if block.saw:
        parts.append(model_saw_html(block.saw))
    return f'<div class="agentnb-block">{"".join(parts)}</div>'


def message_card(sender: str, recipient: str | None, message: dict[str, Any], colour: str) -> str:
    """A message card for the static page (same look as the panel's)."""
    from .cards import message_html

    return message_html(sender, recipient, message, colour=colour)


def transcript_html(events: list[Event | Said], *, title: str = "", state: str = "", status: str = "") -> str:
    """The whole conversation of ``events`` as one self-contained HTML fragment (CSS included).

    ``state`` (finished / stopped / failed / running) and ``status`` (the panel's status line)
    head the page; model summaries of executed code fold under their block as "what the model saw".
    """
    palette = Palette()
    items: list[Any] = []  # str (ready HTML) or _Block, in order
    blocks: dict[str, _Block] = {}
    open_blocks: dict[str, list[_Block]] = {}  # executor -> blocks run since its last message
    depth = 0
    for ev in events:
        if not isinstance(ev, Said | AnyEvent):
            continue  # not a messages.AnyEvent: nothing to show
        match ev:
            case Said() | MessageSent():  # Said first: the panel keeps its messages in this compact form
                ran = open_blocks.pop(ev.sender, None)
                open_blocks.clear()  # a report comes right after its blocks, before anyone else speaks
                if ran:
                    ran[-1].saw = content_str(ev.message.get("content"))
                elif not is_protocol_only(ev.message):
                    items.append(message_card(ev.sender, ev.recipient, ev.message, palette(ev.sender)))
            case ChatStarted():
                depth += 1
                for name in (ev.sender, ev.recipient, *ev.agents):
                    palette(name)
            case ChatFinished():
                depth = max(0, depth - 1)
                if ev.error and depth > 0:  # a nested chat's failure; the outer one's is in the status line
                    items.append(f'<div class="agentnb-warning">✘ {escape(ev.error)}</div>')
            case CodeBlockProposed():
                proposed = blocks[ev.block_id] = _Block(ev.executor, ev.language, ev.code)
                items.append(proposed)
                open_blocks.setdefault(ev.executor, []).append(proposed)
            case ApprovalRequested():  # shown while undecided (a snapshot of a running chat)
                pending = _undecided(blocks, ev.request.agent)
                if pending is not None:
                    pending.pending = True
            case ApprovalDecided():
                block = _undecided(blocks, ev.request.agent)
                d = ev.decision
                verdict = ("✔ approved" + (" (edited)" if d.edited else "")) if d.approved else "✘ rejected"
                if block is None:
                    items.append(f'<div class="agentnb-note">{escape(verdict)}</div>')
                    continue
                block.verdict = verdict + (f": {d.reason}" if d.reason and not d.approved else "")
                if d.edited and d.code is not None:
                    block.code, block.edited = d.code, True
            case ExecutionOutput():
                block = blocks.get(ev.block_id)
                if block is not None:
                    block.streamed.append(ev)
            case ExecutionFinished():
                block = blocks.get(ev.block_id)
                if block is None:
                    block = blocks[ev.block_id] = _Block(ev.executor, ev.language, ev.code)
                    items.append(block)
                    open_blocks.setdefault(ev.executor, []).append(block)
                block.finished = ev
            case ToolCallFinished():
                mark = "✘" if ev.is_error else "✔"
                items.append(f'<div class="agentnb-block"><div class="agentnb-note">{mark} {escape(ev.name)} '
                             f"returned</div>{fold_text(ev.content)}</div>")
                open_blocks.setdefault(ev.executor, []).append(_Block(ev.executor, "text", ""))
            case ErrorOccurred():
                if not ev.fatal:  # a fatal one is the status line's
                    items.append(f'<div class="agentnb-warning">✘ {escape(ev.error_type)}: '
                                 f"{escape(ev.message[:500])}</div>")
            case (StreamStarted() | TokenChunk() | SpeakerSelected() | ToolCallProposed() | HumanInputRequested()
                  | HumanInputReceived() | UsageUpdated() | ModelCallFinished()):
                pass  # not part of the page: the message or block they lead to is
            case _:
                assert_never(ev)
    interrupted = state in ("stopped", "failed")
    body = []
    for item in items:
        if isinstance(item, _Block):
            body.append(block_html(item, interrupted=interrupted))
        else:
            body.append(item)
    label = STATE_LABELS.get(state, state)
    head = f"<b>{escape(title)}</b> " if title else ""
    line = status or (f'<span class="agentnb-state-{escape(state)}">{escape(label)}</span>' if state else "")
    return (f'{CSS}<div class="agentnb-static">{head}<div class="agentnb-status">{line}</div>'
            f'{"".join(body)}</div>')


def transcript_text(events: list[Event | Said], *, title: str = "", state: str = "") -> str:
    """A short plain-text form (``text/plain`` of the saved output): who said what, code as one line."""
    from ..textguard import visible

    lines = [f"agentnb chat {title} — {STATE_LABELS.get(state, state)}".replace("  ", " ")]
    ran: set[str] = set()
    for ev in events:
        if not isinstance(ev, Said | AnyEvent):
            continue  # not a messages.AnyEvent: nothing to show
        match ev:
            case Said() | MessageSent():  # Said first: the panel keeps its messages in this compact form
                if ev.sender in ran:  # the executor's report to the model
                    ran.discard(ev.sender)
                elif not is_protocol_only(ev.message):
                    text = _FENCED.sub(lambda m: f"[{m.group(1) or 'code'} code]",
                                       for_people(content_str(ev.message.get("content"))))
                    first = next((line for line in text.split("\n") if line.strip()), "")
                    lines.append(f"{ev.sender}: {first[:160]}")
            case CodeBlockProposed():
                ran.add(ev.executor)
            case ExecutionFinished():
                mark = "✔" if ev.exit_code == 0 else f"✘ exit code {ev.exit_code}"
                lines.append(f"  [{ev.language} block ran: {mark}]")
            case (ChatStarted() | ChatFinished() | StreamStarted() | TokenChunk() | SpeakerSelected()
                  | ToolCallProposed() | ToolCallFinished() | ApprovalRequested() | ApprovalDecided()
                  | HumanInputRequested() | HumanInputReceived() | ExecutionOutput() | UsageUpdated()
                  | ModelCallFinished() | ErrorOccurred()):
                pass  # the short form has who said what and which blocks ran
            case _:
                assert_never(ev)
    return visible("\n".join(lines))


__all__ = ["bundle_html", "fold_text", "outputs_html", "state_of", "transcript_html", "transcript_text"]

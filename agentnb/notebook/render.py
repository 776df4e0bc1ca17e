"""PlainRenderer: the conversation as ordinary rich outputs (no widgets).

For front ends that do not render widgets — nbconvert, nbval, Voilà without a
widget manager, terminal IPython — and for saved notebooks: each message is a
``text/html`` + ``text/plain`` bundle, execution outputs are displayed as
the MIME bundles they are (plots, tables, tracebacks), so the notebook file
keeps the whole conversation.

Notes are ``text/html`` + ``text/plain``, never ``text/markdown``: front ends render trusted Markdown with
raw HTML enabled and unsanitized, so a model reply holding ``<img onerror=…>`` (in prose, an indented or
``~~~`` "fence", anywhere a Markdown parser might disagree with an escaper) would run in the user's page.
The HTML is built by agentnb itself (:mod:`.html`: every piece of text escaped before any markup is added,
only http(s) links), so it is safe by construction. The constant notes use the same form, so every note has
one shape (one choke point, :meth:`PlainRenderer.show`).

Every message, code block, prompt and note goes through :func:`agentnb.textguard.visible`
(control, bidi and zero-width characters shown, not interpreted); an approval request whose
code hides characters carries a warning line. Execution outputs are shown as produced, made safe for
the user's page first (:func:`~agentnb.notebook.safe_output.safe_bundle`: no script of the agents' kernel runs).
"""

from __future__ import annotations

import sys

from IPython.display import display
from typing_extensions import assert_never  # typing has it from Python 3.11

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
    UsageTotals,
    UsageUpdated,
    content_str,
)
from ..textguard import HIDDEN_WARNING, has_hidden, visible
from .html import escape, for_people, highlight_code, markdown_to_html
from .risk import risk_cues
from .safe_output import safe_bundle
from .static import is_protocol_only


def _em(text: str) -> str:
    """An italic note line of ``text`` (escaped)."""
    return f"<p><em>{escape(text)}</em></p>"


def _code(text: str, language: str = "text") -> str:
    """Highlighted ``<pre>`` of ``text`` (escaped by pygments), colours inline: no stylesheet in plain view."""
    return highlight_code(text.rstrip(), language, inline_styles=True)


def _plain_fence(text: str, language: str = "") -> str:
    """``text`` fenced for the ``text/plain`` form (a reader sees where it starts and ends)."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


class PlainRenderer:
    """Display events as plain rich output on the current cell (or terminal)."""

    def __init__(self) -> None:
        self.usage = UsageTotals()
        """Tokens and cost of the model calls so far (shown when the chat finishes)."""
        self._ran: set[str] = set()
        """Agents that ran (or were refused) a block since their last message."""

    def show(self, html: str, plain: str) -> None:
        """Display a note: ``html`` built only from escaped text (:mod:`.html`), ``plain`` made visible."""
        display({"text/html": f'<div class="agentnb-plain">{html}</div>', "text/plain": visible(plain)}, raw=True)

    def handle_event(self, event: Event) -> None:
        if not isinstance(event, AnyEvent):
            return  # not a messages.AnyEvent: nothing to show
        match event:
            case ChatStarted():
                self.show(_em(f"{event.sender} → {event.recipient}: chat started"),
                          f"--- {event.sender} → {event.recipient}")
            case MessageSent():
                self._message(event)
            case CodeBlockProposed():
                self._ran.add(event.executor)
            case SpeakerSelected():
                self.show(_em(f"next speaker: {event.speaker}"), f"Next speaker: {event.speaker}")
            case ToolCallProposed():
                self.show(f"<p><em>{escape(event.executor)} calls <code>{escape(event.name)}</code></em></p>",
                          f">>>>>>>> {event.executor} calls {event.name}({event.arguments})")
            case ToolCallFinished():
                self.show(f"<p><em><code>{escape(event.name)}</code> returned</em></p>" + _code(event.content[:2000]),
                          f"{event.name} returned: {event.content}")
            case ApprovalRequested():
                self._approval_requested(event)
            case ApprovalDecided():
                d = event.decision
                word = ("approved" + (" (edited)" if d.edited else "")) if d.approved else "rejected"
                why = f": {d.reason}" if d.reason else ""
                self.show(_em(f"{word}{why}"), f"{word}{why}")
            case HumanInputRequested():
                self.show(_em(f"{event.agent} asks: {event.prompt}"), f"{event.agent} asks: {event.prompt}")
            case ExecutionOutput():
                self._output(event)
            case ExecutionFinished():
                if event.exit_code != 0:
                    self.show(_em(f"exit code {event.exit_code}"), f"exit code {event.exit_code}")
            case UsageUpdated():
                self.usage.add(event)
            case ErrorOccurred():
                self.show(f"<p><strong>error</strong> in {escape(event.source)}: "
                          f"<code>{escape(event.error_type)}</code>: {escape(event.message)}</p>",
                          f"error in {event.source}: {event.error_type}: {event.message}")
            case ChatFinished():
                tail = f" ({self.usage.tokens:,} tokens, ${self.usage.cost:.4f})" if self.usage.tokens else ""
                err = f" — {event.error}" if event.error else ""
                self.show(_em(f"chat finished: {event.reason}{tail}{err}"),
                          f"--- chat finished: {event.reason}{tail}{err}")
            case StreamStarted() | TokenChunk() | HumanInputReceived() | ModelCallFinished():
                pass  # plain output shows whole messages; a typed reply arrives as a message; calls: loggers
            case _:
                assert_never(event)

    def _message(self, ev: MessageSent) -> None:
        msg = ev.message
        text = content_str(msg.get("content"))
        reported = ev.sender in self._ran
        self._ran.clear()  # a report comes right after its blocks, before anyone else speaks
        if reported:  # the executor's report to the model: folded, not a second copy
            self.show(f"<details><summary>what the model saw</summary><pre>{escape(text)}</pre></details>",
                      f"(what the model saw: {len(text.splitlines())} lines)")
            return
        if is_protocol_only(msg):
            return
        text = for_people(text)
        parts = [text] if text else []
        html_parts = [markdown_to_html(text, inline_styles=True)] if text else []
        for call in msg.get("tool_calls") or []:
            fn = call.get("function", {})
            name, args = str(fn.get("name", "")), str(fn.get("arguments", ""))
            parts.append(f"tool call `{name}`\n\n{_plain_fence(args, 'json')}")
            html_parts.append(f"<p>tool call <code>{escape(name)}</code></p>" + _code(args, "json"))
        if msg.get("role") == "tool" or msg.get("tool_responses"):
            parts = ["tool result\n\n" + _plain_fence(text)]
            html_parts = ["<p>tool result</p>" + _code(text)]
        plain = f"{ev.sender} (to {ev.recipient}):\n" + "\n\n".join(parts) + "\n"
        head = f"<p><strong>{escape(ev.sender)}</strong> → {escape(ev.recipient)}</p>"
        self.show(head + "".join(html_parts), plain)

    def _approval_requested(self, ev: ApprovalRequested) -> None:
        r = ev.request
        cues = risk_cues(r.code)
        warning = f"{HIDDEN_WARNING}\n\n" if has_hidden(r.code) else ""
        warning += "".join(f"⚠ {cue}\n\n" for cue in cues)
        html = f"<p><strong>approval needed</strong>: {escape(r.agent)} wants to run</p>"
        if has_hidden(r.code):
            html += f'<p class="agentnb-warning"><strong>{escape(HIDDEN_WARNING)}</strong></p>'
        html += "".join(f'<p class="agentnb-risk"><strong>⚠ {escape(cue)}</strong></p>' for cue in cues)
        self.show(html + _code(r.code, r.language or "python"),
                  f">>>>>>>> APPROVAL NEEDED ({r.agent}):\n{warning}{r.code}")

    def _output(self, ev: ExecutionOutput) -> None:
        if ev.kind == "stream":
            stream = sys.stderr if ev.name == "stderr" else sys.stdout
            stream.write(ev.text or "")
            stream.flush()
        elif ev.kind == "error":
            tb = "\n".join(ev.traceback) if ev.traceback else (ev.text or f"{ev.ename}: {ev.evalue}")
            display({"text/plain": tb}, raw=True)
        elif ev.kind in ("display_data", "execute_result", "update_display_data") and ev.data:
            display(safe_bundle(ev.data), metadata=ev.metadata or None, raw=True)

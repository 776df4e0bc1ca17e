"""PlainRenderer: the conversation as ordinary rich outputs (no widgets).

For front ends that do not render widgets — nbconvert, nbval, Voilà without a
widget manager, terminal IPython — and for saved notebooks: each message is a
``text/markdown`` + ``text/plain`` bundle, execution outputs are displayed as
the MIME bundles they are (plots, tables, tracebacks), so the notebook file
keeps the whole conversation.

Every message, code block, prompt and note goes through :func:`agentnb.textguard.visible`
(control, bidi and zero-width characters shown, not interpreted); an approval request whose
code hides characters carries a warning line. Execution outputs are shown as produced.
"""

from __future__ import annotations

import sys

from IPython.display import display

from ..messages import (
    ApprovalDecided,
    ApprovalRequested,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ErrorOccurred,
    Event,
    ExecutionFinished,
    ExecutionOutput,
    HumanInputRequested,
    MessageSent,
    SpeakerSelected,
    ToolCallFinished,
    ToolCallProposed,
    UsageUpdated,
    content_str,
)
from ..textguard import HIDDEN_WARNING, has_hidden, visible
from .html import for_people
from .risk import risk_cues
from .static import is_protocol_only


def _fence(text: str, language: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


class PlainRenderer:
    """Display events as plain rich output on the current cell (or terminal)."""

    def __init__(self) -> None:
        self._usage: dict[str, tuple[int, float]] = {}
        self._streamed: set[str] = set()
        self._ran: set[str] = set()
        """Agents that ran (or were refused) a block since their last message."""

    def show(self, markdown: str, plain: str | None = None) -> None:
        """Display a note built from model text: both forms are made visible first."""
        plain = visible(plain if plain is not None else markdown)
        display({"text/markdown": visible(markdown), "text/plain": plain}, raw=True)

    def handle_event(self, event: Event) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def _on_ChatStarted(self, ev: ChatStarted) -> None:
        self.show(f"*{ev.sender} → {ev.recipient}: chat started*", f"--- {ev.sender} → {ev.recipient}")

    def _on_MessageSent(self, ev: MessageSent) -> None:
        msg = ev.message
        text = content_str(msg.get("content"))
        reported = ev.sender in self._ran
        self._ran.clear()  # a report comes right after its blocks, before anyone else speaks
        if reported:  # the executor's report to the model: folded, not a second copy
            fence = _fence(visible(text))
            self.show(f"<details><summary>what the model saw</summary>\n\n{fence}\n\n</details>",
                      f"(what the model saw: {len(text.splitlines())} lines)")
            return
        if is_protocol_only(msg):
            return
        text = for_people(text)
        parts = [text] if text else []
        for call in msg.get("tool_calls") or []:
            fn = call.get("function", {})
            args = _fence(str(fn.get("arguments", "")), "json")
            parts.append(f"tool call `{fn.get('name', '')}`\n\n{args}")
        if msg.get("role") == "tool" or msg.get("tool_responses"):
            parts = ["tool result\n\n" + _fence(text)]
        body = "\n\n".join(parts)
        plain = f"{ev.sender} (to {ev.recipient}):\n{body}\n"
        self.show(f"**{ev.sender}** → {ev.recipient}\n\n{body}", plain)

    def _on_CodeBlockProposed(self, ev: CodeBlockProposed) -> None:
        self._ran.add(ev.executor)

    def _on_SpeakerSelected(self, ev: SpeakerSelected) -> None:
        self.show(f"*next speaker: {ev.speaker}*", f"Next speaker: {ev.speaker}")

    def _on_ToolCallProposed(self, ev: ToolCallProposed) -> None:
        plain = f">>>>>>>> {ev.executor} calls {ev.name}({ev.arguments})"
        self.show(f"*{ev.executor} calls `{ev.name}`*", plain)

    def _on_ToolCallFinished(self, ev: ToolCallFinished) -> None:
        plain = f"{ev.name} returned: {ev.content}"
        self.show(f"*`{ev.name}` returned*\n\n" + _fence(ev.content[:2000]), plain)

    def _on_ApprovalRequested(self, ev: ApprovalRequested) -> None:
        r = ev.request
        warning = f"{HIDDEN_WARNING}\n\n" if has_hidden(r.code) else ""
        warning += "".join(f"⚠ {cue}\n\n" for cue in risk_cues(r.code))
        self.show(f"**approval needed**: {r.agent} wants to run\n\n{warning}" + _fence(visible(r.code), r.language),
                  f">>>>>>>> APPROVAL NEEDED ({r.agent}):\n{warning}{r.code}")

    def _on_ApprovalDecided(self, ev: ApprovalDecided) -> None:
        d = ev.decision
        word = ("approved" + (" (edited)" if d.edited else "")) if d.approved else "rejected"
        why = f": {d.reason}" if d.reason else ""
        self.show(f"*{word}{why}*", f"{word}{why}")

    def _on_HumanInputRequested(self, ev: HumanInputRequested) -> None:
        self.show(f"*{ev.agent} asks: {ev.prompt}*", f"{ev.agent} asks: {ev.prompt}")

    def _on_ExecutionOutput(self, ev: ExecutionOutput) -> None:
        if ev.kind == "stream":
            stream = sys.stderr if ev.name == "stderr" else sys.stdout
            stream.write(ev.text or "")
            stream.flush()
        elif ev.kind == "error":
            tb = "\n".join(ev.traceback) if ev.traceback else (ev.text or f"{ev.ename}: {ev.evalue}")
            display({"text/plain": tb}, raw=True)
        elif ev.kind in ("display_data", "execute_result") and ev.data:
            display(ev.data, metadata=ev.metadata or None, raw=True)
        elif ev.kind == "update_display_data" and ev.data:
            display(ev.data, metadata=ev.metadata or None, raw=True)

    def _on_ExecutionFinished(self, ev: ExecutionFinished) -> None:
        if ev.exit_code != 0:
            self.show(f"*exit code {ev.exit_code}*", f"exit code {ev.exit_code}")

    def _on_UsageUpdated(self, ev: UsageUpdated) -> None:
        key = f"{ev.agent}/{ev.model}"
        tokens, cost = self._usage.get(key, (0, 0.0))
        self._usage[key] = (tokens + ev.prompt_tokens + ev.completion_tokens, cost + ev.cost)

    def _on_ErrorOccurred(self, ev: ErrorOccurred) -> None:
        self.show(f"**error** in {ev.source}: `{ev.error_type}`: {ev.message}",
                  f"error in {ev.source}: {ev.error_type}: {ev.message}")

    def _on_ChatFinished(self, ev: ChatFinished) -> None:
        tokens = sum(t for t, _ in self._usage.values())
        cost = sum(c for _, c in self._usage.values())
        tail = f" ({tokens:,} tokens, ${cost:.4f})" if tokens else ""
        err = f" — {ev.error}" if ev.error else ""
        self.show(f"*chat finished: {ev.reason}{tail}{err}*", f"--- chat finished: {ev.reason}{tail}{err}")

"""ChatPanel: an ipywidgets view of a conversation, fed by agentnb events.

    panel = ChatPanel()
    display(panel)
    with panel.attached():                 # subscribe + install button approver/input
        result = await user_proxy.a_initiate_chat(assistant, message="plot sin(x)")

One card per message (sender colour, Markdown, highlighted code), tokens shown
as they stream (at most ``1 / flush_interval`` updates per second per message),
execution outputs rendered as Jupyter renders them (an ``Output`` widget per
block), Approve/Edit/Reject buttons, a reply box, a status line, Stop and Export
buttons. At most ``max_messages`` items are kept; older ones are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

from .._aio import post_to_caller
from ..messages import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequest,
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
    SpeakerSelected,
    StreamStarted,
    TokenChunk,
    ToolCallFinished,
    ToolCallProposed,
    UsageUpdated,
    stream_tokens,
    subscribe,
)
from .cards import ExecutionCard, close_tree, message_html
from .controls import ApprovalCard, ReplyBox, SpeakerChooser
from .html import CSS, escape, highlight_code

PAGE_SIZE = 50
"""Cards per page of the conversation column (see ``ChatPanel._add``)."""
class _Stream:
    __slots__ = ("last_flush", "parts", "sender", "timer", "widget")

    def __init__(self, sender: str, widget: widgets.HTML) -> None:
        self.sender = sender
        self.widget = widget
        self.parts: list[str] = []
        self.last_flush = float("-inf")
        self.timer: asyncio.TimerHandle | None = None


class ChatPanel(widgets.VBox):
    """A live view of agent conversations; see the module docstring for an example."""

    def __init__(self, title: str = "", *, max_messages: int = 500, flush_interval: float = 0.05,
                 interactive: bool = True) -> None:
        self.max_messages = max_messages
        self.flush_interval = flush_interval
        self.interactive = interactive
        """Buttons are live (async chats). False for sync chats: the console hooks answer."""
        self.updates = 0
        """How many times a streaming card was re-rendered (for tests and benchmarks)."""
        self.messages: deque[dict[str, Any]] = deque(maxlen=max_messages)
        """The last ``max_messages`` messages shown."""
        self._pages: deque[tuple[widgets.VBox, list[widgets.Widget]]] = deque()
        self._kept = 0
        self._hidden = 0
        self._streams: dict[str, _Stream] = {}
        self._executions: dict[str, ExecutionCard] = {}
        self._approvals: dict[str, ApprovalCard] = {}
        self._languages: dict[str, str] = {}
        self._stop_callbacks: list[Callable[[], Any]] = []
        self._export_callbacks: list[Callable[[], Any]] = []
        self._usage: dict[str, tuple[int, float]] = {}
        self._started: float | None = None
        self._ended: float | None = None
        self._state = "idle"
        self._speaker = ""
        self._initiator = ""
        self._turn = 0
        self._max_turns: int | None = None
        self._card_layout = widgets.Layout()
        self._card_style = HTMLStyle()
        self.title = widgets.HTML(CSS + (f"<b>{escape(title)}</b>" if title else ""))
        self.status = widgets.HTML('<div class="agentnb-status">idle</div>')
        self.hidden_note = widgets.HTML("")
        self.conversation = widgets.VBox([])
        self.speaker_chooser = SpeakerChooser()
        self.reply_box = ReplyBox()
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger",
                                          tooltip="stop the conversation", disabled=True)
        self.export_button = widgets.Button(description="Export", icon="download",
                                            layout=widgets.Layout(display="none"))
        self.stop_button.on_click(lambda _b: self.stop())
        self.export_button.on_click(lambda _b: self.export())
        bar = widgets.HBox([self.status, self.stop_button, self.export_button],
                           layout=widgets.Layout(justify_content="space-between", align_items="center"))
        super().__init__([self.title, self.hidden_note, self.conversation, self.speaker_chooser,
                          self.reply_box, bar])
        self.add_class("agentnb-panel")

    # ------------------------------------------------------------------ wiring

    def on_stop(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` when Stop is clicked (e.g. ``handle.cancel``)."""
        self._stop_callbacks.append(callback)
        self.stop_button.disabled = self._state == "finished"

    def on_export(self, callback: Callable[[], Any]) -> None:
        """Show the Export button; clicking calls ``callback`` (its return value, e.g. a path, is shown)."""
        self._export_callbacks.append(callback)
        self.export_button.layout.display = None

    def stop(self) -> None:
        self.stop_button.disabled = True
        self._set_state("stopping")
        for cb in list(self._stop_callbacks):
            cb()

    def export(self) -> None:
        for cb in list(self._export_callbacks):
            try:
                where = cb()
            except Exception as exc:
                self._note(f"export failed: {type(exc).__name__}: {exc}", error=True)
            else:
                self._note(f"exported to {where}" if where else "exported")

    @contextlib.contextmanager
    def attached(self, *, sync: bool = False) -> Iterator[ChatPanel]:
        """Show chats run inside the block. ``sync``: events come from the bridge thread, no live buttons."""
        from ..agents.human import human_handlers

        self.interactive = not sync
        if sync:
            def handler(event: Event) -> None:
                if not post_to_caller(lambda: self.handle_event(event)):
                    self.handle_event(event)

            with subscribe(handler), stream_tokens():
                yield self
            return
        with subscribe(self.handle_event), stream_tokens(), human_handlers(input_provider=self.input_provider,
                                                                           approver=self.approver):
            yield self

    # ------------------------------------------------------------------ human hooks

    async def approver(self, request: ApprovalRequest) -> ApprovalDecision:
        """Wait for Approve / Edit+Run / Reject on the request's card."""
        card = self._approval_card(request)
        self._set_state("waiting")
        try:
            return await card.wait()
        except asyncio.CancelledError:
            card.cancel()
            raise
        finally:
            self._set_state("running")

    async def input_provider(self, prompt: str) -> str:
        """Wait for a reply typed in the reply box."""
        self._set_state("waiting")
        try:
            return await self.reply_box.ask(prompt)
        finally:
            self._set_state("running")

    async def choose_speaker(self, candidates: list[str], prompt: str = "Who speaks next?") -> str:
        """Manual speaker selection for group chats: wait for a candidate button click."""
        self._set_state("waiting")
        try:
            return await self.speaker_chooser.choose(list(candidates), prompt)
        finally:
            self._set_state("running")

    # ------------------------------------------------------------------ events

    def handle_event(self, event: Event) -> None:
        """Update the panel for one event (call on the thread that owns the display)."""
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)
        if self._started is not None:
            self._render_status()

    def _on_ChatStarted(self, ev: ChatStarted) -> None:
        if self._state in ("idle", "finished"):
            self._started, self._ended = ev.time, None
            self._initiator, self._turn, self._max_turns = ev.sender, 0, ev.max_turns
        self._set_state("running")
        self.stop_button.disabled = not self._stop_callbacks

    def _on_MessageSent(self, ev: MessageSent) -> None:
        self.messages.append(ev.message)
        if ev.sender == self._initiator:
            self._turn += 1
        self._speaker = ev.sender
        stream = self._streams.pop(ev.message_id, None)
        if stream is None:  # the core may give the final message a new id: match the open stream by sender
            key = next((k for k, s in self._streams.items() if s.sender == ev.sender), None)
            stream = self._streams.pop(key) if key else None
        html = message_html(ev.sender, ev.recipient, ev.message)
        if stream is not None:
            self._cancel_timer(stream)
            stream.widget.value = html
            self.updates += 1
        else:
            self._add(self._html(html))

    def _on_StreamStarted(self, ev: StreamStarted) -> None:
        self._speaker = ev.sender
        widget = self._html(message_html(ev.sender, None, {"content": ""}, streaming=True))
        self._streams[ev.message_id] = _Stream(ev.sender, widget)
        self._add(widget)

    def _on_TokenChunk(self, ev: TokenChunk) -> None:
        stream = self._streams.get(ev.message_id)
        if stream is None:
            self._on_StreamStarted(StreamStarted(sender=ev.sender, message_id=ev.message_id))
            stream = self._streams[ev.message_id]
        stream.parts.append(ev.text)
        wait = stream.last_flush + self.flush_interval - time.monotonic()
        if wait <= 0:
            self._flush(stream)
        elif stream.timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # a blocked caller thread: flushed by a later token or the final message
            stream.timer = loop.call_later(wait, self._flush, stream)

    def _flush(self, stream: _Stream) -> None:
        self._cancel_timer(stream)
        if len(stream.parts) > 1:
            stream.parts[:] = ["".join(stream.parts)]
        text = "".join(stream.parts)
        stream.widget.value = message_html(stream.sender, None, {"content": text}, streaming=True)
        stream.last_flush = time.monotonic()
        self.updates += 1

    @staticmethod
    def _cancel_timer(stream: _Stream) -> None:
        if stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None

    def _on_SpeakerSelected(self, ev: SpeakerSelected) -> None:
        self._speaker = ev.speaker
        self._note(f"next speaker: {ev.speaker} ({ev.method})")

    def _on_CodeBlockProposed(self, ev: CodeBlockProposed) -> None:
        # The card is created by the first output, so that it follows the approval card.
        self._languages[ev.block_id] = ev.language

    def _on_ToolCallProposed(self, ev: ToolCallProposed) -> None:
        self._note(f"⚙ {ev.executor} calls {ev.name}({ev.arguments})")

    def _on_ToolCallFinished(self, ev: ToolCallFinished) -> None:
        text = ev.content if len(ev.content) <= 2000 else ev.content[:2000] + " …"
        self._add(self._html(f'<div class="agentnb-note">{"✘" if ev.is_error else "✔"} {escape(ev.name)} '
                               f"returned</div>" + highlight_code(text, "text")))

    def _on_ApprovalRequested(self, ev: ApprovalRequested) -> None:
        self._approval_card(ev.request)

    def _on_ApprovalDecided(self, ev: ApprovalDecided) -> None:
        card = self._approvals.get(ev.request.request_id)
        if card is not None and card.decision is None:
            card.show_decision(ev.decision)

    def _on_HumanInputRequested(self, ev: HumanInputRequested) -> None:
        if not self.interactive:
            self._note(f"✎ {ev.agent} asks: {ev.prompt} — answer in the input box below")

    def _on_HumanInputReceived(self, ev: HumanInputReceived) -> None:
        if not self.interactive:
            self._note(f"you replied: {ev.text!r}" if ev.text else "auto-reply")

    def _on_ExecutionOutput(self, ev: ExecutionOutput) -> None:
        self._execution(ev.block_id, ev.executor, self._languages.get(ev.block_id, "python")).add(ev)

    def _on_ExecutionFinished(self, ev: ExecutionFinished) -> None:
        self._execution(ev.block_id, ev.executor, ev.language).finish(ev)

    def _on_UsageUpdated(self, ev: UsageUpdated) -> None:
        key = f"{ev.agent}/{ev.model}"
        tokens, cost = self._usage.get(key, (0, 0.0))
        self._usage[key] = (tokens + ev.prompt_tokens + ev.completion_tokens, cost + ev.cost)

    def _on_ErrorOccurred(self, ev: ErrorOccurred) -> None:
        self._note(f"{'fatal ' if ev.fatal else ''}error in {ev.source}: {ev.error_type}: {ev.message}",
                   error=True)

    def _on_ChatFinished(self, ev: ChatFinished) -> None:
        for stream in list(self._streams.values()):
            self._flush(stream)
            stream.widget.value = stream.widget.value.replace('<span class="agentnb-cursor"></span>', "")
        self._streams.clear()
        self._languages.clear()
        for card in self._approvals.values():
            card.cancel()
        self.reply_box.close_prompt()
        self._ended = ev.time
        self.stop_button.disabled = True
        text = f"chat finished: {ev.reason}" + (f" — {ev.error}" if ev.error else "")
        self._note(text, error=bool(ev.error))
        self._set_state("finished", ev.reason)

    # ------------------------------------------------------------------ helpers

    def _approval_card(self, request: ApprovalRequest) -> ApprovalCard:
        card = self._approvals.get(request.request_id)
        if card is None:
            card = ApprovalCard(request, interactive=self.interactive)
            self._approvals[request.request_id] = card
            self._add(card)
        return card

    def _execution(self, block_id: str, executor: str, language: str) -> ExecutionCard:
        item = self._executions.get(block_id)
        if item is None:
            self._languages.pop(block_id, None)
            item = ExecutionCard(executor, language)
            self._executions[block_id] = item
            self._add(item)
        return item

    def _html(self, value: str) -> widgets.HTML:
        """An HTML item sharing the panel's layout and style models (one widget model per card)."""
        return widgets.HTML(value, layout=self._card_layout, style=self._card_style)

    def _note(self, text: str, *, error: bool = False) -> None:
        style = ' style="color:#c00;font-style:normal"' if error else ""
        self._add(self._html(f'<div class="agentnb-note"{style}>{escape(text)}</div>'))

    @property
    def items(self) -> list[widgets.Widget]:
        """The cards shown, oldest first."""
        return [w for _box, page in self._pages for w in page]

    def _add(self, widget: widgets.Widget) -> None:
        """Append a card. Cards live in pages of PAGE_SIZE so that adding one costs O(PAGE_SIZE), not
        O(history); whole pages are dropped (and closed) once ``max_messages`` newer cards remain."""
        if not self._pages or len(self._pages[-1][1]) >= PAGE_SIZE:
            self._pages.append((widgets.VBox([]), []))
            new_page = True
        else:
            new_page = False
        box, page = self._pages[-1]
        page.append(widget)
        box.children = tuple(page)
        self._kept += 1
        dropped: list[widgets.Widget] = []
        while len(self._pages) > 1 and self._kept - len(self._pages[0][1]) >= self.max_messages:
            old_box, old_page = self._pages.popleft()
            self._kept -= len(old_page)
            dropped.append(old_box)
            self._forget(old_page)
            self._hidden += len(old_page)
        if dropped:
            self.hidden_note.value = f'<div class="agentnb-note">{self._hidden} earlier items not shown</div>'
        if new_page or dropped:
            self.conversation.children = tuple(b for b, _page in self._pages)
        for old in dropped:
            close_tree(old, keep=(self._card_layout, self._card_style))

    def _forget(self, dropped: list[widgets.Widget]) -> None:
        gone = {id(w) for w in dropped}
        for table in (self._executions, self._approvals):
            for key in [k for k, w in table.items() if id(w) in gone]:
                del table[key]
        for key in [k for k, s in self._streams.items() if id(s.widget) in gone]:
            self._cancel_timer(self._streams.pop(key))

    def _set_state(self, state: str, reason: str = "") -> None:
        if self._state == "finished" and state in ("running", "waiting"):
            return
        self._state = state if not reason else f"{state}: {reason}"
        if self._started is not None:
            self._render_status()

    def _render_status(self) -> None:
        icons = {"running": "● running", "waiting": "● waiting for you", "stopping": "■ stopping"}
        icon = icons.get(self._state, "")
        state = icon if icon else f"✔ {self._state}"
        tokens = sum(t for t, _ in self._usage.values())
        cost = sum(c for _, c in self._usage.values())
        end = self._ended if self._ended is not None else time.time()
        parts = [state]
        if self._speaker:
            parts.append(f"speaker: <b>{escape(self._speaker)}</b>")
        parts.append(f"turn {self._turn}/{self._max_turns}" if self._max_turns else f"turn {self._turn}")
        parts.append(f"{tokens:,} tokens")
        parts.append(f"${cost:.4f}")
        parts.append(f"{max(0.0, end - (self._started or end)):.1f}s")
        self.status.value = '<div class="agentnb-status">' + " · ".join(parts) + "</div>"

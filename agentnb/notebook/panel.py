"""ChatPanel: an ipywidgets view of a conversation, fed by agentnb events.

    panel = ChatPanel()
    display(panel)                         # or panel.show(): an output slot the panel can replace
    with panel.attached():                 # subscribe + install button approver/input
        result = await user_proxy.a_initiate_chat(assistant, message="plot sin(x)")

One card per message (distinct agent colours, Markdown, highlighted code, no protocol words),
tokens shown as they stream (at most ``1 / flush_interval`` updates per second per message).
The approval for a block sits right under the message that proposed it (code shown once) and
sticks to the bottom of the view while pending; outputs render under it as Jupyter renders them,
long ones and tracebacks folded; the executor's report to the model folds there too ("what the
model saw"). A status line says running / waiting for you / finished / stopped / failed. When
the chat ends the panel's output becomes a static page (:mod:`.static`, see :mod:`.frame`), so a
saved notebook shows the conversation anywhere. At most ``max_messages`` items are kept live.
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
from typing_extensions import assert_never  # typing has it from Python 3.11

from .._aio import on_caller_thread
from ..messages import (
    AnyEvent,
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
    ModelCallFinished,
    SpeakerSelected,
    StreamStarted,
    TokenChunk,
    ToolCallFinished,
    ToolCallProposed,
    UsageTotals,
    UsageUpdated,
    content_str,
    stream_tokens,
    subscribe,
)
from .cards import ExecutionCard, close_tree, message_html
from .controls import ApprovalCard, ReplyBox, SpeakerChooser, Toolbar
from .frame import PanelFrame
from .html import CSS, Palette, escape
from .slots import CellSlots
from .static import (
    STATE_LABELS,
    Said,
    fold_text,
    is_protocol_only,
    model_saw_html,
    state_of,
)
from .streams import TokenStream

PAGE_SIZE = 50
"""Cards per page of the conversation column (see ``ChatPanel._add``)."""


class ChatPanel(PanelFrame, widgets.VBox):
    """A live view of agent conversations; see the module docstring for an example."""

    def __init__(self, title: str = "", *, max_messages: int = 500, flush_interval: float = 0.05,
                 interactive: bool = True) -> None:
        self.max_messages = max_messages
        self.flush_interval = flush_interval
        self.interactive = interactive
        """Buttons are live (async chats). False for sync chats: the console hooks answer."""
        self._answers_approvals = True
        """False while an approver the caller installed decides (the cards then only show)."""
        self.updates = 0
        """How many times a streaming card was re-rendered (for tests and benchmarks)."""
        self.messages: deque[dict[str, Any]] = deque(maxlen=max_messages)
        """The last ``max_messages`` messages shown."""
        self.page_events: list[Event | Said] = []
        """Every event shown (messages kept compactly, no token chunks): the static page is made from it."""
        self.name = title
        self._pages: deque[tuple[widgets.VBox, list[widgets.Widget]]] = deque()
        self._kept = 0
        self._hidden = 0
        self._streams: dict[str, TokenStream] = {}
        self._executions: dict[str, ExecutionCard] = {}
        self._approvals: dict[str, ApprovalCard] = {}
        self._languages: dict[str, str] = {}
        self._ran: dict[str, list[widgets.Widget]] = {}
        """Per executor, the blocks it ran (or was refused) since its last message."""
        self._stop_callbacks: list[Callable[[], Any]] = []
        self._export_callbacks: list[Callable[..., Any]] = []
        self.usage = UsageTotals()
        """Tokens and cost of the model calls shown so far."""
        self._palette = Palette()
        self._started: float | None = None
        self._ended: float | None = None
        self._state = "idle"
        self._reason = ""
        self._depth = 0
        self._speaker = ""
        self._count = 0
        self._slots: CellSlots | None = None
        self._frozen = False
        self._card_layout = widgets.Layout()
        self._card_style = HTMLStyle()
        self.title = widgets.HTML(CSS + (f"<b>{escape(title)}</b>" if title else ""))
        self.hidden_note = widgets.HTML("")
        self.conversation = widgets.VBox([])
        self.speaker_chooser = SpeakerChooser()
        self.reply_box = ReplyBox()
        self.toolbar = Toolbar(f"{title or 'chat'}.ipynb")
        self.status = self.toolbar.status
        self.stop_button = self.toolbar.stop_button
        self.export_button = self.toolbar.export_button
        self.stop_button.on_click(lambda _b: self.stop())
        self.export_button.on_click(lambda _b: self.export())
        self._follow_callbacks: list[Callable[[str], Any]] = []
        self.toolbar.follow_button.on_click(lambda _b: self.follow_up())
        super().__init__([self.title, self.hidden_note, self.conversation, self.speaker_chooser,
                          self.reply_box, self.toolbar])
        self.add_class("agentnb-panel")

    @contextlib.contextmanager
    def attached(self, *, sync: bool = False) -> Iterator[ChatPanel]:
        """Show chats run inside the block; the buttons and reply box answer for the person unless the
        caller installed its own approver / input provider (``human_handlers``): then that one decides
        and the panel shows its decisions. ``sync``: events come from the bridge thread, no live buttons."""
        from ..agents import scope

        self.interactive = not sync
        if sync:
            with subscribe(on_caller_thread(self.handle_event, sync)), stream_tokens():
                yield self
            return
        self._answers_approvals = scope.approver() is None
        asks = scope.input_provider() is None
        try:
            with subscribe(self.handle_event), stream_tokens(), scope.human_handlers(
                    input_provider=self.input_provider if asks else None,
                    approver=self.approver if self._answers_approvals else None):
                yield self
        finally:
            self._answers_approvals = True

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
        if not isinstance(event, AnyEvent):
            return  # not a messages.AnyEvent: nothing to show
        self._remember(event)
        match event:
            case TokenChunk():  # first: by far the most frequent; the status line follows the flushes
                self._token(event)
                return
            case MessageSent():
                self._message(event)
            case StreamStarted():
                self._stream_started(event)
            case ChatStarted():
                self._chat_started(event)
            case SpeakerSelected():
                self._speaker = event.speaker
            case CodeBlockProposed():  # the card is created by the first output, so that it follows the approval
                self._languages[event.block_id] = event.language
            case ToolCallProposed():
                self._note(f"⚙ {event.executor} calls {event.name}({event.arguments})")
            case ToolCallFinished():
                self._tool_finished(event)
            case ApprovalRequested():
                self._approval_card(event.request)
            case ApprovalDecided():
                card = self._approvals.get(event.request.request_id)
                if card is not None and card.decision is None:
                    card.show_decision(event.decision)
            case HumanInputRequested():
                if not self.interactive:
                    self._note(f"✎ {event.agent} asks: {event.prompt} — answer in the input box below")
            case HumanInputReceived():
                if not self.interactive:
                    self._note(f"you replied: {event.text!r}" if event.text else "auto-reply")
            case ExecutionOutput():
                self._execution(event.block_id, event.executor,
                                self._languages.get(event.block_id, "python")).add(event)
            case ExecutionFinished():
                card = self._execution(event.block_id, event.executor, event.language)
                card.finish(event)
                card.done = True
            case UsageUpdated():
                self.usage.add(event)
            case ErrorOccurred():
                if not event.fatal:  # a fatal one ends the chat: the status line says "failed" with the error
                    self._note(f"error in {event.source}: {event.error_type}: {event.message}", error=True)
            case ChatFinished():
                self._chat_finished(event)
            case ModelCallFinished():
                pass  # for loggers: what the model was sent is not part of the conversation shown
            case _:
                assert_never(event)
        if self._started is not None:
            self._render_status()
        self.snapshot_soon(event)  # frame.py: what a notebook saved mid-chat keeps (throttled, boundaries only)

    def _remember(self, event: AnyEvent) -> None:
        """Keep ``event`` for the static page: messages compactly, no token chunks, and a finished
        block's outputs in place of the ones it streamed."""
        match event:
            case TokenChunk():
                return
            case MessageSent():
                self.page_events.append(Said(event.sender, event.recipient, event.message))
                return
            case ExecutionFinished() if event.outputs:
                block = event.block_id
                self.page_events = [e for e in self.page_events
                                    if not (type(e) is ExecutionOutput and e.block_id == block)]
        self.page_events.append(event)

    def _chat_started(self, ev: ChatStarted) -> None:
        self._depth += 1
        for name in (ev.sender, ev.recipient, *ev.agents):
            self._palette(name)
        if self._depth > 1:
            return  # a nested chat: part of this one
        if self._state not in ("running", "waiting", "stopping"):
            self._started, self._ended = ev.time, None
        if self._frozen and self._slots is not None:  # a follow-up in the same panel: live again
            self._frozen = False
            self.status.layout.display = None
            self._slots.clear_extra()
            self._slots.update_main(self._repr_mimebundle_())
        self._set_state("running")
        self.stop_button.disabled = not self._stop_callbacks
        self.stop_button.layout.display = None
        self.toolbar.follow_box.layout.display = "none"

    def _message(self, ev: MessageSent) -> None:
        self.messages.append(ev.message)
        self._count += 1
        self._speaker = ev.sender
        ran = self._ran.pop(ev.sender, None)
        self._ran.clear()  # a report comes right after its blocks, before anyone else speaks
        if ran:  # the executor reporting to the model: fold it under the block, not a second card
            _attach_saw(ran[-1], content_str(ev.message.get("content")))
            return
        stream = self._streams.pop(ev.message_id, None)
        if stream is None:  # the core may give the final message a new id: match the open stream by sender
            key = next((k for k, s in self._streams.items() if s.sender == ev.sender), None)
            stream = self._streams.pop(key) if key else None
        html = message_html(ev.sender, ev.recipient, ev.message, colour=self._palette(ev.sender))
        if is_protocol_only(ev.message):  # a bare TERMINATE: no card (a streamed one is removed)
            if stream is not None:
                stream.cancel_timer()
                stream.widget.layout = widgets.Layout(display="none")
            return
        if stream is not None:
            stream.cancel_timer()
            stream.widget.value = html
            self.updates += 1
        else:
            self._add(self._html(html))

    def _stream_started(self, ev: StreamStarted) -> None:
        self._speaker = ev.sender
        widget = self._html(message_html(ev.sender, None, {"content": ""}, streaming=True,
                                         colour=self._palette(ev.sender)))
        self._streams[ev.message_id] = TokenStream(ev.sender, widget)
        self._add(widget)

    def _token(self, ev: TokenChunk) -> None:
        stream = self._streams.get(ev.message_id)
        if stream is None:
            self._stream_started(StreamStarted(sender=ev.sender, message_id=ev.message_id))
            stream = self._streams[ev.message_id]
        stream.add(ev.text, self.flush_interval, self._flush)

    def _flush(self, stream: TokenStream) -> None:
        stream.widget.value = message_html(stream.sender, None, {"content": stream.text()}, streaming=True,
                                           colour=self._palette(stream.sender))
        stream.flushed()
        self.updates += 1
        if self._started is not None:
            self._render_status()

    def _tool_finished(self, ev: ToolCallFinished) -> None:
        mark = "✘" if ev.is_error else "✔"
        widget = self._html(f'<div class="agentnb-block"><div class="agentnb-note">{mark} {escape(ev.name)} '
                            f"returned</div>{fold_text(ev.content[:20_000])}</div>")
        self._add(widget)
        self._ran.setdefault(ev.executor, []).append(_ToolResult(widget))

    def _chat_finished(self, ev: ChatFinished) -> None:
        self._depth = max(0, self._depth - 1)
        if self._depth > 0:
            return
        self.end(state_of(ev.reason, ev.error), ev.error or ("" if ev.reason == "stopped" else ev.reason),
                 when=ev.time)

    def end(self, state: str, reason: str = "", *, when: float | None = None) -> None:
        """The chat is over (finished, stopped or failed): settle every card, show the state, and
        replace the live view by the static page when the panel was shown with :meth:`show`."""
        if self._state in ("finished", "stopped", "failed") and self._ended is not None:
            return
        for stream in list(self._streams.values()):
            self._flush(stream)
            stream.widget.value = stream.widget.value.replace('<span class="agentnb-cursor"></span>', "")
        self._streams.clear()
        self._languages.clear()
        for card in self._approvals.values():
            card.cancel()
        if state != "finished":
            for card in self._executions.values():
                if not getattr(card, "done", False):
                    card.interrupted()
        self.reply_box.close_prompt()
        self.speaker_chooser.layout.display = "none"
        self._ended = when if when is not None else time.time()
        if self._started is None:
            self._started = self._ended
        self.stop_button.disabled = True
        self.stop_button.layout.display = "none"  # no Stop on a chat that is over
        self._depth = 0
        self._state, self._reason = state, reason
        self._render_status()
        if self._follow_callbacks:
            self.toolbar.follow_box.layout.display = None
        self.freeze()

    # ------------------------------------------------------------------ helpers

    def _approval_card(self, request: ApprovalRequest) -> ApprovalCard:
        card = self._approvals.get(request.request_id)
        if card is None:
            last = content_str(self.messages[-1].get("content")) if self.messages else ""
            shown_above = request.kind == "code" and bool(request.code.strip()) and request.code.strip() in last
            card = ApprovalCard(request, interactive=self.interactive and self._answers_approvals,
                                show_code=not shown_above)
            if self.interactive and not self._answers_approvals:
                card.status.value = '<span class="agentnb-note">the approver installed for this chat decides</span>'
            self._approvals[request.request_id] = card
            self._ran.setdefault(request.agent, []).append(card)
            self._add(card)
        return card

    def _execution(self, block_id: str, executor: str, language: str) -> ExecutionCard:
        item = self._executions.get(block_id)
        if item is None:
            self._languages.pop(block_id, None)
            item = ExecutionCard(executor, language)
            self._executions[block_id] = item
            ran = self._ran.setdefault(executor, [])
            if ran and isinstance(ran[-1], ApprovalCard):
                ran.pop()  # the block's outputs, not its approval, get what the model saw
            ran.append(item)
            self._add(item)
        return item

    def _html(self, value: str) -> widgets.HTML:
        """An HTML item sharing the panel's layout and style models (one widget model per card)."""
        return widgets.HTML(value, layout=self._card_layout, style=self._card_style)

    def _note(self, text: str, *, error: bool = False) -> None:
        css = "agentnb-warning" if error else "agentnb-note"
        self._add(self._html(f'<div class="{css}">{escape(text)}</div>'))

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
            self._streams.pop(key).cancel_timer()

    def _set_state(self, state: str, reason: str = "") -> None:
        if self._state in ("finished", "stopped", "failed") and state in ("running", "waiting", "stopping"):
            if self._ended is not None:
                return
        if self._state == "stopping" and state in ("running", "waiting"):
            return
        self._state, self._reason = state, reason
        if self._started is not None:
            self._render_status()

    def _status_html(self) -> str:
        label = STATE_LABELS.get(self._state, self._state)
        if self._reason and self._state in ("finished", "failed"):
            label += f": {self._reason}"
        tokens, cost = self.usage.tokens, self.usage.cost
        end = self._ended if self._ended is not None else time.time()
        parts = [f'<span class="agentnb-state-{self._state}">{escape(label)}</span>']
        if self._speaker and self._state in ("running", "waiting"):
            parts.append(f"speaker: <b>{escape(self._speaker)}</b>")
        parts.append(f"{self._count} message{'s' if self._count != 1 else ''}")
        if tokens:
            parts.append(f"{tokens:,} tokens")
        if cost:
            parts.append(f"${cost:.4f}")
        parts.append(f"{max(0.0, end - (self._started or end)):.1f}s")
        return " · ".join(parts)

    def _render_status(self) -> None:
        self.status.value = f'<div class="agentnb-status">{self._status_html()}</div>'


class _ToolResult:
    """A tool result shown in the panel, to which the model's copy is attached folded."""

    def __init__(self, widget: widgets.HTML) -> None:
        self.widget = widget


def _attach_saw(target: Any, text: str) -> None:
    if isinstance(target, ExecutionCard):
        target.model_saw(text)
    elif isinstance(target, ApprovalCard):
        target.status.value += model_saw_html(text)
    elif isinstance(target, _ToolResult):
        target.widget.value = target.widget.value.removesuffix("</div>") + model_saw_html(text) + "</div>"

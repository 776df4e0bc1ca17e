"""Typed events of a conversation, and the small helpers every layer shares.

Messages themselves stay plain dicts, exactly as AutoGen 0.2 stores them
(``{"content": ..., "role": ..., "name": ...}``), so user code that reads
``chat_messages`` keeps working. Everything that *happens* during a chat is an
:data:`Event`: the core emits them, views (console, ChatPanel, plain notebook
renderer, exporter) consume them. This module imports nothing from agentnb.

Emitting: the core calls :func:`emit`; whoever wants the stream subscribes with
:func:`subscribe` (a context manager, scoped with a context variable so that two
chats running side by side on one loop never see each other's events).
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Message = dict[str, Any]
"""An OpenAI-style chat message as AutoGen stores it."""

MimeBundle = dict[str, Any]
"""A Jupyter MIME bundle: ``{"text/plain": ..., "image/png": <base64 str>, ...}``."""

NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
"""What the OpenAI protocol accepts as a message's ``name`` (and a tool's name): 1-64 letters,
digits, ``_`` or ``-``. Agent names that match it travel with their messages."""
_NAME = re.compile(NAME_PATTERN)


def is_protocol_name(name: Any) -> bool:
    """True if ``name`` may be sent as a message's or tool's ``name`` (see :data:`NAME_PATTERN`)."""
    return isinstance(name, str) and _NAME.match(name) is not None

_ids = itertools.count(1)


def new_id(prefix: str = "ev") -> str:
    """A short process-unique id (``msg-12``)."""
    return f"{prefix}-{next(_ids)}"


def content_str(content: Any) -> str:
    """Flatten message content (None, str, or OpenAI multimodal parts) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text":
                parts.append(str(item.get("text", "")))
            elif isinstance(item, dict) and item.get("type") == "image_url":
                parts.append("<image>")
            else:
                parts.append(str(item))
        return "\n".join(parts)
    return str(content)


# --------------------------------------------------------------------------- events


@dataclass(kw_only=True)
class Event:
    """Base of every event."""

    chat_id: str | None = None
    """The chat this event belongs to (set by :func:`emit` from the current scope)."""
    time: float = field(default_factory=time.time)
    """Wall-clock time the event was created."""


@dataclass(kw_only=True)
class ChatStarted(Event):
    """A chat between ``sender`` and ``recipient`` begins."""

    sender: str
    recipient: str
    max_turns: int | None = None
    agents: list[str] = field(default_factory=list)
    """Every agent taking part (a group chat lists all members)."""
    model: str | None = None


@dataclass(kw_only=True)
class MessageSent(Event):
    """``sender`` sent ``message`` to ``recipient``."""

    sender: str
    recipient: str
    message: Message
    message_id: str = field(default_factory=lambda: new_id("msg"))


@dataclass(kw_only=True)
class StreamStarted(Event):
    """An agent began streaming a model reply; :class:`TokenChunk` events follow."""

    sender: str
    message_id: str


@dataclass(kw_only=True)
class TokenChunk(Event):
    """A piece of a streamed model reply."""

    sender: str
    message_id: str
    text: str


@dataclass(kw_only=True)
class SpeakerSelected(Event):
    """A group chat manager chose the next speaker."""

    speaker: str
    method: str
    retries: int = 0
    candidates: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class CodeBlockProposed(Event):
    """An agent is about to execute a code block it received."""

    executor: str
    """Name of the agent that will run it."""
    block_id: str
    language: str
    code: str
    needs_approval: bool = False
    """True when a person must approve it first (an :class:`ApprovalRequested` follows)."""


@dataclass(kw_only=True)
class ToolCallProposed(Event):
    """An agent is about to run a tool call it received."""

    executor: str
    call_id: str
    name: str
    arguments: str


@dataclass(kw_only=True)
class ToolCallFinished(Event):
    """A tool call returned (``is_error`` when the model will see an error result)."""

    executor: str
    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(kw_only=True)
class ApprovalRequested(Event):
    """A human decision is needed before ``request`` may run."""

    request: ApprovalRequest


@dataclass(kw_only=True)
class ApprovalDecided(Event):
    """The human (or policy) decided on an approval request."""

    request: ApprovalRequest
    decision: ApprovalDecision


@dataclass(kw_only=True)
class HumanInputRequested(Event):
    """An agent waits for a person to type a reply."""

    agent: str
    prompt: str
    request_id: str = field(default_factory=lambda: new_id("input"))


@dataclass(kw_only=True)
class HumanInputReceived(Event):
    agent: str
    request_id: str
    text: str


@dataclass(kw_only=True)
class ExecutionOutput(Event):
    """One output of a running code block, as a Jupyter MIME bundle, as it arrives.

    ``kind`` is the iopub message type: ``stream``, ``display_data``,
    ``update_display_data``, ``execute_result``, ``error``, ``clear_output``.
    """

    executor: str
    block_id: str
    kind: str
    data: MimeBundle = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    """For streams: ``stdout`` or ``stderr``."""
    text: str | None = None
    """For streams: the text; for errors: the plain traceback."""
    ename: str | None = None
    evalue: str | None = None
    traceback: list[str] = field(default_factory=list)
    display_id: str | None = None
    wait: bool = False
    """For clear_output."""
    execution_count: int | None = None


@dataclass(kw_only=True)
class ExecutionFinished(Event):
    """A code block finished; ``summary`` is what the model is told."""

    executor: str
    block_id: str
    language: str
    code: str
    exit_code: int
    summary: str
    execution_count: int | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    """The block's final outputs as nbformat v4 dicts (clear_output and update_display_data applied, streams
    merged), redacted; the fold of its ExecutionOutput events."""


@dataclass(kw_only=True)
class UsageUpdated(Event):
    """A model call finished: the tokens and cost of *this* call (views add them up)."""

    agent: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cached: bool = False


@dataclass(kw_only=True)
class ModelCallFinished(Event):
    """A model call returned: what was sent and what came back (for loggers such as ``runtime_logging``)."""

    agent: str
    model: str
    request: dict[str, Any]
    """``{"messages": [...], **options}`` as sent (no API key)."""
    response: dict[str, Any]
    """The reply message with ``model``, ``usage`` and ``finish_reason``."""
    cost: float = 0.0
    cached: bool = False
    start_time: float = 0.0
    client_id: int | None = None
    """``id()`` of the client object that made the call."""


@dataclass(kw_only=True)
class ChatFinished(Event):
    """The chat ended (``reason``: terminated, max_turns, stopped, error, ...)."""

    reason: str
    summary: str = ""
    error: str | None = None


@dataclass(kw_only=True)
class ErrorOccurred(Event):
    """Something went wrong; ``fatal`` if the chat stops because of it."""

    source: str
    error_type: str
    message: str
    fatal: bool = False


AnyEvent = (ChatStarted | MessageSent | StreamStarted | TokenChunk | SpeakerSelected | CodeBlockProposed
            | ToolCallProposed | ToolCallFinished | ApprovalRequested | ApprovalDecided | HumanInputRequested
            | HumanInputReceived | ExecutionOutput | ExecutionFinished | UsageUpdated | ModelCallFinished
            | ChatFinished | ErrorOccurred)
"""Every concrete event. A view narrows with ``isinstance(event, AnyEvent)`` and then ``match``es on it
with ``assert_never`` in the last case, so a new event is a type error until every view handles it."""


@dataclass
class UsageTotals:
    """Tokens and cost added up over :class:`UsageUpdated` events (each carries one model call)."""

    tokens: int = 0
    cost: float = 0.0

    def add(self, event: UsageUpdated) -> None:
        self.tokens += event.prompt_tokens + event.completion_tokens
        self.cost += event.cost


# ------------------------------------------------------------------ approval as data


@dataclass(kw_only=True)
class ApprovalRequest:
    """A request to run code or a tool call; answered by an :class:`ApprovalDecision`."""

    kind: Literal["code", "tool"]
    agent: str
    """The agent that would run it."""
    language: str = "python"
    code: str = ""
    """For code: the block; for tools: ``name(arguments)`` as text."""
    tool_name: str | None = None
    arguments: str | None = None
    request_id: str = field(default_factory=lambda: new_id("approval"))


@dataclass(kw_only=True)
class ApprovalDecision:
    """``approved`` runs (``code`` replaces the request's code when edited).

    ``approved`` must be a real bool: ``ApprovalDecision(approved="no")`` raises TypeError
    rather than approving because a non-empty string is truthy.
    """

    approved: bool
    """``True`` runs, ``False`` rejects; nothing else is accepted."""
    code: str | None = None
    """Edited code; ``None`` means run the code as proposed."""
    reason: str = ""

    def __post_init__(self) -> None:
        if type(self.approved) is not bool:
            raise TypeError(f"ApprovalDecision.approved must be True or False, not {self.approved!r} "
                            f"({type(self.approved).__name__})")
        if self.code is not None and not isinstance(self.code, str):
            raise TypeError(f"ApprovalDecision.code must be a str or None, not {type(self.code).__name__}")
        if not isinstance(self.reason, str):
            raise TypeError(f"ApprovalDecision.reason must be a str, not {type(self.reason).__name__}")

    @property
    def edited(self) -> bool:
        return self.code is not None


# --------------------------------------------------------------------------- bus

Subscriber = Callable[[Event], None]

_subscribers: contextvars.ContextVar[tuple[Subscriber, ...]] = contextvars.ContextVar(
    "agentnb_subscribers", default=()
)
_chat_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("agentnb_chat_id", default=None)


_global_subscribers: list[Subscriber] = []
"""Process-wide subscribers (loggers): they see the events of every chat, in every context."""


def add_global_subscriber(subscriber: Subscriber) -> None:
    """Subscribe ``subscriber`` to every event of the process until :func:`remove_global_subscriber`."""
    if subscriber not in _global_subscribers:
        _global_subscribers.append(subscriber)


def remove_global_subscriber(subscriber: Subscriber) -> None:
    if subscriber in _global_subscribers:
        _global_subscribers.remove(subscriber)


def emit(event: Event) -> Event:
    """Send ``event`` to every subscriber of the current scope. Never raises for a view's bug."""
    if event.chat_id is None:
        event.chat_id = _chat_id.get()
    for sub in (*_subscribers.get(), *_global_subscribers):
        try:
            sub(event)
        except Exception as exc:  # a broken view must not break the chat
            import warnings

            warnings.warn(f"agentnb view {sub!r} failed on {type(event).__name__}: {exc!r}", stacklevel=2)
    return event


def has_global_subscribers() -> bool:
    """True while a process-wide subscriber (a logger) listens."""
    return bool(_global_subscribers)


_want_tokens: contextvars.ContextVar[bool] = contextvars.ContextVar("agentnb_want_tokens", default=False)


def wants_tokens() -> bool:
    """True when a view in scope renders tokens as they stream (model calls then stream)."""
    return _want_tokens.get()


@contextlib.contextmanager
def stream_tokens(enabled: bool = True) -> Iterator[None]:
    """Ask model calls inside the block to stream and emit :class:`TokenChunk` events."""
    token = _want_tokens.set(enabled)
    try:
        yield
    finally:
        _want_tokens.reset(token)


@contextlib.contextmanager
def subscribe(*subscribers: Subscriber) -> Iterator[None]:
    """Add subscribers for the duration of the block (and tasks created inside it)."""
    token = _subscribers.set(_subscribers.get() + tuple(subscribers))
    try:
        yield
    finally:
        _subscribers.reset(token)


@contextlib.contextmanager
def chat_scope(chat_id: str) -> Iterator[None]:
    """Mark events emitted inside the block as belonging to ``chat_id``."""
    token = _chat_id.set(chat_id)
    try:
        yield
    finally:
        _chat_id.reset(token)

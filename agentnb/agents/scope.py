"""The running chat's scope: everything a chat carries implicitly, in one place.

- :class:`ChatScope`: the chat being run (members, parent chat, executors to close) and why it
  stops (``stop_reason``, first reason wins). Replies, hooks and the group-chat manager call
  :func:`note_stop`; nothing reaches into the chat loop for it.
- **Human handlers**: the input provider, the approver and the manual speaker chooser, installed
  together by :func:`human_handlers` (a view, a test or a policy installs its own for the chats it
  runs; ``None`` leaves the current one in place).
- **The view factory**: what a non-silent chat is shown in. The core never picks a view: the
  composition root (:mod:`agentnb._compose`) registers the default one, and callers who own their
  view (``a_run_stream``) pass ``silent=True`` or install their own with :func:`set_view_factory`
  (for the process) or :func:`viewed_by` (for the chats they start, as ``%%agents`` does).
- **The run recorder**: what every outermost chat, silent or not, is recorded by (the Studio run
  history, registered by the composition root; a no-op unless history is on).

This module depends on nothing but the standard library and :mod:`agentnb.messages`, so every
layer above can import it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..messages import ApprovalDecision, ApprovalRequest

T = TypeVar("T")

InputProvider = Callable[[str], "str | Awaitable[str]"]
"""``(prompt) -> reply`` (sync or async): answers when an agent asks a person."""
Approver = Callable[[ApprovalRequest], "ApprovalDecision | Awaitable[ApprovalDecision]"]
"""``(request) -> decision`` (sync or async): decides whether code or a tool call may run."""
SpeakerChooser = Callable[[list[str], str], "str | Awaitable[str | None] | None"]
"""``(candidate names, prompt) -> name`` (sync or async; ``""`` lets the model pick)."""
RunRecorder = Callable[[Any, Any], contextlib.AbstractContextManager[Any]]
"""``(sender, recipient) -> context manager`` entered around every outermost chat."""
ViewFactory = Callable[[bool], contextlib.AbstractContextManager[Any]]
"""``(sync) -> context manager`` active for the whole outermost chat; ``sync`` is True when the
chat runs on the bridge thread while the caller's thread is blocked."""


@dataclass(eq=False)
class ChatScope:
    """One running chat (nested chats get their own scope, linked by ``parent``)."""

    members: list[Any]
    """The agents of the chat, group members included."""
    parent: ChatScope | None = None
    """The enclosing chat's scope, ``None`` for the outermost chat."""
    executor_owners: list[Any] = field(default_factory=list)
    """Agents that created an executor inside this chat (closed when it ends, or handed to ``parent``)."""
    stop_reason: str | None = None
    """Why the chat is ending (``terminated``, ``max_turns``, ``human_exit``, ...); first reason wins."""

    def note_stop(self, reason: str) -> None:
        if not self.stop_reason:
            self.stop_reason = reason

    def owns_executor_of(self, agent: Any) -> None:
        if all(a is not agent for a in self.executor_owners):
            self.executor_owners.append(agent)


_current: contextvars.ContextVar[ChatScope | None] = contextvars.ContextVar("agentnb_chat_scope", default=None)


def current_scope() -> ChatScope | None:
    """The innermost running chat's scope, ``None`` outside a chat."""
    return _current.get()


def note_stop(reason: str) -> None:
    """Record why the current chat is ending (first reason wins; a no-op outside a chat)."""
    scope = _current.get()
    if scope is not None:
        scope.note_stop(reason)


def track_executor_owner(agent: Any) -> None:
    """Record that ``agent`` created an executor inside the current chat; it is shut down when the chat
    ends (nested chats and nested groups included), or when an enclosing chat that ``agent`` is part of ends."""
    scope = _current.get()
    if scope is not None:
        scope.owns_executor_of(agent)


@contextlib.contextmanager
def entered(scope: ChatScope) -> Iterator[ChatScope]:
    """Make ``scope`` the current chat's scope inside the block."""
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


# ------------------------------------------------------------------ human handlers

_input_provider: contextvars.ContextVar[InputProvider | None] = contextvars.ContextVar(
    "agentnb_input_provider", default=None)
_approver: contextvars.ContextVar[Approver | None] = contextvars.ContextVar("agentnb_approver", default=None)
_speaker_chooser: contextvars.ContextVar[SpeakerChooser | None] = contextvars.ContextVar(
    "agentnb_speaker_chooser", default=None)


@contextlib.contextmanager
def human_handlers(*, input_provider: InputProvider | None = None, approver: Approver | None = None,
                   speaker_chooser: SpeakerChooser | None = None) -> Iterator[None]:
    """Install an input provider, approver and/or speaker chooser for chats run inside the block."""
    with contextlib.ExitStack() as stack:
        if input_provider is not None:
            stack.enter_context(_installed(_input_provider, input_provider))
        if approver is not None:
            stack.enter_context(_installed(_approver, approver))
        if speaker_chooser is not None:
            stack.enter_context(_installed(_speaker_chooser, speaker_chooser))
        yield


@contextlib.contextmanager
def _installed(var: contextvars.ContextVar[T | None], value: T | None) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


@contextlib.contextmanager
def speaker_chooser_only(chooser: SpeakerChooser | None) -> Iterator[None]:
    """Set the speaker chooser inside the block, ``None`` included (no chooser: ask on the terminal)."""
    with _installed(_speaker_chooser, chooser):
        yield


def input_provider() -> InputProvider | None:
    return _input_provider.get()


def approver() -> Approver | None:
    return _approver.get()


def speaker_chooser() -> SpeakerChooser | None:
    return _speaker_chooser.get()


# ------------------------------------------------------------------ the view factory

_view_factory: ViewFactory | None = None
_view_factory_chosen = False


def set_view_factory(factory: ViewFactory | None) -> ViewFactory | None:
    """Register what a non-silent chat is shown in (``None``: nothing); returns the previous factory.

    A factory set here wins over the default the composition root registers.
    """
    global _view_factory, _view_factory_chosen
    previous, _view_factory, _view_factory_chosen = _view_factory, factory, True
    return previous


def set_default_view_factory(factory: ViewFactory) -> None:
    """Register ``factory`` unless one was chosen already (what :mod:`agentnb._compose` calls)."""
    global _view_factory
    if not _view_factory_chosen and _view_factory is None:
        _view_factory = factory


_chat_view_factory: contextvars.ContextVar[ViewFactory | None] = contextvars.ContextVar(
    "agentnb_chat_view_factory", default=None)


@contextlib.contextmanager
def viewed_by(factory: ViewFactory) -> Iterator[None]:
    """Show the non-silent chats started inside the block with ``factory`` (it wins over the registered
    one): an entry point that owns its view, e.g. ``%%agents`` and its panel, passes it this way."""
    with _installed(_chat_view_factory, factory):
        yield


def view_for(silent: bool | None, sync: bool) -> contextlib.AbstractContextManager[Any]:
    """The view an outermost chat runs inside: the entry point's (:func:`viewed_by`), else the registered
    factory's; none when ``silent``."""
    factory = _chat_view_factory.get() or _view_factory
    if silent or factory is None:
        return contextlib.nullcontext()
    return factory(sync)


# ------------------------------------------------------------------ the run recorder

_run_recorder: RunRecorder | None = None


def set_run_recorder(recorder: RunRecorder | None) -> RunRecorder | None:
    """Register what records every outermost chat (``None``: nothing); returns the previous one."""
    global _run_recorder
    previous, _run_recorder = _run_recorder, recorder
    return previous


def recorder_for(sender: Any, recipient: Any) -> contextlib.AbstractContextManager[Any]:
    """The registered run recorder's context manager for an outermost chat (none registered: nothing)."""
    if _run_recorder is None:
        return contextlib.nullcontext()
    return _run_recorder(sender, recipient)

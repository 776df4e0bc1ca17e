"""The human in the loop: typed replies and approval of code/tool calls, as data.

Two override points, installed with :func:`human_handlers` (which lives with the
rest of the running chat's scope in :mod:`agentnb.agents.scope`) so that a view
(the ChatPanel, a test, a policy) can install its own for the chats it runs:

- an **input provider** ``(prompt) -> str`` (sync or async) answers when an agent
  asks a person for a reply; the default calls ``input()`` on the sync caller's
  thread (stdin requests work from a busy notebook cell);
- an **approver** ``(ApprovalRequest) -> ApprovalDecision`` (sync or async)
  decides whether a code block / tool call may run. The default asks on the
  terminal; with no usable stdin it *rejects* — code never runs unapproved.
  A sync approver runs off the event loop (on the sync caller's thread or a
  worker thread), so Stop stays live while a person decides; only a real
  ``True`` / ``ApprovalDecision(approved=True)`` approves.

The approval *policy* of a chat (``initiate_chat(..., approval=...)``,
``%%agents --approve``) is chat-scoped state, not a change to the agents: see
:func:`chat_approval`. It is consulted at the moment code or a tool would run,
so it reaches every agent of the chat, nested chats and group members included.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import sys
from collections.abc import Iterator
from typing import Any

from .._aio import call_in_caller
from ..errors import ConfigError
from ..messages import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalRequested,
    HumanInputReceived,
    HumanInputRequested,
    emit,
)
from ..textguard import HIDDEN_WARNING, has_hidden, visible
from . import scope as _scope
from .scope import Approver, InputProvider, human_handlers

__all__ = [
    "APPROVAL_POLICIES", "Approver", "InputProvider", "approval_needed", "approval_round", "ask_human",
    "chat_approval", "check_policy", "console_approver", "ensure_not_stopped", "human_handlers", "maybe_await",
    "note_approved", "request_approval",
]


async def maybe_await(value: Any) -> Any:
    """Await ``value`` if it is awaitable ("await it maybe")."""
    if inspect.isawaitable(value):
        return await value
    return value


# ------------------------------------------------------------------ chat-scoped approval policy

APPROVAL_POLICIES = ("never", "first", "always")
"""From least to most strict. ``first``: the first code block, and separately the first tool call,
each executing agent runs in a chat is asked; later ones in that chat run unasked."""

_policy_override: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "agentnb_approval_override", default=None)
_approved_once: contextvars.ContextVar[dict[tuple[int, str], Any] | None] = contextvars.ContextVar(
    "agentnb_approved_once", default=None)
"""``(id(agent), kind) -> agent`` approved in this chat; holding the agent keeps its id from being reused."""


def check_policy(policy: Any, what: str = "approval") -> str:
    """``policy`` if it is one of :data:`APPROVAL_POLICIES`, else a ConfigError naming ``what``."""
    if not isinstance(policy, str) or policy not in APPROVAL_POLICIES:
        raise ConfigError(f"{what} must be 'never', 'first' or 'always', not {policy!r} "
                          f"({type(policy).__name__})")
    return policy


@contextlib.contextmanager
def chat_approval(policy: str | None = None) -> Iterator[None]:
    """Scope of one chat: a fresh "first" counter, and ``policy`` (if given) for every agent in it.

    The policy overrides each agent's own ``approval`` / ``tool_approval`` at the moment code or a
    tool would run, in this chat and in every chat nested inside it (context variables are inherited),
    so agents reached through nested chats, group managers or added later are covered. A nested chat
    may only make an inherited policy stricter, never looser.
    """
    if policy is not None:
        check_policy(policy)
    inherited = _policy_override.get()
    if inherited is not None and (policy is None or
                                  APPROVAL_POLICIES.index(policy) < APPROVAL_POLICIES.index(inherited)):
        policy = inherited
    override = _policy_override.set(policy)
    once = _approved_once.set({})
    try:
        yield
    finally:
        _approved_once.reset(once)
        _policy_override.reset(override)


@contextlib.contextmanager
def approval_round() -> Iterator[None]:
    """A "first" counter for code or tools run outside any chat (``execute_code_blocks`` called directly)."""
    if _approved_once.get() is not None:
        yield
        return
    token = _approved_once.set({})
    try:
        yield
    finally:
        _approved_once.reset(token)


def approval_needed(agent: Any, kind: str, own_policy: Any) -> bool:
    """Whether ``agent`` must ask before running code (``kind="code"``) or a tool (``"tool"``) now.

    The chat's override wins over ``own_policy``; an unknown policy asks (fail closed).
    """
    policy = _policy_override.get() or own_policy or "never"
    if policy == "never":
        return False
    if policy == "first":
        once = _approved_once.get()
        return once is None or (id(agent), kind) not in once
    return True


def note_approved(agent: Any, kind: str) -> None:
    """Record that ``agent`` had a ``kind`` approved in this chat (what "first" counts)."""
    once = _approved_once.get()
    if once is not None:
        once[id(agent), kind] = agent


async def ensure_not_stopped() -> None:
    """Raise CancelledError if the chat was stopped: called right before anything starts executing.

    Yields to the loop once first, so a Stop that arrived while a blocking approver held the
    loop (a cancel posted from another thread) is delivered here, not after the code was sent.
    """
    await asyncio.sleep(0)
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError("the chat was stopped before execution")


def _console_input(prompt: str) -> str:
    return input(visible(prompt))


async def ask_human(agent: str, prompt: str) -> str:
    """Ask a person for a reply on behalf of ``agent`` (events emitted around it)."""
    event = HumanInputRequested(agent=agent, prompt=prompt)
    emit(event)
    provider = _scope.input_provider()
    from ..io import custom_iostream

    iostream = custom_iostream() if provider is None else None
    if iostream is not None:  # a 0.2 user's IOStream answers, as 0.2's get_human_input asks it
        text = await call_in_caller(lambda: iostream.input(prompt))
    elif provider is None:
        text = await call_in_caller(lambda: _console_input(prompt))
    else:
        text = await maybe_await(provider(prompt))
    text = "" if text is None else str(text)
    emit(HumanInputReceived(agent=agent, request_id=event.request_id, text=text))
    return text


def _stdin_usable() -> bool:
    try:
        return sys.stdin is not None and not sys.stdin.closed and (
            sys.stdin.isatty() or "ipykernel" in sys.modules
        )
    except (ValueError, AttributeError):
        return False


def console_approver(request: ApprovalRequest) -> ApprovalDecision:
    """Ask on the terminal: ``y`` runs, ``n [reason]`` rejects, ``e`` edits (multi-line, end with a lone ``.``).

    The code is printed through :func:`agentnb.textguard.visible`: escapes, bidi and zero-width
    characters are shown, never interpreted, with a warning line when there are any.
    """
    if not _stdin_usable():
        return ApprovalDecision(approved=False, reason="approval required but no person could be asked")
    what = "code block" if request.kind == "code" else f"tool call {visible(request.tool_name)}"
    warning = f"\n{HIDDEN_WARNING}" if has_hidden(request.code) else ""
    reset = "\x1b[0m" if _is_tty(sys.stdout) else ""  # undo any colour/conceal an earlier output left on
    print(f"{reset}\n>>>>>>>> APPROVAL NEEDED: {visible(request.agent)} wants to run this {what}:{warning}\n"
          f"{visible(request.code)}")
    answer = input("Run it? [y]es / [n]o [reason] / [e]dit: ").strip()
    low = answer.lower()
    if low in {"y", "yes"}:
        return ApprovalDecision(approved=True)
    if low in {"e", "edit"} and request.kind == "code":
        print("Enter the new code; finish with a line containing only '.'")
        lines = []
        while True:
            line = input()
            if line.strip() == ".":
                break
            lines.append(line)
        return ApprovalDecision(approved=True, code="\n".join(lines) + "\n")
    reason = answer[1:].strip() if low.startswith("n") else answer
    if low.startswith("no"):
        reason = answer[2:].strip()
    return ApprovalDecision(approved=False, reason=reason)


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _is_async(func: Any) -> bool:
    target = getattr(func, "func", func)  # functools.partial
    method = inspect.getattr_static(type(target), "__call__", None)
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(method)


async def _ask(approver: Approver | None, request: ApprovalRequest) -> Any:
    """The approver's answer. Sync approvers run off the loop, so Stop works while they block."""
    if approver is None:
        return await call_in_caller(lambda: console_approver(request))
    if _is_async(approver):
        return await maybe_await(approver(request))
    return await maybe_await(await call_in_caller(lambda: approver(request)))


def _checked(decision: Any) -> ApprovalDecision:
    """Fail closed: only ``True`` or an ApprovalDecision whose ``approved`` is the bool True approves."""
    if decision is True:
        return ApprovalDecision(approved=True)
    if decision is False:
        return ApprovalDecision(approved=False)
    if not isinstance(decision, ApprovalDecision):
        return ApprovalDecision(
            approved=False,
            reason=f"the approver returned {type(decision).__name__}, not an ApprovalDecision or True/False")
    if decision.approved is not True:
        reason = decision.reason if isinstance(decision.reason, str) else ""
        if decision.approved is not False:
            reason = f"the approver's decision was {decision.approved!r}, not True/False"
        return ApprovalDecision(approved=False, reason=reason)
    if decision.code is not None and not isinstance(decision.code, str):
        return ApprovalDecision(approved=False,
                                reason=f"the approver's edited code is {type(decision.code).__name__}, not str")
    return decision


async def request_approval(request: ApprovalRequest) -> ApprovalDecision:
    """Ask the installed approver (default: the console) and emit the request and decision.

    Raises CancelledError if the chat was stopped while the person decided: an approval that
    arrives after Stop never lets anything run.
    """
    emit(ApprovalRequested(request=request))
    try:
        decision = _checked(await _ask(_scope.approver(), request))
    except Exception as exc:  # no stdin (nbconvert: StdinNotImplementedError), EOF, a broken approver: reject
        decision = ApprovalDecision(approved=False,
                                    reason=f"approval could not be asked ({type(exc).__name__}: {exc})")
    emit(ApprovalDecided(request=request, decision=decision))
    await ensure_not_stopped()
    return decision

"""The human in the loop: typed replies and approval of code/tool calls, as data.

Two override points, each a context variable so that a view (the ChatPanel, a
test, a policy) can install its own for the chats it runs:

- an **input provider** ``(prompt) -> str`` (sync or async) answers when an agent
  asks a person for a reply; the default calls ``input()`` on the sync caller's
  thread (stdin requests work from a busy notebook cell);
- an **approver** ``(ApprovalRequest) -> ApprovalDecision`` (sync or async)
  decides whether a code block / tool call may run. The default asks on the
  terminal; with no usable stdin it *rejects* — code never runs unapproved.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from .._aio import call_in_caller
from ..messages import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalRequested,
    HumanInputReceived,
    HumanInputRequested,
    emit,
)

InputProvider = Callable[[str], "str | Awaitable[str]"]
Approver = Callable[[ApprovalRequest], "ApprovalDecision | Awaitable[ApprovalDecision]"]

_input_provider: contextvars.ContextVar[InputProvider | None] = contextvars.ContextVar(
    "agentnb_input_provider", default=None
)
_approver: contextvars.ContextVar[Approver | None] = contextvars.ContextVar("agentnb_approver", default=None)


async def maybe_await(value: Any) -> Any:
    """Await ``value`` if it is awaitable ("await it maybe")."""
    if inspect.isawaitable(value):
        return await value
    return value


@contextlib.contextmanager
def human_handlers(*, input_provider: InputProvider | None = None,
                   approver: Approver | None = None) -> Iterator[None]:
    """Install an input provider and/or approver for chats run inside the block."""
    tokens = []
    if input_provider is not None:
        tokens.append((_input_provider, _input_provider.set(input_provider)))
    if approver is not None:
        tokens.append((_approver, _approver.set(approver)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_approver() -> Approver | None:
    return _approver.get()


def current_input_provider() -> InputProvider | None:
    return _input_provider.get()


def _console_input(prompt: str) -> str:
    return input(prompt)


async def ask_human(agent: str, prompt: str) -> str:
    """Ask a person for a reply on behalf of ``agent`` (events emitted around it)."""
    event = emit(HumanInputRequested(agent=agent, prompt=prompt))
    provider = _input_provider.get()
    if provider is None:
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
    """Ask on the terminal: ``y`` runs, ``n [reason]`` rejects, ``e`` edits (multi-line, end with a lone ``.``)."""
    if not _stdin_usable():
        return ApprovalDecision(approved=False, reason="approval required but no person could be asked")
    what = "code block" if request.kind == "code" else f"tool call {request.tool_name}"
    print(f"\n>>>>>>>> APPROVAL NEEDED: {request.agent} wants to run this {what}:\n{request.code}")
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


async def request_approval(request: ApprovalRequest) -> ApprovalDecision:
    """Ask the installed approver (default: the console) and emit the request and decision."""
    emit(ApprovalRequested(request=request))
    approver = _approver.get()
    try:
        if approver is None:
            decision = await call_in_caller(lambda: console_approver(request))
        else:
            decision = await maybe_await(approver(request))
    except Exception as exc:  # no stdin (nbconvert: StdinNotImplementedError), EOF, a broken approver: reject
        decision = ApprovalDecision(approved=False,
                                    reason=f"approval could not be asked ({type(exc).__name__}: {exc})")
    if isinstance(decision, bool):
        decision = ApprovalDecision(approved=decision)
    elif not isinstance(decision, ApprovalDecision):  # fail closed: only an explicit yes approves
        decision = ApprovalDecision(
            approved=False,
            reason=f"the approver returned {type(decision).__name__}, not an ApprovalDecision or True/False")
    emit(ApprovalDecided(request=request, decision=decision))
    return decision

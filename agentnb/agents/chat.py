"""Running one chat: scope, the turn loop, summary, cleanup.

The outermost chat enters the view the scope's factory gives (the core never picks
one: see :mod:`agentnb.agents.scope` and :mod:`agentnb._compose`) and owns the
cleanup: every executor its participants created is shut down when it ends,
however it ends (finished, error, cancelled, Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from .._aio import has_sync_caller
from ..errors import AgentNBError, ChatError, redact
from ..messages import ChatFinished, ChatStarted, ErrorOccurred, chat_scope, content_str, emit, new_id, subscribe
from .human import chat_approval, maybe_await
from .result import ChatResult, gather_usage_summary
from .runtime import AgentRuntime
from .scope import ChatScope, current_scope, entered, note_stop, recorder_for, track_executor_owner, view_for

if TYPE_CHECKING:
    from .conversable import ConversableAgent

SUMMARY_PROMPT = "Summarize the takeaway from the conversation. Do not add any introductory phrases."


__all__ = ["a_initiate_chats", "initiate_chats", "note_stop", "participants", "run_chat", "track_executor_owner"]


def participants(*agents: Any) -> list[Any]:
    """The agents of a chat, group members included, without duplicates."""
    out: list[Any] = []
    for agent in agents:
        extra = getattr(agent, "chat_participants", None)
        for a in [agent, *(extra() if callable(extra) else [])]:
            if all(a is not b for b in out):
                out.append(a)
    return out


async def run_chat(sender: ConversableAgent, recipient: ConversableAgent, *, clear_history: bool,
                   silent: bool | None, cache: Any, max_turns: int | None, summary_method: Any,
                   summary_args: dict[str, Any], message: Any, kwargs: dict[str, Any]) -> ChatResult:
    kwargs = dict(kwargs)
    approval = kwargs.pop("approval", None)  # chat-scoped: reaches nested chats, never mutates the agents
    parent = current_scope()
    outer = parent is None
    members = participants(sender, recipient)
    state = ChatScope(members=members, parent=parent)
    if outer:
        _prestart_kernels(members)
    chat_id = new_id("chat")
    from ..export import Recorder

    recorder = Recorder()
    try:
        with entered(state), chat_scope(chat_id), chat_approval(approval), subscribe(recorder), \
                (view_for(silent, has_sync_caller()) if outer else contextlib.nullcontext()), \
                (recorder_for(sender, recipient) if outer else contextlib.nullcontext()):
            model = next((a.client.model for a in members if getattr(a, "client", None) is not None), None)
            emit(ChatStarted(sender=sender.name, recipient=recipient.name, max_turns=max_turns,
                             agents=[a.name for a in members], model=model))
            previous_caches = [a.client_cache for a in members]
            if cache is not None:
                for a in members:
                    a.client_cache = cache
            try:
                await _turns(sender, recipient, clear_history, max_turns, message, kwargs)
                summary = await _summarize(sender, recipient, summary_method, summary_args, cache)
            except asyncio.CancelledError:
                emit(ChatFinished(reason="stopped", summary=""))
                raise
            except AgentNBError as exc:
                history = list(sender.chat_messages[recipient])
                exc.chat_history = history  # type: ignore[attr-defined]
                emit(ErrorOccurred(source=type(exc).__name__, error_type=type(exc).__name__,
                                   message=redact(str(exc)), fatal=True))
                emit(ChatFinished(reason="error", error=str(exc)))
                raise
            except Exception as exc:
                history = list(sender.chat_messages[recipient])
                emit(ErrorOccurred(source=type(exc).__name__, error_type=type(exc).__name__,
                                   message=redact(str(exc)), fatal=True))
                emit(ChatFinished(reason="error", error=redact(f"{type(exc).__name__}: {exc}")))
                raise ChatError(f"the chat stopped on an error: {type(exc).__name__}: {exc}",
                                chat_history=history, cause=exc) from exc
            finally:
                for a, previous in zip(members, previous_caches, strict=True):
                    a.client_cache = previous
            reason = state.stop_reason or "no_reply"
            emit(ChatFinished(reason=reason, summary=summary))
    finally:
        await _close_all(members + state.executor_owners if outer else _hand_over_executors(state))
    return ChatResult(
        chat_id=chat_id,
        chat_history=list(sender.chat_messages[recipient]),
        summary=summary,
        cost=gather_usage_summary(members),
        human_input=list(sender.runtime.human_input),
        events=recorder.events,
        stop_reason=reason,
    )


def _runtime(agent: Any) -> AgentRuntime | None:
    """The runtime state of a ``ConversableAgent`` member (a custom ``Agent`` has none)."""
    runtime = getattr(agent, "runtime", None)
    return runtime if isinstance(runtime, AgentRuntime) else None


def _prestart_kernels(members: list[Any]) -> None:
    """Start the local kernel a member will run code in now, so it starts while the first model call runs."""
    for agent in members:
        runtime = _runtime(agent)
        if runtime is not None and runtime.executor is None and isinstance(agent.code_execution_config, dict):
            from ..coding.kernel import prestart_kernel

            prestart_kernel(agent.code_execution_config)


def _hand_over_executors(scope: ChatScope) -> list[Any]:
    """A nested chat ends: agents of an enclosing chat keep their executor for it; the rest are returned to close."""
    to_close = []
    for agent in scope.executor_owners:
        outer = scope.parent
        while outer is not None and all(a is not agent for a in outer.members):
            outer = outer.parent
        if outer is None:
            to_close.append(agent)
        else:
            outer.owns_executor_of(agent)
    return to_close


async def _close_all(members: list[Any]) -> None:
    """Shut down every executor the chat's agents created, all at once, even if cancelled again meanwhile."""
    closers = [runtime.close_executor() for a in members if (runtime := _runtime(a)) is not None]
    if not closers:
        return
    cleanup = asyncio.ensure_future(asyncio.gather(*closers, return_exceptions=True))
    cancelled = False
    while not cleanup.done():
        try:
            await asyncio.shield(cleanup)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def _turns(sender: ConversableAgent, recipient: ConversableAgent, clear_history: bool,
                 max_turns: int | None, message: Any, kwargs: dict[str, Any]) -> None:
    kwargs = dict(kwargs, recipient=recipient)
    if isinstance(max_turns, int):
        sender.prepare_chat(recipient, clear_history, reply_at_receive=False)
        for turn in range(max_turns):
            msg: str | dict[str, Any] | None
            if turn == 0:
                msg = await sender.a_generate_init_message(message, **kwargs)
            else:
                msg = await sender.a_generate_reply(messages=sender.chat_messages[recipient], sender=recipient)
            if msg is None:
                note_stop("terminated")
                return
            await sender.a_send(msg, recipient, request_reply=True)
        note_stop("max_turns")
    else:
        sender.prepare_chat(recipient, clear_history)
        await sender.a_send(await sender.a_generate_init_message(message, **kwargs), recipient)


async def _summarize(sender: ConversableAgent, recipient: ConversableAgent, method: Any,
                     args: dict[str, Any], cache: Any) -> str:
    if method is None:
        return ""
    if callable(method):
        return await maybe_await(method(sender, recipient, args))
    if method == "last_msg":
        last = recipient.last_message(sender) if recipient.chat_messages.get(sender) else None
        if last is None:
            last = sender.last_message(recipient) if sender.chat_messages.get(recipient) else None
        return content_str(last.get("content")).replace("TERMINATE", "").strip() if last else ""
    client = recipient.client or sender.client
    if client is None:
        raise ChatError("summary_method='reflection_with_llm' needs an agent with an llm_config",
                        chat_history=sender.chat_messages[recipient])
    prompt = args.get("summary_prompt", SUMMARY_PROMPT)
    role = args.get("summary_role", "system")
    history = [{k: v for k, v in m.items() if k in ("role", "content")} for m in sender.chat_messages[recipient]
               if m.get("content") is not None and m.get("role") in ("user", "assistant", "system")]
    system = [{"content": sender.system_message, "role": "system"}]
    messages = system + history + [{"role": role, "content": prompt}]
    completion = await client.create(messages, stream=False, cache=cache)
    return (completion.content or "").replace("TERMINATE", "").strip()


async def a_initiate_chats(chat_queue: list[dict[str, Any]]) -> list[ChatResult]:
    """AutoGen's module-level sequential chats: each dict has ``sender``, ``recipient`` and chat arguments.

    Each chat's summary is carried over into the messages of the chats after it (the chat's own
    carryover first, then the earlier summaries: AutoGen's order).
    """
    results: list[ChatResult] = []
    for spec in chat_queue:
        spec = dict(spec)
        sender = spec.pop("sender")
        carry = [r.summary for r in results]
        if carry:
            own = spec.get("carryover", [])
            spec["carryover"] = ([own] if isinstance(own, str) else list(own)) + carry
        results.append(await sender.a_initiate_chat(**spec))
    return results


def initiate_chats(chat_queue: list[dict[str, Any]]) -> list[ChatResult]:
    from .._aio import run_sync

    return run_sync(a_initiate_chats(chat_queue))

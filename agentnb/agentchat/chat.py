"""``autogen.agentchat.chat``: ``ChatResult``, ``initiate_chats`` and 0.2's async ``a_initiate_chats``.

``initiate_chats`` runs the chats in order (each summary carried over to the next). ``a_initiate_chats``
is 0.2's: every chat has a ``chat_id`` and may list ``prerequisites`` (ids of chats whose summaries it
needs); independent chats run concurrently, and the result maps each ``chat_id`` to its ChatResult.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..agents.chat import initiate_chats
from ..agents.result import ChatResult
from ..errors import ConfigError
from ..exception_utils import SenderRequired


def _order(book: dict[Any, dict[str, Any]]) -> list[Any]:
    """Chat ids with every prerequisite before the chats that need it; ConfigError for unknown ids or cycles."""
    ordered: list[Any] = []
    state: dict[Any, str] = {}

    def visit(chat_id: Any, path: tuple[Any, ...]) -> None:
        if state.get(chat_id) == "done":
            return
        if state.get(chat_id) == "visiting":
            raise ConfigError(f"a_initiate_chats: the prerequisites form a cycle: {' -> '.join(map(str, path))}")
        state[chat_id] = "visiting"
        for pre in book[chat_id].get("prerequisites", []) or []:
            if pre not in book:
                raise ConfigError(f"a_initiate_chats: chat {chat_id!r} needs chat {pre!r}, which is not in the queue")
            visit(pre, (*path, pre))
        state[chat_id] = "done"
        ordered.append(chat_id)

    for chat_id in book:
        visit(chat_id, (chat_id,))
    return ordered


async def a_initiate_chats(chat_queue: list[dict[str, Any]]) -> dict[Any, ChatResult]:
    """Run the chats of ``chat_queue`` as their ``prerequisites`` allow; ``{chat_id: ChatResult}``."""
    book: dict[Any, dict[str, Any]] = {}
    for chat in chat_queue:
        if "chat_id" not in chat:
            raise ConfigError("a_initiate_chats: every chat needs a 'chat_id' (prerequisites name chats by id)")
        if chat.get("sender") is None:
            raise SenderRequired()
        if chat["chat_id"] in book:
            raise ConfigError(f"a_initiate_chats: chat_id {chat['chat_id']!r} is used twice")
        book[chat["chat_id"]] = dict(chat)
    tasks: dict[Any, asyncio.Task[ChatResult]] = {}

    async def run(chat_id: Any) -> ChatResult:
        spec = dict(book[chat_id])
        prerequisites = spec.pop("prerequisites", None) or []
        summaries = [(await tasks[pre]).summary for pre in prerequisites]
        own = spec.get("carryover", [])
        carryover = ([own] if isinstance(own, str) else list(own or [])) + summaries
        if carryover:
            spec["carryover"] = carryover
        sender = spec.pop("sender")
        spec.pop("chat_id")
        return await sender.a_initiate_chat(**spec)

    for chat_id in _order(book):
        tasks[chat_id] = asyncio.ensure_future(run(chat_id))
    try:
        await asyncio.gather(*tasks.values())
    except BaseException:  # a failed (or cancelled) chat stops the others, which are awaited
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        raise
    return {chat_id: tasks[chat_id].result() for chat_id in book}


__all__ = ["ChatResult", "a_initiate_chats", "initiate_chats"]

"""AutoGen's hooks and nested chats, mixed into ``ConversableAgent``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._validate import ConfigAssertionError  # 0.2 asserts in register_hook
from ..errors import ConfigError
from ..messages import content_str
from . import chat as _chat
from .human import maybe_await

if TYPE_CHECKING:
    from .conversable import ConversableAgent


class HooksMixin:
    """``register_hook`` and ``register_nested_chats``; needs ``hook_lists`` and ``register_reply``."""

    hook_lists: dict[str, list[Callable]]
    register_reply: Callable[..., None]

    def register_hook(self, hookable_method: str, hook: Callable) -> None:
        """AutoGen's hooks: ``process_last_received_message`` (text -> text),
        ``process_all_messages_before_reply`` (messages -> messages), ``process_message_before_send``
        (``sender, message, recipient, silent`` -> message)."""
        if hookable_method not in self.hook_lists:
            raise ConfigAssertionError(f"{hookable_method!r} is not a hookable method; use one of "
                                       f"{', '.join(self.hook_lists)}")
        if hook in self.hook_lists[hookable_method]:
            raise ConfigAssertionError(f"{hook!r} is already registered as a hook")
        self.hook_lists[hookable_method].append(hook)

    def register_nested_chats(self, chat_queue: list[dict[str, Any]], trigger: Any,
                              reply_func_from_nested_chats: str | Callable = "summary_from_nested_chats",
                              position: int = 2, **kwargs: Any) -> None:
        """When ``trigger`` sends a message, run ``chat_queue`` (like ``initiate_chats``) and reply with the
        last chat's summary. A chat without ``message`` gets the received message; ``sender`` defaults to self."""
        if reply_func_from_nested_chats == "summary_from_nested_chats":
            reply_func = _summary_from_nested_chats
        elif callable(reply_func_from_nested_chats):
            reply_func = reply_func_from_nested_chats
        else:
            raise ConfigError("reply_func_from_nested_chats must be 'summary_from_nested_chats' or a callable")

        async def nested_reply(recipient, messages=None, sender=None, config=None):
            return await maybe_await(reply_func(chat_queue, recipient, messages, sender, config))

        self.register_reply(trigger, nested_reply, position=position, **kwargs)


async def _summary_from_nested_chats(chat_queue: list[dict[str, Any]], recipient: ConversableAgent,
                                    messages: list[dict[str, Any]] | None = None, sender: Any = None,
                                    config: Any = None) -> tuple[bool, str | None]:
    """AutoGen's default nested-chat reply: run the chats, reply with the last summary."""
    last = content_str(messages[-1].get("content")) if messages else ""
    to_run = []
    for i, chat in enumerate(chat_queue):
        chat = dict(chat)
        chat.setdefault("sender", recipient)
        message = chat.get("message")
        if not message and i == 0:
            message = last
        if callable(message):
            message = await maybe_await(message(recipient, messages, sender, config))
        chat["message"] = message
        if message:
            to_run.append(chat)
    if not to_run:
        return True, None
    results = await _chat.a_initiate_chats(to_run)
    return True, results[-1].summary

"""Reply functions, mixed into ``ConversableAgent``: registering them and picking the agent's reply.

``register_reply(trigger, reply_func)`` adds ``reply_func(recipient, messages, sender, config) ->
(final, reply)`` (sync or async); :meth:`~ReplyFunctionsMixin.a_generate_reply` runs the reply hooks,
then the functions whose trigger matches the sender, newest first, until one is final. The built-in
ones are registered by ``ConversableAgent.__init__`` under AutoGen 0.2's method names
(:mod:`agentnb.agents.compat_api`); their logic is in :mod:`agentnb.agents.replies`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .._aio import run_sync
from .._validate import ConfigAssertionError
from ..errors import ConfigError
from .agent import Agent
from .compat_api import call_reply_func


def matches_trigger(trigger: Any, sender: Agent | None) -> bool:
    """Whether a reply function registered with ``trigger`` answers ``sender`` (AutoGen 0.2's rules)."""
    if trigger is None:
        return sender is None
    if isinstance(trigger, str):
        if sender is None:
            from ..exception_utils import SenderRequired

            raise SenderRequired()
        return trigger == sender.name
    if isinstance(trigger, type):
        return isinstance(sender, trigger)
    if isinstance(trigger, Agent):
        return trigger is sender
    if isinstance(trigger, list):
        return any(matches_trigger(t, sender) for t in trigger)
    if callable(trigger):
        return bool(trigger(sender))
    return False


class ReplyFunctionsMixin:
    """``register_reply`` and the reply dispatch; needs ``ConversableAgent``'s messages and reply hooks."""

    _reply_func_list: list[dict[str, Any]]
    _oai_messages: dict[Any, list[dict[str, Any]]]
    _default_auto_reply: str | dict[str, Any]
    a_run_reply_hooks: Callable[..., Any]

    def register_reply(self, trigger: Any, reply_func: Callable[..., Any], position: int = 0,
                       config: Any = None, reset_config: Callable[..., Any] | None = None, *,
                       ignore_async_in_sync_chat: bool = False, remove_other_reply_funcs: bool = False) -> None:
        """Register ``reply_func(recipient, messages, sender, config) -> (final, reply)``; sync or async.

        Functions registered later are checked first (``position=0``).
        """
        if not isinstance(trigger, type | str | Agent | Callable | list) and trigger is not None:
            raise ConfigError("trigger must be a class, a name, an agent, a callable, None or a list of them")
        if remove_other_reply_funcs:
            self._reply_func_list.clear()
        self._reply_func_list.insert(position, {
            "trigger": trigger, "reply_func": reply_func, "config": copy.copy(config),
            "init_config": config, "reset_config": reset_config,
        })

    def replace_reply_func(self, old_reply_func: Callable[..., Any], new_reply_func: Callable[..., Any]) -> None:
        for f in self._reply_func_list:
            if f["reply_func"] == old_reply_func:
                f["reply_func"] = new_reply_func

    @property
    def reply_func_list(self) -> list[dict[str, Any]]:
        return self._reply_func_list

    async def a_generate_reply(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                               exclude: tuple[Any, ...] | list[Any] = (),
                               **kwargs: Any) -> str | dict[str, Any] | None:
        """Run the reply functions (newest first) until one is final; else the default auto reply."""
        if messages is None and sender is None:
            raise ConfigAssertionError(f"Either messages={messages!r} or sender={sender!r} must be provided.")
        if messages is None:
            messages = self._oai_messages[sender]
        messages = await self.a_run_reply_hooks(messages)
        reply: str | dict[str, Any] | None
        for entry in list(self._reply_func_list):
            func = entry["reply_func"]
            if func in exclude or not matches_trigger(entry["trigger"], sender):
                continue
            final, reply = await call_reply_func(self, func, messages, sender, entry["config"])
            if final:
                return reply
        return self._default_auto_reply

    def generate_reply(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                       **kwargs: Any) -> str | dict[str, Any] | None:
        return run_sync(self.a_generate_reply(messages=messages, sender=sender, **kwargs))

    def _reset_reply_configs(self) -> None:
        """Each reply function's ``config`` back to its initial value (or through its ``reset_config``)."""
        for entry in self._reply_func_list:
            if entry["reset_config"] is not None:
                entry["reset_config"](entry["config"])
            else:
                entry["config"] = copy.copy(entry["init_config"])


__all__ = ["ReplyFunctionsMixin", "matches_trigger"]

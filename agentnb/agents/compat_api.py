"""AutoGen 0.2's public ``ConversableAgent`` methods that agentnb keeps elsewhere, mixed in.

- the built-in reply functions as methods, sync and ``a_``, each ``(messages, sender, config) -> (final, reply)``:
  :meth:`generate_oai_reply`, :meth:`generate_code_execution_reply`, :meth:`generate_tool_calls_reply`,
  :meth:`generate_function_call_reply`, :meth:`check_termination_and_human_reply`;
- the hookable methods ``process_*`` and their ``a_`` twins (async hooks are awaited);
- ``last_message`` raising ``KeyError``/``ValueError`` as 0.2 does, ``register_nested_chats(use_async=...)``.

The sync methods are what ``register_reply`` holds (``ConversableAgent.generate_oai_reply``, as in 0.2), so
``replace_reply_func`` and ``exclude=`` work with 0.2's names; inside a chat :func:`call_reply_func` runs each
one's async implementation on the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any

from .._aio import call_in_caller, in_bridge_thread, run_sync
from ..errors import ConfigError
from . import chat as _chat
from . import replies
from .human import maybe_await

HOOKABLE = ("process_last_received_message", "process_all_messages_before_reply", "process_message_before_send")


_ASYNC_TWINS: dict[Callable[..., Any], Callable[..., Any]] = {}
"""Each built-in sync reply method -> the coroutine function a chat awaits instead of calling it."""


def _twin(impl: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Record ``impl`` as the async implementation of the decorated sync reply method."""

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        _ASYNC_TWINS[method] = impl
        return method

    return mark


def _public(reply: Any) -> Any:
    """A reply as 0.2 returns it: plain text when it is only text, never agentnb's private keys."""
    if isinstance(reply, dict):
        reply = {k: v for k, v in reply.items() if not k.startswith("_")}
        if set(reply) <= {"content", "role"} and reply.get("role", "assistant") == "assistant":
            return reply.get("content")
    return reply


async def call_reply_func(agent: Any, func: Callable[..., Any], messages: Any, sender: Any,
                          config: Any) -> tuple[bool, Any]:
    """Run one registered reply function from a chat: agentnb's own on the loop, a user's sync one in a
    worker thread (so it may call sync agent methods such as ``generate_oai_reply`` or ``initiate_chat``)."""
    try:
        impl = _ASYNC_TWINS.get(func)
    except TypeError:  # an unhashable callable object is a user's reply function
        impl = None
    if impl is not None:
        return await impl(agent, messages=messages, sender=sender, config=config)
    if inspect.iscoroutinefunction(func):
        return await func(agent, messages=messages, sender=sender, config=config)
    if not in_bridge_thread():  # a plain ``await agent.a_generate_reply()`` on the user's loop: call it here
        return await maybe_await(func(agent, messages=messages, sender=sender, config=config))
    ctx = contextvars.copy_context()
    call = functools.partial(func, agent, messages=messages, sender=sender, config=config)
    return await maybe_await(await asyncio.to_thread(ctx.run, call))


def announce(kind: str, *args: Any) -> None:
    """Tell ``runtime_logging`` (if the user imported and started it) about a new agent or client."""
    module = sys.modules.get("agentnb.runtime_logging")
    if module is not None and module.logging_enabled():
        getattr(module, f"log_new_{kind}")(*args)


async def deliver(recipient: Any, message: Any, sender: Any, request_reply: bool | None,
                  silent: bool | None) -> None:
    """``recipient.a_receive``; a custom ``Agent`` with only a sync ``receive`` is called on the caller's thread."""
    a_receive = getattr(recipient, "a_receive", None)
    if a_receive is not None and inspect.iscoroutinefunction(a_receive):
        await a_receive(message, sender, request_reply, silent)
        return
    receive = getattr(recipient, "receive", None)
    if receive is None:
        raise ConfigError(f"{recipient!r} cannot receive messages: it has neither a_receive nor receive")
    if isinstance(message, dict) and set(message) == {"content"} and isinstance(message["content"], str):
        message = message["content"]  # a text message arrives as the text, as 0.2's send passes it
    await call_in_caller(lambda: receive(message, sender, request_reply, silent))


class CompatMethodsMixin:
    """The 0.2 methods listed in the module docstring; needs ``ConversableAgent``'s state."""

    DEFAULT_SUMMARY_PROMPT = _chat.SUMMARY_PROMPT
    DEFAULT_SUMMARY_METHOD = "last_msg"

    hook_lists: dict[str, list[Callable[..., Any]]]
    _oai_messages: dict[Any, list[dict[str, Any]]]
    register_reply: Callable[..., None]
    client: Any
    """A :class:`agentnb.llm.client.ModelClient`, an ``oai`` ``WrapperClient`` after
    :meth:`register_model_client`, or None without an ``llm_config``."""

    # ------------------------------------------------------------------ reply functions

    async def a_generate_oai_reply(self, messages: list[dict[str, Any]] | None = None, sender: Any = None,
                                   config: Any = None) -> tuple[bool, str | dict[str, Any] | None]:
        """Ask the model (``config`` may be another client); ``(False, None)`` without an ``llm_config``."""
        if config is not None and hasattr(config, "extract_text_or_completion_object"):  # an OpenAIWrapper
            from ..oai.agent_client import WrapperClient

            config = WrapperClient(config, agent_name=self.name)  # type: ignore[attr-defined]
        final, reply = await replies.generate_oai_reply(self, messages, sender, config)  # type: ignore[arg-type]
        return final, _public(reply)

    @_twin(replies.generate_oai_reply)
    def generate_oai_reply(self, messages: list[dict[str, Any]] | None = None, sender: Any = None,
                           config: Any = None) -> tuple[bool, str | dict[str, Any] | None]:
        return run_sync(self.a_generate_oai_reply(messages, sender, config))

    async def a_generate_code_execution_reply(self, messages: list[dict[str, Any]] | None = None,
                                              sender: Any = None, config: Any = None) -> tuple[bool, str | None]:
        """Run the code blocks of the newest message that has some: ``(True, "exitcode: ...")``."""
        return await replies.generate_code_execution_reply(self, messages, sender, config)  # type: ignore[arg-type]

    @_twin(replies.generate_code_execution_reply)
    def generate_code_execution_reply(self, messages: list[dict[str, Any]] | None = None, sender: Any = None,
                                      config: Any = None) -> tuple[bool, str | None]:
        return run_sync(self.a_generate_code_execution_reply(messages, sender, config))

    async def a_generate_tool_calls_reply(self, messages: list[dict[str, Any]] | None = None,
                                          sender: Any = None, config: Any = None) -> tuple[bool, dict | None]:
        """Run the tool calls of the last message: ``(True, {"role": "tool", "tool_responses": [...]})``."""
        return await replies.generate_tool_calls_reply(self, messages, sender, config)  # type: ignore[arg-type]

    @_twin(replies.generate_tool_calls_reply)
    def generate_tool_calls_reply(self, messages: list[dict[str, Any]] | None = None, sender: Any = None,
                                  config: Any = None) -> tuple[bool, dict | None]:
        return run_sync(self.a_generate_tool_calls_reply(messages, sender, config))

    async def a_generate_function_call_reply(self, messages: list[dict[str, Any]] | None = None,
                                             sender: Any = None, config: Any = None) -> tuple[bool, dict | None]:
        """Run a legacy ``function_call`` of the last message: ``(True, {"role": "function", ...})``."""
        return await replies.generate_function_call_reply(self, messages, sender, config)  # type: ignore[arg-type]

    @_twin(replies.generate_function_call_reply)
    def generate_function_call_reply(self, messages: list[dict[str, Any]] | None = None, sender: Any = None,
                                     config: Any = None) -> tuple[bool, dict | None]:
        return run_sync(self.a_generate_function_call_reply(messages, sender, config))

    async def a_check_termination_and_human_reply(self, messages: list[dict[str, Any]] | None = None,
                                                  sender: Any = None, config: Any = None) -> tuple[bool, Any]:
        """``(True, None)`` ends the chat, ``(True, reply)`` is a person's reply, ``(False, None)`` goes on."""
        return await replies.check_termination_and_human_reply(self, messages, sender, config)  # type: ignore

    @_twin(replies.check_termination_and_human_reply)
    def check_termination_and_human_reply(self, messages: list[dict[str, Any]] | None = None, sender: Any = None,
                                          config: Any = None) -> tuple[bool, Any]:
        return run_sync(self.a_check_termination_and_human_reply(messages, sender, config))

    # ------------------------------------------------------------------ hookable methods

    def process_all_messages_before_reply(self, messages: list[dict[str, Any]] | None) -> Any:
        """Pass ``messages`` through the ``process_all_messages_before_reply`` hooks (in registration order)."""
        hooks = self.hook_lists["process_all_messages_before_reply"]
        if not hooks or messages is None:
            return messages
        for hook in hooks:
            messages = _sync_hook(hook, messages)
        return messages

    async def a_process_all_messages_before_reply(self, messages: list[dict[str, Any]] | None) -> Any:
        """As :meth:`process_all_messages_before_reply`; async hooks are awaited."""
        if messages is None:
            return None
        for hook in self.hook_lists["process_all_messages_before_reply"]:
            messages = await maybe_await(hook(messages))
        return messages

    def process_last_received_message(self, messages: list[dict[str, Any]] | None) -> Any:
        """Pass the last message's text through the ``process_last_received_message`` hooks.

        Returns a new list whose last message carries the processed text; the history itself is not
        changed (0.2's documented intent). Function calls, ``context`` messages and ``exit`` are left alone.
        """
        content = _hookable_content(self.hook_lists["process_last_received_message"], messages)
        if content is None or messages is None:
            return messages
        processed = content
        for hook in self.hook_lists["process_last_received_message"]:
            processed = _sync_hook(hook, processed)
        return _with_last_content(messages, content, processed)

    async def a_process_last_received_message(self, messages: list[dict[str, Any]] | None) -> Any:
        """As :meth:`process_last_received_message`; async hooks are awaited."""
        content = _hookable_content(self.hook_lists["process_last_received_message"], messages)
        if content is None or messages is None:
            return messages
        processed = content
        for hook in self.hook_lists["process_last_received_message"]:
            processed = await maybe_await(hook(processed))
        return _with_last_content(messages, content, processed)

    def process_message_before_send(self, message: Any, recipient: Any, silent: bool | None) -> Any:
        """Pass an outgoing message through the ``process_message_before_send`` hooks."""
        for hook in self.hook_lists["process_message_before_send"]:
            message = _sync_hook(hook, sender=self, message=message, recipient=recipient, silent=silent)
        return message

    async def a_process_message_before_send(self, message: Any, recipient: Any, silent: bool | None) -> Any:
        """As :meth:`process_message_before_send`; async hooks are awaited."""
        for hook in self.hook_lists["process_message_before_send"]:
            message = await maybe_await(hook(sender=self, message=message, recipient=recipient, silent=silent))
        return message

    async def a_run_reply_hooks(self, messages: list[dict[str, Any]] | None) -> Any:
        """What a chat runs before the reply functions (0.2's order: last message first, then all messages)."""
        messages = await self.a_process_last_received_message(messages)
        return await self.a_process_all_messages_before_reply(messages)

    # ------------------------------------------------------------------ messages

    def last_message(self, agent: Any = None) -> dict[str, Any] | None:
        """The last message exchanged with ``agent``.

        Without ``agent``: ``None`` if there is no conversation, the last message if there is one,
        ``ValueError`` if there are several. ``KeyError`` if ``agent`` never talked with this agent.
        """
        if agent is None:
            if not self._oai_messages:
                return None
            if len(self._oai_messages) == 1:
                conversation = next(iter(self._oai_messages.values()))
                return conversation[-1] if conversation else None
            raise ValueError("More than one conversation is found. Please specify the sender to get the last "
                             "message.")
        if agent not in self._oai_messages:
            raise KeyError(f"The agent '{getattr(agent, 'name', agent)}' is not present in any conversation. "
                           "No history available for this agent.")
        messages = self._oai_messages[agent]
        return messages[-1] if messages else None

    # ------------------------------------------------------------------ model client

    def register_model_client(self, model_client_cls: type, **kwargs: Any) -> None:
        """Serve the ``config_list`` entries naming ``model_client_cls`` (``"model_client_cls": "MyClient"``)
        with that class (0.2's custom model clients); the agent's calls then go through an OpenAIWrapper."""
        from ..oai.agent_client import WrapperClient
        from ..oai.client import OpenAIWrapper

        client = getattr(self, "client", None)
        if not isinstance(client, WrapperClient):
            llm_config = getattr(self, "llm_config", None)
            if not isinstance(llm_config, dict):
                raise ValueError(f"agent {self.name!r} has no llm_config to register a model client for")  # type: ignore
            wrapper = OpenAIWrapper(**llm_config)
            wrapper.register_model_client(model_client_cls, **kwargs)
            self.client = WrapperClient(wrapper, agent_name=self.name)  # type: ignore[attr-defined]
        else:
            client.wrapper.register_model_client(model_client_cls, **kwargs)

    def print_usage_summary(self, mode: str | list[str] | tuple[str, ...] = ("actual", "total")) -> None:
        """Print this agent's model usage as 0.2 does (through the default IOStream)."""
        from ..io import IOStream
        from ..oai.usage import print_usage_summary

        client = getattr(self, "client", None)
        if client is None:
            IOStream.get_default().print(f"No cost incurred from agent '{self.name}'.")  # type: ignore[attr-defined]
            return
        IOStream.get_default().print(f"Agent '{self.name}':")  # type: ignore[attr-defined]
        print_usage_summary(client.usage_summary(actual=True), client.usage_summary(), mode)

    # ------------------------------------------------------------------ nested chats

    def register_nested_chats(self, chat_queue: list[dict[str, Any]], trigger: Any,
                              reply_func_from_nested_chats: str | Callable[..., Any] = "summary_from_nested_chats",
                              position: int = 2, use_async: bool | None = None, **kwargs: Any) -> None:
        """Run ``chat_queue`` when ``trigger`` sends a message; reply with the last chat's summary.

        ``use_async=True`` (0.2) requires a ``chat_id`` on every chat and a coroutine reply function; agentnb
        runs nested chats on the loop either way, so sync and async chats both reach them.
        """
        if use_async:
            if any(chat.get("chat_id") is None for chat in chat_queue):
                raise ValueError("chat_id is required for async nested chats")
            if reply_func_from_nested_chats != "summary_from_nested_chats" and not (
                    callable(reply_func_from_nested_chats)
                    and inspect.iscoroutinefunction(reply_func_from_nested_chats)):
                raise ValueError("reply_func_from_nested_chats must be a callable and a coroutine")
        elif reply_func_from_nested_chats != "summary_from_nested_chats" and not callable(
                reply_func_from_nested_chats):
            raise ValueError("reply_func_from_nested_chats must be a callable")
        kwargs.pop("ignore_async_in_sync_chat", None)
        super().register_nested_chats(chat_queue, trigger,  # type: ignore[misc]
                                      reply_func_from_nested_chats=reply_func_from_nested_chats,
                                      position=position, **kwargs)


def _sync_hook(hook: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a hook from a sync hookable method (a coroutine hook is run to completion)."""
    value = hook(*args, **kwargs)
    if inspect.isawaitable(value):
        async def wait() -> Any:
            return await value

        return run_sync(wait())
    return value


def _hookable_content(hooks: list[Callable[..., Any]], messages: list[dict[str, Any]] | None) -> Any:
    """The last message's content if hooks may process it (0.2's conditions), else None."""
    if not hooks or not messages:
        return None
    last = messages[-1]
    if "function_call" in last or "context" in last or "content" not in last:
        return None
    content = last["content"]
    if not isinstance(content, str | list) or content == "exit":
        return None
    return content


def _with_last_content(messages: list[dict[str, Any]], before: Any, after: Any) -> list[dict[str, Any]]:
    if after == before:
        return messages
    return [*messages[:-1], {**messages[-1], "content": after}]


__all__ = ["HOOKABLE", "CompatMethodsMixin", "announce", "call_reply_func", "deliver"]

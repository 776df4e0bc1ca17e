"""An agent's model calls through an :class:`~agentnb.oai.client.OpenAIWrapper` (custom model clients).

``agent.register_model_client(MyClient)`` (0.2) replaces the agent's client by :class:`WrapperClient`,
which offers what the agents use of :class:`agentnb.llm.client.ModelClient` (``create``, ``model``,
``usage_summary``, ``clear_usage``, ``config.request``) on top of the wrapper.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
from types import SimpleNamespace
from typing import Any

from ..llm.client import Completion
from ..messages import UsageUpdated, emit
from .client import OpenAIWrapper


class WrapperClient:
    """Adapts an :class:`OpenAIWrapper` to the async client interface the agents call."""

    def __init__(self, wrapper: OpenAIWrapper, *, agent_name: str = "agent"):
        self.wrapper = wrapper
        self.agent_name = agent_name
        first = wrapper.config_list[0] if wrapper.config_list else {}
        self.config = SimpleNamespace(request={}, model=str(first.get("model", "")))

    @property
    def model(self) -> str:
        return self.config.model

    async def create(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None = None,
                     stream: bool | None = None, cache: Any = None, **overrides: Any) -> Completion:
        params: dict[str, Any] = {"messages": messages, **overrides}
        if tools:
            params["tools"] = tools
        if cache is not None:
            params["cache"] = cache
        call = functools.partial(self.wrapper.create, **params)
        response = await asyncio.to_thread(contextvars.copy_context().run, call)
        completion = _completion(self.wrapper, response)
        emit(UsageUpdated(agent=self.agent_name, model=completion.model, prompt_tokens=completion.prompt_tokens,
                          completion_tokens=completion.completion_tokens, cost=completion.cost,
                          cached=completion.cached))
        return completion

    def usage_summary(self, actual: bool = False) -> dict[str, Any] | None:
        return self.wrapper.actual_usage_summary if actual else self.wrapper.total_usage_summary

    def clear_usage(self) -> None:
        self.wrapper.clear_usage_summary()


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return value


def _completion(wrapper: OpenAIWrapper, response: Any) -> Completion:
    first = wrapper.extract_text_or_completion_object(response)[0]
    usage: dict[str, Any] = {}
    client = wrapper.client_for(response)
    try:
        usage = client.get_usage(response) or {}
    except Exception:  # a custom client's bug must not lose the reply
        usage = {}
    tool_calls = function_call = None
    if isinstance(first, str) or first is None:
        content = first
    else:
        content = _field(first, "content")
        tool_calls = _plain(_field(first, "tool_calls")) or None
        function_call = _plain(_field(first, "function_call")) or None
        if tool_calls:
            for call in tool_calls:
                args = call.get("function", {}).get("arguments")
                if not isinstance(args, str):
                    call["function"]["arguments"] = json.dumps(args)
    return Completion(content=content, tool_calls=tool_calls, function_call=function_call,
                      model=str(usage.get("model") or getattr(response, "model", "") or ""),
                      prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0),
                      cost=float(getattr(response, "cost", 0.0) or 0.0),
                      cached=bool(getattr(response, "cached", False)))


__all__ = ["WrapperClient"]

"""AutoGen 0.2's ``OpenAIWrapper`` and ``ModelClient`` protocol (``autogen.oai.client``).

``OpenAIWrapper(config_list=[...], **base_config)`` tries the entries in order. OpenAI-protocol entries
go through agentnb's model client (:class:`agentnb.llm.client.ModelClient`: the ``openai`` SDK, retries,
timeouts, key redaction); an entry with ``"model_client_cls": "MyClient"`` is served by a class registered
with :meth:`OpenAIWrapper.register_model_client` that follows the :class:`ModelClient` protocol.

>>> client = OpenAIWrapper(config_list=[{"model": "gpt-4o-mini", "api_key": "..."}])
>>> response = client.create(messages=[{"role": "user", "content": "2+2="}])
>>> client.extract_text_or_completion_object(response)[0], response.cost
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar, Protocol

from .._aio import run_sync
from ..errors import ModelError
from ..llm.cache import DiskCache
from ..llm.client import Completion, Usage
from ..llm.client import ModelClient as _AgentnbClient
from ..llm.config import CLIENT_KEYS, ENTRY_KEYS
from ..messages import content_str, new_id
from .rate_limiters import TimeRateLimiter

logger = logging.getLogger(__name__)

WRAPPER_KEYS = {"cache", "agent", "filter_func", "context", "allow_format_str_template", "model_client_cls",
                "api_rate_limit"}
"""Keys that configure the wrapper's call, never sent to the model."""


class ModelClient(Protocol):
    """What a custom model client implements (0.2's protocol); register its class on the wrapper.

    ``create(params)`` returns a response with ``choices[i].message.content`` and ``model``;
    ``message_retrieval(response)`` the texts (or message objects); ``cost(response)`` the USD cost;
    ``get_usage(response)`` a dict with :data:`RESPONSE_USAGE_KEYS`.
    """

    RESPONSE_USAGE_KEYS: ClassVar[list[str]] = ["prompt_tokens", "completion_tokens", "total_tokens", "cost", "model"]

    def create(self, params: dict[str, Any]) -> Any: ...  # pragma: no cover

    def message_retrieval(self, response: Any) -> list[Any]: ...  # pragma: no cover

    def cost(self, response: Any) -> float: ...  # pragma: no cover

    @staticmethod
    def get_usage(response: Any) -> dict[str, Any]: ...  # pragma: no cover


class PlaceHolderClient:
    """Stands for a ``model_client_cls`` entry until its class is registered."""

    def __init__(self, config: dict[str, Any]):
        self.config = config


class OpenAIClient:
    """An OpenAI-protocol entry, answered through agentnb's model client (sync, as 0.2 calls it)."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        entry = {k: v for k, v in config.items() if k in ENTRY_KEYS or k == "tags"}
        options = {k: v for k, v in config.items()
                   if k not in entry and k not in WRAPPER_KEYS and k not in ("messages", "api_type")}
        self.client = _AgentnbClient({"config_list": [entry], **options}, agent_name="OpenAIWrapper")

    def create(self, params: dict[str, Any]) -> Any:
        params = dict(params)
        messages = params.pop("messages")
        tools = params.pop("tools", None)
        stream = bool(params.pop("stream", False))
        cache, seed = params.pop("cache", None), params.pop("cache_seed", None)
        if cache is None and seed is not None:
            cache = DiskCache(self.client.config.cache_path_root, seed)
        for key in ("model", *CLIENT_KEYS, *ENTRY_KEYS):
            params.pop(key, None)
        completion = run_sync(self.client.create(messages, tools=tools, stream=stream, cache=cache, **params))
        return to_chat_completion(completion)

    def message_retrieval(self, response: Any) -> list[Any]:
        return [c.message if c.message.tool_calls or c.message.function_call else c.message.content
                for c in response.choices]

    def cost(self, response: Any) -> float:
        return float(getattr(response, "cost", 0.0) or 0.0)

    @staticmethod
    def get_usage(response: Any) -> dict[str, Any]:
        usage = response.usage
        return {"prompt_tokens": usage.prompt_tokens if usage else 0,
                "completion_tokens": usage.completion_tokens if usage else 0,
                "total_tokens": usage.total_tokens if usage else 0,
                "cost": getattr(response, "cost", 0.0), "model": response.model}


_FINISH = {"stop", "length", "tool_calls", "content_filter", "function_call"}


def to_chat_completion(completion: Completion) -> Any:
    """An ``openai.types.chat.ChatCompletion`` for agentnb's :class:`Completion` (plus ``cost``)."""
    from openai.types.chat import ChatCompletion

    message: dict[str, Any] = {"role": "assistant", "content": completion.content}
    if completion.tool_calls:
        message["tool_calls"] = completion.tool_calls
    if completion.function_call:
        message["function_call"] = completion.function_call
    finish = completion.finish_reason if completion.finish_reason in _FINISH else "stop"
    response = ChatCompletion.model_validate({
        "id": completion.message_id or new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
        "model": completion.model,
        "choices": [{"index": 0, "finish_reason": finish, "message": message, "logprobs": None}],
        "usage": {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
                  "total_tokens": completion.prompt_tokens + completion.completion_tokens},
    })
    response.cost = completion.cost  # type: ignore[attr-defined]  # 0.2 attaches these to the SDK object
    response.cached = completion.cached  # type: ignore[attr-defined]
    return response


def instantiate(template: Any, context: dict[str, Any] | None, allow_format_str_template: bool = False) -> Any:
    """0.2's prompt templates: a callable gets ``context``; a string is formatted only when allowed."""
    if not context or template is None:
        return template
    if callable(template):
        return template(context)
    if isinstance(template, str) and allow_format_str_template:
        return template.format(**context)
    return template


class OpenAIWrapper:
    """AutoGen 0.2's client: ``create()`` tries each config entry in order; usage is summed per model."""

    extra_kwargs = WRAPPER_KEYS | {"cache_seed"}

    def __init__(self, *, config_list: list[dict[str, Any]] | None = None, **base_config: Any):
        self.total_usage = Usage()
        self.actual_usage = Usage()
        base = {k: v for k, v in base_config.items() if k != "config_list"}
        entries = config_list if config_list else [{}]
        self._config_list = [{**base, **entry} for entry in entries]
        self._clients: list[Any] = [
            PlaceHolderClient(c) if c.get("model_client_cls") else OpenAIClient(c) for c in self._config_list]
        self._rate_limiters = [TimeRateLimiter(c["api_rate_limit"]) if c.get("api_rate_limit") else None
                               for c in self._config_list]
        from ..agents.compat_api import announce

        announce("wrapper", self, {"config_list": config_list, **base_config})
        for client, config in zip(self._clients, self._config_list, strict=True):
            if isinstance(client, OpenAIClient):
                announce("client", client, self, config)

    @property
    def config_list(self) -> list[dict[str, Any]]:
        """The config entries (the base config merged into each), in the order :meth:`create` tries them."""
        return self._config_list

    def client_for(self, response: Any) -> Any:
        """The model client of the config entry that produced ``response`` (its ``config_id``)."""
        return self._clients[getattr(response, "config_id", 0)]

    def register_model_client(self, model_client_cls: type, **kwargs: Any) -> None:
        """Activate the entries whose ``model_client_cls`` names ``model_client_cls`` (one instance each)."""
        name = model_client_cls.__name__
        registered = already = False
        for i, client in enumerate(self._clients):
            if isinstance(client, PlaceHolderClient) and client.config.get("model_client_cls") == name:
                self._clients[i] = model_client_cls(client.config, **kwargs)
                registered = True
            elif isinstance(client, model_client_cls):
                already = True
        if registered:
            return
        if already:
            logger.warning("Model client %s is already registered. Add more entries in the config_list to use "
                           "multiple model clients.", name)
            return
        raise ValueError(f'Model client "{name}" is being registered but was not found in the config_list. Please '
                         f'make sure to include an entry in the config_list with "model_client_cls": "{name}"')

    def _check_activated(self) -> None:
        missing = [c.config["model_client_cls"] for c in self._clients if isinstance(c, PlaceHolderClient)]
        if missing:
            raise RuntimeError(f"Model client(s) {missing} are not activated. Please register the custom model "
                               "clients using `register_model_client` or filter them out form the config list.")

    def create(self, **config: Any) -> Any:
        """One completion: ``create(messages=[...], **options)``; returns the response with ``cost`` set.

        ``context`` fills message templates (``allow_format_str_template=True`` for ``{name}`` strings),
        ``filter_func(context=..., response=...)`` rejects a response and tries the next entry.
        """
        self._check_activated()
        last = len(self._clients) - 1
        for i, client in enumerate(self._clients):
            full = {**config, **self._config_list[i]}
            context = full.get("context")
            filter_func = full.get("filter_func")
            params = {k: v for k, v in full.items() if k not in WRAPPER_KEYS and k != "cache_seed"}
            params["messages"] = [
                {**m, "content": instantiate(m.get("content"), context, full.get("allow_format_str_template", False))}
                for m in full.get("messages") or []]
            if isinstance(client, OpenAIClient):
                params.update({k: full[k] for k in ("cache", "cache_seed") if full.get(k) is not None})
            limiter = self._rate_limiters[i]
            if limiter is not None:
                limiter.sleep()
            try:
                response = client.create(_openai_params(params) if isinstance(client, OpenAIClient) else params)
            except (ModelError, ValueError, OSError, RuntimeError) as exc:
                logger.debug("config %d failed: %s", i, exc)
                if i == last:
                    raise
                continue
            response.cost = client.cost(response)
            usage = client.get_usage(response)
            self._account(usage, cached=bool(getattr(response, "cached", False)))
            response.message_retrieval_function = client.message_retrieval
            response.config_id = i
            passed = filter_func is None or filter_func(context=context, response=response)
            response.pass_filter = passed
            if passed or i == last:
                return response
        raise RuntimeError("no config in the config_list")  # pragma: no cover

    def _account(self, usage: dict[str, Any] | None, *, cached: bool) -> None:
        if not usage or any(k not in usage for k in ModelClient.RESPONSE_USAGE_KEYS):
            return
        args = (usage["model"], int(usage["prompt_tokens"] or 0), int(usage["completion_tokens"] or 0),
                float(usage["cost"] or 0.0))
        self.total_usage.add(*args)
        if not cached:
            self.actual_usage.add(*args)

    def extract_text_or_completion_object(self, response: Any) -> list[Any]:
        """The texts of the choices (a message object for a choice with tool or function calls)."""
        return response.message_retrieval_function(response)

    @property
    def total_usage_summary(self) -> dict[str, Any] | None:
        """Cost and tokens per model, cached responses included (None before the first call)."""
        return self.total_usage.summary() if self.total_usage.totals else None

    @property
    def actual_usage_summary(self) -> dict[str, Any] | None:
        """As :attr:`total_usage_summary`, without responses served from the cache."""
        return self.actual_usage.summary() if self.actual_usage.totals else None

    def clear_usage_summary(self) -> None:
        self.total_usage.clear()
        self.actual_usage.clear()

    def print_usage_summary(self, mode: str | list[str] | tuple[str, ...] = ("actual", "total")) -> None:
        """Print the usage summary (``"actual"``, ``"total"`` or both) through the default IOStream."""
        from .usage import print_usage_summary

        print_usage_summary(self.actual_usage_summary, self.total_usage_summary, mode)


def _openai_params(params: dict[str, Any]) -> dict[str, Any]:
    """Drop 0.2-only request keys the OpenAI API would reject."""
    return {k: v for k, v in params.items() if k not in ("price", "tags", "api_type", "api_version")}


def message_text(message: Any) -> str:
    """Text of a retrieved message (str or message object)."""
    return message if isinstance(message, str) else content_str(getattr(message, "content", None))


__all__ = ["ModelClient", "OpenAIClient", "OpenAIWrapper", "PlaceHolderClient", "instantiate", "to_chat_completion"]

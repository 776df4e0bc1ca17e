"""The model client: every call goes through the ``openai`` SDK's ``AsyncOpenAI``.

Entries of the ``config_list`` are tried in order; within an entry the SDK
retries transient failures (429, 5xx, timeouts, dropped connections) with
exponential backoff. Usage and cost are accumulated per client (one per agent)
in AutoGen's ``usage_including/excluding_cached_inference`` shape.
"""

from __future__ import annotations

import asyncio
import os
import sys
import weakref
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, ModelError, ModelResponseError, ModelUnavailableError, redact
from ..messages import StreamStarted, TokenChunk, UsageUpdated, emit, new_id, wants_tokens
from .cache import DiskCache
from .config import EMBEDDED, LLMConfig, ModelEntry, parse_llm_config
from .pricing import cost_of

_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {key: AsyncOpenAI}


@dataclass
class Completion:
    """A model reply, as the agents use it."""

    content: str | None
    tool_calls: list[dict[str, Any]] | None = None
    function_call: dict[str, Any] | None = None
    """A legacy ``function_call`` (``api_style="function"`` tools)."""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cached: bool = False
    message_id: str | None = None
    """Set when the reply was streamed: the id its TokenChunk events carried."""

    def to_message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"content": self.content, "role": "assistant"}
        if self.tool_calls:
            msg["tool_calls"] = self.tool_calls
        if self.function_call:
            msg["function_call"] = self.function_call
        return msg


@dataclass
class Usage:
    """Token and cost totals per model (AutoGen's usage summary shape)."""

    totals: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, model: str, prompt: int, completion: int, cost: float) -> None:
        row = self.totals.setdefault(model, {"cost": 0.0, "prompt_tokens": 0, "completion_tokens": 0,
                                             "total_tokens": 0})
        row["cost"] += cost
        row["prompt_tokens"] += prompt
        row["completion_tokens"] += completion
        row["total_tokens"] += prompt + completion

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"total_cost": sum(r["cost"] for r in self.totals.values())}
        out.update({m: dict(r) for m, r in self.totals.items()})
        return out

    def clear(self) -> None:
        self.totals.clear()


def merge_usage(*summaries: dict[str, Any] | None) -> dict[str, Any]:
    """Add several usage summaries together."""
    out: dict[str, Any] = {"total_cost": 0.0}
    for s in summaries:
        if not s:
            continue
        for key, value in s.items():
            if key == "total_cost":
                out["total_cost"] += value
                continue
            row = out.setdefault(key, {"cost": 0.0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
            for k in row:
                row[k] += value.get(k, 0)
    return out


class ModelClient:
    """Calls the models of one ``llm_config``; one instance per agent.

    >>> client = ModelClient({"config_list": [{"model": "gpt-4o", "api_key": "..."}]})
    >>> completion = await client.create([{"role": "user", "content": "Hi"}])
    """

    def __init__(self, llm_config: dict[str, Any] | None, *, agent_name: str = "agent"):
        self.config: LLMConfig = parse_llm_config(llm_config)
        self.agent_name = agent_name
        self.total_usage = Usage()
        self.actual_usage = Usage()
        self._cache = DiskCache(self.config.cache_path_root, self.config.cache_seed) \
            if self.config.cache_seed is not None else None

    @property
    def model(self) -> str:
        return self.config.model

    async def create(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None = None,
                     stream: bool | None = None, cache: DiskCache | None = None, **overrides: Any) -> Completion:
        """One chat completion, trying each config entry in order."""
        request = dict(self.config.request)
        request.update(overrides)
        if tools:
            request["tools"] = tools
        else:
            request.pop("tools", None)
            request.pop("tool_choice", None)
        if stream is None:
            stream = self.config.stream if self.config.stream is not None else wants_tokens()
        cache = getattr(cache, "store", cache) if cache is not None else self._cache
        failures: list[str] = []
        last_exc: BaseException | None = None
        permanent = False
        for entry in self.config.entries:
            entry = await _resolve(entry)
            key = None
            if cache is not None:
                key = cache.key(entry.model, messages, request)
                hit = cache.get(key)
                if hit is not None:
                    completion = Completion(**hit, cached=True)
                    self._account(completion, cached=True)
                    return completion
            try:
                completion = await self._call(entry, messages, request, stream)
            except ModelError as exc:
                failures.append(f"model {entry.model!r} at {entry.endpoint}: {exc}")
                last_exc = exc
                permanent = isinstance(exc, ModelResponseError)
                continue
            if cache is not None and key is not None:
                cache.put(key, completion)
            self._account(completion, cached=False)
            return completion
        detail = "; ".join(failures)
        cls = ModelResponseError if permanent else ModelUnavailableError
        first = self.config.entries[0]
        raise cls(f"the model call failed for every config_list entry: {detail}",
                  model=first.model, base_url=first.endpoint) from last_exc

    def _account(self, c: Completion, *, cached: bool) -> None:
        self.total_usage.add(c.model, c.prompt_tokens, c.completion_tokens, c.cost)
        if not cached:
            self.actual_usage.add(c.model, c.prompt_tokens, c.completion_tokens, c.cost)
        emit(UsageUpdated(agent=self.agent_name, model=c.model, prompt_tokens=c.prompt_tokens,
                          completion_tokens=c.completion_tokens, cost=c.cost, cached=cached))

    async def _call(self, entry: ModelEntry, messages: list[dict[str, Any]], request: dict[str, Any],
                    stream: bool) -> Completion:
        import openai

        if os.environ.get("AGENTNB_LOOPBACK_ONLY") == "1" or _loopback_ctx():
            from ..testing import check_loopback

            check_loopback(entry.endpoint)
        client = _client_for(entry, self.config)
        try:
            if stream:
                return await self._stream(client, entry, messages, request)
            resp = await client.chat.completions.create(model=entry.model, **_body(messages, request))
        except openai.APIStatusError as exc:
            raise _status_error(exc, entry) from None
        except openai.APITimeoutError:
            raise ModelUnavailableError(f"timed out after {self.config.timeout or 600} s (and retries)",
                                        model=entry.model, base_url=entry.endpoint) from None
        except openai.APIConnectionError as exc:
            raise ModelUnavailableError(f"could not connect ({type(exc.__cause__ or exc).__name__})",
                                        model=entry.model, base_url=entry.endpoint) from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise ModelResponseError(f"the reply could not be parsed: {type(exc).__name__}: {exc}",
                                     model=entry.model, base_url=entry.endpoint) from None
        if not getattr(resp, "choices", None):
            raise ModelResponseError("the reply had no choices", model=entry.model, base_url=entry.endpoint)
        msg = resp.choices[0].message
        tool_calls = None
        if msg.tool_calls:
            tool_calls = [
                {"id": tc.id, "type": "function",
                 "function": {"name": tc.function.name, "arguments": tc.function.arguments}}
                for tc in msg.tool_calls
            ]
        function_call = None
        if getattr(msg, "function_call", None):
            function_call = {"name": msg.function_call.name, "arguments": msg.function_call.arguments}
        prompt = resp.usage.prompt_tokens if resp.usage else 0
        completion = resp.usage.completion_tokens if resp.usage else 0
        model = resp.model or entry.model
        return Completion(content=msg.content, tool_calls=tool_calls, function_call=function_call,
                          model=model, prompt_tokens=prompt,
                          completion_tokens=completion, cost=cost_of(entry, model, prompt, completion))

    async def _stream(self, client: Any, entry: ModelEntry, messages: list[dict[str, Any]],
                      request: dict[str, Any]) -> Completion:
        message_id = new_id("msg")
        emit(StreamStarted(sender=self.agent_name, message_id=message_id))
        stream = await client.chat.completions.create(
            model=entry.model, stream=True, stream_options={"include_usage": True}, **_body(messages, request))
        parts: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        fcall: dict[str, str] = {}
        prompt = completion = 0
        model = entry.model
        async for chunk in stream:
            if chunk.model:
                model = chunk.model
            if chunk.usage:
                prompt, completion = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content:
                parts.append(delta.content)
                emit(TokenChunk(sender=self.agent_name, message_id=message_id, text=delta.content))
            legacy = getattr(delta, "function_call", None)
            if legacy is not None:
                fcall["name"] = fcall.get("name", "") + (legacy.name or "")
                fcall["arguments"] = fcall.get("arguments", "") + (legacy.arguments or "")
            for tc in delta.tool_calls or ():
                slot = calls.setdefault(tc.index, {"id": None, "type": "function",
                                                   "function": {"name": "", "arguments": ""}})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["function"]["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["function"]["arguments"] += tc.function.arguments
        content = "".join(parts) if parts or not (calls or fcall) else None
        tool_calls = [calls[i] for i in sorted(calls)] or None
        return Completion(content=content, tool_calls=tool_calls, function_call=fcall or None,
                          model=model, prompt_tokens=prompt,
                          completion_tokens=completion, cost=cost_of(entry, model, prompt, completion),
                          message_id=message_id)

    def usage_summary(self, actual: bool = False) -> dict[str, Any] | None:
        usage = self.actual_usage if actual else self.total_usage
        return usage.summary() if usage.totals else None

    def clear_usage(self) -> None:
        self.total_usage.clear()
        self.actual_usage.clear()


async def _resolve(entry: ModelEntry) -> ModelEntry:
    """Replace the embedded-model placeholder by the running local server's entry."""
    if entry.api_type != EMBEDDED:
        return entry
    from .local import get_local_server

    server = await asyncio.to_thread(get_local_server)
    raw = server.config_list()[0]
    return ModelEntry(model=raw["model"], api_key=raw.get("api_key"), base_url=raw["base_url"])


def _body(messages: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    """Request arguments with the messages sent as ``extra_body``.

    The SDK's typed-parameter transform walks every message recursively on each call (about
    0.5 ms per message here: 20 ms per turn for a 40-message history). Chat messages are plain
    JSON that needs no transform, so they travel in ``extra_body`` (which the SDK merges into the
    JSON body unchanged); every other argument keeps the SDK's typed path.
    """
    extra = dict(request.get("extra_body") or {})
    extra["messages"] = messages
    args = {k: v for k, v in request.items() if k != "extra_body"}
    return {**args, "messages": [], "extra_body": extra}


def _loopback_ctx() -> bool:
    mod = sys.modules.get("agentnb.testing")
    return bool(mod is not None and mod.loopback_required())


def _client_for(entry: ModelEntry, config: LLMConfig) -> Any:
    """An AsyncOpenAI client per (event loop, endpoint, key): httpx clients belong to one loop."""
    import openai

    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    key = (entry.api_type, entry.base_url, entry.api_key, entry.api_version, config.timeout, config.max_retries)
    client = per_loop.get(key)
    if client is None:
        api_key = entry.api_key or os.environ.get("OPENAI_API_KEY") or "sk-no-key-required"
        kwargs: dict[str, Any] = {"api_key": api_key, "max_retries": config.max_retries}
        if config.timeout is not None:
            kwargs["timeout"] = config.timeout
        if entry.api_type == "azure":
            if not entry.api_version:
                raise ConfigError(f"model {entry.model!r}: api_type 'azure' needs 'api_version'")
            client = openai.AsyncAzureOpenAI(azure_endpoint=entry.base_url, api_version=entry.api_version,
                                             **kwargs)
        else:
            client = openai.AsyncOpenAI(base_url=entry.base_url, **kwargs)
        per_loop[key] = client
    return client


def _status_error(exc: Any, entry: ModelEntry) -> ModelError:
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    detail = body.get("message") if isinstance(body, dict) else None
    text = redact(f"HTTP {status}: {detail or exc.message}")
    transient = status == 429 or (status is not None and status >= 500) or status in (408, 409)
    cls = ModelUnavailableError if transient else ModelResponseError
    return cls(text, model=entry.model, base_url=entry.endpoint)


OpenAIWrapper = ModelClient
"""AutoGen 0.2's name for the model client."""

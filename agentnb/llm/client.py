"""The model client: every call goes through the ``openai`` SDK's ``AsyncOpenAI``.

Entries of the ``config_list`` are tried in order; within an entry the SDK
retries transient failures (429, 5xx, timeouts, dropped connections) with
exponential backoff, and a streamed reply cut off part-way is asked for again
(``max_retries`` times). Usage and cost are accumulated per client (one per agent)
in AutoGen's ``usage_including/excluding_cached_inference`` shape.

Timeouts (``llm_config["timeout"]``, default :data:`~agentnb.llm.config.DEFAULT_TIMEOUT` = 120 s):
connecting may take at most 10 s; an attempt fails when the server sends nothing for ``timeout``
seconds; a non-streamed call, retries included, gives up after ``timeout * (max_retries + 1)``
seconds plus the back-off between retries (at most a minute each, the SDK's cap on ``retry-after``), even
when a server trickles bytes. Cancelling the task (Stop, ``handle.cancel()``, Ctrl-C) ends a call at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, ModelError, ModelResponseError, ModelUnavailableError, redact, register_secret
from ..messages import (
    ErrorOccurred,
    ModelCallFinished,
    StreamStarted,
    TokenChunk,
    UsageUpdated,
    emit,
    has_global_subscribers,
    new_id,
    wants_tokens,
)
from .cache import DiskCache
from .config import CONNECT_TIMEOUT, EMBEDDED, LLMConfig, ModelEntry, parse_llm_config
from .guard import check_loopback, loopback_required
from .pricing import cost_of

if TYPE_CHECKING:
    import openai  # imported lazily at run time: ``import agentnb`` stays fast

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], openai.AsyncOpenAI]] = \
    weakref.WeakKeyDictionary()  # loop -> {key: AsyncOpenAI}


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
    finish_reason: str | None = None
    """Why the model stopped: ``stop``, ``length`` (cut off by ``max_tokens``), ``tool_calls``..."""

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
        register_secret(os.environ.get("OPENAI_API_KEY"))  # the fallback key: redacted like config_list keys
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
        started = time.time()
        for entry in self.config.entries:
            entry = await _resolve(entry)
            key = None
            if cache is not None:
                key = cache.key(entry.model, messages, request)
                hit = cache.get(key)
                if hit is not None:
                    completion = Completion(**hit, cached=True)
                    self._account(completion, cached=True)
                    self._announce(messages, request, completion, started)
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
            self._announce(messages, request, completion, started)
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

    def _announce(self, messages: list[dict[str, Any]], request: dict[str, Any], c: Completion,
                  started: float) -> None:
        """Emit :class:`ModelCallFinished` for process-wide loggers (chat views do not keep requests)."""
        if has_global_subscribers():
            usage = {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                     "total_tokens": c.prompt_tokens + c.completion_tokens}
            emit(ModelCallFinished(agent=self.agent_name, model=c.model, request={"messages": messages, **request},
                                   response={**c.to_message(), "model": c.model, "usage": usage,
                                             "finish_reason": c.finish_reason},
                                   cost=c.cost, cached=c.cached, start_time=started, client_id=id(self)))

    async def _call(self, entry: ModelEntry, messages: list[dict[str, Any]], request: dict[str, Any],
                    stream: bool) -> Completion:
        """One entry: the SDK retries failed requests; a stream broken part-way is asked for again here."""
        if loopback_required():
            check_loopback(entry.endpoint)
        client = _client_for(entry, self.config)
        attempts = self.config.max_retries + 1
        for attempt in itertools.count(1):
            try:
                return await self._attempt(client, entry, messages, request, stream)
            except _BrokenStream as exc:
                if attempt >= attempts:
                    raise ModelUnavailableError(f"{exc}; gave up after {attempts} attempt(s)",
                                                model=entry.model, base_url=entry.endpoint) from None
                emit(ErrorOccurred(source=self.agent_name, error_type="TruncatedStream", fatal=False,
                                   message=f"model {entry.model!r} at {entry.endpoint}: {exc}; asking again "
                                           f"(attempt {attempt + 1} of {attempts})"))
                await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, client: Any, entry: ModelEntry, messages: list[dict[str, Any]],
                       request: dict[str, Any], stream: bool) -> Completion:
        import openai

        timeout = self.config.timeout
        try:
            if stream:
                return await self._stream(client, entry, messages, request)
            retries = self.config.max_retries
            resp = await asyncio.wait_for(  # the whole call's deadline (asyncio.timeout needs Python 3.11)
                client.chat.completions.create(model=entry.model, **_body(messages, request)),
                timeout * (retries + 1) + _MAX_BACKOFF * retries)
        except openai.APIStatusError as exc:
            raise _status_error(exc, entry) from None
        except (openai.APITimeoutError, asyncio.TimeoutError):
            raise ModelUnavailableError(f"timed out: no reply within {timeout:g} s "
                                        f"(tried {self.config.max_retries + 1} time(s); llm_config 'timeout' "
                                        "sets the limit)", model=entry.model, base_url=entry.endpoint) from None
        except openai.APIConnectionError as exc:
            from .local import crashed_server_error

            crash = crashed_server_error(entry.endpoint)  # our embedded server died: say so, not "could not connect"
            if crash is not None:
                raise crash from None
            raise ModelUnavailableError(_connection_problem(exc), model=entry.model,
                                        base_url=entry.endpoint) from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise ModelResponseError(f"the reply could not be parsed: {type(exc).__name__}: {exc}",
                                     model=entry.model, base_url=entry.endpoint) from None
        if not getattr(resp, "choices", None):
            raise ModelResponseError("the reply had no choices", model=entry.model, base_url=entry.endpoint)
        choice = resp.choices[0]
        msg = choice.message
        tool_calls = _tool_calls(
            (tc.id, getattr(tc, "function", None)) for tc in (getattr(msg, "tool_calls", None) or ()))
        function_call = None
        if getattr(msg, "function_call", None):
            function_call = {"name": msg.function_call.name or "", "arguments": msg.function_call.arguments or ""}
        prompt = resp.usage.prompt_tokens if resp.usage else 0
        completion = resp.usage.completion_tokens if resp.usage else 0
        model = resp.model or entry.model
        return Completion(content=msg.content, tool_calls=tool_calls, function_call=function_call,
                          model=model, prompt_tokens=prompt, completion_tokens=completion,
                          cost=cost_of(entry, model, prompt, completion),
                          finish_reason=getattr(choice, "finish_reason", None))

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
        finish: str | None = None
        received = 0
        try:
            async for chunk in stream:
                received += 1
                if chunk.model:
                    model = chunk.model
                if chunk.usage:
                    prompt, completion = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
                if not chunk.choices:
                    continue
                finish = chunk.choices[0].finish_reason or finish
                delta = chunk.choices[0].delta
                if delta.content:
                    parts.append(delta.content)
                    emit(TokenChunk(sender=self.agent_name, message_id=message_id, text=delta.content))
                legacy = getattr(delta, "function_call", None)
                if legacy is not None:
                    fcall["name"] = fcall.get("name", "") + _text(legacy.name)
                    fcall["arguments"] = fcall.get("arguments", "") + _text(legacy.arguments)
                for tc in delta.tool_calls or ():
                    index = tc.index if isinstance(tc.index, int) else len(calls)
                    slot = calls.setdefault(index, {"id": None, "function": None})
                    slot["id"] = tc.id or slot["id"]
                    fn = getattr(tc, "function", None)
                    if fn is not None:  # any shape: a hostile server may send a string here (see _tool_calls)
                        acc = slot["function"] = slot["function"] or {"name": "", "arguments": ""}
                        acc["name"] += _text(getattr(fn, "name", None))
                        acc["arguments"] += _text(getattr(fn, "arguments", None))
        except _stream_timeouts():
            raise _BrokenStream(f"the reply stream stalled: nothing for {self.config.timeout:g} s after "
                                f"{received} chunk(s)") from None
        except _stream_breaks() as exc:
            raise _BrokenStream(f"the reply stream was cut off after {received} chunk(s) (truncated stream: "
                                f"{_cause_name(exc)})") from None
        finally:
            await stream.close()
        if finish is None:
            raise _BrokenStream(f"the reply stream ended after {received} chunk(s) without a finish_reason "
                                "(truncated stream)")
        content = "".join(parts) if parts or not (calls or fcall) else None
        tool_calls = _tool_calls((calls[i]["id"], calls[i]["function"]) for i in sorted(calls))
        return Completion(content=content, tool_calls=tool_calls, function_call=fcall or None,
                          model=model, prompt_tokens=prompt,
                          completion_tokens=completion, cost=cost_of(entry, model, prompt, completion),
                          message_id=message_id, finish_reason=finish)

    def usage_summary(self, actual: bool = False) -> dict[str, Any] | None:
        usage = self.actual_usage if actual else self.total_usage
        return usage.summary() if usage.totals else None

    def clear_usage(self) -> None:
        self.total_usage.clear()
        self.actual_usage.clear()

    # AutoGen 0.2 reads these on ``agent.client`` (an OpenAIWrapper there)
    @property
    def total_usage_summary(self) -> dict[str, Any] | None:
        return self.usage_summary()

    @property
    def actual_usage_summary(self) -> dict[str, Any] | None:
        return self.usage_summary(actual=True)

    def clear_usage_summary(self) -> None:
        self.clear_usage()

    def print_usage_summary(self, mode: str | list[str] | tuple[str, ...] = ("actual", "total")) -> None:
        from ..oai.usage import print_usage_summary

        print_usage_summary(self.usage_summary(actual=True), self.usage_summary(), mode)


_MAX_BACKOFF = 60.0
"""The longest wait between two attempts (the SDK caps a server's ``retry-after`` at 60 s)."""


class _BrokenStream(Exception):
    """A streamed reply stopped part-way (connection cut, stall, or no finish_reason): ask again."""


def _tool_calls(raw: Any) -> list[dict[str, Any]] | None:
    """Tool calls in OpenAI's shape, whatever the server sent: every call gets its own id and a function.

    A call without an ``id`` (or repeating an earlier call's id) gets a fresh one, which the tool reply
    answers; a call without a ``function`` gets an empty name, so the executing agent tells the model it
    named no tool; arguments sent as a JSON object instead of a string are turned into the string.
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for call_id, fn in raw:
        if isinstance(fn, dict):
            name, arguments = fn.get("name"), fn.get("arguments")
        else:
            name, arguments = getattr(fn, "name", None), getattr(fn, "arguments", None)
        if isinstance(arguments, dict | list):
            arguments = json.dumps(arguments)
        if not isinstance(call_id, str) or not call_id or call_id in seen:
            call_id = new_tool_call_id()
        seen.add(call_id)
        out.append({"id": call_id, "type": "function",
                    "function": {"name": name if isinstance(name, str) else "",
                                 "arguments": arguments if isinstance(arguments, str) else ""}})
    return out or None


def _stream_timeouts() -> tuple[type[BaseException], ...]:
    """Errors meaning a stream went silent: the SDK's, and (openai 1.x) the raw ones of its HTTP library."""
    import openai

    return (openai.APITimeoutError, *(m.TimeoutException for m in _http_libraries()))


def _stream_breaks() -> tuple[type[BaseException], ...]:
    """Errors meaning a stream broke part-way (the SDK wraps them since openai 2; 1.x lets them through)."""
    import openai

    return (openai.APIConnectionError, *(m.TransportError for m in _http_libraries()))


def _http_libraries() -> list[Any]:
    return [m for name in ("httpx", "httpx2") if (m := sys.modules.get(name)) is not None
            and hasattr(m, "TransportError") and hasattr(m, "TimeoutException")]


def _text(piece: Any) -> str:
    """A streamed name/arguments piece as text (some servers send a JSON object, or nothing)."""
    if isinstance(piece, str):
        return piece
    return json.dumps(piece) if isinstance(piece, dict | list) else ""


def new_tool_call_id() -> str:
    """A fresh id in OpenAI's shape (``call_`` + 24 hex digits) for a tool call the server sent without one."""
    return f"call_{uuid.uuid4().hex[:24]}"


def _cause_name(exc: BaseException) -> str:
    return type(exc.__cause__ or exc).__name__


def _connection_problem(exc: BaseException) -> str:
    """``could not connect`` only when no connection was made; otherwise say the connection broke."""
    cause = _cause_name(exc)
    if "Connect" in cause or cause == "APIConnectionError":
        return f"could not connect ({cause})"
    return f"the connection broke before the reply was complete ({cause}; retries exhausted)"


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


def _client_for(entry: ModelEntry, config: LLMConfig) -> Any:
    """An AsyncOpenAI client per (event loop, endpoint, key): httpx clients belong to one loop."""
    import openai

    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    key = (entry.api_type, entry.base_url, entry.api_key, entry.api_version, config.timeout, config.max_retries)
    client = per_loop.get(key)
    if client is None:
        api_key = entry.api_key or os.environ.get("OPENAI_API_KEY") or "sk-no-key-required"
        register_secret(api_key)
        kwargs: dict[str, Any] = {"api_key": api_key, "max_retries": config.max_retries,
                                  "timeout": openai.Timeout(config.timeout,
                                                            connect=min(CONNECT_TIMEOUT, config.timeout))}
        if entry.api_type == "azure":
            if not entry.api_version:
                raise ConfigError(f"model {entry.model!r}: api_type 'azure' needs 'api_version'")
            endpoint = entry.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
            if not endpoint:
                raise ConfigError(f"model {entry.model!r}: api_type 'azure' needs 'base_url' "
                                  "(or AZURE_OPENAI_ENDPOINT)")
            client = openai.AsyncAzureOpenAI(azure_endpoint=endpoint, api_version=entry.api_version, **kwargs)
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


"""Scripted replies (text, code, tool calls, faults) and the OpenAI JSON payloads built from them."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agentnb.errors import ConfigError


@dataclass(frozen=True)
class Reply:
    """One assistant message the server answers with."""

    content: str | None = None
    """The assistant text (``None`` for a pure tool-call message)."""
    tool_calls: tuple[dict[str, Any], ...] = ()
    """``{"id": str | None, "name": str, "arguments": str}``; ids are filled in when served."""
    finish_reason: str = "stop"
    usage: dict[str, int] | None = None
    """Overrides for ``prompt_tokens`` / ``completion_tokens`` (otherwise estimated)."""
    raw_tool_calls: tuple[dict[str, Any], ...] = ()
    """Tool calls served verbatim (malformed on purpose: no ``id``, no ``function``...)."""


@dataclass(frozen=True)
class Fault:
    """A scripted failure.

    Build with :meth:`status`, :meth:`hang`, :meth:`malformed`, :meth:`disconnect`, :meth:`cut`, :meth:`stall`,
    :meth:`trickle`.
    """

    kind: str
    http_status: int = 0
    message: str | None = None
    seconds: float = 0.0
    times: int = 1
    """How many consecutive requests this fault answers."""
    then: Any = None
    """What a hang answers with once it is over."""
    retry_after: float | None = None
    after: int = 0
    """For ``cut`` and ``stall``: how many streamed chunks are sent first."""

    @classmethod
    def status(cls, code: int, times: int = 1, message: str | None = None, *,
               retry_after: float | None = None) -> Fault:
        """Answer HTTP ``code`` with an OpenAI-shaped error body (``retry_after`` sets ``retry-after-ms``)."""
        if not 400 <= int(code) <= 599:
            raise ConfigError(f"Fault.status needs an HTTP error code (400-599), got {code!r}")
        return cls("status", http_status=int(code), message=message, times=_times(times),
                   retry_after=retry_after)

    @classmethod
    def hang(cls, seconds: float, times: int = 1, then: Any = "(late reply)") -> Fault:
        """Wait ``seconds`` before answering ``then`` (a stopping server cuts the wait short)."""
        return cls("hang", seconds=float(seconds), times=_times(times), then=then)

    @classmethod
    def malformed(cls, times: int = 1) -> Fault:
        """Answer 200 with a body that is not valid JSON."""
        return cls("malformed", times=_times(times))

    @classmethod
    def disconnect(cls, times: int = 1) -> Fault:
        """Close the connection without answering."""
        return cls("disconnect", times=_times(times))

    @classmethod
    def cut(cls, after: int = 2, times: int = 1, then: Any = "(the whole reply)") -> Fault:
        """Start answering ``then``, and close the connection after ``after`` chunks (a truncated stream).

        A non-streamed request gets the headers and half of the body, then the connection closes.
        """
        return cls("cut", after=_after(after), times=_times(times), then=then)

    @classmethod
    def trickle(cls, interval: float, times: int = 1, then: Any = "(the whole reply)") -> Fault:
        """Answer ``then`` (not streamed) one byte every ``interval`` seconds: never silent, never done soon."""
        return cls("trickle", seconds=float(interval), times=_times(times), then=then)

    @classmethod
    def stall(cls, seconds: float, after: int = 2, times: int = 1, then: Any = "(the whole reply)") -> Fault:
        """Start answering ``then``, then send nothing for ``seconds`` after ``after`` chunks, then finish.

        A non-streamed request gets its headers, then silence (a stopping server cuts the wait short).
        """
        return cls("stall", seconds=float(seconds), after=_after(after), times=_times(times), then=then)


@dataclass(frozen=True)
class Forever:
    reply: Any


def _after(after: int) -> int:
    if int(after) < 0:
        raise ConfigError(f"a fault's chunk count must be >= 0, got after={after!r}")
    return int(after)


def _times(times: int) -> int:
    if int(times) < 1:
        raise ConfigError(f"a fault must occupy at least one request, got times={times!r}")
    return int(times)


def text(content: str, *, usage: dict[str, int] | None = None, finish_reason: str = "stop") -> Reply:
    """A plain assistant text reply."""
    return Reply(content=content, usage=usage, finish_reason=finish_reason)


def code(source: str, lang: str = "python", before: str = "", after: str = "") -> Reply:
    """A text reply holding one fenced code block, with optional text around it."""
    parts = [before.strip(), f"```{lang}\n{source.strip(chr(10))}\n```", after.strip()]
    return Reply(content="\n\n".join(p for p in parts if p))


def tool_calls(calls: list, content: str | None = None) -> Reply:
    """A reply calling tools: ``[("name", {"arg": 1}), ...]`` or dicts (OpenAI-shaped or flat)."""
    normal = []
    for call in calls:
        if isinstance(call, dict):
            fn = call.get("function", call)
            name, args, call_id = fn["name"], fn.get("arguments", {}), call.get("id")
        else:
            (name, args), call_id = call, None
        args = args if isinstance(args, str) else json.dumps(args)
        normal.append({"id": call_id, "name": name, "arguments": args})
    if not normal:
        raise ConfigError("tool_calls() needs at least one call")
    return Reply(content=content, tool_calls=tuple(normal), finish_reason="tool_calls")


def raw_tool_calls(calls: list[dict[str, Any]], content: str | None = None) -> Reply:
    """A reply whose tool calls are served exactly as given, e.g. ``[{"type": "function"}]`` (no id, no function).

    Streamed, each call is one delta (with its ``index`` added). For testing how clients survive bad servers.
    """
    if not calls or not all(isinstance(c, dict) for c in calls):
        raise ConfigError("raw_tool_calls() needs a non-empty list of dicts")
    return Reply(content=content, raw_tool_calls=tuple(calls), finish_reason="tool_calls")


def forever(reply: Any) -> Forever:
    """Answer every request of its queue with ``reply`` (typically a function model); never consumed."""
    return Forever(reply)


# ------------------------------------------------------- payload building


def _estimate_tokens(chars: int) -> int:
    return max(1, math.ceil(chars / 4)) if chars else 0


def _message_chars(messages: Any) -> int:
    total = 0
    for msg in messages if isinstance(messages, list) else []:
        body = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(body, str):
            total += len(body)
        elif isinstance(body, list):
            total += sum(len(p.get("text", "")) for p in body if isinstance(p, dict))
        for call in (msg.get("tool_calls") or []) if isinstance(msg, dict) else []:
            fn = call.get("function", {})
            total += len(fn.get("name", "")) + len(fn.get("arguments", ""))
    return total


def _usage(body: dict, reply: Reply) -> dict[str, int]:
    calls = sum(len(c["name"]) + len(c["arguments"]) for c in reply.tool_calls)
    calls += len(json.dumps(list(reply.raw_tool_calls))) if reply.raw_tool_calls else 0
    completion = len(reply.content or "") + calls
    usage = {"prompt_tokens": _estimate_tokens(_message_chars(body.get("messages"))) or 1,
             "completion_tokens": _estimate_tokens(completion)}
    usage.update(reply.usage or {})
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _pieces(value: str, size: int = 4) -> list[str]:
    """Split ``value`` into word pieces of at most ``size`` characters (leading spaces kept)."""
    words = re.findall(r"\s*\S+|\s+", value)
    return [w[i:i + size] for w in words for i in range(0, len(w), size)]


def completion_payload(body: dict, reply: Reply, model: str, ident: str, created: int) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in reply.tool_calls
        ]
    if reply.raw_tool_calls:
        message["tool_calls"] = [dict(c) for c in reply.raw_tool_calls]
    return {"id": ident, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason,
                         "logprobs": None}],
            "usage": _usage(body, reply), "system_fingerprint": "scripted"}


def chunk_payloads(body: dict, reply: Reply, model: str, ident: str, created: int) -> Iterator[dict]:
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict, finish: str | None = None) -> dict:
        out = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
               "system_fingerprint": "scripted",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        if with_usage:
            out["usage"] = None
        return out

    calls_only = (reply.tool_calls or reply.raw_tool_calls) and not reply.content
    yield chunk({"role": "assistant", "content": None if calls_only else ""})
    for piece in _pieces(reply.content or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["name"], "arguments": ""}}]})
        for piece in _pieces(call["arguments"], 8):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    for index, call in enumerate(reply.raw_tool_calls, start=len(reply.tool_calls)):
        yield chunk({"tool_calls": [{"index": index, **call}]})
    yield chunk({}, reply.finish_reason)
    if with_usage:
        yield {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [], "usage": _usage(body, reply)}


def protocol_problem(messages: Any) -> str | None:
    """What OpenAI would reject in ``messages`` about tool calls (its wording), else None.

    Every ``tool_calls`` id must be answered by exactly one ``tool`` message before the next other
    message, and a ``tool`` message must answer a call of the assistant message before it.
    """
    pending: set[str] = set()
    for msg in messages if isinstance(messages, list) else []:
        if not isinstance(msg, dict):
            continue
        if msg.get("role") == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in pending:
                return ("Invalid parameter: messages with role 'tool' must be a response to a preceding message "
                        f"with 'tool_calls' (tool_call_id {call_id!r} answers no pending call).")
            pending.discard(call_id)
            continue
        if pending:
            return ("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                    f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                    f"{', '.join(sorted(pending))}")
        if msg.get("role") == "assistant":
            calls = msg.get("tool_calls") or []
            ids = [c.get("id") if isinstance(c, dict) else None for c in calls]
            if any(not isinstance(i, str) or not i for i in ids):
                return "Invalid 'messages': every tool call needs a string 'id'."
            pending = {i for i in ids if isinstance(i, str)}
    return None


_ERROR_TYPES = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
                403: ("permission_error", None), 404: ("invalid_request_error", "model_not_found"),
                429: ("requests", "rate_limit_exceeded"), 500: ("server_error", None),
                503: ("server_error", "overloaded")}


def error_body(status: int, message: str | None, code: str | None = None) -> dict:
    etype, ecode = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error",
                                             None))
    message = message or f"scripted fault: HTTP {status}"
    return {"error": {"message": message, "type": etype, "param": None, "code": code or ecode}}

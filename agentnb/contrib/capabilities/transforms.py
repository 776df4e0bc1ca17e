"""AutoGen 0.2's message transforms for :class:`TransformMessages`: limit how many messages, and how many
tokens, an agent's reply is based on.

    MessageHistoryLimiter(max_messages=3).apply_transform(history)      # the last 3 messages
    MessageTokenLimiter(max_tokens_per_message=50).apply_transform(history)  # each message cut to 50 tokens

Tokens are counted with :mod:`agentnb.token_count_utils` (tiktoken when available offline, else its
approximate tokenizer).
"""

from __future__ import annotations

import copy
import sys
from typing import Any, Protocol

from ... import token_count_utils


class MessageTransform(Protocol):
    """A transform: a new list of messages, and a report of what changed."""

    def apply_transform(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def get_logs(self, pre_transform_messages: list[dict[str, Any]],
                 post_transform_messages: list[dict[str, Any]]) -> tuple[str, bool]: ...


class MessageHistoryLimiter:
    """Keeps the most recent ``max_messages`` messages (and the first one too with ``keep_first_message``).

    A tool result whose assistant ``tool_calls`` message was cut off is dropped from the start of the
    kept window, so the model is never shown an orphaned tool response.
    """

    def __init__(self, max_messages: int | None = None, keep_first_message: bool = False):
        if max_messages is not None and max_messages < 1:
            raise ValueError("max_messages must be None or greater than 1")
        self._max_messages = max_messages
        self._keep_first_message = keep_first_message

    def apply_transform(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._max_messages is None or len(messages) <= self._max_messages:
            return messages
        first = messages[:1] if self._keep_first_message else []
        room = self._max_messages - len(first)
        tail = messages[len(messages) - room:] if room > 0 else []
        while tail and tail[0].get("role") == "tool":
            tail = tail[1:]
        return first + tail

    def get_logs(self, pre_transform_messages: list[dict[str, Any]],
                 post_transform_messages: list[dict[str, Any]]) -> tuple[str, bool]:
        before, after = len(pre_transform_messages), len(post_transform_messages)
        if after < before:
            return (f"Removed {before - after} messages. Number of messages reduced from {before} to {after}.",
                    True)
        return "No messages were removed.", False


class MessageTokenLimiter:
    """Cuts each message to ``max_tokens_per_message`` and the whole history to ``max_tokens``.

    Messages are taken newest first; the one that would cross ``max_tokens`` is cut to fit and every
    older one is dropped. (0.2's code, unlike its documentation, kept only the newest message whenever
    ``max_tokens`` was set without ``max_tokens_per_message``; agentnb follows the documentation.)
    Nothing happens while the history has fewer than ``min_tokens`` tokens.
    With ``filter_dict`` (e.g. ``{"role": ["user"]}``), only matching messages are cut
    (``exclude_filter=False``) or only the others (``exclude_filter=True``, the default).
    """

    def __init__(self, max_tokens_per_message: int | None = None, max_tokens: int | None = None,
                 min_tokens: int | None = None, model: str = "gpt-3.5-turbo-0613",
                 filter_dict: dict[str, Any] | None = None, exclude_filter: bool = True):
        self._model = model
        self._max_tokens_per_message = self._validate_max_tokens(max_tokens_per_message)
        self._max_tokens = self._validate_max_tokens(max_tokens)
        self._min_tokens = self._validate_min_tokens(min_tokens, max_tokens)
        self._filter_dict = filter_dict
        self._exclude_filter = exclude_filter

    def apply_transform(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._total_tokens(messages) < self._min_tokens:
            return messages
        kept: list[dict[str, Any]] = []
        used = 0
        for msg in reversed(copy.deepcopy(messages)):
            content = msg.get("content")
            if not isinstance(content, str | list):
                kept.insert(0, msg)
                continue
            if not self._should_transform(msg):
                kept.insert(0, msg)
                used += _count_tokens(content)
                continue
            remaining = self._max_tokens - used
            if remaining <= 0:
                break
            msg["content"] = self._truncate(content, min(self._max_tokens_per_message, remaining))
            used += _count_tokens(msg["content"])
            kept.insert(0, msg)
        return kept

    def get_logs(self, pre_transform_messages: list[dict[str, Any]],
                 post_transform_messages: list[dict[str, Any]]) -> tuple[str, bool]:
        before = self._total_tokens(pre_transform_messages)
        after = self._total_tokens(post_transform_messages)
        if after < before:
            return (f"Truncated {before - after} tokens. Number of tokens reduced from {before} to {after}", True)
        return "No tokens were truncated.", False

    def _total_tokens(self, messages: list[dict[str, Any]]) -> int:
        return sum(_count_tokens(m.get("content")) for m in messages if isinstance(m.get("content"), str | list))

    def _should_transform(self, msg: dict[str, Any]) -> bool:
        if not self._filter_dict:
            return True
        matches = all(_value_matches(msg.get(key), allowed) for key, allowed in self._filter_dict.items())
        return not matches if self._exclude_filter else matches

    def _truncate(self, content: str | list, limit: int) -> str | list:
        if isinstance(content, str):
            return self._truncate_text(content, limit)
        return [{"type": "text", "text": self._truncate_text(part["text"], limit)}
                if isinstance(part, dict) and part.get("type") == "text" else part for part in content]

    def _truncate_text(self, text: str, limit: int) -> str:
        encoding = token_count_utils.get_encoding(self._model)
        return encoding.decode(encoding.encode(text)[:limit])

    def _validate_max_tokens(self, max_tokens: int | None) -> int:
        if max_tokens is not None and max_tokens < 0:
            raise ValueError("max_tokens and max_tokens_per_message must be None or greater than or equal to 0")
        try:
            allowed = token_count_utils.get_max_token_limit(self._model)
        except KeyError:
            print(f"Model {self._model} not found in token_count_utils.")
            allowed = None
        if max_tokens is not None and allowed is not None and max_tokens > allowed:
            print(f"Max token was set to {max_tokens}, but {self._model} can only accept {allowed} tokens. "
                  f"Capping it to {allowed}.")
            return allowed
        return max_tokens if max_tokens is not None else sys.maxsize

    @staticmethod
    def _validate_min_tokens(min_tokens: int | None, max_tokens: int | None) -> int:
        if min_tokens is None:
            return 0
        if min_tokens < 0:
            raise ValueError("min_tokens must be None or greater than or equal to 0.")
        if max_tokens is not None and min_tokens > max_tokens:
            raise ValueError("min_tokens must not be more than max_tokens.")
        return min_tokens


def _value_matches(value: Any, allowed: Any) -> bool:
    """``filter_config``'s rule: the value (or one of a list's items) is among ``allowed``."""
    allowed = allowed if isinstance(allowed, list | tuple | set) else [allowed]
    if isinstance(value, list):
        return any(v in allowed for v in value)
    return value in allowed


def _count_tokens(content: str | list | None) -> int:
    if isinstance(content, str):
        return token_count_utils.count_token(content)
    if isinstance(content, list):
        return sum(_count_tokens(item.get("text", "")) for item in content if isinstance(item, dict))
    return 0

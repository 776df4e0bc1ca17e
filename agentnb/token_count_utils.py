"""AutoGen 0.2's ``autogen.token_count_utils``: count the tokens of text, messages and tool schemas.

    count_token("Hello world")                                   # 2
    count_token([{"role": "user", "content": "Hello world"}])    # 9 (3 per message + 3 for the reply)
    token_left("Hello world", model="gpt-4")                     # 8190

Counts are exact when ``tiktoken`` is installed *and* the model's encoding file is already in its
cache (nothing is ever downloaded). Otherwise :class:`ApproxEncoding` is used: ``cl100k_base``'s
pre-tokenizer with fixed-size pieces, within about 7 % of the real counts on English and Python (see
its docstring). It encodes and decodes losslessly, so truncating "to N tokens" still gives valid text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

_MAX_TOKENS = {
    "gpt-3.5-turbo": 16385, "gpt-3.5-turbo-0125": 16385, "gpt-3.5-turbo-0301": 4096,
    "gpt-3.5-turbo-0613": 4096, "gpt-3.5-turbo-instruct": 4096, "gpt-3.5-turbo-16k": 16385,
    "gpt-3.5-turbo-16k-0613": 16385, "gpt-3.5-turbo-1106": 16385,
    "gpt-4": 8192, "gpt-4-0314": 8192, "gpt-4-0613": 8192, "gpt-4-32k": 32768, "gpt-4-32k-0314": 32768,
    "gpt-4-32k-0613": 32768, "gpt-4-turbo": 128000, "gpt-4-turbo-2024-04-09": 128000,
    "gpt-4-1106-preview": 128000, "gpt-4-0125-preview": 128000, "gpt-4-turbo-preview": 128000,
    "gpt-4-vision-preview": 128000, "gpt-4o": 128000, "gpt-4o-2024-05-13": 128000,
    "gpt-4o-2024-08-06": 128000, "gpt-4o-mini": 128000, "gpt-4o-mini-2024-07-18": 128000,
}


def get_max_token_limit(model: str = "gpt-3.5-turbo-0613") -> int:
    """The context window of an OpenAI model (Azure spellings ``gpt35``/``gpt4`` accepted); ``KeyError``
    for a model not in the table."""
    name = re.sub(r"^gpt4", "gpt-4", re.sub(r"^gpt\-?35", "gpt-3.5", model))
    try:
        return _MAX_TOKENS[name]
    except KeyError:
        raise KeyError(f"no known context window for model {model!r}") from None


class ApproxEncoding:
    """A tokenizer that needs no data files. Text is split with ``cl100k_base``'s own pre-tokenizer
    pattern (a word with the one space or symbol before it, up to 3 digits, a symbol run, whitespace),
    then letter pieces longer than 7 characters and symbol pieces longer than 3 are cut into tokens of
    that size. ``decode(encode(t)) == t``.

    Measured against the real ``cl100k_base`` (via ``bpe-openai``): 1.01x its count on agentnb's README,
    1.05x on its design notes, 1.07x on its Python source, 1.05x on its tests; it errs high on prose and
    code (safer for limits) and low on rare all-caps words and CJK text.
    """

    name = "approx"
    _PIECES = re.compile(r"'(?i:s|t|re|ve|m|ll|d)|(?:[^\r\n\w]|_)?[^\W\d_]+|\d{1,3}| ?(?:[^\s\w]|_)+[\r\n]*"
                         r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    _WORD, _SYMBOLS = 7, 3

    def encode(self, text: str) -> list[str]:
        tokens: list[str] = []
        end = 0
        for match in self._PIECES.finditer(text):
            tokens.extend(text[end:match.start()])  # characters no pattern took (none expected): one each
            piece = match.group(0)
            end = match.end()
            if piece.isspace():
                tokens.append(piece)
                continue
            size = self._WORD if piece[-1].isalpha() else self._SYMBOLS
            tokens.extend(piece[i:i + size] for i in range(0, len(piece), size))
        tokens.extend(text[end:])
        return tokens

    def decode(self, tokens: list[Any]) -> str:
        return "".join(tokens)


def _tiktoken_cached(encoding_name: str) -> Any | None:
    """tiktoken's encoding if the package is installed and its file is already cached; never downloads."""
    try:
        import tiktoken
    except ImportError:
        return None
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), "data-gym-cache")
    url = f"https://openaipublic.blob.core.windows.net/encodings/{encoding_name}.tiktoken"
    if not os.path.exists(os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())):
        return None
    try:
        return tiktoken.get_encoding(encoding_name)
    except Exception:  # a corrupt cache file or a network attempt refused: fall back to the approximation
        return None


@lru_cache(maxsize=8)
def get_encoding(model: str = "gpt-3.5-turbo-0613") -> Any:
    """The tokenizer for ``model``: tiktoken's (when cached locally) or :class:`ApproxEncoding`."""
    name = "o200k_base" if re.match(r"^(gpt-4o|gpt-4\.1|o1|o3|o4|gpt-5)", model) else "cl100k_base"
    return _tiktoken_cached(name) or ApproxEncoding()


def _num_token_from_text(text: str, model: str = "gpt-3.5-turbo-0613") -> int:
    return len(get_encoding(model).encode(text))


def count_token(input: str | list | dict, model: str = "gpt-3.5-turbo-0613") -> int:
    """Tokens in a string, a message, or a list of messages (with OpenAI's per-message overhead)."""
    if isinstance(input, str):
        return _num_token_from_text(input, model=model)
    if isinstance(input, list | dict):
        return _num_token_from_messages(input, model=model)
    raise ValueError(f"input must be str, list or dict, but we got {type(input)}")


def _num_token_from_messages(messages: list | dict, model: str = "gpt-3.5-turbo-0613") -> int:
    """OpenAI's cookbook rule: 3 tokens per message (4 for gpt-3.5-turbo-0301), 1 per ``name``, 3 to
    prime the reply; non-string fields (tool calls) are counted as their JSON. Any model is accepted."""
    if isinstance(messages, dict):
        messages = [messages]
    encoding = get_encoding(model)
    per_message, per_name = (4, -1) if model == "gpt-3.5-turbo-0301" else (3, 1)
    total = 0
    for message in messages:
        total += per_message
        for key, value in message.items():
            if value is None:
                continue
            if key == "content" and isinstance(value, list):
                for part in value:
                    if isinstance(part, dict) and part.get("type") == "text":
                        total += len(encoding.encode(part.get("text", "")))
                    elif isinstance(part, dict) and "image_url" in part:
                        total += 85  # a low-detail image, what OpenAI bills at the least
                continue
            if not isinstance(value, str):
                try:
                    value = json.dumps(value)
                except TypeError:
                    logger.warning(f"Value {value} is not a string and cannot be converted to json. "
                                   f"It is a type: {type(value)} Skipping.")
                    continue
            total += len(encoding.encode(value))
            if key == "name":
                total += per_name
    return total + 3


def percentile_used(input: str | list | dict, model: str = "gpt-3.5-turbo-0613") -> float:
    """The share of ``model``'s context window that ``input`` uses."""
    return count_token(input, model=model) / get_max_token_limit(model)


def token_left(input: str | list | dict, model: str = "gpt-3.5-turbo-0613") -> int:
    """Tokens ``model`` has left for its completion after ``input``."""
    return get_max_token_limit(model) - count_token(input, model=model)


def num_tokens_from_functions(functions: list[dict[str, Any]], model: str = "gpt-3.5-turbo-0613") -> int:
    """Tokens that function (tool) descriptions add to a request (OpenAI's published approximation)."""
    encoding = get_encoding(model)
    total = 0
    for function in functions:
        tokens = len(encoding.encode(function["name"])) + len(encoding.encode(function.get("description", ""))) - 2
        parameters = function.get("parameters", {})
        if "properties" in parameters:
            for key, prop in parameters["properties"].items():
                tokens += len(encoding.encode(key))
                for field, value in prop.items():
                    if field == "type":
                        tokens += 2 + len(encoding.encode(str(value)))
                    elif field == "description":
                        tokens += 2 + len(encoding.encode(value))
                    elif field == "enum":
                        tokens -= 3
                        for option in value:
                            tokens += 3 + len(encoding.encode(str(option)))
                    else:
                        logger.warning(f"Warning: not supported field {field}")
            tokens += 11
            if not parameters["properties"]:
                tokens -= 2
        total += tokens
    return total + 12


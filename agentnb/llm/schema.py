"""What each ``llm_config`` and ``config_list`` key accepts, checked before any model call.

Only the types are checked here (ranges are the server's business, except where a value could
never work, such as a negative ``max_retries``). Keys not listed pass unchanged: AutoGen 0.2 configs
carry extra keys (``tags``, ``api_rate_limit``...) and extra request options go to the server.
"""

from __future__ import annotations

from typing import Any

from .._validate import (
    BOOL,
    DICT,
    HTTP_URL,
    INT,
    NON_EMPTY_STR,
    NON_NEGATIVE_INT,
    NONE,
    NUMBER,
    PATH,
    POSITIVE_INT,
    POSITIVE_SECONDS,
    STR,
    Rule,
    check,
    check_mapping,
    dict_of,
    list_of,
)
from ..errors import ConfigError

_PRICE = Rule(lambda v: isinstance(v, list | tuple) and len(v) == 2 and all(NUMBER.test(p) and p >= 0 for p in v),
              "[prompt_price_per_1k, completion_price_per_1k] (two non-negative numbers, USD per 1,000 tokens)")
_CACHE_SEED = Rule(lambda v: INT.test(v) or isinstance(v, str), "an int or a str (None turns the cache off)")
_STOP = STR | list_of(STR, "strings")
_UNSET = Rule(lambda v: v is None or v == "", "None or '' (not set)")
_TOOLS = list_of(DICT, "tool schema dicts ({'type': 'function', 'function': {...}})")
_RESPONSE_FORMAT = DICT | Rule(lambda v: isinstance(v, type), "a pydantic model class")

ENTRY_RULES: dict[str, Rule] = {
    "model": NON_EMPTY_STR,
    "api_key": STR | NONE,
    "base_url": HTTP_URL | _UNSET,
    "azure_endpoint": HTTP_URL | _UNSET,
    "api_type": STR | NONE,
    "api_version": STR | NONE,
    "price": _PRICE | NONE,
    "tags": list_of(STR, "strings") | STR | NONE,
    "organization": STR | NONE,
    "default_headers": dict_of(STR, STR, "a dict of str header names to str values") | NONE,
    "max_retries": NON_NEGATIVE_INT,
}
"""One ``config_list`` entry (also the inline ``model``/``api_key``/... keys of an ``llm_config``)."""

CLIENT_RULES: dict[str, Rule] = {
    "config_list": list_of(DICT, "config dicts ({'model': ..., 'api_key': ...})", non_empty=True),
    "timeout": POSITIVE_SECONDS | NONE,
    "cache_seed": _CACHE_SEED | NONE,
    "cache_path_root": PATH,
    "stream": BOOL | NONE,
    "max_retries": NON_NEGATIVE_INT,
}
"""Keys the client itself reads."""

REQUEST_RULES: dict[str, Rule] = {
    "temperature": NUMBER | NONE,
    "top_p": NUMBER | NONE,
    "presence_penalty": NUMBER | NONE,
    "frequency_penalty": NUMBER | NONE,
    "max_tokens": POSITIVE_INT | NONE,
    "max_completion_tokens": POSITIVE_INT | NONE,
    "n": POSITIVE_INT | NONE,
    "seed": INT | NONE,
    "stop": _STOP | NONE,
    "tools": _TOOLS | NONE,
    "functions": _TOOLS | NONE,
    "tool_choice": STR | DICT | NONE,
    "response_format": _RESPONSE_FORMAT | NONE,
    "logit_bias": DICT | NONE,
    "user": STR | NONE,
    "parallel_tool_calls": BOOL | NONE,
    "reasoning_effort": STR | NONE,
}
"""Request options with a known type (others are passed to the server as they are)."""


def check_llm_config(llm_config: Any) -> None:
    """Raise :class:`ConfigError` naming the first bad key of ``llm_config`` (a dict)."""
    check("llm_config", llm_config, DICT)
    check_mapping("llm_config", llm_config, CLIENT_RULES)
    check_mapping("llm_config", llm_config, REQUEST_RULES)
    if "config_list" not in llm_config and "model" in llm_config:
        check_mapping("llm_config", llm_config, ENTRY_RULES)
    for index, entry in enumerate(llm_config.get("config_list") or []):
        check_entry(index, entry)


def check_entry(index: int, entry: Any) -> None:
    """Raise :class:`ConfigError` naming the first bad key of ``config_list[index]``."""
    where = f"config_list[{index}]"
    check(where, entry, DICT)
    if "model" not in entry:
        raise ConfigError(f"{where} is missing 'model' (the model name to request, e.g. 'gpt-4o')")
    check_mapping(where, entry, ENTRY_RULES)

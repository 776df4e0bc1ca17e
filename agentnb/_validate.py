"""Argument checks at the API boundary: one :class:`~agentnb.errors.ConfigError` per bad value.

Every message names the argument, shows the value's type (and a short repr, never a secret's) and
says what is allowed::

    >>> check("max_retries", "lots", NON_NEGATIVE_INT)
    ConfigError: max_retries must be a non-negative int; got str 'lots'

A :class:`Rule` is a predicate and the words for what it accepts; :func:`check_mapping` applies a
table of rules to a dict (unknown keys pass: AutoGen 0.2 configs carry extra keys).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, redact

_SECRET_WORDS = ("key", "token", "secret", "password")


class ConfigAssertionError(ConfigError, AssertionError):
    """A :class:`ConfigError` where AutoGen 0.2 raised ``AssertionError``, so 0.2 ``except`` clauses still match.

    0.2 asserts on an ``llm_config`` of the wrong type and on tool registration for an agent without a model.
    """


@dataclass(frozen=True)
class Rule:
    """What a value must be: ``test(value)`` is True for good values; ``allowed`` says so in words."""

    test: Callable[[Any], bool]
    allowed: str

    def __or__(self, other: Rule) -> Rule:
        return Rule(lambda v: self.test(v) or other.test(v), f"{self.allowed}, or {other.allowed}")


def describe(value: Any, *, secret: bool = False) -> str:
    """``str 'lots'``: the type name and a short repr (only the type for secrets)."""
    kind = type(value).__name__
    if secret or value is None:
        return kind if value is not None else "None"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        text = "<unrepresentable>"
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {redact(text)}"


def error(arg: str, value: Any, allowed: str) -> ConfigError:
    """The ConfigError for ``arg=value`` when ``allowed`` describes what would have been accepted."""
    secret = any(word in arg.lower() for word in _SECRET_WORDS)
    return ConfigError(f"{arg} must be {allowed}; got {describe(value, secret=secret)}")


def check(arg: str, value: Any, rule: Rule) -> Any:
    """Return ``value`` if ``rule`` accepts it, else raise the ConfigError naming ``arg``."""
    try:
        ok = rule.test(value)
    except Exception:
        ok = False
    if not ok:
        raise error(arg, value, rule.allowed)
    return value


def check_mapping(where: str, mapping: Mapping[str, Any], rules: Mapping[str, Rule]) -> None:
    """Check each key of ``mapping`` that has a rule; the argument is named ``where['key']``."""
    for key, rule in rules.items():
        if key in mapping:
            check(f"{where}[{key!r}]", mapping[key], rule)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


def _is_url(v: Any) -> bool:
    return isinstance(v, str) and v.split("://", 1)[0].lower() in ("http", "https") and "://" in v \
        and len(v.split("://", 1)[1].strip("/")) > 0


NONE = Rule(lambda v: v is None, "None")
BOOL = Rule(lambda v: isinstance(v, bool), "True or False")
STR = Rule(lambda v: isinstance(v, str), "a str")
NON_EMPTY_STR = Rule(lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty str")
INT = Rule(_is_int, "an int")
NON_NEGATIVE_INT = Rule(lambda v: _is_int(v) and v >= 0, "a non-negative int")
POSITIVE_INT = Rule(lambda v: _is_int(v) and v > 0, "a positive int")
NUMBER = Rule(_is_number, "a number")
POSITIVE_SECONDS = Rule(lambda v: _is_number(v) and v > 0, "a positive number of seconds")
CALLABLE = Rule(callable, "a callable")
DICT = Rule(lambda v: isinstance(v, dict), "a dict")
PATH = Rule(lambda v: isinstance(v, str | os.PathLike) and bool(os.fspath(v)), "a non-empty str or path")
HTTP_URL = Rule(_is_url, "an http(s) URL such as 'http://127.0.0.1:8000/v1'")


def list_of(rule: Rule, items: str, *, non_empty: bool = False) -> Rule:
    """A list whose every item passes ``rule``; ``items`` names them in the plural ("strings")."""
    def test(v: Any) -> bool:
        return isinstance(v, list) and (bool(v) or not non_empty) and all(rule.test(x) for x in v)

    return Rule(test, f"a {'non-empty ' if non_empty else ''}list of {items}")


def one_of(*values: Any) -> Rule:
    """Exactly one of ``values`` (compared with ``==``; a bool never matches an int)."""
    def test(v: Any) -> bool:
        return any(type(v) is type(x) and v == x for x in values)

    return Rule(test, "one of " + ", ".join(repr(x) for x in values))


def dict_of(key: Rule, value: Rule, allowed: str) -> Rule:
    """A dict whose keys pass ``key`` and values pass ``value``; ``allowed`` says it in words."""
    def test(v: Any) -> bool:
        return isinstance(v, dict) and all(key.test(k) and value.test(x) for k, x in v.items())

    return Rule(test, allowed)

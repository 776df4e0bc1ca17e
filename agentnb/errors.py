"""The exception tree of agentnb.

::

    AgentNBError
    ├── ConfigError (also ValueError)        a usage mistake: bad llm_config, unknown mode, bad option
    ├── ModelError                           a model call failed
    │   ├── ModelUnavailableError            every config_list entry failed (transient errors exhausted)
    │   └── ModelResponseError               the endpoint answered with a permanent error (4xx) or garbage
    ├── ExecutionError                       an executor could not run code at all
    │   ├── DockerUnavailableError (also RuntimeError)  use_docker=True but no Docker engine answers
    │   ├── KernelDiedError                  the execution kernel died (it is restarted; state was lost)
    │   └── UnsafePathError                  a write under work_dir would leave it (symlink, hard link, ``..``)
    ├── LocalModelError                      the embedded llama.cpp server is missing, crashed or unhealthy
    ├── ChatError                            a chat stopped on an error; carries the history so far
    └── OutsideLoopbackError                 a test tried to reach a non-loopback endpoint

Messages name the endpoint and model, never an API key (see :func:`redact`).
"""

from __future__ import annotations

import base64
import re
from typing import Any


class AgentNBError(Exception):
    """Base class of every agentnb exception."""


class ConfigError(AgentNBError, ValueError):
    """A usage mistake found before anything runs (bad argument, bad config)."""


class ModelError(AgentNBError):
    """A model call failed."""

    def __init__(self, message: str, *, model: str | None = None, base_url: str | None = None):
        super().__init__(redact(message))
        self.model = model
        self.base_url = base_url

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), {"model": self.model, "base_url": self.base_url}))


class ModelUnavailableError(ModelError):
    """No config_list entry produced a reply (retries and fallbacks exhausted)."""


class ModelResponseError(ModelError):
    """The endpoint rejected the request permanently, or its reply could not be parsed."""


class ExecutionError(AgentNBError):
    """An executor could not run code."""


class DockerUnavailableError(ExecutionError, RuntimeError):
    """``use_docker`` was requested but Docker cannot be used; nothing ran on the host (a RuntimeError, as in 0.2)."""


class KernelDiedError(ExecutionError):
    """The execution kernel died; it has been restarted and its state is lost."""


class UnsafePathError(ExecutionError):
    """agentnb refused to write a file: the path leads out of ``work_dir`` (symlink, hard link, ``..``)."""


class LocalModelError(AgentNBError):
    """The embedded local model could not be started or stopped answering."""

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it: the message (what happened and what to do), not 40 frames of traceback."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class ChatError(AgentNBError):
    """A chat stopped because of an error. ``chat_history`` holds the messages so far."""

    def __init__(self, message: str, *, chat_history: list[dict[str, Any]] | None = None,
                 cause: BaseException | None = None):
        super().__init__(redact(message))
        self.chat_history = list(chat_history or [])
        self.cause = cause

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), {"chat_history": self.chat_history}))


class OutsideLoopbackError(AgentNBError):
    """A guarded test tried to reach an endpoint that is not on 127.0.0.0/8 or ::1."""


def _rebuild(cls: type[AgentNBError], message: str, fields: dict[str, Any]) -> AgentNBError:
    obj = cls.__new__(cls)
    Exception.__init__(obj, message)
    obj.__dict__.update(fields)
    return obj


_KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(api[_-]?key['\"]?\s*[:=]\s*['\"]?)([^\s'\",}]{6,})"),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9_\-\.]{8,})"),
]
_known_secrets: set[str] = set()
_secret_forms: list[tuple[str, re.Pattern[str]]] = []  # (separator-free form, tolerant pattern)

# characters a "spaced" copy may put between the characters of a key (" ".join(key), list(key), wrapped base64)
_SEPARATORS = " \t\r\n,;:|.'\"`+*/\\_-"
_SEP_DELETE = str.maketrans("", "", _SEPARATORS)  # str.translate: ~7x faster than a regex sub per message
_FUZZY_MIN = 10  # shorter keys are matched literally only: their variants would hit ordinary text


def register_secret(secret: str | None) -> None:
    """Remember a key so that :func:`redact` removes it wherever it appears (also reversed, base64, spaced)."""
    if not secret or len(secret) < 6 or secret in _known_secrets:
        return
    _known_secrets.add(secret)
    if len(secret.translate(_SEP_DELETE)) >= _FUZZY_MIN:
        for form in _variants(secret):
            _secret_forms.append((form.translate(_SEP_DELETE), _tolerant_pattern(form)))


def _tolerant_pattern(form: str) -> re.Pattern[str]:
    """``form``'s non-separator characters in order, with room for separators between them (more where
    ``form`` itself has separators, which a spaced copy spells out: ``'-', '-'``)."""
    parts: list[str] = []
    own = 0
    for char in form:
        if char in _SEPARATORS:
            own += 1
            continue
        if parts:
            parts.append(f"[{re.escape(_SEPARATORS)}]{{0,{12 + 8 * own}}}")
        parts.append(re.escape(char))
        own = 0
    return re.compile("".join(parts))


def known_secrets() -> frozenset[str]:
    """The keys registered for redaction (for callers that must keep them out of environments)."""
    return frozenset(_known_secrets)


def _variants(secret: str) -> list[str]:
    """The key, reversed, and the parts of its base64/hex encodings that do not depend on neighbouring bytes."""
    raw = secret.encode()
    forms = {secret, secret[::-1], raw.hex(), raw.hex().upper()}
    for offset in range(3):  # base64 of a text that holds the key at any byte offset
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0").decode()
        start = -(-offset * 8 // 6)
        stop = (offset + len(raw)) * 8 // 6
        core = encoded[start:stop]
        forms.update({core, core.translate(_URLSAFE)})
    return sorted(forms)


_URLSAFE = str.maketrans("+/", "-_")


def contains_secret(text: str) -> bool:
    """True if ``text`` holds a registered key in any of the forms :func:`redact` removes."""
    if any(secret in text for secret in _known_secrets):
        return True
    if _secret_forms:
        flat = text.translate(_SEP_DELETE)
        return any(core in flat for core, _ in _secret_forms)
    return False


def secret_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every registered key in ``text``, in any form :func:`redact` removes."""
    spans = []
    for secret in _known_secrets:
        start = text.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    if _secret_forms:
        flat = text.translate(_SEP_DELETE)
        for core, pattern in _secret_forms:
            if core in flat:
                spans.extend(m.span() for m in pattern.finditer(text))
    return spans


def held_back_from(text: str, min_chars: int = 1) -> int:
    """Where the longest suffix of ``text`` that could begin a registered key (any form) starts; ``len(text)``
    if none. A stream shown piece by piece holds that suffix back until the next piece decides."""
    forms = [core for core, _ in _secret_forms] + [s.translate(_SEP_DELETE) for s in _known_secrets]
    if not forms:
        return len(text)
    longest = max(len(f) for f in forms)
    window = text[-longest * 14:]  # a spaced copy needs at most ~13 characters per key character
    flat = window.translate(_SEP_DELETE)
    best = 0
    for form in forms:  # the earliest start of a proper prefix of ``form`` among the last characters
        head = form[:min_chars]
        pos = flat.find(head, max(0, len(flat) - len(form) + 1))
        while pos != -1 and len(flat) - pos > best:
            if form.startswith(flat[pos:]):
                best = len(flat) - pos
                break
            pos = flat.find(head, pos + 1)
    if best == 0:
        return len(text)
    index, seen = len(text), 0
    while index > 0 and seen < best:
        index -= 1
        if text[index] not in _SEPARATORS:
            seen += 1
    return index


def redact(text: str) -> str:
    """Remove API keys (known ones, their reversed/base64/hex/spaced copies, and key-shaped strings)."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, "***")
    if _secret_forms:
        flat = text.translate(_SEP_DELETE)
        for core, pattern in _secret_forms:
            if core in flat:
                text = pattern.sub("***", text)
    text = _KEY_PATTERNS[0].sub("sk-***", text)
    text = _KEY_PATTERNS[1].sub(lambda m: m.group(1) + "***", text)
    text = _KEY_PATTERNS[2].sub(lambda m: m.group(1) + "***", text)
    return text

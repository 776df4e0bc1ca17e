"""The exception tree of agentnb.

::

    AgentNBError
    ├── ConfigError (also ValueError)        a usage mistake: bad llm_config, unknown mode, bad option
    ├── ModelError                           a model call failed
    │   ├── ModelUnavailableError            every config_list entry failed (transient errors exhausted)
    │   └── ModelResponseError               the endpoint answered with a permanent error (4xx) or garbage
    ├── ExecutionError                       an executor could not run code at all
    │   ├── DockerUnavailableError           use_docker=True but no Docker engine answers
    │   └── KernelDiedError                  the execution kernel died (it is restarted; state was lost)
    ├── LocalModelError                      the embedded llama.cpp server is missing, crashed or unhealthy
    ├── ChatError                            a chat stopped on an error; carries the history so far
    └── OutsideLoopbackError                 a test tried to reach a non-loopback endpoint

Messages name the endpoint and model, never an API key (see :func:`redact`).
"""

from __future__ import annotations

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

    def __reduce__(self):
        return (_rebuild, (type(self), str(self), {"model": self.model, "base_url": self.base_url}))


class ModelUnavailableError(ModelError):
    """No config_list entry produced a reply (retries and fallbacks exhausted)."""


class ModelResponseError(ModelError):
    """The endpoint rejected the request permanently, or its reply could not be parsed."""


class ExecutionError(AgentNBError):
    """An executor could not run code."""


class DockerUnavailableError(ExecutionError):
    """``use_docker`` was requested but Docker cannot be used; nothing ran on the host."""


class KernelDiedError(ExecutionError):
    """The execution kernel died; it has been restarted and its state is lost."""


class LocalModelError(AgentNBError):
    """The embedded local model could not be started or stopped answering."""


class ChatError(AgentNBError):
    """A chat stopped because of an error. ``chat_history`` holds the messages so far."""

    def __init__(self, message: str, *, chat_history: list[dict[str, Any]] | None = None,
                 cause: BaseException | None = None):
        super().__init__(redact(message))
        self.chat_history = list(chat_history or [])
        self.cause = cause

    def __reduce__(self):
        return (_rebuild, (type(self), str(self), {"chat_history": self.chat_history}))


class OutsideLoopbackError(AgentNBError):
    """A guarded test tried to reach an endpoint that is not on 127.0.0.0/8 or ::1."""


def _rebuild(cls, message, fields):
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


def register_secret(secret: str | None) -> None:
    """Remember a key so that :func:`redact` removes it wherever it appears."""
    if secret and len(secret) >= 6:
        _known_secrets.add(secret)


def redact(text: str) -> str:
    """Remove API keys (known ones and key-shaped strings) from ``text``."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _KEY_PATTERNS[0].sub("sk-***", text)
    text = _KEY_PATTERNS[1].sub(lambda m: m.group(1) + "***", text)
    text = _KEY_PATTERNS[2].sub(lambda m: m.group(1) + "***", text)
    return text

"""``BaseLogger``: what a runtime logger records (0.2's interface), and JSON helpers for its values."""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ..errors import redact

SECRET_KEYS = ("api_key", "organization", "base_url", "azure_endpoint", "azure_ad_token",
               "azure_ad_token_provider", "default_headers")
"""Init arguments never written to a log (0.2 leaves out the same)."""


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data: secrets dropped, agents by name, unknown objects by ``repr``."""
    if depth > 8:
        return "..."
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, depth + 1) for k, v in value.items()
                if str(k) not in SECRET_KEYS and k not in ("self", "__class__")}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v, depth + 1) for v in value]
    name = getattr(value, "name", None)
    if isinstance(name, str) and hasattr(value, "generate_reply"):
        return name
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_jsonable(dump(), depth + 1)
        except Exception:  # a pydantic model with unserializable extras: fall back to repr
            pass
    return redact(repr(value))


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False)


class BaseLogger(ABC):
    """A runtime logger: ``start()`` returns the session id; the ``log_*`` methods record one row each."""

    def __init__(self, config: dict[str, Any] | None = None):
        self.config = dict(config or {})
        self.session_id = str(uuid.uuid4())

    @abstractmethod
    def start(self) -> str: ...

    @abstractmethod
    def log_chat_completion(self, invocation_id: Any, client_id: int, wrapper_id: int, source: Any,
                            request: dict[str, Any], response: Any, is_cached: int, cost: float,
                            start_time: str) -> None: ...

    @abstractmethod
    def log_new_agent(self, agent: Any, init_args: dict[str, Any]) -> None: ...

    @abstractmethod
    def log_event(self, source: Any, name: str, /, **kwargs: Any) -> None:
        """``source`` and ``name`` are positional-only: an event's fields may be called so (``ErrorOccurred.source``,
        ``ExecutionOutput.name``) and arrive in ``kwargs``."""

    @abstractmethod
    def log_new_wrapper(self, wrapper: Any, init_args: dict[str, Any]) -> None: ...

    @abstractmethod
    def log_new_client(self, client: Any, wrapper: Any, init_args: dict[str, Any]) -> None: ...

    @abstractmethod
    def log_function_use(self, source: Any, function: Callable[..., Any] | str, args: dict[str, Any],
                         returns: Any) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def get_connection(self) -> Any: ...


def source_fields(source: Any) -> tuple[int | None, str, str | None, str | None]:
    """``(id, name, module, class)`` of an agent or of a name."""
    if isinstance(source, str):
        return None, source, None, None
    cls = type(source)
    return id(source), str(getattr(source, "name", cls.__name__)), cls.__module__, cls.__name__

"""``ChatResult`` (AutoGen 0.2's shape) and usage gathering."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..llm.client import merge_usage
from ..messages import Event


@dataclass
class ChatResult:
    """What ``initiate_chat`` returns."""

    chat_id: str | None = None
    chat_history: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""
    cost: dict[str, Any] = field(default_factory=dict)
    """``{"usage_including_cached_inference": {...}, "usage_excluding_cached_inference": {...}}``."""
    human_input: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list, repr=False)
    """Every event of the chat except streamed token chunks (for views and export)."""
    stop_reason: str = ""
    """Why the chat ended: ``terminated``, ``max_turns``, ``max_consecutive_auto_reply``, ``no_reply``..."""

    def to_notebook(self, path: str | Path, **kwargs: Any) -> Path:
        """Write the conversation as a runnable ``.ipynb`` (messages as Markdown, executed code with outputs)."""
        from ..export import write_notebook

        return write_notebook(self.events, path, **kwargs)


def gather_usage_summary(agents: list[Any]) -> dict[str, Any]:
    """Usage of ``agents`` (deduplicated) in AutoGen's shape."""
    seen: set[int] = set()
    total, actual = [], []
    for agent in agents:
        if id(agent) in seen:
            continue
        seen.add(id(agent))
        client = getattr(agent, "client", None)
        if client is not None:
            total.append(client.usage_summary())
            actual.append(client.usage_summary(actual=True))
    return {
        "usage_including_cached_inference": merge_usage(*total),
        "usage_excluding_cached_inference": merge_usage(*actual),
    }

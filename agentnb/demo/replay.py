"""Replay mode: a scripted OpenAI-protocol server on 127.0.0.1 answers with a demo's recorded replies.

Each agent's reply is chosen by its position in the conversation (how many times that agent has
already spoken), not by a queue, so re-running a notebook cell replays the same chat. One server
per demo and process, started on first use; it serves from a daemon thread, so it ends with the
process (a kernel, a test run) without any exit hook; :func:`stop_replay_servers` stops it earlier.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..testing import ScriptedModelServer, forever, text
from .catalog import DEMOS

MODE_ENV = "AGENTNB_DEMO_MODEL"
REPLAY = "replay"
MANAGER = "chat_manager"
"""The recorded speaker choices of a GroupChatManager (its default name)."""

_servers: dict[str, ScriptedModelServer] = {}
_lock = threading.Lock()


def demo_mode() -> str:
    """``"replay"`` when env ``AGENTNB_DEMO_MODEL=replay``, else ``"default"``."""
    return REPLAY if os.environ.get(MODE_ENV, "").strip().lower() == REPLAY else "default"


def demo_llm_config(demo: str, agent: str | None = None) -> dict[str, Any] | None:
    """The llm_config for ``agent`` (default ``assistant``) in ``demo``: its recorded replies in replay
    mode, else ``None`` (the default model: your key, or the embedded local model)."""
    if demo_mode() != REPLAY:
        return None
    name = agent or "assistant"
    recorded = _recorded(demo)
    if name not in recorded:
        raise ConfigError(f"demo {demo!r} has no recorded replies for {name!r}; "
                          f"recorded agents: {', '.join(recorded)}")
    return replay_server(demo).llm_config(model=name)


def replay_server(demo: str) -> ScriptedModelServer:
    """The started replay server of ``demo`` (one per demo and process)."""
    recorded = _recorded(demo)
    with _lock:
        server = _servers.get(demo)
        if server is None:
            server = ScriptedModelServer(model=f"demo-{demo}")
            for agent, replies in recorded.items():
                server.add(forever(_replayer(agent, replies)), model=agent)
            server.start()
            _servers[demo] = server
        return server


def stop_replay_servers() -> None:
    """Stop every replay server this process started."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.stop()


def _recorded(demo: str) -> dict[str, list[Any]]:
    found = DEMOS.get(demo)
    if found is None or not found.replies:
        known = ", ".join(sorted(name for name, d in DEMOS.items() if d.replies))
        raise ConfigError(f"no recorded demo {demo!r}; known: {known}")
    return found.replies


def _turn(agent: str, body: dict[str, Any]) -> int:
    """How many times ``agent`` has spoken already, read from the request's messages."""
    messages = body.get("messages") or []
    if agent == MANAGER:  # speaker selection: system prompt(s) + the transcript so far
        return max(0, sum(1 for m in messages if m.get("role") != "system") - 1)
    return sum(1 for m in messages if m.get("role") == "assistant")


def _replayer(agent: str, replies: list[Any]) -> Callable[[dict[str, Any]], Any]:
    def reply(body: dict[str, Any]) -> Any:
        turn = _turn(agent, body)
        return replies[turn] if turn < len(replies) else text("TERMINATE")

    return reply

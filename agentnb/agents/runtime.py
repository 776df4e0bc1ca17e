"""One agent's runtime state: what its chats change, in one typed object the agent owns (``agent.runtime``).

``ConversableAgent`` keeps its configuration (name, system message, limits, reply functions, tools);
what changes while it chats lives here, with the operations the chat loop and the reply functions use:

- consecutive auto replies per sender (what ``max_consecutive_auto_reply`` limits);
- what people typed in the current chat (``ChatResult.human_input``);
- the code executor, made on first use, and whether the agent owns it (then the chat that made it
  shuts it down, see :func:`agentnb.agents.scope.track_executor_owner`).

Approvals given are not agent state: "first" approvals are counted per chat
(:func:`agentnb.agents.human.chat_approval`), so the next chat asks again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..coding.base import CodeExecutor


def _counters() -> defaultdict[Any, int]:
    return defaultdict(int)


@dataclass(eq=False)
class AgentRuntime:
    """The state one agent's chats change (see the module docstring)."""

    auto_replies: defaultdict[Any, int] = field(default_factory=_counters)
    """Consecutive auto replies to each sender, since a person answered or a chat began
    (AutoGen 0.2's ``_consecutive_auto_reply_counter``: the agent keeps that name for the same dict)."""
    human_input: list[str] = field(default_factory=list)
    """What people typed in the agent's current chat, in order (cleared, never replaced)."""
    executor: CodeExecutor | None = None
    """The executor code runs in, once made (``agent.code_executor``)."""
    owns_executor: bool = False
    """True when the agent made ``executor`` (it shuts it down); an executor the user passed stays theirs."""

    def reset_auto_replies(self, sender: Any = None) -> None:
        """Start counting again for ``sender`` (``None``: for everyone)."""
        if sender is None:
            self.auto_replies.clear()
        else:
            self.auto_replies[sender] = 0

    def forget(self) -> None:
        """Forget the counters and what people typed (``agent.reset()``); the executor stays."""
        self.auto_replies.clear()
        self.human_input.clear()

    def executor_for(self, code_execution_config: Any) -> tuple[CodeExecutor | None, bool]:
        """The executor, made from ``code_execution_config`` on first use, and whether this call made one
        the agent owns (the caller then hands it to the running chat to shut down)."""
        if self.executor is not None:
            return self.executor, False
        from ..coding import make_executor

        cfg = code_execution_config
        given = cfg.get("executor") if isinstance(cfg, dict) else None
        self.executor = make_executor(cfg)
        self.owns_executor = self.executor is not None and (given is None or isinstance(given, str))
        return self.executor, self.owns_executor

    async def close_executor(self) -> None:
        """Shut down the executor the agent made (kernels included) and forget it; one the user passed is
        only forgotten. A local kernel's shutdown runs in the background, off the chat's critical path, and
        never leaks (see ``agentnb.coding.pool.retire``)."""
        executor, self.executor = self.executor, None
        if executor is not None and self.owns_executor:
            in_background = getattr(executor, "close_in_background", None)
            if in_background is not None:
                in_background()
            else:
                await asyncio.shield(executor.a_close())


__all__ = ["AgentRuntime"]

"""AutoGen 0.2's ``AgentCapability`` base class."""

from __future__ import annotations

from typing import Any


class AgentCapability:
    """Behaviour that can be added to any agent; subclasses implement :meth:`add_to_agent`,
    typically by calling ``agent.register_hook(...)``."""

    def add_to_agent(self, agent: Any) -> None:
        """Give ``agent`` this capability."""
        raise NotImplementedError(f"{type(self).__name__} must implement add_to_agent(agent)")

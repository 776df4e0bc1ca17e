"""Capabilities: composable behaviour added to an agent with ``capability.add_to_agent(agent)``."""

from .agent_capability import AgentCapability
from .transform_messages import TransformMessages
from .transforms import MessageHistoryLimiter, MessageTokenLimiter, MessageTransform

__all__ = ["AgentCapability", "MessageHistoryLimiter", "MessageTokenLimiter", "MessageTransform",
           "TransformMessages"]

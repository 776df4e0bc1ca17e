"""``autogen.agentchat.assistant_agent``."""

from ..agents.assistant import AssistantAgent

__all__ = ["AssistantAgent"]

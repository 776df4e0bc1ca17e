"""``autogen.agentchat.agent``: the ``Agent`` base (``LLMAgent`` is the same class in agentnb)."""

from ..agents.conversable import Agent

LLMAgent = Agent

__all__ = ["Agent", "LLMAgent"]

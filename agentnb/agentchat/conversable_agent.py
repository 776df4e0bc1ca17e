"""``autogen.agentchat.conversable_agent``."""

from ..agents.conversable import ConversableAgent
from ..agents.tools import register_function

__all__ = ["ConversableAgent", "register_function"]

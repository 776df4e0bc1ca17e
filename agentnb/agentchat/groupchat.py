"""``autogen.agentchat.groupchat``."""

from ..exception_utils import AgentNameConflict, NoEligibleSpeaker, UndefinedNextAgent
from ..groupchat import GroupChat, GroupChatManager

__all__ = ["AgentNameConflict", "GroupChat", "GroupChatManager", "NoEligibleSpeaker", "UndefinedNextAgent"]

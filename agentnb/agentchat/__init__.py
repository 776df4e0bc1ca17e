"""AutoGen 0.2's ``autogen.agentchat``: the same objects as ``agentnb``'s, under 0.2's import paths.

Submodules (``conversable_agent``, ``assistant_agent``, ``user_proxy_agent``, ``groupchat``, ``agent``,
``chat``, ``utils``, ``contrib.capabilities``) are aliases: agentnb does not mirror 0.2's file layout.
"""

from ..agents.assistant import AssistantAgent, UserProxyAgent
from ..agents.chat import initiate_chats
from ..agents.conversable import Agent, ConversableAgent
from ..agents.result import ChatResult, gather_usage_summary
from ..agents.tools import register_function
from ..groupchat import GroupChat, GroupChatManager

__all__ = [
    "Agent",
    "AssistantAgent",
    "ChatResult",
    "ConversableAgent",
    "GroupChat",
    "GroupChatManager",
    "UserProxyAgent",
    "gather_usage_summary",
    "initiate_chats",
    "register_function",
]

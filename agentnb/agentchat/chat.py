"""``autogen.agentchat.chat``: ``ChatResult`` and the sequential ``initiate_chats``."""

from ..agents.chat import a_initiate_chats, initiate_chats
from ..agents.result import ChatResult

__all__ = ["ChatResult", "a_initiate_chats", "initiate_chats"]

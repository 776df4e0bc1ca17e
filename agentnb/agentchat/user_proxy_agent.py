"""``autogen.agentchat.user_proxy_agent``."""

from ..agents.assistant import UserProxyAgent

__all__ = ["UserProxyAgent"]

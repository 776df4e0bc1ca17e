"""``Agent``: what a chat needs of a participant (AutoGen 0.2's ``autogen.agentchat.agent.Agent``)."""

from __future__ import annotations


class Agent:
    """What a chat needs of a participant (AutoGen's ``Agent`` protocol)."""

    name: str
    description: str


__all__ = ["Agent"]

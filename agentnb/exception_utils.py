"""AutoGen 0.2's ``autogen.exception_utils``: the exceptions agentnb raises in the same situations.

Each is also an :class:`~agentnb.errors.AgentNBError`, so ``except AgentNBError`` catches them too.

- :class:`NoEligibleSpeaker`: no agent may speak next in a group chat (the chat ends quietly);
- :class:`SenderRequired`: a reply function registered for a sender name was asked to reply to no sender;
- :class:`InvalidCarryOverType`: ``carryover`` (or the opening message) has a type that cannot carry it;
- :class:`UndefinedNextAgent`: ``GroupChat.next_agent`` was given agents that are not in the group;
- :class:`AgentNameConflict`: ``GroupChat.agent_by_name(..., raise_on_name_conflict=True)`` found several.
"""

from __future__ import annotations

from .errors import AgentNBError


class AgentNameConflict(AgentNBError):
    """Several agents have the same name."""

    def __init__(self, msg: str = "Found multiple agents with the same name.", *args: object):
        super().__init__(msg, *args)


class NoEligibleSpeaker(AgentNBError):
    """No agent may speak next (a sink in the transition graph, or the selection function said None)."""

    def __init__(self, message: str = "No eligible speakers.", *args: object):
        super().__init__(message, *args)


class SenderRequired(AgentNBError):
    """The sender is required but was not given."""

    def __init__(self, message: str = "Sender is required but not provided.", *args: object):
        super().__init__(message, *args)


class InvalidCarryOverType(AgentNBError):
    """``carryover`` must be a string or a list of strings."""

    def __init__(self, message: str = "Carryover should be a string or a list of strings.", *args: object):
        super().__init__(message, *args)


class UndefinedNextAgent(AgentNBError):
    """The agents given to choose from do not overlap with the agents of the group."""

    def __init__(self, message: str = "The provided agents list does not overlap with agents in the group.",
                 *args: object):
        super().__init__(message, *args)


__all__ = ["AgentNameConflict", "InvalidCarryOverType", "NoEligibleSpeaker", "SenderRequired",
           "UndefinedNextAgent"]

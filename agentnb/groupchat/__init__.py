"""Group chats with AutoGen 0.2's API: :class:`GroupChat` and :class:`GroupChatManager`.

- :mod:`.core`: the group, its transcript, the transition graph, speaker selection;
- :mod:`.selection`: prompts, tolerant name parsing, the manual-choice hook;
- :mod:`.manager`: the manager agent that runs the rounds;
- :mod:`.graph`: the transition graph drawn as SVG.
"""

from .core import METHODS, GroupChat
from .graph import SVGDisplay
from .manager import GroupChatManager
from .selection import (
    NoEligibleSpeaker,
    mentioned_agents,
    speaker_chooser,
    speaker_chooser_hook,
)

__all__ = [
    "METHODS",
    "GroupChat",
    "GroupChatManager",
    "NoEligibleSpeaker",
    "SVGDisplay",
    "mentioned_agents",
    "speaker_chooser",
    "speaker_chooser_hook",
]

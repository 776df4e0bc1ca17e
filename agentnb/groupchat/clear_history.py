"""AutoGen 0.2's ``CLEAR HISTORY`` command in group chats (``GroupChat(enable_clear_history=True)``).

A speaker's reply containing ``clear history`` makes the manager forget the agents' histories:

- ``clear history``: every agent, and the group transcript;
- ``clear history <agent>``: that agent only;
- ``clear history <n>`` / ``clear history <agent> <n>``: keep the last ``n`` messages.

The command and its arguments are removed from the reply before it is passed on.
"""

from __future__ import annotations

from typing import Any


def clear_agents_history(reply: dict[str, Any], groupchat: Any) -> str:
    """Apply the command found in ``reply["content"]``; return the content without it."""
    from ..io import IOStream

    iostream = IOStream.get_default()
    words = reply["content"].split()
    clear_at = next(i for i in reversed(range(len(words))) if words[i].upper() == "CLEAR")
    keep: int | None = None
    keep_given = False
    target = None
    for word in words[clear_at + 2: clear_at + 4]:
        number = word if word.isdigit() else word[:-1]
        if number.isdigit():
            keep, keep_given = int(number), True
            continue
        target = next((a for a in groupchat.agents if a.name in (word, word[:-1])), target)
    if "tool_responses" in reply and not keep:
        keep = 1  # a tool response must keep the tool call it answers
    if target is not None:
        suffix = f" except last {keep} messages" if keep else ""
        iostream.print(f"Clearing history for {target.name}{suffix}.")
        target.clear_history(nr_messages_to_preserve=keep)
    else:
        if keep:
            iostream.print(f"Clearing history for all agents except last {keep} messages.")
            groupchat.messages[:] = groupchat.messages[-keep:]
        else:
            iostream.print("Clearing history for all agents.")
            groupchat.messages.clear()
        for agent in groupchat.agents:
            agent.clear_history(nr_messages_to_preserve=keep)
    skip = 2 + int(target is not None) + int(keep_given)
    return " ".join(words[:clear_at] + words[clear_at + skip:])

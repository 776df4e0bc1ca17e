"""Speaker-selection helpers: prompt templates, tolerant name parsing, the manual-choice hook.

The manual hook (one of the running chat's human handlers, :mod:`agentnb.agents.scope`) is how a
notebook view answers "who speaks next?" with buttons::

    async def choose(candidates: list[str], prompt: str) -> str: ...   # a name ("" = let the model pick)

    with speaker_chooser_hook(choose):
        await user_proxy.a_initiate_chat(manager, message="...")

The ChatPanel installs its ``choose_speaker`` this way (see ``agentnb.views``). Without a hook,
manual selection asks on the terminal with ``input()`` (on the sync caller's thread).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..agents import scope as _scope
from ..agents.scope import SpeakerChooser as SpeakerChooser  # re-exported
from ..exception_utils import NoEligibleSpeaker as NoEligibleSpeaker  # re-exported
from ..messages import content_str, is_protocol_name

SELECT_SPEAKER_MESSAGE_TEMPLATE = """You coordinate a conversation between several participants.
These are the participants and what each one does:
{roles}

Read the conversation that follows, then decide who should speak next: one of {agentlist}.
Answer with that participant's name only."""
"""System message of a selection request; ``{roles}`` and ``{agentlist}`` are filled in."""

SELECT_SPEAKER_PROMPT_TEMPLATE = ("Considering the conversation above, who speaks next? Pick one of {agentlist} "
                                  "and answer with that name only.")
"""The last message of a selection request."""

RETRY_MULTIPLE = ("Your answer named several participants ({found}). Name exactly one of {agentlist}: "
                  "the one who should speak next. Answer with the name only, no explanation.")
RETRY_NONE = ("Your answer ({answer!r}) did not name any participant. Name exactly one of {agentlist}: "
              "the one who should speak next. Answer with the name only, no explanation.")

INTRO_MSG = ("Hello everyone. This group has been put together to work on questions and tasks as a team. "
             "The participants are:")


def participant_roles(agents: Sequence[Any]) -> str:
    """One ``name: description`` line per agent."""
    return "\n".join(f"{a.name}: {a.description}".strip() for a in agents)


def agent_list(agents: Sequence[Any]) -> str:
    return str([a.name for a in agents])


def _variants(name: str) -> list[str]:
    out = [name]
    for sep in ("_", "-"):
        if sep in name:
            out += [name.replace(sep, " "), name.replace(sep, "\\" + sep)]
    return list(dict.fromkeys(out))


_pattern_cache: dict[tuple[str, ...], tuple[re.Pattern, dict[str, str]]] = {}


def _pattern(names: tuple[str, ...]) -> tuple[re.Pattern, dict[str, str]]:
    """A regex matching any name variant (longest first), and variant -> name (both cached)."""
    entry = _pattern_cache.get(names)
    if entry is None:
        alternatives = sorted({v for n in names for v in _variants(n)}, key=len, reverse=True)
        body = "|".join(re.escape(v) for v in alternatives)
        pattern = re.compile(rf"(?<![\w-])({body})(?![\w-])", re.IGNORECASE)
        lookup = {v.lower().replace("\\", ""): n for n in names for v in _variants(n)}
        if len(_pattern_cache) > 256:
            _pattern_cache.clear()
        entry = _pattern_cache[names] = (pattern, lookup)
    return entry


def mentioned_agents(text: Any, agents: Sequence[Any]) -> dict[str, int]:
    """How often each agent is named in ``text`` (case-insensitive, whole words, ``_`` as space).

    Longer names win over names they contain ("senior coder" is not also a mention of "coder").
    """
    if isinstance(text, dict):
        text = text.get("content")
    text = content_str(text)
    if not text or not agents:
        return {}
    pattern, lookup = _pattern(tuple(a.name for a in agents))
    counts: dict[str, int] = {}
    for match in pattern.finditer(text):
        name = lookup.get(match.group(1).lower().replace("\\", ""))
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    return counts




def selection_message(m: dict[str, Any]) -> dict[str, Any]:
    """One transcript message as plain text a selection request can carry (no dangling tool calls)."""
    content = m.get("content")
    text = content if isinstance(content, str) else content_str(content)
    if m.get("tool_calls"):
        calls = ", ".join((tc.get("function") or {}).get("name", "?") for tc in m["tool_calls"])
        text = f"{text}\n[calls tools: {calls}]".strip()
    elif m.get("function_call"):
        text = f"{text}\n[calls function: {m['function_call'].get('name', '?')}]".strip()
    if m.get("tool_responses") and not text:
        text = "\n".join(content_str(t.get("content")) for t in m["tool_responses"])
    name = m.get("name")
    if is_protocol_name(name):
        return {"role": "user", "content": text, "name": name}
    return {"role": "user", "content": text}


def selection_history(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as plain text messages for a selection request."""
    return [selection_message(m) for m in messages]


# ----------------------------------------------------------------------- manual choice hook

speaker_chooser_hook = _scope.speaker_chooser_only
"""``speaker_chooser_hook(fn)`` installs ``fn(candidates, prompt) -> name`` (sync or async) for manual
selection in the block (``None``: ask on the terminal)."""
speaker_chooser = speaker_chooser_hook
"""The name :mod:`agentnb.views` looks up."""
current_speaker_chooser = _scope.speaker_chooser


def pick_from_answer(answer: Any, candidates: Sequence[Any]) -> Any | None:
    """The candidate an answer names: a 1-based number, or a name (tolerant). None if unclear/empty."""
    text = content_str(answer).strip() if answer is not None else ""
    if not text or text.lower() == "q":
        return None
    if text.isdigit():
        index = int(text)
        return candidates[index - 1] if 1 <= index <= len(candidates) else None
    exact = [c for c in candidates if c.name.lower() == text.lower()]
    if exact:
        return exact[0]
    found = mentioned_agents(text, candidates)
    if len(found) == 1:
        return next(c for c in candidates if c.name in found)
    return None


def terminal_choice(candidates: Sequence[Any]) -> Any | None:
    """AutoGen's terminal prompt: numbered candidates, up to 3 tries; None means 'choose automatically'."""
    print("Please select the next speaker from the following list:")
    for i, agent in enumerate(candidates, 1):
        print(f"{i}: {agent.name}")
    for _ in range(3):
        try:
            answer = input("Enter the number of the next speaker (enter nothing or `q` to use auto selection): ")
        except EOFError:
            return None
        if answer.strip() in ("", "q"):
            return None
        choice = pick_from_answer(answer, candidates)
        if choice is not None:
            return choice
        print(f"Invalid input. Please enter a number between 1 and {len(candidates)}.")
    print("The next speaker will be selected automatically.")
    return None

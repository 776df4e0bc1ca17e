"""``GroupChat``: the participants, the shared transcript, and who may speak after whom."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._aio import call_in_caller, run_sync
from ..errors import ConfigError, ModelError
from ..exception_utils import AgentNameConflict, NoEligibleSpeaker, UndefinedNextAgent
from ..messages import ErrorOccurred, SpeakerSelected, content_str, emit
from . import selection as sel

METHODS = ("auto", "manual", "random", "round_robin")


@dataclass
class GroupChat:
    """A group of agents taking turns; a :class:`GroupChatManager` runs it.

    >>> groupchat = GroupChat(agents=[user_proxy, coder, reviewer], messages=[], max_round=12)
    >>> manager = GroupChatManager(groupchat=groupchat, llm_config=llm_config)
    >>> user_proxy.initiate_chat(manager, message="Plot sin(x).")
    """

    agents: list[Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The shared transcript (each message carries its speaker's ``name``)."""
    max_round: int = 10
    """Messages in one chat, the opening message included."""
    admin_name: str = "Admin"
    func_call_filter: bool = True
    """After a function/tool call, only agents that can execute it are candidates."""
    speaker_selection_method: str | Callable[..., Any] = "auto"
    """``auto``, ``round_robin``, ``random``, ``manual`` or ``fn(last_speaker, groupchat) -> Agent | str | None``."""
    max_retries_for_selecting_speaker: int = 2
    allow_repeat_speaker: bool | list[Any] | None = True
    """May the last speaker speak again (True/False, or only the agents listed)?"""
    allowed_or_disallowed_speaker_transitions: dict[Any, list[Any]] | None = None
    speaker_transitions_type: str | None = None
    """``"allowed"`` or ``"disallowed"``: how to read the transitions dict."""
    send_introductions: bool = False
    """Introduce every participant to all the others before the first round."""
    select_speaker_message_template: str = sel.SELECT_SPEAKER_MESSAGE_TEMPLATE
    select_speaker_prompt_template: str | None = sel.SELECT_SPEAKER_PROMPT_TEMPLATE
    select_speaker_auto_multiple_template: str = sel.RETRY_MULTIPLE
    select_speaker_auto_none_template: str = sel.RETRY_NONE
    role_for_select_speaker_messages: str = "system"
    enable_clear_history: bool = False
    """A reply containing ``CLEAR HISTORY`` clears the agents' histories (``clear_agents_history``)."""

    DEFAULT_INTRO_MSG = sel.INTRO_MSG

    def __post_init__(self) -> None:
        from ..agents.arguments import check_group_agents, check_group_options

        check_group_agents(self.agents)
        check_group_options(self)
        self.agents = list(self.agents or [])  # an empty group is allowed until a speaker is needed (0.2)
        names = [a.name for a in self.agents]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"GroupChat agents must have distinct names; repeated: {', '.join(dupes)}")
        if self.messages is None:
            self.messages = []
        method = self.speaker_selection_method
        if not callable(method) and (not isinstance(method, str) or method.lower() not in METHODS):
            raise ConfigError(f"speaker_selection_method must be one of {', '.join(METHODS)} or a callable, "
                              f"not {method!r}")
        if isinstance(method, str):
            self.speaker_selection_method = method.lower()
        if not isinstance(self.max_round, int) or self.max_round < 1:
            raise ConfigError(f"max_round must be a positive int, not {self.max_round!r}")
        if not isinstance(self.max_retries_for_selecting_speaker, int) or self.max_retries_for_selecting_speaker < 0:
            raise ConfigError("max_retries_for_selecting_speaker must be a non-negative int")
        if self.allow_repeat_speaker is None:
            self.allow_repeat_speaker = True
        self.allowed_speaker_transitions_dict = self._build_graph()
        self._selection_cache: list[tuple[Any, Any, dict[str, Any]]] = []

    # ------------------------------------------------------------------ graph

    def _check_members(self, agents: Any, what: str) -> None:
        unknown = [getattr(a, "name", repr(a)) for a in agents if all(a is not b for b in self.agents)]
        if unknown:
            raise ConfigError(f"{what} names agents that are not in this GroupChat: {', '.join(unknown)}")

    def _build_graph(self) -> dict[Any, list[Any]]:
        repeat = self.allow_repeat_speaker
        if isinstance(repeat, list | tuple):
            self._check_members(repeat, "allow_repeat_speaker")
        elif not isinstance(repeat, bool):
            raise ConfigError("allow_repeat_speaker must be True, False or a list of agents")
        transitions = self.allowed_or_disallowed_speaker_transitions
        if transitions is None:
            if self.speaker_transitions_type is not None and self.speaker_transitions_type not in (
                    "allowed", "disallowed"):
                raise ConfigError("speaker_transitions_type must be 'allowed' or 'disallowed'")
            return {a: [b for b in self.agents if b is not a or self._may_repeat(a)] for a in self.agents}
        if isinstance(repeat, list | tuple):
            raise ConfigError("conflicting options: give either allow_repeat_speaker as a list of agents or "
                              "allowed_or_disallowed_speaker_transitions (put self-loops in the graph), not both")
        if self.speaker_transitions_type not in ("allowed", "disallowed"):
            raise ConfigError("allowed_or_disallowed_speaker_transitions needs speaker_transitions_type="
                              f"'allowed' or 'disallowed' (got {self.speaker_transitions_type!r})")
        if not isinstance(transitions, dict):
            raise ConfigError("allowed_or_disallowed_speaker_transitions must be a dict: agent -> list of agents")
        for source, targets in transitions.items():
            if not isinstance(targets, list | tuple):
                raise ConfigError(f"transitions of {getattr(source, 'name', source)!r} must be a list of agents")
        self._check_members(list(transitions), "allowed_or_disallowed_speaker_transitions")
        self._check_members([t for ts in transitions.values() for t in ts],
                            "allowed_or_disallowed_speaker_transitions")
        if self.speaker_transitions_type == "allowed":
            graph = {a: list(dict.fromkeys(transitions.get(a, []))) for a in self.agents if a in transitions}
            loops = [a.name for a, ts in graph.items() if a in ts]
            if repeat is False and loops:
                raise ConfigError("conflicting options: allow_repeat_speaker=False but the allowed transitions "
                                  f"let these agents speak twice in a row: {', '.join(loops)}")
        else:
            graph = {a: [b for b in self.agents if all(b is not t for t in transitions.get(a, []))
                         and (b is not a or repeat)] for a in self.agents}
        if self.agents and not any(graph.values()):
            raise ConfigError("the speaker transition graph has no transitions: no agent could ever speak "
                              "after another")
        return graph

    def _may_repeat(self, agent: Any) -> bool:
        repeat = self.allow_repeat_speaker
        return repeat is True or (isinstance(repeat, list | tuple) and any(agent is r for r in repeat))

    def graph_svg(self, size: int = 360) -> str:
        """The allowed transitions as a small inline SVG (agents on a circle, arrows between them)."""
        from .graph import transitions_svg

        edges = {a.name: [b.name for b in ts] for a, ts in self.allowed_speaker_transitions_dict.items()}
        return transitions_svg(self.agent_names, edges, size=size)

    def show_graph(self, size: int = 360) -> Any:
        """An object a notebook displays as the transition graph."""
        from .graph import SVGDisplay

        return SVGDisplay(self.graph_svg(size))

    # ------------------------------------------------------------------ AutoGen helpers

    @property
    def agent_names(self) -> list[str]:
        return [a.name for a in self.agents]

    def agent_by_name(self, name: str, recursive: bool = False, raise_on_name_conflict: bool = False) -> Any | None:
        """The agent called ``name`` (None if there is none); ``recursive`` also searches nested groups."""
        found = [a for a in (self.nested_agents() if recursive else self.agents) if a.name == name]
        if raise_on_name_conflict and len(found) > 1:
            raise AgentNameConflict()
        return found[0] if found else None

    def nested_agents(self) -> list[Any]:
        """The agents of this group and, recursively, of groups run by member managers."""
        agents = list(self.agents)
        for agent in self.agents:
            inner = getattr(agent, "groupchat", None)
            if isinstance(inner, GroupChat) and inner is not self:
                agents.extend(inner.nested_agents())
        return agents

    def next_agent(self, agent: Any, agents: list[Any] | None = None) -> Any:
        """The agent after ``agent`` in list order, among ``agents`` (default: all)."""
        pool = self.agents if agents is None else agents
        if not pool or any(all(p is not a for a in self.agents) for p in pool):
            raise UndefinedNextAgent()
        n = len(self.agents)
        idx = next((i for i, a in enumerate(self.agents) if a is agent), -1)
        for step in range(1, n + 1):
            candidate = self.agents[(idx + step) % n]
            if any(candidate is p for p in pool):
                return candidate
        raise UndefinedNextAgent()  # pragma: no cover

    def reset(self) -> None:
        """Forget the transcript."""
        self.messages.clear()

    def append(self, message: dict[str, Any], speaker: Any) -> None:
        """Add ``message`` to the transcript as said by ``speaker``."""
        message = dict(message)
        if message.get("role") != "function":
            message["name"] = speaker.name
        message["content"] = content_str(message.get("content")) if message.get("content") is not None else None
        self.messages.append(message)

    def introductions_msg(self, agents: list[Any] | None = None) -> str:
        return f"{self.DEFAULT_INTRO_MSG}\n\n{sel.participant_roles(agents or self.agents)}"

    def select_speaker_msg(self, agents: list[Any] | None = None) -> str:
        agents = agents or self.agents
        return self.select_speaker_message_template.format(roles=sel.participant_roles(agents),
                                                           agentlist=sel.agent_list(agents))

    def select_speaker_prompt(self, agents: list[Any] | None = None) -> str | None:
        if self.select_speaker_prompt_template is None:
            return None
        return self.select_speaker_prompt_template.format(agentlist=sel.agent_list(agents or self.agents))

    def manual_select_speaker(self, agents: list[Any] | None = None) -> Any | None:
        """Ask on the terminal (numbered list); None means "choose automatically"."""
        return sel.terminal_choice(agents or self.agents)

    async def a_manual_select_speaker(self, agents: list[Any] | None = None) -> Any | None:
        """The installed :func:`speaker_chooser_hook`, else the terminal prompt on the caller's thread."""
        agents = agents or self.agents
        chooser = sel.current_speaker_chooser()
        if chooser is None:
            return await call_in_caller(lambda: sel.terminal_choice(agents))
        from ..agents.human import maybe_await

        answer = await maybe_await(chooser([a.name for a in agents], "Who speaks next?"))
        return sel.pick_from_answer(answer, agents)

    def random_select_speaker(self, agents: list[Any] | None = None) -> Any:
        return random.choice(agents or self.agents)

    # ------------------------------------------------------------------ selection

    def candidates(self, last_speaker: Any) -> list[Any]:
        """Who may speak after ``last_speaker`` (function-call filter, repeat rule, transition graph)."""
        last = self.messages[-1] if self.messages else {}
        if self.func_call_filter and (last.get("function_call") or last.get("tool_calls")):
            names = [last["function_call"].get("name")] if last.get("function_call") else [
                (tc.get("function") or {}).get("name") for tc in last["tool_calls"]]
            able = [a for a in self.agents if _can_execute(a, names)]
            if not able:
                able = [a for a in self.agents if getattr(a, "function_map", None)]
            if able:
                return able
        if all(last_speaker is not a for a in self.agents):
            return list(self.agents)
        return list(self.allowed_speaker_transitions_dict.get(last_speaker, []))

    def _selection_history(self) -> list[dict[str, Any]]:
        """``selection_history(self.messages)``, converting only messages not seen before."""
        cache, out = self._selection_cache, []
        for i, m in enumerate(self.messages):
            if i < len(cache) and cache[i][0] is m and cache[i][1] is m.get("content"):
                out.append(cache[i][2])
                continue
            del cache[i:]
            converted = sel.selection_message(m)
            cache.append((m, m.get("content"), converted))
            out.append(converted)
        del cache[len(self.messages):]
        return out

    def select_speaker(self, last_speaker: Any, selector: Any) -> Any:
        """Choose the next speaker (``selector`` is the manager whose model ``auto`` asks)."""
        return run_sync(self.a_select_speaker(last_speaker, selector))

    async def a_select_speaker(self, last_speaker: Any, selector: Any) -> Any:
        """Choose the next speaker and emit :class:`SpeakerSelected`. Raises :class:`NoEligibleSpeaker`."""
        method: Any = self.speaker_selection_method
        if callable(method):
            from ..agents.human import maybe_await

            chosen = await maybe_await(method(last_speaker, self))
            if chosen is None:
                raise NoEligibleSpeaker("the speaker selection function returned None")
            if isinstance(chosen, str) and chosen.lower() in METHODS:
                method = chosen.lower()
            else:
                agent = self.agent_by_name(chosen) if isinstance(chosen, str) else chosen
                if agent is None or all(agent is not a for a in self.agents):
                    raise ConfigError(f"the speaker selection function returned {chosen!r}: neither an agent "
                                      f"of this GroupChat nor one of {', '.join(METHODS)}")
                emit(SpeakerSelected(speaker=agent.name, method="custom", candidates=self.agent_names))
                return agent
        if not self.agents:
            raise ConfigError("GroupChat is underpopulated with 0 agents: add agents to the GroupChat")
        candidates = self.candidates(last_speaker)
        names = [a.name for a in candidates]
        if not candidates:
            raise NoEligibleSpeaker(f"no agent may speak after {getattr(last_speaker, 'name', last_speaker)}")
        retries = 0
        if len(candidates) == 1:
            agent = candidates[0]
        elif method == "round_robin":
            agent = self.next_agent(last_speaker, candidates)
        elif method == "random":
            agent = self.random_select_speaker(candidates)
        else:
            agent = await self.a_manual_select_speaker(candidates) if method == "manual" else None
            if agent is None:
                agent, retries, method = await self._auto_select(last_speaker, selector, candidates)
        emit(SpeakerSelected(speaker=agent.name, method=method, retries=retries, candidates=names))
        return agent

    async def _auto_select(self, last_speaker: Any, selector: Any, candidates: list[Any]) -> tuple[Any, int, str]:
        """Ask ``selector``'s model; retry when the answer names zero or several candidates."""
        client = getattr(selector, "client", None)
        fallback = self.next_agent(last_speaker, candidates)
        if client is None:
            emit(ErrorOccurred(source="speaker_selection", error_type="ConfigError", fatal=False,
                               message=f"{getattr(selector, 'name', 'the manager')} has no model "
                                       "(llm_config=False); the next speaker was chosen in turn"))
            return fallback, 0, "auto-fallback"
        role = self.role_for_select_speaker_messages
        agentlist = sel.agent_list(candidates)
        messages = [{"role": "system", "content": self.select_speaker_msg(candidates)},
                    *self._selection_history()]
        prompt = self.select_speaker_prompt(candidates)
        if prompt:
            messages.append({"role": role, "content": prompt})
        for attempt in range(self.max_retries_for_selecting_speaker + 1):
            try:
                completion = await client.create(messages, stream=False)
            except ModelError as exc:
                emit(ErrorOccurred(source="speaker_selection", error_type=type(exc).__name__, fatal=False,
                                   message=f"speaker selection failed, choosing the next agent in turn: {exc}"))
                return fallback, attempt, "auto-fallback"
            answer = completion.content or ""
            found = sel.mentioned_agents(answer, candidates)
            if len(found) == 1:
                name = next(iter(found))
                return next(a for a in candidates if a.name == name), attempt, "auto"
            template = (self.select_speaker_auto_multiple_template if found
                        else self.select_speaker_auto_none_template)
            messages += [{"role": "assistant", "content": answer},
                         {"role": role, "content": _fill(template, found=", ".join(found), answer=answer,
                                                         agentlist=agentlist)}]
        return fallback, self.max_retries_for_selecting_speaker, "auto-fallback"


def _can_execute(agent: Any, names: list[str | None]) -> bool:
    check = getattr(agent, "can_execute_function", None)
    return bool(check and all(names) and check(names))


def _fill(template: str, **values: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template

"""Spec -> live objects: :func:`load_team` builds agents, tools, the group chat and its manager.

    team = load_team("team.json")
    result = team.run("Plot sin(x).")          # or: await team.a_run(...)

A spec names tools by import path (``package.module:function``); loading a spec imports those modules,
so load specs from people you trust, as you would run their code.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..messages import content_str
from .spec import DEFAULT_MODEL, AgentComponent, Endpoint, ModelComponent, TeamSpec, TerminationComponent, parse_team


@dataclass(frozen=True)
class TextMention:
    """``is_termination_msg`` that a spec can describe: the message mentions ``text``.

    ``mode="endswith"``: the message ends with ``text`` (trailing ``.``/``!`` ignored), the check most AutoGen 0.2
    notebooks set;
    ``mode="contains"`` is AutoGen 0.4's ``TextMentionTermination``.
    """

    text: str = "TERMINATE"
    mode: str = "endswith"

    def __call__(self, message: dict[str, Any]) -> bool:
        content = content_str(message.get("content") if isinstance(message, dict) else message)
        if self.mode == "contains":
            return self.text in content
        return content.rstrip().rstrip(".!").endswith(self.text)


def resolve_function(path: str) -> Callable[..., Any]:
    """Import ``package.module:qualname`` (``__main__:f`` is the notebook's namespace)."""
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise ConfigError(f"a tool is named by 'package.module:function', not {path!r}")
    try:
        module = sys.modules["__main__"] if module_name == "__main__" else importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"tool {path!r}: cannot import module {module_name!r} ({exc})") from exc
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ConfigError(f"tool {path!r}: {module_name!r} has no attribute {qualname!r}")
    if not callable(obj):
        raise ConfigError(f"tool {path!r} is not callable ({type(obj).__name__})")
    check_tool_target(path, obj)
    return obj


def check_tool_target(path: str, obj: Any) -> None:
    """A spec may name Python functions only, and none from the standard library: a shared team file must not
    hand the model ``os:system`` or ``subprocess:run`` as a "tool"."""
    module_name = path.partition(":")[0]
    from ..agents.tools import user_function

    target = user_function(obj)
    if not inspect.isfunction(target):
        raise ConfigError(f"tool {path!r} is a {type(target).__name__}, not a Python function defined in "
                          f"{module_name!r}; wrap what you need in a documented function of your own module")
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names or top == "builtins":
        raise ConfigError(f"tool {path!r} comes from the standard library ({top}); a team spec may not offer it to "
                          "the model directly: wrap what you need in a documented function of your own module")


def llm_config_for(ref: str | None, models: dict[str, ModelComponent],
                   overrides: dict[str, Any] | None = None) -> dict[str, Any] | bool | None:
    """The ``llm_config`` of a model reference: ``False`` (no model), ``None`` (the default) or a dict."""
    if ref is None:
        return False
    if overrides and ref in overrides:
        return overrides[ref]
    if ref == DEFAULT_MODEL and ref not in models:
        return None
    cfg = models[ref].config
    entries = [_entry(cfg), *(_entry(e) for e in cfg.fallbacks)]
    return {"config_list": entries, **cfg.params}


def _entry(endpoint: Endpoint) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": endpoint.model}
    for key in ("base_url", "api_type", "api_version"):
        value = getattr(endpoint, key)
        if value is not None:
            entry[key] = value
    if endpoint.price is not None:
        entry["price"] = list(endpoint.price)
    if endpoint.api_key_env:
        api_key = os.environ.get(endpoint.api_key_env)
        if api_key:
            entry["api_key"] = api_key
    return entry


def _termination(component: TerminationComponent | None) -> TextMention | None:
    if component is None:
        return None
    return TextMention(component.config.text, component.config.mode)


def build_agent(component: AgentComponent, spec: TeamSpec, overrides: dict[str, Any] | None = None) -> Any:
    """One live agent (tools are registered by :func:`load_team`, once every agent exists)."""
    from ..agents.assistant import AssistantAgent, UserProxyAgent
    from ..agents.conversable import ConversableAgent

    cls = {"assistant": AssistantAgent, "user_proxy": UserProxyAgent, "conversable": ConversableAgent}[
        component.kind]
    cfg = component.config
    kwargs: dict[str, Any] = {
        "human_input_mode": cfg.human_input_mode,
        "llm_config": llm_config_for(cfg.model, spec.config.models, overrides),
        "max_consecutive_auto_reply": cfg.max_consecutive_auto_reply,
        "default_auto_reply": cfg.default_auto_reply,
        "is_termination_msg": _termination(cfg.termination or spec.config.termination),
    }
    if cfg.system_message is not None:
        kwargs["system_message"] = cfg.system_message
    if cfg.description is not None:
        kwargs["description"] = cfg.description
    if cfg.code_execution is None:
        kwargs["code_execution_config"] = False
    else:
        code = cfg.code_execution.model_dump(exclude_none=True)
        kwargs["code_execution_config"] = code
    agent = cls(cfg.name, **kwargs)
    if cfg.tool_approval is not None:
        agent.tool_approval = cfg.tool_approval
    agent._studio_card = (component.label, component.description)  # kept for dump_team: the builder's card text
    return agent


@dataclass
class Team:
    """Live objects built from a :class:`TeamSpec`; :meth:`run` starts a chat with the team's task."""

    spec: TeamSpec
    agents: dict[str, Any]
    initiator: Any
    recipient: Any
    """The agent the initiator talks to: the pair's other agent, or the group's manager."""
    manager: Any = None
    groupchat: Any = None
    tools: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def chat_kwargs(self, task: str | None = None, **overrides: Any) -> dict[str, Any]:
        """The ``initiate_chat`` arguments the spec implies (``overrides`` win)."""
        message = task if task is not None else self.spec.config.task
        if message is None:
            raise ConfigError("no task: pass one, or set the spec's default task")
        kwargs: dict[str, Any] = {"message": message, "summary_method": self.spec.config.summary_method}
        if self.spec.config.max_turns is not None:
            kwargs["max_turns"] = self.spec.config.max_turns
        return kwargs | overrides

    async def a_run(self, task: str | None = None, **kwargs: Any) -> Any:
        """Start the chat (``initiate_chat`` arguments pass through); when history is on, it is recorded with
        this team's spec."""
        kwargs = self.chat_kwargs(task, **kwargs)
        with self.recording():
            return await self.initiator.a_initiate_chat(self.recipient, **kwargs)

    def run(self, task: str | None = None, **kwargs: Any) -> Any:
        from .._aio import run_sync

        return run_sync(self.a_run(task, **kwargs))

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Chats started inside the block are recorded with this team's spec."""
        from ._switch import run_context

        with run_context(spec=self.spec.to_json(indent=None), label=self.spec.label, source="team"):
            yield


def load_team(spec_or_path: TeamSpec | dict[str, Any] | str | Path, *,
              models: dict[str, dict[str, Any]] | None = None) -> Team:
    """Build live agents (and a GroupChat + manager for a group team) from a spec, a dict, JSON text, a path or
    a gallery name (``load_team("coder")``).

    ``models`` maps model names of the spec (``"default"`` included) to ``llm_config`` dicts used instead,
    for this load only (a test server, a local endpoint). An AutoGen Studio 0.4 team file is imported first
    (what it cannot map is reported in one warning).
    """
    spec = spec_or_path if isinstance(spec_or_path, TeamSpec) else _spec_from(spec_or_path)
    cfg = spec.config
    unknown = sorted(set(models or {}) - set(cfg.models) - {DEFAULT_MODEL})
    if unknown:
        raise ConfigError(f"models= names {', '.join(unknown)}, which the spec does not use "
                          f"(it has: {', '.join([DEFAULT_MODEL, *cfg.models])})")
    agents = {a.config.name: build_agent(a, spec, models) for a in cfg.agents}
    tools = _register_tools(spec, agents)
    initiator = agents[cfg.initiator]
    if cfg.kind == "pair":
        return Team(spec=spec, agents=agents, initiator=initiator, recipient=agents[cfg.recipient or ""],
                    tools=tools)
    from ..groupchat import GroupChat, GroupChatManager

    group = cfg.group
    assert group is not None  # validated by TeamConfig
    transitions = None
    if group.transitions is not None:
        transitions = {agents[src]: [agents[t] for t in targets] for src, targets in group.transitions.items()}
    groupchat = GroupChat(agents=[agents[m] for m in group.members], messages=[], max_round=group.max_round,
                          speaker_selection_method=group.selection_method,
                          allow_repeat_speaker=group.allow_repeat_speaker,
                          allowed_or_disallowed_speaker_transitions=transitions,
                          speaker_transitions_type=group.transitions_type if transitions is not None else None,
                          send_introductions=group.send_introductions)
    manager_kwargs: dict[str, Any] = {"llm_config": llm_config_for(group.manager.model, cfg.models, models)}
    if group.manager.system_message is not None:
        manager_kwargs["system_message"] = group.manager.system_message
    manager = GroupChatManager(groupchat, name=group.manager.name, **manager_kwargs)
    return Team(spec=spec, agents=agents, initiator=initiator, recipient=manager, manager=manager,
                groupchat=groupchat, tools=tools)


def _spec_from(source: Any) -> TeamSpec:
    from .ags import import_ags, is_ags, read_json
    from .catalog import gallery_names, gallery_spec

    if isinstance(source, str) and source in gallery_names() and not Path(source).exists():
        return gallery_spec(source)

    data = read_json(source)
    if not is_ags(data):
        return parse_team(data)
    result = import_ags(data)
    if result.skipped:
        import warnings

        from .dump import StudioCaptureWarning

        warnings.warn("AutoGen Studio import left out:\n- " + "\n- ".join(result.skipped), StudioCaptureWarning,
                      stacklevel=3)
    return result.spec


def _register_tools(spec: TeamSpec, agents: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    from ..agents.tools import register_function

    tools: dict[str, Callable[..., Any]] = {}
    for component in spec.config.agents:
        caller = agents[component.config.name]
        for ref in component.config.tools:
            func = resolve_function(ref.function)
            name = ref.name or getattr(func, "__name__", None) or ref.function.rpartition(":")[2]
            description = ref.description or inspect.getdoc(func)
            if not description:
                raise ConfigError(f"tool {ref.function!r} needs a description (in the spec or as a docstring)")
            register_function(func, caller=caller, executor=agents[ref.executor or component.config.name],
                              name=name, description=description)
            tools[name] = func
    return tools

"""Live objects -> spec: :func:`dump_team` describes agents / a GroupChatManager built in Python.

What a spec cannot hold (a lambda as ``is_termination_msg``, a custom reply function, a callable speaker
selection, a function that cannot be imported by path, an API key) is listed in :attr:`DumpResult.skipped`
and, unless ``quiet``, in one :class:`StudioCaptureWarning`; ``strict=True`` raises instead.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigError
from .build import TextMention
from .spec import (
    AGENT_PROVIDERS,
    DEFAULT_MODEL,
    AgentComponent,
    AgentConfig,
    CodeExecutionConfig,
    Endpoint,
    GroupConfig,
    ManagerConfig,
    ModelComponent,
    ModelConfig,
    TeamConfig,
    TeamSpec,
    TerminationComponent,
    TextMentionConfig,
    ToolRef,
)

_ENDPOINT_KEYS = {"model", "base_url", "api_key", "api_type", "api_version", "price"}
_PARAM_KEYS = ("temperature", "top_p", "max_tokens", "seed", "cache_seed", "timeout", "stream", "max_retries",
               "stop", "presence_penalty", "frequency_penalty", "parallel_tool_calls", "tool_choice")
_BUILTIN_REPLIES = ("generate_oai_reply", "generate_code_execution_reply", "generate_function_call_reply",
                    "generate_tool_calls_reply", "check_termination_and_human_reply", "a_run_chat")


class StudioCaptureWarning(UserWarning):
    """Parts of a live team that a spec cannot hold were left out."""


@dataclass
class DumpResult:
    spec: TeamSpec
    skipped: list[str] = field(default_factory=list)
    """One line per thing the spec could not hold, saying what was used instead."""


def dump_team(*objs: Any, initiator: Any = None, task: str | None = None, label: str | None = None,
              description: str | None = None, max_turns: int | None = None, strict: bool = False,
              quiet: bool = False) -> TeamSpec:
    """A spec for ``dump_team(user_proxy, assistant)`` (a pair: initiator first), ``dump_team(manager)``
    (a group; ``initiator=`` picks who sends the task, default its first UserProxyAgent) or a ``Team``."""
    result = describe_team(*objs, initiator=initiator, task=task, label=label, description=description,
                           max_turns=max_turns)
    if result.skipped:
        text = "the spec cannot hold:\n- " + "\n- ".join(result.skipped)
        if strict:
            raise ConfigError(text)
        if not quiet:
            warnings.warn(text, StudioCaptureWarning, stacklevel=2)
    return result.spec


def describe_team(*objs: Any, initiator: Any = None, task: str | None = None, label: str | None = None,
                  description: str | None = None, max_turns: int | None = None) -> DumpResult:
    """Like :func:`dump_team`, returning the spec and the list of what it left out."""
    from ..groupchat import GroupChat, GroupChatManager
    from .build import Team

    if len(objs) == 1 and isinstance(objs[0], Team):
        team = objs[0]
        return describe_team(team.initiator, team.recipient, task=task or team.spec.config.task,
                             label=label or team.spec.label, description=description or team.spec.description,
                             max_turns=max_turns or team.spec.config.max_turns)
    if len(objs) == 1 and isinstance(objs[0], GroupChat):
        raise ConfigError("dump_team needs the GroupChatManager (it holds the manager's model), not the GroupChat")
    dumper = _Dumper()
    managers = [o for o in objs if isinstance(o, GroupChatManager)]
    if managers:
        if len(managers) != 1 or len(objs) > 2:
            raise ConfigError("dump_team takes one GroupChatManager (and optionally its initiator)")
        manager = managers[0]
        others = [o for o in objs if o is not manager]
        initiator = initiator or (others[0] if others else None)
        config = dumper.group(manager, initiator)
    else:
        if len(objs) != 2:
            raise ConfigError("dump_team takes two agents (initiator first), a GroupChatManager, or a Team")
        first, second = objs
        config = {"kind": "pair", "agents": [dumper.agent(first), dumper.agent(second)],
                  "initiator": first.name, "recipient": second.name}
    config["models"] = dumper.models
    config["task"] = task
    config["max_turns"] = max_turns
    _hoist_termination(config)
    _tools(dumper, config, [*objs, initiator])
    spec = TeamSpec(label=label, description=description, config=TeamConfig.model_validate(config))
    return DumpResult(spec=spec, skipped=dumper.skipped)


class _Dumper:
    def __init__(self) -> None:
        self.models: dict[str, ModelComponent] = {}
        self.skipped: list[str] = []
        self.live: dict[str, Any] = {}

    # -- models
    def model_ref(self, owner: str, llm_config: Any) -> str | None:
        if llm_config is False:
            return None
        if llm_config is None:
            return DEFAULT_MODEL
        entries = list(llm_config.get("config_list") or [])
        if not entries:
            entries = [{k: v for k, v in llm_config.items() if k in _ENDPOINT_KEYS}]
        endpoints = [self._endpoint(owner, e) for e in entries]
        params = {k: llm_config[k] for k in _PARAM_KEYS if k in llm_config}
        other = sorted(k for k in llm_config if k not in _PARAM_KEYS and k not in _ENDPOINT_KEYS
                       and k not in ("config_list", "tools", "functions"))
        if other:
            self.skipped.append(f"{owner}: llm_config keys {', '.join(other)} (not in the spec; left out)")
        config = ModelConfig(**endpoints[0].model_dump(), params=params, fallbacks=endpoints[1:])
        for name, existing in self.models.items():
            if existing.config == config:
                return name
        name = _unique(config.model.replace("/", "_"), self.models)
        self.models[name] = ModelComponent(label=name, config=config)
        return name

    def _endpoint(self, owner: str, entry: dict[str, Any]) -> Endpoint:
        key = entry.get("api_key")
        key_env: str | None = "OPENAI_API_KEY" if entry.get("api_type") not in ("embedded",) else None
        if key:
            found = _env_holding(key)
            if found:
                key_env = found
            else:
                self.skipped.append(f"{owner}: the api_key of model {entry.get('model')!r} is never written to a "
                                    f"spec; it will be read from ${key_env} (edit api_key_env to change that)")
        price = entry.get("price")
        return Endpoint(model=entry.get("model") or "unknown", base_url=entry.get("base_url"), api_key_env=key_env,
                        api_type=entry.get("api_type"), api_version=entry.get("api_version"),
                        price=tuple(price) if price else None)

    # -- agents
    def agent(self, agent: Any) -> AgentComponent:
        from ..agents.assistant import AssistantAgent, UserProxyAgent
        from ..agents.conversable import ConversableAgent, default_is_termination_msg

        if not isinstance(agent, ConversableAgent):
            raise ConfigError(f"dump_team describes ConversableAgent-based agents, not {type(agent).__name__}")
        name = agent.name
        self.live[name] = agent
        kind = ("assistant" if isinstance(agent, AssistantAgent) else
                "user_proxy" if isinstance(agent, UserProxyAgent) else "conversable")
        if type(agent) not in (AssistantAgent, UserProxyAgent, ConversableAgent):
            self.skipped.append(f"{name}: class {type(agent).__qualname__} (recorded as its base, {kind})")
        system, description = _defaults_left_out(agent, kind)
        termination = None
        check = agent.is_termination_msg
        if isinstance(check, TextMention):
            mention = TextMentionConfig.model_validate({"text": check.text, "mode": check.mode})
            termination = TerminationComponent(config=mention)
        elif check is not default_is_termination_msg:
            self.skipped.append(f"{name}: is_termination_msg {_describe(check)} (the default check, a message "
                                "ending in TERMINATE, is used instead; use agentnb.studio.TextMention to keep it)")
        extra = [f["reply_func"] for f in agent.reply_func_list
                 if getattr(f["reply_func"], "__name__", "") not in _BUILTIN_REPLIES]
        if extra:
            self.skipped.append(f"{name}: registered reply functions {', '.join(map(_describe, extra))}")
        hooks = [h for hs in agent.hook_lists.values() for h in hs]
        if hooks:
            self.skipped.append(f"{name}: hooks {', '.join(map(_describe, hooks))}")
        auto_reply = agent.default_auto_reply
        if not isinstance(auto_reply, str):
            self.skipped.append(f"{name}: a dict default_auto_reply (an empty one is used)")
            auto_reply = ""
        approval = getattr(agent, "tool_approval", None)
        tool_approval = "always" if approval is True else approval if approval in ("never", "first", "always") \
            else None
        limit = agent.max_consecutive_auto_reply()
        config = AgentConfig.model_validate(dict(  # validated: the agent's modes are plain strings
            name=name, system_message=system, description=description,
            model=self.model_ref(name, agent.llm_config), human_input_mode=agent.human_input_mode,
            max_consecutive_auto_reply=None if limit == agent.MAX_CONSECUTIVE_AUTO_REPLY else limit,
            default_auto_reply=auto_reply, code_execution=self.code_execution(agent),
            tool_approval=tool_approval, termination=termination))
        label, card = getattr(agent, "_studio_card", (name, None))
        return AgentComponent(provider=AGENT_PROVIDERS[kind], label=label, description=card, config=config)

    def code_execution(self, agent: Any) -> CodeExecutionConfig | None:
        from ..coding.local import LocalCommandLineExecutor

        cfg = agent.code_execution_config
        if cfg is False or cfg is None:
            return None
        name = agent.name
        executor = cfg.get("executor", "kernel")
        kind: Literal["kernel", "local"]
        if isinstance(executor, str):
            kind = "local" if executor in ("local", "commandline-local") else "kernel"
        else:
            kind = "local" if isinstance(executor, LocalCommandLineExecutor) else "kernel"
            self.skipped.append(f"{name}: the executor object {type(executor).__name__} (a new {kind} executor "
                                "is made from the spec; its own settings are not kept)")
        if cfg.get("use_docker"):
            self.skipped.append(f"{name}: use_docker={cfg['use_docker']!r} (the spec runs code in a {kind} "
                                "executor)")
        if cfg.get("env"):
            self.skipped.append(f"{name}: code_execution_config['env'] (values may be secrets; left out)")
        return CodeExecutionConfig(executor=kind, work_dir=_str_or_none(cfg.get("work_dir")),
                                   timeout=cfg.get("timeout"), last_n_messages=cfg.get("last_n_messages", "auto"),
                                   kernel_name=cfg.get("kernel_name"), approval=cfg.get("approval", "never"))

    # -- group
    def group(self, manager: Any, initiator: Any) -> dict[str, Any]:
        from ..agents.assistant import UserProxyAgent

        gc = manager.groupchat
        members = list(gc.agents)
        if initiator is None:
            initiator = next((a for a in members if isinstance(a, UserProxyAgent)), members[0])
        agents = [self.agent(a) for a in members]
        if all(initiator is not a for a in members):
            agents.insert(0, self.agent(initiator))
        method = gc.speaker_selection_method
        if callable(method):
            self.skipped.append(f"speaker_selection_method {_describe(method)} (round_robin is used instead)")
            method = "round_robin"
        repeat = gc.allow_repeat_speaker
        if isinstance(repeat, list | tuple):
            self.skipped.append("allow_repeat_speaker as a list of agents (True is used instead)")
            repeat = True
        transitions = None
        if gc.allowed_or_disallowed_speaker_transitions is not None:
            transitions = {a.name: [b.name for b in bs]
                           for a, bs in gc.allowed_or_disallowed_speaker_transitions.items()}
        manager_model = self.model_ref(manager.name, manager.llm_config)
        group = GroupConfig(members=[a.name for a in members], selection_method=method, max_round=gc.max_round,
                            allow_repeat_speaker=repeat, transitions=transitions,
                            transitions_type=gc.speaker_transitions_type or "allowed",
                            send_introductions=gc.send_introductions,
                            manager=ManagerConfig(name=manager.name, model=manager_model,
                                                  system_message=None if manager.system_message ==
                                                  "Group chat manager." else manager.system_message))
        return {"kind": "group", "agents": agents, "initiator": initiator.name, "group": group}


def _tools(dumper: _Dumper, config: dict[str, Any], roots: list[Any]) -> None:
    """Tools: each function a model is offered, with the agent that runs it, by import path."""
    live = dumper.live
    for component in config["agents"]:
        agent = live[component.config.name]
        refs = []
        for schema in agent.tools:
            fn = schema.get("function", {})
            tool_name = fn.get("name")
            executors = [a for a in live.values() if tool_name in a.function_map]
            executor = next((a for a in executors if a is not agent), executors[0] if executors else None)
            if executor is None:
                dumper.skipped.append(f"{agent.name}: tool {tool_name!r} has no agent that runs it")
                continue
            func = executor.function_map[tool_name]
            path = import_path(func)
            if path is None:
                dumper.skipped.append(f"{agent.name}: tool {tool_name!r} ({_describe(func)}) cannot be imported "
                                      "by path; define it in a module (or the notebook) under its own name")
                continue
            target = getattr(func, "__wrapped__", func)
            text = fn.get("description")
            refs.append(ToolRef(function=path, name=None if tool_name == target.__name__ else tool_name,
                                description=None if text == inspect.getdoc(target) else text,
                                executor=None if executor is agent else executor.name))
        component.config.tools = refs


def import_path(func: Any) -> str | None:
    """``module:qualname`` if importing it gives back ``func`` (or what ``func`` wraps), else None."""
    from ..agents.tools import user_function
    from .build import resolve_function

    target = user_function(func)
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    path = f"{module}:{qualname}"
    if module != "__main__" and module not in sys.modules:
        return None
    try:
        found = resolve_function(path)
    except ConfigError:
        return None
    found = user_function(found)
    return path if found is target else None


def _defaults_left_out(agent: Any, kind: str) -> tuple[str | None, str | None]:
    """(system message, description), each None when it is what the class would give by itself."""
    from ..agents.assistant import DEFAULT_DESCRIPTION, DEFAULT_SYSTEM_MESSAGE, UserProxyAgent

    system, description = agent.system_message, agent.description
    if kind == "assistant":
        from ..llm.local import LOCAL_CODER_SYSTEM_MESSAGE

        default_system = system in (DEFAULT_SYSTEM_MESSAGE, LOCAL_CODER_SYSTEM_MESSAGE)
        implied = DEFAULT_DESCRIPTION if default_system else system
    elif kind == "user_proxy":
        default_system = system == ""
        implied = UserProxyAgent.DEFAULT_USER_PROXY_AGENT_DESCRIPTIONS.get(agent.human_input_mode, "")
    else:
        default_system = system == "You are a helpful AI Assistant."
        implied = system
    return (None if default_system else system), (None if description == implied else description)


def _hoist_termination(config: dict[str, Any]) -> None:
    """When every agent has the same termination, write it once at team level."""
    agents = config["agents"]
    first = agents[0].config.termination
    if first is not None and all(a.config.termination == first for a in agents):
        config["termination"] = first
        for a in agents:
            a.config.termination = None


def _env_holding(secret: str) -> str | None:
    names = sorted(k for k, v in os.environ.items() if v == secret)
    return next((n for n in names if "KEY" in n.upper()), names[0] if names else None)


def _unique(base: str, taken: dict[str, Any]) -> str:
    name, n = base or "model", 2
    while name in taken or name == DEFAULT_MODEL:
        name, n = f"{base}_{n}", n + 1
    return name


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _describe(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or type(obj).__name__
    return "a lambda" if name.endswith("<lambda>") else repr(name)

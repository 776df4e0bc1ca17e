"""Import AutoGen Studio 0.4 team JSON (``team.dump_component()``) into an agentnb team spec.

Mapped: ``AssistantAgent``, ``UserProxyAgent`` (a person: ``human_input_mode="ALWAYS"``), ``CodeExecutorAgent``
(runs code blocks, approval ``always``), ``RoundRobinGroupChat`` -> ``round_robin``, ``SelectorGroupChat`` ->
``auto`` (its model becomes the manager's), ``MaxMessageTermination`` -> ``max_round`` / ``max_turns``,
``TextMentionTermination`` (``contains`` mode), ``OrTerminationCondition`` of those, OpenAI and Azure OpenAI
model clients (the key is dropped: only ``api_key_env`` is kept). Everything else is listed in
:attr:`ImportResult.skipped`. Tools given as source code are never executed: they are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .spec import (
    AgentComponent,
    AgentConfig,
    AgentProvider,
    CodeExecutionConfig,
    GroupConfig,
    ManagerConfig,
    ModelComponent,
    ModelConfig,
    SelectionMethod,
    TeamConfig,
    TeamSpec,
    TerminationComponent,
    TextMentionConfig,
)

_TEAMS: dict[str, SelectionMethod] = {"RoundRobinGroupChat": "round_robin", "SelectorGroupChat": "auto"}
_AGENTS = {"AssistantAgent", "UserProxyAgent", "CodeExecutorAgent"}
_CLIENTS = {"OpenAIChatCompletionClient", "AzureOpenAIChatCompletionClient"}
_MODEL_PARAMS = ("temperature", "top_p", "max_tokens", "seed", "timeout", "max_retries", "stop",
                 "presence_penalty", "frequency_penalty")
_IGNORED_AGENT_KEYS = {"name", "model_client", "system_message", "description", "tools", "model_context",
                       "model_client_stream", "reflect_on_tool_use", "tool_call_summary_format", "handoffs",
                       "metadata", "input_func", "code_executor", "sources"}
_INITIATOR = "user"


@dataclass
class ImportResult:
    spec: TeamSpec
    skipped: list[str] = field(default_factory=list)
    """One line per part of the AutoGen Studio file that has no agentnb equivalent."""


def is_ags(data: Any) -> bool:
    """True for an AutoGen Studio / AgentChat component (``provider`` from an ``autogen_*`` package)."""
    return isinstance(data, dict) and str(data.get("provider", "")).startswith("autogen_")


def import_ags(source: dict[str, Any] | str | Path) -> ImportResult:
    """Convert an AutoGen Studio 0.4 team (a dict, JSON text or a path) to a :class:`TeamSpec`."""
    data = read_json(source)
    if not is_ags(data) or data.get("component_type") != "team":
        raise ConfigError("not an AutoGen Studio team: expected a component with component_type 'team' and an "
                          f"autogen_* provider, got provider {data.get('provider')!r}")
    return _Importer().team(data)


def read_json(source: Any) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    text = str(source)
    if isinstance(source, Path) or not text.lstrip().startswith("{"):
        text = Path(source).read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ConfigError("an AutoGen Studio team file holds one JSON object")
    return data


def _short(provider: Any) -> str:
    return str(provider or "").rsplit(".", 1)[-1]


class _Importer:
    def __init__(self) -> None:
        self.skipped: list[str] = []
        self.models: dict[str, ModelComponent] = {}

    def team(self, data: dict[str, Any]) -> ImportResult:
        kind = _short(data.get("provider"))
        cfg = dict(data.get("config") or {})
        method = _TEAMS.get(kind)
        if method is None:
            self.skipped.append(f"team type {kind} (imported as round_robin)")
            method = "round_robin"
        agents = [a for a in (self.agent(p) for p in cfg.get("participants") or []) if a is not None]
        if not agents:
            raise ConfigError("the AutoGen Studio team has no participant agentnb can import")
        manager_model = None
        if method == "auto":
            manager_model = self.model("manager", cfg.get("model_client"))
            if manager_model is None:
                self.skipped.append("SelectorGroupChat without an OpenAI model_client (imported as round_robin)")
                method = "round_robin"
        text, max_messages = self.termination(cfg.get("termination_condition"))
        for key in sorted(set(cfg) - {"participants", "termination_condition", "model_client",
                                      "emit_team_events", "allow_repeated_speaker", "max_turns"}):
            self.skipped.append(f"team option {key}")
        # AGS sends the task as "user", who is not a participant; in agentnb someone sends it to the manager
        names = [a.config.name for a in agents]
        people = [a for a in agents if a.kind == "user_proxy" and a.config.human_input_mode == "ALWAYS"]
        if people:
            initiator = people[0].config.name
        else:
            initiator = _unique(_INITIATOR, names)
            agents.insert(0, AgentComponent(provider="agentnb.UserProxyAgent", label=initiator,
                                            description="sends the task (AutoGen Studio's user)",
                                            config=AgentConfig(name=initiator, human_input_mode="NEVER",
                                                               max_consecutive_auto_reply=0)))
        max_round = max_messages or cfg.get("max_turns") or 10
        group = GroupConfig(members=names, selection_method=method, max_round=max_round,
                            allow_repeat_speaker=bool(cfg.get("allow_repeated_speaker", method != "auto")),
                            manager=ManagerConfig(model=manager_model))
        termination = None
        if text is not None:
            termination = TerminationComponent(config=TextMentionConfig(text=text, mode="contains"))
        config = TeamConfig(kind="group", models=self.models, agents=agents, initiator=initiator, group=group,
                            termination=termination)
        spec = TeamSpec(label=data.get("label"), description=data.get("description"), config=config)
        return ImportResult(spec=spec, skipped=self.skipped)

    def agent(self, data: dict[str, Any]) -> AgentComponent | None:
        kind = _short(data.get("provider"))
        cfg = dict(data.get("config") or {})
        name = str(cfg.get("name") or kind)
        if kind not in _AGENTS:
            self.skipped.append(f"agent {name!r} of type {kind} (left out)")
            return None
        for key in sorted(set(cfg) - _IGNORED_AGENT_KEYS):
            self.skipped.append(f"agent {name!r}: option {key}")
        for tool in cfg.get("tools") or []:
            tool_cfg = tool.get("config") or {}
            self.skipped.append(f"agent {name!r}: tool {tool_cfg.get('name') or _short(tool.get('provider'))!r} "
                                "(AutoGen Studio stores tools as source code, which is never executed on import; "
                                "add it by import path)")
        if cfg.get("handoffs"):
            self.skipped.append(f"agent {name!r}: handoffs")
        if cfg.get("reflect_on_tool_use"):
            self.skipped.append(f"agent {name!r}: reflect_on_tool_use")
        context = _short((cfg.get("model_context") or {}).get("provider"))
        if context and context != "UnboundedChatCompletionContext":
            self.skipped.append(f"agent {name!r}: model_context {context} (the whole history is sent)")
        description = cfg.get("description")
        provider: AgentProvider
        if kind == "AssistantAgent":
            model = self.model(name, cfg.get("model_client"))
            config = AgentConfig(name=name, system_message=cfg.get("system_message"), description=description,
                                 model=model, human_input_mode="NEVER")
            provider = "agentnb.AssistantAgent"
        elif kind == "UserProxyAgent":
            config = AgentConfig(name=name, description=description, human_input_mode="ALWAYS")
            provider = "agentnb.UserProxyAgent"
        else:
            config = AgentConfig(name=name, description=description, human_input_mode="NEVER",
                                 code_execution=CodeExecutionConfig(approval="always"))
            provider = "agentnb.UserProxyAgent"
            self.skipped.append(f"agent {name!r}: its code executor (code runs in an agentnb kernel, approval "
                                "'always')")
        return AgentComponent(provider=provider, label=data.get("label") or name, config=config)

    def model(self, owner: str, data: Any) -> str | None:
        if not isinstance(data, dict):
            return None
        kind = _short(data.get("provider"))
        cfg = dict(data.get("config") or {})
        if kind not in _CLIENTS:
            self.skipped.append(f"{owner}: model client {kind} (the agent has no model)")
            return None
        if cfg.get("api_key"):
            self.skipped.append(f"{owner}: the api_key in the file (never stored; read from $OPENAI_API_KEY)")
        entry: dict[str, Any] = {"model": cfg.get("model") or "gpt-4o-mini", "base_url": cfg.get("base_url"),
                                 "api_key_env": "OPENAI_API_KEY"}
        if kind == "AzureOpenAIChatCompletionClient":
            entry.update(api_type="azure", base_url=cfg.get("azure_endpoint"), api_version=cfg.get("api_version"),
                         api_key_env="AZURE_OPENAI_API_KEY", model=cfg.get("azure_deployment") or entry["model"])
        params = {k: cfg[k] for k in _MODEL_PARAMS if cfg.get(k) is not None}
        extra = sorted(set(cfg) - set(_MODEL_PARAMS) - {"model", "base_url", "api_key", "azure_endpoint",
                                                        "api_version", "azure_deployment", "model_info",
                                                        "model_capabilities"})
        if extra:
            self.skipped.append(f"{owner}: model options {', '.join(extra)}")
        config = ModelConfig(**entry, params=params)
        for name, existing in self.models.items():
            if existing.config == config:
                return name
        name = _unique(config.model.replace("/", "_"), list(self.models))
        self.models[name] = ModelComponent(label=name, config=config)
        return name

    def termination(self, data: Any) -> tuple[str | None, int | None]:
        """(text to mention, max messages) from a termination condition tree."""
        if not isinstance(data, dict):
            return None, None
        kind = _short(data.get("provider"))
        cfg = data.get("config") or {}
        if kind == "TextMentionTermination":
            return str(cfg.get("text") or "TERMINATE"), None
        if kind == "MaxMessageTermination":
            return None, int(cfg.get("max_messages") or 10)
        if kind in ("OrTerminationCondition", "AndTerminationCondition"):
            if kind == "AndTerminationCondition":
                self.skipped.append("AndTerminationCondition (imported as 'either condition ends the chat')")
            text, limit = None, None
            for sub in cfg.get("conditions") or []:
                t, m = self.termination(sub)
                if t is not None and text is not None and t != text:
                    self.skipped.append(f"TextMentionTermination {t!r} (only {text!r} is kept)")
                text = text if text is not None else t
                limit = min(x for x in (limit, m) if x is not None) if (limit or m) else None
            return text, limit
        self.skipped.append(f"termination condition {kind}")
        return None, None


def _unique(base: str, taken: list[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name

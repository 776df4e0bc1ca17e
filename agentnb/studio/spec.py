"""The declarative team spec: versioned pydantic models in AutoGen Studio's component envelope.

Every part is a component ``{"provider", "component_type", "version", "config", "label", "description"}``::

    {"provider": "agentnb.Team", "component_type": "team", "version": 1, "label": "Coder",
     "config": {"kind": "pair", "initiator": "user_proxy", "recipient": "assistant",
                "models": {"gpt": {... "config": {"model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}}},
                "agents": [{"provider": "agentnb.AssistantAgent", ...}, ...], "task": "Plot sin(x)."}}

Keys are never stored: a model names the environment variable to read its key from (``api_key_env``).
The JSON Schema of :class:`TeamSpec` ships as ``agentnb/studio/team.schema.json`` (see :func:`json_schema`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..messages import NAME_PATTERN

SPEC_VERSION: Literal[1] = 1
"""The version of the spec format written by this agentnb (``version`` of every component)."""

DEFAULT_MODEL = "default"
"""The model reference meaning agentnb's default model (``llm_config=None``: env key or embedded model)."""

SCHEMA_PATH = Path(__file__).with_name("team.schema.json")

AgentProvider = Literal["agentnb.AssistantAgent", "agentnb.UserProxyAgent", "agentnb.ConversableAgent"]
SelectionMethod = Literal["auto", "round_robin", "random", "manual"]

AGENT_PROVIDERS: dict[str, AgentProvider] = {
    "assistant": "agentnb.AssistantAgent",
    "user_proxy": "agentnb.UserProxyAgent",
    "conversable": "agentnb.ConversableAgent",
}
"""Agent kind -> provider string."""

SELECTION_METHODS = ("auto", "round_robin", "random", "manual")
HUMAN_INPUT_MODES = ("ALWAYS", "TERMINATE", "NEVER")
APPROVALS = ("never", "first", "always")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _Component(_Strict):
    provider: str
    """What builds this component (``agentnb.AssistantAgent``...)."""
    component_type: str
    version: Literal[1] = SPEC_VERSION
    """The spec format version (one today; a newer file is refused with a clear error)."""
    label: str | None = None
    """A short display name."""
    description: str | None = None


# ------------------------------------------------------------------ models


class Endpoint(_Strict):
    """One OpenAI-protocol endpoint (a ``config_list`` entry without its key)."""

    model: str = Field(min_length=1)
    """The model name the endpoint knows (``gpt-4o-mini``, ``llama3``...)."""
    base_url: str | None = None
    """``None``: the provider's default (OpenAI)."""
    api_key_env: str | None = "OPENAI_API_KEY"
    """The environment variable holding the key; the key itself is never written to a spec."""
    api_type: str | None = None
    """``openai`` (default), ``azure``, ``embedded``..."""
    api_version: str | None = None
    price: tuple[float, float] | None = None
    """USD per 1,000 prompt and completion tokens, for servers the price table does not know."""


class ModelConfig(Endpoint):
    params: dict[str, Any] = Field(default_factory=dict)
    """Other ``llm_config`` keys (``temperature``, ``cache_seed``, ``timeout``, ``max_tokens``...)."""
    fallbacks: list[Endpoint] = Field(default_factory=list)
    """Further ``config_list`` entries, tried in order when the first one fails."""


class ModelComponent(_Component):
    provider: Literal["agentnb.OpenAIModel"] = "agentnb.OpenAIModel"
    component_type: Literal["model"] = "model"
    config: ModelConfig


# ------------------------------------------------------------------ termination


class TextMentionConfig(_Strict):
    text: str = Field(default="TERMINATE", min_length=1)
    mode: Literal["endswith", "contains"] = "endswith"
    """``endswith`` (trailing ``.``/``!`` ignored) or ``contains`` (AutoGen 0.4's TextMentionTermination)."""


class TerminationComponent(_Component):
    """A message that ends the chat when it mentions ``text``."""

    provider: Literal["agentnb.TextMentionTermination"] = "agentnb.TextMentionTermination"
    component_type: Literal["termination"] = "termination"
    config: TextMentionConfig = Field(default_factory=TextMentionConfig)


# ------------------------------------------------------------------ agents


class CodeExecutionConfig(_Strict):
    """Running the code blocks an agent receives."""

    executor: Literal["kernel", "local"] = "kernel"
    """``kernel``: a persistent Jupyter kernel; ``local``: a subprocess per block."""
    work_dir: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    last_n_messages: int | Literal["auto"] = "auto"
    kernel_name: str | None = None
    approval: Literal["never", "first", "always"] = "always"
    """Ask a person before running code: every block, the first one per chat, or never."""


class ToolRef(_Strict):
    """A Python function offered to this agent's model, found by import path (``package.module:function``)."""

    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    name: str | None = None
    """The tool name the model sees (default: the function's name)."""
    description: str | None = None
    """Default: the function's docstring."""
    executor: str | None = None
    """The agent that runs the call (default: the agent itself)."""


class AgentConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    system_message: str | None = None
    """``None``: the agent class's default."""
    description: str | None = None
    model: str | None = None
    """A key of the team's ``models``, ``"default"`` (agentnb's default model), or ``None``: no model."""
    human_input_mode: Literal["ALWAYS", "TERMINATE", "NEVER"] = "NEVER"
    max_consecutive_auto_reply: int | None = Field(default=None, ge=0)
    default_auto_reply: str = ""
    code_execution: CodeExecutionConfig | None = None
    """``None``: this agent never runs code."""
    tool_approval: Literal["never", "first", "always"] | None = None
    """Approval for tool calls this agent runs (``None``: follow ``code_execution.approval``)."""
    tools: list[ToolRef] = Field(default_factory=list)
    termination: TerminationComponent | None = None
    """When this agent treats a received message as the end (``None``: the team's, else the class default)."""


class AgentComponent(_Component):
    provider: AgentProvider
    component_type: Literal["agent"] = "agent"
    config: AgentConfig

    @property
    def kind(self) -> str:
        return next(k for k, p in AGENT_PROVIDERS.items() if p == self.provider)


# ------------------------------------------------------------------ team


class ManagerConfig(_Strict):
    name: str = Field(default="chat_manager", pattern=NAME_PATTERN)
    model: str | None = None
    """The manager's model (needed by ``selection_method="auto"``)."""
    system_message: str | None = None


class GroupConfig(_Strict):
    members: list[str] = Field(min_length=1)
    """The agents of the group, in order (round robin follows it)."""
    selection_method: SelectionMethod = "auto"
    max_round: int = Field(default=10, ge=1)
    allow_repeat_speaker: bool = True
    transitions: dict[str, list[str]] | None = None
    """Speaker graph: agent -> agents that may (or may not) speak after it."""
    transitions_type: Literal["allowed", "disallowed"] = "allowed"
    send_introductions: bool = False
    manager: ManagerConfig = Field(default_factory=ManagerConfig)


class TeamConfig(_Strict):
    kind: Literal["pair", "group"]
    """``pair``: ``initiator`` chats with ``recipient``; ``group``: ``initiator`` chats with a GroupChatManager."""
    models: dict[str, ModelComponent] = Field(default_factory=dict)
    agents: list[AgentComponent] = Field(min_length=1)
    initiator: str
    """The agent that sends the task."""
    recipient: str | None = None
    """For ``pair``: the agent it talks to."""
    group: GroupConfig | None = None
    """For ``group``."""
    termination: TerminationComponent | None = None
    """For every agent without its own ``termination``."""
    max_turns: int | None = Field(default=None, ge=1)
    """For ``pair``: stop after this many exchanges."""
    summary_method: Literal["last_msg", "reflection_with_llm"] | None = "last_msg"
    task: str | None = None
    """The default task (the builder's task box starts with it)."""

    @model_validator(mode="after")
    def _references(self) -> TeamConfig:
        names = [a.config.name for a in self.agents]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"agent names must be distinct; repeated: {', '.join(dupes)}")

        def known(name: str, where: str) -> None:
            if name not in names:
                raise ValueError(f"{where} names {name!r}, which is not one of the agents ({', '.join(names)})")

        known(self.initiator, "initiator")
        for agent in self.agents:
            ref = agent.config.model
            if ref is not None and ref != DEFAULT_MODEL and ref not in self.models:
                raise ValueError(f"agent {agent.config.name!r} uses model {ref!r}, which is not in models")
            if agent.config.tools and ref is None:
                raise ValueError(f"agent {agent.config.name!r} offers tools to its model but has no model: choose "
                                 "one, or give the tools to an agent with a model (this agent can run them)")
            for tool in agent.config.tools:
                if tool.executor is not None:
                    known(tool.executor, f"tool {tool.function!r} of {agent.config.name!r}: executor")
        if self.kind == "pair":
            if self.recipient is None:
                raise ValueError("a pair team needs a recipient")
            known(self.recipient, "recipient")
            if self.recipient == self.initiator:
                raise ValueError("initiator and recipient must be two different agents")
            if self.group is not None:
                raise ValueError("a pair team has no group (use kind='group')")
        else:
            if self.group is None:
                raise ValueError("a group team needs a group")
            if self.recipient is not None:
                raise ValueError("a group team has no recipient: the initiator talks to the manager")
            for member in self.group.members:
                known(member, "group.members")
            for source, targets in (self.group.transitions or {}).items():
                for name in [source, *targets]:
                    if name not in self.group.members:
                        raise ValueError(f"group.transitions names {name!r}, which is not a group member")
            ref = self.group.manager.model
            if ref is not None and ref != DEFAULT_MODEL and ref not in self.models:
                raise ValueError(f"the manager uses model {ref!r}, which is not in models")
            if self.group.selection_method == "auto" and ref is None:
                raise ValueError("selection_method 'auto' needs group.manager.model (the manager's model picks "
                                 "the next speaker); or choose round_robin, random or manual")
        return self


class TeamSpec(_Component):
    """A whole team: agents, models, how they talk, when they stop, and a default task."""

    provider: Literal["agentnb.Team"] = "agentnb.Team"
    component_type: Literal["team"] = "team"
    config: TeamConfig

    def agent(self, name: str) -> AgentComponent:
        for agent in self.config.agents:
            if agent.config.name == name:
                return agent
        raise KeyError(name)

    def to_json(self, **kwargs: Any) -> str:
        """The spec as JSON text (every field written, so a file reads without knowing the defaults)."""
        return json.dumps(self.to_dict(), indent=kwargs.pop("indent", 2), **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a team spec file (what ``team.schema.json`` holds)."""
    schema = TeamSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://agentnb.dev/schema/team-v{SPEC_VERSION}.json"
    schema["title"] = "agentnb team spec"
    return schema


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the published schema file from the models."""
    path.write_text(json.dumps(json_schema(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def parse_team(data: Any) -> TeamSpec:
    """Validate a dict / JSON text / path as a team spec (pydantic ``ValidationError`` names the field)."""
    if isinstance(data, TeamSpec):
        return data
    if isinstance(data, Path) or (isinstance(data, str) and not data.lstrip().startswith("{")):
        data = Path(data).read_text(encoding="utf-8")
    if isinstance(data, str | bytes):
        data = json.loads(data)
    if isinstance(data, dict):
        version = data.get("version", SPEC_VERSION)
        if isinstance(version, int) and version > SPEC_VERSION:
            from ..errors import ConfigError

            raise ConfigError(f"this team spec has version {version}; this agentnb reads up to version "
                              f"{SPEC_VERSION}: upgrade agentnb")
    return TeamSpec.model_validate(data)

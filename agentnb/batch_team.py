"""The minimal team spec of batch runs: JSON in, fresh agents out (see :mod:`agentnb.batch` for the format).

API keys never go in the spec, only the names of the environment variables holding them; a spec
with an ``api_key`` (or a token, password, secret) anywhere is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

_SECRET_FIELDS = {"api_key", "auth_token", "token", "password", "secret"}
_LOCAL_KERNEL = ("jupyter", "ipykernel", "kernel")


@dataclass
class Team:
    """The agents of one task, and the executors the batch made for them (it closes them)."""

    initiator: Any
    recipient: Any
    chat_kwargs: dict[str, Any]
    executors: list[Any] = field(default_factory=list)


def load_team(team: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
    """The team spec from a JSON path or a dict, checked (no keys in it, names that resolve)."""
    try:  # a copy (the caller's dict is not changed), and proof that it is plain JSON
        spec = json.loads(Path(team).read_text() if isinstance(team, str | os.PathLike) else json.dumps(team))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the team spec is not valid JSON: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("agents"), list) or not spec["agents"]:
        raise ConfigError("the team spec needs a non-empty 'agents' list")
    _refuse_secrets(spec, "team")
    names = [n for a in spec["agents"] if isinstance(a, dict) and isinstance(n := a.get("name"), str) and n]
    if len(names) != len(spec["agents"]):
        raise ConfigError("every agent in the team spec needs a 'name'")
    chat = spec.setdefault("chat", {"type": "pair"})
    if chat.get("type", "pair") not in ("pair", "group"):
        raise ConfigError(f"chat.type must be 'pair' or 'group', not {chat.get('type')!r}")
    for key in ("initiator", "recipient"):
        if chat.get(key) is not None and chat[key] not in names:
            raise ConfigError(f"chat.{key} {chat[key]!r} is not one of the agents: {', '.join(names)}")
    for agent in spec["agents"]:
        _check_unattended(agent["name"], agent.get("code_execution"))
    return spec


def _check_unattended(name: str, code: Any) -> None:
    """A batch has nobody to approve code: a spec asking for approval is refused, never downgraded."""
    if isinstance(code, dict) and code.get("approval", "never") != "never":
        raise ConfigError(f"agent {name!r}: code_execution.approval={code['approval']!r}, but a batch run has "
                          "nobody to approve; remove it to run code unattended (a gateway executor keeps that "
                          "code away from this machine)")


def _refuse_secrets(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in _SECRET_FIELDS:
                raise ConfigError(f"{where}.{key}: keys never go in the team file; name the environment "
                                  f"variable instead ('api_key_env')")
            _refuse_secrets(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_secrets(item, f"{where}[{index}]")


def _llm_config(llm: Any, agent: str) -> dict[str, Any] | bool | None:
    if llm is None or llm is False:
        return llm
    if not isinstance(llm, dict) or not llm.get("model"):
        raise ConfigError(f"agent {agent!r}: 'llm' must be false or a dict with at least 'model'")
    entry = {k: v for k, v in llm.items() if k in ("model", "base_url", "api_type", "api_version")}
    env = llm.get("api_key_env")
    if env:
        if env not in os.environ:
            raise ConfigError(f"agent {agent!r}: the environment variable {env} (llm.api_key_env) is not set")
        entry["api_key"] = os.environ[env]
    extra = {k: v for k, v in llm.items() if k not in entry and k != "api_key_env"}
    return {"config_list": [entry], "cache_seed": None, **extra}


def uses_local_kernels(spec: dict[str, Any], executor: str | None) -> bool:
    """Whether some agent of ``spec`` runs code in a local Jupyter kernel."""
    for a in spec["agents"]:
        code = a.get("code_execution", a.get("kind") == "user_proxy")
        if code:
            name = executor or (code.get("executor", "jupyter") if isinstance(code, dict) else "jupyter")
            if isinstance(name, str) and name.lower() in _LOCAL_KERNEL:
                return True
    return False


def build_team(spec: dict[str, Any], *, work_dir: str, executor: str | None = None,
               executor_options: dict[str, Any] | None = None, kernel_pool: Any = None) -> Team:
    """Fresh agents for one task; local kernels come from ``kernel_pool`` when given."""
    import agentnb

    agents = []
    owned: list[Any] = []
    for a in spec["agents"]:
        kind = a.get("kind", "assistant")
        if kind not in ("assistant", "user_proxy"):
            raise ConfigError(f"agent {a['name']!r}: kind must be 'assistant' or 'user_proxy', not {kind!r}")
        code = a.get("code_execution", kind == "user_proxy")
        if code:
            code = {**(code if isinstance(code, dict) else {}), **(executor_options or {})}
            _check_unattended(a["name"], code)
            if executor:
                code["executor"] = executor
            code.update({"work_dir": work_dir, "approval": "never", "use_docker": False})
            name = code.get("executor", "jupyter")
            if kernel_pool is not None and isinstance(name, str) and name.lower() in _LOCAL_KERNEL \
                    and code.get("kernel_name", "python3") == kernel_pool.kernel_name:
                from .coding.kernel import KernelExecutor

                code["executor"] = KernelExecutor(work_dir, timeout=code.get("timeout") or 60, env=code.get("env"),
                                                  kernel_name=kernel_pool.kernel_name, pool=kernel_pool)
                owned.append(code["executor"])
        llm = _llm_config(a.get("llm", False if kind == "user_proxy" else None), a["name"])
        cls = agentnb.UserProxyAgent if kind == "user_proxy" else agentnb.AssistantAgent
        kwargs: dict[str, Any] = {"llm_config": llm, "code_execution_config": code or False,
                                  "human_input_mode": "NEVER"}
        for key in ("system_message", "description", "max_consecutive_auto_reply"):
            if a.get(key) is not None:
                kwargs[key] = a[key]
        if a.get("terminate_suffix"):
            kwargs["is_termination_msg"] = _ends_with(str(a["terminate_suffix"]))
        agents.append(cls(a["name"], **kwargs))
    by_name = {a.name: a for a in agents}
    chat = spec.get("chat", {})
    proxies = [a for a, s in zip(agents, spec["agents"], strict=True) if s.get("kind") == "user_proxy"]
    initiator = by_name[chat["initiator"]] if chat.get("initiator") else (proxies or agents)[0]
    if chat.get("type", "pair") == "group":
        group = agentnb.GroupChat(agents=agents, messages=[], max_round=int(chat.get("max_round", 10)),
                                  speaker_selection_method=chat.get("speaker_selection_method", "round_robin"))
        manager_llm = _llm_config(chat.get("manager_llm", False), "chat_manager")
        return Team(initiator, agentnb.GroupChatManager(group, llm_config=manager_llm), {}, owned)
    others = [a for a in agents if a is not initiator]
    if not others:
        raise ConfigError("a pair chat needs two agents")
    recipient = by_name[chat["recipient"]] if chat.get("recipient") else others[0]
    return Team(initiator, recipient, {"max_turns": int(chat["max_turns"])} if chat.get("max_turns") else {}, owned)


def _ends_with(suffix: str) -> Any:
    def is_termination_msg(message: dict[str, Any]) -> bool:
        content = message.get("content")
        return isinstance(content, str) and content.rstrip().endswith(suffix)

    return is_termination_msg

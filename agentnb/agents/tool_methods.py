"""AutoGen 0.2's tool methods of ``ConversableAgent`` (function calling), mixed in.

The agent's tool state is edited here: the schemas its model is offered (:attr:`tools`, plus legacy
``functions`` in the request) and the functions it runs (:attr:`function_map`). The decorators'
validation and the running of calls live in :mod:`agentnb.agents.tools`, imported on first use
(it loads pydantic, which importing an agent does not need).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._aio import run_sync
from .._validate import ConfigAssertionError
from ..errors import ConfigError


def require_llm(agent: Any, what: str, kind: str = "a tool") -> None:
    """Tools need a model: AutoGen 0.2 asserts here, so the error is also an ``AssertionError``."""
    if agent.llm_config is False:
        raise ConfigAssertionError(f"agent {agent.name!r} has no llm_config; tools need a model ({what}). "
                                   f"To update {kind} signature, agent must have an llm_config.")


def tool_name(sig: dict[str, Any] | str) -> str | None:
    """The name in a tool or function schema (or the name itself)."""
    if isinstance(sig, str):
        return sig
    fn = sig.get("function", sig)
    name = fn.get("name") if isinstance(fn, dict) else None
    return name if isinstance(name, str) else None


class ToolMethodsMixin:
    """The 0.2 tool methods; needs ``ConversableAgent``'s ``name``, ``llm_config`` and ``client``."""

    name: str
    llm_config: Any
    client: Any
    _tools_for_llm: list[dict[str, Any]]
    _function_map: dict[str, Callable[..., Any]]

    @property
    def tools(self) -> list[dict[str, Any]]:
        """Tool schemas this agent offers to its model."""
        return list(self._tools_for_llm)

    @property
    def function_map(self) -> dict[str, Callable[..., Any]]:
        """The functions this agent runs when a tool (or function) call names them."""
        return self._function_map

    def update_tool_signature(self, tool_sig: dict[str, Any] | str, is_remove: bool) -> None:
        """Add (replacing one of the same name) or remove a tool schema offered to this agent's model."""
        require_llm(self, "update_tool_signature")
        name = tool_name(tool_sig)
        if not name:
            raise ConfigError("a tool signature needs a name: {'type': 'function', 'function': {'name': ...}}")
        tools = [t for t in self._tools_for_llm if tool_name(t) != name]
        if not is_remove:
            if not isinstance(tool_sig, dict):
                raise ConfigError("to add a tool, pass its schema dict, not a name")
            tools.append(tool_sig if "function" in tool_sig else {"type": "function", "function": tool_sig})
        self._tools_for_llm[:] = tools
        if isinstance(self.llm_config, dict):
            if tools:
                self.llm_config["tools"] = list(tools)
            else:
                self.llm_config.pop("tools", None)

    def update_function_signature(self, func_sig: dict[str, Any] | str, is_remove: bool) -> None:
        """Add or remove a legacy ``functions`` entry (sent as the request's ``functions``)."""
        require_llm(self, "update_function_signature", "a function")
        name = tool_name(func_sig)
        request = self.client.config.request if self.client is not None else {}
        functions = [f for f in request.get("functions", []) if f.get("name") != name]
        if not is_remove:
            if not isinstance(func_sig, dict):
                raise ConfigError("to add a function, pass its schema dict, not a name")
            functions.append(func_sig)
        for target in (request, self.llm_config if isinstance(self.llm_config, dict) else None):
            if target is None:
                continue
            if functions:
                target["functions"] = list(functions)
            else:
                target.pop("functions", None)

    def register_function(self, function_map: dict[str, Callable[..., Any] | None]) -> None:
        """Let this agent run these functions by name (``None`` removes one)."""
        for name, func in function_map.items():
            if func is None:
                self._function_map.pop(name, None)
            else:
                self._function_map[name] = func

    def can_execute_function(self, name: str | list[str]) -> bool:
        names = name if isinstance(name, list) else [name]
        return all(n in self._function_map for n in names)

    def register_for_llm(self, *, name: str | None = None, description: str | None = None,
                         api_style: str = "tool") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: offer the function to this agent's model (see :func:`agentnb.agents.tools.register_for_llm`)."""
        from . import tools

        return tools.register_for_llm(self, name=name, description=description,  # type: ignore[arg-type]
                                     api_style=api_style)

    def register_for_execution(self, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: let this agent run the function when a tool call names it."""
        from . import tools

        return tools.register_for_execution(self, name=name)  # type: ignore[arg-type]

    async def a_execute_function(self, func_call: dict[str, Any],
                                 call_id: str | None = None) -> tuple[bool, dict[str, Any]]:
        """Run one ``{"name", "arguments"}`` call: ``(ok, {"name", "role": "function", "content"})``."""
        from . import tools

        return await tools.execute_function(self, func_call, call_id=call_id)  # type: ignore[arg-type]

    def execute_function(self, func_call: dict[str, Any], call_id: str | None = None) -> tuple[bool, dict[str, Any]]:
        return run_sync(self.a_execute_function(func_call, call_id=call_id))


__all__ = ["ToolMethodsMixin", "require_llm", "tool_name"]

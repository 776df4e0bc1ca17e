"""Tools (function calling), AutoGen 0.2 style: register for the model, register for execution, run.

::

    @user_proxy.register_for_execution()
    @assistant.register_for_llm(description="Currency exchange calculator.")
    def exchange(amount: Annotated[float, "Amount"], base: Annotated[Literal["USD", "EUR"], "Base"] = "USD") -> str:
        ...

A tool call is validated against the schema the model was shown, may need a person's approval
(``code_execution_config={"approval": ...}`` or ``agent.tool_approval``), and runs off the event
loop when sync. Several calls of one reply run concurrently; results keep their order. Every
failure becomes an ``Error: ...`` result the model can act on; the chat goes on.

Protocol: an agent with tools answers *every* call of a message (an unknown or missing tool name
gets an error result), so each ``tool_call_id`` gets exactly one ``tool`` message; an agent with no
tools at all leaves the calls to another agent. :func:`pair_tool_calls` repairs any history that still
breaks the rule before it is sent to a model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import json
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pydantic

from .._validate import error
from ..errors import ConfigError, redact
from ..llm.client import new_tool_call_id
from ..messages import ApprovalRequest, ToolCallFinished, ToolCallProposed, emit, new_id
from .human import approval_needed, approval_round, ensure_not_stopped, note_approved, request_approval
from .schema import (
    ToolSignature,
    callable_name,
    check_tool_name,
    describe_validation_error,
    get_function_schema,
    tool_signature,
)
from .tool_methods import require_llm

if TYPE_CHECKING:
    from .conversable import ConversableAgent

__all__ = [
    "ToolInfo",
    "execute_function",
    "generate_function_call_reply",
    "generate_tool_calls_reply",
    "get_function_schema",
    "pair_tool_calls",
    "register_for_execution",
    "register_for_llm",
    "register_function",
    "tool_info",
    "user_function",
]

_FIX = "Fix the arguments and call again."


# ------------------------------------------------------------------ registration


@dataclasses.dataclass(eq=False)
class ToolInfo:
    """What agentnb knows of a function it wrapped as a tool; the user's function itself is never changed."""

    name: str | None = None
    """The tool name ``register_for_llm`` gave it (``register_for_execution`` reuses it)."""
    description: str | None = None
    """The description the model was shown."""
    executions: list[tuple[weakref.ref[Any], str]] = dataclasses.field(default_factory=list)
    """``(agent, name)`` it was registered for execution under before it had a tool name, so that a
    ``register_for_llm(name=...)`` applied later renames those entries too."""


_tool_infos: weakref.WeakKeyDictionary[Callable[..., Any], ToolInfo] = weakref.WeakKeyDictionary()


def tool_info(func: Any) -> ToolInfo | None:
    """The :class:`ToolInfo` of a function ``register_for_llm`` / ``register_for_execution`` returned, else None."""
    try:
        return _tool_infos.get(func)
    except TypeError:  # not weakly referenceable or not hashable: not one of ours
        return None


def user_function(func: Any) -> Any:
    """The user's function behind a tool wrapper, else ``func`` itself."""
    return func.__wrapped__ if tool_info(func) is not None else func


def _ours(func: Callable) -> tuple[Callable, ToolInfo]:
    """A thin wrapper (``__wrapped__`` kept) with its :class:`ToolInfo`: the user's function is not mutated."""
    info = tool_info(func)
    if info is not None:
        return func, info
    if _is_async(func):
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, **kwargs)
    else:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)
    info = _tool_infos[wrapper] = ToolInfo()
    return wrapper, info


def register_for_llm(agent: ConversableAgent, *, name: str | None = None, description: str | None = None,
                     api_style: str = "tool") -> Callable[[Callable], Callable]:
    """Decorator: offer the function to ``agent``'s model as a tool (``api_style="function"``: legacy)."""
    require_llm(agent, "register_for_llm", "a function" if api_style == "function" else "a tool")
    if api_style not in ("tool", "function"):
        raise ConfigError(f"api_style must be 'tool' or 'function', not {api_style!r}")
    if description is not None and not isinstance(description, str):
        raise error("description", description, "a str (what the tool does, for the model)")

    def decorator(func: Callable) -> Callable:
        known = tool_info(func) or ToolInfo()
        tool_name = check_tool_name(name or known.name or callable_name(func))
        text = description or known.description or inspect.getdoc(func)
        if not text:
            raise ConfigError(f"tool {tool_name!r} needs a description: pass description=... or give the "
                              "function a docstring (the model picks tools by their descriptions)")
        schema = get_function_schema(func, name=tool_name, description=text)
        if api_style == "tool":
            agent.update_tool_signature(schema, is_remove=False)
        else:
            agent.update_function_signature(schema["function"], is_remove=False)
        func, info = _ours(func)
        _rename_executions(func, info, tool_name)
        info.name, info.description = tool_name, text
        return func

    return decorator


def register_for_execution(agent: ConversableAgent, name: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator: let ``agent`` run the function when a tool call names it."""

    def decorator(func: Callable) -> Callable:
        if not callable(func):
            raise ConfigError(f"register_for_execution needs a callable, not {type(func).__name__}")
        func, info = _ours(func)
        tool_name = check_tool_name(name or info.name or callable_name(func))
        agent.register_function({tool_name: func})
        if name is None and info.name is None:
            # remember it, so that a register_for_llm(name=...) applied later renames this entry too
            info.executions.append((weakref.ref(agent), tool_name))
        return func

    return decorator


def _rename_executions(func: Callable, info: ToolInfo, tool_name: str) -> None:
    for ref, old in info.executions:
        executor = ref()
        if executor is not None and old != tool_name and executor.function_map.get(old) is func:
            executor.register_function({old: None, tool_name: func})
    info.executions.clear()


def register_function(f: Callable, *, caller: ConversableAgent, executor: ConversableAgent,
                      name: str | None = None, description: str) -> None:
    """Offer ``f`` to ``caller``'s model and let ``executor`` run it (``autogen.register_function``)."""
    from .arguments import check_tool_agents

    check_tool_agents(caller, executor, description)
    f = register_for_llm(caller, name=name, description=description)(f)
    register_for_execution(executor, name=name)(f)


# ------------------------------------------------------------------ one call


@dataclasses.dataclass
class _Call:
    call_id: str
    name: str
    arguments: str
    func: Callable | None = None
    args: list[Any] = dataclasses.field(default_factory=list)
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    content: str | None = None
    """Set once the call has a result (an error found early, or its return value)."""
    ok: bool = False


_signatures: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature_for(func: Callable) -> ToolSignature | None:
    """The validator of ``func``; None when it has none (no annotations, ``**kwargs``): then bind only."""
    try:
        return _signatures[func]
    except (KeyError, TypeError):
        pass
    try:
        sig: ToolSignature | None = tool_signature(func)
    except ConfigError:
        sig = None
    try:
        _signatures[func] = sig
    except TypeError:
        pass
    return sig


def _prepare(agent: ConversableAgent, name: str, arguments: Any, call_id: str) -> _Call:
    """Emit ToolCallProposed, find the function, parse and validate the arguments."""
    if arguments is None or arguments == "":
        arguments = "{}"
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, default=str)
    call = _Call(call_id=call_id, name=name, arguments=arguments)
    emit(ToolCallProposed(executor=agent.name, call_id=call_id, name=name, arguments=arguments))
    _check(agent, call)
    return call


def _check(agent: ConversableAgent, call: _Call) -> None:
    """Find the function and validate the arguments; on a problem set ``call.content`` to the error."""
    name, arguments = call.name, call.arguments
    func = agent.function_map.get(name)
    if func is None:
        known = ", ".join(sorted(agent.function_map)) or "none"
        if not name:
            call.content = f"Error: the tool call {call.call_id} named no function. Available functions: {known}."
        else:
            call.content = f"Error: Function {name} not found. Available functions: {known}."
        return
    call.func = func
    try:
        parsed = json.loads(arguments, strict=False)
    except json.JSONDecodeError as exc:
        call.content = f"Error: the arguments of {name} are not valid JSON ({exc}). " \
                       f"The argument must be in JSON format. {_FIX}"
        return
    if not isinstance(parsed, dict):
        call.content = f"Error: the arguments of {name} must be a JSON object, not {type(parsed).__name__}. {_FIX}"
        return
    sig = _signature_for(func)
    if sig is None:
        try:
            inspect.signature(func).bind(**parsed)
        except TypeError as exc:
            call.content = f"Error: invalid arguments for {name}: {exc}. {_FIX}"
            return
        except ValueError:
            pass
        call.kwargs = parsed
        return
    try:
        call.args, call.kwargs = sig.validate(parsed)
    except pydantic.ValidationError as exc:
        call.content = f"Error: invalid arguments for {name}: {describe_validation_error(exc)}. {_FIX}"


def _approval_policy(agent: ConversableAgent) -> str:
    """``agent.tool_approval`` (True means "always"), else the code policy; a value we do not know asks."""
    policy = getattr(agent, "tool_approval", None)
    if policy is True:
        return "always"
    if isinstance(policy, str) and policy in ("always", "first"):
        return policy
    if not (policy is None or policy is False or (isinstance(policy, str) and policy == "never")):
        return "always"  # fail closed: a typo ("Always", "yes", 1) must not run tools unasked
    cfg = agent.code_execution_config
    return cfg.get("approval", "never") if isinstance(cfg, dict) else "never"


async def _approve(agent: ConversableAgent, call: _Call) -> None:
    """Ask for approval when the policy wants it; a rejected call gets an error result and never runs."""
    if call.content is not None:
        return
    if not approval_needed(agent, "tool", _approval_policy(agent)):  # the chat's override wins
        return
    shown = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in json.loads(call.arguments or "{}",
                                                                                   strict=False).items())
    decision = await request_approval(ApprovalRequest(kind="tool", agent=agent.name, tool_name=call.name,
                                                      arguments=call.arguments, code=f"{call.name}({shown})"))
    if not decision.approved:
        reason = f" Reason: {decision.reason}" if decision.reason else ""
        call.content = f"Error: the user rejected the call to {call.name}; it was not run.{reason}"
        call.func = None
        return
    note_approved(agent, "tool")
    if decision.edited:
        call.arguments = _edited_arguments(call.name, decision.code or "")
        call.args, call.kwargs = [], {}
        _check(agent, call)


def _edited_arguments(name: str, text: str) -> str:
    """An approver may edit the arguments: accept a JSON object, or ``name({...})``."""
    text = text.strip()
    if text.startswith(f"{name}(") and text.endswith(")"):
        text = text[len(name) + 1:-1].strip()
    return text or "{}"


async def _run(call: _Call) -> None:
    if call.content is not None or call.func is None:
        return
    func = call.func
    try:
        if _is_async(func):
            result = await func(*call.args, **call.kwargs)
        else:
            result = await asyncio.to_thread(func, *call.args, **call.kwargs)
            if inspect.isawaitable(result):
                result = await result
    except Exception as exc:
        call.content = redact(f"Error: {type(exc).__name__}: {exc}")
        return
    call.content = to_str(result)
    call.ok = True


def _is_async(func: Callable) -> bool:
    target = getattr(func, "func", func)  # functools.partial
    method = inspect.getattr_static(type(target), "__call__", None)
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(method)


def to_str(value: Any) -> str:
    """A tool's return value as the text the model reads."""
    if isinstance(value, str):
        return value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.dumps(dataclasses.asdict(value), default=str, ensure_ascii=False)
    return json.dumps(value, default=str, ensure_ascii=False)


def _finish(agent: ConversableAgent, call: _Call) -> str:
    content = call.content or ""
    emit(ToolCallFinished(executor=agent.name, call_id=call.call_id, name=call.name, content=content,
                          is_error=not call.ok))
    return content


async def execute_function(agent: ConversableAgent, func_call: dict[str, Any],
                           call_id: str | None = None) -> tuple[bool, dict[str, Any]]:
    """Run one ``{"name", "arguments"}`` call: ``(ok, {"name", "role": "function", "content"})``."""
    name = func_call.get("name") or ""
    call = _prepare(agent, name, func_call.get("arguments"), call_id or new_id("call"))
    with approval_round():
        await _approve(agent, call)
    if call.func is not None and call.content is None:
        await ensure_not_stopped()
    await _run(call)
    return call.ok, {"name": name, "role": "function", "content": _finish(agent, call)}


# ------------------------------------------------------------------ reply functions


async def generate_tool_calls_reply(agent: ConversableAgent, message: dict[str, Any]) -> tuple[bool, Any]:
    """Run the tool calls of ``message`` (concurrently; results in order), or ``(False, None)`` if none are ours."""
    raw = [tc for tc in message.get("tool_calls") or [] if isinstance(tc, dict)]
    if not raw or not agent.function_map:  # an agent without tools leaves the calls to the one that has them
        return False, None
    for tc in raw:  # the assistant message and the tool reply must carry the same id
        if not isinstance(tc.get("id"), str) or not tc["id"]:
            tc["id"] = new_tool_call_id()
    functions: list[dict[str, Any]] = [tc["function"] if isinstance(tc.get("function"), dict) else {} for tc in raw]
    calls = [_prepare(agent, name if isinstance(name := fn.get("name"), str) else "", fn.get("arguments"),
                      tc["id"])
             for tc, fn in zip(raw, functions, strict=True)]
    with approval_round():
        for call in calls:  # one question at a time, in order
            await _approve(agent, call)
    if any(call.func is not None and call.content is None for call in calls):
        await ensure_not_stopped()  # a Stop while a person decided: no call starts
    await asyncio.gather(*(_run(call) for call in calls))
    responses = [{"tool_call_id": call.call_id, "role": "tool", "content": _finish(agent, call)} for call in calls]
    return True, {"role": "tool", "tool_responses": responses,
                  "content": "\n\n".join(r["content"] for r in responses)}


async def generate_function_call_reply(agent: ConversableAgent, message: dict[str, Any]) -> tuple[bool, Any]:
    """Run a legacy ``function_call`` of ``message`` (``(False, None)`` if the function is not ours)."""
    func_call = message.get("function_call")
    if not isinstance(func_call, dict) or not agent.function_map:
        return False, None
    _, reply = await execute_function(agent, func_call)
    return True, reply


def pair_tool_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with every ``tool_call_id`` answered by exactly one ``tool`` message, right after its call.

    The OpenAI protocol rejects a request otherwise. A call nobody answered gets an error result that
    tells the model so; a second or stray ``tool`` message becomes a user message with the same text.
    """
    out: list[dict[str, Any]] = []
    pending: dict[str, str] = {}

    def unanswered() -> None:
        for call_id, name in pending.items():
            out.append({"role": "tool", "tool_call_id": call_id,
                        "content": f"Error: no agent ran the call to {name or '(no function name)'}: no agent in "
                                   "this chat has that tool. Do not call it again."})
        pending.clear()

    for msg in messages:
        if msg.get("role") == "tool":
            call_id = msg.get("tool_call_id")
            if isinstance(call_id, str) and call_id in pending:
                del pending[call_id]
                out.append(msg)
            else:
                unanswered()
                out.append({"role": "user", "content": f"(result of tool call {call_id}) {msg.get('content') or ''}"})
            continue
        unanswered()
        out.append(msg)
        if msg.get("role") == "assistant" and msg.get("tool_calls"):
            for tc in msg["tool_calls"]:
                fn = tc.get("function") if isinstance(tc, dict) else None
                if isinstance(tc, dict) and isinstance(tc.get("id"), str):
                    pending[tc["id"]] = fn.get("name", "") if isinstance(fn, dict) else ""
    unanswered()
    return out

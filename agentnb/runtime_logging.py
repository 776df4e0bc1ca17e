"""AutoGen 0.2's ``autogen.runtime_logging``: record model calls, agents and events in sqlite or a file.

>>> session_id = runtime_logging.start(config={"dbname": "logs.db"})   # or logger_type="file"
>>> user.initiate_chat(assistant, message="...")
>>> con = runtime_logging.get_connection()        # sqlite3 connection: chat_completions, agents, events, ...
>>> runtime_logging.stop()

Fed from agentnb's event stream (a process-wide subscriber, so every chat in every thread is seen):
each model call is a ``chat_completions`` row, each delivered message a ``received_message`` event,
each tool call a ``function_calls`` row; other events (speaker chosen, code executed, ...) are
``events`` rows named after the event. Agents and ``OpenAIWrapper`` objects created while logging is
on are rows of ``agents`` / ``oai_wrappers`` / ``oai_clients``. API keys are never written.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from typing_extensions import assert_never  # typing has it from Python 3.11

from .logger import BaseLogger, LoggerFactory
from .messages import (
    AnyEvent,
    ApprovalDecided,
    ApprovalRequested,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ErrorOccurred,
    Event,
    ExecutionFinished,
    ExecutionOutput,
    HumanInputReceived,
    HumanInputRequested,
    MessageSent,
    ModelCallFinished,
    SpeakerSelected,
    StreamStarted,
    TokenChunk,
    ToolCallFinished,
    ToolCallProposed,
    UsageUpdated,
    add_global_subscriber,
    new_id,
    remove_global_subscriber,
)

logger = logging.getLogger(__name__)

autogen_logger: BaseLogger | None = None
is_logging = False
_agents: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_tool_args: dict[str, str] = {}
_lock = threading.Lock()


def start(logger: BaseLogger | None = None, logger_type: str = "sqlite",
          config: dict[str, Any] | None = None) -> str:
    """Start logging (``logger_type`` ``"sqlite"``: ``config={"dbname": ...}``; ``"file"``:
    ``config={"filename": ...}``) and return the session id."""
    global autogen_logger, is_logging
    stop()
    autogen_logger = logger if logger is not None else LoggerFactory.get_logger(logger_type=logger_type,
                                                                                config=config)
    session_id = autogen_logger.start()
    is_logging = True
    add_global_subscriber(_on_event)
    return session_id


def stop() -> None:
    """Stop logging and close the log (the sqlite file stays)."""
    global is_logging
    remove_global_subscriber(_on_event)
    is_logging = False
    if autogen_logger is not None:
        autogen_logger.stop()


def get_connection() -> Any:
    """The sqlite3 connection of the running sqlite logger (None for the file logger or when not started)."""
    if autogen_logger is None:
        logger.error("[runtime logging] Logging is not started.")
        return None
    return autogen_logger.get_connection()


def logging_enabled() -> bool:
    return is_logging


# ----------------------------------------------------------------------- 0.2's log_* functions


def log_chat_completion(invocation_id: Any, client_id: int, wrapper_id: int, agent: Any, request: dict[str, Any],
                        response: Any, is_cached: int, cost: float, start_time: str) -> None:
    if is_logging and autogen_logger is not None:
        autogen_logger.log_chat_completion(invocation_id, client_id, wrapper_id, agent, request, response,
                                           is_cached, cost, start_time)


def log_new_agent(agent: Any, init_args: dict[str, Any]) -> None:
    name = getattr(agent, "name", None)
    if isinstance(name, str):
        _agents[name] = agent
    if is_logging and autogen_logger is not None:
        autogen_logger.log_new_agent(agent, init_args)


def log_event(source: Any, name: str, /, **kwargs: Any) -> None:
    if is_logging and autogen_logger is not None:
        autogen_logger.log_event(source, name, **kwargs)


def log_function_use(agent: Any, function: Callable[..., Any] | str, args: dict[str, Any], returns: Any) -> None:
    if is_logging and autogen_logger is not None:
        autogen_logger.log_function_use(agent, function, args, returns)


def log_new_wrapper(wrapper: Any, init_args: dict[str, Any]) -> None:
    if is_logging and autogen_logger is not None:
        autogen_logger.log_new_wrapper(wrapper, init_args)


def log_new_client(client: Any, wrapper: Any, init_args: dict[str, Any]) -> None:
    if is_logging and autogen_logger is not None:
        autogen_logger.log_new_client(client, wrapper, init_args)


# ----------------------------------------------------------------------- the event stream


def _source(name: str) -> Any:
    """The agent called ``name`` if one was created while logging, else the name."""
    return _agents.get(name, name)


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _on_event(event: Event) -> None:
    if not is_logging:
        return
    if not isinstance(event, AnyEvent):
        _log_fields(event)  # an event agentnb does not define: a row named after it
        return
    match event:
        case TokenChunk() | StreamStarted() | UsageUpdated():
            pass  # per-token noise; usage is in chat_completions
        case ModelCallFinished():
            log_chat_completion(new_id("invocation"), event.client_id or 0, event.client_id or 0,
                                _source(event.agent), event.request, event.response, int(event.cached), event.cost,
                                _time(event.start_time))
        case MessageSent():
            log_event(_source(event.recipient), "received_message", message=event.message, sender=event.sender,
                      valid=True)
        case ToolCallProposed():
            with _lock:
                _tool_args[event.call_id] = event.arguments
        case ToolCallFinished():
            with _lock:
                arguments = _tool_args.pop(event.call_id, None)
            log_function_use(_source(event.executor), event.name, {"arguments": arguments},
                             {"content": event.content, "is_error": event.is_error})
        case ChatStarted():
            _log_fields(event, event.sender)
        case (SpeakerSelected() | CodeBlockProposed() | ApprovalRequested() | ApprovalDecided()
              | HumanInputRequested() | HumanInputReceived() | ExecutionOutput() | ExecutionFinished()
              | ChatFinished() | ErrorOccurred()):
            _log_fields(event)
        case _:
            assert_never(event)


def _log_fields(event: Event, source: str | None = None) -> None:
    """An ``events`` row named after the event (``speaker_selected``) with its fields; the source is the
    event's sender, executor, agent or source unless given."""
    state = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "time"}
    if source is None:
        source = state.get("sender") or state.get("executor") or state.get("agent") or state.get("source") or ""
    log_event(_source(str(source)), _event_name(type(event).__name__), **state)


def _event_name(class_name: str) -> str:
    """``SpeakerSelected`` -> ``speaker_selected``."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in class_name).lstrip("_")


__all__ = ["get_connection", "log_chat_completion", "log_event", "log_function_use", "log_new_agent",
           "log_new_client", "log_new_wrapper", "logging_enabled", "start", "stop"]

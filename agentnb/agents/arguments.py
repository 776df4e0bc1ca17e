"""Checks of the arguments of agents, chats and group chats, at the boundary (see :mod:`agentnb._validate`).

Each bad value raises one :class:`~agentnb.errors.ConfigError` (a ``ValueError``) naming the argument,
the value's type and what is allowed, before anything starts.
"""

from __future__ import annotations

from typing import Any

from .._validate import (
    BOOL,
    CALLABLE,
    DICT,
    NON_EMPTY_STR,
    NON_NEGATIVE_INT,
    NONE,
    STR,
    Rule,
    check,
    dict_of,
    error,
    list_of,
    one_of,
)

_PART = Rule(lambda v: isinstance(v, dict) and isinstance(v.get("type"), str),
             "a content part dict with a 'type' ({'type': 'text', 'text': ...})")
CONTENT = STR | NONE | list_of(_PART, "content part dicts with a 'type' ({'type': 'text', 'text': ...})")
SYSTEM_MESSAGE = STR | NONE | list_of(STR | _PART, "strs or content part dicts")


def is_agent(value: Any) -> bool:
    """An agent object: a ConversableAgent or anything with AutoGen's ``Agent`` shape (name, receive)."""
    from .conversable import Agent

    if isinstance(value, Agent):
        return True
    return isinstance(getattr(value, "name", None), str) and callable(getattr(value, "a_receive", None))


AGENT = Rule(is_agent, "an agent (ConversableAgent, AssistantAgent, UserProxyAgent...), not its name")


HUMAN_INPUT_MODE = one_of("ALWAYS", "TERMINATE", "NEVER")


def check_agent_arguments(*, name: Any, human_input_mode: Any, system_message: Any, is_termination_msg: Any,
                          max_consecutive_auto_reply: Any, function_map: Any, default_auto_reply: Any,
                          description: Any, chat_messages: Any, silent: Any) -> None:
    """The ``ConversableAgent`` constructor arguments that have a fixed type."""
    check("name", name, NON_EMPTY_STR)
    check("human_input_mode", human_input_mode, HUMAN_INPUT_MODE)
    check("system_message", system_message, SYSTEM_MESSAGE)
    check("is_termination_msg", is_termination_msg, CALLABLE | NONE)
    check("max_consecutive_auto_reply", max_consecutive_auto_reply, NON_NEGATIVE_INT | NONE)
    check("function_map", function_map, dict_of(STR, CALLABLE, "a dict of tool names to callables") | NONE)
    check("default_auto_reply", default_auto_reply, STR | DICT | NONE)
    check("description", description, STR | NONE)
    check("chat_messages", chat_messages, DICT | NONE)
    check("silent", silent, BOOL | NONE)


def check_message(arg: str, message: Any) -> None:
    """A message: a str, None, or a dict whose ``content`` is a str, None or a list of content parts."""
    if isinstance(message, dict):
        if "content" in message:
            check(f"{arg}['content']", message["content"], CONTENT)
        return
    if not (message is None or isinstance(message, str)):
        raise error(arg, message, "a str, a message dict ({'content': ...}), a callable or None")


def check_chat_arguments(*, recipient: Any, clear_history: Any, silent: Any, max_turns: Any, message: Any,
                         summary_args: Any) -> None:
    """The ``initiate_chat`` arguments (checked before the chat starts)."""
    check("recipient", recipient, AGENT)
    check("clear_history", clear_history, BOOL | NONE)  # 0.2 treats None as False
    check("silent", silent, BOOL | NONE)
    check("max_turns", max_turns, NON_NEGATIVE_INT | NONE)
    check("summary_args", summary_args, DICT | NONE)
    if not callable(message):
        check_message("message", message)


def check_tool_agents(caller: Any, executor: Any, description: Any) -> None:
    """``register_function(f, caller=..., executor=..., description=...)``."""
    check("caller", caller, AGENT)
    check("executor", executor, AGENT)
    check("description", description, STR)


def check_group_agents(agents: Any) -> None:
    """``GroupChat(agents=...)``: a list of agent objects."""
    if not isinstance(agents, list | tuple):
        raise error("GroupChat agents", agents, "a list of agents")
    for index, agent in enumerate(agents):
        check(f"GroupChat agents[{index}]", agent, AGENT)


def check_group_options(group: Any) -> None:
    """The other ``GroupChat`` fields with a fixed type."""
    check("GroupChat messages", group.messages, list_of(DICT, "message dicts") | NONE)
    check("GroupChat admin_name", group.admin_name, STR)
    check("GroupChat func_call_filter", group.func_call_filter, BOOL)
    check("GroupChat send_introductions", group.send_introductions, BOOL)
    check("GroupChat max_round", group.max_round, Rule(lambda v: NON_NEGATIVE_INT.test(v) and v > 0,
                                                        "a positive int"))
    check("GroupChat role_for_select_speaker_messages", group.role_for_select_speaker_messages, STR)
    for field in ("select_speaker_message_template", "select_speaker_auto_multiple_template",
                  "select_speaker_auto_none_template"):
        check(f"GroupChat {field}", getattr(group, field), STR)
    check("GroupChat select_speaker_prompt_template", group.select_speaker_prompt_template, STR | NONE)

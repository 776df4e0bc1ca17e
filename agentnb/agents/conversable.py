"""``ConversableAgent``: configuration, message storage, send/receive, chats.

Written async once; every sync method is a thin twin through ``run_sync``. The rest of the
agent is mixed in, one idea per module:

- :mod:`.reply_funcs`: ``register_reply`` and picking a reply (the built-in reply functions'
  logic is in :mod:`.replies`, their 0.2 method names in :mod:`.compat_api`);
- :mod:`.tool_methods`: the tools offered to the model and the functions the agent runs;
- :mod:`.hooks` and :mod:`.compat_api`: AutoGen 0.2's hooks, nested chats and remaining methods.

What the agent's chats change (auto-reply counters, human input, its executor) is ``agent.runtime``
(:class:`~agentnb.agents.runtime.AgentRuntime`).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

from .._aio import call_in_caller, run_sync
from .._validate import ConfigAssertionError, describe
from ..coding.base import CodeBlock, CodeExecutor, normalize_language
from ..coding.config_schema import check_code_execution_config
from ..errors import ConfigError
from ..llm.client import ModelClient
from ..messages import Event, MessageSent, content_str, emit
from . import chat as _chat
from . import replies
from .agent import Agent
from .arguments import check_agent_arguments, check_chat_arguments, check_message
from .compat_api import CompatMethodsMixin, announce, deliver
from .hooks import HooksMixin
from .human import ask_human, check_policy, maybe_await
from .reply_funcs import ReplyFunctionsMixin
from .result import ChatResult
from .runtime import AgentRuntime
from .scope import note_stop
from .stream import event_stream
from .tool_methods import ToolMethodsMixin

HUMAN_INPUT_MODES = ("ALWAYS", "TERMINATE", "NEVER")


def default_is_termination_msg(message: dict[str, Any]) -> bool:
    """AutoGen 0.2's rule: True when the message content is exactly ``TERMINATE``.

    Pass ``is_termination_msg=lambda m: (m.get("content") or "").rstrip().endswith("TERMINATE")`` for the
    looser rule most 0.2 notebooks set explicitly.
    """
    return content_str(message.get("content")) == "TERMINATE"


class ConversableAgent(CompatMethodsMixin, HooksMixin, ReplyFunctionsMixin, ToolMethodsMixin, Agent):
    """An agent that converses by sending and receiving messages.

    >>> bot = ConversableAgent("bot", llm_config=False, default_auto_reply="hi", human_input_mode="NEVER")
    >>> user = ConversableAgent("user", llm_config=False, human_input_mode="NEVER", max_consecutive_auto_reply=0)
    >>> result = user.initiate_chat(bot, message="hello", silent=True)
    """

    DEFAULT_CONFIG: Any = None
    """``llm_config=None`` means the default model (see :mod:`agentnb.llm.config`)."""
    MAX_CONSECUTIVE_AUTO_REPLY = 100

    def __init__(
        self,
        name: str,
        system_message: str | list | None = "You are a helpful AI Assistant.",
        is_termination_msg: Callable[[dict[str, Any]], bool] | None = None,
        max_consecutive_auto_reply: int | None = None,
        human_input_mode: str = "TERMINATE",
        function_map: dict[str, Callable] | None = None,
        code_execution_config: dict[str, Any] | bool = False,
        llm_config: dict[str, Any] | bool | None = None,
        default_auto_reply: str | dict[str, Any] = "",
        description: str | None = None,
        chat_messages: dict[Agent, list[dict[str, Any]]] | None = None,
        silent: bool | None = None,
    ):
        check_agent_arguments(name=name, human_input_mode=human_input_mode, system_message=system_message,
                              is_termination_msg=is_termination_msg,
                              max_consecutive_auto_reply=max_consecutive_auto_reply, function_map=function_map,
                              default_auto_reply=default_auto_reply, description=description,
                              chat_messages=chat_messages, silent=silent)
        self._name = name
        self._oai_system_message: list[dict[str, Any]] = [{"content": system_message or "", "role": "system"}]
        self._description: Any = description if description is not None else (system_message or "")
        self._is_termination_msg = is_termination_msg or default_is_termination_msg
        self._max_consecutive_auto_reply = (max_consecutive_auto_reply if max_consecutive_auto_reply is not None
                                            else self.MAX_CONSECUTIVE_AUTO_REPLY)
        self.runtime = AgentRuntime()
        """What this agent's chats change: auto-reply counters, human input, its executor."""
        self._consecutive_auto_reply_counter = self.runtime.auto_replies  # AutoGen 0.2's name for the same dict
        self._max_consecutive_auto_reply_dict: dict[Any, int] = defaultdict(self.max_consecutive_auto_reply)
        self.human_input_mode = human_input_mode
        self._function_map = dict(function_map or {})
        self._default_auto_reply = default_auto_reply
        self._oai_messages: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        if chat_messages:
            self._oai_messages.update(chat_messages)
        self.reply_at_receive: dict[Any, bool] = defaultdict(bool)
        self.silent = silent
        self._human_input = self.runtime.human_input  # 0.2's name for the same list
        self._reply_func_list: list[dict[str, Any]] = []
        self.client_cache: Any = None
        self._tools_for_llm: list[dict[str, Any]] = []
        self.hook_lists: dict[str, list[Callable]] = {
            "process_last_received_message": [], "process_all_messages_before_reply": [],
            "process_message_before_send": []}
        self._setup_llm(llm_config)
        self._setup_code_execution(code_execution_config)
        self.register_reply([Agent, None], ConversableAgent.generate_oai_reply)  # 0.2's names (compat_api.py)
        self.register_reply([Agent, None], ConversableAgent.generate_code_execution_reply)
        self.register_reply([Agent, None], ConversableAgent.generate_function_call_reply)
        self.register_reply([Agent, None], ConversableAgent.generate_tool_calls_reply)
        self.register_reply([Agent, None], ConversableAgent.check_termination_and_human_reply)
        announce("agent", self, locals())  # runtime_logging's agents table, when logging is on

    # ------------------------------------------------------------------ setup

    def _setup_llm(self, llm_config: Any) -> None:
        if llm_config is False:
            self.llm_config: dict[str, Any] | bool = False
            self.client: ModelClient | None = None
            return
        if llm_config is True:
            llm_config = None
        if llm_config is not None and not isinstance(llm_config, dict):
            raise ConfigAssertionError(f"llm_config must be a dict, None or False; got {describe(llm_config)}")
        self.llm_config = copy.deepcopy(llm_config) if llm_config is not None else None  # type: ignore[assignment]
        self.client = ModelClient(self.llm_config if isinstance(self.llm_config, dict) else None,
                                  agent_name=self._name)
        if isinstance(llm_config, dict):
            for tool in llm_config.get("tools", []) or []:
                self._tools_for_llm.append(tool)

    def _setup_code_execution(self, config: Any) -> None:
        if config is None:
            config = {}
        if config is True:
            config = {}
        check_code_execution_config(config)
        if isinstance(config, dict):
            config = dict(config)
            approval = config.get("approval", "never")
            if approval not in ("never", "always", "first"):
                raise ConfigError(f"code_execution_config['approval'] must be 'never', 'always' or 'first', "
                                  f"not {approval!r}")
            if config.get("use_docker") not in (None, False):
                from ..coding import make_executor

                make_executor(config)  # raises DockerUnavailableError now, never runs on the host
        elif isinstance(config, CodeExecutor):
            config = {"executor": config}
        self._code_execution_config: dict[str, Any] | bool = config

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:  # type: ignore[override]  # Agent declares ``name``; here it is read-only, as in 0.2
        return self._name

    @property
    def description(self) -> str:
        return self._description

    @description.setter
    def description(self, value: str) -> None:
        self._description = value

    @property
    def system_message(self) -> str:
        return self._oai_system_message[0]["content"]

    def update_system_message(self, system_message: str) -> None:
        self._oai_system_message[0]["content"] = system_message

    def max_consecutive_auto_reply(self, sender: Agent | None = None) -> int:
        return self._max_consecutive_auto_reply if sender is None else self._max_consecutive_auto_reply_dict[sender]

    def update_max_consecutive_auto_reply(self, value: int, sender: Agent | None = None) -> None:
        if sender is None:
            self._max_consecutive_auto_reply = value
            for k in self._max_consecutive_auto_reply_dict:
                self._max_consecutive_auto_reply_dict[k] = value
        else:
            self._max_consecutive_auto_reply_dict[sender] = value

    @property
    def chat_messages(self) -> dict[Any, list[dict[str, Any]]]:
        return self._oai_messages

    def chat_messages_for_summary(self, agent: Agent) -> list[dict[str, Any]]:
        return self._oai_messages[agent]

    @property
    def code_execution_config(self) -> dict[str, Any] | bool:
        """The code execution settings (``False``: this agent runs no code). Read them, do not change them:
        a chat's approval policy is ``initiate_chat(..., approval=...)``, scoped to that chat."""
        return self._code_execution_config

    @property
    def code_executor(self) -> Any:
        """The executor (created on first use)."""
        return self.runtime.executor

    @property
    def is_termination_msg(self) -> Callable[[dict[str, Any]], bool]:
        """The check, given at construction, of whether a message ends the chat: ``agent.is_termination_msg(m)``."""
        return self._is_termination_msg

    @property
    def default_auto_reply(self) -> str | dict[str, Any]:
        """The reply when no reply function gives a final one."""
        return self._default_auto_reply

    @property
    def use_docker(self) -> bool | str | None:
        cfg = self._code_execution_config
        return cfg.get("use_docker", False) if isinstance(cfg, dict) else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r})"

    # ------------------------------------------------------------------ messages

    @staticmethod
    def _message_to_dict(message: Any) -> dict[str, Any]:
        if isinstance(message, str):
            return {"content": message}
        if isinstance(message, dict):
            return message
        if message is None:
            return {"content": ""}
        return {"content": str(message)}

    def append_message(self, message: Any, role: str, conversation_id: Agent, is_sending: bool) -> bool:
        """Store ``message`` in the conversation with ``conversation_id`` (sent, or received from it), in the
        shape the model is shown; False (nothing stored) when it has neither content nor a call."""
        message = self._message_to_dict(message)
        keys = ("content", "function_call", "tool_calls", "tool_responses", "tool_call_id", "name", "context")
        oai = {k: message[k] for k in keys if k in message and message[k] is not None}
        if "content" not in oai:
            if "function_call" in oai or "tool_calls" in oai:
                oai["content"] = None
            elif "content" in message:  # explicit None content: keep an empty message rather than crash
                oai["content"] = ""
            else:
                return False
        if message.get("role") in ("function", "tool"):
            oai["role"] = message["role"]
        else:
            oai["role"] = role
        if oai.get("function_call") or oai.get("tool_calls"):
            oai["role"] = "assistant"
        if "name" not in oai:
            oai["name"] = self.name if is_sending else conversation_id.name
        self._oai_messages[conversation_id].append(oai)
        return True

    _append_oai_message = append_message  # AutoGen 0.2's name

    async def a_send(self, message: Any, recipient: ConversableAgent, request_reply: bool | None = None,
                     silent: bool | None = False) -> None:
        """Send ``message`` to ``recipient`` (who may reply)."""
        message = await self.a_process_message_before_send(message, recipient, silent)
        if isinstance(message, dict):
            check_message("message", message)
        message = self._message_to_dict(message)
        if not self.append_message(message, "assistant", recipient, is_sending=True):
            raise ValueError("Message can't be converted into a valid ChatCompletion message. "
                             "Either content or function_call must be provided.")
        stored = self._oai_messages[recipient][-1]
        event = MessageSent(sender=self.name, recipient=recipient.name, message=stored)
        stream_id = message.get("_stream_id") if isinstance(message, dict) else None
        if stream_id:
            event.message_id = stream_id
        emit(event)
        await deliver(recipient, message, self, request_reply, silent)  # a sync-only custom Agent works too

    def send(self, message: Any, recipient: ConversableAgent, request_reply: bool | None = None,
             silent: bool | None = False) -> None:
        run_sync(self.a_send(message, recipient, request_reply, silent))

    async def a_receive(self, message: Any, sender: ConversableAgent, request_reply: bool | None = None,
                        silent: bool | None = False) -> None:
        """Store ``message``; reply to ``sender`` unless ``request_reply`` is False."""
        message = {k: v for k, v in self._message_to_dict(message).items() if k != "_stream_id"}
        if not self.append_message(message, "user", sender, is_sending=False):
            raise ValueError("Received message can't be converted into a valid ChatCompletion message. "
                             "Either content or function_call must be provided.")
        if request_reply is False or (request_reply is None and self.reply_at_receive[sender] is False):
            return
        reply = await self.a_generate_reply(messages=self._oai_messages[sender], sender=sender)
        if reply is not None:
            await self.a_send(reply, sender, silent=silent)
        else:
            note_stop("terminated")

    def receive(self, message: Any, sender: ConversableAgent, request_reply: bool | None = None,
                silent: bool | None = False) -> None:
        run_sync(self.a_receive(message, sender, request_reply, silent))

    # ------------------------------------------------------------------ human input

    async def a_get_human_input(self, prompt: str) -> str:
        """Ask a person; the one override point (the notebook panel installs its own provider)."""
        if type(self).get_human_input is not ConversableAgent.get_human_input:
            reply = await call_in_caller(lambda: self.get_human_input(prompt))
        else:
            reply = await ask_human(self.name, prompt)
        self.runtime.human_input.append(reply)
        return reply

    def get_human_input(self, prompt: str) -> str:
        """Sync override point kept for AutoGen subclasses; by default the installed provider / ``input()``."""
        return run_sync(ask_human(self.name, prompt))

    # ------------------------------------------------------------------ chats

    def prepare_chat(self, recipient: ConversableAgent, clear_history: bool, prepare_recipient: bool = True,
                     reply_at_receive: bool = True) -> None:
        """Get ready for a chat with ``recipient`` (and it for one with this agent, unless not ``prepare_recipient``):
        counters reset, ``reply_at_receive`` set, and with ``clear_history`` their conversation forgotten."""
        self.reset_consecutive_auto_reply_counter(recipient)
        self.reply_at_receive[recipient] = reply_at_receive
        if clear_history:
            self.clear_history(recipient)
            self.runtime.human_input.clear()
        if prepare_recipient:
            recipient.prepare_chat(self, clear_history, False, reply_at_receive)

    async def a_generate_init_message(self, message: Any, **kwargs: Any) -> str | dict[str, Any]:
        if message is None:
            message = await self.a_get_human_input(">")
        if callable(message):
            value = message(self, kwargs.get("recipient"), kwargs)
            message = await maybe_await(value)
        if isinstance(message, dict):
            message = dict(message)
            for key in ("carryover",):
                message.pop(key, None)
        carryover = kwargs.get("carryover")
        if carryover:
            if not isinstance(carryover, str | list) or not isinstance(message, str | dict):
                from ..exception_utils import InvalidCarryOverType

                raise InvalidCarryOverType("Carryover should be a string or a list of strings.")
            text = carryover if isinstance(carryover, str) else "\n".join(map(content_str, carryover))
            if isinstance(message, str):
                message = f"{message}\nContext: \n{text}"
            elif isinstance(message, dict):
                message["content"] = f"{content_str(message.get('content'))}\nContext: \n{text}"
        return message

    def generate_init_message(self, message: Any, **kwargs: Any) -> str | dict[str, Any]:
        return run_sync(self.a_generate_init_message(message, **kwargs))

    async def a_execute_code_blocks(self, code_blocks: list[Any]) -> str:
        """Run ``(language, code)`` pairs or CodeBlocks as the code-execution reply would (approval included)."""
        blocks = [b if isinstance(b, CodeBlock) else CodeBlock(code=b[1], language=normalize_language(b[0]))
                  for b in code_blocks]
        return await replies.run_code_blocks(self, blocks)

    def execute_code_blocks(self, code_blocks: list[Any]) -> str:
        return run_sync(self.a_execute_code_blocks(code_blocks))

    async def a_initiate_chat(self, recipient: ConversableAgent, clear_history: bool = True,
                              silent: bool | None = False, cache: Any = None, max_turns: int | None = None,
                              summary_method: str | Callable | None = "last_msg",
                              summary_args: dict[str, Any] | None = None,
                              message: str | dict | Callable | None = None, **kwargs: Any) -> ChatResult:
        """Start a chat with ``recipient`` and return its :class:`ChatResult` when it ends."""
        check_chat_arguments(recipient=recipient, clear_history=clear_history, silent=silent, max_turns=max_turns,
                             message=message, summary_args=summary_args)
        if summary_method not in (None, "last_msg", "reflection_with_llm") and not callable(summary_method):
            raise ConfigError("summary_method must be 'last_msg', 'reflection_with_llm', a callable or None")
        if kwargs.get("approval") is not None:  # the chat's policy for every agent in it (nested included)
            check_policy(kwargs["approval"], "approval")
        from .._compose import install_defaults  # a public entry point: the default view and run history

        install_defaults()
        return await _chat.run_chat(self, recipient, clear_history=clear_history, silent=silent,
                                    cache=cache, max_turns=max_turns, summary_method=summary_method,
                                    summary_args=summary_args or {}, message=message, kwargs=kwargs)

    def initiate_chat(self, recipient: ConversableAgent, clear_history: bool = True,
                      silent: bool | None = False, cache: Any = None, max_turns: int | None = None,
                      summary_method: str | Callable | None = "last_msg",
                      summary_args: dict[str, Any] | None = None,
                      message: str | dict | Callable | None = None, **kwargs: Any) -> ChatResult:
        return run_sync(self.a_initiate_chat(recipient, clear_history, silent, cache, max_turns,
                                             summary_method, summary_args, message, **kwargs))

    async def a_initiate_chats(self, chat_queue: list[dict[str, Any]]) -> list[ChatResult]:
        """Run several chats in order, this agent sending; each summary is carried over to the next."""
        return await _chat.a_initiate_chats([{**spec, "sender": self} for spec in chat_queue])

    def initiate_chats(self, chat_queue: list[dict[str, Any]]) -> list[ChatResult]:
        return run_sync(self.a_initiate_chats(chat_queue))

    def a_run_stream(self, recipient: ConversableAgent, *, silent: bool | None = True,
                     **kwargs: Any) -> AsyncIterator[Event | ChatResult]:
        """:meth:`a_initiate_chat` as an async iterator of the chat's events, then its :class:`ChatResult`.

        The caller owns the view, so no default view is attached unless ``silent=False``
        (see :mod:`agentnb.agents.stream`).
        """
        return event_stream(lambda: self.a_initiate_chat(recipient, silent=silent, **kwargs))

    # ------------------------------------------------------------------ state

    def reset_consecutive_auto_reply_counter(self, sender: Agent | None = None) -> None:
        self.runtime.reset_auto_replies(sender)

    def stop_reply_at_receive(self, sender: Agent | None = None) -> None:
        if sender is None:
            self.reply_at_receive.clear()
        else:
            self.reply_at_receive[sender] = False

    def clear_history(self, recipient: Agent | None = None, nr_messages_to_preserve: int | None = None) -> None:
        if recipient is None:
            if nr_messages_to_preserve:
                for key in self._oai_messages:
                    self._oai_messages[key] = self._oai_messages[key][-nr_messages_to_preserve:]
            else:
                self._oai_messages.clear()
        else:
            self._oai_messages[recipient].clear()

    def reset(self) -> None:
        """Forget all conversations, counters and reply-function state."""
        self.clear_history()
        self.runtime.forget()
        self.stop_reply_at_receive()
        if self.client is not None:
            self.client.clear_usage()
        self._reset_reply_configs()

    # ------------------------------------------------------------------ usage

    def get_total_usage(self) -> dict[str, Any] | None:
        return self.client.usage_summary() if self.client else None

    def get_actual_usage(self) -> dict[str, Any] | None:
        return self.client.usage_summary(actual=True) if self.client else None


__all__ = ["Agent", "ConversableAgent", "default_is_termination_msg"]

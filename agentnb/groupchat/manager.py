"""``GroupChatManager``: runs a :class:`GroupChat` as one agent in a two-agent chat."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from typing import Any

from .._aio import run_sync
from ..agents import scope as _scope
from ..agents.conversable import Agent, ConversableAgent
from ..errors import ConfigError
from .core import GroupChat
from .selection import NoEligibleSpeaker


class GroupChatManager(ConversableAgent):
    """Relays every message to the group, picks the next speaker, asks it for a reply; repeats.

    >>> manager = GroupChatManager(groupchat=groupchat, llm_config=llm_config)
    >>> user_proxy.initiate_chat(manager, message="Plot sin(x).")

    Stop reasons (``ChatResult.stop_reason``): ``terminated`` (a termination message),
    ``max_round``, ``no_eligible_speaker``, or the silent speaker's own reason.
    """

    def __init__(self, groupchat: GroupChat, name: str = "chat_manager",
                 max_consecutive_auto_reply: int | None = sys.maxsize, human_input_mode: str = "NEVER",
                 system_message: str | list | None = "Group chat manager.",
                 llm_config: dict[str, Any] | bool | None = None, silent: bool = False, **kwargs: Any):
        if not isinstance(groupchat, GroupChat):
            raise ConfigError(f"GroupChatManager's groupchat must be a GroupChat(agents=[...]); got "
                              f"{type(groupchat).__name__}")
        if isinstance(llm_config, dict):  # a manager never offers tools to its model
            llm_config = {k: v for k, v in llm_config.items() if k not in ("tools", "functions", "tool_choice")}
        super().__init__(name, system_message=system_message, max_consecutive_auto_reply=max_consecutive_auto_reply,
                         human_input_mode=human_input_mode, llm_config=llm_config, silent=silent, **kwargs)
        self._groupchat = groupchat
        self._last_speaker: Agent | None = None
        self.register_reply([Agent, None], GroupChatManager.a_run_chat, config=groupchat,
                            reset_config=GroupChat.reset)
        self._reply_func_list[0]["config"] = groupchat  # the same object, not register_reply's copy

    @property
    def groupchat(self) -> GroupChat:
        return self._groupchat

    @property
    def last_speaker(self) -> Agent | None:
        """Who spoke last in the current (or previous) group chat."""
        return self._last_speaker

    def chat_participants(self) -> list[Agent]:
        """The group's agents (their executors are closed when the outer chat ends)."""
        return list(self._groupchat.agents)

    def prepare_chat(self, recipient: ConversableAgent, clear_history: bool, prepare_recipient: bool = True,
                     reply_at_receive: bool = True) -> None:
        super().prepare_chat(recipient, clear_history, prepare_recipient, reply_at_receive)
        if clear_history:  # a fresh chat starts from an empty transcript (resume() continues one)
            self._groupchat.reset()
            for agent in self._groupchat.agents:
                self.clear_history(agent)
                if isinstance(agent, ConversableAgent):
                    agent.clear_history(self)
                    agent.reset_consecutive_auto_reply_counter(self)

    async def _deliver(self, message: Any, agent: Any) -> None:
        """``send(..., request_reply=False, silent=True)`` without a MessageSent event (views stay quiet)."""
        if self.append_message(message, "assistant", agent, is_sending=True):
            await agent.a_receive(message, self, request_reply=False, silent=True)

    def _is_end(self, message: dict[str, Any], speaker: Any) -> bool:
        if self.is_termination_msg(message):
            return True
        return any(agent is not speaker and isinstance(agent, ConversableAgent) and agent.is_termination_msg(message)
                   for agent in self._groupchat.agents)

    async def a_run_chat(self, messages: list[dict[str, Any]] | None = None, sender: Any = None,
                         config: GroupChat | None = None) -> tuple[bool, None]:
        """The group chat loop (a reply function: the manager's own reply is always None)."""
        groupchat = config if isinstance(config, GroupChat) else self._groupchat
        if messages is None:
            messages = self._oai_messages[sender]
        message = messages[-1]
        speaker = sender if sender is not None else self
        if groupchat.send_introductions:
            intro = groupchat.introductions_msg()
            for agent in groupchat.agents:
                await self._deliver(intro, agent)
        for i in range(groupchat.max_round):
            self._last_speaker = speaker
            groupchat.append(message, speaker)
            for agent in groupchat.agents:
                if agent is not speaker:
                    await self._deliver(message, agent)
            if self._is_end(message, speaker):
                _scope.note_stop("terminated")
                break
            if i == groupchat.max_round - 1:
                _scope.note_stop("max_round")
                break
            try:
                speaker = await groupchat.a_select_speaker(speaker, self)
            except NoEligibleSpeaker:
                _scope.note_stop("no_eligible_speaker")
                break
            reply: str | dict[str, Any] | None = await speaker.a_generate_reply(sender=self)
            if reply is None:
                _scope.note_stop("no_reply")
                break
            if groupchat.enable_clear_history and isinstance(reply, dict) and isinstance(reply.get("content"), str) \
                    and "CLEAR HISTORY" in reply["content"].upper():
                reply = {**reply, "content": self.clear_agents_history(reply, groupchat)}
            await speaker.a_send(reply, self, request_reply=False, silent=self.silent)
            sent = self.last_message(speaker)
            if sent is None:  # a hook dropped the reply before it was stored: nothing to relay
                _scope.note_stop("no_reply")
                break
            message = sent
        return True, None

    def run_chat(self, messages: list[dict[str, Any]] | None = None, sender: Any = None,
                 config: GroupChat | None = None) -> tuple[bool, None]:
        return run_sync(self.a_run_chat(messages, sender, config))

    def chat_messages_for_summary(self, agent: Agent) -> list[dict[str, Any]]:
        """The group's transcript (``agent`` is ignored), as 0.2 summarizes a group chat."""
        return self._groupchat.messages

    def clear_agents_history(self, reply: dict[str, Any], groupchat: GroupChat) -> str:
        """AutoGen 0.2's ``CLEAR HISTORY [agent] [n]`` command: forget the history of every agent (or of
        ``agent``), keeping the last ``n`` messages; returns the reply text without the command."""
        from .clear_history import clear_agents_history

        return clear_agents_history(reply, groupchat)

    # ------------------------------------------------------------------ resume

    @staticmethod
    def messages_to_string(messages: list[dict[str, Any]]) -> str:
        return json.dumps(messages)

    @staticmethod
    def messages_from_string(text: str) -> list[dict[str, Any]]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"resume(): the messages string is not JSON ({exc.msg})") from None
        return data

    def resume(self, messages: list[dict[str, Any]] | str,
               remove_termination_string: str | Callable[[str], str] | None = None,
               silent: bool | None = False) -> tuple[ConversableAgent, dict[str, Any]]:
        """Restore a saved group chat; returns ``(last_agent, last_message)`` to continue with::

            last_agent, last_message = manager.resume(messages=saved)
            last_agent.initiate_chat(manager, message=last_message, clear_history=False)
        """
        if isinstance(messages, str):
            messages = self.messages_from_string(messages)
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ConfigError("resume() needs a list of message dicts (or their JSON string)")
        if not messages:
            raise ConfigError("resume() needs at least one message")
        messages = copy.deepcopy(messages)
        gc = self._groupchat
        known = {*gc.agent_names, gc.admin_name, self.name}
        unknown = sorted({m["name"] for m in messages if m.get("name") and m["name"] not in known})
        if unknown:
            raise ConfigError(f"resume(): messages name speakers that are not in the group: {', '.join(unknown)}")
        for agent in gc.agents:
            if isinstance(agent, ConversableAgent):
                agent.clear_history()
        self.clear_history()
        gc.reset()
        for message in messages[:-1]:
            speaker = gc.agent_by_name(message.get("name", "")) or self
            for agent in gc.agents:
                if agent is speaker:
                    agent.append_message(message, "assistant", self, is_sending=True)
                    self.append_message(message, "user", agent, is_sending=False)
                else:
                    self.append_message(message, "assistant", agent, is_sending=True)
                    agent.append_message(message, "user", self, is_sending=False)
            gc.append(message, speaker)
        last = messages[-1]
        last_agent = gc.agent_by_name(last.get("name", "")) or self
        if remove_termination_string and isinstance(last.get("content"), str):
            if callable(remove_termination_string):
                last["content"] = remove_termination_string(last["content"])
            else:
                last["content"] = last["content"].replace(remove_termination_string, "")
        if not silent:
            print(f"Prepared group chat with {len(messages)} messages, the last speaker is {last_agent.name}")
            if self.is_termination_msg(last):
                print("WARNING: the last message meets the termination condition; the resumed chat may end "
                      "at once (pass remove_termination_string=...)")
        self._last_speaker = last_agent
        gc.send_introductions = False
        return last_agent, last

    async def a_resume(self, messages: list[dict[str, Any]] | str,
                       remove_termination_string: str | Callable[[str], str] | None = None,
                       silent: bool | None = False) -> tuple[ConversableAgent, dict[str, Any]]:
        return self.resume(messages, remove_termination_string, silent)


__all__ = ["GroupChatManager"]

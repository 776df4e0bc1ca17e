"""Behaviour that used to differ from AutoGen 0.2 and now matches it (issue 11)."""

from __future__ import annotations

import pytest

import agentnb as autogen
from agentnb import ConversableAgent, GroupChat, GroupChatManager
from agentnb.errors import ConfigError

HELLO = [{"role": "user", "content": "hello"}]


def test_default_termination_is_exactly_terminate_as_in_0_2(model_server):
    for cls in (ConversableAgent, autogen.AssistantAgent, autogen.UserProxyAgent):
        agent = cls("a", llm_config=False)
        assert agent._is_termination_msg({"content": "TERMINATE"})
        assert not agent._is_termination_msg({"content": "All done. TERMINATE"})
        assert not agent._is_termination_msg({"content": "TERMINATE."})
        assert not agent._is_termination_msg({"content": None, "tool_calls": []})


def test_a_chat_goes_on_after_a_message_that_only_ends_with_terminate(model_server):
    model_server.add("The answer is 4. TERMINATE", "TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    result = user.initiate_chat(assistant, message="2+2?", silent=True)
    assert [m["content"] for m in result.chat_history] == ["2+2?", "The answer is 4. TERMINATE", "", "TERMINATE"]
    assert result.stop_reason == "terminated"


def test_the_0_2_notebook_idiom_ends_on_a_trailing_terminate(model_server):
    model_server.add("The answer is 4. TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                                  is_termination_msg=lambda x: (x.get("content") or "").rstrip().endswith("TERMINATE"))
    result = user.initiate_chat(assistant, message="2+2?", silent=True)
    assert len(result.chat_history) == 2 and result.summary == "The answer is 4."


def test_auto_selection_with_a_model_less_manager_falls_back_in_turn():
    agents = [ConversableAgent(n, llm_config=False, human_input_mode="NEVER", default_auto_reply=f"{n} here")
              for n in ("a", "b", "c")]
    gc = GroupChat(agents, messages=[], max_round=4)  # speaker_selection_method="auto"
    manager = GroupChatManager(gc, llm_config=False)  # 0.2 accepts this; agentnb used to refuse it
    agents[0].initiate_chat(manager, message="go", silent=True)
    assert [m["name"] for m in gc.messages] == ["a", "b", "c", "a"]


def test_sync_send_and_initiate_chat_with_a_sync_only_custom_agent():
    class Counter:
        """A user's own Agent with only sync methods (0.2's Agent protocol, sync half)."""

        def __init__(self):
            self.name, self.description, self.seen = "counter", "counts", []

        def receive(self, message, sender, request_reply=None, silent=False):
            self.seen.append(message)
            if request_reply is not False and len(self.seen) < 3:
                sender.receive(f"count {len(self.seen)}", self, request_reply=True)

    counter = Counter()
    talker = ConversableAgent("talker", llm_config=False, human_input_mode="NEVER", default_auto_reply="more")
    talker.send("start", counter)
    assert counter.seen == ["start", "more", "more"]
    assert [m["content"] for m in talker.chat_messages[counter]] == ["start", "count 1", "more", "count 2", "more"]


def test_errors_match_0_2_types():
    agent = ConversableAgent("a", llm_config=False)
    with pytest.raises(AssertionError):
        agent.register_hook("not_a_hook", print)
    agent.register_hook("process_last_received_message", str.upper)
    with pytest.raises(AssertionError):
        agent.register_hook("process_last_received_message", str.upper)
    with pytest.raises(AssertionError):
        ConversableAgent("b", llm_config="gpt-4")  # 0.2 asserts the llm_config type
    with pytest.raises(AssertionError, match="must be provided"):
        agent.generate_reply()
    with pytest.raises(ValueError):
        agent.register_reply(123, lambda *a, **k: (True, None))
    with pytest.raises(ValueError):
        GroupChat([agent], speaker_selection_method="loudest")
    with pytest.raises(ValueError):
        ConversableAgent("c", llm_config=False, code_execution_config="yes")
    with pytest.raises(KeyError):
        agent.last_message(ConversableAgent("never_talked", llm_config=False))
    assert issubclass(ConfigError, ValueError)


def test_sender_required_for_a_name_trigger():
    agent = ConversableAgent("a", llm_config=False)
    agent.register_reply("alice", lambda *a, **k: (True, "hi alice"))
    with pytest.raises(autogen.SenderRequired):
        agent.generate_reply(HELLO)


def test_reply_functions_registered_by_0_2_name_are_agent_methods():
    agent = ConversableAgent("a", llm_config=False)
    assert agent.reply_func_list[-1]["reply_func"] is ConversableAgent.generate_oai_reply
    assert agent.reply_func_list[0]["reply_func"] is ConversableAgent.check_termination_and_human_reply

"""``autogen.agentchat`` (0.2): ConversableAgent's public reply functions, hooks, messages and group chat API,
against real agents and the real scripted model server."""

from __future__ import annotations

import asyncio
import json

import pytest

import agentnb as autogen
from agentnb import Agent, ConversableAgent, GroupChat, GroupChatManager
from agentnb.exception_utils import (
    AgentNameConflict,
    InvalidCarryOverType,
    NoEligibleSpeaker,
    SenderRequired,
    UndefinedNextAgent,
)
from agentnb.testing import code, tool_calls

HELLO = [{"role": "user", "content": "hello"}]


def bot(name: str, replies: list | None = None, **kw) -> ConversableAgent:
    """A deterministic agent answering with ``replies`` in order."""
    agent = ConversableAgent(name, llm_config=False, human_input_mode="NEVER", description=f"{name} helps.", **kw)
    queue = list(replies or [])

    def reply(recipient, messages=None, sender=None, config=None):
        return True, (queue.pop(0) if queue else f"{name}: (nothing more)")

    agent.register_reply([Agent, None], reply)
    return agent


def model_agent(server, name="assistant", **kw) -> ConversableAgent:
    return ConversableAgent(name, llm_config=server.llm_config(**kw.pop("llm", {})), human_input_mode="NEVER", **kw)


# ------------------------------------------------------------------------ reply functions as methods


def test_generate_oai_reply_sync_and_async(model_server):
    model_server.add("sync answer", "async answer")
    agent = model_agent(model_server, system_message="Be brief.")
    assert agent.generate_oai_reply(HELLO) == (True, "sync answer")
    assert asyncio.run(agent.a_generate_oai_reply(HELLO)) == (True, "async answer")
    assert model_server.requests[0]["messages"] == [{"role": "system", "content": "Be brief."}, *HELLO]
    assert ConversableAgent("x", llm_config=False).generate_oai_reply(HELLO) == (False, None)


def test_generate_oai_reply_returns_tool_calls_as_a_dict_even_when_streamed(model_server):
    model_server.add(tool_calls([("lookup", {"q": "x"})]), "streamed text")
    agent = model_agent(model_server, llm={"stream": True})
    final, reply = agent.generate_oai_reply(HELLO)
    assert final and reply["tool_calls"][0]["function"]["name"] == "lookup"
    assert not any(key.startswith("_") for key in reply)
    assert agent.generate_oai_reply(HELLO) == (True, "streamed text")  # plain text, no private stream id


def test_generate_code_execution_reply(tmp_workdir):
    proxy = autogen.UserProxyAgent("proxy", human_input_mode="NEVER", code_execution_config={
        "work_dir": str(tmp_workdir), "executor": "commandline-local"})
    other = bot("other")
    messages = [{"role": "user", "name": "other", "content": "```python\nprint(6 * 7)\n```"}]
    final, reply = proxy.generate_code_execution_reply(messages, sender=other)
    assert final and reply.startswith("exitcode: 0 (execution succeeded)\nCode output: ") and "42" in reply
    assert proxy.generate_code_execution_reply([{"role": "user", "content": "no code"}]) == (False, None)
    final, reply = asyncio.run(proxy.a_generate_code_execution_reply(
        [{"role": "user", "content": "```python\nraise SystemExit(3)\n```"}]))
    assert final and reply.startswith("exitcode: 3 (execution failed)")
    assert bot("nocode").generate_code_execution_reply(messages) == (False, None)


def test_generate_tool_calls_and_function_call_replies():
    executor = ConversableAgent("executor", llm_config=False, function_map={"add": lambda a, b: a + b})
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]}
    final, reply = executor.generate_tool_calls_reply([call])
    assert final and reply["role"] == "tool"
    assert reply["tool_responses"] == [{"tool_call_id": "call_1", "role": "tool", "content": "5"}]
    legacy = {"role": "assistant", "content": None, "function_call": {"name": "add", "arguments": '{"a": 1, "b": 1}'}}
    final, reply = asyncio.run(executor.a_generate_function_call_reply([legacy]))
    assert final and (reply["role"], reply["name"], reply["content"]) == ("function", "add", "2")
    assert executor.generate_tool_calls_reply(HELLO) == (False, None)
    assert executor.generate_function_call_reply(HELLO) == (False, None)


def test_check_termination_and_human_reply():
    agent = ConversableAgent("a", llm_config=False, human_input_mode="NEVER", max_consecutive_auto_reply=2)
    sender = bot("s")
    assert agent.check_termination_and_human_reply([{"content": "TERMINATE"}], sender) == (True, None)
    assert agent.check_termination_and_human_reply([{"content": "go on"}], sender) == (False, None)
    assert agent._consecutive_auto_reply_counter[sender] == 1
    assert asyncio.run(agent.a_check_termination_and_human_reply([{"content": "go on"}], sender)) == (False, None)
    assert agent.check_termination_and_human_reply([{"content": "go on"}], sender) == (True, None)  # limit hit


def test_the_reply_func_list_holds_0_2_names_so_replace_and_exclude_work(model_server):
    agent = model_agent(model_server)
    funcs = [entry["reply_func"] for entry in agent.reply_func_list]
    for method in (ConversableAgent.generate_oai_reply, ConversableAgent.generate_code_execution_reply,
                   ConversableAgent.generate_tool_calls_reply, ConversableAgent.generate_function_call_reply,
                   ConversableAgent.check_termination_and_human_reply):
        assert method in funcs
    assert agent.generate_reply(HELLO, exclude=[ConversableAgent.generate_oai_reply]) == ""  # default auto reply
    assert model_server.requests == []
    agent.replace_reply_func(ConversableAgent.generate_oai_reply,
                             lambda recipient, messages=None, sender=None, config=None: (True, "replaced"))
    assert agent.generate_reply(HELLO) == "replaced"


def test_a_users_sync_reply_function_may_call_sync_agent_methods_inside_a_chat(model_server):
    model_server.add("from the model")
    assistant = model_agent(model_server)
    seen = []

    def wrap(recipient, messages=None, sender=None, config=None):
        _, reply = recipient.generate_oai_reply(messages, sender)  # a sync call from inside a chat
        seen.append(reply)
        return True, f"[wrapped] {reply}"

    assistant.register_reply([Agent, None], wrap)
    user = ConversableAgent("user", llm_config=False, human_input_mode="NEVER", max_consecutive_auto_reply=0)
    result = user.initiate_chat(assistant, message="hi", silent=True)
    assert seen == ["from the model"]
    assert result.chat_history[-1]["content"] == "[wrapped] from the model"


def test_generate_init_message_and_carryover():
    agent = ConversableAgent("a", llm_config=False)
    assert agent.generate_init_message("task") == "task"
    assert agent.generate_init_message("task", carryover="earlier") == "task\nContext: \nearlier"
    assert agent.generate_init_message("task", carryover=["one", "two"]) == "task\nContext: \none\ntwo"
    assert agent.generate_init_message({"content": "t"}, carryover="c") == {"content": "t\nContext: \nc"}
    with pytest.raises(InvalidCarryOverType):
        agent.generate_init_message("task", carryover=42)


# ------------------------------------------------------------------------ hooks


def test_process_last_received_message_returns_the_processed_list_and_keeps_history():
    agent = ConversableAgent("a", llm_config=False)
    agent.register_hook("process_last_received_message", lambda text: text.upper())
    history = [{"role": "user", "content": "first"}, {"role": "user", "content": "last"}]
    out = agent.process_last_received_message(history)
    assert [m["content"] for m in out] == ["first", "LAST"]
    assert history[-1]["content"] == "last"
    assert agent.process_last_received_message([{"role": "user", "content": "exit"}])[0]["content"] == "exit"
    call = [{"role": "assistant", "content": "x", "function_call": {"name": "f", "arguments": "{}"}}]
    assert agent.process_last_received_message(call) is call
    assert agent.process_last_received_message(None) is None


def test_async_hooks_are_awaited_in_chats_and_run_in_0_2_order(model_server):
    model_server.add("ok", "ok")
    assistant = model_agent(model_server)
    order = []

    async def shout(text):
        order.append("last")
        return text.upper()

    def count(messages):
        order.append(f"all:{messages[-1]['content']}")
        return messages

    assistant.register_hook("process_last_received_message", shout)
    assistant.register_hook("process_all_messages_before_reply", count)
    user = ConversableAgent("user", llm_config=False, human_input_mode="NEVER", max_consecutive_auto_reply=0)
    user.initiate_chat(assistant, message="hello", silent=True)
    assert order == ["last", "all:HELLO"]
    assert model_server.requests[0]["messages"][-1]["content"] == "HELLO"
    assert asyncio.run(assistant.a_process_last_received_message([{"content": "x"}])) == [{"content": "X"}]
    assert assistant.process_last_received_message([{"content": "y"}]) == [{"content": "Y"}]  # sync runs it too


def test_process_message_before_send_sync_and_async():
    agent = ConversableAgent("a", llm_config=False)
    other = bot("b")

    async def tag(sender, message, recipient, silent):
        return f"[{recipient.name}] {message}"

    agent.register_hook("process_message_before_send", tag)
    assert agent.process_message_before_send("hi", other, True) == "[b] hi"
    agent.send("hello", other, request_reply=False)
    assert other.chat_messages[agent][-1]["content"] == "[b] hello"


def test_update_system_message_and_chat_messages_for_summary(model_server):
    model_server.add("ok")
    agent = model_agent(model_server)
    agent.update_system_message("New rules.")
    assert agent.system_message == "New rules."
    agent.generate_oai_reply(HELLO)
    assert model_server.requests[0]["messages"][0] == {"role": "system", "content": "New rules."}
    other = bot("o")
    agent.send("hi", other, request_reply=False)
    assert agent.chat_messages_for_summary(other) == agent.chat_messages[other]


# ------------------------------------------------------------------------ messages, triggers


def test_last_message_errors_as_in_0_2():
    a, b, c = bot("a", ["x"]), bot("b", ["y"]), bot("c")
    assert a.last_message() is None
    a.send("one", b, request_reply=False)
    assert a.last_message()["content"] == "one"
    a.send("two", c, request_reply=False)
    with pytest.raises(ValueError, match="More than one conversation"):
        a.last_message()
    assert a.last_message(c)["content"] == "two"
    with pytest.raises(KeyError, match="not present in any conversation"):
        a.last_message(bot("stranger"))


def test_register_reply_validates_the_trigger():
    agent = ConversableAgent("a", llm_config=False)
    for bad in (42, 3.5, {"x": 1}):
        with pytest.raises(ValueError, match="trigger"):
            agent.register_reply(bad, lambda *a, **k: (True, "x"))
    agent.register_reply("bob", lambda *a, **k: (True, "for bob"))
    with pytest.raises(SenderRequired):
        agent.generate_reply(HELLO, sender=None)
    assert agent.generate_reply(HELLO, sender=bot("bob")) == "for bob"


def test_sync_send_reaches_a_custom_agent_with_only_sync_methods():
    class Echo:
        """A 0.2 custom Agent: name, description and sync send/receive only."""

        def __init__(self):
            self.name, self.description, self.received = "echo", "echoes", []

        def receive(self, message, sender, request_reply=None, silent=False):
            self.received.append(message)
            if request_reply is not False:
                sender.receive(f"echo: {message}", self, request_reply=False)

    echo, agent = Echo(), ConversableAgent("a", llm_config=False)
    agent.send("hi", echo)
    assert echo.received == ["hi"]
    assert [m["content"] for m in agent.chat_messages[echo]] == ["hi", "echo: hi"]


# ------------------------------------------------------------------------ nested chats


def test_register_nested_chats_use_async_validation():
    agent, inner = bot("outer"), bot("inner")
    with pytest.raises(ValueError, match="chat_id is required"):
        agent.register_nested_chats([{"recipient": inner, "max_turns": 1}], trigger=Agent, use_async=True)

    def not_a_coroutine(chat_queue, recipient, messages, sender, config):
        return True, "x"

    with pytest.raises(ValueError, match="coroutine"):
        agent.register_nested_chats([{"recipient": inner, "max_turns": 1, "chat_id": 1}], trigger=Agent,
                                    reply_func_from_nested_chats=not_a_coroutine, use_async=True)
    with pytest.raises(ValueError, match="callable"):
        agent.register_nested_chats([{"recipient": inner}], trigger=Agent, reply_func_from_nested_chats=42)


@pytest.mark.parametrize("run", ["sync", "async"])
def test_async_nested_chats_run_in_sync_and_async_chats(run):
    critic = bot("critic", ["Looks right."])
    writer = ConversableAgent("writer", llm_config=False, human_input_mode="NEVER")
    writer.register_nested_chats([{"recipient": critic, "max_turns": 1, "summary_method": "last_msg",
                                   "chat_id": 1}], trigger=lambda sender: sender is not critic, use_async=True)
    user = ConversableAgent("user", llm_config=False, human_input_mode="NEVER", max_consecutive_auto_reply=0)
    if run == "sync":
        result = user.initiate_chat(writer, message="write", silent=True)
    else:
        result = asyncio.run(user.a_initiate_chat(writer, message="write", silent=True))
    assert result.chat_history[-1]["content"] == "Looks right."


# ------------------------------------------------------------------------ group chat


def test_group_chat_manager_a_run_chat_directly():
    a, b, c = bot("a"), bot("b", ["b says"]), bot("c", ["c says"])
    gc = GroupChat([a, b, c], messages=[], max_round=3, speaker_selection_method="round_robin")
    manager = GroupChatManager(gc, llm_config=False)
    final, reply = asyncio.run(manager.a_run_chat([{"role": "user", "content": "start", "name": "a"}], a, gc))
    assert (final, reply) == (True, None)
    assert [m["content"] for m in gc.messages] == ["start", "b says", "c says"]
    assert manager.run_chat([{"role": "user", "content": "again", "name": "a"}], a, gc) == (True, None)


def person(text: str) -> dict:
    """A reply as a person's answer arrives (a dict): 0.2 applies CLEAR HISTORY to those only."""
    return {"role": "user", "content": text}


def test_enable_clear_history_clears_histories_and_strips_the_command():
    a = bot("a")
    b = bot("b", ["first answer"])
    c = bot("c", [person("Done. clear history"), "after clearing"])
    gc = GroupChat([a, b, c], messages=[], max_round=5, speaker_selection_method="round_robin",
                   enable_clear_history=True)
    manager = GroupChatManager(gc, llm_config=False)
    a.initiate_chat(manager, message="start", silent=True)
    contents = [m["content"] for m in gc.messages]
    assert "Done." in contents and not any("clear history" in x.lower() for x in contents)
    assert contents[0] == "Done."  # everything before the command was forgotten
    assert b.chat_messages[manager][0]["content"] == "Done."
    assert not GroupChat([a, b]).enable_clear_history
    model_text = bot("m", ["clear history"])  # a model's text reply is not a command
    gc2 = GroupChat([a, model_text], messages=[], max_round=2, speaker_selection_method="round_robin",
                    enable_clear_history=True)
    a.initiate_chat(GroupChatManager(gc2, llm_config=False), message="go", silent=True)
    assert [m["content"] for m in gc2.messages] == ["go", "clear history"]


def test_clear_history_for_one_agent_keeping_messages():
    a, b = bot("a"), bot("b")
    c = bot("c", [person("clear history b 1 thanks")])
    gc = GroupChat([a, b, c], messages=[], max_round=4, speaker_selection_method="round_robin",
                   enable_clear_history=True)
    manager = GroupChatManager(gc, llm_config=False)
    a.initiate_chat(manager, message="start", silent=True)
    assert "thanks" in [m["content"] for m in gc.messages]
    assert [m["content"] for m in a.chat_messages[manager]][:2] == ["start", "b: (nothing more)"]  # a kept all
    assert [m["content"] for m in b.chat_messages[manager]][:2] == ["b: (nothing more)", "thanks"]  # b kept 1


def test_an_empty_group_chat_is_allowed_until_a_speaker_is_needed():
    gc = GroupChat(agents=[], messages=[])
    assert gc.agents == [] and gc.agent_names == []
    with pytest.raises(ValueError, match="underpopulated"):
        gc.select_speaker(None, GroupChatManager(gc, llm_config=False))


def test_group_chat_helpers_raise_0_2_exceptions():
    a, b, c = bot("a"), bot("b"), bot("c")
    gc = GroupChat([a, b], messages=[])
    with pytest.raises(UndefinedNextAgent):
        gc.next_agent(a, [c])
    assert gc.next_agent(a) is b and gc.next_agent(b, [a, b]) is a
    inner = GroupChat([c, bot("a")], messages=[])
    outer = GroupChat([a, GroupChatManager(inner, name="inner_manager", llm_config=False)], messages=[])
    assert outer.agent_by_name("c") is None and outer.agent_by_name("c", recursive=True) is c
    assert outer.agent_by_name("a", recursive=True) is a
    with pytest.raises(AgentNameConflict):
        outer.agent_by_name("a", recursive=True, raise_on_name_conflict=True)
    selector = GroupChat([a, b], messages=[{"content": "x", "name": "a", "role": "user"}],
                         speaker_selection_method=lambda last, group: None)
    with pytest.raises(NoEligibleSpeaker):
        selector.select_speaker(a, GroupChatManager(selector, llm_config=False))


def test_group_chat_manager_summarizes_the_group_transcript():
    a, b = bot("a"), bot("b", ["b's answer"])
    gc = GroupChat([a, b], messages=[], max_round=2, speaker_selection_method="round_robin")
    manager = GroupChatManager(gc, llm_config=False)
    a.initiate_chat(manager, message="start", silent=True)
    assert manager.chat_messages_for_summary(a) is gc.messages
    assert json.loads(json.dumps(gc.messages))[-1]["content"] == "b's answer"


def test_code_reply_in_a_chat_uses_the_public_method(model_server, tmp_workdir):
    model_server.add(code("print('from code')"), "TERMINATE")
    assistant = model_agent(model_server)
    proxy = autogen.UserProxyAgent("proxy", human_input_mode="NEVER", code_execution_config={
        "work_dir": str(tmp_workdir), "executor": "commandline-local"}, max_consecutive_auto_reply=2)
    result = proxy.initiate_chat(assistant, message="run it", silent=True)
    assert any("from code" in (m.get("content") or "") for m in result.chat_history)


# ------------------------------------------------------------------------ async chat queues (0.2)


def test_a_initiate_chats_runs_by_prerequisites_and_returns_results_by_chat_id():
    from agentnb.agentchat.chat import a_initiate_chats

    user = ConversableAgent("user", llm_config=False, human_input_mode="NEVER")
    researcher, writer, checker = bot("researcher", ["facts"]), bot("writer", ["essay"]), bot("checker", ["ok"])
    queue = [
        {"chat_id": 3, "sender": user, "recipient": checker, "message": "check", "max_turns": 1,
         "prerequisites": [2]},
        {"chat_id": 1, "sender": user, "recipient": researcher, "message": "research", "max_turns": 1},
        {"chat_id": 2, "sender": user, "recipient": writer, "message": "write", "max_turns": 1,
         "prerequisites": [1], "carryover": "be brief"},
    ]
    results = asyncio.run(a_initiate_chats(queue))
    assert set(results) == {1, 2, 3}
    assert [results[i].summary for i in (1, 2, 3)] == ["facts", "essay", "ok"]
    assert writer.chat_messages[user][0]["content"] == "write\nContext: \nbe brief\nfacts"
    assert checker.chat_messages[user][0]["content"] == "check\nContext: \nessay"


def test_a_initiate_chats_rejects_missing_ids_cycles_and_senders():
    from agentnb.agentchat.chat import a_initiate_chats

    user, other = ConversableAgent("user", llm_config=False), bot("other")
    with pytest.raises(ValueError, match="chat_id"):
        asyncio.run(a_initiate_chats([{"sender": user, "recipient": other, "message": "x"}]))
    cycle = [{"chat_id": 1, "sender": user, "recipient": other, "message": "x", "prerequisites": [2]},
             {"chat_id": 2, "sender": user, "recipient": other, "message": "y", "prerequisites": [1]}]
    with pytest.raises(ValueError, match="cycle"):
        asyncio.run(a_initiate_chats(cycle))
    with pytest.raises(ValueError, match="not in the queue"):
        asyncio.run(a_initiate_chats([{"chat_id": 1, "sender": user, "recipient": other, "message": "x",
                                       "prerequisites": [9]}]))
    with pytest.raises(SenderRequired):
        asyncio.run(a_initiate_chats([{"chat_id": 1, "recipient": other, "message": "x"}]))
    assert other.chat_messages == {}  # nothing ran

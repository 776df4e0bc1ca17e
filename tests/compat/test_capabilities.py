"""``autogen.agentchat.contrib.capabilities`` (0.2): AgentCapability, TransformMessages and the
MessageHistoryLimiter / MessageTokenLimiter transforms, on a real agent talking to the scripted server."""

from __future__ import annotations

import copy

import pytest

import agentnb as autogen
from agentnb.contrib.capabilities.agent_capability import AgentCapability
from agentnb.contrib.capabilities.transform_messages import TransformMessages
from agentnb.contrib.capabilities.transforms import MessageHistoryLimiter, MessageTokenLimiter
from agentnb.token_count_utils import count_token


def msgs(*contents, role="user"):
    return [{"role": role, "content": c} for c in contents]


def test_history_limiter_keeps_the_most_recent():
    history = msgs("1", "2", "3", "4")
    assert MessageHistoryLimiter(max_messages=2).apply_transform(history) == msgs("3", "4")
    assert MessageHistoryLimiter(max_messages=10).apply_transform(history) == history
    assert MessageHistoryLimiter().apply_transform(history) == history
    kept = MessageHistoryLimiter(max_messages=3, keep_first_message=True).apply_transform(history)
    assert kept == msgs("1", "3", "4")
    with pytest.raises(ValueError, match="max_messages"):
        MessageHistoryLimiter(max_messages=0)


def test_history_limiter_never_starts_with_an_orphaned_tool_result():
    history = [{"role": "user", "content": "go"},
               {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
                                                                      "function": {"name": "f", "arguments": "{}"}}]},
               {"role": "tool", "tool_call_id": "1", "content": "result"},
               {"role": "assistant", "content": "done"}]
    assert MessageHistoryLimiter(max_messages=2).apply_transform(history) == history[3:]


def test_history_limiter_logs():
    limiter = MessageHistoryLimiter(max_messages=1)
    assert limiter.get_logs(msgs("a", "b", "c"), msgs("c")) == (
        "Removed 2 messages. Number of messages reduced from 3 to 1.", True)
    assert limiter.get_logs(msgs("a"), msgs("a")) == ("No messages were removed.", False)


def test_token_limiter_per_message_and_total():
    long = "word " * 50
    history = msgs(long, long, long)
    per = MessageTokenLimiter(max_tokens_per_message=5).apply_transform(history)
    assert [count_token(m["content"]) for m in per] == [5, 5, 5]
    assert per[0]["content"] == "word word word word word"
    assert history[0]["content"] == long  # the input is not modified
    total = MessageTokenLimiter(max_tokens_per_message=10, max_tokens=25).apply_transform(history)
    assert [count_token(m["content"]) for m in total] == [5, 10, 10]  # the oldest is cut to fit
    only_total = MessageTokenLimiter(max_tokens=120).apply_transform(history)
    n = count_token(long)
    assert [count_token(m["content"]) for m in only_total] == [120 - 2 * n, n, n]  # 0.2's docs, not its bug
    fits = MessageTokenLimiter(max_tokens=1000).apply_transform(history)
    assert fits == history


def test_token_limiter_min_tokens_filter_and_multimodal():
    history = msgs("short one", "short two")
    assert MessageTokenLimiter(max_tokens_per_message=1, min_tokens=100).apply_transform(history) == history
    mixed = [{"role": "system", "content": "keep all of this text"}, {"role": "user", "content": "cut all of this"}]
    only_users = MessageTokenLimiter(max_tokens_per_message=1, filter_dict={"role": ["user"]}, exclude_filter=False)
    assert [m["content"] for m in only_users.apply_transform(mixed)] == ["keep all of this text", "cut"]
    not_system = MessageTokenLimiter(max_tokens_per_message=1, filter_dict={"role": ["system"]})
    assert [m["content"] for m in not_system.apply_transform(mixed)] == ["keep all of this text", "cut"]
    image = [{"role": "user", "content": [{"type": "text", "text": "many words in here"},
                                          {"type": "image_url", "image_url": {"url": "x"}}]}]
    out = MessageTokenLimiter(max_tokens_per_message=2).apply_transform(image)
    assert out[0]["content"] == [{"type": "text", "text": "many words"},
                                 {"type": "image_url", "image_url": {"url": "x"}}]


def test_token_limiter_validation_and_capping(capsys):
    with pytest.raises(ValueError):
        MessageTokenLimiter(max_tokens=-1)
    with pytest.raises(ValueError, match="min_tokens"):
        MessageTokenLimiter(max_tokens=5, min_tokens=10)
    capped = MessageTokenLimiter(max_tokens=10**9, model="gpt-4")
    assert capped._max_tokens == 8192 and "Capping it to 8192" in capsys.readouterr().out
    assert capped.get_logs(msgs("a b c"), msgs("a")) == (
        "Truncated 2 tokens. Number of tokens reduced from 3 to 1", True)


def test_agent_capability_is_abstract():
    with pytest.raises(NotImplementedError):
        AgentCapability().add_to_agent(object())


def test_transform_messages_keeps_system_message_and_reports(capsys):
    transform = TransformMessages(transforms=[MessageHistoryLimiter(max_messages=1)])
    history = [{"role": "system", "content": "sys"}, *msgs("a", "b")]
    before = copy.deepcopy(history)
    assert transform._transform_messages(history) == [{"role": "system", "content": "sys"}, *msgs("b")]
    assert history == before
    assert "Removed 1 messages" in capsys.readouterr().out
    TransformMessages(transforms=[MessageHistoryLimiter(max_messages=1)], verbose=False)._transform_messages(history)
    assert capsys.readouterr().out == ""


def test_capability_limits_what_the_model_sees_not_the_history(model_server):
    model_server.add("r1", "r2", "r3")
    assistant = autogen.AssistantAgent("assistant", system_message="You help.", llm_config=model_server.llm_config())
    TransformMessages(transforms=[MessageHistoryLimiter(max_messages=1)], verbose=False).add_to_agent(assistant)
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                                  default_auto_reply="more")
    user.initiate_chat(assistant, message="first", max_turns=3, silent=True)
    sent = [r["messages"] for r in model_server.requests]
    assert len(sent) == 3
    assert [(m["role"], m["content"]) for m in sent[0]] == [("system", "You help."), ("user", "first")]
    assert [(m["role"], m["content"]) for m in sent[2]] == [("system", "You help."), ("user", "more")]
    assert len(assistant.chat_messages[user]) == 6  # the stored history is untouched
    with pytest.raises(ValueError):  # a hook cannot be registered twice
        assistant.register_hook("process_all_messages_before_reply",
                                assistant.hook_lists["process_all_messages_before_reply"][0])

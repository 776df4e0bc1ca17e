"""Group chats against real parts: the scripted OpenAI server over HTTP, real agents, real executors."""

from __future__ import annotations

import asyncio
import builtins
import itertools
import json

import pytest

import agentnb as autogen
from agentnb.agents.conversable import Agent
from agentnb.errors import ConfigError
from agentnb.groupchat import GroupChat, GroupChatManager, NoEligibleSpeaker, mentioned_agents, speaker_chooser_hook
from agentnb.messages import ErrorOccurred, SpeakerSelected
from agentnb.testing import Fault, ScriptedModelServer, code


def bot(name: str, replies: list | None = None, **kw) -> autogen.ConversableAgent:
    """A deterministic agent: answers with ``replies`` in order, then "(nothing more)"."""
    agent = autogen.ConversableAgent(name, llm_config=False, human_input_mode="NEVER",
                                     description=kw.pop("description", f"{name} helps."), **kw)
    queue = list(replies or [])

    def reply(self, messages=None, sender=None, config=None):
        return True, (queue.pop(0) if queue else f"{name}: (nothing more)")

    agent.register_reply([Agent, None], reply)
    return agent


def ends_with_terminate(message: dict) -> bool:
    """The termination rule 0.2 notebooks pass explicitly (0.2's default is ``content == "TERMINATE"``)."""
    return (message.get("content") or "").rstrip().endswith("TERMINATE")


def speakers(groupchat: GroupChat) -> list[str]:
    return [m["name"] for m in groupchat.messages]


def selections(result) -> list[SpeakerSelected]:
    return [e for e in result.events if isinstance(e, SpeakerSelected)]


@pytest.fixture
def trio():
    return bot("alice"), bot("bob"), bot("carol")


# ------------------------------------------------------------- round robin, termination, max_round


def test_round_robin_until_max_round(trio):
    a, b, c = trio
    gc = GroupChat(agents=[a, b, c], messages=[], max_round=5, speaker_selection_method="round_robin")
    manager = GroupChatManager(groupchat=gc, llm_config=False)
    result = a.initiate_chat(manager, message="start", silent=True)
    assert speakers(gc) == ["alice", "bob", "carol", "alice", "bob"]
    assert result.stop_reason == "max_round"
    assert [(e.speaker, e.method) for e in selections(result)] == [
        ("bob", "round_robin"), ("carol", "round_robin"), ("alice", "round_robin"), ("bob", "round_robin")]
    # every agent saw every message it did not say itself; its own as "assistant"
    assert [m["content"] for m in c.chat_messages[manager]] == [m["content"] for m in gc.messages]
    assert [m["role"] for m in b.chat_messages[manager]] == ["user", "assistant", "user", "user", "assistant"]
    assert result.chat_history[-1]["content"] == gc.messages[-1]["content"]
    assert manager.last_speaker is b


def test_termination_message_ends_chat_and_summary_drops_terminate():
    a, b = bot("a"), bot("b", ["all done. TERMINATE"])
    gc = GroupChat([a, b], messages=[], max_round=10, speaker_selection_method="round_robin")
    result = a.initiate_chat(GroupChatManager(gc, llm_config=False, is_termination_msg=ends_with_terminate),
                             message="go", silent=True)
    assert speakers(gc) == ["a", "b"]
    assert result.stop_reason == "terminated"
    assert result.summary == "all done."


def test_any_agents_termination_check_counts():
    a = bot("a", is_termination_msg=lambda m: "FINI" in (m.get("content") or ""))
    b = bot("b", ["FINI, really"])
    gc = GroupChat([a, b], max_round=10, speaker_selection_method="round_robin")
    result = a.initiate_chat(GroupChatManager(gc, llm_config=False), message="go", silent=True)
    assert speakers(gc) == ["a", "b"] and result.stop_reason == "terminated"


def test_speaker_returning_none_ends_chat():
    a = bot("a")
    silent = autogen.ConversableAgent("mute", llm_config=False, human_input_mode="NEVER")
    silent.register_reply([Agent, None], lambda self, messages=None, sender=None, config=None: (True, None))
    gc = GroupChat([a, silent], max_round=10, speaker_selection_method="round_robin")
    result = a.initiate_chat(GroupChatManager(gc, llm_config=False), message="go", silent=True)
    assert speakers(gc) == ["a"] and result.stop_reason == "no_reply"


def test_console_shows_each_message_once(trio, capsys):
    a, b, c = trio
    gc = GroupChat([a, b, c], max_round=3, speaker_selection_method="round_robin")
    a.initiate_chat(GroupChatManager(gc, llm_config=False), message="hello group")
    out = capsys.readouterr().out
    assert out.count("hello group") == 1  # the broadcast to the others is silent
    assert "Next speaker: bob" in out and "bob (to chat_manager):" in out


def test_new_chat_starts_fresh_but_clear_history_false_continues(trio):
    a, b, c = trio
    gc = GroupChat([a, b, c], max_round=2, speaker_selection_method="round_robin")
    manager = GroupChatManager(gc, llm_config=False)
    a.initiate_chat(manager, message="one", silent=True)
    a.initiate_chat(manager, message="two", silent=True)
    assert gc.messages[0]["content"] == "two" and len(gc.messages) == 2
    assert len(c.chat_messages[manager]) == 2
    a.initiate_chat(manager, message="three", silent=True, clear_history=False)
    assert len(gc.messages) == 4 and len(c.chat_messages[manager]) == 4


# ------------------------------------------------------------- random, callable, manual


def test_random_never_repeats_when_not_allowed():
    agents = [bot(n) for n in ("a", "b", "c", "d")]
    gc = GroupChat(agents, max_round=12, speaker_selection_method="random", allow_repeat_speaker=False)
    result = agents[0].initiate_chat(GroupChatManager(gc, llm_config=False), message="go", silent=True)
    names = speakers(gc)
    assert len(names) == 12 and all(x != y for x, y in itertools.pairwise(names))
    for event in selections(result):
        assert event.method == "random" and event.speaker in event.candidates


def test_allow_repeat_speaker_list():
    a, b, c = bot("a"), bot("b"), bot("c")
    gc = GroupChat([a, b, c], allow_repeat_speaker=[b])
    assert gc.candidates(a) == [b, c] and gc.candidates(b) == [a, b, c]


def test_callable_selection_agent_method_name_and_none(trio):
    a, b, c = trio
    calls = []

    def choose(last, groupchat):
        calls.append(last.name)
        return {1: c, 2: "round_robin", 3: "bob"}.get(len(calls))

    gc = GroupChat([a, b, c], max_round=10, speaker_selection_method=choose)
    result = a.initiate_chat(GroupChatManager(gc, llm_config=False), message="go", silent=True)
    assert speakers(gc) == ["alice", "carol", "alice", "bob"]
    assert [e.method for e in selections(result)] == ["custom", "round_robin", "custom"]
    assert result.stop_reason == "no_eligible_speaker"
    assert calls == ["alice", "carol", "alice", "bob"]


def test_callable_returning_a_stranger_is_an_error(trio):
    a, b, c = trio
    gc = GroupChat([a, b], speaker_selection_method=lambda last, g: c)
    with pytest.raises(ConfigError, match="neither an agent"):
        asyncio.run(gc.a_select_speaker(a, None))


def test_manual_selection_through_the_hook_sync_and_async(trio):
    a, b, c = trio
    asked = []

    async def choose(candidates, prompt):
        asked.append(list(candidates))
        await asyncio.sleep(0)
        return "Carol" if len(asked) == 1 else "2"

    gc = GroupChat([a, b, c], max_round=3, speaker_selection_method="manual", allow_repeat_speaker=False)
    manager = GroupChatManager(gc, llm_config=False)
    with speaker_chooser_hook(choose):
        result = a.initiate_chat(manager, message="go", silent=True)
    assert speakers(gc) == ["alice", "carol", "bob"]
    assert asked == [["bob", "carol"], ["alice", "bob"]]
    assert [e.method for e in selections(result)] == ["manual", "manual"]
    with speaker_chooser_hook(lambda names, prompt: "bob"):
        result = asyncio.run(a.a_initiate_chat(manager, message="again", silent=True))
    # bob may not repeat: the answer names no candidate, so selection falls back (no model: in turn)
    assert speakers(gc) == ["alice", "bob", "carol"]
    assert [e.method for e in selections(result)] == ["manual", "auto-fallback"]


def test_manual_selection_on_the_terminal_with_fallback_to_auto(trio, monkeypatch):
    a, b, c = trio
    answers = iter(["9", "x", "3", ""])
    prompts = []
    monkeypatch.setattr(builtins, "input", lambda prompt="": prompts.append(prompt) or next(answers))
    with ScriptedModelServer() as srv:
        srv.add("bob, please.", model="manager")
        gc = GroupChat([a, b, c], max_round=3, speaker_selection_method="manual")
        manager = GroupChatManager(gc, llm_config=srv.llm_config(model="manager"))
        result = a.initiate_chat(manager, message="go", silent=True)
    assert speakers(gc) == ["alice", "carol", "bob"]
    assert len(prompts) == 4 and "number of the next speaker" in prompts[0]
    assert [e.method for e in selections(result)] == ["manual", "auto"]  # empty answer -> the model picks


# ------------------------------------------------------------- auto selection against the scripted server


@pytest.fixture
def srv():
    with ScriptedModelServer() as server:
        yield server


def model_team(srv, *names):
    return [autogen.AssistantAgent(n, llm_config=srv.llm_config(model=n), description=f"The {n}.")
            for n in names]


def test_auto_parses_a_name_inside_a_sentence_and_counts_manager_usage(srv):
    user = bot("user_proxy")
    coder, reviewer = model_team(srv, "coder", "reviewer")
    srv.add("I think the Coder should go next.", "reviewer", model="manager")
    srv.add("print('hi')", model="coder")
    srv.add("Looks good. TERMINATE", model="reviewer")
    gc = GroupChat([user, coder, reviewer], max_round=10)
    manager = GroupChatManager(gc, llm_config=srv.llm_config(model="manager", tools=[{"type": "function"}]),
                               is_termination_msg=ends_with_terminate)
    result = user.initiate_chat(manager, message="Write code.", silent=True)
    assert speakers(gc) == ["user_proxy", "coder", "reviewer"]
    assert [(e.speaker, e.method, e.retries) for e in selections(result)] == [("coder", "auto", 0),
                                                                              ("reviewer", "auto", 0)]
    first = srv.requests_for("manager")[0]
    assert "tools" not in first
    assert first["messages"][0]["role"] == "system" and "coder: The coder." in first["messages"][0]["content"]
    assert first["messages"][1] == {"role": "user", "content": "Write code.", "name": "user_proxy"}
    assert "['user_proxy', 'coder', 'reviewer']" in first["messages"][-1]["content"]
    usage = result.cost["usage_including_cached_inference"]
    assert {"manager", "coder", "reviewer"} <= set(usage)
    assert usage["manager"]["total_tokens"] > 0


def test_auto_retries_on_unknown_name_then_succeeds(srv):
    user = bot("user_proxy")
    coder, reviewer = model_team(srv, "coder", "reviewer")
    srv.add("The architect should speak.", "REVIEWER", model="manager")
    srv.add("LGTM TERMINATE", model="reviewer")
    gc = GroupChat([user, coder, reviewer], max_round=3)
    result = user.initiate_chat(GroupChatManager(gc, llm_config=srv.llm_config(model="manager"),
                                                 is_termination_msg=ends_with_terminate),
                                message="Review this.", silent=True)
    assert speakers(gc) == ["user_proxy", "reviewer"]
    assert [(e.method, e.retries) for e in selections(result)] == [("auto", 1)]
    retry = srv.requests_for("manager")[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "The architect should speak."}
    assert "did not name any participant" in retry[-1]["content"] and "'coder'" in retry[-1]["content"]


def test_auto_retries_when_two_names_are_given(srv):
    user = bot("user_proxy")
    coder, reviewer = model_team(srv, "coder", "reviewer")
    srv.add("coder or reviewer, hard to say", "coder", model="manager")
    srv.add("done TERMINATE", model="coder")
    gc = GroupChat([user, coder, reviewer], max_round=3)
    result = user.initiate_chat(GroupChatManager(gc, llm_config=srv.llm_config(model="manager"),
                                                 is_termination_msg=ends_with_terminate),
                                message="x", silent=True)
    assert speakers(gc) == ["user_proxy", "coder"]
    assert selections(result)[0].retries == 1
    retry = srv.requests_for("manager")[1]["messages"][-1]["content"]
    assert "several participants (coder, reviewer)" in retry


def test_auto_falls_back_in_turn_after_bad_answers_and_model_errors(srv):
    user = bot("user_proxy")
    coder, reviewer = model_team(srv, "coder", "reviewer")
    srv.add("nobody", "still nobody", "no one at all", Fault.status(400), model="manager")
    srv.add("first", model="coder")
    srv.add("second", model="reviewer")
    gc = GroupChat([user, coder, reviewer], max_round=3)
    result = user.initiate_chat(GroupChatManager(gc, llm_config=srv.llm_config(model="manager")),
                                message="x", silent=True)
    assert speakers(gc) == ["user_proxy", "coder", "reviewer"]
    assert [(e.speaker, e.method, e.retries) for e in selections(result)] == [
        ("coder", "auto-fallback", 2), ("reviewer", "auto-fallback", 0)]
    errors = [e for e in result.events if isinstance(e, ErrorOccurred)]
    assert len(errors) == 1 and not errors[0].fatal and "HTTP 400" in errors[0].message
    assert result.stop_reason == "max_round"


def test_single_candidate_needs_no_model_call(srv):
    user = bot("user_proxy")
    coder, reviewer = model_team(srv, "coder", "reviewer")
    srv.add("code", model="coder")
    srv.add("TERMINATE", model="reviewer")
    graph = {user: [coder], coder: [reviewer], reviewer: [user, coder]}
    gc = GroupChat([user, coder, reviewer], max_round=5, allowed_or_disallowed_speaker_transitions=graph,
                   speaker_transitions_type="allowed")
    result = user.initiate_chat(GroupChatManager(gc, llm_config=srv.llm_config(model="manager")),
                                message="x", silent=True)
    assert speakers(gc) == ["user_proxy", "coder", "reviewer"]
    assert srv.requests_for("manager") == []
    assert [e.candidates for e in selections(result)] == [["coder"], ["reviewer"]]


def test_auto_without_a_manager_model_falls_back_to_the_next_agent(trio):
    """AutoGen 0.2: a manager with llm_config=False cannot ask a model, so 'auto' takes the next agent in order."""
    gc = GroupChat(list(trio), max_round=4)
    result = trio[0].initiate_chat(GroupChatManager(gc, llm_config=False), message="start", silent=True)
    assert speakers(gc) == ["alice", "bob", "carol", "alice"]
    assert {e.method for e in selections(result)} == {"auto-fallback"}
    assert any(isinstance(e, ErrorOccurred) and not e.fatal for e in result.events)


def test_mentions_are_tolerant():
    agents = [bot("Coder"), bot("senior_coder"), bot("product-manager")]
    assert mentioned_agents("I think the coder should go next.", agents) == {"Coder": 1}
    assert mentioned_agents("SENIOR CODER please", agents) == {"senior_coder": 1}
    assert mentioned_agents("senior\\_coder, then senior_coder", agents) == {"senior_coder": 2}
    assert mentioned_agents("The product manager.", agents) == {"product-manager": 1}
    assert mentioned_agents("decoder", agents) == {}


# ------------------------------------------------------------- transition graphs


def test_allowed_and_disallowed_graphs(trio):
    a, b, c = trio
    allowed = GroupChat([a, b, c], allowed_or_disallowed_speaker_transitions={a: [b, c], b: [a]},
                        speaker_transitions_type="allowed")
    assert allowed.candidates(a) == [b, c] and allowed.candidates(b) == [a] and allowed.candidates(c) == []
    with pytest.raises(NoEligibleSpeaker):
        asyncio.run(allowed.a_select_speaker(c, None))
    outsider = bot("outsider")
    assert allowed.candidates(outsider) == [a, b, c]
    disallowed = GroupChat([a, b, c], allowed_or_disallowed_speaker_transitions={a: [b]},
                           speaker_transitions_type="disallowed", allow_repeat_speaker=False)
    assert disallowed.candidates(a) == [c] and disallowed.candidates(b) == [a, c]


def test_graph_drives_a_round_robin_chat(trio):
    a, b, c = trio
    gc = GroupChat([a, b, c], max_round=6, speaker_selection_method="round_robin",
                   allowed_or_disallowed_speaker_transitions={a: [c], c: [b], b: [a]},
                   speaker_transitions_type="allowed")
    a.initiate_chat(GroupChatManager(gc, llm_config=False), message="go", silent=True)
    assert speakers(gc) == ["alice", "carol", "bob", "alice", "carol", "bob"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"allowed_or_disallowed_speaker_transitions": {"A": ["B"]}, "speaker_transitions_type": "allowed"},
     "not in this GroupChat"),
    ({"allowed_or_disallowed_speaker_transitions": {}, "speaker_transitions_type": "allowed"}, "no transitions"),
    ({"allowed_or_disallowed_speaker_transitions": "x", "speaker_transitions_type": "allowed"}, "must be a dict"),
    ({"allowed_or_disallowed_speaker_transitions": {0: []}}, "speaker_transitions_type"),
    ({"allow_repeat_speaker": "yes"}, "allow_repeat_speaker"),
    ({"speaker_selection_method": "loudest"}, "speaker_selection_method"),
    ({"max_round": 0}, "max_round"),
])
def test_invalid_options_raise_config_error(trio, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        GroupChat(list(trio), **kwargs)


def test_graph_conflicts_and_strangers_are_named(trio):
    a, b, _ = trio
    stranger = bot("stranger")
    with pytest.raises(ConfigError, match="stranger"):
        GroupChat([a, b], allowed_or_disallowed_speaker_transitions={a: [stranger]},
                  speaker_transitions_type="allowed")
    with pytest.raises(ConfigError, match="conflicting options"):
        GroupChat([a, b], allow_repeat_speaker=[a], allowed_or_disallowed_speaker_transitions={a: [b]},
                  speaker_transitions_type="allowed")
    with pytest.raises(ConfigError, match=r"conflicting options.*alice"):
        GroupChat([a, b], allow_repeat_speaker=False, allowed_or_disallowed_speaker_transitions={a: [a, b]},
                  speaker_transitions_type="allowed")
    with pytest.raises(ConfigError, match="distinct names"):
        GroupChat([a, bot("alice")])
    with pytest.raises(ConfigError, match="not in this GroupChat: stranger"):
        GroupChat([a, b], allow_repeat_speaker=[stranger])


def test_graph_svg_and_notebook_display(trio):
    a, b, c = trio
    gc = GroupChat([a, b, c], allowed_or_disallowed_speaker_transitions={a: [b, a], b: [c]},
                   speaker_transitions_type="allowed")
    svg = gc.graph_svg()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="edge"') == 2 and svg.count('class="loop"') == 1
    assert 'data-from="alice" data-to="bob"' in svg and 'data-from="bob" data-to="carol"' in svg
    shown = gc.show_graph()
    assert shown._repr_mimebundle_()["image/svg+xml"] == svg == shown._repr_svg_()
    import xml.dom.minidom

    xml.dom.minidom.parseString(svg)  # well-formed


# ------------------------------------------------------------- introductions, resume


def test_send_introductions(trio):
    a, b, c = trio
    gc = GroupChat([a, b, c], max_round=2, speaker_selection_method="round_robin", send_introductions=True)
    manager = GroupChatManager(gc, llm_config=False)
    a.initiate_chat(manager, message="go", silent=True)
    assert a.chat_messages[manager][0]["content"] == "go"  # the opener was sent before the chat began
    for agent, index in ((a, 1), (b, 0), (c, 0)):
        first = agent.chat_messages[manager][index]["content"]
        assert first == gc.introductions_msg()
        assert "alice: alice helps." in first and "carol: carol helps." in first
    assert gc.messages[0]["content"] == "go"  # the transcript holds no introduction


def test_resume_from_saved_json_and_continue():
    a, b, c = bot("a"), bot("b", ["b-after-resume"]), bot("c", ["c-after-resume TERMINATE"])
    saved = [{"content": "task", "name": "a", "role": "user"},
             {"content": "step one", "name": "b", "role": "user"},
             {"content": "step two. TERMINATE", "name": "c", "role": "user"}]
    gc = GroupChat([a, b, c], max_round=10, speaker_selection_method="round_robin", send_introductions=True)
    manager = GroupChatManager(gc, llm_config=False, is_termination_msg=ends_with_terminate)
    last_agent, last_message = manager.resume(json.dumps(saved), remove_termination_string="TERMINATE",
                                              silent=True)
    assert last_agent is c and last_message["content"] == "step two. "
    assert speakers(gc) == ["a", "b"]
    assert [m["role"] for m in b.chat_messages[manager]] == ["user", "assistant"]
    result = last_agent.initiate_chat(manager, message=last_message, clear_history=False, silent=True)
    assert speakers(gc) == ["a", "b", "c", "a", "b", "c"]
    assert [m["content"] for m in gc.messages][-1] == "c-after-resume TERMINATE"
    assert result.stop_reason == "terminated"
    assert not any(m["content"] == gc.introductions_msg() for m in a.chat_messages[manager])


def test_resume_rejects_strangers_and_garbage(trio):
    manager = GroupChatManager(GroupChat(list(trio), speaker_selection_method="round_robin"), llm_config=False)
    with pytest.raises(ConfigError, match="mallory"):
        manager.resume([{"content": "hi", "name": "mallory"}])
    with pytest.raises(ConfigError, match="not JSON"):
        manager.resume("{nope")
    with pytest.raises(ConfigError, match="at least one"):
        manager.resume([])


# ------------------------------------------------------------- the seed snippet: four agents, code runs


def _executor_ready() -> bool:
    try:
        from agentnb.coding import make_executor  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _executor_ready(), reason="agentnb.coding.make_executor is not available yet")
def test_seed_snippet_four_agents_code_runs_in_the_kernel(tmp_workdir):
    with ScriptedModelServer() as srv:
        user_proxy = autogen.UserProxyAgent(
            "user_proxy", human_input_mode="NEVER", code_execution_config={"work_dir": str(tmp_workdir)},
            is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
        planner = autogen.AssistantAgent("planner", llm_config=srv.llm_config(model="planner"),
                                         description="Plans the work.")
        coder = autogen.AssistantAgent("coder", llm_config=srv.llm_config(model="coder"),
                                       description="Writes Python code.")
        reviewer = autogen.AssistantAgent("reviewer", llm_config=srv.llm_config(model="reviewer"),
                                          description="Reviews results.")
        srv.add("planner", "coder", "user_proxy", "reviewer", model="manager")
        srv.add("Plan: compute 6*7 and print it.", model="planner")
        srv.add(code("x = 6 * 7\nprint('answer', x)"), model="coder")
        srv.add("The output shows 42. TERMINATE", model="reviewer")
        groupchat = autogen.GroupChat(agents=[user_proxy, coder, reviewer, planner], messages=[], max_round=12)
        manager = autogen.GroupChatManager(groupchat=groupchat, llm_config=srv.llm_config(model="manager"))
        result = user_proxy.initiate_chat(manager, message="What is 6 times 7? Use code.", silent=True)
    assert speakers(groupchat) == ["user_proxy", "planner", "coder", "user_proxy", "reviewer"]
    executed = groupchat.messages[3]["content"]
    assert executed.startswith("exitcode: 0") and "answer 42" in executed
    assert result.stop_reason == "terminated"
    assert "manager" in result.cost["usage_including_cached_inference"]
    assert user_proxy.code_executor is None  # closed at the end of the chat

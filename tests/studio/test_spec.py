"""Declarative teams: Python -> spec -> JSON -> Python gives the same team, against the scripted server."""

from __future__ import annotations

import json

import pydantic
import pytest

from agentnb import AssistantAgent, ConfigError, ConversableAgent, GroupChat, GroupChatManager, UserProxyAgent
from agentnb.agents.tools import register_function
from agentnb.studio import StudioCaptureWarning, TextMention, describe_team, dump_team, load_team, parse_team
from agentnb.studio.gallery_tools import calculate, word_count
from agentnb.studio.spec import SCHEMA_PATH, json_schema
from agentnb.testing import ScriptedModelServer, forever, tool_calls


def test_published_schema_is_up_to_date():
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(json.dumps(json_schema())), (
        "regenerate with: python -c 'from agentnb.studio.spec import write_schema; write_schema()'")


def _pair(server: ScriptedModelServer):
    assistant = AssistantAgent("assistant", llm_config=server.llm_config(temperature=0),
                               system_message="You add numbers with the calculator. Say TERMINATE when done.",
                               is_termination_msg=TextMention("DONE", "contains"))
    user = UserProxyAgent("user_proxy", human_input_mode="NEVER", code_execution_config=False,
                          max_consecutive_auto_reply=3, is_termination_msg=TextMention("DONE", "contains"))
    register_function(calculate, caller=assistant, executor=user, description="Evaluate arithmetic.")
    register_function(word_count, caller=assistant, executor=user, description="Count words.")
    return user, assistant


def _script(server: ScriptedModelServer) -> None:
    server.add(tool_calls([("calculate", {"expression": "6*7"})]), "The answer is 42. DONE")


def _transcript(result) -> list[tuple]:
    return [(m.get("name"), m.get("role"), m.get("content"),
             [c["function"]["name"] for c in m.get("tool_calls") or []]) for m in result.chat_history]


def test_pair_round_trip_same_json_and_same_behaviour(tmp_path):
    with ScriptedModelServer() as server:
        user, assistant = _pair(server)
        result = describe_team(user, assistant, task="What is 6*7?", label="calc")
        assert [s for s in result.skipped if "api_key" not in s] == []
        path = result.spec.save(tmp_path / "team.json")

        _script(server)
        original = user.initiate_chat(assistant, message="What is 6*7?", silent=True)
        original_requests = [dict(r) for r in server.requests]
        server.reset()

        team = load_team(path)
        assert dump_team(team, quiet=True).to_dict() == result.spec.to_dict()  # lossless
        _script(server)
        again = team.run(silent=True)
        assert _transcript(again) == _transcript(original)
        assert [r["messages"] for r in server.requests] == [r["messages"] for r in original_requests]
        assert [r.get("tools") for r in server.requests] == [r.get("tools") for r in original_requests]
        assert server.requests[0]["temperature"] == 0
        assert "42" in again.chat_history[2]["content"]  # the tool really ran in the loaded team
        assert again.chat_history[-1]["content"] == "The answer is 42. DONE"


def test_group_round_trip_keeps_graph_selection_and_manager(tmp_path):
    with ScriptedModelServer() as server:
        user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
        planner = AssistantAgent("planner", llm_config=server.llm_config(), system_message="Plan.")
        coder = AssistantAgent("coder", llm_config=server.llm_config(), system_message="Code.")
        gc = GroupChat([user, planner, coder], max_round=4, speaker_selection_method="round_robin",
                       allowed_or_disallowed_speaker_transitions={user: [planner], planner: [coder], coder: [user]},
                       speaker_transitions_type="allowed")
        manager = GroupChatManager(gc, llm_config=server.llm_config())
        spec = dump_team(manager, task="Plan and code.", quiet=True)
        text = spec.to_json()
        assert spec.config.group.transitions == {"user": ["planner"], "planner": ["coder"], "coder": ["user"]}

        server.add("step 1", "code 1", forever("more"))
        first = user.initiate_chat(manager, message="Plan and code.", silent=True)
        server.reset()
        team = load_team(text)
        assert team.groupchat.speaker_selection_method == "round_robin"
        assert team.manager.groupchat.max_round == 4
        assert dump_team(team, quiet=True).to_dict() == spec.to_dict()
        server.add("step 1", "code 1", forever("more"))
        second = team.run(silent=True)
        assert [(m["name"], m["content"]) for m in second.chat_history] == [
            (m["name"], m["content"]) for m in first.chat_history]
        assert [m["name"] for m in second.chat_history] == ["user", "planner", "coder", "user"]


def test_what_a_spec_cannot_hold_is_reported_and_strict_refuses():
    def local_tool(x: int) -> int:
        """Double it."""
        return 2 * x

    assistant = AssistantAgent("a", llm_config={"config_list": [{"model": "m", "base_url": "http://127.0.0.1:9/v1"}]},
                               is_termination_msg=lambda m: "bye" in m.get("content", ""))
    user = UserProxyAgent("u", human_input_mode="NEVER")
    register_function(local_tool, caller=assistant, executor=user, description="Double it.")
    user.register_reply([ConversableAgent, None], lambda *a, **k: (False, None))
    with pytest.warns(StudioCaptureWarning) as caught:
        spec = dump_team(user, assistant)
    text = str(caught[0].message)
    assert "a: is_termination_msg a lambda" in text
    assert "local_tool" in text and "cannot be imported" in text
    assert "u: registered reply functions a lambda" in text
    assert spec.agent("a").config.tools == []
    with pytest.raises(ConfigError, match="lambda"):
        dump_team(user, assistant, strict=True)


def test_api_keys_are_never_written(monkeypatch):
    secret = "sk-live-0123456789abcdefSECRET"
    assistant = AssistantAgent("a", llm_config={"config_list": [{"model": "gpt-x", "api_key": secret,
                                                                  "base_url": "http://127.0.0.1:9/v1"}]})
    user = UserProxyAgent("u", human_input_mode="NEVER", code_execution_config=False)
    result = describe_team(user, assistant)
    assert secret not in result.spec.to_json()
    assert result.spec.config.models["gpt-x"].config.api_key_env == "OPENAI_API_KEY"
    assert any("api_key" in s and "never written" in s for s in result.skipped)
    monkeypatch.setenv("MY_TEAM_KEY", secret)
    result = describe_team(user, assistant)
    assert result.spec.config.models["gpt-x"].config.api_key_env == "MY_TEAM_KEY"
    assert secret not in result.spec.to_json() and result.skipped == []
    team = load_team(result.spec.to_json())  # the key comes back from the environment only
    assert team.agents["a"].llm_config["config_list"][0]["api_key"] == secret


def test_validation_names_the_field():
    base = {"provider": "agentnb.Team", "component_type": "team", "version": 1,
            "config": {"kind": "pair", "initiator": "u", "recipient": "a",
                       "agents": [{"provider": "agentnb.UserProxyAgent", "component_type": "agent",
                                   "config": {"name": "u"}},
                                  {"provider": "agentnb.AssistantAgent", "component_type": "agent",
                                   "config": {"name": "a", "model": "nope"}}]}}
    with pytest.raises(pydantic.ValidationError, match="uses model 'nope', which is not in models"):
        parse_team(base)
    bad = json.loads(json.dumps(base))
    bad["config"]["agents"][1]["config"] = {"name": "a b", "human_input_mode": "SOMETIMES"}
    with pytest.raises(pydantic.ValidationError) as info:
        parse_team(bad)
    locs = {tuple(e["loc"]) for e in info.value.errors()}
    assert ("config", "agents", 1, "config", "name") in locs
    assert ("config", "agents", 1, "config", "human_input_mode") in locs
    newer = dict(base, version=2)
    with pytest.raises(ConfigError, match="version 2"):
        parse_team(newer)


def test_group_auto_needs_manager_model():
    spec = {"provider": "agentnb.Team", "component_type": "team",
            "config": {"kind": "group", "initiator": "u", "group": {"members": ["u", "a"]},
                       "agents": [{"provider": "agentnb.UserProxyAgent", "component_type": "agent",
                                   "config": {"name": "u"}},
                                  {"provider": "agentnb.AssistantAgent", "component_type": "agent",
                                   "config": {"name": "a", "model": "default"}}]}}
    with pytest.raises(pydantic.ValidationError, match=r"needs group\.manager\.model"):
        parse_team(spec)


@pytest.mark.parametrize("path", ["os:system", "subprocess:run", "shutil:rmtree", "builtins:eval",
                                  "agentnb.studio.spec:TeamSpec", "agentnb.studio.gallery_tools:_OPS"])
def test_a_spec_cannot_hand_the_model_the_standard_library(path):
    spec = {"provider": "agentnb.Team", "component_type": "team",
            "config": {"kind": "pair", "initiator": "u", "recipient": "a",
                       "agents": [{"provider": "agentnb.UserProxyAgent", "component_type": "agent",
                                   "config": {"name": "u", "tool_approval": "never"}},
                                  {"provider": "agentnb.AssistantAgent", "component_type": "agent",
                                   "config": {"name": "a", "model": "default",
                                              "tools": [{"function": path, "executor": "u",
                                                         "description": "harmless, promise"}]}}]}}
    with pytest.raises(ConfigError, match=r"not a Python function|standard library|no attribute|not callable"):
        load_team(spec)

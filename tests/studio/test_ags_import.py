"""AutoGen Studio 0.4 team JSON (files written from its documented component format) imported and run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentnb import ConfigError
from agentnb.agents.human import human_handlers
from agentnb.studio import StudioCaptureWarning, import_ags, load_team
from agentnb.testing import ScriptedModelServer

HERE = Path(__file__).with_name("ags")


def _ags(name: str, base_url: str = "http://127.0.0.1:9/v1") -> dict:
    return json.loads((HERE / name).read_text().replace("BASE_URL", base_url))


def test_round_robin_maps_agents_termination_and_model_without_the_key():
    result = import_ags(HERE / "round_robin.json")
    spec, skipped = result.spec, result.skipped
    cfg = spec.config
    assert cfg.kind == "group" and cfg.group.selection_method == "round_robin"
    assert cfg.group.members == ["assistant_agent", "user_proxy"]
    assert cfg.initiator == "user_proxy"  # the person in the team sends the task
    assert cfg.group.max_round == 10  # MaxMessageTermination(10)
    assert cfg.termination.config.text == "TERMINATE" and cfg.termination.config.mode == "contains"
    assistant = spec.agent("assistant_agent").config
    assert assistant.system_message.startswith("You are a helpful assistant.")
    model = cfg.models[assistant.model].config
    assert (model.model, model.params, model.api_key_env) == ("gpt-4o-mini", {"temperature": 0.2}, "OPENAI_API_KEY")
    assert spec.agent("user_proxy").config.human_input_mode == "ALWAYS"
    assert "sk-proj-AGSFILEKEY" not in spec.to_json()
    assert any("api_key" in s for s in skipped)
    assert any("'calculator'" in s and "never executed" in s for s in skipped)
    assert spec.agent("assistant_agent").config.tools == []


def test_selector_maps_to_auto_with_the_manager_model_and_reports_the_rest():
    result = import_ags(HERE / "selector.json")
    cfg = result.spec.config
    assert cfg.group.selection_method == "auto"
    assert cfg.models[cfg.group.manager.model].config.model == "gpt-4o-mini"
    assert cfg.group.members == ["planner", "writer"]  # the web surfer has no agentnb equivalent
    assert cfg.initiator == "user"
    assert result.spec.agent("user").config.max_consecutive_auto_reply == 0
    assert cfg.group.max_round == 6 and cfg.group.allow_repeat_speaker is False
    assert cfg.termination.config.text == "APPROVE"
    text = "\n".join(result.skipped)
    for expected in ("MultimodalWebSurfer", "TimeoutTermination", "selector_prompt", "max_selector_attempts",
                     "BufferedChatCompletionContext"):
        assert expected in text


def test_unmappable_team_is_imported_as_far_as_possible_or_refused():
    result = import_ags(HERE / "swarm.json")
    assert result.spec.config.group.selection_method == "round_robin"
    assert result.spec.agent("travel_agent").config.model is None
    text = "\n".join(result.skipped)
    for expected in ("team type Swarm", "AnthropicChatCompletionClient", "handoffs", "HandoffTermination"):
        assert expected in text
    with pytest.raises(ConfigError, match="no participant"):
        import_ags({"provider": "autogen_agentchat.teams.RoundRobinGroupChat", "component_type": "team",
                    "config": {"participants": [{"provider": "autogen_ext.agents.file_surfer.FileSurfer",
                                                 "config": {"name": "files"}}]}})
    with pytest.raises(ConfigError, match="not an AutoGen Studio team"):
        import_ags({"provider": "autogen_agentchat.agents.AssistantAgent", "component_type": "agent"})


def test_imported_round_robin_runs_against_the_scripted_server():
    with ScriptedModelServer(["Two plus two is 4. TERMINATE"]) as server:
        with pytest.warns(StudioCaptureWarning, match="calculator"):
            team = load_team(_ags("round_robin.json", server.base_url))
        with human_handlers(input_provider=lambda prompt: "unused"):
            result = team.run("What is 2+2?", silent=True)
    assert [m["name"] for m in result.chat_history] == ["user_proxy", "assistant_agent"]
    request = server.requests[0]
    assert request["model"] == "gpt-4o-mini" and request["temperature"] == 0.2
    assert request["messages"][0]["content"].startswith("You are a helpful assistant.")


def test_imported_selector_team_lets_the_manager_model_choose():
    with ScriptedModelServer(["planner", "1. add 2. answer", "The answer is 4. APPROVE"]) as server:
        with pytest.warns(StudioCaptureWarning):
            team = load_team(_ags("selector.json", server.base_url))
        result = team.run("Add 2 and 2.", silent=True)
    assert result.chat_history[0]["content"] == "Add 2 and 2."
    assert [m["name"] for m in team.groupchat.messages] == ["user", "planner", "writer"]
    assert result.stop_reason == "terminated"
    # the manager's model picked the planner; no repeat allowed, so the writer followed without asking
    assert [r["model"] for r in server.requests] == ["gpt-4o-mini", "gpt-4o", "gpt-4o"]

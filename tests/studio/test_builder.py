"""The builder widget: cards, JSON tab, errors next to the field, save/load, gallery, Run (Python and a real kernel)."""

from __future__ import annotations

import json

import pytest
from support.kernel import NotebookKernel

from agentnb import ApprovalDecision
from agentnb.agents.human import human_handlers
from agentnb.studio import gallery_spec, history, parse_team, studio
from agentnb.studio.builder import Studio
from agentnb.studio.gallery_tools import calculate
from agentnb.testing import ScriptedModelServer, code, tool_calls

CALC = "agentnb.studio.gallery_tools:calculate"


def _my_tool(text: str) -> str:
    """Shout the text."""
    return text.upper()


def _names(s: Studio) -> list[str]:
    return [c.name.value for c in s.cards]


def test_first_render_matches_the_gallery_spec():
    s = studio("coder", namespace={})
    assert isinstance(s, Studio) and _names(s) == ["user_proxy", "assistant"]
    assert parse_team(json.loads(s.json_text.value)).config == gallery_spec("coder").config
    assert s.spec is not None and s.json_errors.value == "✓ valid"
    assert s.initiator.value == "user_proxy" and s.recipient.value == "assistant"
    assert s.task.value.startswith("Plot y = sin(x)")
    assert s.graph.layout.display == "none"  # no graph for two agents


def test_add_duplicate_remove_agents_by_clicks():
    s = studio("coder", namespace={})
    s.add_role.value = "reviewer"
    s.add_button.click()
    assert _names(s) == ["user_proxy", "assistant", "reviewer"]
    reviewer = s.spec.agent("reviewer").config
    assert reviewer.system_message.startswith("You are the reviewer") and reviewer.model == "default"
    s.cards[2].duplicate_button.click()
    assert _names(s) == ["user_proxy", "assistant", "reviewer", "reviewer_2"]
    assert s.spec.agent("reviewer_2").config.system_message == reviewer.system_message
    s.cards[1].remove_button.click()
    assert _names(s) == ["user_proxy", "reviewer", "reviewer_2"]
    assert [a["config"]["name"] for a in json.loads(s.json_text.value)["config"]["agents"]] == _names(s)


def test_role_template_code_execution_and_approval_edits_reach_the_spec():
    s = studio("coder", namespace={})
    card = s.cards[1]
    card.role.value = "executor"
    assert card.kind.value == "user_proxy" and card.code.value is True
    card.approval.value = "first"
    cfg = s.spec.agent(card.name.value).config
    assert cfg.code_execution is not None and cfg.code_execution.approval == "first" and cfg.model is None
    card.code.value = False
    assert s.spec.agent(card.name.value).config.code_execution is None
    user = s.cards[0]
    assert s.spec.agent("user_proxy").config.code_execution.work_dir == "coding"  # a field the card does not show
    user.approval.value = "never"
    assert s.spec.agent("user_proxy").config.code_execution.work_dir == "coding"


def test_tools_from_the_gallery_and_the_notebook_namespace():
    def undocumented(x):
        return x

    import textwrap

    s = studio("coder", namespace={"calculate": calculate, "lam": lambda: 1, "undocumented": undocumented,
                                   "studio": studio, "dedent": textwrap.dedent, "mine": _my_tool})
    assistant = s.cards[1]
    assert CALC in assistant.tools.options
    assert f"{__name__}:_my_tool" in assistant.tools.options  # a documented function of the user's own module
    assert not any(w in o for o in assistant.tools.options for w in ("lam", "undocumented", "studio:", "dedent"))
    assistant.tools.value = (CALC,)
    assistant.tool_executor.value = "user_proxy"
    [tool] = s.spec.agent("assistant").config.tools
    assert (tool.function, tool.executor) == (CALC, "user_proxy")


def test_validation_errors_show_next_to_the_field_and_block_save(tmp_path):
    s = studio("coder", namespace={})
    s.cards[1].name.value = "not a valid name"
    assert s.spec is None
    assert "name" in s.cards[1].errors.value and "pattern" in s.cards[1].errors.value
    assert s.cards[0].errors.value == ""
    assert "config.agents.1.config.name" in s.json_errors.value
    assert s.save(tmp_path / "t.json") is None and not (tmp_path / "t.json").exists()
    s.cards[1].name.value = "helper"
    assert s.spec is not None and s.cards[1].errors.value == ""
    assert s.recipient.value == "helper" or s.spec.config.recipient == "helper"


def test_json_tab_edits_the_same_spec():
    s = studio("coder", namespace={})
    data = json.loads(s.json_text.value)
    data["config"]["agents"][1]["config"]["model"] = "missing-model"
    s.json_text.value = json.dumps(data)
    assert s.json_apply.click() is None and s.spec is None
    assert "missing-model" in s.json_errors.value and "missing-model" in s.json_text.value
    data["config"]["agents"][1]["config"]["model"] = "default"
    data["label"] = "Edited in JSON"
    data["config"]["agents"][1]["config"]["system_message"] = "From JSON."
    s.json_text.value = json.dumps(data)
    s.json_apply.click()
    assert s.spec is not None and s.label.value == "Edited in JSON"
    assert s.cards[1].system_message.value == "From JSON."
    s.json_text.value = "{not json"
    s.json_apply.click()
    assert "JSON" in s.json_errors.value


def test_group_kind_selection_method_and_live_graph():
    s = studio("coder", namespace={})
    s.add_role.value = "reviewer"
    s.add_button.click()
    s.kind.value = "group"
    s.selection.value = "round_robin"
    s.max_round.value = 7
    assert s.spec is not None and s.spec.config.kind == "group"
    assert s.spec.config.group.selection_method == "round_robin" and s.spec.config.group.max_round == 7
    assert "<svg" in s.graph.value and "reviewer" in s.graph.value
    s.transitions.value = "assistant: reviewer\nreviewer: assistant"
    assert s.spec.config.group.transitions == {"assistant": ["reviewer"], "reviewer": ["assistant"]}
    s.selection.value = "auto"
    assert s.spec is None and "manager" in s.team_errors.value  # auto needs the manager's model
    s.manager_model.value = "default"
    assert s.spec is not None


def test_save_load_and_new_from_gallery(tmp_path):
    s = studio("coder", namespace={})
    s.label.value = "Mine"
    s.path.value = str(tmp_path / "mine.json")
    s.save_button.click()
    assert parse_team(tmp_path / "mine.json").label == "Mine"
    s.gallery_pick.value = "planner_coder_reviewer"
    s.new_button.click()
    assert _names(s) == ["user", "planner", "coder", "executor", "reviewer"]
    assert "<svg" in s.graph.value
    s.load_button.click()  # the path box still names mine.json
    assert s.label.value == "Mine" and _names(s) == ["user_proxy", "assistant"]
    s.path.value = str(tmp_path / "nope.json")
    s.load_button.click()
    assert "could not load" in s.status.value and s.label.value == "Mine"


def test_run_from_python_shows_the_panel_and_records_history(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTNB_HISTORY", str(tmp_path / "h.sqlite"))
    monkeypatch.chdir(tmp_path)
    with ScriptedModelServer([tool_calls([("calculate", {"expression": "6*7"})]), "42. TERMINATE"]) as server:
        s = studio("tool_assistant", models={"default": server.llm_config()}, namespace={})
        s.task.value = "What is 6*7?"
        s.run_button.click()
    assert s.last_result.stop_reason == "terminated"
    assert s.last_result.chat_history[-1]["content"] == "42. TERMINATE"
    assert s.playground.children == (s.panel,) and len(s.panel.items) >= 3
    assert "finished" in s.status.value
    [run] = history()
    assert run.source == "studio" and run.label == "Tool-using assistant" and run.task == "What is 6*7?"


def test_run_with_code_asks_for_approval(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTNB_HISTORY", "off")
    monkeypatch.chdir(tmp_path)
    asked = []
    with ScriptedModelServer([code("print(6 * 7)"), "42. TERMINATE"]) as server:
        s = studio("coder", models={"default": server.llm_config()}, namespace={})
        with human_handlers(approver=lambda r: asked.append(r) or ApprovalDecision(approved=True)):
            s.run_button.click()
    assert len(asked) == 1 and "print(6 * 7)" in asked[0].code
    assert "42" in s.last_result.chat_history[2]["content"]


@pytest.mark.slow
def test_builder_in_a_real_kernel_run_approve_and_history(tmp_path):
    with ScriptedModelServer([code("print(6 * 7)"), "42. TERMINATE"]) as server:
        with NotebookKernel(str(tmp_path), {"AGENTNB_HISTORY": str(tmp_path / "h.sqlite")}) as nb:
            nb.execute("from agentnb.studio import studio\n"
                       f"s = studio('coder', models={{'default': {server.llm_config()!r}}})\ns")
            nb.wait_for(lambda: nb.button("Run"), what="the Run button")
            add = nb.button("Add agent")
            nb.click(add)
            nb.wait_for(lambda: "assistant_2" in nb.stdout(nb.execute("print(s.json_text.value)")),
                        what="the new agent in the JSON tab")
            nb.click(nb.button("Remove"))  # the first card's Remove: user_proxy goes, then comes back by JSON
            nb.execute("s.load('coder')")
            nb.click(nb.button("Run"))
            approve = nb.wait_for(lambda: nb.button("Approve"), what="the Approve button")
            assert "None" in nb.stdout(nb.execute("print(s.last_result)"))  # waiting for the person
            nb.click(approve)
            out = nb.stdout(nb.execute("r = await s.run_task\nprint(r.stop_reason, r.chat_history[2]['content'])"))
            assert out.startswith("terminated") and "42" in out
            nb.execute("%load_ext agentnb")
            listing = nb.execute("%agents history")
            assert any("application/vnd.jupyter.widget-view+json" in m["content"].get("data", {}) for m in listing)
            shown = nb.execute("%agents studio")
            assert any("application/vnd.jupyter.widget-view+json" in m["content"].get("data", {}) for m in shown)
    # a new kernel (a restart) sees the run
    with NotebookKernel(str(tmp_path), {"AGENTNB_HISTORY": str(tmp_path / "h.sqlite")}) as nb2:
        out = nb2.stdout(nb2.execute("from agentnb.studio import history\nr = history()[0]\n"
                                     "print(r.source, r.status, r.n_messages)"))
        assert out.split() == ["studio", "finished", "4"]


def test_a_team_that_runs_code_unasked_is_flagged():
    s = studio("coder", namespace={})
    assert s.risk.value == ""
    s.cards[0].approval.value = "never"
    assert "user_proxy runs code" in s.risk.value
    s.load("tool_assistant")  # pure gallery tools, tool_approval never: said so
    assert "user_proxy runs tool calls" in s.risk.value


def test_models_are_edited_in_the_builder_and_runs_use_them(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTNB_HISTORY", "off")
    monkeypatch.chdir(tmp_path)
    with ScriptedModelServer(["Hi from llama. TERMINATE"]) as server:
        s = studio("tool_assistant", namespace={})
        s.add_model_button.click()
        row = s.model_rows[0]
        assert s.spec is None and "config.models.model.config.model" in s.json_errors.value  # model still empty
        row.name.value = "local"
        row.model.value = "llama3"
        row.base_url.value = server.base_url
        row.key_env.value = "LOCAL_KEY"
        assistant = s.cards[1]
        assert "local" in assistant.model.options
        assistant.model.value = "local"
        assistant.tools.value = ()
        assert s.spec is not None
        model = s.spec.config.models["local"].config
        assert (model.model, model.base_url, model.api_key_env) == ("llama3", server.base_url, "LOCAL_KEY")
        s.task.value = "Say hi."
        s.run_button.click()
    assert server.requests[0]["model"] == "llama3"
    assert s.last_result.chat_history[-1]["content"] == "Hi from llama. TERMINATE"
    row.remove_button.click()
    assert s.model_rows == [] and s.spec is None  # the assistant now names a model that is gone
    assert "uses model &#x27;local&#x27;, which is not in models" in s.cards[1].errors.value


def test_tools_need_a_model_and_the_error_is_on_that_card():
    s = studio("coder", namespace={})
    s.cards[0].tools.value = (CALC,)  # the user proxy has no model
    assert s.spec is None and "offers tools to its model but has no model" in s.cards[0].errors.value
    s.cards[0].tools.value = ()
    assert s.spec is not None


def test_the_package_itself_opens_the_builder():
    """``agentnb.studio()``, as the docs write it, is the builder (the package forwards the call)."""
    import agentnb

    s = agentnb.studio("coder", namespace={})
    assert isinstance(s, Studio) and _names(s) == ["user_proxy", "assistant"]


def test_card_work_dir_timeout_and_max_auto_replies_round_trip(tmp_path):
    from agentnb.studio import load_team

    s = studio("coder", namespace={})
    user, assistant = s.cards
    assert (user.work_dir.value, user.timeout.value, user.max_auto.value) == ("coding", "60", "6")  # from the spec
    user.work_dir.value = "scratch"
    user.timeout.value = "30"
    user.max_auto.value = "2"
    cfg = s.spec.agent("user_proxy").config
    assert (cfg.code_execution.work_dir, cfg.code_execution.timeout, cfg.max_consecutive_auto_reply) == \
        ("scratch", 30, 2)
    user.timeout.value = "soon"  # not a number: the spec's error shows on this card, next to the field
    assert s.spec is None and "timeout" in user.errors.value and assistant.errors.value == ""
    user.timeout.value = "-1"
    assert s.spec is None and "greater than 0" in user.errors.value
    user.timeout.value = ""
    assert s.spec.agent("user_proxy").config.code_execution.timeout is None
    assert assistant.code_box.layout.display == "none"
    assistant.code.value = True  # turning code on shows its settings and gives the code a folder of its own
    assert assistant.code_box.layout.display is None
    assert s.spec.agent("assistant").config.code_execution.work_dir == "coding"
    assistant.max_auto.value = "0"
    assert s.spec.agent("assistant").config.max_consecutive_auto_reply == 0
    target = s.save(tmp_path / "team.json")
    again = studio(target, namespace={})
    assert (again.cards[0].work_dir.value, again.cards[0].timeout.value, again.cards[0].max_auto.value) == \
        ("scratch", "", "2")
    assert again.cards[1].code.value is True and again.cards[1].max_auto.value == "0"
    team = load_team(target)
    assert team.agents["user_proxy"]._max_consecutive_auto_reply == 2
    assert team.agents["assistant"]._max_consecutive_auto_reply == 0


def test_team_termination_and_max_turns_drive_the_chat(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTNB_HISTORY", "off")
    monkeypatch.chdir(tmp_path)
    with ScriptedModelServer(["working on it", "all DONE here", "never reached"]) as server:
        s = studio("coder", models={"default": server.llm_config()}, namespace={})
        s.cards[0].code.value = False  # the user proxy only replies
        assert s.options.termination_mode.value == "endswith" and s.options.termination_text.value == "TERMINATE"
        s.options.termination_mode.value = "contains"
        s.options.termination_text.value = "DONE"
        s.options.max_turns.value = "5"
        assert s.spec.config.termination.config.model_dump() == {"text": "DONE", "mode": "contains"}
        assert s.spec.config.max_turns == 5
        s.task.value = "go"
        s.run_button.click()
    assert [m["content"] for m in s.last_result.chat_history if m.get("name") == "assistant"] == \
        ["working on it", "all DONE here"]  # 'contains': the mention mid-sentence ended it
    s.options.termination_text.value = ""
    assert s.spec is None and "termination" in s.team_errors.value
    s.options.termination_mode.value = "none"
    assert s.spec is not None and s.spec.config.termination is None
    assert s.options.termination_text.layout.display == "none"
    s.options.max_turns.value = "many"
    assert s.spec is None and "max_turns" in s.json_errors.value
    s.options.max_turns.value = "1"
    again = studio(s.save(tmp_path / "t.json"), namespace={})
    assert again.options.termination_mode.value == "none" and again.options.max_turns.value == "1"


def test_group_disallowed_transitions_and_manager_system_message(tmp_path):
    from agentnb.studio import load_team

    s = studio("planner_coder_reviewer", namespace={})
    assert s.options.group_box.layout.display is None and s.options.max_turns.layout.display == "none"
    s.transitions.value = "planner: reviewer\nreviewer: planner"
    s.options.transitions_type.value = "disallowed"
    s.options.manager_system.value = "Pick the agent whose step is next."
    group = s.spec.config.group
    assert group.transitions_type == "disallowed" and group.transitions == {"planner": ["reviewer"],
                                                                            "reviewer": ["planner"]}
    assert group.manager.system_message == "Pick the agent whose step is next."
    team = load_team(s.spec)
    assert team.groupchat.speaker_transitions_type == "disallowed"
    allowed = {a.name: sorted(b.name for b in bs) for a, bs in team.groupchat.allowed_speaker_transitions_dict.items()}
    assert "reviewer" not in allowed["planner"] and "planner" not in allowed["reviewer"]
    assert "coder" in allowed["planner"]
    assert team.manager.system_message == "Pick the agent whose step is next."
    again = studio(s.save(tmp_path / "g.json"), namespace={})
    assert again.options.transitions_type.value == "disallowed"
    assert again.options.manager_system.value == "Pick the agent whose step is next."
    again.kind.value = "pair"
    assert again.options.group_box.layout.display == "none" and again.options.max_turns.layout.display is None

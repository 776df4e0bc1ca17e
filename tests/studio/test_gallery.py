"""Every gallery team loads and runs as is against the scripted model server (code in real kernels)."""

from __future__ import annotations

import pytest

from agentnb import ApprovalDecision
from agentnb.agents.human import human_handlers
from agentnb.messages import ApprovalRequested, ExecutionFinished
from agentnb.studio import dump_team, gallery, gallery_spec, load_team
from agentnb.testing import ScriptedModelServer, code, tool_calls


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # gallery work dirs are relative
    return tmp_path


class Approver:
    """Approves every request and remembers what it was asked."""

    def __init__(self):
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        return ApprovalDecision(approved=True)


def test_the_gallery_has_the_four_teams_and_each_round_trips():
    teams = gallery()
    assert list(teams) == ["coder", "data_analysis", "planner_coder_reviewer", "tool_assistant"]
    assert "<table>" in teams._repr_html_()
    assert load_team("coder").spec == teams["coder"]  # a gallery name loads too
    for name, spec in teams.items():
        team = load_team(spec)
        assert dump_team(team, quiet=True).config == spec.config, name
        assert spec.config.task, name


def test_coder_runs_code_only_after_approval(in_tmp):
    approver = Approver()
    with ScriptedModelServer([code("import math\nprint(max(math.sin(i / 100) for i in range(629)))"),
                              "The largest value is about 1.0. TERMINATE"]) as server:
        team = load_team(gallery_spec("coder"), models={"default": server.llm_config()})
        with human_handlers(approver=approver):
            result = team.run(silent=True)
    assert [r.kind for r in approver.requests] == ["code"]
    finished = [e for e in result.events if isinstance(e, ExecutionFinished)]
    assert finished[0].exit_code == 0 and "0.99999" in finished[0].summary
    assert "0.99999" in server.requests[1]["messages"][-1]["content"]
    assert result.stop_reason == "terminated"


def test_coder_rejected_code_never_runs(in_tmp):
    with ScriptedModelServer([code("open('ran.txt', 'w').write('x')"), "OK. TERMINATE"]) as server:
        team = load_team(gallery_spec("coder"), models={"default": server.llm_config()})
        with human_handlers(approver=lambda request: ApprovalDecision(approved=False, reason="no")):
            result = team.run(silent=True)
    assert not list(in_tmp.rglob("ran.txt"))
    assert any(isinstance(e, ApprovalRequested) for e in result.events)
    assert not [e for e in result.events if isinstance(e, ExecutionFinished) and e.exit_code == 0]


def test_planner_coder_reviewer_take_turns(in_tmp):
    approver = Approver()
    fib = "f = [0, 1]\nwhile len(f) < 15: f.append(f[-1] + f[-2])\nprint(f[-1], f[-1] / f[-2])"
    with ScriptedModelServer(["1. compute fib 2. print ratio", code(fib),
                              "377 / 233 is about 1.618, the golden ratio. TERMINATE"]) as server:
        team = load_team(gallery_spec("planner_coder_reviewer"), models={"default": server.llm_config()})
        with human_handlers(approver=approver):
            team.run(silent=True)
    names = [m["name"] for m in team.groupchat.messages]
    assert names == ["user", "planner", "coder", "executor", "reviewer"]
    assert "377 1.618" in team.groupchat.messages[3]["content"]
    assert len(approver.requests) == 1


def test_tool_assistant_calls_the_shipped_tools(in_tmp):
    with ScriptedModelServer([tool_calls([("convert_length", {"value": 26.2, "from_unit": "mi", "to_unit": "km"})]),
                              tool_calls([("calculate", {"expression": "42.1648 * 3"})]),
                              "About 42.16 km; times 3 is 126.49 km. TERMINATE"]) as server:
        team = load_team(gallery_spec("tool_assistant"), models={"default": server.llm_config()})
        result = team.run(silent=True)
    tools = [t["function"]["name"] for t in server.requests[0]["tools"]]
    assert tools == ["calculate", "word_count", "convert_length"]
    tool_results = [m["content"] for m in result.chat_history if m.get("role") == "tool"]
    assert tool_results == ["26.2 mi = 42.1648 km", "126.4944"]


def test_data_analysis_plots_and_the_critic_sees_the_output(in_tmp):
    approver = Approver()
    analysis = ("import pandas as pd, matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
                "df = pd.DataFrame({'a': range(12), 'b': [x * 2 for x in range(12)]})\n"
                "print(df.sum().to_dict())\ndf.plot(title='sales')\nplt.show()")
    with ScriptedModelServer([code(analysis), "Totals look right and the plot is labelled. TERMINATE"]) as server:
        team = load_team(gallery_spec("data_analysis"), models={"default": server.llm_config()})
        with human_handlers(approver=approver):
            result = team.run(silent=True)
    assert [m["name"] for m in team.groupchat.messages] == ["user", "analyst", "executor", "critic"]
    executed = [e for e in result.events if isinstance(e, ExecutionFinished)]
    assert executed and "{'a': 66, 'b': 132}" in executed[0].summary
    critic_request = server.requests[-1]["messages"]
    assert any("{'a': 66, 'b': 132}" in str(m.get("content")) for m in critic_request)
    assert len(approver.requests) == 1

"""Attack: ``approval="first"`` counted over the agent's lifetime.

After one approval, every later chat with the same agents (typical in a notebook) ran unasked, and
an approved tool call let the first code block through unasked. "first" now means: in each chat,
the first code block *and* (separately) the first tool call each executing agent runs is asked.
"""

from __future__ import annotations

import agentnb as autogen
from agentnb.agents.human import human_handlers
from agentnb.messages import ApprovalDecision
from agentnb.testing import ScriptedModelServer, code, tool_calls


def touch_code(path) -> str:
    return f"open({str(path)!r}, 'w').write('ran')"


def _pair(server, tmp_path, policy="first"):
    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
    user = autogen.UserProxyAgent(
        "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=3,
        code_execution_config={"work_dir": str(tmp_path), "executor": "commandline-local", "approval": policy})
    return user, assistant


def test_first_asks_again_in_every_new_chat(tmp_path, approving, rejecting):
    m1, m2, m3 = (tmp_path / f"m{i}.txt" for i in (1, 2, 3))
    script = [code(touch_code(m1)), code(touch_code(m2)), "TERMINATE",  # chat 1: two blocks
              code(touch_code(m3)), "TERMINATE"]  # chat 2: one block
    with ScriptedModelServer(script) as server:
        user, assistant = _pair(server, tmp_path)
        with human_handlers(approver=approving):
            user.initiate_chat(assistant, message="first chat", silent=True)
        assert m1.exists() and m2.exists()
        assert len(approving.requests) == 1  # "first": the later block of that chat ran unasked
        with human_handlers(approver=rejecting):
            user.initiate_chat(assistant, message="second chat", silent=True)
    assert not m3.exists(), "the second chat ran its first block unasked"
    assert rejecting.kinds == ["code"]


def test_an_approved_tool_call_does_not_open_the_gate_for_code(tmp_path):
    """Code and tool approvals are counted separately: approving a tool says nothing about code."""
    marker = tmp_path / "code.txt"
    calls = []
    asked = []

    def approver(request):
        asked.append(request.kind)
        return ApprovalDecision(approved=request.kind == "tool", reason="code not allowed")

    with ScriptedModelServer([tool_calls([("note", {"text": "hi"})]), code(touch_code(marker)),
                              "TERMINATE"]) as server:
        user, assistant = _pair(server, tmp_path)

        @user.register_for_execution()
        @assistant.register_for_llm(description="Take a note.")
        def note(text: str) -> str:
            calls.append(text)
            return "noted"

        with human_handlers(approver=approver):
            user.initiate_chat(assistant, message="go", silent=True)
    assert calls == ["hi"]
    assert asked == ["tool", "code"]
    assert not marker.exists()


def test_first_asks_each_executing_agent(tmp_path):
    """Two executors in one group chat: the second one's first block is asked too."""
    m1, m2 = tmp_path / "a.txt", tmp_path / "b.txt"
    with ScriptedModelServer([code(touch_code(m1)), code(touch_code(m2)), *["TERMINATE"] * 4]) as server:
        coder_a = autogen.AssistantAgent("coder_a", llm_config=server.llm_config())
        coder_b = autogen.AssistantAgent("coder_b", llm_config=server.llm_config())
        run_a, run_b = (autogen.UserProxyAgent(name, human_input_mode="NEVER", code_execution_config={
            "work_dir": str(tmp_path), "executor": "commandline-local", "approval": "first"})
            for name in ("run_a", "run_b"))
        boss = autogen.UserProxyAgent("boss", human_input_mode="NEVER", code_execution_config=False)
        group = autogen.GroupChat(agents=[boss, coder_a, run_a, coder_b, run_b], messages=[], max_round=5,
                                  speaker_selection_method="round_robin")
        manager = autogen.GroupChatManager(group, llm_config=False)
        asked = []

        def approver(request):
            asked.append(request.agent)
            return ApprovalDecision(approved=request.agent == "run_a", reason="b may not")

        with human_handlers(approver=approver):
            boss.initiate_chat(manager, message="go", silent=True)
    assert m1.exists() and not m2.exists()
    assert asked == ["run_a", "run_b"]


def test_first_outside_a_chat_counts_per_call(tmp_path):
    """``execute_code_blocks`` called directly: each call is its own round."""
    markers = [tmp_path / f"direct{i}.txt" for i in range(2)]
    user = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", code_execution_config={
        "work_dir": str(tmp_path), "executor": "commandline-local", "approval": "first"})
    asked = []

    def approver(request):
        asked.append(request.code)
        return ApprovalDecision(approved=len(asked) == 1)

    with human_handlers(approver=approver):
        for marker in markers:
            user.execute_code_blocks([("python", touch_code(marker))])
    assert [m.exists() for m in markers] == [True, False]
    assert len(asked) == 2

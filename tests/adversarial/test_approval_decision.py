"""Attack: a decision that is not a real ``True`` approves.

``ApprovalDecision(approved="no")`` was truthy and ran the code. ``approved`` is now validated as a
strict bool, and the gate itself fails closed for anything that is not exactly ``True`` — also for
a decision changed after it was built, or an edit that is not text.
"""

from __future__ import annotations

import asyncio

import pytest

import agentnb as autogen
from agentnb.agents.human import human_handlers, request_approval
from agentnb.messages import ApprovalDecision, ApprovalRequest
from agentnb.testing import ScriptedModelServer, code, tool_calls

NOT_BOOLS = ["no", "yes", "True", "", 1, 0, None, [True], 1.0]


def touch_code(path) -> str:
    return f"open({str(path)!r}, 'w').write('ran')"


@pytest.mark.parametrize("value", NOT_BOOLS, ids=repr)
def test_a_decision_must_be_a_real_bool(value):
    with pytest.raises(TypeError, match="approved"):
        ApprovalDecision(approved=value)


@pytest.mark.parametrize("bad", [{"code": 123}, {"code": b"print(1)"}, {"reason": None}], ids=repr)
def test_edited_code_and_reason_must_be_text(bad):
    with pytest.raises(TypeError):
        ApprovalDecision(approved=True, **bad)


def _mutated(value):
    decision = ApprovalDecision(approved=True)
    decision.approved = value  # changed after validation
    return decision


def _mutated_code():
    decision = ApprovalDecision(approved=True, code="print('edited')\n")
    decision.code = 42
    return decision


APPROVERS = {
    "builds approved='no'": lambda r: ApprovalDecision(approved="no"),
    "builds approved='yes'": lambda r: ApprovalDecision(approved="yes"),
    "mutates approved to 'no'": lambda r: _mutated("no"),
    "mutates approved to 1": lambda r: _mutated(1),
    "mutates code to 42": lambda r: _mutated_code(),
    "returns 'yes'": lambda r: "yes",
    "returns 1": lambda r: 1,
}


@pytest.mark.parametrize("approver", APPROVERS.values(), ids=APPROVERS.keys())
def test_nothing_runs_on_a_decision_that_is_not_true(tmp_path, approver):
    marker = tmp_path / "ran.txt"
    with ScriptedModelServer([code(touch_code(marker)), "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
        user = autogen.UserProxyAgent(
            "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=1,
            code_execution_config={"work_dir": str(tmp_path), "executor": "commandline-local",
                                   "approval": "always"})
        with human_handlers(approver=approver):
            result = user.initiate_chat(assistant, message="go", silent=True)
    assert not marker.exists()
    assert "not executed" in result.chat_history[2]["content"]  # the model is told it did not run


@pytest.mark.parametrize("approver", APPROVERS.values(), ids=APPROVERS.keys())
def test_no_tool_runs_on_a_decision_that_is_not_true(approver):
    ran = []
    with ScriptedModelServer([tool_calls([("wipe", {})]), "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
        user = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=1,
                                      code_execution_config=False)
        user.tool_approval = "always"

        @user.register_for_execution()
        @assistant.register_for_llm(description="Wipe everything.")
        def wipe() -> str:
            ran.append(True)
            return "wiped"

        with human_handlers(approver=approver):
            user.initiate_chat(assistant, message="go", silent=True)
    assert ran == []


def test_the_gate_reports_a_rejection_for_a_mutated_decision():
    """What views and the exporter see is a rejection too (the decision event is normalised)."""

    async def main():
        with human_handlers(approver=lambda r: _mutated("no")):
            return await request_approval(ApprovalRequest(kind="code", agent="a", code="x"))

    decision = asyncio.run(main())
    assert decision.approved is False


def test_true_and_a_real_decision_still_approve():
    async def main(answer):
        with human_handlers(approver=lambda r: answer):
            return await request_approval(ApprovalRequest(kind="code", agent="a", code="x"))

    assert asyncio.run(main(True)).approved is True
    assert asyncio.run(main(ApprovalDecision(approved=True, code="y"))).code == "y"

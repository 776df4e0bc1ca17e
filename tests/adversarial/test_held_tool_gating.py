"""Held: tool calls and legacy ``function_call`` s under approval "always".

Rejected, the function never runs; approved, it runs exactly once with the arguments shown; an unknown
tool name or malformed arguments never run that function or any other (and nothing on the host: a name
written as Python is not evaluated). Tool calls come from the scripted model (streamed and not);
legacy ``function_call`` messages, which the scripted server cannot produce, come from a hostile peer agent.
"""

from __future__ import annotations

import json

import pytest
from support.faults import Tools, tool_team

import agentnb as autogen
from agentnb.agents.human import human_handlers
from agentnb.messages import ApprovalDecision
from agentnb.testing import ScriptedModelServer, raw_tool_calls, tool_calls


def _tool_answers(server) -> list[str]:
    return [m["content"] for m in server.requests[1]["messages"] if m["role"] == "tool"]


POLICIES = ["tool_approval", "code_execution_config", "chat"]


def _wipe_chat(approver, policy: str, *, stream: bool = False, tool_approval: object = None):
    """The model asks once to wipe /data; returns the tools and what the model was told.

    ``policy`` says where approval "always" is set: see :func:`tool_team`; ``"chat"``: the chat's ``approval``
    argument; ``"none"``: nowhere, the proxy's ``tool_approval`` is ``tool_approval``.
    """
    tools = Tools()
    with ScriptedModelServer([tool_calls([("wipe", {"path": "/data"})]), "TERMINATE"]) as server:
        assistant, proxy = tool_team(server, tools, stream=stream, policy=policy)
        if policy == "none":
            proxy.tool_approval = tool_approval
        extra = {"approval": "always"} if policy == "chat" else {}
        with human_handlers(approver=approver):
            proxy.initiate_chat(assistant, message="go", silent=True, **extra)
        return tools, _tool_answers(server)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("policy", POLICIES)
def test_a_rejected_tool_call_never_runs(rejecting, policy, stream):
    tools, answers = _wipe_chat(rejecting, policy, stream=stream)
    assert tools.calls == []
    assert rejecting.kinds == ["tool"] and json.loads(rejecting.requests[0].arguments) == {"path": "/data"}
    assert len(answers) == 1 and answers[0].startswith("Error:")  # the model is told, the chat goes on


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("policy", POLICIES)
def test_an_approved_tool_call_runs_once(approving, policy, stream):
    tools, answers = _wipe_chat(approving, policy, stream=stream)
    assert tools.calls == [("wipe", {"path": "/data"})]
    assert approving.kinds == ["tool"] and answers == ["wiped"]


def test_each_call_of_a_reply_is_asked_and_only_approved_ones_run():
    tools = Tools()
    asked: list[str] = []

    def approve_backups_only(request):
        asked.append(request.tool_name)
        return request.tool_name == "backup"

    reply = tool_calls([("wipe", {"path": "/a"}), ("backup", {"path": "/b", "keep": 3}), ("wipe", {"path": "/c"})])
    with ScriptedModelServer([reply, "TERMINATE"]) as server:
        assistant, proxy = tool_team(server, tools)
        with human_handlers(approver=approve_backups_only):
            proxy.initiate_chat(assistant, message="go", silent=True)
        answers = _tool_answers(server)
    assert asked == ["wipe", "backup", "wipe"]
    assert tools.calls == [("backup", {"path": "/b", "keep": 3})]
    assert answers[1] == "saved" and answers[0].startswith("Error:") and answers[2].startswith("Error:")


def test_an_approver_edit_runs_the_edited_arguments_once():
    tools = Tools()
    with ScriptedModelServer([tool_calls([("wipe", {"path": "/"})]), "TERMINATE"]) as server:
        assistant, proxy = tool_team(server, tools)
        with human_handlers(approver=lambda r: ApprovalDecision(approved=True, code='{"path": "/tmp/scratch"}')):
            proxy.initiate_chat(assistant, message="go", silent=True)
    assert tools.calls == [("wipe", {"path": "/tmp/scratch"})]


def _marker_name(tmp_path) -> str:
    return f"__import__('os').system('touch {tmp_path / 'ran'}')"


BAD_CALLS = {
    "unknown name": [{"function": {"name": "rm_rf", "arguments": '{"path": "/data"}'}}],
    "name differs in case": [{"function": {"name": "WIPE", "arguments": '{"path": "/data"}'}}],
    "name with a suffix": [{"function": {"name": "wipe; backup", "arguments": '{"path": "/data"}'}}],
    "name written as Python": [{"function": {"name": "{marker}", "arguments": "{}"}}],
    "empty name": [{"function": {"name": "", "arguments": '{"path": "/data"}'}}],
    "no function": [{}],
    "function is a string": [{"function": "wipe"}],
    "arguments not JSON": [{"function": {"name": "wipe", "arguments": "{'path': '/data'"}}],
    "arguments a JSON list": [{"function": {"name": "wipe", "arguments": '["/data"]'}}],
    "arguments a JSON string": [{"function": {"name": "wipe", "arguments": '"/data"'}}],
    "wrong type": [{"function": {"name": "wipe", "arguments": '{"path": ["/a", "/b"]}'}}],
    "missing argument": [{"function": {"name": "wipe", "arguments": "{}"}}],
    "unknown argument": [{"function": {"name": "wipe", "arguments": '{"path": "/a", "recursive": true}'}}],
    "another tool's arguments": [{"function": {"name": "wipe", "arguments": '{"keep": 2}'}}],
    "dunder argument": [{"function": {"name": "wipe", "arguments": '{"path": "/a", "__class__": "x"}'}}],
    "arguments of null": [{"function": {"name": "backup", "arguments": "null"}}],
}


def _raw(calls: list[dict], marker: str) -> list[dict]:
    out = []
    for i, call in enumerate(calls):
        call = json.loads(json.dumps(call).replace("{marker}", marker.replace('"', '\\"')))
        out.append({"id": f"call_bad_{i}", "type": "function", **call})
    return out


def _bad_params():
    for case in BAD_CALLS:
        for stream in (False, True):
            yield pytest.param(case, stream, id=f"{case}-{'streamed' if stream else 'plain'}")


@pytest.mark.parametrize(("case", "stream"), list(_bad_params()))
def test_unknown_names_and_malformed_arguments_run_nothing(tmp_path, approving, case, stream):
    tools = Tools()
    calls = _raw(BAD_CALLS[case], _marker_name(tmp_path))
    with ScriptedModelServer([raw_tool_calls(calls), "TERMINATE"]) as server:
        assistant, proxy = tool_team(server, tools, stream=stream)
        with human_handlers(approver=approving):  # even a person who approves everything
            proxy.initiate_chat(assistant, message="go", silent=True)
        answers = _tool_answers(server)
    assert tools.calls == [], f"{case}: a function ran"
    assert not (tmp_path / "ran").exists()
    assert len(answers) == len(calls) and all(a.startswith("Error:") for a in answers)


# --------------------------------------------------------------------------- legacy function_call


def _legacy_chat(function_call: dict, approver):
    tools = Tools()
    proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=1,
                                   code_execution_config=False)
    proxy.tool_approval = "always"
    proxy.register_function({"wipe": tools.wipe, "backup": tools.backup})
    hostile = autogen.ConversableAgent("hostile", llm_config=False, human_input_mode="NEVER",
                                       default_auto_reply="TERMINATE")
    with human_handlers(approver=approver):
        result = hostile.initiate_chat(proxy, message={"content": None, "function_call": function_call},
                                       max_turns=1, silent=True)
    return tools, result.chat_history[-1]


def test_a_rejected_legacy_function_call_never_runs(rejecting):
    tools, answer = _legacy_chat({"name": "wipe", "arguments": '{"path": "/data"}'}, rejecting)
    assert tools.calls == [] and rejecting.kinds == ["tool"]
    assert answer["role"] == "function" and answer["content"].startswith("Error:")


def test_an_approved_legacy_function_call_runs_once(approving):
    tools, answer = _legacy_chat({"name": "wipe", "arguments": '{"path": "/data"}'}, approving)
    assert tools.calls == [("wipe", {"path": "/data"})] and approving.kinds == ["tool"]
    assert answer["content"] == "wiped"


@pytest.mark.parametrize("case", [c for c in BAD_CALLS if isinstance(BAD_CALLS[c][0].get("function"), dict)])
def test_malformed_legacy_function_calls_run_nothing(tmp_path, approving, case):
    function_call = _raw(BAD_CALLS[case], _marker_name(tmp_path))[0]["function"]
    tools, answer = _legacy_chat(function_call, approving)
    assert tools.calls == [] and not (tmp_path / "ran").exists()
    assert answer["content"].startswith("Error:")


# --------------------------------------------------------------------------- a careless policy value


@pytest.mark.parametrize("policy", ["Always", "ALWAYS", "yes", "ask", 1, "always "], ids=repr)
def test_a_tool_approval_value_that_is_not_a_policy_asks(rejecting, policy):
    """Found by this suite: ``tool_approval="Always"`` (or any value not understood) ran tools unasked."""
    tools, _ = _wipe_chat(rejecting, "none", tool_approval=policy)
    assert tools.calls == [] and rejecting.kinds == ["tool"]


@pytest.mark.parametrize("policy", [None, False, "never"], ids=repr)
def test_tool_approval_off_runs_unasked(rejecting, policy):
    """Control: the policies that mean "do not ask" still run the tool without a question."""
    tools, _ = _wipe_chat(rejecting, "none", tool_approval=policy)
    assert tools.calls == [("wipe", {"path": "/data"})] and rejecting.kinds == []

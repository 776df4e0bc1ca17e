"""Attack: an approval policy given for a chat skips agents that are not direct participants.

``initiate_chat(..., approval="always")`` and ``%%agents --approve always --team X`` must reach every
agent that runs code or tools: through ``register_nested_chats``, through a GroupChatManager that is
itself a group member, and agents created while the chat runs. Each agent below has its own policy
``never``; the chat says ``always``; a rejecting approver is installed: nothing may run.
Each scenario also runs once without the chat policy, to show the side effect really happens then.
"""

from __future__ import annotations

import asyncio

import pytest
from support.faults import group_in_group, touch_code

import agentnb as autogen
from agentnb.agents.human import human_handlers
from agentnb.errors import ConfigError
from agentnb.testing import ScriptedModelServer, code, tool_calls

SPARE = ["Done. TERMINATE"] * 6


def _runner(name, tmp_path, **kw):
    """An executing agent that would run everything unasked (its own policy is 'never')."""
    return autogen.UserProxyAgent(
        name, human_input_mode="NEVER", max_consecutive_auto_reply=2,
        code_execution_config={"work_dir": str(tmp_path), "executor": "commandline-local", "approval": "never"},
        **kw)


def _nested_team(server, tmp_path, marker, kind):
    """boss -> lead; lead answers boss through a nested chat runner <-> writer, where the code runs."""
    writer = autogen.AssistantAgent("writer", llm_config=server.llm_config())
    runner = _runner("runner", tmp_path)
    if kind == "tool":
        @runner.register_for_execution()
        @writer.register_for_llm(description="Create the marker file.")
        def touch() -> str:
            marker.write_text("ran")
            return "created"
    boss = autogen.UserProxyAgent("boss", human_input_mode="NEVER", code_execution_config=False)
    lead = autogen.ConversableAgent("lead", llm_config=False, human_input_mode="NEVER")
    lead.register_nested_chats([{"sender": runner, "recipient": writer, "message": "write it", "max_turns": 2,
                                 "silent": True}], trigger=boss)
    return boss, lead


def _script(marker, kind):
    first = code(touch_code(marker)) if kind == "code" else tool_calls([("touch", {})])
    return [first, *SPARE]


@pytest.mark.parametrize("kind", ["code", "tool"])
@pytest.mark.parametrize("approval", [None, "always"])
def test_chat_policy_reaches_agents_of_nested_chats(tmp_path, rejecting, kind, approval):
    marker = tmp_path / "nested.txt"
    with ScriptedModelServer(_script(marker, kind)) as server:
        boss, lead = _nested_team(server, tmp_path, marker, kind)
        with human_handlers(approver=rejecting):
            boss.initiate_chat(lead, message="go", max_turns=1, approval=approval, silent=True)
    if approval is None:  # the attack's premise: the nested agent's own policy runs it unasked
        assert marker.exists() and rejecting.requests == []
    else:
        assert not marker.exists(), "a nested agent ran code/tools the chat policy did not allow"
        assert rejecting.kinds == [kind] and rejecting.requests[0].agent == "runner"


def _nested_groups(server, tmp_path):
    """boss in an outer group whose other member is a GroupChatManager of an inner group that runs code."""
    return group_in_group(server, _runner("runner", tmp_path), inner_rounds=3)


@pytest.mark.parametrize("approval", [None, "always"])
def test_chat_policy_reaches_a_group_inside_a_group(tmp_path, rejecting, approval):
    marker = tmp_path / "group.txt"
    with ScriptedModelServer([code(touch_code(marker)), *SPARE]) as server:
        boss, outer = _nested_groups(server, tmp_path)
        with human_handlers(approver=rejecting):
            boss.initiate_chat(outer, message="go", approval=approval, silent=True)
    assert marker.exists() is (approval is None)
    assert rejecting.kinds == ([] if approval is None else ["code"])


def test_magic_approve_with_team_reaches_a_group_inside_a_group(tmp_path, rejecting):
    """``%%agents --approve always --team outer`` (terminal IPython: the chat runs to its end in the cell)."""
    from IPython.core.interactiveshell import InteractiveShell

    from agentnb.notebook.magics import AgentMagics

    marker = tmp_path / "magic.txt"
    shell = InteractiveShell.instance()
    with ScriptedModelServer([code(touch_code(marker)), *SPARE]) as server:
        _boss, outer = _nested_groups(server, tmp_path)
        shell.user_ns["outer"] = outer
        own = {id(a): dict(a._code_execution_config) for a in outer.groupchat.agents[1].groupchat.agents
               if isinstance(a._code_execution_config, dict)}
        with human_handlers(approver=rejecting):
            AgentMagics(shell).agents_cell("--team outer --approve always --silent --max-turns 1", "go")
    assert not marker.exists()
    assert rejecting.kinds == ["code"]
    # the team's agents were not rewritten: the policy belonged to that chat only
    after = {id(a): a._code_execution_config for a in outer.groupchat.agents[1].groupchat.agents
             if isinstance(a._code_execution_config, dict)}
    assert own == after


@pytest.mark.parametrize("approval", [None, "always"])
def test_chat_policy_reaches_an_agent_created_during_the_chat(tmp_path, rejecting, approval):
    """A reply function builds a fresh executing agent mid-chat and runs code with it."""
    marker = tmp_path / "late.txt"
    boss = autogen.UserProxyAgent("boss", human_input_mode="NEVER", code_execution_config=False)
    lead = autogen.ConversableAgent("lead", llm_config=False, human_input_mode="NEVER")

    async def spawn_and_run(recipient, messages=None, sender=None, config=None):
        late = _runner("late_runner", tmp_path)
        return True, await late.a_execute_code_blocks([("python", touch_code(marker))])

    lead.register_reply([autogen.Agent, None], spawn_and_run)
    with human_handlers(approver=rejecting):
        boss.initiate_chat(lead, message="go", max_turns=1, approval=approval, silent=True)
    assert marker.exists() is (approval is None)


def test_a_nested_chat_cannot_loosen_the_outer_policy(tmp_path, rejecting):
    """The nested chat's own ``approval="never"`` does not undo the outer chat's ``always``."""
    marker = tmp_path / "loosen.txt"
    with ScriptedModelServer([code(touch_code(marker)), *SPARE]) as server:
        writer = autogen.AssistantAgent("writer", llm_config=server.llm_config())
        runner = _runner("runner", tmp_path)
        boss = autogen.UserProxyAgent("boss", human_input_mode="NEVER", code_execution_config=False)
        lead = autogen.ConversableAgent("lead", llm_config=False, human_input_mode="NEVER")
        lead.register_nested_chats([{"sender": runner, "recipient": writer, "message": "write it",
                                     "max_turns": 2, "silent": True, "approval": "never"}], trigger=boss)
        with human_handlers(approver=rejecting):
            boss.initiate_chat(lead, message="go", max_turns=1, approval="always", silent=True)
    assert not marker.exists() and rejecting.kinds == ["code"]


def test_the_policy_does_not_outlive_its_chat(tmp_path, rejecting):
    """After a chat with approval="always", the same agents keep their own policy (nothing was mutated)."""
    marker = tmp_path / "after.txt"
    runner = _runner("runner", tmp_path)
    script = [code(touch_code(marker)), "Not run. TERMINATE", code(touch_code(marker)), *SPARE]
    with ScriptedModelServer(script) as server:
        writer = autogen.AssistantAgent("writer", llm_config=server.llm_config())
        with human_handlers(approver=rejecting):
            runner.initiate_chat(writer, message="go", max_turns=2, approval="always", silent=True)
            assert not marker.exists()
            runner.initiate_chat(writer, message="go", max_turns=2, silent=True)
    assert marker.exists() and rejecting.kinds == ["code"]


@pytest.mark.parametrize("bad", ["sometimes", "ALWAYS", True, 1, ["always"]])
def test_a_bad_chat_policy_is_refused_before_anything_runs(tmp_path, bad):
    runner = _runner("runner", tmp_path)
    other = autogen.ConversableAgent("other", llm_config=False, human_input_mode="NEVER")
    with pytest.raises(ConfigError, match="approval"):
        runner.initiate_chat(other, message="go", approval=bad, silent=True)
    with pytest.raises(ConfigError, match="approval"):
        asyncio.run(runner.a_initiate_chat(other, message="go", approval=bad, silent=True))

"""Leak: kernels started by agents of nested chats / nested groups are never shut down.

Every outer chat left one ~90 MB kernel per nested executing agent alive for the whole notebook
session, carrying variables into the next chat. Every kernel a chat started must be shut down when
that chat ends, however deep it was started; an agent of an enclosing chat keeps its kernel until
that chat ends.
"""

from __future__ import annotations

import re

import psutil
import pytest
from support.faults import assert_gone, group_in_group, printed_pids

import agentnb as autogen
from agentnb.testing import ScriptedModelServer, code

SHOW_PIDS = "import os\nprint('PIDS', os.getpid(), os.getppid())\nsecret_state = 42"
SPARE = ["Done. TERMINATE"] * 6


def _runner(name, work):
    return autogen.UserProxyAgent(name, human_input_mode="NEVER", max_consecutive_auto_reply=2,
                                  code_execution_config={"work_dir": str(work), "executor": "jupyter"})


def _nested_chat_team(server, work):
    writer = autogen.AssistantAgent("writer", llm_config=server.llm_config())
    runner = _runner("runner", work)
    boss = autogen.UserProxyAgent("boss", human_input_mode="NEVER", code_execution_config=False)
    lead = autogen.ConversableAgent("lead", llm_config=False, human_input_mode="NEVER")
    lead.register_nested_chats([{"sender": runner, "recipient": writer, "message": "run it", "max_turns": 2,
                                 "silent": True}], trigger=boss)
    return boss, lead, runner


def _nested_group_team(server, work):
    runner = _runner("runner", work)
    return (*group_in_group(server, runner, inner_rounds=4), runner)


@pytest.mark.parametrize("team", [_nested_chat_team, _nested_group_team], ids=["nested-chat", "nested-group"])
def test_nested_kernels_are_shut_down_when_the_chat_ends(tmp_path, team):
    with ScriptedModelServer([code(SHOW_PIDS), *SPARE]) as server:
        boss, other, runner = team(server, tmp_path)
        boss.initiate_chat(other, message="go", max_turns=1, silent=True)
        pids = printed_pids(server)
    assert_gone(pids, "kernel processes")
    assert runner.code_executor is None


def test_an_agent_created_during_the_chat_has_its_kernel_shut_down(tmp_path):
    boss = autogen.UserProxyAgent("boss", human_input_mode="NEVER", code_execution_config=False)
    lead = autogen.ConversableAgent("lead", llm_config=False, human_input_mode="NEVER")
    told: list[str] = []

    async def spawn_and_run(recipient, messages=None, sender=None, config=None):
        late = _runner("late_runner", tmp_path)
        told.append(await late.a_execute_code_blocks([("python", SHOW_PIDS)]))
        return True, told[-1]

    lead.register_reply([autogen.Agent, None], spawn_and_run)
    boss.initiate_chat(lead, message="go", max_turns=1, silent=True)
    pids = {int(p) for p in re.findall(r"PIDS (\d+) (\d+)", told[0])[0]} - {psutil.Process().pid}
    assert_gone(pids, "kernel processes")


def test_an_outer_agent_keeps_its_kernel_through_a_nested_chat(tmp_path):
    """The runner is part of the outer chat too: its kernel (and variables) last until the outer chat ends."""
    script = ["Please run the nested job.", code(SHOW_PIDS), "Nested done. TERMINATE",
              code("print(secret_state + 1)"), *SPARE]
    with ScriptedModelServer(script) as server:
        writer = autogen.AssistantAgent("writer", llm_config=server.llm_config())
        helper = autogen.AssistantAgent("helper", llm_config=server.llm_config())
        runner = _runner("runner", tmp_path)
        fired: list[bool] = []

        def once(sender) -> bool:
            if sender is helper and not fired:
                fired.append(True)
                return True
            return False

        runner.register_nested_chats([{"recipient": writer, "message": "run it", "max_turns": 2,
                                       "silent": True}], trigger=once)
        runner.initiate_chat(helper, message="go", max_turns=3, silent=True)
        contents = [str(m.get("content")) for r in server.requests for m in r["messages"]]
        pids = printed_pids(server)
    # the variable set inside the nested chat was still there for the outer chat's next block
    assert any(c.startswith("exitcode: 0") and "43" in c for c in contents), contents
    assert_gone(pids, "kernel processes")

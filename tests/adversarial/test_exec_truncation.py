"""Attack: a reply cut off by ``max_tokens`` (or ending inside an unclosed fence) is executed.

A truncated ``rm -rf /x/build/cache`` runs as ``rm -rf /x/``. A reply that ended with
``finish_reason == "length"``, or whose last code block never closes, must never run; the model is
told (the next request carries no execution result), and the person sees the reply marked as cut off.
"""

from __future__ import annotations

import dataclasses

import pytest

import agentnb as autogen
from agentnb.coding.base import TRUNCATED_MARK
from agentnb.testing import ScriptedModelServer, text, tool_calls


def _touch(marker) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')\n"


def _chat(server, tmp_path, executor="jupyter", stream=False):
    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config(stream=stream))
    proxy = autogen.UserProxyAgent(
        "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=2,
        code_execution_config={"work_dir": str(tmp_path / "work"), "executor": executor})
    return proxy.initiate_chat(assistant, message="go", silent=True)


def _replies(marker):
    closed = f"```python\n{_touch(marker)}```"
    return {
        # the block is complete but the reply was cut off right after it: the rest of the plan is missing
        "closed-block-length": text(f"Step 1:\n{closed}\nStep 2:\n```python\nimport shutil", finish_reason="length"),
        "only-block-length": text(closed, finish_reason="length"),
        # an unclosed final fence with a normal finish (a server that does not report length)
        "unclosed-stop": text(f"```python\n{_touch(marker)}# more to come"),
        "unclosed-tilde-stop": text(f"~~~python\n{_touch(marker)}"),
        "closed-then-unclosed": text(f"{closed}\n\nand now:\n```sh\nrm -rf /x/"),
    }


@pytest.mark.parametrize("case", ["closed-block-length", "only-block-length", "unclosed-stop",
                                  "unclosed-tilde-stop", "closed-then-unclosed"])
def test_cut_off_reply_never_runs(tmp_path, case):
    marker = tmp_path / "ran.txt"
    with ScriptedModelServer([_replies(marker)[case], "TERMINATE"]) as server:
        result = _chat(server, tmp_path)
        told = server.requests[1]["messages"][-1]["content"]
    assert not marker.exists(), "code from a cut-off reply was executed"
    assert not told.startswith("exitcode"), told
    if case.endswith("length"):
        assistant_msg = result.chat_history[1]["content"]
        assert assistant_msg.rstrip().endswith(TRUNCATED_MARK)  # what every view shows the person
        assert TRUNCATED_MARK in server.requests[1]["messages"][-2]["content"]  # and the model sees it too


@pytest.mark.parametrize("stream", [False, True])
def test_length_is_seen_streamed_and_not(tmp_path, stream):
    marker = tmp_path / "ran.txt"
    with ScriptedModelServer([text(f"```python\n{_touch(marker)}```", finish_reason="length"),
                              "TERMINATE"]) as server:
        _chat(server, tmp_path, executor="commandline-local", stream=stream)
    assert not marker.exists()


def test_the_same_reply_complete_does_run(tmp_path):
    """Control: the attack's reply with ``finish_reason='stop'`` and a closed fence runs."""
    marker = tmp_path / "ran.txt"
    with ScriptedModelServer([text(f"```python\n{_touch(marker)}```"), "TERMINATE"]) as server:
        _chat(server, tmp_path)
        told = server.requests[1]["messages"][-1]["content"]
    assert marker.exists() and told.startswith("exitcode: 0")


def test_prose_cut_off_without_code_is_not_an_execution(tmp_path):
    """A plain-text reply cut off by max_tokens holds no code: the chat goes on as usual."""
    with ScriptedModelServer([text("A long explanation that was cut", finish_reason="length"),
                              "TERMINATE"]) as server:
        result = _chat(server, tmp_path, executor="commandline-local")
    assert result.chat_history[1]["content"].endswith(TRUNCATED_MARK)
    assert "code" not in result.chat_history[2]["content"].lower()


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_of_a_cut_off_reply_never_run(tmp_path, stream):
    """A reply cut off by max_tokens may hold tool calls whose JSON happens to be complete: none run."""
    ran: list[str] = []
    cut = dataclasses.replace(tool_calls([("touch", {"path": "/x/"})]), finish_reason="length")
    with ScriptedModelServer([cut, "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config(stream=stream))
        proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=2,
                                       code_execution_config=False)

        @proxy.register_for_execution()
        @assistant.register_for_llm(description="Touch a path.")
        def touch(path: str) -> str:
            ran.append(path)
            return "done"

        proxy.initiate_chat(assistant, message="go", silent=True)
        followup = server.requests[1]["messages"]
    assert ran == [], "a tool call of a cut-off reply ran"
    call_id = followup[-2]["tool_calls"][0]["id"]
    answer = followup[-1]
    assert answer["role"] == "tool" and answer["tool_call_id"] == call_id  # the protocol stays valid
    assert TRUNCATED_MARK in followup[-2]["content"]

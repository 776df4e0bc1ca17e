"""The sync API in a real notebook kernel: a blocked cell can still ask a person through input() (stdin)."""

from __future__ import annotations

import queue

import pytest
from jupyter_client.manager import start_new_kernel

from agentnb.testing import code

CELL = """
import agentnb as autogen
assistant = autogen.AssistantAgent("assistant", llm_config={llm!r})
user_proxy = autogen.UserProxyAgent(
    "user_proxy", human_input_mode="ALWAYS",
    is_termination_msg=lambda x: (x.get("content") or "").rstrip().endswith("TERMINATE"),
    code_execution_config={{"work_dir": {work!r}, "approval": "always"}})
result = user_proxy.initiate_chat(assistant, message="make the file")
print("STOP", result.stop_reason, result.human_input)
"""


@pytest.fixture
def kernel(tmp_path):
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env={"AGENTNB_VIEW": "plain"})
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run_answering(kc, source: str, answers: dict[str, str], timeout: float = 90) -> tuple[list[str], str]:
    """Execute ``source``; answer each input_request whose prompt contains a key; return prompts and stdout."""
    msg_id = kc.execute(source, allow_stdin=True)
    prompts: list[str] = []
    out: list[str] = []
    while True:
        try:
            req = kc.get_stdin_msg(timeout=0.2)
        except queue.Empty:
            req = None
        if req is not None:
            prompt = req["content"]["prompt"]
            prompts.append(prompt)
            answer = next((a for key, a in answers.items() if key in prompt), "exit")
            kc.input(answer)
        try:
            msg = kc.get_iopub_msg(timeout=0.05)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return prompts, "".join(out)
        if len(prompts) > 10:
            raise AssertionError(f"too many prompts: {prompts}")


def test_sync_chat_asks_for_approval_and_reply_through_stdin(kernel, model_server, tmp_path):
    work = tmp_path / "work"
    model_server.add(code("open('made.txt', 'w').write('ok')"), "Done. TERMINATE")
    cell = CELL.format(llm=model_server.llm_config(), work=str(work))
    prompts, out = run_answering(kernel, cell, {"Run it?": "y", "Provide feedback": ""})
    assert (work / "made.txt").read_text() == "ok"
    assert any("Run it?" in p for p in prompts)
    assert any("Provide feedback" in p for p in prompts)
    assert "STOP" in out and "terminated" in out


def test_sync_chat_rejected_through_stdin_never_runs(kernel, model_server, tmp_path):
    work = tmp_path / "work"
    model_server.add(code("open('made.txt', 'w').write('ok')"), "Fine. TERMINATE")
    cell = CELL.format(llm=model_server.llm_config(), work=str(work))
    prompts, out = run_answering(kernel, cell, {"Run it?": "n not today", "Provide feedback": ""})
    assert any("Run it?" in p for p in prompts)
    assert not (work / "made.txt").exists()
    assert "STOP" in out
    assert "not today" in model_server.requests[-1]["messages"][-1]["content"]

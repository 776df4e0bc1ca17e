"""Batch runs against the scripted model server: transcripts, summary, retries, timeouts, resume after a kill."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import nbformat
import pytest

from agentnb.batch import load_tasks, load_team, read_summary, run_batch
from agentnb.cli import main as cli_main
from agentnb.errors import ConfigError
from agentnb.testing import TEST_API_KEY, Fault, ScriptedModelServer, code

KEY_ENV = "AGENTNB_TEST_BATCH_KEY"


def task_of(body: dict) -> str:
    """The first user message of the conversation the request belongs to (the task)."""
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def doubling_model(body: dict):
    """Writes code for 'double N'; says TERMINATE once it has seen the execution result."""
    last = body["messages"][-1]["content"] or ""
    if "exitcode:" in last:
        return "Done. TERMINATE"
    number = int(re.search(r"double (\d+)", task_of(body)).group(1))
    return code(f"print({number} * 2)")


def team(server: ScriptedModelServer, *, code_execution=None, **chat) -> dict:
    return {
        "agents": [
            {"name": "assistant", "system_message": "You write Python.",
             "llm": {"model": server.model, "base_url": server.base_url, "api_key_env": KEY_ENV}},
            {"name": "user_proxy", "kind": "user_proxy", "max_consecutive_auto_reply": 3,
             "terminate_suffix": "TERMINATE",
             "code_execution": code_execution if code_execution is not None else False},
        ],
        "chat": {"type": "pair", "initiator": "user_proxy", "recipient": "assistant", **chat},
    }


@pytest.fixture(autouse=True)
def model_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, TEST_API_KEY)


def test_batch_runs_code_in_kernels_writes_transcripts_and_summary(tmp_path):
    from agentnb.coding.pool import live_kernel_count

    kernels_before = live_kernel_count()
    with ScriptedModelServer(doubling_model) as server:
        tasks = [{"id": f"t{n}", "message": f"Please double {n}."} for n in (3, 4, 5)]
        result = run_batch(tasks, team=team(server, code_execution={"executor": "jupyter", "timeout": 30}),
                           parallel=2, out_dir=tmp_path / "out", progress=None, timeout=120, retries=0)
    assert [r["id"] for r in result.rows] == ["t3", "t4", "t5"] and result.ran == ["t3", "t4", "t5"]
    for row, n in zip(result.rows, (3, 4, 5), strict=True):
        assert row["status"] == "ok" and row["attempts"] == 1 and row["turns"] == 3, row
        assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"] > 0
        nb = nbformat.read(tmp_path / "out" / row["transcript"], as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert outputs[0]["text"] == f"{n * 2}\n"
        assert (tmp_path / "out" / "work" / row["id"]).is_dir()
    lines = (tmp_path / "out" / "summary.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == ["t3", "t4", "t5"]
    summary = nbformat.read(tmp_path / "out" / "summary.ipynb", as_version=4)
    table = summary.cells[0].source
    assert "3 of 3 tasks ok" in table and "| t4 | ok | 1 | 3 |" in table and "transcripts/t4.ipynb" in table
    assert TEST_API_KEY not in (tmp_path / "out" / "summary.jsonl").read_text()
    assert live_kernel_count() == kernels_before  # the batch's kernels and its warm pool are shut down


def test_retries_timeouts_and_errors(tmp_path):
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def model(body):
        task = task_of(body)
        with lock:
            seen[task] = seen.get(task, 0) + 1
            count = seen[task]
        if task == "flaky" and count == 1:
            return Fault.status(400, message="bad request once")
        if task == "broken":
            return Fault.status(400, message="always bad")
        if task == "slow":
            return Fault.hang(5, then="too late TERMINATE")
        return "fine TERMINATE"

    with ScriptedModelServer(model) as server:
        result = run_batch(["flaky", "broken", "slow", "fine"], team=team(server), parallel=4,
                           out_dir=tmp_path / "out", timeout=1.0, retries=1, progress="lines")
    rows = {r["id"]: r for r in result.rows}
    assert rows["task-0001"]["status"] == "ok" and rows["task-0001"]["attempts"] == 2
    assert rows["task-0002"]["status"] == "error" and rows["task-0002"]["attempts"] == 2
    assert "always bad" in rows["task-0002"]["error"] and TEST_API_KEY not in rows["task-0002"]["error"]
    assert rows["task-0002"]["transcript"] is None
    assert rows["task-0003"]["status"] == "timeout" and "timeout of 1 s" in rows["task-0003"]["error"]
    assert rows["task-0004"]["status"] == "ok" and rows["task-0004"]["attempts"] == 1
    # a rerun skips the finished tasks and retries only the failed ones
    with ScriptedModelServer(["fine TERMINATE", "fine TERMINATE"]) as server:
        again = run_batch(["flaky", "broken", "slow", "fine"], team=team(server), out_dir=tmp_path / "out",
                          progress=None, retries=0)
    assert again.skipped == ["task-0001", "task-0004"] and again.ran == ["task-0002", "task-0003"]
    assert all(r["status"] == "ok" for r in again.rows)


def test_team_spec_and_tasks_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="keys never go in the team file"):
        load_team({"agents": [{"name": "a", "llm": {"model": "m", "api_key": "sk-abcdefgh12345678"}}]})
    with pytest.raises(ConfigError, match=r"chat\.recipient 'nobody'"):
        load_team({"agents": [{"name": "a"}], "chat": {"recipient": "nobody"}})
    with pytest.raises(ConfigError, match="duplicate task ids: x"):
        load_tasks([{"id": "x", "message": "a"}, {"id": "x", "message": "b"}])
    with pytest.raises(ConfigError, match="name files"):
        load_tasks([{"id": "../escape", "message": "a"}])
    with ScriptedModelServer() as server:
        spec = team(server, code_execution={"approval": "always"})
        with pytest.raises(ConfigError, match="nobody to approve"):  # refused, never silently downgraded
            run_batch(["x"], team=spec, out_dir=tmp_path, progress=None)
        assert server.requests == []
        spec = team(server)
        spec["agents"][0]["llm"]["api_key_env"] = "AGENTNB_TEST_UNSET_VARIABLE"
        with pytest.raises(ConfigError, match="AGENTNB_TEST_UNSET_VARIABLE"):
            run_batch(["x"], team=spec, out_dir=tmp_path, progress=None)


def test_group_chat_team(tmp_path):
    with ScriptedModelServer(lambda body: "noted TERMINATE" if len(body["messages"]) > 2 else "noted") as server:
        spec = team(server)
        spec["agents"].append({"name": "critic", "system_message": "You criticise.",
                               "llm": {"model": server.model, "base_url": server.base_url, "api_key_env": KEY_ENV}})
        spec["chat"] = {"type": "group", "max_round": 4, "speaker_selection_method": "round_robin"}
        result = run_batch(["discuss"], team=spec, out_dir=tmp_path, progress=None)
    assert result.rows[0]["status"] == "ok" and result.rows[0]["turns"] >= 2


def test_cli_batch_killed_halfway_resumes(tmp_path):
    """SIGKILL a running `agentnb batch` after a few tasks; the rerun runs only the rest."""
    with ScriptedModelServer(lambda body: f"answer to {task_of(body)} TERMINATE", latency=0.3) as server:
        (tmp_path / "team.json").write_text(json.dumps(team(server)))
        (tmp_path / "tasks.jsonl").write_text("".join(json.dumps({"id": f"k{i}", "message": f"q{i}"}) + "\n"
                                                      for i in range(8)))
        args = [sys.executable, "-m", "agentnb.cli", "batch", str(tmp_path / "tasks.jsonl"), "--team",
                str(tmp_path / "team.json"), "--out", str(tmp_path / "out"), "--progress", "lines"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                env={**os.environ, KEY_ENV: TEST_API_KEY})
        try:
            deadline = time.monotonic() + 60
            while len(read_summary(tmp_path / "out")) < 3:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()
        first = read_summary(tmp_path / "out")
        assert 3 <= len(first) < 8
        served = len(server.requests)
        assert cli_main(["batch", str(tmp_path / "tasks.jsonl"), "--team", str(tmp_path / "team.json"),
                         "--out", str(tmp_path / "out"), "--progress", "none", "--parallel", "2"]) == 0
        assert len(server.requests) - served == 8 - len(first)  # one model call per task that was not done
    final = read_summary(tmp_path / "out")
    assert sorted(final) == [f"k{i}" for i in range(8)] and all(r["status"] == "ok" for r in final.values())
    rows = [json.loads(line) for line in (tmp_path / "out" / "summary.jsonl").read_text().splitlines()]
    assert len(rows) == 8  # finished tasks were not run again


def test_progress_views(capsys):
    from agentnb.batch import LineProgress, WidgetProgress, make_progress

    assert isinstance(make_progress("auto", 2), LineProgress)  # pytest's stderr is no terminal, no kernel here
    assert make_progress(None, 2) is None
    widget = make_progress("widget", 2)
    assert isinstance(widget, WidgetProgress)
    widget.update({"id": "a", "status": "ok", "wall_time": 0.1})
    assert (widget.bar.value, widget.label.value, widget.bar.bar_style) == (1, "1/2", "")
    widget.update({"id": "b", "status": "timeout", "wall_time": 0.1})
    assert widget.bar.value == 2 and widget.label.value == "2/2 — b: timeout" and widget.bar.bar_style == "warning"
    with pytest.raises(ConfigError, match="progress must be"):
        make_progress("fireworks", 1)

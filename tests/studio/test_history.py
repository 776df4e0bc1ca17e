"""Run history in SQLite: recorded as the chat happens, listed, reopened, resumed, compared; failures never stop it."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from agentnb import ApprovalDecision, AssistantAgent, GroupChat, GroupChatManager, UserProxyAgent
from agentnb.agents.human import human_handlers
from agentnb.errors import register_secret
from agentnb.studio import (
    compare_runs,
    enable_history,
    gallery_spec,
    history,
    load_team,
    open_run,
    record_history,
    resume_run,
)
from agentnb.studio.history_ui import RunTable, transcript_html
from agentnb.studio.store import HistoryWarning
from agentnb.testing import ScriptedModelServer, code, forever, text

PRICE = [1.0, 2.0]  # USD per 1k tokens, so cost is visible


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    monkeypatch.setenv("AGENTNB_HISTORY", str(path))
    return path


def _llm(server):
    return {"config_list": server.config_list(price=PRICE), "cache_seed": None}


def _pair(server, **kwargs):
    assistant = AssistantAgent("assistant", llm_config=_llm(server), system_message="Be brief.")
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                          max_consecutive_auto_reply=kwargs.pop("max_auto", 0))
    return user, assistant


def test_a_chat_is_recorded_with_task_messages_usage_and_spec(db):
    with ScriptedModelServer([text("Paris.", usage={"prompt_tokens": 100, "completion_tokens": 20})]) as server:
        user, assistant = _pair(server)
        result = user.initiate_chat(assistant, message="Capital of France?", silent=True)
    [run] = history()
    assert (run.task, run.status, run.reason, run.n_messages) == ("Capital of France?", "finished",
                                                                  result.stop_reason, 2)
    assert (run.prompt_tokens, run.completion_tokens) == (100, 20)
    assert run.cost == pytest.approx(100 / 1000 * 1.0 + 20 / 1000 * 2.0)
    assert run.agents == ["user", "assistant"] and run.has_spec and run.source == "python"
    full = open_run(run.id)
    assert full.transcript() == [("user", "Capital of France?"), ("assistant", "Paris.")]
    assert full.events == []  # usage is kept as the run's totals
    assert '"assistant"' in full.spec  # the live agents were described, so the run can be resumed


def test_off_by_default_in_python_on_in_a_recording_scope_and_env_off_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTNB_HISTORY", raising=False)
    monkeypatch.chdir(tmp_path)
    with ScriptedModelServer([forever("ok")]) as server:
        user, assistant = _pair(server)
        user.initiate_chat(assistant, message="one", silent=True)
        assert not (tmp_path / ".agentnb").exists()
        with record_history():
            user.initiate_chat(assistant, message="two", silent=True)
        assert [r.task for r in history()] == ["two"]
        assert (tmp_path / ".agentnb" / "history.sqlite").exists()
        enable_history(path=tmp_path / "all.sqlite")
        try:
            user.initiate_chat(assistant, message="three", silent=True)
            monkeypatch.setenv("AGENTNB_HISTORY", "off")
            with record_history():
                user.initiate_chat(assistant, message="four", silent=True)
        finally:
            enable_history(False)
    assert [r.task for r in history(tmp_path / "all.sqlite")] == ["three"]


def test_code_outputs_images_by_reference_and_approvals(db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plot = ("import matplotlib.pyplot as plt\n"
            "plt.plot([1, 2, 3]); plt.title('line'); plt.show()\nprint('drawn')")
    with ScriptedModelServer([code(plot), "Done. TERMINATE"]) as server:
        team = load_team(gallery_spec("coder"), models={"default": _llm(server)})
        with human_handlers(approver=lambda request: ApprovalDecision(approved=True)):
            team.run("Plot a line.", silent=True)
    [run] = history()
    full = open_run(run.id)
    kinds = [e["kind"] for e in full.events]
    assert "ApprovalDecided" in kinds and "ExecutionFinished" in kinds
    approval = next(e for e in full.events if e["kind"] == "ApprovalDecided")
    assert approval["approved"] is True and approval["request_kind"] == "code" and "plt.plot" in approval["code"]
    [image] = full.image_paths()
    assert image.read_bytes().startswith(b"\x89PNG") and image.parent.parent.name == "outputs"
    assert "base64" not in str(next(e for e in full.events if e["kind"] == "ExecutionFinished")["outputs"])
    replayed = full.replay_events()
    kinds = [type(e).__name__ for e in replayed]
    assert kinds[0] == "ChatStarted" and kinds[-1] == "ChatFinished"
    assert kinds.index("ApprovalDecided") < kinds.index("ExecutionFinished")
    shown = next(e for e in replayed if type(e).__name__ == "ExecutionOutput" and "image/png" in e.data)
    assert shown.data["image/png"] == base64.b64encode(image.read_bytes()).decode()  # the file, read back
    panel = full.panel()
    assert len(panel.items) >= len(full.messages)
    html = transcript_html(full)
    assert '<img src="data:image/png;base64,' in html and "drawn" in html
    assert run.label == "Coder: assistant + user proxy" and "user_proxy" in full.spec


def test_secrets_never_reach_the_database(db):
    secret = "sk-history-secret-0123456789abcdef"
    register_secret(secret)
    with ScriptedModelServer([f"the key is {secret}"]) as server:
        user, assistant = _pair(server)
        user.initiate_chat(assistant, message=f"remember {secret}", silent=True)
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in db.parent.glob("*.sqlite-wal"))
    assert secret.encode() not in raw
    assert "***" in open_run(history()[0].id).transcript()[1][1]


def test_resume_a_pair_with_a_follow_up(db):
    with ScriptedModelServer(["The answer is 4."]) as server:
        user, assistant = _pair(server)
        user.initiate_chat(assistant, message="2+2?", silent=True)
        first = history()[0]
        server.add("And doubled, 8.")
        result = resume_run(first.id, "Double it.", models={"scripted-model": _llm(server)}, silent=True)
        sent = server.requests[-1]["messages"]
    assert [m["content"] for m in sent[1:]] == ["2+2?", "The answer is 4.", "Double it."]
    assert result.chat_history[-1]["content"] == "And doubled, 8."
    latest = history()[0]
    assert latest.parent_run == first.id and latest.source == "resume" and latest.task == "Double it."


def test_resume_a_group_run(db):
    with ScriptedModelServer(["a1", "b1"]) as server:
        user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
        a = AssistantAgent("a", llm_config=_llm(server), system_message="A.")
        b = AssistantAgent("b", llm_config=_llm(server), system_message="B.")
        manager = GroupChatManager(GroupChat([a, b], max_round=3, speaker_selection_method="round_robin"),
                                   llm_config=False)
        user.initiate_chat(manager, message="start", silent=True)
        first = history()[0]
        server.add("a2", "b2")
        resume_run(first.id, "go on", models={"scripted-model": _llm(server)}, silent=True)
        sent = server.requests[2]["messages"]  # the first model call after resuming: a's
    assert [m["content"] for m in sent[1:]] == ["start", "a1", "b1", "go on"]
    assert history()[0].parent_run == first.id


def test_compare_two_runs(db):
    with ScriptedModelServer(["short", "long answer"]) as server:
        user, assistant = _pair(server)
        user.initiate_chat(assistant, message="q", silent=True)
        assistant.update_system_message("Be thorough.")
        user.initiate_chat(assistant, message="q", silent=True)
    newer, older = history()
    comparison = compare_runs(older.id, newer.id)
    assert any("system_message" in c and "Be brief." in c and "Be thorough." in c for c in comparison.spec_changes)
    html = comparison._repr_html_()
    assert "short" in html and "long answer" in html


def test_run_table_sorts_on_header_clicks_and_opens_a_run(db):
    with ScriptedModelServer([text("x", usage={"prompt_tokens": 5, "completion_tokens": 1}),
                              text("y", usage={"prompt_tokens": 50, "completion_tokens": 1})]) as server:
        user, assistant = _pair(server)
        user.initiate_chat(assistant, message="cheap", silent=True)
        user.initiate_chat(assistant, message="dear", silent=True)
    runs = history()
    table = RunTable(runs, runs.path)
    assert [r.task for r in table.ordered()] == ["dear", "cheap"]  # newest first
    table.headers["task"].click()
    assert [r.task for r in table.ordered()] == ["cheap", "dear"] and "▲" in table.headers["task"].description
    table.headers["tokens"].click()
    assert [r.task for r in table.ordered()] == ["dear", "cheap"]
    table.headers["tokens"].click()
    assert [r.task for r in table.ordered()] == ["cheap", "dear"]
    assert table.table.value.index("cheap") < table.table.value.index("dear")
    table.run_id.value = runs[-1].id
    table.open_button.click()
    assert "cheap" in table.detail.value and "dear" not in table.detail.value
    table.other_id.value = runs[0].id
    table.compare_button.click()
    assert "cheap" in table.detail.value and "dear" in table.detail.value


def test_locked_database_warns_once_and_the_chat_goes_on(db):
    from agentnb.studio.store import connect

    connect(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with ScriptedModelServer(["a", "b", "c"]) as server:
            user, assistant = _pair(server, max_auto=2)
            with pytest.warns(HistoryWarning, match="history is off for this chat.*locked") as caught:
                result = user.initiate_chat(assistant, message="go", silent=True)
    finally:
        holder.rollback()
        holder.close()
    assert len([w for w in caught if issubclass(w.category, HistoryWarning)]) == 1
    assert [m["content"] for m in result.chat_history] == ["go", "a", "", "b", "", "c"][:len(result.chat_history)]
    assert result.chat_history[1]["content"] == "a"


def test_corrupt_database_warns_and_the_chat_goes_on(db):
    db.write_bytes(b"this is not a sqlite database" * 100)
    with ScriptedModelServer(["fine"]) as server:
        user, assistant = _pair(server)
        with pytest.warns(HistoryWarning, match="not a database"):
            result = user.initiate_chat(assistant, message="go", silent=True)
    assert result.chat_history[-1]["content"] == "fine"


def test_a_crash_mid_chat_keeps_what_was_written(db, tmp_path):
    # The model answers by what it is asked, as a real one does (a request sent again gets the same answer), and
    # logs each request: a run that differs says what the model saw, and stderr any history warning.
    script = textwrap.dedent("""
        import json, os
        from agentnb import AssistantAgent, UserProxyAgent
        from agentnb.testing import ScriptedModelServer, forever

        def model(body):
            asked = [m.get("content") for m in body["messages"] if m["role"] != "system"]
            with open("requests.log", "a") as log:
                log.write(json.dumps(asked) + "\\n")
            if asked[-1] == "continue":
                os._exit(3)  # the process dies while the model is 'thinking' about the second turn
            return "first answer"

        server = ScriptedModelServer([forever(model)]).start()
        a = AssistantAgent("assistant", llm_config=server.llm_config())
        u = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                           default_auto_reply="continue", max_consecutive_auto_reply=3)
        u.initiate_chat(a, message="start", silent=True)
    """)
    env = dict(os.environ, AGENTNB_HISTORY=str(db))
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, timeout=120)
    seen = f"model requests: {(tmp_path / 'requests.log').read_text()}stderr: {proc.stderr.decode()[-2000:]}"
    assert proc.returncode == 3, seen
    [run] = history()  # moves the dead run's journal into the database
    assert run.status == "interrupted"  # its process is gone without finishing
    expected = [("user", "start"), ("assistant", "first answer"), ("user", "continue")]
    assert open_run(run.id).transcript() == expected, seen
    assert run.prompt_tokens > 0 and run.n_messages == 3, seen  # the first model call's usage survived too
    assert list((db.parent / "history.journal").iterdir()) == []
    [again] = history()  # nothing is moved twice
    assert (again.n_messages, again.prompt_tokens) == (3, run.prompt_tokens)
    assert open_run(run.id).transcript() == expected


def test_a_running_chat_is_readable_from_its_journal_which_holds_no_key(db):
    secret = "sk-journal-secret-0123456789abcdef"
    register_secret(secret)
    seen = []

    def peek(body):  # the model is 'thinking': the chat is still running, its messages are in the journal
        [run] = history()
        journals = list((db.parent / "history.journal").iterdir())
        seen.append((run.status, open_run(run.id).transcript(), b"".join(p.read_bytes() for p in journals)))
        return "second answer"

    with ScriptedModelServer([f"first answer {secret}", peek]) as server:
        user, assistant = _pair(server, max_auto=1)
        user.initiate_chat(assistant, message="start", silent=True)
    [(status, transcript, raw)] = seen
    assert status == "running"
    assert transcript == [("user", "start"), ("assistant", "first answer ***"), ("user", "")]
    assert b"first answer ***" in raw and secret.encode() not in raw
    assert open_run(history()[0].id).transcript()[-1] == ("assistant", "second answer")


@pytest.mark.parametrize("batch", [1, 1000])
def test_batches_of_any_size_record_the_same_run(db, monkeypatch, batch):
    from agentnb.studio import journal

    monkeypatch.setattr(journal, "BATCH", batch)
    reply = text("again", usage={"prompt_tokens": 10, "completion_tokens": 2})
    with ScriptedModelServer([forever(reply)]) as server:
        user, assistant = _pair(server, max_auto=40)  # 82 messages: more than one default batch
        result = user.initiate_chat(assistant, message="go", silent=True)
    [run] = history()
    recorded = open_run(run.id)
    assert run.status == "finished" and run.n_messages == len(result.chat_history) == 82
    assert [m["seq"] for m in recorded.messages] == list(range(1, 83))
    assert (run.prompt_tokens, run.completion_tokens) == (410, 82)  # 41 model calls, each counted once
    assert run.cost == pytest.approx(0.41 * PRICE[0] + 0.082 * PRICE[1])
    assert list((db.parent / "history.journal").iterdir()) == []  # emptied once the run is in the database

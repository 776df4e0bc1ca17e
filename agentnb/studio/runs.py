"""Run history: list runs, reopen a transcript, resume a run with a follow-up, compare two runs.

    from agentnb.studio import history, open_run, resume_run, compare_runs
    runs = history()                 # a list of RunInfo (a sortable table in a notebook)
    run = open_run(runs[0].id)       # messages, code runs, approvals, usage; a ChatPanel in a notebook
    resume_run(run.id, "Now label the axes.")
    compare_runs(3, 4)

Recording is on for ``%%agents`` and the builder; for every chat of a process call
:func:`~agentnb.studio.enable_history`, or set ``AGENTNB_HISTORY=on`` / a path; ``AGENTNB_HISTORY=off``
turns it off everywhere. The database: ``AGENTNB_HISTORY`` (a path), else ``.agentnb/history.sqlite``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._switch import history_path, record_history, run_context
from .journal import alive


@dataclass
class RunInfo:
    """One recorded chat."""

    id: int
    label: str | None
    task: str | None
    status: str
    """``running``, ``finished``, ``stopped``, ``error``, or ``interrupted`` (its process is gone)."""
    reason: str | None
    started: float
    finished: float | None
    n_messages: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    model: str | None
    agents: list[str]
    parent_run: int | None
    source: str | None
    has_spec: bool

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def duration(self) -> float | None:
        return None if self.finished is None else self.finished - self.started

    @property
    def started_at(self) -> str:
        return _dt.datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Run:
    """A recorded run in full: its row, messages, events (code runs, approvals, tools, usage) and spec."""

    info: RunInfo
    messages: list[dict[str, Any]]
    """``{"sender", "recipient", "time", "message"}`` in order."""
    events: list[dict[str, Any]]
    """``{"kind", "time", "seq", **data}`` in order; images are ``{"$file": path}`` relative to ``root``."""
    spec: str | None
    root: Path = field(repr=False)

    @property
    def id(self) -> int:
        return self.info.id

    def image_paths(self) -> list[Path]:
        out = []
        for event in self.events:
            for output in event.get("outputs", []):
                for value in (output.get("data") or {}).values():
                    if isinstance(value, dict) and "$file" in value:
                        out.append(self.root / value["$file"])
        return out

    def transcript(self) -> list[tuple[str, str]]:
        """``(sender, text)`` per message."""
        from ..messages import content_str

        return [(m["sender"], content_str(m["message"].get("content"))) for m in self.messages]

    def replay_events(self) -> list[Any]:
        """The run as agentnb events again (messages, code runs with their outputs, approvals), for any view."""
        return replay(self)

    def panel(self) -> Any:
        """A ChatPanel showing the recorded run (read-only: its buttons answer nothing)."""
        from ..notebook.panel import ChatPanel

        panel = ChatPanel(f"run {self.id}", interactive=False)
        for event in self.replay_events():
            panel.handle_event(event)
        return panel

    def _ipython_display_(self) -> None:
        from .history_ui import show_run

        show_run(self)


class RunList(list):
    """``history()``'s result: a list of :class:`RunInfo`; a sortable table widget in a notebook."""

    path: Path | None = None

    def _ipython_display_(self) -> None:
        from IPython.display import display

        from .history_ui import RunTable

        display(RunTable(self, self.path))

    def _repr_html_(self) -> str:
        from .history_ui import runs_html

        return runs_html(list(self))


def _connect(path: str | os.PathLike[str] | None) -> tuple[sqlite3.Connection, Path]:
    db = Path(path) if path is not None else history_path()
    if not db.exists():
        raise ConfigError(f"no run history at {db} (chats are recorded from %%agents and the builder; "
                          "call agentnb.studio.enable_history() to record every chat)")
    from .journal import recover
    from .store import connect

    conn = connect(db)
    try:
        recover(conn, db)  # runs whose process died mid-chat: their journal goes into the database
    except sqlite3.Error:
        pass  # locked by a writer: what is in the database is still listed
    return conn, db


_COLUMNS = ("id, label, task, status, reason, started, finished, "
            "(SELECT COUNT(*) FROM messages WHERE run_id = runs.id), prompt_tokens, completion_tokens, "
            "cost, model, agents, parent_run, source, spec IS NOT NULL, pid")


def _info(row: tuple) -> RunInfo:
    (run_id, label, task, status, reason, started, finished, n_messages, prompt_tokens, completion_tokens, cost,
     model, agents, parent_run, source, has_spec, pid) = row
    info = RunInfo(id=run_id, label=label, task=task, status=status, reason=reason, started=started,
                   finished=finished, n_messages=n_messages, prompt_tokens=prompt_tokens,
                   completion_tokens=completion_tokens, cost=cost, model=model, agents=json.loads(agents or "[]"),
                   parent_run=parent_run, source=source, has_spec=bool(has_spec))
    if info.status == "running" and pid != os.getpid() and not alive(pid):
        info.status = "interrupted"
    return info


def history(path: str | os.PathLike[str] | None = None, *, limit: int = 500) -> RunList:
    """The recorded runs, newest first."""
    conn, db = _connect(path)
    try:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    finally:
        conn.close()
    runs = RunList(_info(r) for r in rows)
    runs.path = db
    return runs


def open_run(run_id: int, path: str | os.PathLike[str] | None = None) -> Run:
    """A run's transcript, events and spec."""
    conn, db = _connect(path)
    try:
        row = conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise ConfigError(f"no run {run_id} in {db}")
        spec = conn.execute("SELECT spec FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        messages = [{"seq": s, "time": t, "sender": a, "recipient": b, "message": json.loads(m)}
                    for s, t, a, b, m in conn.execute("SELECT seq, time, sender, recipient, message FROM messages "
                                                      "WHERE run_id = ? ORDER BY seq", (run_id,))]
        events = [{"seq": s, "time": t, "kind": k, **json.loads(d)}
                  for s, t, k, d in conn.execute("SELECT seq, time, kind, data FROM events WHERE run_id = ? "
                                                 "ORDER BY seq", (run_id,))]
    finally:
        conn.close()
    info = _info(row)
    if info.status == "running":  # a chat still going in another process: add what its journal holds
        _add_journal(db, run_id, messages, events)
    return Run(info=info, messages=messages, events=events, spec=spec, root=db.parent)


def _add_journal(db: Path, run_id: int, messages: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    from .journal import journal_path, read

    seen = {m["seq"] for m in messages} | {e["seq"] for e in events}
    for row in read(journal_path(db, run_id)):
        if row[0] == "m" and len(row) == 6 and row[1] not in seen:
            messages.append({"seq": row[1], "time": row[2], "sender": row[3], "recipient": row[4],
                             "message": json.loads(row[5])})
        elif row[0] == "e" and len(row) == 5 and row[1] not in seen:
            events.append({"seq": row[1], "time": row[2], "kind": row[3], **json.loads(row[4])})


def restore_team(run: Run, models: dict[str, dict[str, Any]] | None = None) -> Any:
    """The run's team, rebuilt from its spec; a pair gets both agents' histories back (a group's transcript is
    restored by :func:`a_resume_run` through ``GroupChatManager.resume``)."""
    if not run.spec:
        raise ConfigError(f"run {run.id} was recorded without a spec (its agents could not be described), so it "
                          "cannot be resumed; open_run() still shows its transcript")
    from .build import load_team

    team = load_team(run.spec, models=models)
    if team.groupchat is None:
        for m in run.messages:
            if {m["sender"], m["recipient"]} != {team.initiator.name, team.recipient.name}:
                continue  # a nested chat's message
            mine = m["sender"] == team.initiator.name
            _append(team.initiator, team.recipient, m["message"], "assistant" if mine else "user")
            _append(team.recipient, team.initiator, m["message"], "user" if mine else "assistant")
    return team


def group_transcript(run: Run, team: Any) -> list[dict[str, Any]]:
    """The group's messages (each speaker's message to the manager), named for ``GroupChatManager.resume``."""
    members = set(team.groupchat.agent_names)
    out = []
    for m in run.messages:
        if m["recipient"] != team.manager.name:
            continue
        message = dict(m["message"])
        message["name"] = m["sender"] if m["sender"] in members else team.manager.name
        out.append(message)
    return out


def _append(agent: Any, other: Any, message: dict[str, Any], role: str) -> None:
    stored = dict(message)
    if stored.get("role") not in ("tool", "function"):
        stored["role"] = role
    agent.chat_messages[other].append(stored)


async def a_resume_run(run_id: int, message: str, *, path: str | os.PathLike[str] | None = None,
                       models: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> Any:
    """Continue a finished or stopped run with a follow-up ``message``; recorded as a new run (its parent set)."""
    run = open_run(run_id, path)
    team = restore_team(run, models)
    if team.groupchat is not None:
        transcript = group_transcript(run, team)
        if transcript:
            team.manager.resume([*transcript, {"content": message, "name": team.manager.name, "role": "user"}],
                                silent=True)
    kwargs = dict(kwargs, clear_history=False)
    kwargs.setdefault("summary_method", team.spec.config.summary_method)
    with record_history(), run_context(parent_run=run.id, label=run.info.label, spec=run.spec, source="resume"):
        if path is not None:
            with _path_override(path):
                return await team.initiator.a_initiate_chat(team.recipient, message=message, **kwargs)
        return await team.initiator.a_initiate_chat(team.recipient, message=message, **kwargs)


def resume_run(run_id: int, message: str, **kwargs: Any) -> Any:
    from .._aio import run_sync

    return run_sync(a_resume_run(run_id, message, **kwargs))


class _path_override:
    """Record into ``path`` for the block (the resumed run lands next to the one it continues)."""

    def __init__(self, path: str | os.PathLike[str]):
        from ._switch import _process

        self.process = _process
        self.path = Path(path)

    def __enter__(self) -> None:
        self.saved = dict(self.process)
        self.process["path"] = self.path

    def __exit__(self, *exc: Any) -> None:
        self.process.update(self.saved)


@dataclass
class RunComparison:
    """Two runs side by side: their rows, transcripts and what differs in their specs."""

    left: Run
    right: Run
    spec_changes: list[str]
    """``path: left -> right`` for each spec field that differs."""

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        display(HTML(self._repr_html_()))

    def _repr_html_(self) -> str:
        from .history_ui import comparison_html

        return comparison_html(self)


def compare_runs(a: int, b: int, path: str | os.PathLike[str] | None = None) -> RunComparison:
    left, right = open_run(a, path), open_run(b, path)
    changes: list[str] = []
    _diff(json.loads(left.spec or "{}"), json.loads(right.spec or "{}"), "", changes)
    return RunComparison(left=left, right=right, spec_changes=changes)


def _diff(x: Any, y: Any, where: str, out: list[str]) -> None:
    if isinstance(x, dict) and isinstance(y, dict):
        for key in list(dict.fromkeys([*x, *y])):
            _diff(x.get(key), y.get(key), f"{where}.{key}" if where else str(key), out)
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _diff(u, v, f"{where}[{i}]", out)
    elif x != y:
        out.append(f"{where}: {json.dumps(x)[:60]} -> {json.dumps(y)[:60]}")


def replay(run: Run) -> list[Any]:
    from typing_extensions import assert_never  # typing has it from Python 3.11

    from ..coding.outputs import output_event
    from ..messages import (
        ApprovalDecided,
        ApprovalDecision,
        ApprovalRequest,
        ApprovalRequested,
        ChatFinished,
        ChatStarted,
        ExecutionFinished,
        MessageSent,
    )
    from .store import event_kind

    chat_id = f"replay-{run.id}"
    out: list[tuple[int, Any]] = [(0, ChatStarted(sender=run.info.agents[0] if run.info.agents else "", chat_id=chat_id,
                                                  recipient="", agents=run.info.agents, model=run.info.model))]
    for m in run.messages:
        out.append((m["seq"], MessageSent(sender=m["sender"], recipient=m["recipient"], message=m["message"],
                                          chat_id=chat_id, time=m["time"])))
    for e in run.events:
        kind = event_kind(e)
        match kind:
            case "ExecutionFinished":
                outputs = [_loaded(run, o) for o in e.get("outputs", [])]
                for o in outputs:
                    out.append((e["seq"], output_event(e["executor"], f"{chat_id}-{e['seq']}", o,
                                                       chat_id=chat_id)))
                out.append((e["seq"], ExecutionFinished(executor=e["executor"], block_id=f"{chat_id}-{e['seq']}",
                                                        language=e["language"], code=e["code"], chat_id=chat_id,
                                                        exit_code=e["exit_code"], summary=e["summary"],
                                                        outputs=outputs)))
            case "ApprovalDecided":
                request = ApprovalRequest(kind=e["request_kind"], agent=e["agent"], code=e.get("code") or "",
                                          tool_name=e.get("tool_name"), request_id=f"{chat_id}-approval-{e['seq']}")
                decision = ApprovalDecision(approved=bool(e["approved"]), code=e.get("edited_code"),
                                            reason=e.get("reason") or "")
                out.append((e["seq"], ApprovalRequested(request=request, chat_id=chat_id)))
                out.append((e["seq"], ApprovalDecided(request=request, decision=decision, chat_id=chat_id)))
            case "ToolCallFinished" | "ErrorOccurred" | "HumanInputReceived" | None:
                pass  # not replayed: the messages around them carry the conversation
            case _:
                assert_never(kind)
    out.sort(key=lambda item: item[0])
    events = [event for _, event in out]
    if run.info.status != "running":
        events.append(ChatFinished(reason=run.info.reason or run.info.status, chat_id=chat_id))
    return events


def _loaded(run: Run, output: dict[str, Any]) -> dict[str, Any]:
    """An output with its image files read back into base64 data."""
    import base64

    data = output.get("data")
    if not isinstance(data, dict):
        return output
    loaded = {}
    for mime, value in data.items():
        if isinstance(value, dict) and "$file" in value:
            try:
                value = base64.b64encode((run.root / value["$file"]).read_bytes()).decode()
            except OSError:
                continue
        loaded[mime] = value
    return dict(output, data=loaded)

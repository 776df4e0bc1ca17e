"""Run one team over many tasks: concurrently, with timeouts and retries, a transcript per task, resumable.

    from agentnb.batch import run_batch
    result = run_batch("tasks.jsonl", team="team.json", parallel=4, out_dir="runs/today")
    result.rows[0]["status"], result.tasks_per_second

or ``agentnb batch tasks.jsonl --team team.json --parallel 4 [--executor gateway]``.

**Tasks** (JSON lines): ``{"id": "t1", "message": "Plot sin(x)"}``; ``id`` defaults to ``task-<line>``.

**Team** (JSON; API keys never go in it, only the names of the variables holding them)::

    {"agents": [
       {"name": "assistant", "system_message": "You write Python.",
        "llm": {"model": "gpt-4o-mini", "base_url": "https://host/v1", "api_key_env": "OPENAI_API_KEY"}},
       {"name": "user_proxy", "kind": "user_proxy", "max_consecutive_auto_reply": 6,
        "terminate_suffix": "TERMINATE", "code_execution": {"executor": "jupyter", "timeout": 60}}],
     "chat": {"type": "pair", "initiator": "user_proxy", "recipient": "assistant", "max_turns": 10}}

``kind``: ``assistant`` (default) or ``user_proxy``; ``llm``: extra keys (``temperature``, ...)
are passed on, ``false`` means no model; ``terminate_suffix``: the agent ends the chat when a
message it receives ends with this text (AutoGen's default: the content is exactly ``TERMINATE``).
``code_execution``: AutoGen's ``code_execution_config`` (its ``work_dir`` is always
``OUT/work/<task id>``). ``chat.type`` ``group`` puts every agent in a
GroupChat (``max_round``, ``speaker_selection_method``; ``manager_llm`` for ``auto``).
Nobody asks a person anything: every agent runs with ``human_input_mode="NEVER"`` and no approval.

**Output** in ``out_dir``: ``transcripts/<id>.ipynb``, ``summary.jsonl`` (a row per finished task:
status, turns, tokens, cost, wall time; appended as tasks finish) and ``summary.ipynb``. A rerun
skips tasks whose latest row says ``ok``, so a killed batch resumes where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._aio import run_sync
from .errors import ConfigError, redact

_SECRET_FIELDS = {"api_key", "auth_token", "token", "password", "secret"}
_TRANSCRIPTS = "transcripts"


@dataclass
class Task:
    """One conversation to run: ``message`` is the initiator's first message."""

    id: str
    message: str


@dataclass
class BatchResult:
    """What :func:`run_batch` returns."""

    rows: list[dict[str, Any]]
    """The latest summary row of every task, in task order."""
    ran: list[str] = field(default_factory=list)
    """Ids run by this call."""
    skipped: list[str] = field(default_factory=list)
    """Ids skipped because an earlier run finished them (status ``ok``)."""
    wall_time: float = 0.0
    out_dir: str = ""

    @property
    def tasks_per_second(self) -> float:
        return len(self.ran) / self.wall_time if self.wall_time > 0 else 0.0


# ----------------------------------------------------------------------------- inputs

def load_tasks(tasks: str | os.PathLike | Iterable[Any]) -> list[Task]:
    """Tasks from a JSONL path or from an iterable of dicts / strings / :class:`Task`."""
    if isinstance(tasks, str | os.PathLike):
        lines = Path(tasks).read_text().splitlines()
        items: list[Any] = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as exc:
                    raise ConfigError(f"{os.fspath(tasks)} line {number}: not JSON ({exc})") from None
    else:
        items = list(tasks)
    out: list[Task] = []
    for index, item in enumerate(items, 1):
        if isinstance(item, Task):
            out.append(item)
            continue
        if isinstance(item, str):
            item = {"message": item}
        message = item.get("message", item.get("task")) if isinstance(item, dict) else None
        if not isinstance(message, str) or not message.strip():
            raise ConfigError(f"task {index}: needs a non-empty 'message'")
        out.append(Task(id=str(item.get("id") or f"task-{index:04d}"), message=message))
    ids = [t.id for t in out]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"duplicate task ids: {', '.join(duplicates[:5])}")
    bad = [i for i in ids if not i.replace("-", "").replace("_", "").replace(".", "").isalnum()]
    if bad:
        raise ConfigError(f"task ids must be letters, digits, '-', '_' or '.' (they name files): {bad[0]!r}")
    return out


def load_team(team: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
    """The team spec from a JSON path or a dict, checked (no keys in it, names that resolve)."""
    spec = json.loads(Path(team).read_text()) if isinstance(team, str | os.PathLike) else team
    if not isinstance(spec, dict) or not isinstance(spec.get("agents"), list) or not spec["agents"]:
        raise ConfigError("the team spec needs a non-empty 'agents' list")
    _refuse_secrets(spec, "team")
    names = [a.get("name") for a in spec["agents"] if isinstance(a, dict)]
    if len(names) != len(spec["agents"]) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError("every agent in the team spec needs a 'name'")
    chat = spec.setdefault("chat", {"type": "pair"})
    if chat.get("type", "pair") not in ("pair", "group"):
        raise ConfigError(f"chat.type must be 'pair' or 'group', not {chat.get('type')!r}")
    for key in ("initiator", "recipient"):
        if chat.get(key) is not None and chat[key] not in names:
            raise ConfigError(f"chat.{key} {chat[key]!r} is not one of the agents: {', '.join(names)}")
    return spec


def _refuse_secrets(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in _SECRET_FIELDS:
                raise ConfigError(f"{where}.{key}: keys never go in the team file; name the environment "
                                  f"variable instead ('api_key_env')")
            _refuse_secrets(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_secrets(item, f"{where}[{index}]")


def _llm_config(llm: Any, agent: str) -> dict[str, Any] | bool | None:
    if llm is None or llm is False:
        return llm
    if not isinstance(llm, dict) or not llm.get("model"):
        raise ConfigError(f"agent {agent!r}: 'llm' must be false or a dict with at least 'model'")
    entry = {k: v for k, v in llm.items() if k in ("model", "base_url", "api_type", "api_version")}
    env = llm.get("api_key_env")
    if env:
        if env not in os.environ:
            raise ConfigError(f"agent {agent!r}: the environment variable {env} (llm.api_key_env) is not set")
        entry["api_key"] = os.environ[env]
    extra = {k: v for k, v in llm.items() if k not in entry and k != "api_key_env"}
    return {"config_list": [entry], "cache_seed": None, **extra}


def build_team(spec: dict[str, Any], *, work_dir: str, executor: str | None = None,
               executor_options: dict[str, Any] | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Fresh agents for one task: ``(initiator, recipient, chat kwargs)``."""
    import agentnb

    agents = []
    for a in spec["agents"]:
        kind = a.get("kind", "assistant")
        if kind not in ("assistant", "user_proxy"):
            raise ConfigError(f"agent {a['name']!r}: kind must be 'assistant' or 'user_proxy', not {kind!r}")
        code = a.get("code_execution", kind == "user_proxy")
        if code:
            code = {**(code if isinstance(code, dict) else {}), **(executor_options or {})}
            if executor:
                code["executor"] = executor
            code.update({"work_dir": work_dir, "approval": "never", "use_docker": False})
        llm = _llm_config(a.get("llm", False if kind == "user_proxy" else None), a["name"])
        cls = agentnb.UserProxyAgent if kind == "user_proxy" else agentnb.AssistantAgent
        kwargs: dict[str, Any] = {"llm_config": llm, "code_execution_config": code or False,
                                  "human_input_mode": "NEVER"}
        for key in ("system_message", "description", "max_consecutive_auto_reply"):
            if a.get(key) is not None:
                kwargs[key] = a[key]
        if a.get("terminate_suffix"):
            kwargs["is_termination_msg"] = _ends_with(str(a["terminate_suffix"]))
        agents.append(cls(a["name"], **kwargs))
    by_name = {a.name: a for a in agents}
    chat = spec.get("chat", {})
    proxies = [a for a, s in zip(agents, spec["agents"], strict=True) if s.get("kind") == "user_proxy"]
    initiator = by_name[chat["initiator"]] if chat.get("initiator") else (proxies or agents)[0]
    if chat.get("type", "pair") == "group":
        group = agentnb.GroupChat(agents=agents, messages=[], max_round=int(chat.get("max_round", 10)),
                                  speaker_selection_method=chat.get("speaker_selection_method", "round_robin"))
        manager_llm = _llm_config(chat.get("manager_llm", False), "chat_manager")
        return initiator, agentnb.GroupChatManager(group, llm_config=manager_llm), {}
    others = [a for a in agents if a is not initiator]
    if not others:
        raise ConfigError("a pair chat needs two agents")
    recipient = by_name[chat["recipient"]] if chat.get("recipient") else others[0]
    return initiator, recipient, ({"max_turns": int(chat["max_turns"])} if chat.get("max_turns") else {})


def _ends_with(suffix: str) -> Any:
    def is_termination_msg(message: dict[str, Any]) -> bool:
        content = message.get("content")
        return isinstance(content, str) and content.rstrip().endswith(suffix)

    return is_termination_msg


# ----------------------------------------------------------------------------- summary

def read_summary(out_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The latest row per task id from ``summary.jsonl`` (a torn last line from a kill is ignored)."""
    path = Path(out_dir) / "summary.jsonl"
    rows: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "id" in row:
                rows[row["id"]] = row
    return rows


def _append_row(out_dir: Path, row: dict[str, Any]) -> None:
    with open(out_dir / "summary.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _usage(cost: dict[str, Any]) -> dict[str, Any]:
    usage = cost.get("usage_including_cached_inference", {}) if isinstance(cost, dict) else {}
    out = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": usage.get("total_cost", 0.0)}
    for value in usage.values():
        if isinstance(value, dict):
            for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
                out[k] += int(value.get(k, 0))
    return out


def write_summary_notebook(rows: list[dict[str, Any]], path: str | os.PathLike, *, title: str = "Batch run") -> Path:
    """A notebook with the summary table (Markdown, so it renders everywhere) and a pandas cell."""
    import nbformat
    from nbformat import v4

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    ok = sum(1 for r in rows if r["status"] == "ok")
    lines = [f"# {cell(title)}", "", f"{ok} of {len(rows)} tasks ok; "
             f"{sum(r.get('total_tokens', 0) for r in rows)} tokens; "
             f"cost {sum(r.get('cost', 0.0) for r in rows):.4f}", "",
             "| task | status | attempts | turns | tokens | cost | wall time (s) | transcript |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        link = f"[{cell(r['id'])}]({r['transcript']})" if r.get("transcript") else ""
        lines.append(f"| {cell(r['id'])} | {cell(r['status'])} | {r.get('attempts', 0)} | {r.get('turns', 0)} | "
                     f"{r.get('total_tokens', 0)} | {r.get('cost', 0.0):.4f} | {r.get('wall_time', 0.0):.2f} | "
                     f"{link} |")
    errors = [f"- **{cell(r['id'])}**: {cell(r['error'])}" for r in rows if r.get("error")]
    cells = [v4.new_markdown_cell("\n".join(lines))]
    if errors:
        cells.append(v4.new_markdown_cell("## Errors\n\n" + "\n".join(errors)))
    cells.append(v4.new_code_cell("import pandas as pd\npd.read_json('summary.jsonl', lines=True)"
                                  ".drop_duplicates('id', keep='last')"))
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = Path(path)
    nbformat.write(nb, str(path))
    return path


# ----------------------------------------------------------------------------- progress

class LineProgress:
    """One line per finished task on stderr (no terminal tricks: fine in logs and CI)."""

    def __init__(self, total: int, stream: Any = None):
        self.total, self.done, self.stream = total, 0, stream or sys.stderr

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        print(f"[{self.done}/{self.total}] {row['id']}: {row['status']} ({row['wall_time']:.1f} s)",
              file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to release."""


class TqdmProgress(LineProgress):
    """A tqdm bar (used in a terminal when tqdm is installed)."""

    def __init__(self, total: int):
        from tqdm import tqdm

        super().__init__(total)
        self.bar = tqdm(total=total, unit="task", dynamic_ncols=True)

    def update(self, row: dict[str, Any]) -> None:
        self.bar.set_postfix_str(f"{row['id']}: {row['status']}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class WidgetProgress(LineProgress):
    """An ipywidgets ``IntProgress`` with a label (used inside a notebook kernel)."""

    def __init__(self, total: int):
        import ipywidgets
        from IPython.display import display

        super().__init__(total)
        self.failed = 0
        self.bar = ipywidgets.IntProgress(value=0, min=0, max=max(total, 1), description="batch")
        self.label = ipywidgets.Label(f"0/{total}")
        display(ipywidgets.HBox([self.bar, self.label]))

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.failed += row["status"] != "ok"
        self.bar.value = self.done
        failed = "" if row["status"] == "ok" else f" — {row['id']}: {row['status']}"
        self.label.value = f"{self.done}/{self.total}{failed}"
        if self.failed:
            self.bar.bar_style = "warning"
        elif self.done == self.total:
            self.bar.bar_style = "success"


def make_progress(mode: str | bool | None, total: int) -> LineProgress | None:
    """``auto``: a widget in a notebook kernel, tqdm in a terminal (if installed), else lines."""
    if mode in (None, False, "none"):
        return None
    if mode == "auto":
        shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
        if shell is not None and getattr(shell, "kernel", None) is not None:
            mode = "widget"
        elif sys.stderr.isatty():
            try:
                import tqdm  # noqa: F401

                mode = "tqdm"
            except ImportError:
                mode = "lines"
        else:
            mode = "lines"
    classes = {"widget": WidgetProgress, "tqdm": TqdmProgress, "lines": LineProgress}
    if mode not in classes:
        raise ConfigError(f"progress must be 'auto', 'widget', 'tqdm', 'lines' or None, not {mode!r}")
    return classes[mode](total)


# ----------------------------------------------------------------------------- running

async def _run_task(task: Task, spec: dict[str, Any], out: Path, *, timeout: float | None, retries: int,
                    executor: str | None, executor_options: dict[str, Any] | None) -> dict[str, Any]:
    started = time.perf_counter()
    row: dict[str, Any] = {"id": task.id, "status": "error", "attempts": 0, "turns": 0, "prompt_tokens": 0,
                           "completion_tokens": 0, "total_tokens": 0, "cost": 0.0, "wall_time": 0.0,
                           "stop_reason": "", "error": None, "transcript": None}
    for attempt in range(1, retries + 2):
        row["attempts"] = attempt
        work_dir = str(out / "work" / task.id)
        try:
            initiator, recipient, kwargs = build_team(spec, work_dir=work_dir, executor=executor,
                                                      executor_options=executor_options)
            chat = initiator.a_initiate_chat(recipient, message=task.message, silent=True, **kwargs)
            result = await asyncio.wait_for(chat, timeout)
        except ConfigError:
            raise
        except asyncio.TimeoutError:
            row.update(status="timeout", error=f"the chat exceeded the task timeout of {timeout:g} s")
        except Exception as exc:
            row.update(status="error", error=redact(f"{type(exc).__name__}: {exc}")[:1000])
        else:
            transcript = out / _TRANSCRIPTS / f"{task.id}.ipynb"
            partial = transcript.with_name(f".{task.id}.{os.getpid()}.partial.ipynb")
            partial.unlink(missing_ok=True)
            result.to_notebook(partial, title=f"{task.id}: {task.message.splitlines()[0][:80]}")
            os.replace(partial, transcript)
            row.update(status="ok", error=None, turns=max(len(result.chat_history) - 1, 0),
                       stop_reason=result.stop_reason, transcript=f"{_TRANSCRIPTS}/{task.id}.ipynb",
                       **_usage(result.cost))
            break
        if attempt <= retries:
            await asyncio.sleep(min(0.5 * attempt, 5.0))
    row["wall_time"] = round(time.perf_counter() - started, 3)
    return row


async def a_run_batch(tasks: str | os.PathLike | Iterable[Any], *, team: str | os.PathLike | dict[str, Any],
                      parallel: int = 1, executor: str | None = None,
                      executor_options: dict[str, Any] | None = None, out_dir: str | os.PathLike = "batch-out",
                      timeout: float | None = 600, retries: int = 1,
                      progress: str | bool | LineProgress | None = "auto") -> BatchResult:
    """Run ``team`` on every task, ``parallel`` at a time (see the module docstring)."""
    if parallel < 1:
        raise ConfigError("parallel must be at least 1")
    if retries < 0:
        raise ConfigError("retries must be >= 0")
    task_list = load_tasks(tasks)
    spec = load_team(team)
    out = Path(out_dir).resolve()
    (out / _TRANSCRIPTS).mkdir(parents=True, exist_ok=True)
    done = {i for i, row in read_summary(out).items() if row.get("status") == "ok"}
    pending = [t for t in task_list if t.id not in done]
    bar = progress if isinstance(progress, LineProgress) else make_progress(progress, len(pending))
    gate = asyncio.Semaphore(parallel)
    started = time.perf_counter()

    async def worker(task: Task) -> None:
        async with gate:
            row = await _run_task(task, spec, out, timeout=timeout, retries=retries, executor=executor,
                                  executor_options=executor_options)
        _append_row(out, row)
        if bar is not None:
            bar.update(row)

    jobs = [asyncio.ensure_future(worker(t)) for t in pending]
    try:
        await asyncio.gather(*jobs)
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - started
    latest = read_summary(out)
    rows = [latest[t.id] for t in task_list if t.id in latest]
    write_summary_notebook(rows, out / "summary.ipynb", title=f"Batch run: {len(task_list)} tasks")
    return BatchResult(rows=rows, ran=[t.id for t in pending], skipped=[t.id for t in task_list if t.id in done],
                       wall_time=wall, out_dir=str(out))


def run_batch(tasks: str | os.PathLike | Iterable[Any], **kwargs: Any) -> BatchResult:
    """Sync twin of :func:`a_run_batch`; the progress view is made on the caller's thread."""
    progress = kwargs.get("progress", "auto")
    if not isinstance(progress, LineProgress) and progress not in (None, False, "none"):
        out = Path(kwargs.get("out_dir", "batch-out")).resolve()
        done = {i for i, row in read_summary(out).items() if row.get("status") == "ok"}
        kwargs["progress"] = make_progress(progress, sum(1 for t in load_tasks(tasks) if t.id not in done))
    return run_sync(a_run_batch(tasks, **kwargs))


# ----------------------------------------------------------------------------- command line

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``agentnb batch``."""
    parser.add_argument("tasks", help="JSON lines, one task per line: {\"id\": ..., \"message\": ...}")
    parser.add_argument("--team", required=True, help="team spec JSON (see `pydoc agentnb.batch`)")
    parser.add_argument("--parallel", type=int, default=1, help="conversations at a time (default 1)")
    parser.add_argument("--out", default="batch-out", help="output folder (default batch-out)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per task attempt (default 600)")
    parser.add_argument("--retries", type=int, default=1, help="extra attempts after a failure (default 1)")
    parser.add_argument("--executor", choices=["jupyter", "commandline-local", "gateway"], default=None,
                        help="where code runs, for every agent that runs code (default: as in the team spec)")
    parser.add_argument("--gateway-url", default=None, help="gateway URL (default $AGENTNB_GATEWAY_URL)")
    parser.add_argument("--gateway-token-env", default=None,
                        help="name of the variable holding the gateway token (default AGENTNB_GATEWAY_TOKEN)")
    parser.add_argument("--progress", choices=["auto", "tqdm", "lines", "none"], default="auto")


def main(args: argparse.Namespace) -> int:
    """``agentnb batch``: exit 0 when every task is ok, 1 when some failed, 2 on a usage error."""
    options = {k: v for k, v in (("gateway_url", args.gateway_url), ("auth_token_env", args.gateway_token_env))
               if v}
    try:
        result = run_batch(args.tasks, team=args.team, parallel=args.parallel, executor=args.executor,
                           executor_options=options or None, out_dir=args.out, timeout=args.timeout,
                           retries=args.retries, progress=args.progress)
    except ConfigError as exc:
        print(f"agentnb batch: {exc}", file=sys.stderr)
        return 2
    ok = sum(1 for r in result.rows if r["status"] == "ok")
    print(f"{ok}/{len(result.rows)} tasks ok; ran {len(result.ran)}, skipped {len(result.skipped)} already done; "
          f"{result.wall_time:.1f} s ({result.tasks_per_second:.2f} tasks/s)\n"
          f"summary: {Path(result.out_dir) / 'summary.jsonl'} and summary.ipynb")
    return 0 if ok == len(result.rows) else 1


__all__ = ["BatchResult", "Task", "a_run_batch", "build_team", "load_tasks", "load_team", "read_summary",
           "run_batch", "write_summary_notebook"]

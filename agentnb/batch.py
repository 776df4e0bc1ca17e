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
from .batch_team import Team, build_team, load_team, uses_local_kernels
from .errors import ConfigError, redact

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
                    executor: str | None, executor_options: dict[str, Any] | None, pool: Any) -> dict[str, Any]:
    started = time.perf_counter()
    row: dict[str, Any] = {"id": task.id, "status": "error", "attempts": 0, "turns": 0, "prompt_tokens": 0,
                           "completion_tokens": 0, "total_tokens": 0, "cost": 0.0, "wall_time": 0.0,
                           "stop_reason": "", "error": None, "transcript": None}
    for attempt in range(1, retries + 2):
        row["attempts"] = attempt
        work_dir = str(out / "work" / task.id)
        team: Team | None = None
        try:
            team = build_team(spec, work_dir=work_dir, executor=executor, executor_options=executor_options,
                              kernel_pool=pool)
            chat = team.initiator.a_initiate_chat(team.recipient, message=task.message, silent=True,
                                                  **team.chat_kwargs)
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
        finally:
            if team is not None:
                await asyncio.shield(asyncio.gather(*(e.a_close() for e in team.executors), return_exceptions=True))
        if attempt <= retries:
            await asyncio.sleep(min(0.5 * attempt, 5.0))
    row["wall_time"] = round(time.perf_counter() - started, 3)
    return row


async def a_run_batch(tasks: str | os.PathLike | Iterable[Any], *, team: str | os.PathLike | dict[str, Any],
                      parallel: int = 1, executor: str | None = None,
                      executor_options: dict[str, Any] | None = None, out_dir: str | os.PathLike = "batch-out",
                      timeout: float | None = 600, retries: int = 1,
                      progress: str | bool | LineProgress | None = "auto",
                      kernel_preload: tuple[str, ...] | None = None) -> BatchResult:
    """Run ``team`` on every task, ``parallel`` at a time (see the module docstring).

    Local kernels come from a pool of ``parallel`` warm kernels owned by the batch;
    ``kernel_preload`` names the modules imported into each ahead of its task (default: the
    pool's, matplotlib; ``()`` for none, the fastest start when tasks do not plot).
    """
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
    pool = None
    if pending and uses_local_kernels(spec, executor):
        from .coding.pool import KernelPool

        extra: dict[str, Any] = {} if kernel_preload is None else {"preload": tuple(kernel_preload)}
        pool = KernelPool(min(parallel, len(pending)), **extra)
        pool.fill()

    unstarted = len(pending)

    async def worker(task: Task) -> None:
        nonlocal unstarted
        async with gate:
            unstarted -= 1
            if pool is not None:  # keep warm only the kernels that tasks still to come will take
                pool.size = min(parallel, unstarted)
            row = await _run_task(task, spec, out, timeout=timeout, retries=retries, executor=executor,
                                  executor_options=executor_options, pool=pool)
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
        if pool is not None:
            await asyncio.shield(pool.close())
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
    parser.add_argument("--kernel-preload", default=None,
                        help="modules imported into each local kernel ahead of its task, comma-separated "
                             "(default matplotlib; '' for none)")


def main(args: argparse.Namespace) -> int:
    """``agentnb batch``: exit 0 when every task is ok, 1 when some failed, 2 on a usage error."""
    options = {k: v for k, v in (("gateway_url", args.gateway_url), ("auth_token_env", args.gateway_token_env))
               if v}
    try:
        result = run_batch(args.tasks, team=args.team, parallel=args.parallel, executor=args.executor,
                           executor_options=options or None, out_dir=args.out, timeout=args.timeout,
                           retries=args.retries, progress=args.progress,
                           kernel_preload=None if args.kernel_preload is None else
                           tuple(m for m in args.kernel_preload.split(",") if m.strip()))
    except ConfigError as exc:
        print(f"agentnb batch: {exc}", file=sys.stderr)
        return 2
    ok = sum(1 for r in result.rows if r["status"] == "ok")
    print(f"{ok}/{len(result.rows)} tasks ok; ran {len(result.ran)}, skipped {len(result.skipped)} already done; "
          f"{result.wall_time:.1f} s ({result.tasks_per_second:.2f} tasks/s)\n"
          f"summary: {Path(result.out_dir) / 'summary.jsonl'} and summary.ipynb")
    return 0 if ok == len(result.rows) else 1


__all__ = ["BatchResult", "Task", "Team", "a_run_batch", "build_team", "load_tasks", "load_team", "read_summary",
           "run_batch", "write_summary_notebook"]

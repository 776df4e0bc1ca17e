"""Notebook views of the run history: a sortable run table (ipywidgets), a transcript, a side-by-side comparison.

Transcripts and comparisons are plain HTML (images inlined from their files), so they survive a saved notebook.
"""

from __future__ import annotations

import base64
import mimetypes
from typing import Any

import ipywidgets as widgets
from typing_extensions import assert_never  # typing has it from Python 3.11

from ..notebook.cards import message_html
from ..notebook.html import CSS, escape, highlight_code
from .store import event_kind

COLUMNS = [("id", "#"), ("started", "started"), ("label", "team"), ("task", "task"), ("status", "status"),
           ("n_messages", "msgs"), ("tokens", "tokens"), ("cost", "cost $")]


def _cell(info: Any, key: str) -> str:
    if key == "started":
        return info.started_at
    if key == "cost":
        return f"{info.cost:.4f}"
    value = getattr(info, key)
    text = "" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def runs_html(runs: list[Any]) -> str:
    head = "".join(f"<th>{escape(title)}</th>" for _, title in COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{escape(_cell(r, k))}</td>" for k, _ in COLUMNS) + "</tr>" for r in runs)
    return f'<table class="agentnb-runs"><tr>{head}</tr>{rows}</table>'


class RunTable(widgets.VBox):
    """The runs as a table: click a column header to sort (again to reverse); open / resume / compare below."""

    def __init__(self, runs: list[Any], path: Any = None):
        self.runs = list(runs)
        self.path = path
        self.sort_key, self.descending = "id", True
        self.headers = {key: widgets.Button(description=title, layout=widgets.Layout(width="auto"))
                        for key, title in COLUMNS}
        for key, button in self.headers.items():
            button.on_click(lambda _b, key=key: self.sort(key))
        self.table = widgets.HTML()
        self.run_id = widgets.IntText(description="run", layout=widgets.Layout(width="160px"))
        self.other_id = widgets.IntText(description="with", layout=widgets.Layout(width="160px"))
        self.follow_up = widgets.Text(placeholder="follow-up message for Resume")
        self.open_button = widgets.Button(description="Open")
        self.resume_button = widgets.Button(description="Resume")
        self.compare_button = widgets.Button(description="Compare")
        self.detail = widgets.HTML()
        """The opened run, or the comparison."""
        self.output = widgets.Output()
        """Where Resume shows its ChatPanel."""
        self.open_button.on_click(lambda _b: self._show(self._open_html))
        self.compare_button.on_click(lambda _b: self._show(self._compare_html))
        self.resume_button.on_click(lambda _b: self._resume())
        if self.runs:
            self.run_id.value = self.runs[0].id
        super().__init__([widgets.HTML(f"<style>{CSS}</style>"), widgets.HBox(list(self.headers.values())),
                          self.table, widgets.HBox([self.run_id, self.open_button, self.other_id,
                                                    self.compare_button]),
                          widgets.HBox([self.follow_up, self.resume_button]), self.detail, self.output])
        self.render()

    def sort(self, key: str) -> None:
        self.descending = not self.descending if key == self.sort_key else key in ("id", "started", "tokens",
                                                                                   "cost", "n_messages")
        self.sort_key = key
        self.render()

    def ordered(self) -> list[Any]:
        def value(info: Any) -> Any:
            v = getattr(info, self.sort_key)
            return (v is None, v if not isinstance(v, str) else v.lower())

        return sorted(self.runs, key=value, reverse=self.descending)

    def render(self) -> None:
        for key, button in self.headers.items():
            title = dict(COLUMNS)[key]
            button.description = title + ((" ▼" if self.descending else " ▲") if key == self.sort_key else "")
        self.table.value = runs_html(self.ordered())

    def _show(self, make: Any) -> None:
        try:
            self.detail.value = make()
        except Exception as exc:  # a missing run or database: say so in the widget
            self.detail.value = f"<b>{escape(type(exc).__name__)}</b>: {escape(str(exc))}"

    def _open_html(self) -> str:
        from .runs import open_run

        return transcript_html(open_run(self.run_id.value, self.path))

    def _compare_html(self) -> str:
        from .runs import compare_runs

        return comparison_html(compare_runs(self.run_id.value, self.other_id.value, self.path))

    def _resume(self) -> None:
        """Resume in a ChatPanel below the table (the chat runs as a task on the kernel's loop)."""
        import asyncio

        from IPython.display import display

        from ..notebook.panel import ChatPanel
        from ..views import shown_in
        from .runs import a_resume_run

        panel = ChatPanel()
        self.detail.value = ""
        self.output.clear_output()
        with self.output:
            display(panel)

        async def go() -> Any:
            with shown_in(panel):  # this panel is the resumed chat's view (not a second, default one)
                return await a_resume_run(self.run_id.value, self.follow_up.value, path=self.path)

        self.resume_task = asyncio.ensure_future(go())


def _image(root: Any, ref: Any, mime: str) -> str:
    try:
        data = (root / ref["$file"]).read_bytes()
    except OSError:
        return f"<i>(image {escape(str(ref['$file']))} is missing)</i>"
    mime = mimetypes.guess_type(ref["$file"])[0] or mime
    return f'<img src="data:{mime};base64,{base64.b64encode(data).decode()}" style="max-width:100%"/>'


def _outputs_html(run: Any, event: dict[str, Any]) -> str:
    parts = []
    for output in event.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(f"<pre>{escape(''.join(output.get('text', '')))}</pre>")
            continue
        data = output.get("data") or {}
        for mime, value in data.items():
            if isinstance(value, dict) and "$file" in value:
                parts.append(_image(run.root, value, mime))
                break
        else:
            if "text/plain" in data:
                parts.append(f"<pre>{escape(str(data['text/plain']))}</pre>")
        if output.get("output_type") == "error":
            parts.append(f"<pre>{escape(str(output.get('ename')))}: {escape(str(output.get('evalue')))}</pre>")
    return "".join(parts)


def transcript_html(run: Any) -> str:
    """Messages, executed code with outputs (images from their files) and approvals, in order."""
    items = [(m["seq"], message_html(m["sender"], m["recipient"], m["message"])) for m in run.messages]
    for event in run.events:
        kind = event_kind(event)
        match kind:
            case "ExecutionFinished":
                items.append((event["seq"], (
                    f'<div class="agentnb-card"><div class="agentnb-note">{escape(event["executor"])} ran '
                    f'(exit {event["exit_code"]})</div>{highlight_code(event["code"], event["language"])}'
                    f"{_outputs_html(run, event)}</div>")))
            case "ApprovalDecided":
                verdict = "approved" + (" (edited)" if event.get("edited_code") else "") if event["approved"] \
                    else "rejected"
                items.append((event["seq"], f'<div class="agentnb-note">{escape(event["agent"])}: '
                                            f'{escape(event.get("tool_name") or "code")} {verdict}</div>'))
            case "ToolCallFinished" | "ErrorOccurred" | "HumanInputReceived" | None:
                pass  # not shown: the messages around them carry the conversation
            case _:
                assert_never(kind)
    info = run.info
    head = (f"<div><b>run {info.id}</b> {escape(info.label or '')} · {escape(info.status)} · {info.n_messages} "
            f"messages · {info.tokens} tokens · ${info.cost:.4f}</div>")
    return f"<style>{CSS}</style>{head}" + "".join(html for _, html in sorted(items, key=lambda x: x[0]))


def show_run(run: Any) -> None:
    from IPython.display import HTML, display

    display(HTML(transcript_html(run)))


def comparison_html(comparison: Any) -> str:
    left, right = comparison.left, comparison.right
    changes = "".join(f"<li><code>{escape(c)}</code></li>" for c in comparison.spec_changes) or "<li>none</li>"
    return (f"<style>{CSS}</style><div><b>spec changes</b><ul>{changes}</ul></div>"
            '<div style="display:grid;grid-template-columns:1fr 1fr;gap:12px">'
            f"<div>{transcript_html(left)}</div><div>{transcript_html(right)}</div></div>")

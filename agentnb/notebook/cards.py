"""Cards of the ChatPanel that need no panel state: message HTML and execution outputs."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ..coding.outputs import OutputFold, fold_outputs, output_dict
from ..messages import ExecutionFinished, ExecutionOutput, content_str
from .html import agent_colour, escape, for_people, hidden_warning, highlight_code, markdown_to_html
from .safe_output import SafeOutputs
from .static import FOLD_LINES, model_saw_html, outputs_html

MAX_STREAM_CHARS = 100_000
"""A run of stdout/stderr longer than this is cut in the panel (the model's summary is separate)."""


def message_html(sender: str, recipient: str | None, message: dict[str, Any], *,
                 streaming: bool = False, colour: str | None = None) -> str:
    """The HTML of one message card (model text made visible; a warning if it hides characters).

    A trailing ``TERMINATE`` is not shown (the model got it; people need not read it)."""
    colour = colour or agent_colour(sender)
    to = f' <span class="agentnb-to">→ {escape(recipient)}</span>' if recipient else ""
    body = []
    text = content_str(message.get("content"))
    calls = [c.get("function", {}) for c in message.get("tool_calls") or []]
    if message.get("function_call"):
        calls.append(message["function_call"])
    warning = hidden_warning(text + "".join(str(fn.get("name", "")) + str(fn.get("arguments", ""))
                                            for fn in calls if isinstance(fn, dict)))
    if warning:
        body.append(warning)
    if message.get("role") == "tool" or message.get("tool_responses"):
        body.append('<div class="agentnb-note">tool result</div>' + highlight_code(text, "text"))
    elif text:
        body.append(markdown_to_html(for_people(text)))
    for call in message.get("tool_calls") or []:
        fn = call.get("function", {})
        body.append(f'<div class="agentnb-note">⚙ calls <code>{escape(str(fn.get("name", "")))}</code></div>'
                    + highlight_code(str(fn.get("arguments", "")), "json"))
    if message.get("function_call"):
        fn = message["function_call"]
        body.append(f'<div class="agentnb-note">⚙ calls <code>{escape(str(fn.get("name", "")))}</code></div>'
                    + highlight_code(str(fn.get("arguments", "")), "json"))
    cursor = '<span class="agentnb-cursor"></span>' if streaming else ""
    return (f'<div class="agentnb-card" style="--agent-colour:{colour}">'
            f'<div class="agentnb-head">{escape(sender)}{to}</div>'
            f"{''.join(body)}{cursor}</div>")


class ExecutionCard(widgets.VBox):
    """The outputs of one code block, under the message that proposed it (no header of its own).

    Outputs stream into an ``Output`` widget as Jupyter renders them; when the block ends, long
    text and tracebacks are folded (error type and message first) and the text the model was
    given can be attached folded ("what the model saw"). The widget gets the outputs made safe
    (:mod:`~agentnb.notebook.safe_output`: no script of the agents' kernel runs in the user's page);
    the fold keeps them as they came, so display-id updates still find their outputs.
    """

    def __init__(self, executor: str, language: str) -> None:
        self.executor = executor
        self.language = language
        self.output = widgets.Output()
        self.footer = widgets.HTML("")
        self.folded = widgets.HTML("", layout=widgets.Layout(display="none"))
        self.saw = widgets.HTML("")
        self._fold = OutputFold(max_stream_chars=MAX_STREAM_CHARS)
        self._safe = SafeOutputs()
        super().__init__([self.output, self.folded, self.footer, self.saw])
        self.add_class("agentnb-block")

    def add(self, ev: ExecutionOutput) -> None:
        """Show one streamed output (folded as a notebook would: see :class:`OutputFold`)."""
        if self._fold.add(output_dict(ev)):
            self.output.outputs = self._safe(self._fold.outputs)

    def finish(self, ev: ExecutionFinished) -> None:
        if not self.output.outputs and ev.outputs:  # outputs were not streamed: show the final ones
            self.output.outputs = self._safe(fold_outputs(ev.outputs))
        outputs = list(self.output.outputs)
        if _needs_folding(outputs):  # long text or a traceback: the folded HTML replaces the raw view
            self.folded.value = outputs_html(outputs)
            self.folded.layout.display = None
            self.output.layout.display = "none"
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if ev.exit_code != 0 and not errors:
            self.footer.value = f'<div class="agentnb-warning">✘ exit code {ev.exit_code}</div>'

    def interrupted(self) -> None:
        """Mark a block that never finished (the chat was stopped or failed while it ran)."""
        self.footer.value = '<div class="agentnb-warning">■ interrupted</div>'

    def model_saw(self, text: str) -> None:
        """Attach, folded, the text the model was given about this block."""
        self.saw.value = model_saw_html(text)


def _needs_folding(outputs: list[dict[str, Any]]) -> bool:
    lines = 0
    for out in outputs:
        if out.get("output_type") == "error":
            return True
        if out.get("output_type") == "stream":
            lines += str(out.get("text", "")).count("\n")
    return lines > FOLD_LINES


def close_tree(widget: widgets.Widget, keep: tuple[widgets.Widget, ...] = ()) -> None:
    """Close ``widget``, its children and their own layout/style models (shared ones in ``keep`` stay)."""
    for child in getattr(widget, "children", ()):
        close_tree(child, keep)
    for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if isinstance(part, widgets.Widget) and all(part is not k for k in keep):
            part.close()
    widget.close()

"""Interactive pieces of the ChatPanel: approval card, reply box, speaker chooser.

Each one turns a button click into the result of an ``asyncio.Future`` created
on the loop the chat runs on. A click that arrives before anyone awaits is
remembered and answers the next wait at once. Nothing resolves without a click.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ipywidgets as widgets

from ..messages import ApprovalDecision, ApprovalRequest
from ..textguard import has_hidden, visible
from .code_actions import hide_while_editing
from .html import escape, hidden_warning, highlight_code
from .risk import risk_cues


class _Waiter:
    """One pending answer: a Future on some loop, resolved from whichever thread clicks."""

    def __init__(self) -> None:
        self._future: asyncio.Future | None = None
        self._early: list[Any] = []

    async def wait(self) -> Any:
        if self._early:
            return self._early.pop(0)
        loop = asyncio.get_running_loop()
        self._future = loop.create_future()
        try:
            return await self._future
        finally:
            self._future = None

    @property
    def waiting(self) -> bool:
        return self._future is not None and not self._future.done()

    @property
    def holds_answer(self) -> bool:
        """An answer arrived before anyone waited for it (the next :meth:`wait` returns it at once)."""
        return bool(self._early)

    def answer(self, value: Any) -> None:
        fut = self._future
        if fut is None or fut.done():
            self._early.append(value)
            return
        loop = fut.get_loop()
        if _on_loop_thread(loop):
            fut.set_result(value)
        else:
            loop.call_soon_threadsafe(_resolve, fut, value)


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        # No loop runs on this thread: setting directly is safe only if that loop is idle.
        return not loop.is_running()


class ApprovalCard(widgets.VBox):
    """Code awaiting approval, with Approve / Edit / Reject (+ reason) buttons.

    Edit edits in place: the shown block (in the message card right above, or in this card) is
    hidden while the editor holds the code, so one copy is on screen; Cancel shows it again.
    """

    def __init__(self, request: ApprovalRequest, *, interactive: bool = True, show_code: bool = True) -> None:
        self.request = request
        self.decision: ApprovalDecision | None = None
        self._waiter = _Waiter()
        tool = escape(request.tool_name or "")
        what = "the code above" if not show_code else ("this code" if request.kind == "code"
                                                       else f"tool call <code>{tool}</code>")
        language = request.language if request.kind == "code" else "python"
        cues = "".join(f'<div class="agentnb-risk">⚠ {escape(cue)}</div>' for cue in risk_cues(request.code))
        shown = highlight_code(request.code, language, actions=request.kind == "code") if show_code else ""
        in_place = hide_while_editing(request.code) if request.kind == "code" else ""
        head = widgets.HTML(
            f'<div class="agentnb-head"><span class="agentnb-unless-editing">Approve? <b>{escape(request.agent)}'
            f"</b> wants to run {what}</span><span class=\"agentnb-if-editing\">Edit the code "
            f"<b>{escape(request.agent)}</b> will run, then run it (or Cancel)</span></div>"
            + hidden_warning(request.code) + cues + shown + in_place
        )
        self.approve_button = widgets.Button(description="Approve", button_style="success", icon="check")
        self.edit_button = widgets.Button(description="Edit", icon="edit")
        self.reject_button = widgets.Button(description="Reject", button_style="danger", icon="times")
        self.reason = widgets.Text(placeholder="reason (optional)", layout=widgets.Layout(width="260px"))
        # A browser's textarea would apply bidi controls and hide zero-width characters: the editor
        # holds the visible form, so what the person edits and runs is exactly what they see.
        editable = visible(request.code) if has_hidden(request.code) else request.code
        self._editable = editable
        self.editor = widgets.Textarea(value=editable, rows=max(4, min(20, editable.count("\n") + 2)),
                                       layout=widgets.Layout(width="98%", display="none"))
        self.editor.add_class("agentnb-editor")
        self.run_edited_button = widgets.Button(description="Run edited code", button_style="warning")
        self.cancel_edit_button = widgets.Button(description="Cancel", tooltip="keep the proposed code")
        self.edit_row = widgets.HBox([self.run_edited_button, self.cancel_edit_button],
                                     layout=widgets.Layout(display="none"))
        self.status = widgets.HTML("")
        self.approve_button.on_click(lambda _b: self._decide(ApprovalDecision(approved=True)))
        self.edit_button.on_click(lambda _b: self._open_editor())
        self.cancel_edit_button.on_click(lambda _b: self._close_editor())
        self.run_edited_button.on_click(
            lambda _b: self._decide(ApprovalDecision(approved=True, code=self.editor.value)))
        self.reject_button.on_click(
            lambda _b: self._decide(ApprovalDecision(approved=False, reason=self.reason.value.strip())))
        self.edit_button.disabled = request.kind != "code"
        buttons = widgets.HBox([self.approve_button, self.edit_button, self.reject_button, self.reason])
        self.button_row = buttons
        if interactive:
            children = [head, buttons, self.editor, self.edit_row, self.status]
        else:
            self.status.value = '<span class="agentnb-note">answer in the input box below</span>'
            children = [head, self.status]
        box = widgets.Layout(border="1px solid var(--jp-warn-color1, #e0a800)", padding="2px 6px",
                             margin="2px 0 4px 14px")
        super().__init__(children, layout=box)
        self.add_class("agentnb-approval")
        if interactive:
            self.add_class("agentnb-pending")  # sticks to the bottom of the view until decided

    @property
    def buttons(self) -> list[widgets.Button]:
        return [self.approve_button, self.edit_button, self.reject_button, self.run_edited_button,
                self.cancel_edit_button]

    def _open_editor(self) -> None:
        """The editor takes the shown block's place; Approve / Edit / Reject wait until Cancel."""
        if self.decision is None and self.request.kind == "code":
            self.add_class("agentnb-editing")
            self.editor.layout.display = None
            self.edit_row.layout.display = None
            self.button_row.layout.display = "none"

    def _close_editor(self, *, keep_edits: bool = False) -> None:
        self.editor.layout.display = "none"  # first: the block never shows twice, even for a moment
        self.edit_row.layout.display = "none"
        self.remove_class("agentnb-editing")
        if not keep_edits:
            self.editor.value = self._editable
        if self.decision is None:
            self.button_row.layout.display = None

    def _decide(self, decision: ApprovalDecision) -> None:
        if self.decision is not None:
            return
        self.show_decision(decision)
        self._waiter.answer(decision)

    async def wait(self) -> ApprovalDecision:
        """The decision, once a button is clicked."""
        if self.decision is not None and not self._waiter.waiting and not self._waiter.holds_answer:
            return self.decision
        return await self._waiter.wait()

    def show_decision(self, decision: ApprovalDecision) -> None:
        """Disable the buttons and say what was decided (also for decisions made elsewhere)."""
        self.decision = decision
        for b in self.buttons:
            b.disabled = True
        self.reason.disabled = True
        self.editor.disabled = True
        if decision.approved:
            text = "✔ approved" + (" (edited)" if decision.edited else "")
        else:
            text = "✘ rejected" + (f": {escape(decision.reason)}" if decision.reason else "")
        edited = highlight_code(decision.code or "", self.request.language, actions=True) if decision.edited else ""
        self.status.value = f'<span class="agentnb-note">{text}</span>{edited}'
        self._close_editor(keep_edits=True)
        self.button_row.layout.display = "none"  # the verdict replaces the buttons: one line, not four
        self.remove_class("agentnb-pending")
        self.layout.border = "none"

    def cancel(self) -> None:
        if self.decision is None:
            for b in self.buttons:
                b.disabled = True
            self.status.value = '<span class="agentnb-note">chat ended before a decision</span>'
            self._close_editor(keep_edits=True)
            self.button_row.layout.display = "none"
            self.remove_class("agentnb-pending")


class ReplyBox(widgets.VBox):
    """A Text + Send box for human replies (empty sends an auto-reply, ``exit`` ends the chat)."""

    def __init__(self) -> None:
        self._waiter = _Waiter()
        self.prompt = widgets.HTML("")
        self.text = widgets.Text(placeholder="your reply (empty = auto-reply, 'exit' ends the chat)",
                                 layout=widgets.Layout(width="70%"))
        self.send_button = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.send_button.on_click(lambda _b: self._send())
        super().__init__([self.prompt, widgets.HBox([self.text, self.send_button])],
                         layout=widgets.Layout(display="none"))

    def _send(self) -> None:
        if not self._waiter.waiting:
            return
        value = self.text.value
        self.text.value = ""
        self.close_prompt(f"you replied: {value!r}" if value else "auto-reply")
        self._waiter.answer(value)

    def open_prompt(self, prompt: str) -> None:
        self.prompt.value = f'<div class="agentnb-head">✎ {escape(prompt)}</div>'
        self.layout.display = None
        self.send_button.disabled = False

    def close_prompt(self, note: str = "") -> None:
        self.layout.display = "none"
        self.send_button.disabled = True
        self.prompt.value = f'<span class="agentnb-note">{escape(note)}</span>' if note else ""

    async def ask(self, prompt: str) -> str:
        self.open_prompt(prompt)
        try:
            return await self._waiter.wait()
        finally:
            self.close_prompt()


class SpeakerChooser(widgets.VBox):
    """One button per candidate; ``await choose(...)`` returns the clicked name."""

    def __init__(self) -> None:
        self._waiter = _Waiter()
        self.prompt = widgets.HTML("")
        self.row = widgets.HBox([])
        super().__init__([self.prompt, self.row], layout=widgets.Layout(display="none"))

    @property
    def buttons(self) -> list[widgets.Button]:
        return list(self.row.children)

    async def choose(self, candidates: list[str], prompt: str = "Who speaks next?") -> str:
        for old in self.row.children:
            old.close()
        buttons = []
        for name in candidates:
            b = widgets.Button(description=visible(name), tooltip=f"let {visible(name)} speak next")
            b.on_click(lambda _b, name=name: self._pick(name))
            buttons.append(b)
        self.row.children = tuple(buttons)
        self.prompt.value = f'<div class="agentnb-head">{escape(prompt)}</div>'
        self.layout.display = None
        try:
            return await self._waiter.wait()
        finally:
            self.layout.display = "none"
            for b in buttons:
                b.disabled = True

    def _pick(self, name: str) -> None:
        if self._waiter.waiting:
            self._waiter.answer(name)


class Toolbar(widgets.HBox):
    """Status line, Stop, and Export with a file name, a link to the written notebook.

    Shown under the conversation while it runs and after it ends, until the notebook runs
    another cell (then the panel's saved form, a static page, is all that remains).
    """

    def __init__(self, export_name: str = "chat.ipynb") -> None:
        self.status = widgets.HTML('<div class="agentnb-status">idle</div>')
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger",
                                          tooltip="stop the conversation", disabled=True,
                                          layout=widgets.Layout(width="auto"))
        self.export_name = widgets.Text(value=export_name, tooltip="file name of the exported notebook",
                                        layout=widgets.Layout(width="180px", display="none"))
        self.export_button = widgets.Button(description="Export", icon="download",
                                            tooltip="write what happened so far as a notebook (never over an "
                                                    "existing file)",
                                            layout=widgets.Layout(width="auto", display="none"))
        self.link = widgets.HTML("")
        self.follow_text = widgets.Text(placeholder="follow-up: continue this chat (same agents and kernel)",
                                        layout=widgets.Layout(width="420px"))
        self.follow_button = widgets.Button(description="Continue", icon="reply", button_style="primary",
                                            layout=widgets.Layout(width="auto"))
        self.follow_box = widgets.HBox([self.follow_text, self.follow_button],
                                       layout=widgets.Layout(display="none", align_items="center"))
        right = widgets.HBox([self.stop_button, self.export_name, self.export_button, self.link],
                             layout=widgets.Layout(align_items="center"))
        super().__init__([self.status, self.follow_box, right], layout=widgets.Layout(
            justify_content="space-between", align_items="center", flex_flow="row wrap"))
        self.add_class("agentnb-toolbar")

    def show_export(self) -> None:
        self.export_name.layout.display = None
        self.export_button.layout.display = None

    def show_link(self, path: str, href: str) -> None:
        self.link.value = (f'<span class="agentnb-note">→ <a href="{escape(href)}" target="_blank" '
                           f'rel="noopener">{escape(path)}</a></span>')


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)

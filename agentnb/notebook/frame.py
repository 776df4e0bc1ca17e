"""The outside of a ChatPanel: how it is displayed and saved, and its toolbar (Stop, Export, follow-up).

A mixin for :class:`agentnb.notebook.panel.ChatPanel`, which provides ``toolbar``, ``page_events``,
``name``, ``_state``, ``_slots``, ``_frozen``, the callback lists, ``_status_html()``, ``_note()``
and ``_render_status()``. Kept apart so that the panel module holds one idea: events to cards.

How a saved notebook keeps the chat. A saved notebook keeps a widget only as a reference to its
model, which dies with the kernel ("Error displaying widget: model not found"). So the panel's
cell holds two outputs (:class:`.slots.CellSlots`):

1. the live widget; when the chat ends, the static page (:func:`.static.transcript_html`);
2. while the chat runs, a **snapshot**: the same static page of what happened so far, refreshed
   at message and execution boundaries (never per token; at most once per
   :data:`SNAPSHOT_EVERY` seconds, less often when one costs more); when the chat ends, the
   toolbar, then nothing.

The page and the snapshot are ordinary ``text/html``, so a notebook saved at any moment shows the
conversation in every front end. Nothing shows twice where CSS runs: the live widget carries a
``<style>`` that hides its snapshot (by a class unique to this panel: any front end that renders
the widget); the snapshot carries one that hides the output just above it unless the live panel
renders there, and the final page one that hides the output under it unless the live toolbar
renders there (JupyterLab, Notebook 7, classic Notebook, nbconvert/nbviewer: ``:has()`` on their
output classes) — so a reopened notebook shows neither "model not found" nor an empty toolbar.
Where styles are stripped (an untrusted notebook, GitHub) or the classes differ (VS Code, whose
widget renderer falls back to the next MIME type when the model is gone), the dead widget's
output shows its one ``text/plain`` line ("a live widget, shown while the kernel that ran it
runs") above the snapshot; the toolbar's is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..messages import (
    ApprovalDecided,
    ApprovalRequested,
    ChatStarted,
    ErrorOccurred,
    ExecutionFinished,
    ExecutionOutput,
    HumanInputRequested,
    MessageSent,
    ToolCallFinished,
)
from .html import escape
from .slots import EMPTY, CellSlots
from .static import transcript_html, transcript_text

ENDED = ("finished", "stopped", "failed")

SNAPSHOT_EVERY = 1.0
"""Seconds between two snapshots at least; a chat whose snapshot takes longer to render gets
``SNAPSHOT_COST_RATIO`` times that (so snapshots never take more than 5% of the kernel's time)."""
SNAPSHOT_COST_RATIO = 20.0
SNAPSHOT_AT = frozenset({ChatStarted, MessageSent, ExecutionOutput, ExecutionFinished, ToolCallFinished,
                         ApprovalRequested, ApprovalDecided, HumanInputRequested, ErrorOccurred})
"""Events after which the snapshot is refreshed (a token never is: a message boundary follows)."""


class PanelFrame:
    """Display, saved form and toolbar actions of a chat panel (see the module docstring)."""

    # Provided by ChatPanel (see the module docstring); declared here for the type checker.
    name: str
    page_events: list[Any]
    toolbar: Any
    status: Any
    stop_button: Any
    _state: str
    _slots: CellSlots | None
    _frozen: bool
    _stop_callbacks: list[Callable[[], Any]]
    _export_callbacks: list[Callable[..., Any]]
    _follow_callbacks: list[Callable[[str], Any]]
    children: tuple[Any, ...]
    model_id: str
    interactive: bool
    snapshots: int = 0
    """How many snapshots were sent (for tests and benchmarks)."""
    _snapshots: _Throttle

    if TYPE_CHECKING:
        def _status_html(self) -> str: ...
        def _note(self, text: str, *, error: bool = False) -> None: ...
        def _render_status(self) -> None: ...
        def _set_state(self, state: str, reason: str = "") -> None: ...

    # ------------------------------------------------------------------ display and saved form

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}  # type: ignore[misc]  # the widget after us in the MRO
        name = f" {self.name}" if self.name else ""
        data["text/plain"] = f"agentnb chat{name}: a live widget, shown while the kernel that ran it runs"
        return data

    def _ipython_display_(self) -> None:
        self.show()

    def show(self) -> None:
        """Display the panel in an output slot of the running cell, and the snapshot of the chat so
        far in a second one, so that a notebook saved at any moment keeps the conversation; when the
        chat ends the panel's output becomes the static page (:meth:`freeze`)."""
        self.attach_slots(CellSlots(self._repr_mimebundle_(), self.snapshot_bundle()))

    def attach_slots(self, slots: CellSlots) -> None:
        """Show this panel through ``slots`` (see :meth:`show`) from now on."""
        self._add_live_style()
        self._snapshots = _Throttle(self._snapshot_now)
        self._slots = slots
        self._frozen = False

    def static_bundle(self) -> dict[str, str]:
        """The conversation so far as ``text/html`` (plots inlined) + ``text/plain``."""
        events = self.page_events
        return {"text/html": transcript_html(events, title=self.name, state=self._state,
                                             status=self._status_html()),
                "text/plain": transcript_text(events, title=self.name, state=self._state)}

    def final_bundle(self) -> dict[str, str]:
        """:meth:`static_bundle` as the panel's output once the chat has ended: it hides the output under
        it unless that is the live toolbar (a saved notebook reopened: the dead toolbar, or nothing)."""
        bundle = self.static_bundle()
        key = _snapshot_class(self, "page")
        bundle["text/html"] = (f'<div class="agentnb-page {key}">'
                               f"<style>{_DEAD_TOOLBAR_BELOW.replace('KEY', key)}</style>"
                               f"{bundle['text/html']}</div>")
        return bundle

    def snapshot_bundle(self) -> dict[str, str]:
        """:meth:`static_bundle` marked as a snapshot: what a notebook saved while the chat runs shows
        in place of the live panel (which it hides while it is there, see the module docstring)."""
        bundle = self.static_bundle()
        key = _snapshot_class(self)
        note = ('<div class="agentnb-note">◷ saved while the chat was running: what had happened by then '
                "(the live panel needs the kernel that ran it)</div>")
        bundle["text/html"] = (f'<div class="agentnb-snapshot {key}">'
                               f"<style>{_DEAD_WIDGET_ABOVE.replace('KEY', key)}</style>"
                               f"{note}{bundle['text/html']}</div>")
        bundle["text/plain"] += "\n(saved while the chat was running)"
        return bundle

    def snapshot_soon(self, event: Any) -> None:
        """After each event the panel has shown: at a boundary, refresh the snapshot (throttled)."""
        if type(event) in SNAPSHOT_AT and self._slots is not None and not self._frozen:
            self._snapshots.request(at_once=not self.interactive)

    def _snapshot_now(self) -> None:
        if self._slots is not None and not self._frozen:
            self.snapshots += 1
            self._slots.update_second(self.snapshot_bundle())

    def _add_live_style(self) -> None:
        """A hidden ``<style>`` in the live widget: wherever it renders, this panel's snapshot is hidden."""
        if getattr(self, "_live_style", None) is None:
            import ipywidgets as widgets

            style = _LIVE_HIDES_SNAPSHOT.replace("KEY", _snapshot_class(self))
            self._live_style = widgets.HTML(f"<style>{style}</style>", layout=widgets.Layout(display="none"))
            self.children = (*self.children, self._live_style)

    def freeze(self) -> None:
        """Replace the live widget in the output with the static page (what a saved notebook keeps),
        and the snapshot under it with the toolbar (Export), live until the notebook runs another cell."""
        if self._slots is None or self._frozen:
            return
        self._frozen = True
        self._snapshots.cancel()
        self.status.layout.display = "none"  # the page says it; the toolbar keeps Export only
        if not (self._export_callbacks or self._follow_callbacks):  # no live widget stays in the output at all
            self._slots.update_second(EMPTY)
            self._slots.update_main(self.final_bundle())
            return
        self._slots.update_main(self.final_bundle())
        if self._slots.extra is None:
            self._slots.show_extra(self.toolbar)
        self._retire_toolbar_on_next_cell()

    def _retire_toolbar_on_next_cell(self) -> None:
        shell = _shell()
        if shell is None:
            return
        slots = self._slots
        if slots is None:
            return

        def retire(*_args: Any) -> None:
            with contextlib.suppress(ValueError):
                shell.events.unregister("pre_run_cell", retire)
            if self._frozen and slots is self._slots:
                slots.clear_extra()

        shell.events.register("pre_run_cell", retire)

    @property
    def state(self) -> str:
        """idle, running, waiting, stopping, finished, stopped or failed."""
        return self._state

    # ------------------------------------------------------------------ wiring

    def on_stop(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` when Stop is clicked (e.g. ``handle.cancel``)."""
        self._stop_callbacks.append(callback)
        self.stop_button.disabled = self._state not in ("running", "waiting")

    def on_export(self, callback: Callable[..., Any]) -> None:
        """Show Export; clicking calls ``callback(file_name)`` (or ``callback()``); its return value,
        the path written, is shown with a link."""
        self._export_callbacks.append(callback)
        self.toolbar.show_export()

    def on_follow_up(self, callback: Callable[[str], Any]) -> None:
        """Offer a follow-up box when the chat has ended; ``callback(text)`` continues the chat."""
        self._follow_callbacks.append(callback)
        if self._state in ENDED:
            self.toolbar.follow_box.layout.display = None

    def follow_up(self) -> None:
        text = self.toolbar.follow_text.value.strip()
        if not text or self._state not in ENDED:
            return
        self.toolbar.follow_text.value = ""
        self.toolbar.follow_box.layout.display = "none"
        for cb in list(self._follow_callbacks):
            try:
                cb(text)
            except Exception as exc:
                self._note(f"follow-up failed: {type(exc).__name__}: {exc}", error=True)
                self._render_status()

    def stop(self) -> None:
        if self._state not in ("running", "waiting"):
            return
        self.stop_button.disabled = True
        self._set_state("stopping")
        for cb in list(self._stop_callbacks):
            cb()

    def export(self) -> None:
        name = self.toolbar.export_name.value.strip() or f"{self.name or 'chat'}.ipynb"
        if not name.endswith(".ipynb"):
            name += ".ipynb"
        for cb in list(self._export_callbacks):
            try:
                where = cb(name) if _takes_argument(cb) else cb()
            except Exception as exc:
                self._note(f"export failed: {type(exc).__name__}: {exc}", error=True)
            else:
                self._note(f"exported to {where}" if where else "exported")
                if where:
                    self.toolbar.show_link(str(where), _href(where))



_LIVE_HIDES_SNAPSHOT = (".KEY { display: none; } "
                        ".jp-OutputArea-child:has(.KEY), .output_area:has(.KEY) { display: none; }")
"""In the live widget: its snapshot's output is hidden wherever the widget renders (any front end)."""

_DEAD_WIDGET_ABOVE = (".jp-OutputArea-child:has(+ .jp-OutputArea-child .KEY):not(:has(.agentnb-panel)), "
                      ".output_area:has(+ .output_area .KEY):not(:has(.agentnb-panel)) { display: none; }")
"""In the snapshot: the output just above it is hidden unless the live panel renders there (a saved
notebook reopened: "Error displaying widget: model not found", or the widget's text/plain line)."""


_DEAD_TOOLBAR_BELOW = (".jp-OutputArea-child:has(.KEY) + .jp-OutputArea-child:not(:has(.agentnb-toolbar)), "
                       ".output_area:has(.KEY) + .output_area:not(:has(.agentnb-toolbar)) { display: none; }")
"""In the final page: the output under it shows only while it is the live toolbar (Export)."""


def _snapshot_class(panel: Any, kind: str = "snap") -> str:
    return f"agentnb-{kind}-{escape(str(panel.model_id or id(panel)))}"


class _Throttle:
    """Runs ``render`` soon after :meth:`request`, at most once per interval (SNAPSHOT_EVERY, or
    SNAPSHOT_COST_RATIO times what the last render took): the first request after a quiet spell
    runs at the next turn of the loop, later ones are merged into one trailing run."""

    def __init__(self, render: Callable[[], None]) -> None:
        self.render = render
        self.interval = SNAPSHOT_EVERY
        self.last = float("-inf")
        self.timer: asyncio.TimerHandle | None = None

    def request(self, *, at_once: bool = False) -> None:
        """``at_once``: the loop is blocked (a sync chat runs in the cell), so a due run happens now and a
        later one at a later boundary, never from a timer."""
        if self.timer is not None:
            return  # one run is due already: it will include this
        wait = max(0.0, self.last + self.interval - time.monotonic())
        try:
            loop = None if at_once else asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self.timer = loop.call_later(wait, self.run)
        elif wait == 0.0:
            self.run()

    def run(self) -> None:
        self.timer = None
        start = time.perf_counter()
        try:
            self.render()
        finally:
            self.last = time.monotonic()
            self.interval = max(SNAPSHOT_EVERY, SNAPSHOT_COST_RATIO * (time.perf_counter() - start))

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _takes_argument(callback: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


def _href(path: Any) -> str:
    """A link to ``path`` relative to the kernel's folder (where the notebook usually is)."""
    target = Path(str(path))
    if target.is_absolute():
        try:
            target = target.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return target.as_uri()
    return quote(target.as_posix())


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "events") else None

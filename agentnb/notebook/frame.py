"""The outside of a ChatPanel: how it is displayed and saved, and its toolbar (Stop, Export, follow-up).

A mixin for :class:`agentnb.notebook.panel.ChatPanel`, which provides ``toolbar``, ``page_events``,
``name``, ``_state``, ``_slots``, ``_frozen``, the callback lists, ``_status_html()``, ``_note()``
and ``_render_status()``. Kept apart so that the panel module holds one idea: events to cards.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .slots import CellSlots
from .static import transcript_html, transcript_text

ENDED = ("finished", "stopped", "failed")


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

    if TYPE_CHECKING:
        def _status_html(self) -> str: ...
        def _note(self, text: str, *, error: bool = False) -> None: ...
        def _render_status(self) -> None: ...
        def _set_state(self, state: str, reason: str = "") -> None: ...

    # ------------------------------------------------------------------ display and saved form

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}  # type: ignore[misc]  # the widget after us in the MRO
        data["text/plain"] = f"agentnb chat {self.name} ({self.state})".replace("  ", " ")
        return data

    def _ipython_display_(self) -> None:
        self.show()

    def show(self) -> None:
        """Display the panel in an output slot of the running cell, so that when the chat ends that output
        can become the static page (:meth:`freeze`) every front end shows when the notebook is reopened."""
        self._slots = CellSlots(self._repr_mimebundle_())
        self._frozen = False

    def static_bundle(self) -> dict[str, str]:
        """The conversation so far as ``text/html`` (plots inlined) + ``text/plain``."""
        events = self.page_events
        return {"text/html": transcript_html(events, title=self.name, state=self._state,
                                             status=self._status_html()),
                "text/plain": transcript_text(events, title=self.name, state=self._state)}

    def freeze(self) -> None:
        """Replace the live widget in the output with the static page (what a saved notebook keeps).
        The toolbar under it (Export) stays live until the notebook runs another cell."""
        if self._slots is None or self._frozen:
            return
        self._frozen = True
        self._slots.update_main(self.static_bundle())
        self.status.layout.display = "none"  # the page above says it; the toolbar keeps Export only
        if not (self._export_callbacks or self._follow_callbacks):
            return  # nothing left to do: no live widget stays in the output at all
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

"""Two output slots of the cell that started a chat, updatable after that cell has finished.

A chat started by ``%%agents`` outlives its cell. The first slot holds the panel: the live
widget, and when the chat ends the static page (``update_display_data`` for its display id).
The second slot holds, while the chat runs, a static snapshot of the conversation so far (what
a notebook saved mid-chat keeps, see :mod:`.frame`); when the chat ends, the toolbar (Export)
until the notebook runs another cell, then nothing. Who applies an update decides where it
must be addressed:

- JupyterLab and Notebook 7 keep each cell's execute future open and look the display id up
  in *that cell's* outputs: the update must carry the starting cell's parent header;
- nbclient (nbconvert, nbval, papermill) and classic Notebook look display ids up across the
  notebook but only read messages of the cell running now: the update must carry *its* header.

So each update is sent under the starting cell's header and, when another cell runs now, once
more under that one's (the other front end ignores the copy it cannot place). A widget's comm
message (a click) is not a cell: JupyterLab routes what is sent under it to the clicked view's cell.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from IPython.display import DisplayHandle, display

EMPTY = {"text/plain": ""}
"""What an emptied slot holds (an output with nothing to show, and no widget reference)."""


def _publisher() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "display_pub", None) if shell is not None else None


def _cell_id(header: Any) -> str | None:
    """The msg_id of ``header`` when it is a cell's (an ``execute_request``; not a widget's comm message)."""
    if isinstance(header, dict) and header.get("msg_type") == "execute_request":
        return header.get("msg_id")
    return None


class CellSlots:
    """The panel's slot and a second slot (snapshot, then toolbar) in the cell running at creation.

    The toolbar is shown, and cleared, under the starting cell's header only: a front end that
    reads only the running cell's messages (nbclient) gets an empty second slot instead, so no
    widget reference ever lands in a notebook it saves."""

    def __init__(self, panel_bundle: dict[str, Any], second_bundle: dict[str, Any] | None = None) -> None:
        pub = _publisher()
        self._parent = dict(getattr(pub, "parent_header", None) or {})
        self.main: DisplayHandle = display(panel_bundle, raw=True, display_id=True)
        self.second: DisplayHandle = display(second_bundle or EMPTY, raw=True, display_id=True)
        self.extra: Any = None
        """The object (the toolbar) shown in the second slot, or None."""

    def update_main(self, bundle: dict[str, Any]) -> None:
        """Replace the panel's output (the live widget, or the static page)."""
        def send() -> None:
            self.main.update(bundle, raw=True)

        self._send(send, send)

    def update_second(self, bundle: dict[str, Any]) -> None:
        """Replace the second output (the snapshot) with a static ``bundle``."""
        def send() -> None:
            self.second.update(bundle, raw=True)

        self.extra = None
        self._send(send, send)

    def show_extra(self, widget: Any) -> None:
        """Show ``widget`` (the toolbar) in the second output, in the starting cell only, without a
        ``text/plain`` line (where the widget cannot render, nothing shows rather than its repr)."""
        bundle = {**widget._repr_mimebundle_(), "text/plain": ""}
        self.extra = widget
        self._send(lambda: self.second.update(bundle, raw=True), self._empty_second)

    def clear_extra(self) -> None:
        """Empty the second output (a saved notebook then keeps no widget reference there)."""
        if self.extra is not None:
            self.extra = None
            self._send(self._empty_second, None)

    def _empty_second(self) -> None:
        self.second.update(EMPTY, raw=True)

    def _send(self, here: Callable[[], None], elsewhere: Callable[[], None] | None) -> None:
        _route(self._parent, here, elsewhere)


class CellSlot:
    """One output of the cell running at creation, updatable later (a chat handle's state line)."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        pub = _publisher()
        self._parent = dict(getattr(pub, "parent_header", None) or {})
        self.handle: DisplayHandle = display(bundle, raw=True, display_id=True)

    def update(self, bundle: dict[str, Any]) -> None:
        def send() -> None:
            self.handle.update(bundle, raw=True)

        _route(self._parent, send, send)


def _route(parent: dict[str, Any], here: Callable[[], None], elsewhere: Callable[[], None] | None) -> None:
    """Run ``here`` under the starting cell's header ``parent`` and, when another cell runs now,
    ``elsewhere`` (if any) under that cell's header."""
    pub = _publisher()
    setter = getattr(pub, "set_thread_parent", None)
    if pub is None or setter is None or not parent:
        here()
        return
    now = getattr(pub, "_parent_header_global", None) or pub.parent_header
    _under(pub, parent, here)
    if elsewhere is not None and _cell_id(now) and _cell_id(now) != parent.get("msg_id"):
        _under(pub, now, elsewhere)


def _under(pub: Any, header: dict[str, Any], send: Callable[[], None]) -> None:
    token = pub.set_thread_parent(header)
    try:
        send()
    finally:
        with contextlib.suppress(ValueError, LookupError):
            pub.reset_thread_parent(token)

"""Two output slots of the cell that started a chat, updatable after that cell has finished.

A chat started by ``%%agents`` outlives its cell. When it ends, the panel's slot is updated
(``update_display_data`` for its display id) from the live widget to a static page, and a
second slot holds the toolbar (Export) until the notebook runs another cell. Who applies an
update decides where it must be addressed:

- JupyterLab and Notebook 7 keep each cell's execute future open and look the display id up
  in *that cell's* outputs: the update must carry the starting cell's parent header;
- nbclient (nbconvert, nbval, papermill) and classic Notebook look display ids up across the
  notebook but only read messages of the cell running now: the update must carry *its* header.

So each update is sent under the starting cell's header and, when another cell runs now, once
more under that one's (the other front end ignores the copy it cannot place).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from IPython.display import DisplayHandle, display


def _publisher() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "display_pub", None) if shell is not None else None


def _header_id(header: Any) -> str | None:
    return header.get("msg_id") if isinstance(header, dict) else None


class CellSlots:
    """The panel's slot and the toolbar's slot in the cell that was running at creation.

    The toolbar's slot is added and cleared under the starting cell's header only: a front end
    that reads only the running cell's messages (nbclient) never sees it, so it never lands
    in a later cell."""

    def __init__(self, panel_bundle: dict[str, Any]) -> None:
        pub = _publisher()
        self._parent = dict(getattr(pub, "parent_header", None) or {})
        self.main: DisplayHandle = display(panel_bundle, raw=True, display_id=True)
        self.extra: DisplayHandle | None = None

    def update_main(self, bundle: dict[str, Any]) -> None:
        """Replace the panel's output (the live widget, or the static page)."""
        self._send(lambda: self.main.update(bundle, raw=True))

    def show_extra(self, obj: Any) -> None:
        """Add a second output (the toolbar) under the panel's, in the starting cell only."""
        handle = DisplayHandle()
        self._send(lambda: handle.display(obj), here_only=True)
        self.extra = handle

    def clear_extra(self) -> None:
        """Empty the second output (a saved notebook then keeps no widget reference there)."""
        if self.extra is not None:
            handle, self.extra = self.extra, None
            self._send(lambda: handle.update({"text/plain": ""}, raw=True), here_only=True)

    def _send(self, send: Callable[[], None], *, here_only: bool = False) -> None:
        pub = _publisher()
        setter = getattr(pub, "set_thread_parent", None)
        if pub is None or setter is None or not self._parent:
            send()
            return
        now = getattr(pub, "_parent_header_global", None) or pub.parent_header
        token = setter(self._parent)
        try:
            send()
        finally:
            with contextlib.suppress(ValueError, LookupError):
                pub.reset_thread_parent(token)
        if not here_only and _header_id(now) and _header_id(now) != _header_id(self._parent):
            token = setter(now)
            try:
                send()
            finally:
                with contextlib.suppress(ValueError, LookupError):
                    pub.reset_thread_parent(token)

"""Pick the view a non-silent chat shows itself in: console, plain notebook output, or ChatPanel.

The core calls ``default_view(sync)`` lazily when ``silent=False``; the result
is a context manager active for the whole chat. Choice, first match wins:

1. ``set_view_mode("widget"|"plain"|"console"|None)`` (what ``%agents view`` sets);
2. env ``AGENTNB_VIEW=widget|plain|console``;
3. detection: no IPython kernel → console; a kernel whose front end renders
   widgets (started by jupyter_server — ``JPY_SESSION_NAME`` — or VS Code, or
   Colab) → widget; any other kernel (nbconvert, nbclient, nbval) → plain.

An entry point that made its own panel (``%%agents``: Stop, Export, follow-ups wired to its
handle) shows its chat there with :func:`shown_in`, through the same view factory.

With ``sync=True`` the chat runs on the bridge thread while the caller's thread
is blocked: events are posted to the caller's thread, and the panel shows
approval requests read-only (the console hooks ask via ``input()``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from .errors import ConfigError

VIEW_MODES = ("widget", "plain", "console")

_mode_override: str | None = None


def set_view_mode(mode: str | None) -> None:
    """Force a view mode for this process (``None`` restores detection)."""
    global _mode_override
    if mode is not None and mode not in VIEW_MODES:
        raise ConfigError(f"view mode must be one of {', '.join(VIEW_MODES)}, not {mode!r}")
    _mode_override = mode


def _kernel_shell() -> Any:
    ip = sys.modules.get("IPython")
    if ip is None:
        return None
    shell = ip.get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def widget_frontend() -> bool:
    """Best guess whether the attached front end renders ipywidgets."""
    env = os.environ
    return bool(env.get("JPY_SESSION_NAME") or env.get("VSCODE_PID") or env.get("VSCODE_CWD")
                or "google.colab" in sys.modules)


def view_mode() -> str:
    """The view mode a chat started now would use."""
    if _mode_override:
        return _mode_override
    env = os.environ.get("AGENTNB_VIEW", "").strip().lower()
    if env in VIEW_MODES:
        return env
    if _kernel_shell() is None:
        return "console"
    return "widget" if widget_frontend() else "plain"


@contextlib.contextmanager
def _subscribed(handler: Callable[[Any], None], sync: bool) -> Iterator[None]:
    from ._aio import on_caller_thread
    from .messages import subscribe

    with subscribe(on_caller_thread(handler, sync)):
        yield


@contextlib.contextmanager
def _new_panel_view(sync: bool) -> Iterator[Any]:
    from ._aio import post_to_caller
    from .notebook.panel import ChatPanel

    # No Stop callback here: the task running this chat may be the cell's own task, which must
    # not be cancelled from a button. ``%%agents`` owns its task and its panel (see :func:`shown_in`).
    panel = ChatPanel()
    if not (sync and post_to_caller(panel.show)):  # sync: show it from the caller's thread
        panel.show()
    with panel_view(panel, sync):
        yield panel


@contextlib.contextmanager
def panel_view(panel: Any, sync: bool) -> Iterator[Any]:
    """Show a chat in ``panel`` (already displayed by its owner): its events, and the speaker choice when
    someone can click (``sync``: the caller's thread is blocked, the hooks answer instead)."""
    with panel.attached(sync=sync), speaker_chooser(None if sync else panel.choose_speaker):
        yield panel


def shown_in(panel: Any) -> contextlib.AbstractContextManager[None]:
    """Show the non-silent chat started inside the block in ``panel``, whatever the view mode: an entry
    point that owns its panel (``%%agents``, the Studio builder) wires Stop, Export, follow-ups to it."""
    from .agents.scope import viewed_by

    return viewed_by(lambda sync: panel_view(panel, sync))


@contextlib.contextmanager
def speaker_chooser(chooser: Callable[..., Any] | None) -> Iterator[None]:
    """Install ``chooser(candidates, prompt)`` as the manual speaker-selection hook (one of the running
    chat's human handlers, :mod:`agentnb.agents.scope`); ``None`` leaves the current one."""
    from .agents.scope import human_handlers

    with human_handlers(speaker_chooser=chooser):
        yield


def default_view(sync: bool) -> contextlib.AbstractContextManager:
    """The context manager that shows a chat while it runs (see the module docstring)."""
    mode = view_mode()
    if mode == "widget":
        return _new_panel_view(sync)
    if mode == "plain":
        from .notebook.render import PlainRenderer

        return _subscribed(PlainRenderer().handle_event, sync)
    from .console import ConsoleView

    return _subscribed(ConsoleView().handle_event, sync)

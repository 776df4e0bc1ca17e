"""The composition root: the one place that wires the default view and the run history into the core.

The core (:mod:`agentnb.agents`) never imports a view or the Studio. The public entry points
(``ConversableAgent.initiate_chat`` / ``a_initiate_chat`` and the CLI) call
:func:`install_defaults` before a chat starts; it registers :func:`default_view` as the
scope's view factory unless the caller chose one (``agentnb.agents.scope.set_view_factory``),
and :func:`history_view` as the run recorder. An entry point that made its own view for the chat it
starts (``%%agents`` and its panel) passes it with ``scope.viewed_by`` / :func:`agentnb.views.shown_in`,
which wins for that chat only. The view modules (:mod:`agentnb.views`, and
through it the notebook panel) are imported only when a non-silent chat actually starts.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .agents.scope import set_default_view_factory, set_run_recorder


def default_view(sync: bool) -> contextlib.AbstractContextManager[Any]:
    """:func:`agentnb.views.default_view`, or the console printer where the notebook views cannot load."""
    try:
        from .views import default_view as notebook_aware_view
    except ImportError:
        from .console import ConsoleView

        return ConsoleView().attach(sync=sync)
    return notebook_aware_view(sync=sync)


def history_view(sender: Any, recipient: Any) -> contextlib.AbstractContextManager[Any]:
    """The Studio run history around an outermost chat (a no-op unless on; sqlite3 loads only then)."""
    from .studio._switch import history_view as recorder

    return recorder(sender, recipient)


_installed = False


def install_defaults() -> None:
    """Register the default view factory and the run recorder (once; a view factory the caller set wins)."""
    global _installed
    if _installed:
        return
    set_default_view_factory(default_view)
    set_run_recorder(history_view)
    _installed = True

"""The composition root: the one place that wires the default view into the chat core.

The core (:mod:`agentnb.agents`) never imports a view. The public entry points
(``ConversableAgent.initiate_chat`` / ``a_initiate_chat`` and the CLI) call
:func:`install_defaults` before a chat starts; it registers :func:`default_view` as the
scope's view factory unless the caller chose one (``agentnb.agents.scope.set_view_factory``).
The view modules (:mod:`agentnb.views`, and through it the notebook panel) are imported only
when a non-silent chat actually starts.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .agents.scope import set_default_view_factory


def default_view(sync: bool) -> contextlib.AbstractContextManager[Any]:
    """:func:`agentnb.views.default_view`, or the console printer where the notebook views cannot load."""
    try:
        from .views import default_view as notebook_aware_view
    except ImportError:
        from .console import ConsoleView

        return ConsoleView().attach(sync=sync)
    return notebook_aware_view(sync=sync)


def install_defaults() -> None:
    """Register the default view factory (idempotent; a factory the caller set wins)."""
    set_default_view_factory(default_view)

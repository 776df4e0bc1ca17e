"""Demo notebooks run unattended too (nbval, nbclient, Binder's tests): an approver answers instead of a person.

Through the approver seam (:func:`agentnb.human_handlers`), never by clicking widgets: a ChatPanel
shows the requests and the decisions the installed approver made.
"""

from __future__ import annotations

import contextlib

from ..agents.scope import Approver, human_handlers

_session = contextlib.ExitStack()
"""The approvers installed for the session (never closed: they last as long as the kernel)."""


def answer_when_unattended(approver: Approver) -> bool:
    """Let ``approver`` answer every approval request from now on in this kernel session when no widget
    front end is attached (nobody could click); with one (JupyterLab, VS Code), do nothing: the person clicks.

    Returns True when it installed ``approver``. A kernel keeps one context across cells, so the chats
    later cells start (``%%agents`` included) see it.
    """
    from ..views import view_mode

    if view_mode() == "widget":
        return False
    _session.enter_context(human_handlers(approver=approver))
    return True

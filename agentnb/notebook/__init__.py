"""Notebook front end: ``%%agents`` magic, ChatPanel widget, plain rich renderer.

``%load_ext agentnb`` (or ``%load_ext agentnb.notebook``) registers the magics.
Names load lazily so that importing agentnb never imports ipywidgets.
"""

from __future__ import annotations

from typing import Any

from .._lazy import lazy_exports

_EXPORTS = {
    "ChatPanel": "agentnb.notebook.panel",
    "PlainRenderer": "agentnb.notebook.render",
    "ChatHandle": "agentnb.notebook.handle",
    "AgentMagics": "agentnb.notebook.magics",
}

__all__ = sorted([*_EXPORTS, "load_ipython_extension", "unload_ipython_extension"])


def load_ipython_extension(ip: Any) -> None:
    """Register ``%agents`` / ``%%agents`` on the IPython shell ``ip``."""
    from .magics import AgentMagics

    ip.register_magics(AgentMagics)


def unload_ipython_extension(ip: Any) -> None:
    """Remove ``%agents`` / ``%%agents``."""
    for kind in ("line", "cell"):
        ip.magics_manager.magics[kind].pop("agents", None)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, public=__all__)

"""Notebook front end: ``%%agents`` magic, ChatPanel widget, plain rich renderer.

``%load_ext agentnb`` (or ``%load_ext agentnb.notebook``) registers the magics.
Names load lazily so that importing agentnb never imports ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentnb.notebook' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

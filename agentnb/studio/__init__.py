"""agentnb Studio: declarative teams, a gallery, run history and a builder widget, in the notebook.

    from agentnb.studio import dump_team, load_team, gallery, history, studio

    spec = dump_team(user_proxy, assistant, task="Plot sin(x).")   # live agents -> spec
    team = load_team(spec)                                          # spec (or path, dict) -> live agents
    team.run()                                                      # recorded in the run history

Names load lazily: ``import agentnb.studio`` imports neither pydantic nor sqlite3 nor ipywidgets.
The package itself is callable: ``agentnb.studio()`` is ``agentnb.studio.studio()``, the builder.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .._lazy import lazy_exports

_EXPORTS = {
    "TeamSpec": "agentnb.studio.spec",
    "parse_team": "agentnb.studio.spec",
    "json_schema": "agentnb.studio.spec",
    "load_team": "agentnb.studio.build",
    "Team": "agentnb.studio.build",
    "TextMention": "agentnb.studio.build",
    "dump_team": "agentnb.studio.dump",
    "describe_team": "agentnb.studio.dump",
    "StudioCaptureWarning": "agentnb.studio.dump",
    "import_ags": "agentnb.studio.ags",
    "gallery": "agentnb.studio.catalog",
    "gallery_spec": "agentnb.studio.catalog",
    "enable_history": "agentnb.studio._switch",
    "record_history": "agentnb.studio._switch",
    "history": "agentnb.studio.runs",
    "open_run": "agentnb.studio.runs",
    "resume_run": "agentnb.studio.runs",
    "compare_runs": "agentnb.studio.runs",
    "studio": "agentnb.studio.builder",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, public=__all__)


class _CallableStudio(types.ModuleType):
    """``agentnb.studio()`` opens the builder: the package forwards calls to :func:`studio`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return __getattr__("studio")(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableStudio

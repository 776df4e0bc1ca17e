"""The gallery: built-in team specs (JSON files in ``agentnb/studio/gallery/``), to load, run or open in the builder.

    from agentnb.studio import gallery, gallery_spec, load_team
    list(gallery())                       # ['coder', 'data_analysis', 'planner_coder_reviewer', 'tool_assistant']
    team = load_team(gallery_spec("coder"))

Every spec uses the model ``"default"`` (agentnb's default: ``OPENAI_API_KEY`` or the embedded model);
``load_team(spec, models={"default": llm_config})`` runs it on any other endpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError

GALLERY_DIR = Path(__file__).with_name("gallery")


def gallery_names() -> list[str]:
    return sorted(p.stem for p in GALLERY_DIR.glob("*.json"))


def gallery_spec(name: str) -> Any:
    """The gallery's spec called ``name`` (a fresh :class:`~agentnb.studio.spec.TeamSpec` each call)."""
    from .spec import parse_team

    path = GALLERY_DIR / f"{name}.json"
    if name not in gallery_names():
        raise ConfigError(f"no gallery team {name!r}; there are: {', '.join(gallery_names())}")
    return parse_team(path)


class Gallery(dict):
    """``name -> TeamSpec``; shown in a notebook as a short table."""

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(f"<tr><td><code>{escape(name)}</code></td><td>{escape(spec.label or '')}</td>"
                       f"<td>{escape(spec.description or '')}</td></tr>" for name, spec in self.items())
        return f"<table><tr><th>name</th><th>team</th><th>what it does</th></tr>{rows}</table>"


def gallery() -> Gallery:
    """Every built-in team spec, by name."""
    return Gallery((name, gallery_spec(name)) for name in gallery_names())

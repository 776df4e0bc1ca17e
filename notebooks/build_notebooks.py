"""Write the demo notebooks from their one source, :mod:`agentnb.demo`, and execute them (replay mode), saving outputs.

    .venv/bin/python notebooks/build_notebooks.py            # all notebooks
    .venv/bin/python notebooks/build_notebooks.py tools      # just tools.ipynb

The saved outputs come from a real run (AGENTNB_DEMO_MODEL=replay; the embedded-model notebook
runs the embedded model), so GitHub and Binder show what a run prints, and nbval compares against it.
``tests/test_demo_notebooks.py`` checks that the committed notebooks hold the cells this writes.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from agentnb.demo import DEMOS, notebook

HERE = Path(__file__).resolve().parent
RUN_OUTPUTS = ("coding", "exported")
"""Folders a notebook run writes here; removed before and after."""


def build(name: str, execute: bool = True) -> Path:
    nb = notebook(DEMOS[name])
    if execute:
        for leftover in RUN_OUTPUTS:
            shutil.rmtree(HERE / leftover, ignore_errors=True)
        NotebookClient(nb, kernel_name="python3", timeout=300,
                       resources={"metadata": {"path": str(HERE)}}).execute()
        views = [o for c in nb.cells for o in c.get("outputs", [])
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        if not views:  # panels saved themselves as static pages: their widget state is dead weight
            nb.metadata.pop("widgets", None)
    path = HERE / f"{name}.ipynb"
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path


def main(argv: list[str]) -> None:
    os.environ["AGENTNB_DEMO_MODEL"] = "replay"
    os.environ["AGENTNB_LOOPBACK_ONLY"] = "1"
    os.environ.setdefault("AGENTNB_HISTORY", "off")
    for key in ("OPENAI_API_KEY", "OAI_CONFIG_LIST", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AGENTNB_VIEW"):
        os.environ.pop(key, None)
    for name in argv or list(DEMOS):
        print("wrote", build(name))
    for leftover in RUN_OUTPUTS:
        shutil.rmtree(HERE / leftover, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

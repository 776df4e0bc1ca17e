"""Every demo by name, in the order the notebooks are listed."""

from __future__ import annotations

from . import approval, embedded_model, export, groupchat, quickstart, tools
from .base import Demo

DEMOS: dict[str, Demo] = {d.name: d for d in (quickstart.DEMO, groupchat.DEMO, approval.DEMO, tools.DEMO,
                                              export.DEMO, embedded_model.DEMO)}
"""name -> demo; ``notebooks/<name>.ipynb`` is made from ``DEMOS[name]`` (``notebooks/build_notebooks.py``)."""

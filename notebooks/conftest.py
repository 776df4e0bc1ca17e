"""nbval settings for the demo notebooks: replay the recorded conversations, never reach a paid API.

nbval starts each notebook's kernel as a subprocess, which inherits this process's environment.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN_OUTPUTS = ("coding", "exported", ".agentnb")
"""Folders the notebooks write into (relative to this folder); never collected, removed after the run."""

os.environ.setdefault("AGENTNB_DEMO_MODEL", "replay")
os.environ["AGENTNB_LOOPBACK_ONLY"] = "1"
os.environ.setdefault("AGENTNB_HISTORY", "off")  # Studio run history: tests that want it set a path
for _name in ("OPENAI_API_KEY", "OAI_CONFIG_LIST", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AGENTNB_VIEW"):
    os.environ.pop(_name, None)

collect_ignore = ["build_notebooks.py"]
collect_ignore_glob = [f"{folder}/*" for folder in RUN_OUTPUTS]


def _clean() -> None:
    for folder in RUN_OUTPUTS:
        shutil.rmtree(HERE / folder, ignore_errors=True)


def pytest_sessionstart(session):
    _clean()


def pytest_sessionfinish(session, exitstatus):
    _clean()

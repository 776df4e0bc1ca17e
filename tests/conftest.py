"""Shared fixtures. No test may reach a paid API: loopback-only mode and a socket guard are always on."""

from __future__ import annotations

import os

import pytest

from agentnb.testing import ScriptedModelServer, guard_sockets

os.environ["AGENTNB_LOOPBACK_ONLY"] = "1"
guard_sockets()  # any socket connect to a non-loopback IP raises OutsideLoopbackError (unix sockets pass)
os.environ.setdefault("AGENTNB_HISTORY", "off")  # Studio run history: tests that want it set a path
for _name in ("OPENAI_API_KEY", "OAI_CONFIG_LIST", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY"):
    os.environ.pop(_name, None)


@pytest.fixture
def model_server():
    """A started ScriptedModelServer with an empty script; stopped after the test."""
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def tmp_workdir(tmp_path):
    """A fresh working folder under tmp_path (the process cwd is not changed)."""
    path = tmp_path / "work"
    path.mkdir()
    return path

"""The demo notebooks are made from one source (``agentnb.demo``), and their replay and unattended seams work.

``notebooks/build_notebooks.py`` writes ``notebooks/<name>.ipynb`` from ``agentnb.demo.DEMOS[name]``
and runs it; nbval (``./dev test``) runs the committed notebooks. Here: the committed notebooks hold
exactly the generated cells, the replay server answers with the recorded replies over real HTTP on
127.0.0.1, and the unattended approver is installed only when no one could click.
"""

from __future__ import annotations

import contextvars
import socket
from pathlib import Path

import nbformat
import pytest

import agentnb
from agentnb.agents import scope
from agentnb.demo import DEMOS, answer_when_unattended, demo_llm_config, notebook, replay_server, stop_replay_servers
from agentnb.errors import ConfigError
from agentnb.messages import ApprovalDecision
from agentnb.views import set_view_mode

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def cells(nb) -> list[tuple]:
    return [(c.cell_type, c.get("id"), c.source, c.metadata.get("tags", [])) for c in nb.cells]


@pytest.mark.parametrize("name", list(DEMOS))
def test_the_committed_notebook_holds_the_generated_cells(name):
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(committed)
    assert cells(committed) == cells(notebook(DEMOS[name])), \
        f"notebooks/{name}.ipynb is stale: run .venv/bin/python notebooks/build_notebooks.py {name}"


def test_the_saved_outputs_come_from_a_run_of_these_cells():
    for name in DEMOS:
        committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        code = [c for c in committed.cells if c.cell_type == "code"]
        assert code and all(c.execution_count for c in code), name


def test_the_notebooks_use_the_demo_package_only_through_its_public_names():
    for name in DEMOS:
        source = (NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8")
        assert "agentnb.demos" not in source and "approve_when_unattended" not in source


def test_replay_serves_the_recorded_replies_over_http(monkeypatch):
    monkeypatch.setenv("AGENTNB_DEMO_MODEL", "replay")
    try:
        config = demo_llm_config("export")
        assert config["config_list"][0]["base_url"].startswith("http://127.0.0.1:")
        assistant = agentnb.AssistantAgent("assistant", llm_config=config)
        first = assistant.generate_reply(messages=[{"role": "user", "content": "mean of the first primes?"}])
        assert "statistics.mean(primes)" in first
        second = assistant.generate_reply(messages=[{"role": "user", "content": "go"},
                                                    {"role": "assistant", "content": first},
                                                    {"role": "user", "content": "exitcode: 0"}])
        assert "mean 12.9" in second  # chosen by the agent's turn, not by a queue: replays are repeatable
        with pytest.raises(ConfigError, match="no recorded replies for 'critic'"):
            demo_llm_config("export", "critic")
        with pytest.raises(ConfigError, match="no recorded demo 'embedded_model'"):
            demo_llm_config("embedded_model")
        port = replay_server("export").port
    finally:
        stop_replay_servers()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_outside_replay_mode_the_default_model_answers(monkeypatch):
    monkeypatch.delenv("AGENTNB_DEMO_MODEL", raising=False)
    assert demo_llm_config("quickstart") is None


def test_the_unattended_approver_is_installed_only_when_no_one_could_click():
    def policy(request):
        return ApprovalDecision(approved=True)

    def attempt(mode):
        set_view_mode(mode)
        try:
            return answer_when_unattended(policy), scope.approver()
        finally:
            set_view_mode(None)

    # each in a copy of this context: what it installs stays there (as in a kernel session)
    assert contextvars.copy_context().run(attempt, "widget") == (False, None)
    assert contextvars.copy_context().run(attempt, "plain") == (True, policy)
    assert scope.approver() is None

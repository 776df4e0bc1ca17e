"""`agentnb demo`, the README's main job, end to end on the embedded model (and on the scripted server)."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import psutil
import pytest

from agentnb.testing import code


def run_demo(args, cwd, env_extra=None, timeout=600):
    env = dict(os.environ, **(env_extra or {}))
    env.pop("AGENTNB_LOOPBACK_ONLY", None)  # the embedded server is loopback anyway; keep the CLI unguarded
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    proc = subprocess.run([sys.executable, "-m", "agentnb.cli", "demo", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    return proc, left


def executed_code_cells(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    return nb, [c for c in nb.cells if c.cell_type == "code" and c.execution_count]


@pytest.mark.local_model
def test_demo_on_the_embedded_model(tmp_path):
    pytest.importorskip("llama_cpp", reason="the embedded model needs agentnb[local]")
    proc, left = run_demo(["--work-dir", "work"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "embedded local model" in proc.stdout
    assert "executed in a Jupyter kernel" in proc.stdout
    nb, cells = executed_code_cells(tmp_path / "work" / "transcript.ipynb")
    assert cells, "the model's code never ran"
    assert cells[0].outputs  # real outputs captured from the kernel
    assert nb.metadata["agentnb"]["agents"] == ["user_proxy", "assistant"]
    assert not left, f"processes left behind: {left}"


def test_demo_against_an_endpoint(model_server, tmp_path):
    model_server.add(code("print(sum(i * i for i in range(1, 11)))"), "The sum is 385. TERMINATE")
    proc, left = run_demo(["--base-url", model_server.base_url, "--model", "scripted-model",
                           "--work-dir", "w", "--out", "chat.ipynb", "--task", "Sum the squares."],
                          tmp_path, {"OPENAI_API_KEY": "sk-demo-secret-key-000"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "385" in proc.stdout and "1 code block(s) executed in a Jupyter kernel (1 succeeded)" in proc.stdout
    _, cells = executed_code_cells(tmp_path / "chat.ipynb")
    assert "385" in cells[0].outputs[0]["text"]
    assert "sk-demo-secret-key-000" not in (tmp_path / "chat.ipynb").read_text() + proc.stdout + proc.stderr
    assert model_server.requests[0]["messages"][-1]["content"] == "Sum the squares."
    assert not left


def test_demo_reports_an_unreachable_model(tmp_path):
    proc, _ = run_demo(["--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--work-dir", "w"], tmp_path,
                       timeout=120)
    assert proc.returncode == 1
    assert "agentnb demo failed" in proc.stderr and "127.0.0.1:9" in proc.stderr

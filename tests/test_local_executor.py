"""LocalCommandLineExecutor (real subprocesses) and make_executor."""

from __future__ import annotations

import os
import shutil

import pytest

from agentnb.coding import KernelExecutor, LocalCommandLineExecutor, make_executor
from agentnb.coding.base import CodeBlock
from agentnb.errors import ConfigError, DockerUnavailableError


@pytest.fixture
def ex(tmp_path):
    with LocalCommandLineExecutor(tmp_path, timeout=20) as executor:
        yield executor


def test_python_block_runs_in_work_dir(ex):
    seen = []
    result = ex.execute(CodeBlock("import os, sys\nprint(os.getcwd())\nprint('err', file=sys.stderr)"),
                        on_output=seen.append)
    assert result.exit_code == 0
    assert result.output == f"{ex.work_dir}\nerr\n"
    assert seen and seen[0]["output_type"] == "stream"


def test_no_state_between_blocks(ex):
    ex.execute(CodeBlock("x = 1"))
    result = ex.execute(CodeBlock("print(x)"))
    assert result.exit_code == 1 and "NameError" in result.output


def test_sh_exit_code(ex):
    result = ex.execute(CodeBlock("echo hi; exit 4", "sh"))
    assert (result.exit_code, result.output) == (4, "hi\n")


def test_filename_comment(ex):
    result = ex.execute(CodeBlock("# filename: hello.py\nprint('hello')"))
    assert result.output == "hello\n"
    assert os.path.exists(os.path.join(ex.work_dir, "hello.py"))
    escape = ex.execute(CodeBlock("# filename: ../evil.py\nprint(1)"))
    assert escape.exit_code == 1 and "outside the work_dir" in escape.output


def test_timeout_kills_process_group(ex):
    result = ex.execute(CodeBlock("sleep 30 & sleep 30; echo never", "sh"), timeout=1)
    assert result.exit_code == 124 and result.timed_out
    assert "TimeoutError" in result.output and "never" not in result.output


def test_large_output_truncated(ex):
    result = ex.execute(CodeBlock("print('y' * 5_000_000)"))
    assert "[output truncated:" in result.output
    assert len(result.output) < ex.max_output_chars + 200


def test_unsupported(ex):
    assert ex.execute(CodeBlock("x", "rust")).exit_code == 1


def test_make_executor(tmp_path):
    assert make_executor(False) is None
    kernel = make_executor({"work_dir": str(tmp_path), "timeout": 5})
    assert isinstance(kernel, KernelExecutor) and kernel.timeout == 5 and kernel.work_dir == str(tmp_path)
    local = make_executor({"executor": "commandline-local", "work_dir": str(tmp_path), "last_n_messages": 2})
    assert isinstance(local, LocalCommandLineExecutor)
    assert make_executor({"executor": local}) is local
    with pytest.raises(ConfigError, match="commandline-local"):
        make_executor({"executor": "docker-magic"})


def test_make_executor_docker_never_runs_on_host(tmp_path):
    if shutil.which("docker") is None:
        with pytest.raises(DockerUnavailableError, match="not installed"):
            make_executor({"use_docker": True, "work_dir": str(tmp_path)})
    with pytest.raises(DockerUnavailableError, match="nothing was run"):
        make_executor({"use_docker": "python:3-slim", "work_dir": str(tmp_path)})

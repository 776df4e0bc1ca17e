"""``autogen.code_utils`` (0.2): extraction, language inference, subprocess execution, Docker decisions,
virtual envs, and the LLM helpers against the scripted model server."""

from __future__ import annotations

import os
import re
import sys

import pytest

import agentnb as autogen
import agentnb.code_utils
from agentnb.code_utils import (
    CODE_BLOCK_PATTERN,
    DEFAULT_MODEL,
    FAST_MODEL,
    TIMEOUT_MSG,
    UNKNOWN,
    DockerExecutionUnavailable,
    check_can_use_docker_or_throw,
    content_str,
    create_virtual_env,
    decide_use_docker,
    execute_code,
    extract_code,
    improve_code,
    improve_function,
    infer_lang,
    timeout_handler,
)
from agentnb.errors import DockerUnavailableError
from agentnb.testing import ScriptedModelServer, text


def test_module_reachable_as_autogen_code_utils():
    assert autogen.code_utils.extract_code is extract_code
    assert (UNKNOWN, DEFAULT_MODEL, FAST_MODEL, TIMEOUT_MSG) == ("unknown", "gpt-4", "gpt-3.5-turbo", "Timeout")


def test_extract_code_blocks_and_languages():
    reply = "Run this:\n```python\nprint('a')\n```\nthen\n```\necho b\n```\nand ``` sh \nls\n```"
    assert extract_code(reply) == [("python", "print('a')"), ("", "echo b"), ("sh", "ls")]


def test_extract_code_without_block_returns_unknown_and_the_text():
    assert extract_code("no code here") == [(UNKNOWN, "no code here")]


def test_extract_code_from_multimodal_content_and_crlf():
    content = [{"type": "text", "text": "```python\r\nx = 1\r\n```"}, {"type": "image_url", "image_url": {"url": "u"}}]
    assert extract_code(content) == [("python", "x = 1")]


def test_extract_single_line_code():
    found = extract_code("Use `pip install x` or\n```bash\n  ls -l  \n```", detect_single_line_code=True)
    assert found == [("", "pip install x"), ("bash", "ls -l")]
    assert extract_code("plain", detect_single_line_code=True) == []


def test_code_block_pattern_is_the_0_2_regex():
    assert re.findall(CODE_BLOCK_PATTERN, "```py\nx\n  ```", flags=re.DOTALL) == [("py", "x")]


def test_content_str_shapes_and_errors():
    assert content_str(None) == ""
    assert content_str("hi") == "hi"
    assert content_str([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}},
                        {"type": "text", "text": "b"}]) == "a<image>b"
    with pytest.raises(TypeError):
        content_str(42)
    with pytest.raises(TypeError):
        content_str(["text"])
    with pytest.raises(AssertionError):
        content_str([{"text": "no type"}])
    with pytest.raises(ValueError, match="unknown type"):
        content_str([{"type": "audio"}])


def test_infer_lang():
    assert infer_lang("python script.py") == "sh"
    assert infer_lang("pip install numpy") == "sh"
    assert infer_lang("x = 1\nprint(x)") == "python"
    assert infer_lang("ls -la |") == UNKNOWN


def test_execute_code_success_returns_stdout(tmp_path):
    assert execute_code("print(6 * 7)", work_dir=str(tmp_path), use_docker=False) == (0, "42\n", None)
    assert not list(tmp_path.glob("tmp_code_*"))  # the generated file is removed


def test_execute_code_failure_returns_stderr_without_the_path(tmp_path):
    code, logs, image = execute_code("raise ValueError('boom')", work_dir=str(tmp_path), use_docker=False)
    assert code == 1 and image is None
    assert "ValueError: boom" in logs and str(tmp_path) not in logs and "tmp_code_" not in logs


def test_execute_code_timeout_kills_and_reports(tmp_path):
    marker = tmp_path / "late.txt"
    code = f"import time\ntime.sleep(3)\nopen({str(marker)!r}, 'w').write('x')"
    assert execute_code(code, timeout=1, work_dir=str(tmp_path), use_docker=False) == (1, TIMEOUT_MSG, None)
    assert not marker.exists()


def test_execute_code_with_filename_keeps_the_file_and_runs_a_saved_file(tmp_path):
    assert execute_code("print('saved')", filename="script.py", work_dir=str(tmp_path), use_docker=False)[0] == 0
    assert (tmp_path / "script.py").read_text() == "print('saved')"
    assert execute_code(filename="script.py", work_dir=str(tmp_path), use_docker=False) == (0, "saved\n", None)


def test_execute_code_shell_language(tmp_path):
    assert execute_code("echo $((2 + 3))", lang="sh", work_dir=str(tmp_path), use_docker=False) == (0, "5\n", None)


def test_execute_code_needs_code_or_filename():
    with pytest.raises(AssertionError):
        execute_code(use_docker=False)


def test_execute_code_rejects_a_filename_outside_work_dir(tmp_path):
    with pytest.raises(ValueError, match="outside"):
        execute_code("print(1)", filename="../escape.py", work_dir=str(tmp_path), use_docker=False)
    assert not (tmp_path.parent / "escape.py").exists()


def test_execute_code_hides_model_api_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak-123")
    code = "import os; print(os.environ.get('OPENAI_API_KEY'))"
    assert execute_code(code, work_dir=str(tmp_path), use_docker=False)[1] == "None\n"


def test_use_docker_default_follows_env_and_never_runs_on_the_host(tmp_path, monkeypatch):
    marker = tmp_path / "ran.txt"
    code = f"open({str(marker)!r}, 'w').write('x')"
    monkeypatch.delenv("AUTOGEN_USE_DOCKER", raising=False)
    with pytest.raises(RuntimeError, match="Docker"):
        execute_code(code, work_dir=str(tmp_path))
    with pytest.raises(DockerUnavailableError):
        execute_code(code, work_dir=str(tmp_path), use_docker="python:3-slim")
    assert not marker.exists()
    monkeypatch.setenv("AUTOGEN_USE_DOCKER", "False")
    assert execute_code(code, work_dir=str(tmp_path))[0] == 0 and marker.exists()


def test_decide_use_docker(monkeypatch):
    assert decide_use_docker(False) is False and decide_use_docker(True) is True
    for value, expected in [("1", True), ("yes", True), ("T", True), ("0", False), ("No", False),
                            ("f", False), ("None", None)]:
        monkeypatch.setenv("AUTOGEN_USE_DOCKER", value)
        assert decide_use_docker(None) is expected
    monkeypatch.delenv("AUTOGEN_USE_DOCKER")
    assert decide_use_docker(None) is True
    monkeypatch.setenv("AUTOGEN_USE_DOCKER", "maybe")
    with pytest.raises(ValueError, match="AUTOGEN_USE_DOCKER"):
        decide_use_docker(None)


def test_check_can_use_docker_or_throw():
    check_can_use_docker_or_throw(None)
    check_can_use_docker_or_throw(False)
    with pytest.raises(DockerExecutionUnavailable, match='"use_docker": False') as info:
        check_can_use_docker_or_throw(True)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, DockerUnavailableError)


def test_timeout_handler_raises_timeout_error():
    with pytest.raises(TimeoutError):
        timeout_handler(14, None)


def test_create_virtual_env_gives_a_working_interpreter(tmp_path):
    context = create_virtual_env(str(tmp_path / "venv"), with_pip=False)
    assert os.path.isfile(context.env_exe) and os.path.isdir(context.bin_path)
    code, logs, _ = execute_code("import sys; print(sys.prefix)", work_dir=str(tmp_path), use_docker=False)
    assert code == 0 and logs.strip() == sys.prefix  # execute_code keeps using this interpreter
    import subprocess

    out = subprocess.run([context.env_exe, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
    assert os.path.samefile(out.stdout.strip(), tmp_path / "venv")


def test_improve_function_asks_the_model(tmp_path):
    source = tmp_path / "f.py"
    source.write_text("def add(a, b):\n    return a - b\n")
    with ScriptedModelServer([text("def add(a, b):\n    return a + b")]) as server:
        reply, cost = improve_function(str(source), "add", "add correctly", **server.llm_config())
        prompt = server.requests[0]["messages"][-1]["content"]
    assert reply == "def add(a, b):\n    return a + b" and cost == 0
    assert "Improve the function 'add' to achieve the objective 'add correctly'" in prompt
    assert "return a - b" in prompt


def test_improve_code_suggestions_and_followup(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("x = 1\n")
    with ScriptedModelServer(["1. name x better", "suggestions + code"]) as server:
        entry = server.config_list()[0]
        suggestions, _ = improve_code([str(source)], "readability", **entry)
        improved, _ = improve_code([str(source)], "readability", suggest_only=False,
                                   config_list=server.config_list())
        first, second = (r["messages"][-1]["content"] for r in server.requests)
    assert suggestions == "1. name x better" and improved == "suggestions + code"
    assert f"{source}:\nx = 1" in first and "followed by the improved code" not in first
    assert "suggestions for improvement followed by the improved code" in second

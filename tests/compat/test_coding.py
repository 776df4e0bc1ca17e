"""``autogen.coding`` (0.2): LocalCommandLineCodeExecutor with real subprocesses, user functions with
requirements, extractors, the factory, Docker refusal, and use by a real agent."""

import sys
import warnings
from pathlib import Path

import pytest

import agentnb as autogen
import agentnb.coding.func_with_reqs
from agentnb.code_utils import DockerExecutionUnavailable, create_virtual_env
from agentnb.coding import (
    Alias,
    CodeBlock,
    CodeExecutor,
    CodeExecutorFactory,
    CodeExtractor,
    CommandLineCodeResult,
    DockerCommandLineCodeExecutor,
    FunctionWithRequirements,
    ImportFromModule,
    LocalCommandLineCodeExecutor,
    MarkdownCodeExtractor,
    with_requirements,
)
from agentnb.coding.functions import build_functions_module, to_stub
from agentnb.errors import DockerUnavailableError
from agentnb.testing import code


@with_requirements(global_imports=["math", ImportFromModule("statistics", ["mean", Alias("median", "med")])])
def circle_area(radius: float) -> float:
    """Area of a circle."""
    return round(math.pi * radius ** 2, 2)  # noqa: F821 - imported by the functions module


def middle(values: list) -> float:
    return med(values) + mean(values) - mean(values)  # noqa: F821


def plain_add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def run(executor, source: str, language: str = "python") -> CommandLineCodeResult:
    return executor.execute_code_blocks([CodeBlock(code=source, language=language)])


def test_names_resolve_under_autogen_coding():
    assert autogen.coding.LocalCommandLineCodeExecutor is LocalCommandLineCodeExecutor
    assert autogen.coding.func_with_reqs.with_requirements is with_requirements


def test_constructor_defaults_and_validation(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path / "new")
    assert executor.timeout == 60 and executor.work_dir == tmp_path / "new" and executor.work_dir.is_dir()
    assert executor.functions == [] and executor.functions_module == "functions"
    assert executor.execution_policies["python"] and not executor.execution_policies["javascript"]
    assert isinstance(executor.code_extractor, MarkdownCodeExtractor) and isinstance(executor, CodeExecutor)
    with pytest.raises(ValueError, match="Timeout"):
        LocalCommandLineCodeExecutor(timeout=0, work_dir=tmp_path)
    with pytest.raises(ValueError, match="identifier"):
        LocalCommandLineCodeExecutor(work_dir=tmp_path, functions_module="not-a-module")


def test_blocks_run_in_work_dir_stderr_then_stdout(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    result = executor.execute_code_blocks([
        CodeBlock(code="import os, sys\nprint(os.getcwd())\nprint('warn', file=sys.stderr)", language="python"),
        CodeBlock(code="echo from-bash", language="bash")])
    assert result.exit_code == 0
    assert result.output == f"warn\n{tmp_path}\nfrom-bash\n"
    assert Path(result.code_file).parent == tmp_path and result.code_file.endswith(".py")


def test_stops_at_first_failure_and_reports_exit_code(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    result = executor.execute_code_blocks([CodeBlock(code="exit 3", language="sh"),
                                           CodeBlock(code="print('never')", language="python")])
    assert result.exit_code == 3 and "never" not in result.output


def test_timeout_exit_code_124(tmp_path):
    executor = LocalCommandLineCodeExecutor(timeout=1, work_dir=tmp_path)
    result = run(executor, "import time\ntime.sleep(5)\nprint('late')")
    assert result.exit_code == 124 and result.output.endswith("Timeout") and "late" not in result.output


def test_unknown_language_and_filename_rules(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    result = run(executor, "x", "cobol")
    assert (result.exit_code, result.output) == (1, "\nunknown language cobol")
    result = run(executor, "# filename: pkg/hello.py\nprint('named')")
    assert result.exit_code == 0 and (tmp_path / "pkg" / "hello.py").exists()
    assert run(executor, "# filename: ../outside.py\nprint(1)").output == "Filename is not in the workspace"
    assert not (tmp_path.parent / "outside.py").exists()


def test_execution_policies_save_without_running(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, execution_policies={"python": False})
    result = run(executor, "open('ran.txt', 'w').write('x')")
    assert result.exit_code == 0 and result.output.startswith("Code saved to ")
    assert not (tmp_path / "ran.txt").exists() and Path(result.code_file).read_text().startswith("open(")
    html = LocalCommandLineCodeExecutor(work_dir=tmp_path).execute_code_blocks(
        [CodeBlock(code="<p>hi</p>", language="html")])
    assert html.exit_code == 0 and html.code_file.endswith(".html")


def test_sanitize_command_refuses_destructive_shell(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="rm -rf"):
        run(executor, f"rm -rf {tmp_path}", "sh")
    assert (tmp_path / "keep.txt").exists()


def test_restart_warns(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LocalCommandLineCodeExecutor(work_dir=tmp_path).restart()
    assert "not supported" in str(caught[0].message)


def test_user_functions_importable_by_executed_code(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, functions=[circle_area, middle, plain_add])
    result = run(executor, "from functions import circle_area, middle, plain_add\n"
                           "print(circle_area(1.0), middle([1, 5, 9]), plain_add(2, 3))")
    assert result.exit_code == 0, result.output
    assert result.output == "3.14 5 5\n"
    module = (tmp_path / "functions.py").read_text()
    assert "import math" in module and "from statistics import mean, median as med" in module
    assert "@with_requirements" not in module


def test_functions_prompt_lists_stubs(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, functions=[circle_area, plain_add],
                                            functions_module="tools")
    prompt = executor.format_functions_for_prompt()
    assert "module called `tools`" in prompt and "from tools import foo" in prompt
    assert 'def circle_area(radius: float) -> float:\n    """Area of a circle."""\n    ...' in prompt
    assert to_stub(plain_add) in prompt


def test_functions_that_fail_to_load_raise(tmp_path):
    broken = FunctionWithRequirements.from_str("def f():\n    return 1\n", global_imports=["no_such_module_xyz"])
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, functions=[broken])
    with pytest.raises(ValueError, match="Functions failed to load"):
        run(executor, "print(1)")


def test_function_from_string(tmp_path):
    fn = FunctionWithRequirements.from_str("def triple(x: int) -> int:\n    return 3 * x\n")
    assert fn._func_name == "triple" and to_stub(fn) == "def triple(x: int) -> int:\n    ..."
    with pytest.raises(NotImplementedError):
        fn(2)
    with pytest.raises(ValueError, match="exactly one function"):
        FunctionWithRequirements.from_str("x = 1")
    with pytest.raises(ValueError, match="Could not compile"):
        FunctionWithRequirements.from_str("def broken(:")
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, functions=[fn])
    assert run(executor, "from functions import triple\nprint(triple(4))").output == "12\n"


@with_requirements(python_packages=[], global_imports=["json"])
def dumps_sorted(value: dict) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def test_with_requirements_keeps_the_function_callable():
    assert dumps_sorted({"b": 1, "a": 2}) == '{"a": 2, "b": 1}' and dumps_sorted.__name__ == "dumps_sorted"
    assert isinstance(circle_area, FunctionWithRequirements)
    assert "import math" in build_functions_module([circle_area])


def test_virtual_env_context_is_used(tmp_path):
    venv = create_virtual_env(str(tmp_path / "venv"), with_pip=False)
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, virtual_env_context=venv)
    result = run(executor, "import sys; print(sys.prefix)")
    assert Path(result.output.strip()).samefile(tmp_path / "venv")
    shell = run(executor, "which python", "sh")
    assert Path(shell.output.strip()).parent.samefile(venv.bin_path)
    assert Path(sys.prefix).resolve() != (tmp_path / "venv").resolve()


def test_markdown_code_extractor():
    extractor = MarkdownCodeExtractor()
    assert isinstance(extractor, CodeExtractor)
    blocks = extractor.extract_code_blocks("a\n```python\nx = 1\n```\n```\nprint(2)\n```\n```\n}{ nope\n```")
    assert [(b.language, b.code) for b in blocks] == [("python", "x = 1"), ("python", "print(2)"), ("", "}{ nope")]
    assert extractor.extract_code_blocks("no code") == []


def test_factory(tmp_path):
    local = CodeExecutorFactory.create({"executor": "commandline-local",
                                        "commandline-local": {"work_dir": str(tmp_path), "timeout": 5}})
    assert isinstance(local, LocalCommandLineCodeExecutor) and local.timeout == 5
    assert CodeExecutorFactory.create({"executor": local}) is local
    with pytest.raises(ValueError, match="Unknown code executor"):
        CodeExecutorFactory.create({"executor": "quantum"})
    with pytest.raises(DockerExecutionUnavailable):
        CodeExecutorFactory.create({"executor": "commandline-docker"})


def test_docker_executor_refuses(tmp_path):
    with pytest.raises(DockerUnavailableError, match="nothing was run"):
        DockerCommandLineCodeExecutor(work_dir=tmp_path)
    with pytest.raises(RuntimeError):
        DockerCommandLineCodeExecutor()


def test_agent_uses_the_0_2_executor_and_its_functions(model_server, tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, functions=[plain_add])
    model_server.add(code("from functions import plain_add\nprint('sum', plain_add(40, 2))"), "TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    proxy = autogen.UserProxyAgent("proxy", human_input_mode="NEVER",
                                   code_execution_config={"executor": executor})
    result = proxy.initiate_chat(assistant, message="add", silent=True)
    reply = result.chat_history[2]["content"]
    assert "exitcode: 0" in reply and "sum 42" in reply


class NotebookStyleExecutor:
    """A user's own executor written against 0.2's CodeExecutor protocol (no agentnb base class)."""

    def __init__(self):
        self.namespace: dict = {}
        self.restarts = 0

    @property
    def code_extractor(self) -> CodeExtractor:
        return MarkdownCodeExtractor()

    def execute_code_blocks(self, code_blocks):
        import contextlib
        import io

        from agentnb.coding import CodeResult

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            for block in code_blocks:
                exec(block.code, self.namespace)
        return CodeResult(exit_code=0, output=buffer.getvalue())

    def restart(self):
        self.restarts += 1


def test_make_executor_wraps_a_0_2_protocol_executor():
    from agentnb._aio import run_sync
    from agentnb.coding import make_executor
    from agentnb.coding.compat import ProtocolExecutor

    custom = NotebookStyleExecutor()
    executor = make_executor({"executor": custom})
    assert isinstance(executor, ProtocolExecutor) and "python" in executor.languages
    seen = []
    result = executor.execute(CodeBlock(code="x = 2\nprint(x * 21)", language="python"), on_output=seen.append)
    assert (result.exit_code, result.output) == (0, "42\n") and seen[0]["text"] == "42\n"
    run_sync(executor.a_restart())
    assert custom.restarts == 1


def test_agent_accepts_a_0_2_protocol_executor(model_server):
    custom = NotebookStyleExecutor()
    model_server.add(code("answer = 6 * 7"), code("print('answer:', answer)"), "TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    proxy = autogen.UserProxyAgent("proxy", human_input_mode="NEVER", code_execution_config={"executor": custom})
    result = proxy.initiate_chat(assistant, message="go", silent=True)
    assert "answer: 42" in result.chat_history[4]["content"] and custom.namespace["answer"] == 42


def test_agent_accepts_0_2_factory_form(model_server, tmp_path):
    model_server.add(code("import os\nprint(os.getcwd())"), "TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    proxy = autogen.UserProxyAgent("proxy", human_input_mode="NEVER", code_execution_config={
        "executor": "commandline-local", "commandline-local": {"work_dir": str(tmp_path), "timeout": 10}})
    result = proxy.initiate_chat(assistant, message="go", silent=True)
    assert str(tmp_path) in result.chat_history[2]["content"]
    assert list(tmp_path.glob("tmp_code_*.py"))  # 0.2's executor wrote the file where configured


def _tiny_wheel(folder: Path) -> Path:
    """A pure-Python wheel built by hand (no build backend, no index needed)."""
    import base64
    import hashlib
    import zipfile

    files = {"agentnb_demo_pkg/__init__.py": "VALUE = 7\n",
             "agentnb_demo_pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: agentnb-demo-pkg\nVersion: 1.0\n",
             "agentnb_demo_pkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                     "Tag: py3-none-any\n"}
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append("agentnb_demo_pkg-1.0.dist-info/RECORD,,")
    files["agentnb_demo_pkg-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    path = folder / "agentnb_demo_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)
    return path


@pytest.mark.slow
def test_function_requirements_are_installed_into_the_virtual_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip may only use the local wheel
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    wheel = _tiny_wheel(tmp_path)
    venv = create_virtual_env(str(tmp_path / "venv"))

    @with_requirements(python_packages=[str(wheel)], global_imports=["agentnb_demo_pkg"])
    def demo_value() -> int:
        return agentnb_demo_pkg.VALUE * 6  # noqa: F821 - imported by the functions module

    work = tmp_path / "work"
    executor = LocalCommandLineCodeExecutor(work_dir=work, virtual_env_context=venv, functions=[demo_value],
                                            timeout=120)
    result = run(executor, "from functions import demo_value\nprint(demo_value())")
    assert (result.exit_code, result.output) == (0, "42\n")
    import importlib.util

    assert importlib.util.find_spec("agentnb_demo_pkg") is None  # installed in the venv, not here


def test_0_2_coding_module_paths():
    import importlib

    paths = {"local_commandline_code_executor": "LocalCommandLineCodeExecutor",
             "markdown_code_extractor": "MarkdownCodeExtractor", "factory": "CodeExecutorFactory",
             "docker_commandline_code_executor": "DockerCommandLineCodeExecutor", "func_with_reqs": "with_requirements"}
    for module, name in paths.items():
        assert getattr(importlib.import_module(f"agentnb.coding.{module}"), name) is getattr(autogen.coding, name)

"""AutoGen 0.2's ``autogen.coding`` executors and helpers, as agentnb executors.

    executor = LocalCommandLineCodeExecutor(timeout=10, work_dir="coding")
    executor.execute_code_blocks([CodeBlock(code="print('hi')", language="python")])
    # CommandLineCodeResult(exit_code=0, output='hi\\n', code_file='.../tmp_code_....py')

Each executor here is also an agentnb :class:`~agentnb.coding.base.CodeExecutor`, so it can be given to an
agent as ``code_execution_config={"executor": executor}`` (approval and streaming views included).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from string import Template
from types import SimpleNamespace
from typing import Any, ClassVar, Protocol, runtime_checkable

from .._aio import run_sync
from ..code_utils import (
    CODE_BLOCK_PATTERN,
    PYTHON_VARIANTS,
    TIMEOUT_MSG,
    UNKNOWN,
    DockerExecutionUnavailable,
    _cmd,
    check_can_use_docker_or_throw,
    content_str,
    infer_lang,
)
from ..errors import UnsafePathError
from . import proctree
from .base import CodeBlock, CodeExecutor, CodeResult, OutputCallback, execution_env
from .functions import UserFunction, build_functions_module, required_packages, to_stub
from .local import stop_block
from .safepath import resolve_root, write_file

logger = logging.getLogger(__name__)


@dataclass
class CommandLineCodeResult(CodeResult):
    """A command-line executor's result: also the file the (first) code block was saved to."""

    code_file: str | None = None


@dataclass
class IPythonCodeResult(CodeResult):
    """A Jupyter/IPython executor's result: also the files written for rich outputs (images, HTML)."""

    output_files: list[str] | None = None


@runtime_checkable
class CodeExtractor(Protocol):
    """Finds code blocks in a message."""

    def extract_code_blocks(self, message: str | list[dict[str, Any]] | None) -> list[CodeBlock]: ...


class MarkdownCodeExtractor:
    """Markdown fenced blocks; an untagged block gets :func:`infer_lang`'s guess (``""`` if unknown)."""

    def extract_code_blocks(self, message: str | list[dict[str, Any]] | None) -> list[CodeBlock]:
        blocks = []
        for lang, code in re.findall(CODE_BLOCK_PATTERN, content_str(message), flags=re.DOTALL):
            if lang == "":
                lang = infer_lang(code)
            blocks.append(CodeBlock(code=code, language="" if lang == UNKNOWN else lang))
        return blocks


_FILENAME_PATTERNS = [
    re.compile(r"^<!--\s*(?:filename:)?\s*(.+?)\s*-->", re.DOTALL),
    re.compile(r"^/\*\s*(?:filename:)?\s*(.+?)\s*\*/", re.DOTALL),
    re.compile(r"^//\s*(?:filename:)?\s*(.+?)\s*$", re.DOTALL),
    re.compile(r"^#\s*filename:\s*(.+?)\s*$", re.DOTALL),
]


def file_name_from_content(code: str, workspace: Path) -> str | None:
    """The ``filename:`` named on the first line, relative to ``workspace``; ``ValueError`` if outside it."""
    first = code.split("\n", 1)[0].strip()
    for pattern in _FILENAME_PATTERNS:
        match = pattern.match(first)
        if match:
            path = Path(match.group(1).strip())
            path = (path if path.is_absolute() else workspace / path).resolve()
            return str(path.relative_to(workspace.resolve()))
    return None


def silence_pip(code: str, lang: str) -> str:
    """Add ``-qqq`` to ``pip install`` lines (``!pip install`` in Python)."""
    if lang == "python":
        regex = r"^! ?pip install"
    elif lang in ("bash", "shell", "sh", "pwsh", "powershell", "ps1"):
        regex = r"^pip install"
    else:
        return code
    lines = code.split("\n")
    for i, line in enumerate(lines):
        match = re.search(regex, line)
        if match is not None and "-qqq" not in line:
            lines[i] = line.replace(match.group(0), match.group(0) + " -qqq")
    return "\n".join(lines)


class LocalCommandLineCodeExecutor(CodeExecutor):
    """Runs each block as a file in its own process on this machine, in ``work_dir`` (AutoGen 0.2's class).

    Args: ``timeout`` (s, ≥ 1), ``work_dir`` (created), ``functions`` made importable from
    ``functions_module``, ``virtual_env_context`` (from :func:`~agentnb.code_utils.create_virtual_env`),
    ``execution_policies`` (language → run it, or only save the file).
    """

    name = "commandline-local"
    SUPPORTED_LANGUAGES: ClassVar[list[str]] = [
        "bash", "shell", "sh", "pwsh", "powershell", "ps1", "python", "javascript", "html", "css"]
    DEFAULT_EXECUTION_POLICY: ClassVar[dict[str, bool]] = {
        "bash": True, "shell": True, "sh": True, "pwsh": True, "powershell": True, "ps1": True,
        "python": True, "javascript": False, "html": False, "css": False}
    FUNCTION_PROMPT_TEMPLATE: ClassVar[str] = (
        "You have access to the following user defined functions. They can be accessed from the module called "
        "`$module_name` by their function names.\n\nFor example, if there was a function called `foo` you could "
        "import it by writing `from $module_name import foo`\n\n$functions")
    languages = frozenset([*SUPPORTED_LANGUAGES, "py"])

    def __init__(self, timeout: int = 60, virtual_env_context: SimpleNamespace | None = None,
                 work_dir: Path | str = Path("."), functions: list[UserFunction] | None = None,
                 functions_module: str = "functions", execution_policies: dict[str, bool] | None = None):
        if timeout < 1:
            raise ValueError("Timeout must be greater than or equal to 1.")
        if not functions_module.isidentifier():
            raise ValueError("Module name must be a valid Python identifier")
        self._timeout = timeout
        self._work_dir = Path(work_dir)
        self._root = resolve_root(self._work_dir)  # writes below it never follow a link out (safepath)
        self._virtual_env_context = virtual_env_context
        self._functions = list(functions or [])
        self._functions_module = functions_module
        self._setup_functions_complete = not self._functions
        self.execution_policies = dict(self.DEFAULT_EXECUTION_POLICY)
        self.execution_policies.update(execution_policies or {})

    # -- 0.2's properties ------------------------------------------------------------------
    @property
    def timeout(self) -> int:
        return self._timeout

    @property
    def work_dir(self) -> Path:
        return self._work_dir

    @property
    def functions(self) -> list[UserFunction]:
        return self._functions

    @property
    def functions_module(self) -> str:
        return self._functions_module

    @property
    def code_extractor(self) -> CodeExtractor:
        return MarkdownCodeExtractor()

    def format_functions_for_prompt(self, prompt_template: str = FUNCTION_PROMPT_TEMPLATE) -> str:
        """``prompt_template`` with ``$module_name`` and ``$functions`` (stubs) filled in."""
        return Template(prompt_template).substitute(
            module_name=self._functions_module, functions="\n\n".join(to_stub(f) for f in self._functions))

    @staticmethod
    def sanitize_command(lang: str, code: str) -> None:
        """``ValueError`` for a few self-destructive shell commands (a guard rail, not a sandbox)."""
        dangerous = [
            (r"\brm\s+-rf\b", "Use of 'rm -rf' command is not allowed."),
            (r"\bmv\b.*?\s+/dev/null", "Moving files to /dev/null is not allowed."),
            (r"\bdd\b", "Use of 'dd' command is not allowed."),
            (r">\s*/dev/sd[a-z][1-9]?", "Overwriting disk blocks directly is not allowed."),
            (r":\(\)\{\s*:\|\:&\s*\};:", "Fork bombs are not allowed."),
        ]
        if lang in ("bash", "shell", "sh"):
            for pattern, message in dangerous:
                if re.search(pattern, code):
                    raise ValueError(f"Potentially dangerous command detected: {message}")

    def restart(self) -> None:
        warnings.warn("Restarting local command line code executor is not supported. No action is taken.",
                      stacklevel=2)

    # -- running -----------------------------------------------------------------------------
    def execute_code_blocks(self, code_blocks: list[CodeBlock]) -> CommandLineCodeResult:
        """Run the blocks in order, stopping at the first failure (0.2's API)."""
        return run_sync(self.a_execute_code_blocks(code_blocks))

    async def a_execute_code_blocks(self, code_blocks: list[CodeBlock],
                                    timeout: float | None = None) -> CommandLineCodeResult:
        if not self._setup_functions_complete:
            await self._setup_functions()
        return await self._run_blocks(code_blocks, self._timeout if timeout is None else timeout)

    async def a_execute(self, block: CodeBlock, *, on_output: OutputCallback | None = None,
                        timeout: float | None = None) -> CodeResult:
        """agentnb's executor interface: one block; a refused command is a failed result, not an exception."""
        try:
            result = await self.a_execute_code_blocks([block], timeout=timeout)
        except ValueError as exc:
            result = CommandLineCodeResult(exit_code=1, output=f"Error: {exc}")
        if on_output is not None and result.output:
            on_output({"output_type": "stream", "name": "stdout", "text": result.output})
        result.outputs = [{"output_type": "stream", "name": "stdout", "text": result.output}] if result.output else []
        return result

    async def _setup_functions(self) -> None:
        source = build_functions_module(self._functions)
        write_file(self._root, f"{self._functions_module}.py", source.encode("utf-8"))
        packages = required_packages(self._functions)
        if packages:
            logger.info("Ensuring packages are installed in executor.")
            code, out, err = await self._exec([self._python(), "-m", "pip", "install", *packages],
                                              float(self._timeout))
            if code is None:
                raise ValueError("Pip install timed out")
            if code != 0:
                raise ValueError(f"Pip install failed. {out}, {err}")
        check = await self._run_blocks([CodeBlock(code=source, language="python")], float(self._timeout))
        if check.exit_code != 0:
            raise ValueError(f"Functions failed to load: {check.output}")
        self._setup_functions_complete = True

    def _python(self) -> str:
        return self._virtual_env_context.env_exe if self._virtual_env_context else sys.executable

    async def _run_blocks(self, code_blocks: list[CodeBlock], timeout: float) -> CommandLineCodeResult:
        logs = ""
        files: list[Path] = []
        exit_code = 0
        for block in code_blocks:
            lang = block.language.lower()
            lang = "python" if lang == "py" else lang
            code = silence_pip(block.code, lang)
            self.sanitize_command(lang, code)
            if lang not in self.SUPPORTED_LANGUAGES:
                exit_code = 1
                logs += f"\nunknown language {lang}"
                break
            try:
                filename = file_name_from_content(code, self._work_dir)
            except ValueError:
                return CommandLineCodeResult(exit_code=1, output="Filename is not in the workspace")
            if filename is None:
                digest = hashlib.md5(code.encode()).hexdigest()
                filename = f"tmp_code_{digest}.{'py' if lang.startswith('python') else lang}"
            try:
                path = Path(write_file(self._root, filename, code.encode("utf-8", "surrogatepass")))
            except UnsafePathError as exc:
                return CommandLineCodeResult(exit_code=1, output=f"Error: {exc}")
            files.append(path)
            if not self.execution_policies.get(lang, False):
                logs += f"Code saved to {path}\n"
                continue
            program = self._python() if lang in PYTHON_VARIANTS or lang.startswith("python") else _cmd(lang)
            code_rc, out, err = await self._exec([program, str(path)], timeout)
            if code_rc is None:
                logs += "\n" + TIMEOUT_MSG
                exit_code = 124
                break
            logs += err + out
            exit_code = code_rc
            if exit_code != 0:
                break
        return CommandLineCodeResult(exit_code=exit_code, output=logs, code_file=str(files[0]) if files else None,
                                     timed_out=exit_code == 124)

    async def _exec(self, argv: list[str], timeout: float) -> tuple[int | None, str, str]:
        env = execution_env()
        if self._virtual_env_context is not None:
            env["PATH"] = f"{os.path.abspath(self._virtual_env_context.bin_path)}{os.pathsep}{env.get('PATH', '')}"
        proctree.make_undumpable()  # model code must not read our environ or memory
        supervised = proctree.supervision_enabled()  # the block's whole process tree ends with it (Linux)
        proc = await asyncio.create_subprocess_exec(
            *(proctree.supervised(argv) if supervised else argv), cwd=self._work_dir,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            return None, "", ""
        finally:
            if proc.returncode is None:
                await asyncio.shield(stop_block(proc, supervised))
        return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


class _AnyLanguage(frozenset[str]):
    """Every language: the wrapped executor decides what it can run."""

    def __contains__(self, item: object) -> bool:
        return True


class ProtocolExecutor(CodeExecutor):
    """An AutoGen 0.2 executor (any object with ``execute_code_blocks``, e.g. a user's own class) used
    through agentnb's interface; each block runs in a worker thread so the chat's loop stays free."""

    name = "autogen-0.2-executor"
    languages = _AnyLanguage()

    def __init__(self, executor: Any):
        self.executor = executor

    async def a_execute(self, block: CodeBlock, *, on_output: OutputCallback | None = None,
                        timeout: float | None = None) -> CodeResult:
        result = await asyncio.to_thread(self.executor.execute_code_blocks, [block])
        output = str(getattr(result, "output", ""))
        outputs = [{"output_type": "stream", "name": "stdout", "text": output}] if output else []
        if on_output is not None and outputs:
            on_output(dict(outputs[0]))
        return CodeResult(exit_code=int(getattr(result, "exit_code", 1)), output=output, outputs=outputs)

    async def a_restart(self) -> None:
        restart = getattr(self.executor, "restart", None)
        if restart is not None:
            await asyncio.to_thread(restart)


LocalCommandlineCodeExecutor = LocalCommandLineCodeExecutor  # 0.2's deprecated spelling
CommandlineCodeResult = CommandLineCodeResult


class DockerCommandLineCodeExecutor:
    """AutoGen 0.2's Docker executor: not supported by agentnb; constructing one raises
    :class:`~agentnb.code_utils.DockerExecutionUnavailable` (a ``RuntimeError``) and nothing runs."""

    def __init__(self, image: str = "python:3-slim", *args: Any, **kwargs: Any):
        check_can_use_docker_or_throw(image)


class CodeExecutorFactory:
    """Builds an executor from ``code_execution_config`` (0.2's ``CodeExecutorFactory.create``)."""

    @staticmethod
    def create(code_execution_config: dict[str, Any]) -> Any:
        """``executor``: an executor instance, ``"commandline-local"``, ``"ipython-embedded"`` or
        ``"jupyter-local"``; options under the key of the same name. ``ValueError`` otherwise."""
        executor = code_execution_config.get("executor")
        if isinstance(executor, CodeExecutor) or (
                not isinstance(executor, str) and callable(getattr(executor, "execute_code_blocks", None))):
            return executor
        if executor == "commandline-local":
            return LocalCommandLineCodeExecutor(**code_execution_config.get("commandline-local", {}))
        if executor == "ipython-embedded":
            from .jupyter import EmbeddedIPythonCodeExecutor

            return EmbeddedIPythonCodeExecutor(**code_execution_config.get("ipython-embedded", {}))
        if executor in ("jupyter-local", "jupyter"):
            from .jupyter import JupyterCodeExecutor, LocalJupyterServer

            return JupyterCodeExecutor(LocalJupyterServer(), **code_execution_config.get(executor, {}))
        if executor in ("commandline-docker", "docker"):
            raise DockerExecutionUnavailable(
                f"executor {executor!r}: agentnb does not run code in Docker; nothing was run. "
                "Use 'commandline-local' or 'ipython-embedded'.")
        raise ValueError(f"Unknown code executor {executor}")

"""AutoGen 0.2's ``autogen.code_utils``: find code in messages, run it in a subprocess, ask a model to improve it.

    from autogen.code_utils import extract_code, execute_code
    extract_code("```python\\nprint(1)\\n```")                 # [("python", "print(1)")]
    execute_code("print(6 * 7)", use_docker=False)            # (0, "42\\n", None)

Differences from 0.2, on purpose: Docker execution is not supported, so ``use_docker`` true (the 0.2
default, also via ``AUTOGEN_USE_DOCKER``) raises :class:`DockerExecutionUnavailable` and never falls
back to the host (not even inside a container); executed code does not see model API keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import venv
from types import SimpleNamespace
from typing import Any

from .errors import DockerUnavailableError

logger = logging.getLogger(__name__)

SENTINEL = object()
DEFAULT_MODEL = "gpt-4"
FAST_MODEL = "gpt-3.5-turbo"
CODE_BLOCK_PATTERN = r"```[ \t]*(\w+)?[ \t]*\r?\n(.*?)\r?\n[ \t]*```"
"""A fenced block: optional language word after the fence, the code, a closing fence on its own line."""
UNKNOWN = "unknown"
TIMEOUT_MSG = "Timeout"
DEFAULT_TIMEOUT = 600
WIN32 = sys.platform == "win32"
PATH_SEPARATOR = "\\" if WIN32 else "/"
PYTHON_VARIANTS = ["python", "Python", "py"]
WORKING_DIR = "extensions"
"""Default ``work_dir`` of :func:`execute_code`, relative to the current directory (0.2 used its package dir)."""


class DockerExecutionUnavailable(DockerUnavailableError, RuntimeError):
    """Docker execution was requested; agentnb does not run code in Docker and never falls back to the host.

    A ``RuntimeError`` (what 0.2 raises here) and an agentnb ``DockerUnavailableError``.
    """


def content_str(content: str | list | None) -> str:
    """The text of a message's ``content``: text parts joined, each image part as ``<image>``.

    Raises ``TypeError`` for content that is not None/str/list or list items that are not dicts,
    ``AssertionError`` for a part without ``type``, ``ValueError`` for an unknown part type (as 0.2).
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TypeError(f"content must be None, str, or list, but got {type(content)}")
    text = []
    for item in content:
        if not isinstance(item, dict):
            raise TypeError("Wrong content format: every element should be dict if the content is a list.")
        if "type" not in item:
            raise AssertionError("Wrong content format. Missing 'type' key in content's dict.")
        if item["type"] == "text":
            text.append(item["text"])
        elif item["type"] == "image_url":
            text.append("<image>")
        else:
            raise ValueError(f"Wrong content format: unknown type {item['type']} within the content")
    return "".join(text)


def infer_lang(code: str) -> str:
    """``sh`` for a ``python ...``/``pip ...`` command line, ``python`` if it compiles, else :data:`UNKNOWN`."""
    if code.startswith(("python ", "pip", "python3 ")):
        return "sh"
    try:
        compile(code, "test", "exec")
    except (SyntaxError, ValueError):
        return UNKNOWN
    return "python"


def extract_code(text: str | list, pattern: str = CODE_BLOCK_PATTERN,
                 detect_single_line_code: bool = False) -> list[tuple[str, str]]:
    """``(language, code)`` for each fenced block; ``[("unknown", text)]`` when there is none.

    An untagged block has language ``""``. With ``detect_single_line_code``, inline `code` spans
    are returned too (language ``""``) and code is stripped; no match then gives ``[]``.
    """
    text = content_str(text)
    if not detect_single_line_code:
        found = re.findall(pattern, text, flags=re.DOTALL)
        return found if found else [(UNKNOWN, text)]
    extracted = []
    for lang, block, inline in re.findall(CODE_BLOCK_PATTERN + r"|`([^`]+)`", text, flags=re.DOTALL):
        if block:
            extracted.append((lang.strip(), block.strip()))
        elif inline:
            extracted.append(("", inline.strip()))
    return extracted


def timeout_handler(signum: int, frame: Any) -> None:
    """A ``SIGALRM`` handler that raises ``TimeoutError`` (0.2's helper for timing out blocking code)."""
    raise TimeoutError("Timed out!")


def _cmd(lang: str) -> str:
    """The interpreter command for ``lang``; ``NotImplementedError`` for a language that cannot run here."""
    if lang in PYTHON_VARIANTS:
        return "python"
    if lang.startswith("python") or lang in ("bash", "sh"):
        return lang
    if lang == "shell":
        return "sh"
    if lang == "javascript":
        return "node"
    if lang in ("ps1", "pwsh", "powershell"):
        for program in ("pwsh", "powershell"):
            if shutil.which(program):
                return program
        raise FileNotFoundError("Neither powershell nor pwsh is installed; cannot run a PowerShell block.")
    raise NotImplementedError(f"{lang} not recognized in code execution")


def in_docker_container() -> bool:
    """True if this process runs inside a Docker container."""
    return os.path.exists("/.dockerenv")


def is_docker_running() -> bool:
    """Whether a Docker engine answers (``docker info`` within 10 s); agentnb never runs code there."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        subprocess.run([docker, "info"], capture_output=True, timeout=10, check=True)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def decide_use_docker(use_docker: bool | None) -> bool | None:
    """``use_docker`` itself, or (when None) the ``AUTOGEN_USE_DOCKER`` variable, which defaults to True.

    Accepts 1/true/yes/t, 0/false/no/f and "none" (any case); anything else raises ``ValueError``.
    """
    if use_docker is not None:
        return use_docker
    raw = os.environ.get("AUTOGEN_USE_DOCKER", "True")
    value = raw.lower()
    if value in {"1", "true", "yes", "t"}:
        return True
    if value in {"0", "false", "no", "f"}:
        return False
    if value == "none":
        return None
    raise ValueError(f"Invalid value for AUTOGEN_USE_DOCKER: {raw}. Please set AUTOGEN_USE_DOCKER to "
                     '"1/True/yes", "0/False/no", or "None".')


def check_can_use_docker_or_throw(use_docker: Any) -> None:
    """Raise :class:`DockerExecutionUnavailable` when ``use_docker`` asks for Docker (True, an image, a list)."""
    if use_docker is None or use_docker is False or use_docker == []:
        return
    installed = shutil.which("docker") is not None
    why = ("the docker command is installed, but agentnb does not run code in Docker" if installed
           else "Docker is not installed, and agentnb does not run code in Docker anyway")
    raise DockerExecutionUnavailable(
        f"Code execution is set to run in Docker (use_docker={use_docker!r}, the AutoGen default) but {why}; "
        "nothing was run.\nThe options available are:\n"
        '- Set "use_docker": False in code_execution_config (code then runs in a local Jupyter kernel)\n'
        '- Set AUTOGEN_USE_DOCKER to "0/False/no" in your environment variables')


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def execute_code(code: str | None = None, timeout: float | None = None, filename: str | None = None,
                 work_dir: str | None = None, use_docker: Any = SENTINEL,
                 lang: str | None = "python") -> tuple[int, str, str | None]:
    """Run ``code`` (or the file ``filename``) in a subprocess in ``work_dir``: ``(exit_code, logs, None)``.

    ``logs`` is stdout on success, stderr (with the file's path removed) on failure, and ``"Timeout"``
    (exit code 1) when ``timeout`` (default 600 s) runs out; the process group is then killed.
    A generated ``tmp_code_<md5>`` file is deleted afterwards; a given ``filename`` is kept and must lie
    inside ``work_dir``. ``use_docker`` left unset follows ``AUTOGEN_USE_DOCKER`` (default True → error).
    """
    if code is None and filename is None:
        msg = f"Either {code=} or {filename=} must be provided."
        logger.error(msg)
        raise AssertionError(msg)
    if use_docker is SENTINEL:
        use_docker = decide_use_docker(None)
    check_can_use_docker_or_throw(use_docker)
    timeout = timeout or DEFAULT_TIMEOUT
    lang = lang or "python"
    work_dir = os.path.abspath(work_dir if work_dir is not None else WORKING_DIR)
    original_filename = filename
    if filename is None:
        assert code is not None
        digest = hashlib.md5(code.encode()).hexdigest()
        filename = f"tmp_code_{digest}.{'py' if lang.startswith('python') else lang}"
    filepath = os.path.abspath(os.path.join(work_dir, filename))
    if not _inside(work_dir, filepath):
        raise ValueError(f"filename {filename!r} is outside work_dir {work_dir!r}")
    program = sys.executable if lang.startswith("python") or lang in PYTHON_VARIANTS else _cmd(lang)
    os.makedirs(os.path.dirname(filepath), exist_ok=True)
    if code is not None:
        with open(filepath, "w", encoding="utf-8") as f:
            f.write(code)
    try:
        returncode, stdout, stderr = _run([program, filepath], work_dir, timeout)
    finally:
        if original_filename is None:
            with contextlib.suppress(OSError):
                os.remove(filepath)
    if returncode is None:
        return 1, TIMEOUT_MSG, None
    if not returncode:
        return 0, stdout, None
    if original_filename is None:
        logs = stderr.replace(filepath, "").replace(filename, "")
    else:
        logs = stderr.replace(work_dir + os.sep, "")
    return returncode, logs, None


def _run(argv: list[str], cwd: str, timeout: float) -> tuple[int | None, str, str]:
    """Run ``argv`` in its own session; on timeout kill the whole group and return ``None`` as the code."""
    from .coding.base import execution_env  # lazily: agentnb.coding imports this module

    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=execution_env(), start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, "", ""
    return proc.returncode, stdout, stderr


def create_virtual_env(dir_path: str, **env_args: Any) -> SimpleNamespace:
    """Create a Python virtual environment at ``dir_path`` (``venv.EnvBuilder(**env_args)``, default
    ``with_pip=True``) and return its context (``env_exe``, ``bin_path``, ...)."""
    builder = venv.EnvBuilder(**(env_args or {"with_pip": True}))
    builder.create(dir_path)
    return builder.ensure_directories(dir_path)


_IMPROVE_FUNCTION_PROMPT = """Improve the function '{func_name}' to achieve the objective '{objective}'.
The current implementation of the function is as follows:
{file_string}"""

_IMPROVE_CODE_PROMPT = """Analyze the code in the following files and return a list of suggestions for \
improvement{followup}, to achieve the objective of '{objective}'.
{code}
"""


def improve_function(file_name: str, func_name: str, objective: str, **config: Any) -> tuple[str, float]:
    """Ask the model to improve ``func_name`` in ``file_name``: ``(reply text, cost in USD)``.

    ``config`` is an ``llm_config`` (``config_list=...``) or one entry's keys (``model``, ``api_key``,
    ``base_url``); the model defaults to :data:`DEFAULT_MODEL`.
    """
    with open(file_name) as f:
        file_string = f.read()
    prompt = _IMPROVE_FUNCTION_PROMPT.format(func_name=func_name, objective=objective, file_string=file_string)
    return _ask(prompt, config)


def improve_code(files: list[str], objective: str, suggest_only: bool = True, **config: Any) -> tuple[str, float]:
    """Ask the model for suggestions (or, with ``suggest_only=False``, also improved code) for ``files``:
    ``(reply text, cost in USD)``. ``config`` as in :func:`improve_function`."""
    code = ""
    for file_name in files:
        with open(file_name) as f:
            code += f"{file_name}:\n{f.read()}\n\n"
    followup = "" if suggest_only else " followed by the improved code"
    return _ask(_IMPROVE_CODE_PROMPT.format(followup=followup, objective=objective, code=code), config)


def _ask(prompt: str, config: dict[str, Any]) -> tuple[str, float]:
    from ._aio import run_sync
    from .llm.client import ModelClient
    from .llm.config import ENTRY_KEYS

    cfg = dict(config)
    if "request_timeout" in cfg:
        cfg.setdefault("timeout", cfg.pop("request_timeout"))
    if "config_list" not in cfg:
        entry = {key: cfg.pop(key) for key in list(cfg) if key in ENTRY_KEYS}
        entry.setdefault("model", DEFAULT_MODEL)
        cfg["config_list"] = [entry]
    cfg.setdefault("cache_seed", None)
    client = ModelClient(cfg, agent_name="code_utils")
    completion = run_sync(client.create([{"role": "user", "content": prompt}]))
    return completion.content or "", completion.cost

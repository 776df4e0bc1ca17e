"""Leak: processes started by model code outlive the chat, or agentnb itself.

SIGTERM/SIGKILL of the agentnb process left the kernel's children running, and anything started with
``setsid`` (or double-forked) outlived even a normal chat. The kernel's whole process tree must die
when its chat ends and when agentnb dies, however the processes detached themselves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import agentnb as autogen
from agentnb.testing import ScriptedModelServer, code

SPAWN = '''
import os, subprocess, time
pids = {{"kernel": os.getpid(), "kernel_parent": os.getppid()}}
pids["child"] = subprocess.Popen(["sleep", "300"]).pid
pids["new_session"] = subprocess.Popen(["sleep", "301"], start_new_session=True).pid
shell = subprocess.Popen("setsid sleep 302 > /dev/null 2>&1 & echo $!", shell=True, stdout=subprocess.PIPE, text=True)
pids["setsid_orphan"] = int(shell.stdout.readline())
shell.wait()
r, w = os.pipe()
first = os.fork()
if first == 0:  # a classic double-forked daemon: its parent exits at once, it is re-parented
    os.setsid()
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        time.sleep(303)
    os._exit(0)
os.waitpid(first, 0)
pids["daemon"] = int(os.read(r, 32))
open({pidfile!r}, "w").write(repr(pids))
print("spawned", flush=True)
{tail}
'''

CHILD = '''
import sys
import agentnb as autogen
base_url, work = sys.argv[1], sys.argv[2]
cfg = {"config_list": [{"model": "scripted-model", "base_url": base_url, "api_key": "sk-test-local"}],
       "cache_seed": None}
assistant = autogen.AssistantAgent("assistant", llm_config=cfg)
proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=2,
                               code_execution_config={"work_dir": work, "executor": sys.argv[3], "timeout": 600})
proxy.initiate_chat(assistant, message="go", silent=True)
'''


def _wait_for(path: Path, proc: subprocess.Popen | None = None, timeout: float = 90) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("}"):
            return eval(path.read_text())  # written by the test's own scripted code
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the agentnb process exited early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    raise AssertionError("the model's code never reported its processes")


def _survivors(pids: set[int], timeout: float = 10) -> set[int]:
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE}
        time.sleep(0.05)
    return alive


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["jupyter", "commandline-local"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_no_process_survives_the_agentnb_process(tmp_path, sig, executor):
    pidfile = tmp_path / "pids.txt"
    script = tmp_path / "agentnb_chat.py"
    script.write_text(CHILD)
    block = SPAWN.format(pidfile=str(pidfile), tail="time.sleep(600)")
    recorded: set[int] = set()
    with ScriptedModelServer([code(block), "TERMINATE"]) as server:
        proc = subprocess.Popen([sys.executable, str(script), server.base_url, str(tmp_path / "work"), executor],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            pids = _wait_for(pidfile, proc)
            tree = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
            recorded = (set(pids.values()) | tree) - {proc.pid, os.getpid()}
            os.kill(proc.pid, sig)
            proc.wait(timeout=30)
            left = _survivors(recorded)
            assert not left, f"processes outlived the agentnb process: {[psutil.Process(p).cmdline() for p in left]}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
            proc.stderr.close()
            _kill_all(recorded)


@pytest.mark.parametrize("executor", ["jupyter", "commandline-local", "autogen-0.2-local"])
def test_detached_processes_do_not_outlive_the_chat(tmp_path, executor):
    pidfile = tmp_path / "pids.txt"
    block = SPAWN.format(pidfile=str(pidfile), tail="")
    recorded: set[int] = set()
    if executor == "autogen-0.2-local":  # the 0.2 class, given as an executor instance
        from agentnb.coding.compat import LocalCommandLineCodeExecutor

        executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    try:
        with ScriptedModelServer([code(block), "TERMINATE"]) as server:
            assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
            proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=2,
                                           code_execution_config={"work_dir": str(tmp_path), "executor": executor})
            proxy.initiate_chat(assistant, message="go", silent=True)
            assert "spawned" in server.requests[1]["messages"][-1]["content"]
        pids = _wait_for(pidfile)
        recorded = set(pids.values()) - {os.getpid()}
        left = _survivors(recorded)
        assert not left, f"processes outlived their chat: {[psutil.Process(p).cmdline() for p in left]}"
    finally:
        _kill_all(recorded)

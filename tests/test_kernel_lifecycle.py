"""Kernels shut down off the chat's critical path never leak.

Each test runs real chats (scripted model on 127.0.0.1, real kernels under the supervisor) in a child
Python process, records every kernel and supervisor process that process started, and checks that none
is left after it exits normally, after its event loops close, or after it is SIGKILLed while a
background shutdown is still running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from agentnb.testing import ScriptedModelServer, code

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel supervisor is Linux-only")

PRELUDE = r'''
import asyncio, os, signal, sys
import psutil
import agentnb as autogen
from agentnb.coding import pool

seen = set()

def record():
    """Every kernel/supervisor process below this one, printed for the test to check after we are gone."""
    for p in psutil.Process().children(recursive=True):
        try:
            line = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if "ipykernel" in line or "launcher.py" in line:
            seen.add(p.pid)
    print("PIDS", *sorted(seen), flush=True)

def agents(work):
    llm = {"config_list": [{"model": "scripted-model", "base_url": sys.argv[1], "api_key": "sk-test-local"}],
           "cache_seed": None}
    assistant = autogen.AssistantAgent("assistant", llm_config=llm)
    proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", code_execution_config={"work_dir": work})
    return assistant, proxy

def check(result):
    assert "exitcode: 0" in str(result.chat_history) and "41" in str(result.chat_history), result.chat_history
'''

SYNC_LOOP = PRELUDE + r'''
for i in range(6):
    assistant, proxy = agents(sys.argv[2])
    check(proxy.initiate_chat(assistant, message="go", max_turns=2, silent=True))
    record()
print("CHATS", 6, flush=True)
'''

ASYNCIO_RUN_LOOP = PRELUDE + r'''
import gc, time

async def one():
    assistant, proxy = agents(sys.argv[2])
    check(await proxy.a_initiate_chat(assistant, message="go", max_turns=2, silent=True))
    print("PENDING", pool.pending_reaps(), flush=True)
    record()

def alive():
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]

for i in range(4):
    asyncio.run(one())
    gc.collect()  # the loop's default pool (and its warm refill) goes with the loop
    deadline = time.monotonic() + 10
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("LEFT_AFTER_LOOP", len(alive()), flush=True)
'''

SIGKILL_MID_SHUTDOWN = PRELUDE + r'''
async def main():
    assistant, proxy = agents(sys.argv[2])
    check(await proxy.a_initiate_chat(assistant, message="go", max_turns=2, silent=True))
    record()
    print("PENDING", pool.pending_reaps(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # while the chat's kernel is being shut down in the background

asyncio.run(main())
'''


def model(body: dict) -> object:
    last = str(body["messages"][-1].get("content", ""))
    return "TERMINATE" if "exitcode" in last else code("print(40 + 1)")


def run_child(script: str, work) -> tuple[subprocess.CompletedProcess, set[int], list[str]]:
    with ScriptedModelServer(model) as server:
        proc = subprocess.run([sys.executable, "-c", script, server.base_url, str(work)], capture_output=True,
                              text=True, timeout=300, env=dict(os.environ, AGENTNB_LOOPBACK_ONLY="1"))
    lines = proc.stdout.splitlines()
    pids = set()
    for line in lines:
        if line.startswith("PIDS"):
            pids |= {int(p) for p in line.split()[1:]}
    return proc, pids, lines


def kernel_processes(pids: set[int]) -> list[int]:
    """Those of ``pids`` that still run a kernel or a supervisor (a reused pid runs something else)."""
    alive = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE and any(
                    "ipykernel" in part or "launcher.py" in part for part in p.cmdline()):
                alive.append(pid)
        except psutil.Error:
            continue
    return alive


def wait_until_gone(pids: set[int], deadline: float = 30) -> list[int]:
    """Give the supervisors time to notice their parent died; return whatever is left then."""
    end = time.monotonic() + deadline
    while (left := kernel_processes(pids)) and time.monotonic() < end:
        time.sleep(0.1)
    return left


def test_many_chats_then_interpreter_exit_leave_nothing(tmp_path):
    proc, pids, lines = run_child(SYNC_LOOP, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CHATS 6" in lines
    assert len(pids) >= 6, lines  # six chats, each on a kernel (and supervisor) of its own
    assert wait_until_gone(pids, deadline=5) == []


def test_each_closed_event_loop_kills_its_pending_shutdowns(tmp_path):
    proc, pids, lines = run_child(ASYNCIO_RUN_LOOP, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pending = [int(line.split()[1]) for line in lines if line.startswith("PENDING")]
    assert len(pending) == 4 and all(n >= 1 for n in pending), lines  # shutdowns were in the background
    left = [int(line.split()[1]) for line in lines if line.startswith("LEFT_AFTER_LOOP")]
    assert left == [0, 0, 0, 0], lines  # nothing accumulates while the process lives on
    assert wait_until_gone(pids, deadline=5) == []


def test_sigkill_during_a_background_shutdown_leaves_nothing(tmp_path):
    proc, pids, lines = run_child(SIGKILL_MID_SHUTDOWN, tmp_path)
    assert proc.returncode == -9, (proc.returncode, proc.stderr[-3000:])
    assert any(line.startswith("PENDING") and int(line.split()[1]) >= 1 for line in lines), lines
    assert len(pids) >= 2, lines
    assert wait_until_gone(pids) == []

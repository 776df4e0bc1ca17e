"""Batch throughput (tasks/s) at 1, 2, 4, 8 parallel: local kernels and Kernel Gateway kernels.

Each task is a two-agent chat on the scripted model server: the assistant writes one code block,
the user proxy runs it in a fresh kernel, the assistant says TERMINATE (2 model calls, 1 block,
1 kernel per task, transcript notebook written). The floor, measured in the same run, is the same
work done by hand, one task at a time: start a raw jupyter_client kernel, 2 raw ``openai`` calls,
1 execute, shut the kernel down.

Run: .venv/bin/python benchmarks/bench_batch.py [--tasks 8] [--parallel 1,2,4,8] [--latency 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from jupyter_client import AsyncKernelManager

from agentnb.batch import run_batch
from agentnb.testing import TEST_API_KEY, ScriptedModelServer, code


def model(body: dict):
    last = body["messages"][-1]["content"] or ""
    if "exitcode:" in last:
        return "TERMINATE"
    task = next(m["content"] for m in body["messages"] if m["role"] == "user")
    number = int(re.search(r"double (\d+)", task).group(1))
    return code(f"print({number} * 2)")


def team(server: ScriptedModelServer, executor: str) -> dict:
    return {"agents": [
        {"name": "assistant", "llm": {"model": server.model, "base_url": server.base_url,
                                      "api_key_env": "BENCH_MODEL_KEY"}},
        {"name": "user_proxy", "kind": "user_proxy", "code_execution": {"executor": executor, "timeout": 60}}],
        "chat": {"type": "pair", "max_turns": 4}}


async def floor_task(client, server: ScriptedModelServer, n: int) -> None:
    messages = [{"role": "user", "content": f"Please double {n}."}]
    await client.chat.completions.create(model=server.model, messages=messages)
    km = AsyncKernelManager()
    await km.start_kernel(cwd=tempfile.gettempdir())
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    msg_id = kc.execute(f"print({n} * 2)")
    while (await kc.get_shell_msg())["parent_header"].get("msg_id") != msg_id:
        pass
    messages.append({"role": "user", "content": "exitcode: 0"})
    await client.chat.completions.create(model=server.model, messages=messages)
    kc.stop_channels()
    await km.shutdown_kernel(now=True)


async def floor(server: ScriptedModelServer, tasks: int) -> float:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=server.base_url, api_key=TEST_API_KEY, max_retries=0)
    started = time.perf_counter()
    for n in range(tasks):
        await floor_task(client, server, n)
    await client.close()
    return tasks / (time.perf_counter() - started)


@contextlib.contextmanager
def kernel_gateway(root: str):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": os.path.join(root, "runtime")}
    proc = subprocess.Popen([sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
                             f"--KernelGatewayApp.port={port}", f"--KernelGatewayApp.auth_token={token}"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(f"{url}/api", headers={"Authorization": f"token {token}"})
                urllib.request.urlopen(request, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        os.environ["BENCH_GATEWAY_TOKEN"] = token
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def measure(server, executor: str, parallel: int, tasks: int, options: dict | None, preload) -> float:
    with tempfile.TemporaryDirectory() as out:
        result = run_batch([{"id": f"t{n}", "message": f"Please double {n}."} for n in range(tasks)],
                           team=team(server, "jupyter" if executor == "local" else executor),
                           executor=None if executor == "local" else executor, executor_options=options,
                           parallel=parallel, out_dir=out, progress=None, retries=0, timeout=300,
                           kernel_preload=preload)
        bad = [r for r in result.rows if r["status"] != "ok"]
        assert not bad, bad
        return result.tasks_per_second


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--parallel", default="1,2,4,8")
    parser.add_argument("--latency", type=float, default=0.0, help="model latency per call, seconds")
    parser.add_argument("--executors", default="local,gateway")
    parser.add_argument("--kernel-preload", default=None,
                        help="local kernels' pre-imports, comma-separated ('' for none; default: the pool's)")
    args = parser.parse_args()
    levels = [int(p) for p in args.parallel.split(",")]
    preload = None if args.kernel_preload is None else tuple(m for m in args.kernel_preload.split(",") if m)
    os.environ["BENCH_MODEL_KEY"] = TEST_API_KEY
    results: dict[str, dict[int, float]] = {}
    with ScriptedModelServer(model, latency=args.latency) as server, tempfile.TemporaryDirectory() as root:
        floor_rate = asyncio.run(floor(server, args.tasks))
        print(f"floor (raw kernel + 2 raw openai calls, sequential): {floor_rate:.2f} tasks/s", flush=True)
        for executor in args.executors.split(","):
            stack = contextlib.ExitStack()
            options = None
            if executor == "gateway":
                url = stack.enter_context(kernel_gateway(root))
                options = {"gateway_url": url, "auth_token_env": "BENCH_GATEWAY_TOKEN"}
            with stack:
                for parallel in levels:
                    rate = measure(server, executor, parallel, args.tasks, options, preload)
                    results.setdefault(executor, {})[parallel] = rate
                    print(f"{executor:8s} parallel {parallel}: {rate:.2f} tasks/s "
                          f"({rate / floor_rate:.2f}x floor, {rate / results[executor][levels[0]]:.2f}x "
                          f"parallel {levels[0]})", flush=True)
    print(json.dumps({"tasks": args.tasks, "latency": args.latency, "kernel_preload": preload,
                      "floor_tasks_per_s": round(floor_rate, 3),
                      "tasks_per_s": {e: {p: round(r, 3) for p, r in v.items()} for e, v in results.items()},
                      "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()

"""The cold path against a raw jupyter_client floor, side by side in one run (interleaved).

    .venv/bin/python benchmarks/bench_cold.py [--reps 5] [--fresh 3] [--chats 10] [--blocks 30]

1. cold start: construction → first ``x = 1`` answered, KernelExecutor on an empty pool (size 0) against
   ``AsyncKernelManager`` start + ``wait_for_ready`` + execute until iopub idle;
2. first code chat in a fresh process (import, agents, kernel, 2 model calls, 1 block) against a fresh
   process doing the same with openai + jupyter_client sequentially (model latency 0 and 300 ms);
3. a 2-round code chat on the default executor (a pool kernel per chat, the pool refilled between chats as
   between notebook cells) against the same chat on an already-bound kernel, and the raw floor
   (2 openai calls + 1 raw execute);
4. kernel RSS (raw, pool kernel with and without pre-imports, the supervisor) and per-block ``x = 1``
   against a raw TCP kernel timed until iopub idle.

Prints a table and writes ``benchmarks/results/bench_cold.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import psutil
from jupyter_client import AsyncKernelManager

from agentnb.coding.base import CodeBlock
from agentnb.coding.kernel import KernelExecutor
from agentnb.coding.pool import KernelPool, default_pool

try:
    from agentnb.coding.pool import drain_reaps, pending_reaps
except ImportError:  # an agentnb from before background shutdowns (for a before/after comparison)
    async def drain_reaps() -> None:
        return None

    def pending_reaps() -> int:
        return 0
from agentnb.testing import ScriptedModelServer, code

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "bench_cold.json")


def reply_for(body: dict) -> object:
    """Code first, then TERMINATE once the execution result came back."""
    last = str(body["messages"][-1].get("content", ""))
    return "TERMINATE" if "exitcode" in last else code("x = 1")


async def raw_exec(kc, source: str) -> float:
    """execute and read iopub until this request's idle (what a notebook front end waits for)."""
    t = time.perf_counter()
    msg_id = kc.execute(source)
    while True:
        msg = await kc.get_iopub_msg()
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"):
            return time.perf_counter() - t


async def raw_start():
    km = AsyncKernelManager()
    await km.start_kernel(cwd=tempfile.gettempdir())
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    return km, kc


async def raw_stop(km, kc) -> None:
    kc.stop_channels()
    await km.shutdown_kernel(now=True)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# -- 1. cold start ---------------------------------------------------------------------------------
async def cold_start(reps: int, work: str) -> dict:
    raw, ours = [], []
    for _ in range(reps):
        t = time.perf_counter()
        km, kc = await raw_start()
        await raw_exec(kc, "x = 1")
        raw.append(time.perf_counter() - t)
        await raw_stop(km, kc)
        async with KernelPool(0) as pool:
            t = time.perf_counter()
            ex = KernelExecutor(work, pool=pool)
            result = await ex.a_execute(CodeBlock("x = 1"))
            ours.append(time.perf_counter() - t)
            assert result.exit_code == 0, result.output
            await ex.a_close()
    r, o = statistics.median(raw), statistics.median(ours)
    return {"raw_ms": ms(r), "agentnb_ms": ms(o), "ratio": round(o / r, 3)}


# -- 2. first code chat in a fresh process ---------------------------------------------------------
FLOOR_SCRIPT = r'''
import time; t0 = time.perf_counter()
import asyncio, sys, tempfile
import openai
from jupyter_client import AsyncKernelManager

async def main():
    client = openai.AsyncOpenAI(base_url=sys.argv[1], api_key="sk-test-local", max_retries=0)
    km = AsyncKernelManager()
    await km.start_kernel(cwd=tempfile.gettempdir())
    kc = km.client(); kc.start_channels(); await kc.wait_for_ready(timeout=60)
    msgs = [{"role": "user", "content": "go"}]
    await client.chat.completions.create(model="scripted-model", messages=msgs)
    msg_id = kc.execute("x = 1")
    while True:
        m = await kc.get_iopub_msg()
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status" \
                and m["content"]["execution_state"] == "idle":
            break
    msgs.append({"role": "user", "content": "exitcode: 0"})
    await client.chat.completions.create(model="scripted-model", messages=msgs)
    print(time.perf_counter() - t0, flush=True)
    kc.stop_channels(); await km.shutdown_kernel(now=True)

asyncio.run(main())
'''

OURS_SCRIPT = r'''
import time; t0 = time.perf_counter()
import asyncio, sys
import agentnb as autogen

async def main():
    llm = {"config_list": [{"model": "scripted-model", "base_url": sys.argv[1], "api_key": "sk-test-local"}],
           "cache_seed": None}
    assistant = autogen.AssistantAgent("assistant", llm_config=llm)
    proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER",
                                   code_execution_config={"work_dir": sys.argv[2]})
    result = await proxy.a_initiate_chat(assistant, message="go", max_turns=2, silent=True)
    print(time.perf_counter() - t0, flush=True)
    assert "exitcode: 0" in str(result.chat_history), result.chat_history

asyncio.run(main())
'''


def fresh_process(script: str, base_url: str, work: str) -> float:
    out = subprocess.run([sys.executable, "-c", script, base_url, work], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, AGENTNB_LOOPBACK_ONLY="1"))
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.split()[0])


def first_chat(runs: int, work: str, latency: float) -> dict:
    floor, ours = [], []
    with ScriptedModelServer(reply_for, latency=latency) as server:
        for _ in range(runs):
            floor.append(fresh_process(FLOOR_SCRIPT, server.base_url, work))
            ours.append(fresh_process(OURS_SCRIPT, server.base_url, work))
    f, o = statistics.median(floor), statistics.median(ours)
    return {"model_latency_ms": latency * 1000, "floor_ms": ms(f), "agentnb_ms": ms(o), "ratio": round(o / f, 3)}


# -- 3. a code chat on the default executor --------------------------------------------------------
async def one_chat(server: ScriptedModelServer, config: dict) -> float:
    import agentnb as autogen

    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config(cache_seed=None))
    proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", code_execution_config=config)
    t = time.perf_counter()
    result = await proxy.a_initiate_chat(assistant, message="go", max_turns=2, silent=True)
    elapsed = time.perf_counter() - t
    assert "exitcode: 0" in str(result.chat_history), result.chat_history
    return elapsed


async def raw_chat(base_url: str, kc) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test-local", max_retries=0)
    msgs = [{"role": "user", "content": "go"}]
    await client.chat.completions.create(model="scripted-model", messages=msgs)  # connection warm
    t = time.perf_counter()
    await client.chat.completions.create(model="scripted-model", messages=msgs)
    await raw_exec(kc, "x = 1")
    await client.chat.completions.create(model="scripted-model",
                                         messages=[*msgs, {"role": "user", "content": "exitcode: 0"}])
    elapsed = time.perf_counter() - t
    await client.close()
    return elapsed


async def pool_settled() -> None:
    """Between chats, as between notebook cells: the refill is warm and the last kernel is reaped."""
    pool = default_pool()
    while not pool.ready or pool.starting or pending_reaps():
        await drain_reaps()
        await asyncio.sleep(0.05)


async def default_vs_bound(chats: int, work: str) -> dict:
    floor, bound, default = [], [], []
    km, kc = await raw_start()
    with ScriptedModelServer(reply_for) as server:
        async with KernelExecutor(os.path.join(work, "bound")) as ex:
            await ex.a_start()
            default_cfg = {"work_dir": os.path.join(work, "default")}
            bound_cfg = {"executor": ex}
            await pool_settled()
            await one_chat(server, default_cfg)  # warm up imports and connections
            await one_chat(server, bound_cfg)
            for _ in range(chats):
                floor.append(await raw_chat(server.base_url, kc))
                bound.append(await one_chat(server, bound_cfg))
                await pool_settled()
                default.append(await one_chat(server, default_cfg))
            await drain_reaps()
    await raw_stop(km, kc)
    f, b, d = (statistics.median(x) for x in (floor, bound, default))
    return {"floor_ms": ms(f), "bound_ms": ms(b), "default_ms": ms(d), "ratio_default_vs_bound": round(d / b, 3),
            "ratio_bound_vs_floor": round(b / f, 3)}


# -- 4. memory and per block -----------------------------------------------------------------------
def kernel_rss(launcher_pid: int) -> tuple[int, int]:
    """(kernel RSS, supervisor RSS) in bytes: the kernel is the supervisor's child."""
    sup = psutil.Process(launcher_pid)
    kids = sup.children()
    kernel = kids[0] if kids else sup
    return kernel.memory_info().rss, (sup.memory_info().rss if kids else 0)


async def memory_and_per_block(blocks: int, work: str) -> dict:
    km, kc = await raw_start()
    await raw_exec(kc, "x = 1")
    raw_rss = psutil.Process(km.provisioner.process.pid).memory_info().rss
    out: dict = {"raw_kernel_mib": round(raw_rss / 2**20, 1)}
    for label, preload in (("pool_kernel_matplotlib_mib", ("matplotlib",)), ("pool_kernel_no_preimports_mib", ())):
        async with KernelPool(1, preload=preload) as pool:
            while not pool.ready:
                await asyncio.sleep(0.05)
            kernel = await pool.acquire()
            pool.size = 0
            rss, sup = kernel_rss(kernel.pid)
            out[label] = round(rss / 2**20, 1)
            out["supervisor_mib"] = round(sup / 2**20, 1)
            await kernel.shutdown()
    raw, ours = [], []
    async with KernelPool(1, preload=()) as pool, KernelExecutor(work, pool=pool) as ex:
        await ex.a_execute(CodeBlock("x = 1"))
        for _ in range(blocks):
            raw.append(await raw_exec(kc, "x = 1"))
            t = time.perf_counter()
            result = await ex.a_execute(CodeBlock("x = 1"))
            ours.append(time.perf_counter() - t)
            assert result.exit_code == 0
        pool.size = 0
    await raw_stop(km, kc)
    r, o = statistics.median(raw), statistics.median(ours)
    out.update({"block_raw_tcp_ms": ms(r), "block_agentnb_ms": ms(o), "block_ratio": round(o / r, 3)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5, help="cold starts per side")
    parser.add_argument("--fresh", type=int, default=3, help="fresh processes per side and latency")
    parser.add_argument("--chats", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--out", default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()} {os.cpu_count()} cores",
                     "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as work:
        results["cold_start"] = asyncio.run(cold_start(args.reps, work))
        results["first_chat"] = [first_chat(args.fresh, work, lat) for lat in (0.0, 0.3)]
        results["chat_default_executor"] = asyncio.run(default_vs_bound(args.chats, work))
        results["memory_and_block"] = asyncio.run(memory_and_per_block(args.blocks, work))
    c, mb, d = results["cold_start"], results["memory_and_block"], results["chat_default_executor"]
    rows = [("cold start → first `x = 1`", f"{c['raw_ms']:.0f} ms raw", f"{c['agentnb_ms']:.0f} ms", c["ratio"], "1.1")]
    for fc in results["first_chat"]:
        rows.append((f"first code chat, fresh process, model {fc['model_latency_ms']:.0f} ms",
                     f"{fc['floor_ms']:.0f} ms floor", f"{fc['agentnb_ms']:.0f} ms", fc["ratio"], "1.2"))
    rows.append(("2-round code chat, default executor vs bound kernel", f"{d['bound_ms']:.1f} ms bound",
                 f"{d['default_ms']:.1f} ms", d["ratio_default_vs_bound"], "1.5"))
    rows.append(("  bound-kernel chat vs raw floor (2 calls + 1 execute)", f"{d['floor_ms']:.1f} ms floor",
                 f"{d['bound_ms']:.1f} ms", d["ratio_bound_vs_floor"], "-"))
    rows.append(("per block `x = 1` vs raw tcp until iopub idle", f"{mb['block_raw_tcp_ms']:.2f} ms raw",
                 f"{mb['block_agentnb_ms']:.2f} ms", mb["block_ratio"], "1.1"))
    rows.append(("kernel RSS, pool kernel (matplotlib) vs raw", f"{mb['raw_kernel_mib']:.0f} MiB raw",
                 f"{mb['pool_kernel_matplotlib_mib']:.0f} MiB",
                 round(mb["pool_kernel_matplotlib_mib"] / mb["raw_kernel_mib"], 3), "-"))
    rows.append(("kernel RSS, pool kernel (no pre-imports) vs raw", f"{mb['raw_kernel_mib']:.0f} MiB raw",
                 f"{mb['pool_kernel_no_preimports_mib']:.0f} MiB",
                 round(mb["pool_kernel_no_preimports_mib"] / mb["raw_kernel_mib"], 3), "-"))
    print(f"# bench_cold {results['date']} on {results['machine']}, Python {results['python']}, "
          f"load {results['load_avg_1m']}")
    print("| measure | floor | agentnb | ratio | target |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print(f"supervisor process RSS: {mb['supervisor_mib']:.0f} MiB")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

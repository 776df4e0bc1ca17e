"""KernelExecutor vs raw jupyter_client: per-block overhead, first-block latency, RSS, plot throughput.

Run: .venv/bin/python benchmarks/bench_kernel.py [--reps 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time

import psutil
from jupyter_client import AsyncKernelManager

from agentnb.coding.base import CodeBlock
from agentnb.coding.kernel import KernelExecutor
from agentnb.coding.pool import KernelPool

PLOT = ("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot(range(100))\n"
        "ax.set_title('t')\nplt.show()")
BLOCKS = {"x = 1": "x = 1", "print('hi')": "print('hi')", "matplotlib plot": PLOT}


async def raw_run(kc, code: str) -> float:
    t = time.perf_counter()
    msg_id = kc.execute(code)
    while True:
        msg = await kc.get_iopub_msg()
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"):
            break
    while (await kc.get_shell_msg())["parent_header"].get("msg_id") != msg_id:
        pass
    return time.perf_counter() - t


async def raw_kernel(transport: str = "tcp"):
    kw = {}
    if transport == "ipc":
        kw = {"transport": "ipc", "ip": os.path.join(tempfile.gettempdir(), f"bench-{os.getpid()}-ipc")}
    km = AsyncKernelManager(**kw)
    await km.start_kernel(cwd=tempfile.gettempdir())
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    return km, kc


async def ours_run(ex: KernelExecutor, code: str) -> float:
    t = time.perf_counter()
    result = await ex.a_execute(CodeBlock(code))
    assert result.exit_code == 0, result.output
    return time.perf_counter() - t


def med_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def per_block(reps: int, work: str) -> None:
    print("\n## Per-block latency (median ms; first matplotlib block reported separately)")
    print("| block | raw tcp | raw ipc | KernelExecutor | ratio vs raw ipc | ratio vs raw tcp |")
    print("|---|---|---|---|---|---|")
    km_t, kc_t = await raw_kernel("tcp")
    km_i, kc_i = await raw_kernel("ipc")
    async with KernelPool(1) as pool:
        while not pool.ready:  # a warm pool: its kernel has pre-imported matplotlib
            await asyncio.sleep(0.05)
        async with KernelExecutor(work, pool=pool) as ex:
            pool.size = 0  # no refill competing for the CPU with the first plot
            first_raw = await raw_run(kc_t, PLOT)
            first_ours = await ours_run(ex, PLOT)
            await raw_run(kc_i, PLOT)
            for label, code in BLOCKS.items():
                samples: dict[str, list[float]] = {"tcp": [], "ipc": [], "ours": []}
                for _ in range(reps):  # interleave so drift hits all three alike
                    samples["tcp"].append(await raw_run(kc_t, code))
                    samples["ipc"].append(await raw_run(kc_i, code))
                    samples["ours"].append(await ours_run(ex, code))
                t, i, o = (med_ms(samples[k]) for k in ("tcp", "ipc", "ours"))
                print(f"| {label} | {t:.2f} | {i:.2f} | {o:.2f} | {o / i:.2f} | {o / t:.2f} |")
            print(f"\nfirst matplotlib block in a kernel (includes `import matplotlib.pyplot`): "
                  f"raw default kernel {first_raw * 1000:.0f} ms, KernelExecutor (warm pool) "
                  f"{first_ours * 1000:.0f} ms")
            rss_raw = psutil.Process(km_t.provisioner.process.pid).memory_info().rss
            supervisor = psutil.Process(ex.kernel.pid)  # the launcher; the kernel is its child
            rss_ours = (supervisor.children() or [supervisor])[0].memory_info().rss
            print(f"\nkernel RSS after the runs: raw {rss_raw / 2**20:.0f} MiB, "
                  f"KernelExecutor {rss_ours / 2**20:.0f} MiB")
    for km, kc in ((km_t, kc_t), (km_i, kc_i)):
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


async def first_block(reps: int, work: str) -> None:
    print("\n## First block (`x = 1`) of a new executor, from construction (median ms)")
    results = {}
    for label, size in (("warm pool (size 1)", 1), ("cold (pool size 0)", 0)):
        samples = []
        async with KernelPool(size) as pool:
            for _ in range(reps):
                if size:
                    while not pool.ready:  # the pool refills between chats
                        await asyncio.sleep(0.05)
                t = time.perf_counter()
                async with KernelExecutor(work, pool=pool) as ex:
                    await ex.a_execute(CodeBlock("x = 1"))
                    samples.append(time.perf_counter() - t)
        results[label] = med_ms(samples)
        print(f"- {label}: {results[label]:.0f} ms")


async def throughput(work: str, plots: int = 20) -> None:
    print("\n## matplotlib throughput (plots/s, all kernels together)")
    for n in (1, 2, 4):
        async with KernelPool(n) as pool:
            executors = [KernelExecutor(os.path.join(work, f"t{i}"), pool=pool) for i in range(n)]
            for ex in executors:
                await ex.a_start()
                await ours_run(ex, PLOT)
            t = time.perf_counter()
            await asyncio.gather(*(_plots(ex, plots) for ex in executors))
            elapsed = time.perf_counter() - t
            for ex in executors:
                await ex.a_close()
        print(f"- {n} kernel(s): {n * plots / elapsed:.1f} plots/s")


async def _plots(ex: KernelExecutor, count: int) -> None:
    for _ in range(count):
        await ours_run(ex, PLOT)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    print(f"# bench_kernel {time.strftime('%Y-%m-%d')} on {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as work:
        await per_block(args.reps, work)
        await first_block(max(5, args.reps // 3), work)
        await throughput(work)


if __name__ == "__main__":
    asyncio.run(main())

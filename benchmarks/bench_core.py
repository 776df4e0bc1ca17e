"""Per-turn cost of the conversation core against the raw openai call floor, in one run.

    python benchmarks/bench_core.py [--rounds 20] [--repeat 7]

Both sides talk to the same scripted server on 127.0.0.1 (TCP_NODELAY). Reports medians and
the ratio agentnb-turn / raw-async-call (target <= 1.5), plus `import agentnb` time (target < 0.3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from agentnb.testing import ScriptedModelServer, forever


def import_time(module: str, runs: int = 5) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    times = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(runs)]
    return statistics.median(times)


def history(rounds: int) -> list[dict]:
    """A conversation as long as the middle of an agentnb chat of ``rounds`` rounds."""
    from agentnb.agents.assistant import DEFAULT_SYSTEM_MESSAGE

    msgs = [{"role": "system", "content": DEFAULT_SYSTEM_MESSAGE}]
    for _ in range(rounds):
        msgs += [{"role": "user", "content": "ping", "name": "user_proxy"},
                 {"role": "assistant", "content": "pong", "name": "assistant"}]
    return msgs[:-1]


async def raw_async(base_url: str, n: int, msgs: list[dict] | None = None) -> list[float]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test-local", max_retries=0)
    msgs = msgs or [{"role": "user", "content": "ping"}]
    await client.chat.completions.create(model="scripted-model", messages=msgs)  # warm the connection
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await client.chat.completions.create(model="scripted-model", messages=msgs)
        out.append(time.perf_counter() - t)
    await client.close()
    return out


def raw_sync(base_url: str, n: int) -> list[float]:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-test-local", max_retries=0)
    msgs = [{"role": "user", "content": "ping"}]
    client.chat.completions.create(model="scripted-model", messages=msgs)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        client.chat.completions.create(model="scripted-model", messages=msgs)
        out.append(time.perf_counter() - t)
    client.close()
    return out


async def agentnb_turns(server: ScriptedModelServer, rounds: int) -> float:
    import agentnb as autogen

    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
    proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", code_execution_config=False,
                                   max_consecutive_auto_reply=rounds - 1, default_auto_reply="ping")
    await proxy.a_initiate_chat(assistant, message="ping", silent=True)  # warm up
    t = time.perf_counter()
    result = await proxy.a_initiate_chat(assistant, message="ping", silent=True)
    elapsed = time.perf_counter() - t
    turns = sum(1 for m in result.chat_history if m["name"] == "assistant")
    assert turns == rounds, turns
    return elapsed / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with ScriptedModelServer([forever("pong")]) as server:
        sync_floor = statistics.median(raw_sync(server.base_url, 50))
        floors, turns = [], []
        for _ in range(args.repeat):  # interleaved, so machine noise hits both sides alike
            floors.append(statistics.median(asyncio.run(raw_async(server.base_url, 50))))
            turns.append(asyncio.run(agentnb_turns(server, args.rounds)))
        async_floor, per_turn = statistics.median(floors), statistics.median(turns)
        async_hist = statistics.median(asyncio.run(raw_async(server.base_url, 50, history(args.rounds // 2))))
    imp = import_time("agentnb")
    imp_openai = import_time("openai")
    print(f"raw openai sync call      {sync_floor * 1e3:7.2f} ms (median of 50)")
    print(f"raw openai async call     {async_floor * 1e3:7.2f} ms (median of {args.repeat} medians of 50)")
    print(f"raw async, {args.rounds}-msg history {async_hist * 1e3:6.2f} ms (the SDK's typed path, same size "
          "as an average agentnb request)")
    print(f"agentnb turn ({args.rounds} rounds)   {per_turn * 1e3:7.2f} ms (median of {args.repeat} chats)")
    print(f"ratio turn / async call   {per_turn / async_floor:7.2f}x   (target <= 1.5x)")
    print(f"framework per turn        {(per_turn - async_floor) * 1e3:7.2f} ms")
    print(f"import agentnb            {imp * 1e3:7.1f} ms (target < 300 ms); import openai {imp_openai * 1e3:.0f} ms")


if __name__ == "__main__":
    main()

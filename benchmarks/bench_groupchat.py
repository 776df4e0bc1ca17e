"""Benchmark the group-chat manager's own cost per round, against a two-agent chat in the same run.

Deterministic agents (registered replies, no model) isolate the manager: relaying the message to
every member, choosing the next speaker, recording events. ``round_robin`` is measured with 4 and
16 agents and a 200- and 800-message history (growth with history should be flat to linear);
``auto`` is measured with the manager's model served by the scripted server's function model
(instant answers over real HTTP), against a two-agent chat whose agent asks the same server with
the same history, so the difference is the selection overhead (prompt building, parsing).

    .venv/bin/python benchmarks/bench_groupchat.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time

import agentnb as autogen
from agentnb.agents.conversable import Agent
from agentnb.groupchat import GroupChat, GroupChatManager, mentioned_agents
from agentnb.groupchat.selection import selection_history
from agentnb.testing import ScriptedModelServer, forever


def bot(name: str, llm_config=False) -> autogen.ConversableAgent:
    agent = autogen.ConversableAgent(name, llm_config=llm_config, human_input_mode="NEVER",
                                     max_consecutive_auto_reply=10**9, description=f"{name} does its part.")
    if llm_config is False:
        agent.register_reply([Agent, None], lambda self, messages=None, sender=None, config=None:
                             (True, f"{self.name} says something reasonably short about the task."))
    return agent


def history(names: list[str], size: int) -> list[dict]:
    return [{"role": "user", "name": names[i % len(names)],
             "content": f"message {i}: some realistic text of moderate length about step {i} of the plan."}
            for i in range(size)]


async def floor_per_message(rounds: int, llm_config=False, hist: int = 0) -> float:
    """Seconds per message of a two-agent chat (the per-turn floor)."""
    a, b = bot("a"), bot("b", llm_config)
    if hist:
        a._oai_messages[b].extend({"role": "assistant", "content": m["content"]} for m in history(["a"], hist))
        b._oai_messages[a].extend({"role": "user", "content": m["content"]} for m in history(["a"], hist))
    start = time.perf_counter()
    await a.a_initiate_chat(b, message="start", max_turns=rounds, silent=True, clear_history=False)
    return (time.perf_counter() - start) / (2 * rounds)


async def group_per_round(n_agents: int, hist: int, rounds: int, method: str, llm_config=False) -> float:
    agents = [bot(f"agent_{i}") for i in range(n_agents)]
    gc = GroupChat(agents, max_round=rounds, speaker_selection_method=method)
    manager = GroupChatManager(gc, llm_config=llm_config)
    last_agent, last = manager.resume(history([a.name for a in agents], hist), silent=True)
    if manager.client is not None:  # open the HTTP connection outside the timing
        await manager.client.create([{"role": "user", "content": "warm up"}], stream=False)
    start = time.perf_counter()
    await last_agent.a_initiate_chat(manager, message=last, clear_history=False, silent=True)
    elapsed = time.perf_counter() - start
    assert len(gc.messages) == hist - 1 + rounds, len(gc.messages)
    return elapsed / rounds


def best(fn, repeat: int = 3) -> float:
    return min(asyncio.run(fn()) for _ in range(repeat))


def micro_parse(n_agents: int, hist: int, repeat: int = 2000) -> tuple[float, float]:
    agents = [bot(f"agent_{i}") for i in range(n_agents)]
    answer = f"I think agent_{n_agents - 1} should speak next, since the plan needs it."
    msgs = history([a.name for a in agents], hist)
    t0 = time.perf_counter()
    for _ in range(repeat):
        mentioned_agents(answer, agents)
    parse = (time.perf_counter() - t0) / repeat
    gc = GroupChat(agents)
    gc.messages.extend(msgs)
    gc._selection_history()
    t0 = time.perf_counter()
    for i in range(repeat // 20):
        gc.messages.append({"role": "user", "name": "agent_0", "content": f"new {i}"})
        gc._selection_history()
        gc.messages.pop()
    build = (time.perf_counter() - t0) / (repeat // 20)
    return parse, build


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    r = args.rounds
    print(f"# bench_groupchat on Python {platform.python_version()}, {platform.machine()}, rounds={r}")
    asyncio.run(floor_per_message(5))  # warm imports (export/nbformat) outside the timings
    floor = best(lambda: floor_per_message(r))
    print(f"two-agent floor (deterministic):          {floor * 1e6:8.1f} us/message")
    rows = {}
    for n in (4, 16):
        for h in (200, 800):
            rows[n, h] = best(lambda n=n, h=h: group_per_round(n, h, r, "round_robin"))
            print(f"round_robin  {n:2d} agents, history {h:3d}:    {rows[n, h] * 1e6:8.1f} us/round  "
                  f"(overhead over floor {(rows[n, h] - floor) * 1e6:7.1f} us, x{rows[n, h] / floor:4.1f})")
    for n in (4, 16):
        print(f"  growth 200->800 history, {n} agents:   x{rows[n, 800] / rows[n, 200]:.2f}")
    with ScriptedModelServer([forever(lambda body: "agent_1")]) as srv:
        cfg = srv.llm_config()
        ar = max(20, r // 5)
        for n in (4, 16):
            call = min(asyncio.run(raw_selection_call(n, 200, ar, cfg)) for _ in range(3))
            auto = min(asyncio.run(group_per_round(n, 200, ar, "auto", cfg)) for _ in range(3))
            print(f"auto         {n:2d} agents, history 200:    {auto * 1e3:6.2f} ms/round; the bare model call "
                  f"with the same request {call * 1e3:6.2f} ms -> manager overhead {(auto - call) * 1e3:5.2f} ms")
    for n in (4, 16):
        parse, build = micro_parse(n, 200)
        print(f"parse answer ({n:2d} agents): {parse * 1e6:6.1f} us; selection history of 200 messages "
              f"(incremental): {build * 1e6:6.1f} us")


async def raw_selection_call(n_agents: int, hist: int, calls: int, cfg: dict) -> float:
    """Seconds per bare ``client.create`` with the request auto selection sends (the model-time floor)."""
    agents = [bot(f"agent_{i}") for i in range(n_agents)]
    gc = GroupChat(agents)
    gc.messages.extend(history([a.name for a in agents], hist))
    manager = GroupChatManager(gc, llm_config=cfg)
    messages = [{"role": "system", "content": gc.select_speaker_msg(agents)}, *selection_history(gc.messages),
                {"role": "system", "content": gc.select_speaker_prompt(agents)}]
    await manager.client.create(messages, stream=False)
    start = time.perf_counter()
    for _ in range(calls):
        await manager.client.create(messages, stream=False)
    return (time.perf_counter() - start) / calls


if __name__ == "__main__":
    main()

"""Studio costs, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_studio.py

1. run history: 20-turn two-agent chats against the scripted server, history off vs. on, interleaved (medians of
   CPU and wall time per turn, and the median of each interleaved pair's ratio); the recorder's own CPU per turn
   inside real chats (timed around each call, less the cost of reading the clock) as a fraction of a turn's
   CPU (target < 5 %), and the recorder called alone on 2000 synthetic turns. End-to-end differences include
   the per-chat costs (run row, journal file, the spec of the agents); on this shared 2-core machine they move by
   a few % between runs;
2. ``load_team`` of a 10-agent group spec (tools and transitions included) vs. building the same agents and
   GroupChat directly in Python;
3. the builder's first render (``studio("planner_coder_reviewer")``, 5 agent cards) vs. one ``ChatPanel()``.

Results go to stdout and benchmarks/results/bench_studio.json.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from agentnb import AssistantAgent, GroupChat, GroupChatManager, UserProxyAgent
from agentnb.messages import ChatStarted, MessageSent
from agentnb.testing import ScriptedModelServer, forever

TURNS = 20
RESULTS = Path(__file__).with_name("results") / "bench_studio.json"


def _chat(server: ScriptedModelServer, turns: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per turn of a two-agent chat; CPU counts every thread of the process (the
    chat, the in-process scripted server, the history writer), so other people's load on the machine hardly
    moves it."""
    assistant = AssistantAgent("assistant", llm_config=server.llm_config(), system_message="Reply briefly.")
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                          default_auto_reply="go on", max_consecutive_auto_reply=turns - 1)
    c0, w0 = time.process_time(), time.perf_counter()
    user.initiate_chat(assistant, message="start", silent=True)
    return (time.process_time() - c0) / turns, (time.perf_counter() - w0) / turns


def history_overhead(rounds: int = 20) -> dict[str, float]:
    from agentnb.studio import store

    tmp = tempfile.mkdtemp(prefix="bench-studio-")
    db = os.path.join(tmp, "history.sqlite")
    off, on = [], []
    with ScriptedModelServer([forever("A short answer of a few words, as a model would give.")]) as server:
        _chat(server, 3)  # warm the client, imports
        os.environ["AGENTNB_HISTORY"] = db
        _chat(server, 3)
        for _ in range(rounds):
            os.environ["AGENTNB_HISTORY"] = "off"
            off.append(_chat(server, TURNS))
            os.environ["AGENTNB_HISTORY"] = db
            on.append(_chat(server, TURNS))
        timed = [0.0, 0.0]
        call = store.Recorder.__call__

        def timed_call(self: store.Recorder, event: object) -> None:  # the recorder's CPU inside real chats
            t0 = time.thread_time()
            t1 = time.thread_time()  # an empty interval: what reading the clock costs, here and now
            call(self, event)
            t2 = time.thread_time()
            timed[0] += t2 - t1
            timed[1] += t1 - t0

        store.Recorder.__call__ = timed_call  # type: ignore[method-assign]
        try:
            for _ in range(5):
                _chat(server, TURNS)
        finally:
            store.Recorder.__call__ = call  # type: ignore[method-assign]
        recorder_cpu = (timed[0] - timed[1]) / (5 * TURNS)
    os.environ.pop("AGENTNB_HISTORY", None)
    cpu_off, cpu_on = (statistics.median(x[0] for x in runs) for runs in (off, on))
    wall_off, wall_on = (statistics.median(x[1] for x in runs) for runs in (off, on))
    paired_cpu = statistics.median(b[0] / a[0] for a, b in zip(off, on, strict=True)) - 1
    direct = direct_cost(Path(tmp) / "direct.sqlite")
    return {"turn_cpu_history_off_ms": cpu_off * 1e3, "turn_cpu_history_on_ms": cpu_on * 1e3,
            "end_to_end_cpu_overhead_fraction": (cpu_on - cpu_off) / cpu_off,
            "end_to_end_cpu_overhead_paired_median": paired_cpu,
            "turn_wall_history_off_ms": wall_off * 1e3, "turn_wall_history_on_ms": wall_on * 1e3,
            "end_to_end_wall_overhead_fraction": (wall_on - wall_off) / wall_off,
            "recorder_cpu_per_turn_us": recorder_cpu * 1e6,
            "recording_cpu_per_turn_fraction": recorder_cpu / cpu_off,
            "recording_cpu_per_message_fraction": recorder_cpu / 2 / cpu_off,
            **direct}


def direct_cost(path: Path, n: int = 2000) -> dict[str, float]:
    """CPU per recorded turn (two messages, one usage) and per skipped token chunk, the recorder called alone."""
    from agentnb.messages import TokenChunk, UsageUpdated
    from agentnb.studio.store import open_recorder

    recorder = open_recorder(path, {"label": "bench"})
    recorder(ChatStarted(sender="user", recipient="assistant", agents=["user", "assistant"], chat_id="chat-b"))
    answer = {"content": "A short answer of a few words, as a model would give. " * 3, "role": "assistant",
              "name": "assistant"}
    turns = []
    for _ in range(n):
        turns += [MessageSent(sender="user", recipient="assistant", chat_id="chat-b",
                              message={"content": "go on", "role": "user", "name": "user"}),
                  UsageUpdated(agent="assistant", model="m", prompt_tokens=30, completion_tokens=12, cost=0.0,
                               chat_id="chat-b"),
                  MessageSent(sender="assistant", recipient="user", message=answer, chat_id="chat-b")]
    chunks = [TokenChunk(sender="assistant", message_id="m1", text="word ", chat_id="chat-b") for _ in range(n)]
    t0 = time.process_time()
    for event in turns:
        recorder(event)
    per_turn = (time.process_time() - t0) / n
    t0 = time.process_time()
    for event in chunks:
        recorder(event)
    per_chunk = (time.process_time() - t0) / n
    return {"recorder_alone_cpu_per_turn_us": per_turn * 1e6, "recorder_per_token_chunk_us": per_chunk * 1e6}


def _ten_agent_spec(base_url: str) -> dict:
    agents = [{"provider": "agentnb.UserProxyAgent", "component_type": "agent",
               "config": {"name": "user", "human_input_mode": "NEVER"}}]
    for i in range(9):
        tools = [{"function": "agentnb.studio.gallery_tools:calculate", "executor": "user"}] if i % 3 == 0 else []
        agents.append({"provider": "agentnb.AssistantAgent", "component_type": "agent",
                       "config": {"name": f"agent{i}", "model": "m", "system_message": f"You are agent {i}.",
                                  "tools": tools}})
    names = [a["config"]["name"] for a in agents]
    return {"provider": "agentnb.Team", "component_type": "team", "version": 1,
            "config": {"kind": "group", "initiator": "user",
                       "models": {"m": {"provider": "agentnb.OpenAIModel", "component_type": "model",
                                        "config": {"model": "m", "base_url": base_url}}},
                       "agents": agents,
                       "group": {"members": names, "selection_method": "round_robin", "max_round": 20,
                                 "transitions": {n: [names[(i + 1) % 10]] for i, n in enumerate(names)}}}}


def _ten_agents_direct(base_url: str) -> None:
    from agentnb.agents.tools import register_function
    from agentnb.studio.gallery_tools import calculate

    llm = {"config_list": [{"model": "m", "base_url": base_url}]}
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    agents = [user]
    for i in range(9):
        agent = AssistantAgent(f"agent{i}", llm_config=llm, system_message=f"You are agent {i}.")
        if i % 3 == 0:
            register_function(calculate, caller=agent, executor=user, description="Evaluate arithmetic.")
        agents.append(agent)
    graph = {a: [agents[(i + 1) % 10]] for i, a in enumerate(agents)}
    gc = GroupChat(agents, max_round=20, speaker_selection_method="round_robin",
                   allowed_or_disallowed_speaker_transitions=graph, speaker_transitions_type="allowed")
    GroupChatManager(gc, llm_config=False)


def load_team_cost(n: int = 30) -> dict[str, float]:
    from agentnb.studio import load_team

    base_url = "http://127.0.0.1:9/v1"
    text = json.dumps(_ten_agent_spec(base_url))
    load_team(text)
    _ten_agents_direct(base_url)
    spec, direct = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        load_team(text)
        spec.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _ten_agents_direct(base_url)
        direct.append(time.perf_counter() - t0)
    s, d = statistics.median(spec), statistics.median(direct)
    return {"load_team_10_agents_ms": s * 1e3, "direct_python_10_agents_ms": d * 1e3, "ratio": s / d}


def builder_render(n: int = 10) -> dict[str, float]:
    from agentnb.notebook.panel import ChatPanel
    from agentnb.studio.builder import Studio

    t0 = time.perf_counter()
    Studio("planner_coder_reviewer", namespace={})
    cold = time.perf_counter() - t0
    studio_times, panel_times = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        Studio("planner_coder_reviewer", namespace={})
        studio_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ChatPanel()
        panel_times.append(time.perf_counter() - t0)
    s, p = statistics.median(studio_times), statistics.median(panel_times)
    return {"first_render_cold_ms": cold * 1e3, "render_warm_ms": s * 1e3, "chat_panel_ms": p * 1e3,
            "ratio_to_chat_panel": s / p}


def main() -> None:
    warnings.simplefilter("ignore")
    results = {"history": history_overhead(), "load_team": load_team_cost(), "builder": builder_render()}
    for name, values in results.items():
        print(name)
        for key, value in values.items():
            print(f"  {key:40s} {value:10.4f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

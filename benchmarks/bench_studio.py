"""Studio costs, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_studio.py

1. run history: 20-turn two-agent chats against the scripted server, history off vs. on, interleaved (medians of
   CPU and wall time per turn); the recording's own cost per turn (CPU of the writer thread, measured by that
   thread, plus the chat thread's enqueue cost) as a fraction of a turn's CPU (target < 5 %). End-to-end
   differences are reported too, but on this shared 2-core machine they move by +-10 % between runs;
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


def history_overhead(rounds: int = 15) -> dict[str, float]:
    from agentnb.studio.store import writer_for

    tmp = tempfile.mkdtemp(prefix="bench-studio-")
    db = os.path.join(tmp, "history.sqlite")
    off, on = [], []
    with ScriptedModelServer([forever("A short answer of a few words, as a model would give.")]) as server:
        _chat(server, 3)  # warm the client, imports
        os.environ["AGENTNB_HISTORY"] = db
        _chat(server, 3)
        writer = writer_for(Path(db))
        cpu0, events0 = writer.cpu_seconds, writer.events_written
        for _ in range(rounds):
            os.environ["AGENTNB_HISTORY"] = "off"
            off.append(_chat(server, TURNS))
            os.environ["AGENTNB_HISTORY"] = db
            on.append(_chat(server, TURNS))
        writer_cpu = (writer.cpu_seconds - cpu0) / (rounds * TURNS)
        events = (writer.events_written - events0) / (rounds * TURNS)
    os.environ.pop("AGENTNB_HISTORY", None)
    cpu_off, cpu_on = (statistics.median(x[0] for x in runs) for runs in (off, on))
    wall_off, wall_on = (statistics.median(x[1] for x in runs) for runs in (off, on))
    queued = enqueue_cost(Path(tmp) / "direct.sqlite")
    per_turn = writer_cpu + events * queued
    return {"turn_cpu_history_off_ms": cpu_off * 1e3, "turn_cpu_history_on_ms": cpu_on * 1e3,
            "end_to_end_cpu_overhead_fraction": (cpu_on - cpu_off) / cpu_off,
            "turn_wall_history_off_ms": wall_off * 1e3, "turn_wall_history_on_ms": wall_on * 1e3,
            "end_to_end_wall_overhead_fraction": (wall_on - wall_off) / wall_off,
            "events_recorded_per_turn": events,
            "chat_thread_per_event_us": queued * 1e6,
            "writer_cpu_per_turn_us": writer_cpu * 1e6,
            "recording_cpu_per_turn_fraction": per_turn / cpu_off,
            "recording_cpu_per_message_fraction": per_turn / events / cpu_off if events else 0.0}


def enqueue_cost(path: Path, n: int = 2000) -> float:
    """Seconds per MessageSent spent on the chat's thread (the recorder only queues it)."""
    from agentnb.studio.store import open_recorder

    recorder = open_recorder(path, {"label": "bench"})
    recorder(ChatStarted(sender="user", recipient="assistant", agents=["user", "assistant"], chat_id="chat-b"))
    message = {"content": "A short answer of a few words, as a model would give. " * 3, "role": "assistant",
               "name": "assistant"}
    events = [MessageSent(sender="assistant", recipient="user", message=message, chat_id="chat-b")
              for _ in range(n)]
    t0 = time.perf_counter()
    for event in events:
        recorder(event)
    queued = (time.perf_counter() - t0) / n
    recorder.writer.flush(timeout=120)
    return queued


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

"""Studio costs, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_studio.py

1. run history: a 20-turn two-agent chat against the scripted server with history off vs. on (interleaved runs,
   medians) -> recording overhead per turn as a fraction of a turn (target < 5 %); plus the recorder's own cost
   per MessageSent event (SQLite insert + commit, WAL) against the same turn;
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


def _chat(server: ScriptedModelServer, turns: int) -> float:
    assistant = AssistantAgent("assistant", llm_config=server.llm_config(), system_message="Reply briefly.")
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                          default_auto_reply="go on", max_consecutive_auto_reply=turns - 1)
    t0 = time.perf_counter()
    user.initiate_chat(assistant, message="start", silent=True)
    return (time.perf_counter() - t0) / turns


def history_overhead(rounds: int = 7) -> dict[str, float]:
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
    os.environ.pop("AGENTNB_HISTORY", None)
    turn_off, turn_on = statistics.median(off), statistics.median(on)
    queued, written = recorder_cost(Path(tmp) / "direct.sqlite")
    return {"turn_history_off_ms": turn_off * 1e3, "turn_history_on_ms": turn_on * 1e3,
            "overhead_fraction_of_turn": (turn_on - turn_off) / turn_off,
            "chat_thread_per_message_us": queued * 1e6,
            "chat_thread_per_message_fraction_of_turn": queued / turn_off,
            "writer_per_message_us": written * 1e6}


def recorder_cost(path: Path, n: int = 2000) -> tuple[float, float]:
    """(seconds per MessageSent on the chat's thread, seconds per MessageSent written incl. the final flush)."""
    from agentnb.studio.store import open_recorder

    recorder = open_recorder(path, {"label": "bench"})
    recorder(ChatStarted(sender="user", recipient="assistant", agents=["user", "assistant"], chat_id="chat-b"))
    recorder.writer.flush()
    message = {"content": "A short answer of a few words, as a model would give. " * 3, "role": "assistant",
               "name": "assistant"}
    events = [MessageSent(sender="assistant", recipient="user", message=message, chat_id="chat-b")
              for _ in range(n)]
    t0 = time.perf_counter()
    for event in events:
        recorder(event)
    queued = time.perf_counter() - t0
    recorder.writer.flush(timeout=120)
    written = time.perf_counter() - t0
    return queued / n, written / n


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

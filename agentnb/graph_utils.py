"""AutoGen 0.2's ``autogen.graph_utils``: checks and helpers for a group chat's speaker-transition graph.

    allowed = {a: [b], b: [a, c], c: [a]}          # agent -> agents that may speak next
    check_graph_validity(allowed, [a, b, c])     # ValueError for a malformed graph, warnings for oddities
    has_self_loops(allowed)                      # False
    invert_disallowed_to_allowed({a: [c]}, [a, b, c])[a]   # [a, b]
"""

from __future__ import annotations

import logging
import math
from typing import Any

from .agents.conversable import Agent

logger = logging.getLogger(__name__)


def has_self_loops(allowed_speaker_transitions: dict) -> bool:
    """True if some agent may follow itself."""
    return any(key in value for key, value in allowed_speaker_transitions.items())


def check_graph_validity(allowed_speaker_transitions_dict: dict, agents: list[Agent]) -> None:
    """Raise ``ValueError`` unless the graph is a dict of agent -> list of agents, keyed by members of
    ``agents``. Log a warning for isolated agents, agents missing from (or foreign to) the graph, and
    duplicates in a list (as 0.2 does)."""
    graph = allowed_speaker_transitions_dict
    if not isinstance(graph, dict):
        raise ValueError("allowed_speaker_transitions_dict must be a dictionary.")
    if not all(isinstance(value, list) for value in graph.values()):
        raise ValueError("allowed_speaker_transitions_dict must be a dictionary with lists as values.")
    if not all(key in agents for key in graph):
        raise ValueError("allowed_speaker_transitions_dict has keys not in agents.")
    if not all(isinstance(agent, Agent) for value in graph.values() for agent in value):
        raise ValueError("allowed_speaker_transitions_dict has values that are not lists of Agents.")

    has_outgoing = [key for key, targets in graph.items() if targets]
    has_incoming = [agent for targets in graph.values() for agent in targets]
    isolated = [a for a in agents if a not in has_outgoing and a not in has_incoming]
    if isolated:
        logger.warning("Warning: There are isolated agent nodes, there are not incoming nor outgoing edges. "
                       f"Isolated agents: {[a.name for a in isolated]}")
    in_graph = set(has_incoming) | set(has_outgoing)
    offending = in_graph.symmetric_difference(agents)
    if offending:
        logger.warning("Warning: The set of agents in allowed_speaker_transitions do not match agents. "
                       f"Offending agents: {sorted(a.name for a in offending)}")
    for key, targets in graph.items():
        duplicates = {t for t in targets if targets.count(t) > 1}
        if duplicates:
            logger.warning(f"Agent '{key.name}' has duplicate elements: {sorted(a.name for a in duplicates)}. "
                           "Please remove duplicates manually.")


def invert_disallowed_to_allowed(disallowed_speaker_transitions_dict: dict, agents: list[Agent]) -> dict:
    """The allowed graph: every agent to every agent (itself included), minus the disallowed edges."""
    allowed = {agent: list(agents) for agent in agents}
    for key, banned in disallowed_speaker_transitions_dict.items():
        allowed[key] = [agent for agent in allowed[key] if agent not in banned]
    return allowed


def visualize_speaker_transitions_dict(speaker_transitions_dict: dict, agents: list[Agent]) -> Any:
    """Draw the graph with matplotlib (agents on a circle, an arrow per transition) and return the figure.

    Shown with ``plt.show()`` on interactive backends (a notebook shows it inline). Needs matplotlib
    (0.2 also needed networkx; agentnb does not).
    """
    try:
        import matplotlib
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("visualize_speaker_transitions_dict needs matplotlib: pip install matplotlib") from None
    names = [agent.name for agent in agents]
    n = max(len(names), 1)
    pos = {name: (math.cos(2 * math.pi * i / n + math.pi / 2), math.sin(2 * math.pi * i / n + math.pi / 2))
           for i, name in enumerate(names)}
    fig, ax = plt.subplots(figsize=(6, 6))
    for src, targets in speaker_transitions_dict.items():
        for dst in targets:
            (x1, y1), (x2, y2) = pos[src.name], pos[dst.name]
            if src.name == dst.name:
                ax.add_patch(matplotlib.patches.Circle((x1 * 1.18, y1 * 1.18), 0.08, fill=False, color="#555"))
                continue
            ax.annotate("", xy=(x2, y2), xytext=(x1, y1),
                        arrowprops={"arrowstyle": "-|>", "color": "#555", "shrinkA": 18, "shrinkB": 18,
                                    "connectionstyle": "arc3,rad=0.08"})
    for name, (x, y) in pos.items():
        ax.scatter([x], [y], s=1400, color="#e8f0fe", edgecolors="#1a73e8", zorder=3)
        ax.text(x, y, name, ha="center", va="center", fontweight="bold", zorder=4)
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        plt.show()
    return fig

"""``autogen.graph_utils`` (0.2): validity checks, inversion, self loops and the matplotlib drawing."""

from __future__ import annotations

import logging

import matplotlib
import matplotlib.text
import pytest

import agentnb as autogen
from agentnb.graph_utils import (
    check_graph_validity,
    has_self_loops,
    invert_disallowed_to_allowed,
    visualize_speaker_transitions_dict,
)


@pytest.fixture
def agents():
    return [autogen.ConversableAgent(name, llm_config=False, human_input_mode="NEVER") for name in "abcd"]


def test_valid_graph_passes_silently(agents, caplog):
    a, b, c, d = agents
    with caplog.at_level(logging.WARNING):
        check_graph_validity({a: [b], b: [c], c: [d], d: [a]}, agents)
    assert caplog.text == ""


def test_structural_errors(agents):
    a, b = agents[:2]
    with pytest.raises(ValueError, match="must be a dictionary"):
        check_graph_validity([(a, b)], agents)
    with pytest.raises(ValueError, match="lists as values"):
        check_graph_validity({a: b}, agents)
    stranger = autogen.ConversableAgent("e", llm_config=False)
    with pytest.raises(ValueError, match="keys not in agents"):
        check_graph_validity({stranger: [a]}, agents)
    with pytest.raises(ValueError, match="not lists of Agents"):
        check_graph_validity({a: ["b"]}, agents)


def test_warnings_isolated_mismatch_duplicates(agents, caplog):
    a, b = agents[:2]
    with caplog.at_level(logging.WARNING):
        check_graph_validity({a: [b, b], b: [a]}, agents)
    assert "isolated agent nodes" in caplog.text and "['c', 'd']" in caplog.text
    assert "do not match agents" in caplog.text
    assert "Agent 'a' has duplicate elements: ['b']" in caplog.text


def test_invert_and_self_loops(agents):
    a, b, c, d = agents
    allowed = invert_disallowed_to_allowed({a: [b, c], d: [d]}, agents)
    assert allowed[a] == [a, d] and allowed[b] == agents and allowed[d] == [a, b, c]
    assert has_self_loops(allowed)
    assert not has_self_loops({a: [b], b: [a]})


def test_invert_result_drives_a_group_chat(agents):
    a, b, c, d = agents
    allowed = invert_disallowed_to_allowed({a: [a]}, agents)
    chat = autogen.GroupChat(agents=agents, messages=[], allowed_or_disallowed_speaker_transitions=allowed,
                             speaker_transitions_type="allowed")
    assert chat.allowed_speaker_transitions_dict[a] == [b, c, d]


def test_visualize_draws_nodes_and_edges(agents):
    a, b, c = agents[:3]
    fig = visualize_speaker_transitions_dict({a: [b, a], b: [c]}, agents)
    try:
        ax = fig.axes[0]
        assert sorted(t.get_text() for t in ax.texts if t.get_text()) == ["a", "b", "c", "d"]
        arrows = [t for t in ax.texts if isinstance(t, matplotlib.text.Annotation)]
        assert len(arrows) == 2 and len(ax.patches) == 1  # a->b, b->c, and a's self loop
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)

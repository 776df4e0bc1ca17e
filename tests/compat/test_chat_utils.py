"""``autogen.agentchat.utils`` (0.2): parse_tags_from_content and gather_usage_summary."""

from __future__ import annotations

import pytest

import agentnb as autogen
from agentnb.chat_utils import gather_usage_summary, parse_tags_from_content
from agentnb.testing import text


def test_parse_bare_src_and_quoted_attributes():
    found = parse_tags_from_content("img", "A cat <img https://x.org/cat.png> and <img file.png> done")
    assert [t["attr"] for t in found] == [{"src": "https://x.org/cat.png"}, {"src": "file.png"}]
    assert found[0]["tag"] == "img" and found[0]["match"].group(0) == "<img https://x.org/cat.png>"
    audio = parse_tags_from_content("audio", """<audio text="Hello I'm a robot" prompt='whisper'>""")
    assert audio[0]["attr"] == {"text": "Hello I'm a robot", "prompt": "whisper"}


def test_parse_mixed_and_multimodal():
    mixed = parse_tags_from_content("img", '<img a b.png width="10">')
    assert mixed[0]["attr"] == {"src": "a b.png", "width": "10"}
    content = [{"type": "text", "text": "<img one.png>"}, {"type": "image_url", "image_url": {"url": "u"}},
               {"type": "text", "text": "<img two.png> <audio x>"}]
    assert [t["attr"]["src"] for t in parse_tags_from_content("img", content)] == ["one.png", "two.png"]
    assert parse_tags_from_content("img", "no tags") == []
    with pytest.raises(ValueError, match="content must be str or list"):
        parse_tags_from_content("img", 3)


def test_gather_usage_summary_across_agents(model_server):
    model_server.add(text("one", usage={"prompt_tokens": 10, "completion_tokens": 2}),
                     text("two", usage={"prompt_tokens": 20, "completion_tokens": 3}))
    first = autogen.AssistantAgent("first", llm_config=model_server.llm_config())
    second = autogen.AssistantAgent("second", llm_config=model_server.llm_config())
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                                  max_consecutive_auto_reply=0)
    user.initiate_chat(first, message="a", silent=True)
    user.initiate_chat(second, message="b", silent=True)
    summary = gather_usage_summary([first, second, user, first])
    total = summary["usage_including_cached_inference"]
    model = model_server.llm_config()["config_list"][0]["model"]
    assert total[model]["prompt_tokens"] == 30 and total[model]["completion_tokens"] == 5
    assert total[model]["total_tokens"] == 35
    assert summary["usage_excluding_cached_inference"][model]["prompt_tokens"] == 30
    assert "total_cost" in total

"""The model client against the real scripted server through the real openai SDK."""

from __future__ import annotations

import asyncio
import json

import pytest

import agentnb as autogen
from agentnb.errors import ConfigError, ModelResponseError, ModelUnavailableError, OutsideLoopbackError
from agentnb.llm.client import ModelClient
from agentnb.messages import StreamStarted, TokenChunk, UsageUpdated, stream_tokens, subscribe
from agentnb.testing import Fault, ScriptedModelServer, tool_calls

HELLO = [{"role": "user", "content": "hello"}]


def create(client, messages=HELLO, **kw):
    return asyncio.run(client.create(messages, **kw))


def test_plain_reply_and_usage(model_server):
    model_server.add("Hi there")
    client = ModelClient(model_server.llm_config(), agent_name="a")
    completion = create(client)
    assert completion.content == "Hi there"
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    usage = client.usage_summary()
    assert usage["scripted-model"]["total_tokens"] == completion.prompt_tokens + completion.completion_tokens
    assert model_server.requests[0]["messages"] == HELLO


def test_transient_429_twice_then_success_counts_one_call(model_server):
    model_server.add(Fault.status(429, times=2, retry_after=0.01), "finally")
    client = ModelClient(model_server.llm_config(), agent_name="a")
    completion = create(client)
    assert completion.content == "finally"
    assert len(model_server.requests) == 3
    assert client.total_usage.totals["scripted-model"]["total_tokens"] == (
        completion.prompt_tokens + completion.completion_tokens)


def test_permanent_error_names_endpoint_and_model_not_key(model_server):
    model_server.add(Fault.status(401, message="Incorrect API key provided"))
    secret = "sk-live-verysecretkey123456"
    cfg = {"config_list": [{"model": "gpt-test", "api_key": secret, "base_url": model_server.base_url}]}
    client = ModelClient(cfg)
    with pytest.raises(ModelResponseError) as info:
        create(client)
    text = str(info.value)
    assert "gpt-test" in text and model_server.base_url in text and "401" in text
    assert secret not in text and secret not in repr(info.value)
    assert len(model_server.requests) == 1  # 401 is not retried


def test_config_list_falls_back_to_next_entry(model_server):
    with ScriptedModelServer() as second:
        model_server.add(Fault.status(500, times=3, retry_after=0.01))
        second.add("from the second")
        cfg = {"config_list": model_server.config_list() + second.config_list(), "max_retries": 2}
        completion = create(ModelClient(cfg))
    assert completion.content == "from the second"
    assert len(model_server.requests) == 3  # first try + 2 retries, then next entry


def test_every_entry_failing_raises_unavailable(model_server):
    model_server.add(Fault.status(503, times=2, retry_after=0.01))
    client = ModelClient({**model_server.llm_config(), "max_retries": 1})
    with pytest.raises(ModelUnavailableError, match="scripted-model"):
        create(client)


def test_timeout_is_reported(model_server):
    model_server.add(Fault.hang(5))
    client = ModelClient({**model_server.llm_config(), "timeout": 0.3, "max_retries": 0})
    with pytest.raises(ModelUnavailableError, match="timed out"):
        create(client)


def test_malformed_reply_is_a_clear_error(model_server):
    model_server.add(Fault.malformed())
    client = ModelClient({**model_server.llm_config(), "max_retries": 0})
    with pytest.raises((ModelResponseError, ModelUnavailableError)) as info:
        create(client)
    assert "scripted-model" in str(info.value)


def test_streaming_emits_tokens_and_reassembles(model_server):
    model_server.add("streamed words arrive in pieces")
    client = ModelClient(model_server.llm_config(), agent_name="bot")
    events = []
    with subscribe(events.append), stream_tokens():
        completion = create(client)
    assert completion.content == "streamed words arrive in pieces"
    chunks = [e for e in events if isinstance(e, TokenChunk)]
    assert len(chunks) > 2 and "".join(c.text for c in chunks) == completion.content
    assert isinstance(events[0], StreamStarted) and chunks[0].message_id == completion.message_id
    assert any(isinstance(e, UsageUpdated) and e.completion_tokens > 0 for e in events)
    assert model_server.requests[0]["stream"] is True


def test_streamed_tool_calls_reassembled(model_server):
    model_server.add(tool_calls([("add", {"a": 1, "b": 2}), ("mul", {"a": 3, "b": 4})]))
    client = ModelClient({**model_server.llm_config(), "stream": True})
    completion = create(client, tools=[{"type": "function", "function": {"name": "add", "parameters": {}}}])
    assert [c["function"]["name"] for c in completion.tool_calls] == ["add", "mul"]
    assert json.loads(completion.tool_calls[1]["function"]["arguments"]) == {"a": 3, "b": 4}
    assert model_server.requests[0]["tools"][0]["function"]["name"] == "add"


def test_cache_seed_avoids_second_network_call(model_server, tmp_path):
    model_server.add("cached answer")
    cfg = {**model_server.llm_config(), "cache_seed": 7, "cache_path_root": str(tmp_path)}
    first = create(ModelClient(cfg))
    second_client = ModelClient(cfg)
    second = create(second_client)
    assert first.content == second.content == "cached answer"
    assert second.cached and len(model_server.requests) == 1
    assert second_client.usage_summary(actual=True) is None  # cached calls cost nothing "actual"
    assert second_client.usage_summary()["total_cost"] == 0.0


def test_price_in_config_gives_cost(model_server):
    model_server.add("x")
    cfg = {"config_list": model_server.config_list(price=[1.0, 2.0])}
    completion = create(ModelClient(cfg))
    expected = (completion.prompt_tokens * 1.0 + completion.completion_tokens * 2.0) / 1000
    assert completion.cost == pytest.approx(expected)


@pytest.mark.parametrize("cfg, field", [
    ({"config_list": []}, "config_list"),
    ({"config_list": [{"api_key": "k"}]}, "model"),
    ({"config_list": [{"model": "m", "api_type": "anthropic"}]}, "api_type"),
    ({"config_list": [{"model": "m", "price": [1]}]}, "price"),
    ({"config_list": [{"model": "m"}], "timeout": -1}, "timeout"),
])
def test_bad_llm_config_is_a_clear_error(cfg, field):
    with pytest.raises(ConfigError, match=field):
        autogen.AssistantAgent("a", llm_config=cfg)


def test_loopback_guard_refuses_real_endpoints():
    client = ModelClient({"config_list": [{"model": "gpt-4o", "api_key": "sk-whatever-123456"}]})
    with pytest.raises(OutsideLoopbackError, match=r"api\.openai\.com"):
        create(client)


def test_config_list_from_json_env_and_file(tmp_path, monkeypatch):
    entries = [{"model": "gpt-4o", "api_key": "k1"}, {"model": "local", "base_url": "http://127.0.0.1:1/v1",
                                                       "tags": ["cheap"]}]
    monkeypatch.setenv("MY_LIST", json.dumps(entries))
    assert autogen.config_list_from_json("MY_LIST", filter_dict={"model": ["local"]}) == entries[1:]
    path = tmp_path / "OAI_CONFIG_LIST"
    path.write_text(json.dumps(entries))
    assert autogen.config_list_from_json("OAI_CONFIG_LIST", file_location=str(tmp_path)) == entries
    assert autogen.config_list_from_json(str(path), filter_dict={"tags": ["cheap"]}) == entries[1:]
    monkeypatch.setenv("FILE_LIST", str(path))
    assert len(autogen.config_list_from_json("FILE_LIST")) == 2
    with pytest.raises(FileNotFoundError):
        autogen.config_list_from_json("NOPE_LIST", file_location=str(tmp_path))
    monkeypatch.setenv("BAD_LIST", "{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        autogen.config_list_from_json("BAD_LIST")


@pytest.mark.parametrize("stream", [False, True])
def test_finish_reason_is_kept(model_server, stream):
    from agentnb.testing import text

    model_server.add(text("cut sho", finish_reason="length"), "whole")
    client = ModelClient(model_server.llm_config(), agent_name="a")
    assert create(client, stream=stream).finish_reason == "length"
    assert create(client, stream=stream).finish_reason == "stop"

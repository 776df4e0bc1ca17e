"""``autogen.token_count_utils`` (0.2): token counts, context windows and tool-schema overhead, with the
offline approximate tokenizer (tiktoken is used only when its encoding file is already cached)."""

from __future__ import annotations

import pytest

import agentnb.token_count_utils as tcu
from agentnb.token_count_utils import (
    ApproxEncoding,
    count_token,
    get_encoding,
    get_max_token_limit,
    num_tokens_from_functions,
    percentile_used,
    token_left,
)


def test_max_token_limit_and_azure_aliases():
    assert get_max_token_limit("gpt-4") == 8192
    assert get_max_token_limit("gpt-35-turbo") == get_max_token_limit("gpt-3.5-turbo") == 16385
    assert get_max_token_limit("gpt4-32k") == 32768
    assert get_max_token_limit() == 4096  # the 0.2 default model, gpt-3.5-turbo-0613
    assert get_max_token_limit("gpt-4o-mini") == 128000
    with pytest.raises(KeyError, match="no-such-model"):
        get_max_token_limit("no-such-model")


def test_count_text_messages_and_dict():
    words = count_token("Hello world")
    assert words == 2
    message = {"role": "user", "content": "Hello world"}
    assert count_token(message) == count_token([message]) == 3 + count_token("user") + words + 3
    named = {"role": "user", "name": "alice", "content": "Hello world"}
    assert count_token([named]) == count_token([message]) + count_token("alice") + 1
    with pytest.raises(ValueError, match="input must be str, list or dict"):
        count_token(42)


def test_tool_calls_count_as_json_and_none_is_skipped():
    call = {"role": "assistant", "content": None,
            "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    import json

    assert count_token([call]) == 3 + count_token("assistant") + count_token(json.dumps(call["tool_calls"])) + 3


def test_token_left_and_percentile():
    assert token_left("Hello world", model="gpt-4") == 8190
    assert percentile_used("Hello world", model="gpt-4") == pytest.approx(2 / 8192)


def test_num_tokens_from_functions_follows_openais_formula():
    function = {"name": "get_weather", "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "unit": {"type": "string", "enum": ["c", "f"]}}}}
    enc = get_encoding("gpt-4")
    n = lambda s: len(enc.encode(s))  # noqa: E731
    expected = (n("get_weather") + n("Weather for a city") - 2
                + n("city") + 2 + n("string") + 2 + n("City name")
                + n("unit") + 2 + n("string") - 3 + 3 + n("c") + 3 + n("f")
                + 11) + 12
    assert num_tokens_from_functions([function], model="gpt-4") == expected
    empty = {"name": "now", "description": "", "parameters": {"type": "object", "properties": {}}}
    assert num_tokens_from_functions([empty]) == n("now") - 2 + 11 - 2 + 12


@pytest.mark.parametrize("text", ["", "plain words here", "déjà vu — 中文 😀", "x=1\n\n\tdef f(a_b): return a_b**2",
                                  "1234567890 " * 5, "don't stop; it's fine!!!"])
def test_approx_encoding_is_lossless(text):
    enc = ApproxEncoding()
    tokens = enc.encode(text)
    assert enc.decode(tokens) == text
    assert all(tokens)  # no empty tokens


def test_approx_encoding_scale():
    enc = ApproxEncoding()
    assert len(enc.encode("The quick brown fox jumps over the lazy dog.")) == 10  # cl100k_base: 10
    assert len(enc.encode("antidisestablishmentarianism")) > 1


def test_tiktoken_used_only_from_a_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty: nothing cached
    assert tcu._tiktoken_cached("cl100k_base") is None
    tcu.get_encoding.cache_clear()
    try:
        assert isinstance(get_encoding("gpt-4"), ApproxEncoding)
    finally:
        tcu.get_encoding.cache_clear()

"""agentnb.testing: the scripted server, driven by the real openai SDK over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import statistics
import threading
import time

import openai
import psutil
import pytest

from agentnb.errors import OutsideLoopbackError
from agentnb.testing import (
    Fault,
    ScriptedModelServer,
    check_loopback,
    code,
    forever,
    is_loopback_host,
    loopback_only,
    loopback_required,
    raw_tool_calls,
    text,
    tool_calls,
)

USER = [{"role": "user", "content": "Please say hello to the whole world."}]


def client(server, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test-local", max_retries=0, **kw)


def ask(server, model="scripted-model", **kw):
    with client(server) as c:
        return c.chat.completions.create(model=model, messages=USER, **kw)


def stream_text(server, **kw) -> tuple[str, list]:
    with client(server) as c:
        chunks = list(c.chat.completions.create(model="m", messages=USER, stream=True, **kw))
    return "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices), chunks


# ------------------------------------------------------------- replies


def test_text_reply_has_usage_id_and_model(model_server):
    model_server.add("Hello, world!")
    reply = ask(model_server, model="gpt-x")
    assert reply.choices[0].message.content == "Hello, world!"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "gpt-x" and reply.id and reply.created
    assert reply.usage.prompt_tokens == math.ceil(len(USER[0]["content"]) / 4)
    assert reply.usage.completion_tokens == 4
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 4
    assert model_server.requests == [{"model": "gpt-x", "messages": USER}]


def test_text_helper_overrides_usage_and_finish_reason(model_server):
    usage = {"prompt_tokens": 100, "completion_tokens": 7}
    model_server.add(text("cut", usage=usage, finish_reason="length"))
    reply = ask(model_server)
    assert reply.choices[0].finish_reason == "length"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (100, 7)
    assert reply.usage.total_tokens == 107


def test_code_reply_is_a_fenced_block(model_server):
    model_server.add(code("print(1 + 1)", before="Run this:", after="Then reply TERMINATE."))
    content = ask(model_server).choices[0].message.content
    assert content == "Run this:\n\n```python\nprint(1 + 1)\n```\n\nThen reply TERMINATE."
    assert code("ls", lang="sh").content == "```sh\nls\n```"


def test_tool_calls_reply(model_server):
    model_server.add(tool_calls([("get_weather", {"city": "Paris"}),
                                 {"name": "add", "arguments": {"a": 1, "b": 2}}]))
    model_server.add(tool_calls([("again", {})]))
    message = ask(model_server).choices[0]
    assert message.finish_reason == "tool_calls"
    calls = message.message.tool_calls
    assert [c.id for c in calls] == ["call_1", "call_2"]
    assert [c.function.name for c in calls] == ["get_weather", "add"]
    assert json.loads(calls[1].function.arguments) == {"a": 1, "b": 2}
    assert message.message.content is None
    assert ask(model_server).choices[0].message.tool_calls[0].id == "call_3"


def test_streamed_text_is_split_and_reassembled(model_server):
    sentence = "The quick brown fox jumps over the lazy dog."
    model_server.add(sentence)
    joined, chunks = stream_text(model_server, stream_options={"include_usage": True})
    assert joined == sentence
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 9
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 11
    assert model_server.requests[0]["stream"] is True


def test_stream_without_include_usage_has_no_usage_chunk(model_server):
    model_server.add("short")
    joined, chunks = stream_text(model_server)
    assert joined == "short" and all(c.usage is None for c in chunks) and chunks[-1].choices


def test_streamed_tool_calls_reassemble(model_server):
    model_server.add(tool_calls([("search", {"query": "jupyter kernels and widgets"}), ("add", {"a": 1})]))
    with client(model_server) as c:
        chunks = list(c.chat.completions.create(model="m", messages=USER, stream=True))
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = call["id"] or delta.id
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
    assert [calls[i]["id"] for i in (0, 1)] == ["call_1", "call_2"]
    assert json.loads(calls[0]["arguments"]) == {"query": "jupyter kernels and widgets"}
    assert calls[1]["name"] == "add"
    argument_pieces = [ch for ch in chunks if (ch.choices[0].delta.tool_calls or [None])[0]
                       and ch.choices[0].delta.tool_calls[0].index == 0]
    assert len(argument_pieces) > 3
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_async_client_with_async_context_manager():
    async def main():
        async with ScriptedModelServer(["one", "two"]) as server:
            async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as c:
                first = await c.chat.completions.create(model="m", messages=USER)
                stream = await c.chat.completions.create(model="m", messages=USER, stream=True)
                second = "".join([ch.choices[0].delta.content or "" async for ch in stream])
            return first.choices[0].message.content, second

    assert asyncio.run(main()) == ("one", "two")


# ---------------------------------------------------------- queues and functions


def test_per_model_queues_and_default_queue(model_server):
    model_server.add("default 1", "default 2")
    model_server.add("critic 1", model="critic")
    assert ask(model_server, model="critic").choices[0].message.content == "critic 1"
    assert ask(model_server, model="writer").choices[0].message.content == "default 1"
    assert model_server.remaining() == 1 and model_server.remaining("critic") == 0
    with pytest.raises(openai.InternalServerError, match="no scripted reply left for model critic"):
        ask(model_server, model="critic")
    assert len(model_server.requests_for("critic")) == 2
    assert len(model_server.requests) == 3


def test_empty_queue_answers_500_with_a_clear_message(model_server):
    with pytest.raises(openai.InternalServerError) as info:
        ask(model_server, model="gpt-4o")
    assert info.value.status_code == 500
    assert "scripted model server: no scripted reply left for model gpt-4o" in str(info.value)


def test_function_model_sees_the_conversation(model_server):
    model_server.add(lambda body: f"you said: {body['messages'][-1]['content']}")
    assert ask(model_server).choices[0].message.content == f"you said: {USER[0]['content']}"
    assert model_server.remaining() == 0


def test_forever_function_model_answers_every_request():
    with ScriptedModelServer(lambda body: f"{len(body['messages'])} messages") as server:
        assert [ask(server).choices[0].message.content for _ in range(3)] == ["1 messages"] * 3
        assert server.remaining() == 1
    with ScriptedModelServer([forever(lambda body: tool_calls([("f", {})]))]) as server:
        assert ask(server).choices[0].message.tool_calls[0].function.name == "f"


def test_function_model_error_is_reported(model_server):
    model_server.add(lambda body: 1 / 0)
    with pytest.raises(openai.InternalServerError, match="function model raised ZeroDivisionError"):
        ask(model_server)


def test_reset_and_models_endpoint(model_server):
    model_server.add("x", model="critic")
    with client(model_server) as c:
        assert [m.id for m in c.models.list()] == ["scripted-model", "critic"]
    ask(model_server, model="critic")
    model_server.reset()
    assert model_server.requests == [] and model_server.remaining("critic") == 0


def test_config_helpers(model_server):
    config = model_server.llm_config(temperature=0)
    assert config == {"config_list": [{"model": "scripted-model", "base_url": model_server.base_url,
                                       "api_key": "sk-test-local"}],
                      "cache_seed": None, "temperature": 0}
    assert model_server.config_list("other", api_type="openai")[0]["model"] == "other"
    assert model_server.base_url.startswith("http://127.0.0.1:") and model_server.base_url.endswith("/v1")


def test_unknown_path_is_404_json(model_server):
    with client(model_server) as c:
        with pytest.raises(openai.NotFoundError, match="no route for POST /v1/embeddings"):
            c.embeddings.create(model="m", input="x")


# ------------------------------------------------------------------ faults


def test_status_faults_map_to_sdk_errors(model_server):
    model_server.add(Fault.status(429, times=2), Fault.status(500), Fault.status(400, message="bad tools"),
                     Fault.status(401), "recovered")
    assert model_server.remaining() == 6
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as info:
            ask(model_server)
        assert info.value.body["code"] == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError):
        ask(model_server)
    with pytest.raises(openai.BadRequestError, match="bad tools"):
        ask(model_server)
    with pytest.raises(openai.AuthenticationError):
        ask(model_server)
    assert ask(model_server).choices[0].message.content == "recovered"


def test_sdk_retries_consume_fault_requests(model_server):
    model_server.add(Fault.status(429, times=2, retry_after=0.01), "after retries")
    with openai.OpenAI(base_url=model_server.base_url, api_key="k", max_retries=2) as c:
        reply = c.chat.completions.create(model="m", messages=USER)
    assert reply.choices[0].message.content == "after retries"
    assert len(model_server.requests) == 3


def test_hang_triggers_client_timeout_then_server_keeps_serving(model_server):
    model_server.add(Fault.hang(30), "fine")
    with client(model_server, timeout=0.5) as c, pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="m", messages=USER)
    assert ask(model_server).choices[0].message.content == "fine"


def test_hang_answers_then_after_the_wait(model_server):
    model_server.add(Fault.hang(0.05, then="late"))
    assert ask(model_server).choices[0].message.content == "late"


def test_malformed_body(model_server):
    model_server.add(Fault.malformed(), Fault.malformed())
    with pytest.raises((openai.APIResponseValidationError, json.JSONDecodeError)):
        ask(model_server)
    with pytest.raises((openai.APIResponseValidationError, json.JSONDecodeError)):
        stream_text(model_server)


def test_disconnect_fault(model_server):
    model_server.add(Fault.disconnect(), "back")
    with pytest.raises(openai.APIConnectionError):
        ask(model_server)
    assert ask(model_server).choices[0].message.content == "back"


def test_faults_in_streaming_requests(model_server):
    model_server.add(Fault.status(503), Fault.disconnect())
    with pytest.raises(openai.InternalServerError):
        stream_text(model_server)
    with pytest.raises(openai.APIConnectionError):
        stream_text(model_server)


def test_cut_stream_sends_exactly_n_chunks_then_closes(model_server):
    model_server.add(Fault.cut(after=2, then="one two three four five six"), "after the cut")
    seen = []
    with client(model_server) as c, pytest.raises(openai.APIConnectionError):
        for chunk in c.chat.completions.create(model="m", messages=USER, stream=True):
            seen.append(chunk)
    assert len(seen) == 2 and all(ch.choices[0].finish_reason is None for ch in seen)
    assert ask(model_server).choices[0].message.content == "after the cut"  # the server keeps serving


def test_cut_non_streamed_body_is_incomplete(model_server):
    model_server.add(Fault.cut())
    with pytest.raises(openai.APIConnectionError):
        ask(model_server)


def test_stall_mid_stream_trips_the_read_timeout_and_stop_ends_it(model_server):
    model_server.add(Fault.stall(600, after=1))
    seen = []
    with client(model_server, timeout=openai.Timeout(0.3, connect=2)) as c, pytest.raises(openai.APITimeoutError):
        for chunk in c.chat.completions.create(model="m", messages=USER, stream=True):
            seen.append(chunk)
    assert len(seen) == 1


def test_short_stall_then_the_whole_reply(model_server):
    model_server.add(Fault.stall(0.05, after=1, then="patience pays"), Fault.stall(0.05, then="also whole"))
    assert stream_text(model_server)[0] == "patience pays"
    assert ask(model_server).choices[0].message.content == "also whole"


@pytest.mark.parametrize("stream", [False, True])
def test_raw_tool_calls_are_served_verbatim(model_server, stream):
    calls = [{"type": "function", "function": {"name": "f", "arguments": "{}"}}, {"id": "c2", "type": "function"}]
    model_server.add(raw_tool_calls(calls))
    if stream:
        with client(model_server) as c:
            chunks = list(c.chat.completions.create(model="m", messages=USER, stream=True))
        deltas = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or []]
        assert [(d.index, d.id, d.function and d.function.name) for d in deltas] == [(0, None, "f"), (1, "c2", None)]
    else:
        served = ask(model_server).choices[0].message.tool_calls
        assert served[0].id is None and served[0].function.name == "f"
        assert served[1].id == "c2" and getattr(served[1], "function", None) is None


def test_requests_breaking_the_tool_protocol_get_openais_400(model_server):
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    bad = [*USER, {"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "user", "content": "?"}]
    good = [*USER, {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "1"}]
    model_server.add("ok", "ok")
    with client(model_server) as c:
        with pytest.raises(openai.BadRequestError, match="c1"):
            c.chat.completions.create(model="m", messages=bad)
        assert c.chat.completions.create(model="m", messages=good).choices[0].message.content == "ok"
    assert model_server.remaining() == 1  # the refused request consumed no reply
    with ScriptedModelServer(["lenient"], check_protocol=False) as lenient, client(lenient) as c:
        assert c.chat.completions.create(model="m", messages=bad).choices[0].message.content == "lenient"


# ------------------------------------------------------ lifecycle and speed


def _server_threads(port):
    return [t for t in threading.enumerate() if t.name.startswith("agentnb-scripted")]


def _open_sockets_on(port):
    return [c for c in psutil.Process().net_connections("tcp") if c.laddr and c.laddr.port == port]


def test_stop_leaves_no_thread_or_socket_and_is_idempotent():
    server = ScriptedModelServer(["a", "b"]).start()
    port = server.port
    with client(server) as c:  # keep-alive: the connection stays open until stop()
        c.chat.completions.create(model="m", messages=USER)
        c.chat.completions.create(model="m", messages=USER)
        assert _server_threads(port)
        server.stop()
        server.stop()
    assert _server_threads(port) == []
    assert [c for c in _open_sockets_on(port) if c.status == psutil.CONN_LISTEN] == []
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_stop_returns_promptly_during_a_hang():
    server = ScriptedModelServer([Fault.hang(600)]).start()
    errors = []

    def call():
        try:
            ask(server)
        except openai.APIError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not server.requests:
        time.sleep(0.01)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(timeout=30)  # liveness, not speed: a 600 s hang must not hold stop()
    assert not stopper.is_alive()
    caller.join(timeout=30)
    assert not caller.is_alive() and isinstance(errors[0], openai.APIConnectionError)
    assert _server_threads(server.port) == []


def test_round_trip_time_is_printed(model_server, capsys):
    """Measured, not asserted: with TCP_NODELAY a keep-alive round trip takes ~1 ms, not 40+."""
    model_server.add(forever("pong"))
    with client(model_server) as c:
        c.chat.completions.create(model="m", messages=USER)
        times = []
        for _ in range(30):
            start = time.perf_counter()
            c.chat.completions.create(model="m", messages=USER)
            times.append((time.perf_counter() - start) * 1000)
    with capsys.disabled():
        print(f"\nscripted server sync round trip: median {statistics.median(times):.2f} ms, "
              f"max {max(times):.2f} ms over {len(times)} calls")


# ----------------------------------------------------------- loopback guard


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/v1", "http://localhost:1234/v1",
                                 "http://[::1]:8080/v1", "http://127.1.2.3/v1", "127.0.0.1:5000"])
def test_loopback_urls_pass(url):
    check_loopback(url)


@pytest.mark.parametrize("url,host", [("https://api.openai.com/v1", "api.openai.com"),
                                      ("http://10.0.0.5:8000/v1", "10.0.0.5"),
                                      ("http://user:secret@example.org/v1", "example.org")])
def test_non_loopback_urls_raise_naming_the_host(url, host):
    with pytest.raises(OutsideLoopbackError, match=host) as info:
        check_loopback(url)
    assert "secret" not in str(info.value)


def test_loopback_mode_switches():
    assert loopback_required()  # conftest sets AGENTNB_LOOPBACK_ONLY=1
    with loopback_only():
        assert loopback_required()
    assert is_loopback_host("::ffff:127.0.0.1") and not is_loopback_host("") and not is_loopback_host(None)


def test_socket_guard_refuses_non_loopback_connects():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock, pytest.raises(OutsideLoopbackError, match=r"192\.0\.2\.1"):
        sock.connect(("192.0.2.1", 443))
    sock6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with sock6, pytest.raises(OutsideLoopbackError):
        sock6.connect_ex(("2001:db8::1", 443, 0, 0))


def test_sdk_call_to_real_api_is_refused_by_socket_guard():
    with openai.OpenAI(base_url="http://93.184.215.14/v1", api_key="k", max_retries=0) as c:
        with pytest.raises((openai.APIConnectionError, OutsideLoopbackError)):
            c.chat.completions.create(model="m", messages=USER)

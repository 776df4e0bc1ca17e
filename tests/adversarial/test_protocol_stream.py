"""A model server that cuts streams, stalls, or never answers: clear errors, retries, and Stop always works."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import openai
import pytest

from agentnb import AssistantAgent, UserProxyAgent
from agentnb.errors import ModelError, ModelUnavailableError
from agentnb.llm.client import ModelClient, _client_for
from agentnb.llm.config import CONNECT_TIMEOUT, DEFAULT_TIMEOUT
from agentnb.messages import ErrorOccurred, subscribe
from agentnb.testing import Fault, ScriptedModelServer

HELLO = [{"role": "user", "content": "hello"}]
SECRET = "sk-adversarial-secret-key-0123456789"
LONG = 600.0
"""How long a stalled server holds a request: far longer than any test may take."""


def create(client: ModelClient, **kw):
    return asyncio.run(client.create(HELLO, **kw))


def secret_config(server: ScriptedModelServer, **extra) -> dict:
    return {"config_list": [{"model": "gpt-stalled", "api_key": SECRET, "base_url": server.base_url}],
            "cache_seed": None, **extra}


# ----------------------------------------------------------------- truncated streams


def test_stream_cut_after_two_chunks_is_retried(model_server):
    model_server.add(Fault.cut(after=2, then="The answer is forty two."), "The answer is forty two.")
    events = []
    client = ModelClient({**model_server.llm_config(), "max_retries": 1})
    with subscribe(events.append):
        completion = create(client, stream=True)
    assert completion.content == "The answer is forty two." and completion.finish_reason == "stop"
    assert len(model_server.requests) == 2
    notes = [e for e in events if isinstance(e, ErrorOccurred)]
    assert len(notes) == 1 and not notes[0].fatal and "cut off after 2 chunk" in notes[0].message


def test_stream_cut_every_time_is_reported_as_truncated_not_as_no_connection(model_server):
    model_server.add(Fault.cut(after=2, times=3))
    client = ModelClient({**model_server.llm_config(), "max_retries": 2})
    with pytest.raises(ModelUnavailableError) as info:
        create(client, stream=True)
    text = str(info.value)
    assert "truncated stream" in text and "could not connect" not in text and "3 attempt" in text
    assert len(model_server.requests) == 3


def test_stream_cut_falls_back_to_the_next_config_entry(model_server):
    with ScriptedModelServer(["from the second"]) as second:
        model_server.add(Fault.cut(after=1))
        cfg = {"config_list": model_server.config_list() + second.config_list(), "max_retries": 0}
        completion = create(ModelClient(cfg), stream=True)
    assert completion.content == "from the second"


def test_non_streamed_body_cut_in_half_is_retried_and_described(model_server):
    model_server.add(Fault.cut(times=2), "whole")
    assert create(ModelClient({**model_server.llm_config(), "max_retries": 2}), stream=False).content == "whole"
    model_server.add(Fault.cut(times=2))
    with pytest.raises(ModelUnavailableError) as info:
        create(ModelClient({**model_server.llm_config(), "max_retries": 1}), stream=False)
    assert "could not connect" not in str(info.value) and "broke before the reply was complete" in str(info.value)


def test_a_chat_survives_a_cut_stream(model_server):
    model_server.add(Fault.cut(after=3, then="Done. TERMINATE"), "Done. TERMINATE")
    assistant = AssistantAgent("assistant", llm_config=model_server.llm_config(stream=True))
    proxy = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                           is_termination_msg=lambda m: (m.get("content") or "").rstrip().endswith("TERMINATE"))
    result = proxy.initiate_chat(assistant, message="finish", silent=True)
    assert result.chat_history[-1]["content"] == "Done. TERMINATE"


# ----------------------------------------------------------------- timeouts


def test_default_timeout_is_bounded_and_overridable(model_server):
    client = ModelClient(model_server.llm_config())
    assert client.config.timeout == DEFAULT_TIMEOUT <= 120

    async def sdk_timeout(cfg):
        return _client_for(ModelClient(cfg).config.entries[0], ModelClient(cfg).config).timeout

    default = asyncio.run(sdk_timeout(model_server.llm_config()))
    assert isinstance(default, openai.Timeout)
    assert default.read == DEFAULT_TIMEOUT and default.connect == CONNECT_TIMEOUT < DEFAULT_TIMEOUT
    custom = asyncio.run(sdk_timeout({**model_server.llm_config(), "timeout": 3}))
    assert custom.read == 3 and custom.connect == 3


@pytest.mark.parametrize("stream", [False, True])
def test_stalled_server_gives_a_clear_error_naming_endpoint_and_model(model_server, stream):
    model_server.add(Fault.hang(LONG, times=2))
    client = ModelClient(secret_config(model_server, timeout=0.3, max_retries=1))
    with pytest.raises(ModelUnavailableError) as info:
        create(client, stream=stream)
    text = f"{info.value} {info.value!r} {info.value.__cause__!r}"
    assert "timed out" in str(info.value) or "stalled" in str(info.value)
    assert "gpt-stalled" in str(info.value) and model_server.base_url in str(info.value)
    assert SECRET not in text
    assert info.value.model == "gpt-stalled" and info.value.base_url == model_server.base_url
    assert len(model_server.requests) == 2  # max_retries=1: asked twice, then gave up


def test_stream_stalling_part_way_is_retried(model_server):
    model_server.add(Fault.stall(LONG, after=2, then="late"), "on time")
    completion = create(ModelClient({**model_server.llm_config(), "timeout": 0.3, "max_retries": 1}), stream=True)
    assert completion.content == "on time" and len(model_server.requests) == 2


def test_headers_then_silence_times_out(model_server):
    model_server.add(Fault.stall(LONG))
    with pytest.raises(ModelUnavailableError, match="timed out"):
        create(ModelClient({**model_server.llm_config(), "timeout": 0.3, "max_retries": 0}), stream=False)


def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(model_server):
    """One byte every 0.1 s never trips the read timeout; the call's total deadline still ends it."""
    model_server.add(Fault.trickle(0.1))
    with pytest.raises(ModelUnavailableError, match="timed out"):
        create(ModelClient({**model_server.llm_config(), "timeout": 0.5, "max_retries": 0}), stream=False)


def test_a_slow_but_steady_stream_is_not_cut(model_server):
    """Streams have no total deadline: tokens that keep coming are a reply in progress, not a stall."""
    model_server.add(Fault.trickle(0.05, then="one two three four five six seven eight nine ten"))
    completion = create(ModelClient({**model_server.llm_config(), "timeout": 0.3, "max_retries": 0}), stream=True)
    assert completion.content == "one two three four five six seven eight nine ten"


def test_timeout_error_is_a_model_error_in_a_chat(model_server):
    model_server.add(Fault.hang(LONG))
    assistant = AssistantAgent("assistant", llm_config={**model_server.llm_config(), "timeout": 0.3,
                                                        "max_retries": 0})
    proxy = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    with pytest.raises(ModelError) as info:
        proxy.initiate_chat(assistant, message="hello?", silent=True)
    assert info.value.chat_history[0]["content"] == "hello?"


# ----------------------------------------------------------------- Stop during a model call


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fault", ["hang", "stall"])
def test_cancel_ends_a_chat_waiting_on_a_stalled_model(stream, fault):
    """The default timeout is minutes; cancelling the chat task (Stop) must not wait for it."""

    async def scenario(server: ScriptedModelServer):
        assistant = AssistantAgent("assistant", llm_config={**server.llm_config(), "stream": stream})
        proxy = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
        task = asyncio.ensure_future(proxy.a_initiate_chat(assistant, message="hello?", silent=True))
        while not server.requests:  # the model call is under way
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=30)  # a liveness bound, far below the 600 s stall
        return task

    script = Fault.hang(LONG) if fault == "hang" else Fault.stall(LONG, after=2)
    with ScriptedModelServer([script]) as server:
        started = time.monotonic()
        task = asyncio.run(scenario(server))
        assert task.cancelled() and time.monotonic() - started < LONG


SYNC_CHAT = textwrap.dedent("""
    import sys, threading, time
    from agentnb import AssistantAgent, UserProxyAgent
    from agentnb.testing import Fault, ScriptedModelServer

    stream = sys.argv[1] == "stream"
    with ScriptedModelServer([Fault.hang(600) if not stream else Fault.stall(600, after=2)]) as server:
        def announce():
            while not server.requests:
                time.sleep(0.01)
            print("model call under way", flush=True)
        threading.Thread(target=announce, daemon=True).start()
        assistant = AssistantAgent("assistant", llm_config={**server.llm_config(), "stream": stream})
        proxy = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
        try:
            proxy.initiate_chat(assistant, message="hello?", silent=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
""")


@pytest.mark.parametrize("stream", ["plain", "stream"])
def test_ctrl_c_ends_a_sync_chat_waiting_on_a_stalled_model(tmp_path, stream):
    """Ctrl-C in a script (or the notebook's interrupt) while initiate_chat waits on a silent server."""
    script = tmp_path / "chat.py"
    script.write_text(SYNC_CHAT)
    env = {**os.environ, "AGENTNB_LOOPBACK_ONLY": "1"}
    proc = subprocess.Popen([sys.executable, str(script), stream], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "model call under way"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # a liveness bound, far below the 600 s stall
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "interrupted" in out, err
    assert proc.returncode == 0, err

"""``autogen.io`` (0.2): the IOStream protocol, its defaults, and agentnb's output and input going through it."""

from __future__ import annotations

import asyncio
import threading

import pytest

import agentnb as autogen
from agentnb.io import InputStream, IOConsole, IOStream, OutputStream


class Recorder:
    """A 0.2-style custom IOStream (no base class: the protocol is structural)."""

    def __init__(self, answers: list[str] | None = None):
        self.printed: list[str] = []
        self.prompts: list[str] = []
        self.threads: set[str] = set()
        self.answers = list(answers or [])

    def print(self, *objects, sep=" ", end="\n", flush=False):
        self.printed.append(sep.join(map(str, objects)))
        self.threads.add(threading.current_thread().name)

    def input(self, prompt="", *, password=False):
        self.prompts.append(prompt)
        return self.answers.pop(0) if self.answers else ""

    @property
    def text(self) -> str:
        return "\n".join(self.printed)


def pair(server, **proxy_kw):
    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
    user = autogen.UserProxyAgent("user", code_execution_config=False, **proxy_kw)
    return assistant, user


def test_protocol_and_defaults():
    console = IOStream.get_default()
    assert type(console) is IOConsole
    assert isinstance(console, IOStream) and isinstance(console, InputStream) and isinstance(console, OutputStream)
    assert isinstance(Recorder(), InputStream) and isinstance(Recorder(), OutputStream)  # structural, as in 0.2
    assert not isinstance(object(), IOStream)
    assert IOStream.get_global_default() is console


def test_set_default_is_scoped_and_restored():
    outer, inner = Recorder(), Recorder()
    global_default = IOStream.get_default()
    with IOStream.set_default(outer):
        assert IOStream.get_default() is outer
        with IOStream.set_default(inner):
            assert IOStream.get_default() is inner
        assert IOStream.get_default() is outer
        with IOStream.set_default(None):
            assert IOStream.get_default() is global_default
    assert IOStream.get_default() is global_default


def test_set_default_does_not_leak_into_other_threads():
    mine, seen = Recorder(), []
    with IOStream.set_default(mine):
        worker = threading.Thread(target=lambda: seen.append(IOStream.get_default()))
        worker.start()
        worker.join()
    assert seen and seen[0] is not mine


def test_set_global_default_replaces_the_console_everywhere():
    previous = IOStream.get_global_default()
    mine = Recorder()
    try:
        IOStream.set_global_default(mine)
        assert IOStream.get_default() is mine
        seen = []
        worker = threading.Thread(target=lambda: seen.append(IOStream.get_default()))
        worker.start()
        worker.join()
        assert seen == [mine]
    finally:
        IOStream.set_global_default(previous)


def test_a_custom_iostream_receives_the_conversation(model_server, capsys):
    model_server.add("The answer is 4.", "TERMINATE")
    assistant, user = pair(model_server, human_input_mode="NEVER", max_consecutive_auto_reply=1)
    stream = Recorder()
    with IOStream.set_default(stream):
        user.initiate_chat(assistant, message="What is 2+2?")
    assert "user (to assistant):" in stream.text and "What is 2+2?" in stream.text
    assert "assistant (to user):" in stream.text and "The answer is 4." in stream.text
    assert stream.threads == {threading.current_thread().name}  # printed on the caller's thread
    assert "The answer is 4." not in capsys.readouterr().out  # nothing went around the stream


def test_the_async_chat_prints_through_the_stream_too(model_server):
    model_server.add("four", "TERMINATE")
    assistant, user = pair(model_server, human_input_mode="NEVER", max_consecutive_auto_reply=1)
    stream = Recorder()

    async def main():
        with IOStream.set_default(stream):
            await user.a_initiate_chat(assistant, message="2+2?")

    asyncio.run(main())
    assert "four" in stream.text


def test_human_input_is_read_from_the_stream(model_server):
    model_server.add("Do you want more?")
    assistant, user = pair(model_server, human_input_mode="ALWAYS")
    stream = Recorder(answers=["exit"])
    with IOStream.set_default(stream):
        result = user.initiate_chat(assistant, message="hello")
    assert len(stream.prompts) == 1 and "exit" in stream.prompts[0]
    assert result.stop_reason == "human_exit"
    assert len(model_server.requests) == 1


def test_an_explicit_view_stream_wins_over_the_iostream(model_server):
    import io

    from agentnb.console import ConsoleView

    buffer, stream = io.StringIO(), Recorder()
    view = ConsoleView(stream=buffer)
    with IOStream.set_default(stream):
        view._print("hello")
    assert buffer.getvalue() == "hello\n" and stream.printed == []


def test_agent_usage_summary_prints_through_the_stream(model_server):
    model_server.add("hi")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    reply = assistant.generate_reply([{"role": "user", "content": "hello"}])
    assert reply == "hi"
    stream = Recorder()
    with IOStream.set_default(stream):
        assistant.print_usage_summary()
        autogen.ConversableAgent("nollm", llm_config=False).print_usage_summary()
    assert stream.printed[0] == "Agent 'assistant':"
    assert "Usage summary excluding cached usage: " in stream.printed
    assert any(line.startswith("* Model 'scripted-model': cost: 0") for line in stream.printed)
    assert stream.printed[-1] == "No cost incurred from agent 'nollm'."


def test_iostream_input_password_uses_getpass(monkeypatch):
    import getpass

    monkeypatch.setattr(getpass, "getpass", lambda prompt="": f"secret for {prompt}")
    assert IOConsole().input("Key: ", password=True) == "secret for Key: "


@pytest.mark.parametrize("mode", [["actual", "total", "x"], [], "bogus"])
def test_print_usage_summary_rejects_bad_modes(mode):
    from agentnb.oai.usage import print_usage_summary

    summary = {"total_cost": 0.0, "m": {"cost": 0.0, "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    with IOStream.set_default(Recorder()), pytest.raises(ValueError, match="Invalid mode"):
        print_usage_summary(summary, summary, mode)

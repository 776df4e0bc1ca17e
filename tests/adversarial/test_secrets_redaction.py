"""Leak: an API key reaches the model, the console, the events and the saved notebook.

Redaction is the last net, not the defence (see test_secrets_proc.py), but it must hold for every
path that shows or stores output: the model's next request, ExecutionOutput/ExecutionFinished
events (which the console, the panel, the plain renderer and the exporter all consume), and the
exported notebook. Copies a hostile model makes (reversed, base64, spaced, hex, in stderr, in an
error, in HTML, inside a PNG) count, and so does the key taken from ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import zlib

import nbformat
import pytest

import agentnb as autogen
from agentnb.errors import ChatError, ModelError, redact, register_secret
from agentnb.export import events_to_notebook
from agentnb.messages import Event, subscribe
from agentnb.testing import Fault, ScriptedModelServer, code


def _key() -> str:
    return "sk-proj-" + secrets.token_urlsafe(30)


def _forms(key: str) -> dict[str, str]:
    return {
        "literal": key,
        "reversed": key[::-1],
        "base64": base64.b64encode(key.encode()).decode(),
        "base64-embedded": base64.b64encode(f"token={key};".encode()).decode(),
        "spaced": " ".join(key),
        "listed": str(list(key)),
        "hex": key.encode().hex(),
    }


def _png_with_text(text: str) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + \
        chunk(b"tEXt", b"Comment\x00" + text.encode()) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + \
        chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


def _leaks(blob: str, key: str) -> list[str]:
    """Which copies of ``key`` are in ``blob`` (the forms above, plus the separator-free spaced forms)."""
    flat = "".join(c for c in blob if c.isalnum())
    found = [name for name, form in _forms(key).items() if form in blob]
    core = "".join(c for c in key if c.isalnum())
    found += [f"flattened-{name}" for name, form in (("literal", core), ("reversed", core[::-1])) if form in flat]
    return found


def _hostile_block(stolen) -> str:
    """Code that gets the key at run time (as reading /proc/<pid>/mem would) and prints copies of it."""
    return "\n".join([
        "import base64, sys",
        f"k = open({str(stolen)!r}).read()",
        "for form in (k, k[::-1], base64.b64encode(k.encode()).decode(),",
        "             base64.b64encode(('x' + k).encode()).decode(), ' '.join(k), str(list(k)), k.encode().hex()):",
        "    print(form)",
        "sys.stderr.write(k[::-1] + '\\n')",
        "display({'text/html': '<b>' + ' '.join(k) + '</b>', 'text/plain': k}, raw=True)",
        "display({'image/png': PNG}, raw=True)",
        "raise RuntimeError('the key is ' + base64.b64encode(k.encode()).decode())",
    ])


@pytest.mark.parametrize("executor", ["jupyter", "commandline-local"])
def test_no_copy_of_a_config_list_key_reaches_model_events_console_or_export(tmp_path, capsys, executor):
    key = _key()
    events: list[Event] = []
    stolen = tmp_path / "stolen.txt"
    stolen.write_text(key)
    block = _hostile_block(stolen).replace("PNG", repr(_png_with_text(key)))
    if executor == "commandline-local":  # no rich display in a plain subprocess
        block = "\n".join(line for line in block.split("\n") if not line.startswith("display("))
    with ScriptedModelServer([code(block), "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config={
            "config_list": server.config_list(api_key=key), "cache_seed": None})
        proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=2,
                                       code_execution_config={"work_dir": str(tmp_path), "executor": executor})
        with subscribe(events.append):
            result = proxy.initiate_chat(assistant, message="go")  # the console view prints everything
        requests = json.dumps(server.requests)
    console = capsys.readouterr().out
    stored = json.dumps([ev.__dict__ for ev in events], default=str)
    notebook = nbformat.writes(events_to_notebook(result.events))
    told = result.chat_history[2]["content"]
    assert told.startswith("exitcode: 1") and "RuntimeError" in told  # the code really ran and printed
    for where, blob in [("model", requests), ("console", console), ("events", stored), ("notebook", notebook)]:
        assert _leaks(blob, key) == [], f"the key leaked to the {where}"
    if executor == "jupyter":  # the image holding the key was withheld, not stored
        assert "withheld" in notebook and _png_with_text(key) not in notebook


def test_the_openai_api_key_fallback_is_redacted_from_errors(monkeypatch):
    key = secrets.token_hex(24)  # not shaped like "sk-...": only its registration can catch it
    monkeypatch.setenv("OPENAI_API_KEY", key)
    events: list[Event] = []
    with ScriptedModelServer([Fault.status(401, message=f"Incorrect API key provided: {key}")]) as server:
        entry = {"model": "scripted-model", "base_url": server.base_url}  # no api_key: the env key is used
        assistant = autogen.AssistantAgent("assistant", llm_config={"config_list": [entry], "cache_seed": None})
        proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", code_execution_config=False)
        with subscribe(events.append), pytest.raises((ChatError, ModelError)) as info:
            proxy.initiate_chat(assistant, message="go", silent=True)
        assert server.requests, "the request never reached the endpoint"
    text = str(info.value) + json.dumps([ev.__dict__ for ev in events], default=str)
    assert "Incorrect API key" in text
    assert _leaks(text, key) == []


@pytest.mark.parametrize("form", sorted(_forms("sk-placeholder-key-0000")))
def test_redact_removes_every_form(form):
    key = _key()
    register_secret(key)
    copy = _forms(key)[form]
    cleaned = redact(f"before {copy} after")
    assert cleaned.startswith("before ") and cleaned.endswith(" after")
    assert _leaks(cleaned, key) == []


def test_redact_leaves_ordinary_text_alone():
    register_secret(_key())
    text = "Hello world, the answer is 42.\n" + base64.b64encode(b"an ordinary payload").decode()
    assert redact(text) == text


SPLIT_PRINTS = {
    "char-by-char": "import time\nfor c in k:\n    print(c, end='', flush=True)\n    time.sleep(0.002)\nprint()",
    "spaced-char-by-char": "import sys\nfor c in k:\n    sys.stdout.write(c + ' '); sys.stdout.flush()\nprint()",
    "two-lines": "import time\nprint(k[:2], flush=True)\ntime.sleep(0.05)\nprint(k[2:], flush=True)",
    "halves": "import time\nprint(k[:20], flush=True)\ntime.sleep(0.05)\nprint(k[20:], flush=True)",
}


@pytest.mark.parametrize("how", sorted(SPLIT_PRINTS))
def test_a_key_printed_in_pieces_is_not_shown_or_saved(tmp_path, capsys, how):
    """Each stream piece is an event that views show (and a headless run saves) as it arrives."""
    key = _key()
    stolen = tmp_path / "stolen.txt"
    stolen.write_text(key)
    block = f"k = open({str(stolen)!r}).read()\n" + SPLIT_PRINTS[how] + "\nprint('END')"
    events: list[Event] = []
    with ScriptedModelServer([code(block), "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config={
            "config_list": server.config_list(api_key=key), "cache_seed": None})
        proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=2,
                                       code_execution_config={"work_dir": str(tmp_path), "executor": "jupyter"})
        with subscribe(events.append):
            result = proxy.initiate_chat(assistant, message="go")
    pieces = [ev for ev in events if type(ev).__name__ == "ExecutionOutput"]
    shown = "".join(ev.text or "" for ev in pieces)
    assert "END" in shown  # the output itself was shown
    console = capsys.readouterr().out
    notebook = nbformat.writes(events_to_notebook(result.events))
    core = "".join(c for c in key if c.isalnum())
    for where, blob in [("live events", shown), ("console", console), ("notebook", notebook)]:
        flat = "".join(c for c in blob if c.isalnum())
        assert core[3:] not in flat and _leaks(blob, key) == [], f"the key leaked to the {where}"

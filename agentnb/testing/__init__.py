"""A scripted OpenAI-compatible model server on 127.0.0.1, for tests (ours and yours).

The server speaks the real HTTP protocol the ``openai`` SDK uses, so the code under test is the
code that runs in production. Replies are served in order; streaming, tool calls, usage and
faults (HTTP errors, hangs, garbage, dropped connections) are all scripted::

    from agentnb.testing import ScriptedModelServer, code, tool_calls, Fault

    with ScriptedModelServer(["Hello!", code("print(1)"), Fault.status(429), "TERMINATE"]) as server:
        assistant = AssistantAgent("a", llm_config=server.llm_config())
        ...
        assert server.requests[0]["messages"][-1]["content"] == "hi"

The loopback guard (:func:`check_loopback`, :func:`loopback_only`, ``AGENTNB_LOOPBACK_ONLY=1``)
keeps a test from ever reaching a paid API; :func:`guard_sockets` extends it to every socket.
"""

from agentnb.testing.loopback import (
    check_loopback,
    guard_sockets,
    install_socket_guard,
    is_loopback_host,
    loopback_only,
    loopback_required,
)
from agentnb.testing.replies import Fault, Reply, code, forever, raw_tool_calls, text, tool_calls
from agentnb.testing.server import TEST_API_KEY, ScriptedModelServer

__all__ = [
    "TEST_API_KEY",
    "Fault",
    "Reply",
    "ScriptedModelServer",
    "check_loopback",
    "code",
    "forever",
    "guard_sockets",
    "install_socket_guard",
    "is_loopback_host",
    "loopback_only",
    "loopback_required",
    "raw_tool_calls",
    "text",
    "tool_calls",
]

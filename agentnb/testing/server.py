"""The scripted OpenAI-compatible HTTP server (stdlib ``http.server``, TCP_NODELAY, keep-alive)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agentnb.errors import ConfigError, redact
from agentnb.testing.replies import (
    Fault,
    Forever,
    Reply,
    chunk_payloads,
    completion_payload,
    error_body,
    forever,
    protocol_problem,
    text,
)

TEST_API_KEY = "sk-test-local"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler, owner: ScriptedModelServer):
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.handler_threads: set[threading.Thread] = set()
        self.track_lock = threading.Lock()
        self.thread_ids = itertools.count(1)
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.track_lock:
            self.connections.add(sock)
        return sock, addr

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self._run_handler, args=(request, client_address), daemon=True,
                                  name=f"agentnb-scripted-conn-{next(self.thread_ids)}")
        with self.track_lock:
            self.handler_threads.add(thread)
        thread.start()

    def _run_handler(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.track_lock:
                self.handler_threads.discard(threading.current_thread())

    def shutdown_request(self, request):
        with self.track_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # a client that went away (timeouts, disconnect faults) is normal here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agentnb-scripted/1"
    server: _HTTPServer

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            models = self.server.owner.model_names()
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "agentnb"} for m in models]
            self.send_json(200, {"object": "list", "data": data})
        else:
            self._not_found()

    def do_POST(self):
        raw = self._read_body()
        if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            return self._not_found()
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return self.send_json(400, error_body(400, "scripted model server: request body is not JSON"))
        self.server.owner.respond(self, body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _not_found(self):
        message = f"scripted model server: no route for {self.command} {self.path}"
        self.send_json(404, error_body(404, message, "not_found"))

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None):
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def send_bytes(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_stream(self, events: Iterator[dict], delay: float, stopping: threading.Event,
                    fault: Fault | None = None):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if fault is not None and fault.kind == "trickle":  # streamed, a trickle is one chunk per interval
            delay, fault = fault.seconds, None
        for sent, event in enumerate(itertools.chain((json.dumps(e) for e in events), ["[DONE]"])):
            if fault is not None and sent == fault.after and not self._interrupt(fault, stopping):
                return
            if delay and stopping.wait(delay):
                self.close_connection = True
                return
            data = f"data: {event}\n\n".encode()
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def send_json_faulty(self, payload: Any, fault: Fault, stopping: threading.Event):
        """Headers, then half the body and a closed connection (``cut``), silence first (``stall``), or the
        body one byte at a time (``trickle``)."""
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault.kind == "cut":
            self.wfile.write(data[: len(data) // 2])
            self._interrupt(fault, stopping)
        elif fault.kind == "trickle":
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                if stopping.wait(fault.seconds):
                    self.close_connection = True
                    return
        elif self._interrupt(fault, stopping):
            self.wfile.write(data)

    def _interrupt(self, fault: Fault, stopping: threading.Event) -> bool:
        """Apply a ``cut`` (close now) or ``stall`` (wait); True when the answer may go on."""
        self.wfile.flush()
        if fault.kind == "stall" and not stopping.wait(fault.seconds):
            return True
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        return False


class ScriptedModelServer:
    """An OpenAI-compatible server on 127.0.0.1 that answers with scripted replies, in order.

    A reply is a ``str``, :func:`text`, :func:`code`, :func:`tool_calls`, a :class:`Fault`, or a
    function ``fn(request_body) -> reply``. ``add(..., model="x")`` gives model ``x`` its own queue.
    """

    __test__ = False

    def __init__(self, replies: Any = (), *, model: str = "scripted-model", port: int = 0,
                 latency: float = 0.0, stream_delay: float = 0.0, check_protocol: bool = True):
        self.model = model
        self.port = port
        self.latency = latency
        """Seconds to wait before every answer."""
        self.stream_delay = stream_delay
        """Seconds to wait before each streamed chunk."""
        self.check_protocol = check_protocol
        """Answer 400, as OpenAI does, to a request whose tool calls and tool messages do not pair up."""
        self.requests: list[dict] = []
        """Every chat-completion request body received, in order."""
        self._lock = threading.Lock()
        self._queues: dict[str | None, deque] = {None: deque()}
        self._call_ids = itertools.count(1)
        self._completion_ids = itertools.count(1)
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        if callable(replies):
            replies = [forever(replies)]
        self.add(*replies)

    # -- lifecycle
    def start(self) -> ScriptedModelServer:
        """Bind 127.0.0.1 and serve in a daemon thread (no-op if already running)."""
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _HTTPServer(("127.0.0.1", self.port), _Handler, self)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                            name=f"agentnb-scripted-server-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections, join every thread, close the socket. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with httpd.track_lock:
            connections, threads = list(httpd.connections), list(httpd.handler_threads)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in [*threads, self._thread]:
            if thread is not None:
                thread.join(timeout=5)
        httpd.server_close()
        self._thread = None

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def __aenter__(self) -> ScriptedModelServer:
        return self.start()

    async def __aexit__(self, *exc) -> None:
        await asyncio.to_thread(self.stop)

    # -- configuration helpers
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (the port is known once started, or if given)."""
        if not self.port:
            raise RuntimeError("ScriptedModelServer has no port yet: call start() first")
        return f"http://127.0.0.1:{self.port}/v1"

    def config_list(self, model: str | None = None, **extra: Any) -> list[dict]:
        """A one-entry AutoGen ``config_list`` pointing at this server."""
        return [{"model": model or self.model, "base_url": self.base_url, "api_key": TEST_API_KEY, **extra}]

    def llm_config(self, model: str | None = None, **extra: Any) -> dict:
        """An AutoGen ``llm_config`` for this server, with caching off."""
        return {"config_list": self.config_list(model), "cache_seed": None, **extra}

    # -- the script
    def add(self, *replies: Any, model: str | None = None) -> None:
        """Append replies to ``model``'s queue (``None``: the default queue)."""
        items = []
        for reply in replies:
            if isinstance(reply, Fault):
                items.extend([dataclasses.replace(reply, times=1)] * reply.times)
            elif isinstance(reply, str | Reply | Forever) or callable(reply):
                items.append(reply)
            else:
                raise ConfigError(f"not a scripted reply: {type(reply).__name__}")
        with self._lock:
            self._queues.setdefault(model, deque()).extend(items)

    def remaining(self, model: str | None = None) -> int:
        """Replies left in ``model``'s queue (a :func:`forever` entry counts as one)."""
        with self._lock:
            return len(self._queues.get(model, ()))

    def requests_for(self, model: str) -> list[dict]:
        """The request bodies that asked for ``model``."""
        with self._lock:
            return [r for r in self.requests if r.get("model") == model]

    def reset(self) -> None:
        """Forget every queue and every recorded request."""
        with self._lock:
            self._queues = {None: deque()}
            self.requests.clear()
            self._call_ids = itertools.count(1)

    def model_names(self) -> list[str]:
        """The models ``/v1/models`` lists: the default one, then every model given its own queue."""
        with self._lock:
            return [self.model, *(m for m in self._queues if m and m != self.model)]

    def _next(self, body: dict) -> Any:
        model = body.get("model")
        with self._lock:
            self.requests.append(body)
            queue = self._queues[model] if model in self._queues else self._queues[None]
            if not queue:
                return None
            return queue[0].reply if isinstance(queue[0], Forever) else queue.popleft()

    # -- answering
    def respond(self, handler: _Handler, body: dict) -> None:
        """Answer one chat-completion request (called on the connection's thread by the HTTP handler)."""
        model = str(body.get("model") or self.model)
        problem = protocol_problem(body.get("messages")) if self.check_protocol else None
        if problem is not None:
            with self._lock:
                self.requests.append(body)
            return handler.send_json(400, error_body(400, problem))
        reply = self._next(body)
        if self.latency and self._stopping.wait(self.latency):
            handler.close_connection = True
            return
        if reply is None:
            message = f"scripted model server: no scripted reply left for model {model}"
            return handler.send_json(500, error_body(500, message, "no_scripted_reply"))
        if callable(reply):
            try:
                reply = reply(body)
            except Exception as exc:
                message = f"scripted model server: function model raised {type(exc).__name__}: {exc}"
                return handler.send_json(500, error_body(500, redact(message), "function_model_error"))
        interruption = reply if isinstance(reply, Fault) and reply.kind in ("cut", "stall", "trickle") else None
        if isinstance(reply, Fault):
            reply = self._apply_fault(handler, reply, bool(body.get("stream")))
            if reply is None:
                return
        if isinstance(reply, str):
            reply = text(reply)
        if not isinstance(reply, Reply):
            message = f"scripted model server: a function model returned {type(reply).__name__}, not a reply"
            return handler.send_json(500, error_body(500, message, "function_model_error"))
        reply = self._with_call_ids(reply)
        ident, created = f"chatcmpl-scripted-{next(self._completion_ids)}", int(time.time())
        if body.get("stream"):
            events = chunk_payloads(body, reply, model, ident, created)
            handler.send_stream(events, self.stream_delay, self._stopping, interruption)
        elif interruption is not None:
            handler.send_json_faulty(completion_payload(body, reply, model, ident, created), interruption,
                                      self._stopping)
        else:
            handler.send_json(200, completion_payload(body, reply, model, ident, created))

    def _apply_fault(self, handler: _Handler, fault: Fault, stream: bool) -> Any:
        """Answer ``fault``; return a reply still to be served (after a hang), else ``None``."""
        if fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
            handler.send_json(fault.http_status, error_body(fault.http_status, fault.message), headers)
        elif fault.kind == "malformed":
            garbage = b'{"id": "chatcmpl-broken", "choices": [ {not json'
            if stream:
                handler.send_bytes(200, b"data: " + garbage + b"\n\n", "text/event-stream")
            else:
                handler.send_bytes(200, garbage, "application/json")
        elif fault.kind == "disconnect":
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
        elif fault.kind == "hang":
            if not self._stopping.wait(fault.seconds):
                return fault.then
            handler.close_connection = True
        elif fault.kind in ("cut", "stall", "trickle"):
            return fault.then  # served by _serve, interrupted part-way
        return None

    def _with_call_ids(self, reply: Reply) -> Reply:
        if not reply.tool_calls or all(c["id"] for c in reply.tool_calls):
            return reply
        calls = tuple({**c, "id": c["id"] or f"call_{next(self._call_ids)}"} for c in reply.tool_calls)
        return dataclasses.replace(reply, tool_calls=calls)

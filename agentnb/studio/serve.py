"""``agentnb serve team.json``: a team behind an HTTP endpoint, with a small web page to run it.

Framework: **tornado** (already installed with every Jupyter kernel and server, so no new dependency; it
runs on the asyncio loop the chat runs on, so an approval clicked in the page resolves the very Future the
user proxy awaits, and Server-Sent Events stream the chat's events without threads).

Approval semantics are the notebook's: every approval request surfaces in the page (and in
``GET /api/runs/ID``) and waits there; nothing runs until a person approves it, a run nobody answers
waits until it is stopped. The server binds 127.0.0.1 and every request must carry the token printed at
start (``?token=`` for the page, header ``X-Agentnb-Token`` for the API).

API (JSON): ``GET /api/team`` · ``POST /api/runs {"task"}`` -> ``{"id"}`` · ``GET /api/runs/ID`` (status and
events) · ``GET /api/runs/ID/events`` (SSE) · ``POST /api/runs/ID/approvals/REQUEST_ID {"approved", "code"?,
"reason"?}`` · ``POST /api/runs/ID/input/REQUEST_ID {"text"}`` · ``POST /api/runs/ID/stop``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import itertools
import json
import secrets
import threading
from pathlib import Path
from typing import Any

import tornado.escape
import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from ..errors import redact
from ..messages import ApprovalDecision, ApprovalRequest, Event, TokenChunk, subscribe
from ..textguard import has_hidden, visible

PAGE = Path(__file__).with_name("serve_page.html")


def event_json(event: Event) -> dict[str, Any]:
    """An event as JSON-ready data (keys redacted; approval code also shown with hidden characters made visible)."""
    data = dataclasses.asdict(event)
    data["type"] = type(event).__name__
    request = data.get("request")
    if isinstance(request, dict):
        request["code_shown"] = visible(request.get("code") or "")
        request["hidden_characters"] = has_hidden(request.get("code") or "")
    return json.loads(redact(json.dumps(data, default=str)))


class Run:
    """One run of the team: its task, events, pending approvals / inputs, and the asyncio task."""

    def __init__(self, run_id: str, task: str):
        self.id = run_id
        self.task = task
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.approvals: dict[str, asyncio.Future] = {}
        self.inputs: dict[str, asyncio.Future] = {}
        self.status = "running"
        self.result: Any = None
        self.error: str | None = None
        self.future: asyncio.Future | None = None

    def record(self, event: Event) -> None:
        if isinstance(event, TokenChunk):  # the page shows whole messages
            return
        self.events.append(event_json(event))
        self.changed.set()
        self.changed = asyncio.Event()

    async def approver(self, request: ApprovalRequest) -> ApprovalDecision:
        """Wait for the page's decision; nothing else can approve (no default, no timeout)."""
        future = asyncio.get_running_loop().create_future()
        self.approvals[request.request_id] = future
        try:
            return await future
        finally:
            self.approvals.pop(request.request_id, None)

    async def input_provider(self, prompt: str) -> str:
        request_id = next((e["request_id"] for e in reversed(self.events) if e["type"] == "HumanInputRequested"),
                          None) or prompt
        future = asyncio.get_running_loop().create_future()
        self.inputs[request_id] = future
        try:
            return await future
        finally:
            self.inputs.pop(request_id, None)

    def snapshot(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "status": self.status, "error": self.error,
                "pending_approvals": sorted(self.approvals), "pending_inputs": sorted(self.inputs),
                "summary": getattr(self.result, "summary", None), "events": self.events}


class TeamServer:
    """The application: a spec, its runs, and the tornado app serving them."""

    def __init__(self, spec: Any, *, models: dict[str, dict[str, Any]] | None = None, token: str | None = None):
        from .spec import parse_team

        self.spec = parse_team(spec) if not hasattr(spec, "config") else spec
        self.models = models
        self.token = token or secrets.token_urlsafe(24)
        self.runs: dict[str, Run] = {}
        self._ids = itertools.count(1)
        self.app = tornado.web.Application([
            (r"/", PageHandler, {"server": self}),
            (r"/api/team", TeamHandler, {"server": self}),
            (r"/api/runs", RunsHandler, {"server": self}),
            (r"/api/runs/([\w-]+)", RunHandler, {"server": self}),
            (r"/api/runs/([\w-]+)/events", EventsHandler, {"server": self}),
            (r"/api/runs/([\w-]+)/approvals/([\w-]+)", ApprovalHandler, {"server": self}),
            (r"/api/runs/([\w-]+)/input/([\w-]+)", InputHandler, {"server": self}),
            (r"/api/runs/([\w-]+)/stop", StopHandler, {"server": self}),
        ])

    def start_run(self, task: str | None) -> Run:
        from ..agents.human import human_handlers
        from ._switch import record_history, run_context
        from .build import load_team

        team = load_team(self.spec, models=self.models)
        kwargs = team.chat_kwargs(task)
        run = Run(f"run-{next(self._ids)}", kwargs["message"])

        async def go() -> Any:
            with record_history(), team.recording(), run_context(source="serve"), subscribe(run.record), \
                    human_handlers(approver=run.approver, input_provider=run.input_provider):
                return await team.initiator.a_initiate_chat(team.recipient, silent=True, **kwargs)

        def done(future: asyncio.Future) -> None:
            if future.cancelled():
                run.status = "stopped"
            elif future.exception() is not None:
                run.status, run.error = "error", redact(f"{type(future.exception()).__name__}: {future.exception()}")
            else:
                run.status, run.result = "finished", future.result()
            run.changed.set()

        run.future = asyncio.ensure_future(go())
        run.future.add_done_callback(done)
        self.runs[run.id] = run
        return run

    def listen(self, port: int = 8765, host: str = "127.0.0.1") -> int:
        """Bind (on the running loop); returns the port (``port=0``: a free one)."""
        sockets = tornado.netutil.bind_sockets(port, host)
        server = tornado.httpserver.HTTPServer(self.app)
        server.add_sockets(sockets)
        self.http_server = server
        return sockets[0].getsockname()[1]

    async def close(self) -> None:
        for run in self.runs.values():
            if run.future is not None and not run.future.done():
                run.future.cancel()
                try:
                    await run.future
                except (asyncio.CancelledError, Exception):  # its outcome is already recorded in the run
                    pass
        if getattr(self, "http_server", None) is not None:
            self.http_server.stop()
            await self.http_server.close_all_connections()
        from ..coding import pool

        for warm in pool.default_pools():
            await warm.close()  # the warm kernels started for this loop: no orphans when the server stops


class _Base(tornado.web.RequestHandler):
    def initialize(self, server: TeamServer) -> None:
        self.server = server

    def prepare(self) -> None:
        given = self.request.headers.get("X-Agentnb-Token") or self.get_query_argument("token", "")
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            raise tornado.web.HTTPError(403, "a valid token is needed")
        if self.request.method == "POST" and not self.request.headers.get("X-Agentnb-Token"):
            raise tornado.web.HTTPError(403, "API calls need the X-Agentnb-Token header")  # no cross-site forms

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError:
            raise tornado.web.HTTPError(400, "the body must be JSON") from None
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400, "the body must be a JSON object")
        return data

    def run_or_404(self, run_id: str) -> Run:
        run = self.server.runs.get(run_id)
        if run is None:
            raise tornado.web.HTTPError(404, f"no run {run_id}")
        return run


class PageHandler(_Base):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", "default-src 'self' 'unsafe-inline' data:")
        self.write(PAGE.read_text(encoding="utf-8").replace("__TITLE__", tornado.escape.xhtml_escape(
            self.server.spec.label or "agentnb team")))


class TeamHandler(_Base):
    def get(self) -> None:
        self.write(self.server.spec.to_dict())


class RunsHandler(_Base):
    def get(self) -> None:
        self.write({"runs": [{"id": r.id, "task": r.task, "status": r.status} for r in self.server.runs.values()]})

    def post(self) -> None:
        task = self.body().get("task")
        if task is not None and not isinstance(task, str):
            raise tornado.web.HTTPError(400, "task must be a string")
        try:
            run = self.server.start_run(task or None)
        except Exception as exc:  # no task and no default task, a tool that does not import...
            raise tornado.web.HTTPError(400, redact(f"{type(exc).__name__}: {exc}")) from None
        self.write({"id": run.id})


class RunHandler(_Base):
    def get(self, run_id: str) -> None:
        self.write(self.run_or_404(run_id).snapshot())


class EventsHandler(_Base):
    async def get(self, run_id: str) -> None:
        run = self.run_or_404(run_id)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        sent = 0
        while True:
            changed = run.changed
            for event in run.events[sent:]:
                self.write(f"data: {json.dumps(event)}\n\n")
            sent = len(run.events)
            if run.status != "running":
                self.write(f"event: end\ndata: {json.dumps({'status': run.status, 'error': run.error})}\n\n")
                await self.flush()
                return
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                return
            await changed.wait()


class ApprovalHandler(_Base):
    def post(self, run_id: str, request_id: str) -> None:
        future = self.run_or_404(run_id).approvals.get(request_id)
        if future is None or future.done():
            raise tornado.web.HTTPError(409, "no such pending approval")
        data = self.body()
        approved: Any = data.get("approved")  # ApprovalDecision refuses anything but a real bool
        code = data.get("code")
        try:
            decision = ApprovalDecision(approved=approved, code=code, reason=str(data.get("reason", "")))
        except TypeError as exc:  # "approved": "yes" is not an approval
            raise tornado.web.HTTPError(400, str(exc)) from None
        future.set_result(decision)
        self.write({"ok": True})


class InputHandler(_Base):
    def post(self, run_id: str, request_id: str) -> None:
        future = self.run_or_404(run_id).inputs.get(request_id)
        text = self.body().get("text")
        if future is None or future.done():
            raise tornado.web.HTTPError(409, "no such pending input")
        if not isinstance(text, str):
            raise tornado.web.HTTPError(400, "text must be a string")
        future.set_result(text)
        self.write({"ok": True})


class StopHandler(_Base):
    def post(self, run_id: str) -> None:
        run = self.run_or_404(run_id)
        if run.future is not None:
            run.future.cancel()
        self.write({"ok": True})


def serve_in_thread(spec: Any, *, models: dict[str, dict[str, Any]] | None = None,
                    port: int = 0) -> tuple[TeamServer, int, Any]:
    """Run a server on its own loop in a daemon thread (tests, notebooks); returns (server, port, stop())."""
    ready: dict[str, Any] = {}
    started = threading.Event()

    def main() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        server = TeamServer(spec, models=models)
        ready.update(server=server, port=loop.run_until_complete(_listen(server, port)), loop=loop)
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.close())
        loop.close()

    thread = threading.Thread(target=main, daemon=True, name="agentnb-serve")
    thread.start()
    started.wait(30)
    loop = ready["loop"]

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)

    return ready["server"], ready["port"], stop


async def _listen(server: TeamServer, port: int, host: str = "127.0.0.1") -> int:
    return server.listen(port, host)

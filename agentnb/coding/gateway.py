"""Run code blocks in a kernel started through a Jupyter Kernel Gateway or Enterprise Gateway.

    async with GatewayExecutor("https://gateway.example:8888", auth_token_env="GW_TOKEN") as ex:
        await ex.a_execute(CodeBlock("x = 21"))
        (await ex.a_execute(CodeBlock("x * 2"))).output   # '42\\n'

The kernel is started, interrupted and deleted over REST and spoken to over its websocket
(:mod:`.gateway_transport`, tornado's clients); messages are built by jupyter_client's ``Session``.
Outputs are collected exactly as :class:`KernelExecutor` does (images saved under the local
``work_dir``). The token travels only in the ``Authorization`` header, never in an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import weakref
from typing import Any, NoReturn

from jupyter_client.session import Session

from ..errors import ConfigError, KernelDiedError, register_secret
from .base import CodeBlock, CodeExecutor, CodeResult, OutputCallback, shielded
from .gateway_transport import (
    GatewayAuthError,
    GatewayError,
    _Channels,
    _delete_kernel_sync,
    _Gateway,
    _KernelGone,
    _Signal,
)
from .iopub import OutputCollector, OutputFiles, asked_to_exit
from .kernel_helper import SH_RC_EXPRESSIONS, load_code, run_sh_code

GATEWAY_URL_ENV = "AGENTNB_GATEWAY_URL"
"""Default gateway URL when none is configured."""
GATEWAY_TOKEN_ENV = "AGENTNB_GATEWAY_TOKEN"
"""Default name of the environment variable holding the gateway token."""

_INTERRUPT_GRACE = 10.0  # seconds a cell may take to stop after an interrupt
_POLL = 2.0  # seconds of silence during a block before asking the gateway whether the kernel still exists
_REPLY_GRACE = 2.0  # seconds to wait for the idle status once the reply is in (it may have been lost)


class GatewayExecutor(CodeExecutor):
    """Runs Python (and ``sh``) blocks in a remote kernel that keeps state, through a Jupyter gateway.

    Same behaviour as :class:`KernelExecutor`: streamed MIME outputs, a text summary for the model,
    images saved under the local ``work_dir``, timeouts interrupt (REST) and keep state, a dead or
    vanished kernel is replaced and reported. The remote kernel is deleted on close, when the
    executor is garbage collected, and at interpreter exit.
    """

    name = "gateway-kernel"

    def __init__(self, gateway_url: str | None = None, *, kernel_name: str = "python3",
                 auth_token: str | None = None, auth_token_env: str | None = GATEWAY_TOKEN_ENV,
                 work_dir: str | os.PathLike[str] = "coding", timeout: float = 60, env: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, validate_cert: bool = True, ca_certs: str | None = None,
                 max_output_chars: int = 20_000, max_display_chars: int = 1_000_000,
                 startup_timeout: float = 120, reconnect_timeout: float = 30, request_timeout: float = 60):
        url = gateway_url or os.environ.get(GATEWAY_URL_ENV)
        if not url:
            raise ConfigError("the gateway executor needs a URL: set code_execution_config['gateway_url'] "
                              f"or the environment variable {GATEWAY_URL_ENV}")
        token = auth_token if auth_token is not None else (os.environ.get(auth_token_env) if auth_token_env else None)
        register_secret(token)
        self._gateway = _Gateway(url, token, headers=headers, validate_cert=validate_cert, ca_certs=ca_certs,
                                 connect_timeout=min(20.0, request_timeout), request_timeout=request_timeout)
        self.gateway_url = self._gateway.shown
        self.kernel_name = kernel_name
        self.work_dir = os.path.abspath(os.fspath(work_dir))
        self.timeout = timeout
        self.env = dict(env or {})
        self.max_output_chars = max_output_chars
        self.max_display_chars = max_display_chars
        self.startup_timeout = startup_timeout
        self.reconnect_timeout = reconnect_timeout
        # the key only silences Session's unsigned-message warning: the gateway signs for the kernel
        self._session = Session(key=secrets.token_hex(16).encode(), username="agentnb")
        self._kernel_id: str | None = None
        self._language = ""
        self._channels: _Channels | None = None
        self._lock: asyncio.Lock | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._open: list[_Channels] = []
        self._abandoned: str | None = None
        self._missed: str | None = None
        """Kernel trouble seen outside a block (restarting | dead | gone), told with the next block."""
        self._files = OutputFiles(self.work_dir)
        """Saved image outputs, under the local work_dir."""

    @property
    def kernel_id(self) -> str | None:
        """The remote kernel's id (None before start and after close)."""
        return self._kernel_id

    @property
    def reconnects(self) -> int:
        """How many times the websocket dropped and was reopened."""
        return self._channels.drops if self._channels is not None else 0

    # -- lifecycle -------------------------------------------------------------------------
    async def a_start(self) -> None:
        if self._kernel_id is None:
            await self._start_kernel()
            return
        channels = self._channels
        if channels is None or channels.loop is not asyncio.get_running_loop() or channels.ended is not None:
            # used from another event loop, or the connection was given up: reopen it
            if channels is not None:
                self._missed = self._missed or ("gone" if isinstance(channels.ended, _KernelGone) else None)
                channels.abandon()
            try:
                await self._open_channels()
            except _KernelGone:
                self._missed = "gone"
                await self._recover("gone")

    async def _start_kernel(self) -> None:
        os.makedirs(self.work_dir, exist_ok=True)
        body: dict[str, Any] = {"name": self.kernel_name}
        launch_env = {k: v for k, v in self.env.items() if k.startswith("KERNEL_")}
        if launch_env:  # KERNEL_* variables steer Enterprise Gateway (namespace, image, user)
            body["env"] = launch_env
        starting = asyncio.ensure_future(self._gateway.call("POST", "/api/kernels", body))
        try:
            model = await asyncio.shield(starting)
        except asyncio.CancelledError:  # the gateway may start it anyway: delete it once it has an id
            with contextlib.suppress(Exception):
                model = await starting
                await shielded(self._gateway.call("DELETE", f"/api/kernels/{model['id']}"))
            raise
        self._kernel_id = model["id"]
        self._open = []  # the finalizer closes what is in it (it must not hold the executor itself)
        self._finalizer = weakref.finalize(self, _delete_kernel_sync, *self._gateway.delete_sync(), self._kernel_id,
                                           self._open)
        try:
            await self._open_channels()
            await self._setup()
        except BaseException:
            await shielded(self._drop_kernel())
            raise

    async def _open_channels(self) -> None:
        assert self._kernel_id is not None
        channels = _Channels(self._gateway, self._kernel_id, self._session.session, self.reconnect_timeout)
        self._open[:] = [channels]
        await channels.open()
        self._channels = channels  # only once open: a failed attempt is retried by the next a_start

    async def _setup(self) -> None:
        """Wait until the kernel answers; load the helpers (``sh`` blocks) and ``env`` into Python kernels."""
        info = await self._request("kernel_info_request", {}, self.startup_timeout, resend=0.5, iopub=True)
        self._language = str(info.get("language_info", {}).get("name", "")).lower()
        if self._language == "python":
            content = await self._request("execute_request", _execute_content(
                load_code(harden=False, env=self.env), silent=True), self.startup_timeout)
            if content.get("status") != "ok":
                raise GatewayError(f"the kernel on {self.gateway_url} could not load agentnb's helpers: "
                                   f"{content.get('ename')}: {content.get('evalue')}", url=self.gateway_url)

    async def _drop_kernel(self) -> None:
        kernel_id, channels = self._kernel_id, self._channels
        self._kernel_id, self._channels, self._abandoned = None, None, None
        if channels is not None:
            if channels.loop is asyncio.get_running_loop():
                await channels.close()
            else:
                channels.abandon()
        if kernel_id is not None:
            try:
                await self._gateway.call("DELETE", f"/api/kernels/{kernel_id}")
            except _KernelGone:
                pass
            except GatewayError:
                return  # unreachable: the finalizer tries once more at exit, gateway culling does the rest
            if self._finalizer is not None:
                self._finalizer.detach()

    async def a_close(self) -> None:
        await shielded(self._drop_kernel())

    async def a_restart(self) -> None:
        await shielded(self._drop_kernel())
        await self.a_start()

    async def _kernel_state(self) -> str | None:
        """The gateway's ``execution_state`` of our kernel; raises _KernelGone if it is unknown there."""
        model = await self._gateway.call("GET", f"/api/kernels/{self._kernel_id}")
        return model.get("execution_state") if isinstance(model, dict) else None

    async def a_interrupt(self) -> None:
        if self._kernel_id is not None:
            await self._gateway.call("POST", f"/api/kernels/{self._kernel_id}/interrupt")

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- messages --------------------------------------------------------------------------
    async def _send(self, msg_type: str, content: dict[str, Any]) -> str:
        assert self._channels is not None
        msg = self._session.msg(msg_type, content)
        msg["channel"] = "shell"
        await self._channels.send(msg)
        msg_id: str = msg["header"]["msg_id"]
        return msg_id

    async def _next(self, timeout: float) -> Any:
        assert self._channels is not None
        queue = self._channels.queue
        if not queue.empty():
            return queue.get_nowait()
        try:
            return await asyncio.wait_for(queue.get(), max(timeout, 0.001))
        except asyncio.TimeoutError:
            return None

    async def _request(self, msg_type: str, content: dict[str, Any], timeout: float,
                       resend: float | None = None, iopub: bool = False) -> dict[str, Any]:
        """Send a shell request and return its reply's content.

        ``resend``: repeat until answered; ``iopub``: also wait for an iopub message of one of the
        requests, so that outputs cannot be missed (after a restart iopub reconnects later than shell).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        sent = {await self._send(msg_type, content)}
        next_send = loop.time() + resend if resend else deadline
        reply: dict[str, Any] | None = None
        seen_iopub = not iopub
        while loop.time() < deadline:
            if reply is not None and seen_iopub:
                return reply
            item = await self._next(min(deadline, next_send) - loop.time())
            if item is None:
                if resend and loop.time() >= next_send:
                    sent.add(await self._send(msg_type, content))
                    next_send = loop.time() + resend
                continue
            if isinstance(item, _Signal):
                if item.kind == "gone":
                    raise _KernelGone(msg_type)
                if item.kind == "failed":
                    raise item.error  # type: ignore[misc]
                continue
            if item.get("parent_header", {}).get("msg_id") in sent:
                if item.get("channel") == "shell":
                    reply = item.get("content", {})
                elif item.get("channel") == "iopub":
                    seen_iopub = True
        raise GatewayError(f"the kernel on {self.gateway_url} did not answer {msg_type} within {timeout:g} s",
                           url=self.gateway_url)

    def _pending_events(self) -> str | None:
        """Drain what arrived between blocks; the kind of kernel trouble seen, if any."""
        trouble = None
        assert self._channels is not None
        while not self._channels.queue.empty():
            item = self._channels.queue.get_nowait()
            if isinstance(item, _Signal):
                if item.kind == "failed":
                    raise item.error  # type: ignore[misc]
                if item.kind == "gone":
                    trouble = "gone"
            elif _kernel_status(item) in ("restarting", "dead") and trouble != "gone":
                trouble = _kernel_status(item)
        return trouble

    async def _recover(self, trouble: str) -> None:
        """Bring back a usable kernel after ``trouble`` (restarting | dead | gone | stuck)."""
        if trouble == "restarting":
            with contextlib.suppress(_KernelGone, GatewayError):
                await self._setup()
                return
        await shielded(self._drop_kernel())
        await self._start_kernel()

    # -- execution ---------------------------------------------------------------------------
    async def a_execute(self, block: CodeBlock, *, on_output: OutputCallback | None = None,
                        timeout: float | None = None) -> CodeResult:
        if block.language not in self.languages:
            return self.unsupported(block)
        async with self._get_lock():
            await self.a_start()
            note = ""
            pending = self._pending_events()
            if pending is not None:
                await self._recover(pending)
            trouble, self._missed = pending or self._missed, None
            if trouble is not None:
                note = f"Note: {_trouble_text(trouble, self.gateway_url)}; all variables were lost.\n"
            try:
                result = await self._run(block, on_output, self.timeout if timeout is None else timeout)
            except _KernelGone:
                await self._recover("gone")
                result = await self._run(block, on_output, self.timeout if timeout is None else timeout)
                note += f"Note: {_trouble_text('gone', self.gateway_url)}; all variables were lost.\n"
            if note:
                result.output = note + result.output
            return result

    async def _run(self, block: CodeBlock, on_output: OutputCallback | None, timeout: float) -> CodeResult:
        sh = block.language == "sh"
        if sh and self._language != "python":
            return self.unsupported(block)
        code = run_sh_code(block.code) if sh else block.code
        if self._abandoned is not None:
            abandoned, self._abandoned = self._abandoned, None
            with contextlib.suppress(GatewayError):
                await self._wait_reply(abandoned, _INTERRUPT_GRACE)
        collector = OutputCollector(on_output, max_output_chars=self.max_output_chars,
                                    max_display_chars=self.max_display_chars, save_file=self._files.save)
        msg_id = await self._send("execute_request", _execute_content(
            code, store_history=not sh, user_expressions=dict(SH_RC_EXPRESSIONS) if sh else None))
        try:
            reply, timed_out, dropped = await self._collect(collector, msg_id, timeout)
        except (KernelDiedError, TimeoutError) as lost:  # died, or ignored the interrupt: it was replaced
            return collector.lost(lost)
        content = (reply.get("content") or {}) if reply is not None else {}
        result = collector.result(content, sh=sh, timeout=timeout, timed_out=timed_out, notes=(
            ["Note: the connection to the gateway dropped while this block ran; it finished, but some "
             "of its output may be missing."] if dropped else []))
        if asked_to_exit(content):  # exit()/quit(): the kernel is ending itself; never send it another block
            await self.a_restart()
        return result

    async def _collect(self, collector: OutputCollector, msg_id: str,
                       timeout: float) -> tuple[dict[str, Any] | None, bool, bool]:
        """Feed the block's messages to ``collector`` until its reply and idle status are in: (reply,
        timed out, connection dropped before the reply). Raises :class:`KernelDiedError` or
        ``TimeoutError`` (stuck) once the kernel has been replaced, ``_KernelGone`` if it vanished
        before the block started."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        timed_out = idle = started = dropped = False
        reply: dict[str, Any] | None = None
        reply_at = 0.0
        probe: str | None = None
        heard = loop.time()  # when the kernel or the gateway last gave a sign of life
        try:
            while not (idle and reply is not None):
                limit = deadline if reply is None else min(deadline, reply_at + _REPLY_GRACE)
                item = await self._next(min(limit, heard + _POLL) - loop.time())
                if item is None:
                    now = loop.time()
                    if reply is not None and now >= reply_at + _REPLY_GRACE:
                        break  # the idle status was lost with a dropped connection
                    if now >= deadline:
                        if timed_out:  # the interrupt did not stop it: replace the kernel
                            await self._lose("stuck", stuck=timeout)
                        timed_out = True
                        await self.a_interrupt()
                        deadline = loop.time() + _INTERRUPT_GRACE
                    elif now >= heard + _POLL:  # silence: is the kernel still there?
                        heard = now
                        dead = False
                        with contextlib.suppress(GatewayAuthError, GatewayError):  # down: the reader decides
                            dead = await self._kernel_state() == "dead"
                        if dead:
                            await self._lose("dead", started=started)
                    continue
                heard = loop.time()
                if isinstance(item, _Signal):
                    if item.kind == "gone":
                        raise _KernelGone("websocket")
                    if item.kind == "failed":
                        raise item.error  # type: ignore[misc]
                    if item.kind == "reconnected" and reply is None:
                        # shell requests run in order: once this probe is answered, so was our block
                        probe = await self._send("execute_request", _execute_content("", silent=True))
                    continue
                status = _kernel_status(item)
                if status in ("restarting", "dead"):
                    await self._lose(status, started=started)
                parent = item.get("parent_header", {}).get("msg_id")
                if probe is not None and parent == probe and item.get("msg_type") == "execute_reply":
                    if reply is None:
                        dropped = True
                        break
                    continue
                if parent != msg_id:
                    continue
                started = True
                if item.get("msg_type") == "execute_reply":
                    reply, reply_at = item, loop.time()
                elif item.get("msg_type") == "status":
                    idle = idle or item["content"].get("execution_state") == "idle"
                else:
                    collector.handle(item)
        except _KernelGone:  # found out over REST (interrupt, liveness check)
            if not started:
                raise  # a kernel unknown to the gateway never got the block: a_execute runs it on a new one
            await self._lose("gone")
        except asyncio.CancelledError:
            self._abandoned = msg_id  # the next block first waits for this cell to stop
            with contextlib.suppress(Exception):
                await shielded(self.a_interrupt())
            raise
        return reply, timed_out, dropped

    async def _wait_reply(self, msg_id: str, wait: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while loop.time() < deadline:
            item = await self._next(deadline - loop.time())
            if isinstance(item, dict) and item.get("msg_type") == "execute_reply" and \
                    item.get("parent_header", {}).get("msg_id") == msg_id:
                return
            if isinstance(item, _Signal) or _kernel_status(item) in ("restarting", "dead"):
                self._channels.queue.put_nowait(item)  # type: ignore[union-attr]  # a_execute handles it next
                return

    async def _lose(self, trouble: str, *, stuck: float | None = None, started: bool = True) -> NoReturn:
        """Bring back a usable kernel after ``trouble``, then raise what the block's result reports."""
        await self._recover(trouble)
        if trouble == "stuck":
            raise TimeoutError(f"code execution exceeded {stuck:g} s and the cell ignored the interrupt; "
                               "the kernel was replaced and all variables were lost.")
        if started:
            raise KernelDiedError(f"{_trouble_text(trouble, self.gateway_url)} while running this code; "
                                  "all variables were lost.")
        raise KernelDiedError(f"{_trouble_text(trouble, self.gateway_url)} before this code could run; "
                              "it was not run and all variables were lost.")


def _execute_content(code: str, *, silent: bool = False, store_history: bool = True,
                     user_expressions: dict[str, str] | None = None) -> dict[str, Any]:
    # stop_on_error=False: an interrupted or failing cell must not abort the requests queued behind it
    return {"code": code, "silent": silent, "store_history": store_history and not silent,
            "user_expressions": user_expressions or {}, "allow_stdin": False, "stop_on_error": False}


def _kernel_status(item: Any) -> str | None:
    """``restarting``/``dead`` as the gateway announces them (a status with no parent), else None."""
    if isinstance(item, dict) and item.get("msg_type") == "status" and not item.get("parent_header"):
        state = item.get("content", {}).get("execution_state")
        return state if isinstance(state, str) else None
    return None


def _trouble_text(trouble: str, url: str) -> str:
    if trouble == "restarting":
        return f"the kernel died and the gateway at {url} restarted it"
    if trouble == "gone":
        return (f"the remote kernel no longer exists on the gateway at {url} (the gateway restarted, or the "
                "kernel was culled or shut down); a new kernel was started")
    return f"the kernel died on the gateway at {url}; a new kernel was started"


def gateway_executor_from_config(cfg: dict[str, Any]) -> GatewayExecutor:
    """A GatewayExecutor from ``code_execution_config`` keys (see :func:`agentnb.coding.make_executor`)."""
    known = {"gateway_url", "kernel_name", "auth_token_env", "work_dir", "timeout", "env", "headers",
             "validate_cert", "ca_certs", "startup_timeout", "reconnect_timeout"}
    options = {k: cfg[k] for k in known if cfg.get(k) is not None}
    options.setdefault("auth_token_env", GATEWAY_TOKEN_ENV)
    options["work_dir"] = options.get("work_dir") or "coding"
    options["timeout"] = options.get("timeout") or 60
    return GatewayExecutor(options.pop("gateway_url", None), **options)


__all__ = ["GATEWAY_TOKEN_ENV", "GATEWAY_URL_ENV", "GatewayAuthError", "GatewayError", "GatewayExecutor",
           "gateway_executor_from_config"]

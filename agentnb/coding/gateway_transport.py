"""The wire to a Jupyter Kernel Gateway / Enterprise Gateway: REST calls and the kernel's websocket.

REST (``/api/kernels``: start, state, interrupt, delete) goes through tornado's ``AsyncHTTPClient``;
the websocket ``/api/kernels/{id}/channels`` (Jupyter's JSON protocol with a ``channel`` field)
through ``tornado.websocket``. A dropped websocket is reopened with the same ``session_id``, so the
gateway replays what the kernel sent meanwhile. The token travels only in the ``Authorization``
header; errors name the URL (without credentials), never the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jupyter_client.jsonutil import json_default
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, websocket_connect

from ..errors import ConfigError, ExecutionError, redact

_MAX_MESSAGE = 256 * 1024 * 1024


def _close_unwanted(done: asyncio.Future[Any]) -> None:
    """Close a websocket whose handshake finished after its caller stopped waiting for it."""
    if not done.cancelled() and done.exception() is None:
        done.result().close()


class GatewayError(ExecutionError):
    """The gateway could not be used: unreachable, refused the request, or the kernel would not start."""

    def __init__(self, message: str, *, url: str | None = None):
        super().__init__(redact(message))
        self.url = url

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self),), {"url": self.url})


class GatewayAuthError(GatewayError):
    """The gateway rejected the token (HTTP 401/403)."""


class _KernelGone(Exception):
    """The gateway does not know the kernel (HTTP 404): restarted gateway, culled or deleted kernel."""


class _Signal:
    """A connection event queued between the kernel's messages."""

    def __init__(self, kind: str, error: BaseException | None = None):
        self.kind = kind  # disconnected | reconnected | gone | failed
        self.error = error


def _public_url(url: str) -> str:
    """``url`` without credentials, query or fragment: what errors may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class _Gateway:
    """REST calls to one gateway, with the token in a header and errors that name only the URL."""

    def __init__(self, url: str, token: str | None, *, headers: dict[str, str] | None, validate_cert: bool,
                 ca_certs: str | None, connect_timeout: float, request_timeout: float):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ConfigError(f"gateway_url must be an http(s):// or ws(s):// URL, not {_public_url(url)!r}")
        http = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        self.url = urlunsplit((http, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.ws_url = urlunsplit(({"http": "ws", "https": "wss"}[http], parts.netloc, parts.path.rstrip("/"), "", ""))
        self.shown = _public_url(self.url)
        self.headers = dict(headers or {})
        if token:
            self.headers["Authorization"] = f"token {token}"
        self.validate_cert = validate_cert
        self.ca_certs = ca_certs
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout

    def request(self, url: str, method: str = "GET", body: Any = None) -> HTTPRequest:
        return HTTPRequest(url, method=method, headers={**self.headers, "Content-Type": "application/json"},
                           body=None if body is None and method != "POST" else json.dumps(body or {}),
                           validate_cert=self.validate_cert, ca_certs=self.ca_certs,
                           connect_timeout=self.connect_timeout, request_timeout=self.request_timeout)

    def error(self, what: str, exc: BaseException) -> Exception:
        """Map a client exception to a GatewayError (or _KernelGone) naming the URL only."""
        code = getattr(exc, "code", None)
        if isinstance(exc, HTTPClientError) and code in (401, 403):
            return GatewayAuthError(
                f"the Jupyter gateway at {self.shown} rejected the request ({what}: HTTP {code}); "
                "check the token (code_execution_config['auth_token_env'] names the variable holding it)",
                url=self.shown)
        if isinstance(exc, HTTPClientError) and code == 404:
            return _KernelGone(what)
        if isinstance(exc, HTTPClientError) and code != 599:
            detail = ""
            with contextlib.suppress(Exception):
                detail = json.loads(exc.response.body).get("message", "")[:300]  # type: ignore[union-attr]
            return GatewayError(f"the Jupyter gateway at {self.shown} answered {what} with HTTP {code}"
                                f"{': ' + detail if detail else ''}", url=self.shown)
        reason = str(exc) or type(exc).__name__
        return GatewayError(f"cannot reach the Jupyter gateway at {self.shown} ({what}: {reason})", url=self.shown)

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        what = f"{method} {path}"
        try:
            response = await AsyncHTTPClient().fetch(self.request(self.url + path, method, body))
        except (HTTPClientError, OSError, StreamClosedError, ssl.SSLError) as exc:
            raise self.error(what, exc) from None
        return json.loads(response.body) if response.body else None

    async def connect(self, kernel_id: str, session_id: str) -> Any:
        url = f"{self.ws_url}/api/kernels/{kernel_id}/channels?session_id={session_id}"
        pending = asyncio.ensure_future(  # already a Future: ensure_future only gives it its type
            websocket_connect(self.request(url), max_message_size=_MAX_MESSAGE, ping_interval=20))
        try:
            # Shielded: cancelling the handshake's future does not stop tornado finishing it, and the
            # connection it then drops on the cancelled future is never closed (its ping task leaks).
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            pending.add_done_callback(_close_unwanted)
            raise
        except (HTTPClientError, OSError, StreamClosedError, ssl.SSLError) as exc:
            raise self.error(f"websocket to kernel {kernel_id}", exc) from None

    def delete_sync(self) -> tuple[str, dict[str, str], ssl.SSLContext | None]:
        """What a finalizer needs to DELETE a kernel without the executor or an event loop."""
        context = None
        if self.url.startswith("https"):
            context = ssl.create_default_context(cafile=self.ca_certs)
            if not self.validate_cert:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return self.url, dict(self.headers), context


def _delete_kernel_sync(url: str, headers: dict[str, str], context: ssl.SSLContext | None, kernel_id: str,
                        channels: list[Any]) -> None:
    """Last resort (garbage collection, interpreter exit): close the websocket and DELETE the kernel."""
    for open_channels in channels:
        open_channels.abandon()
    request = urllib.request.Request(f"{url}/api/kernels/{kernel_id}", method="DELETE", headers=headers)
    with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
        urllib.request.urlopen(request, timeout=5, context=context).close()


class _Channels:
    """The kernel's websocket: a reader feeding one queue, reopened with the same session when it drops."""

    def __init__(self, gateway: _Gateway, kernel_id: str, session_id: str, reconnect_timeout: float):
        self.gateway = gateway
        self.kernel_id = kernel_id
        self.session_id = session_id
        self.reconnect_timeout = reconnect_timeout
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.ws: Any = None
        self.connected = asyncio.Event()
        self.closing = False
        self.reader: asyncio.Task[None] | None = None
        self.ended: BaseException | None = None
        """Why the reader stopped for good (_KernelGone or a GatewayError); None while it runs."""
        self.drops = 0

    async def open(self) -> None:
        self.ws = await self.gateway.connect(self.kernel_id, self.session_id)
        self.connected.set()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            await self._read_until_done()
        finally:  # closed, gone, failed, or cancelled (its loop ending): the connection is done
            with contextlib.suppress(Exception):
                self.ws.close()

    async def _read_until_done(self) -> None:
        while True:
            raw = await self.ws.read_message()
            if raw is None:
                self.ws.close()  # dropped by the peer: closing it is a no-op on the wire, but frees it
                if self.closing:
                    return
                self.drops += 1
                self.connected.clear()
                self.queue.put_nowait(_Signal("disconnected"))
                try:
                    await self._reconnect()
                except _KernelGone:
                    self.ended = _KernelGone("websocket")
                    self.queue.put_nowait(_Signal("gone"))
                    return
                except Exception as exc:  # GatewayError; or the event loop is shutting down
                    if not isinstance(exc, GatewayError):
                        exc = GatewayError(f"lost the connection to the Jupyter gateway at {self.gateway.shown} "
                                           f"({type(exc).__name__})", url=self.gateway.shown)
                    self.ended = exc
                    self.queue.put_nowait(_Signal("failed", exc))
                    return
                if self.closing:  # abandoned while reconnecting
                    return
                self.queue.put_nowait(_Signal("reconnected"))
                continue
            if isinstance(raw, bytes):  # binary frames carry comm buffers, never outputs we summarize
                continue
            with contextlib.suppress(ValueError):
                self.queue.put_nowait(json.loads(raw))

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reconnect_timeout
        delay = 0.1
        while True:
            try:
                self.ws = await self.gateway.connect(self.kernel_id, self.session_id)
            except GatewayAuthError:
                raise
            except GatewayError:
                if loop.time() + delay > deadline:
                    raise GatewayError(f"lost the connection to the Jupyter gateway at {self.gateway.shown} and "
                                       f"could not reconnect within {self.reconnect_timeout:g} s",
                                       url=self.gateway.shown) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            self.connected.set()
            return

    async def send(self, msg: dict[str, Any]) -> None:
        text = json.dumps(msg, default=json_default)
        for _ in range(3):
            if not self.connected.is_set():
                if self.reader is not None and not self.reader.done():
                    waiter = asyncio.ensure_future(self.connected.wait())
                    await asyncio.wait({waiter, self.reader}, timeout=self.reconnect_timeout + 5,
                                       return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                if self.ended is not None:
                    raise self.ended
                if self.reader is None or self.reader.done():
                    raise GatewayError(f"the websocket to the Jupyter gateway at {self.gateway.shown} is closed",
                                       url=self.gateway.shown)
                continue
            try:
                await self.ws.write_message(text)
                return
            except WebSocketClosedError:
                self.connected.clear()
                await asyncio.sleep(0.05)
        raise GatewayError(f"could not send to the kernel through the Jupyter gateway at {self.gateway.shown}",
                           url=self.gateway.shown)

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader

    def abandon(self) -> None:
        """Close from any thread or event loop (the executor moved to a new loop, or was collected)."""
        self.closing = True
        if self.ws is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.ws.close)

"""The one sync bridge: run async code from sync code, even inside a running loop.

Every piece of agentnb is written async once. Sync twins call :func:`run_sync`,
which runs the coroutine on a private event-loop thread and blocks the caller
until it is done. This works in a plain script and inside a Jupyter kernel
(whose own loop is already running) without ``nest_asyncio``.

While the caller waits, it serves jobs that must happen on *its* thread:
views rendering events (so a notebook routes output to the right cell) and
``input()`` prompts (stdin requests work from a busy cell). Coroutines post
such jobs with :func:`call_in_caller` / :func:`post_to_caller`. Ctrl-C in the
caller cancels the coroutine, waits for its cleanup (kernels shut down), and
re-raises.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
E = TypeVar("E")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
Job = Callable[[], None]
"""Work posted to the waiting sync caller's thread."""

_caller: contextvars.ContextVar[queue.SimpleQueue[object] | None] = contextvars.ContextVar(
    "agentnb_caller_queue", default=None
)
_DONE = object()


def _bridge_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or not _thread or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def runner() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=runner, name="agentnb-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


def in_bridge_thread() -> bool:
    return _thread is not None and threading.current_thread() is _thread


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code and return its result."""
    if in_bridge_thread():
        coro.close()
        raise RuntimeError(
            "a sync agentnb call was made from inside an async agentnb call; "
            "use the a_* method (for example `await agent.a_initiate_chat(...)`)"
        )
    loop = _bridge_loop()
    jobs: queue.SimpleQueue[object] = queue.SimpleQueue()
    ctx = contextvars.copy_context()
    ctx.run(_caller.set, jobs)
    result: dict[str, T] = {}
    errors: list[BaseException] = []
    started = threading.Event()
    holder: dict[str, asyncio.Task[T]] = {}

    def start() -> None:
        task = loop.create_task(coro, context=ctx)
        holder["task"] = task
        started.set()

        def done(t: asyncio.Task[T]) -> None:
            if t.cancelled():
                errors.append(asyncio.CancelledError())
            elif (exc := t.exception()) is not None:
                errors.append(exc)
            else:
                result["value"] = t.result()
            jobs.put(_DONE)

        task.add_done_callback(done)

    loop.call_soon_threadsafe(start)
    interrupted: BaseException | None = None
    while True:
        try:
            job = jobs.get(timeout=0.25)
        except queue.Empty:
            continue
        except KeyboardInterrupt as exc:
            interrupted = exc
            started.wait()
            loop.call_soon_threadsafe(holder["task"].cancel)
            continue
        if job is _DONE:
            break
        assert callable(job)  # only _DONE and jobs are ever put on the queue
        try:
            job()
        except KeyboardInterrupt as exc:
            interrupted = exc
            started.wait()
            loop.call_soon_threadsafe(holder["task"].cancel)
    if interrupted is not None:
        raise interrupted
    if errors:
        raise errors[0]
    return result["value"]


def post_to_caller(fn: Callable[[], Any]) -> bool:
    """Run ``fn`` on the waiting sync caller's thread, without waiting. False if there is none."""
    jobs = _caller.get()
    if jobs is None:
        return False

    def job() -> None:
        try:
            fn()
        except Exception as exc:  # a view's bug must not stop the caller's loop
            import warnings

            warnings.warn(f"agentnb: {exc!r}", stacklevel=1)

    jobs.put(job)
    return True


def on_caller_thread(handler: Callable[[E], None], sync: bool) -> Callable[[E], None]:
    """``handler`` as it should subscribe to a chat's events: with ``sync`` (the caller's thread waits
    in :func:`run_sync`), each call is posted to that thread, so a view renders where its output
    belongs; run in place if no caller waits."""
    if not sync:
        return handler

    def posted(event: E) -> None:
        if not post_to_caller(lambda: handler(event)):
            handler(event)

    return posted


async def call_in_caller(fn: Callable[[], T]) -> T:
    """Run blocking ``fn`` on the sync caller's thread if there is one, else in a worker thread."""
    jobs = _caller.get()
    if jobs is None:
        return await asyncio.to_thread(fn)
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def job() -> None:
        try:
            value = fn()
        except BaseException as exc:
            loop.call_soon_threadsafe(_set_exc, fut, exc)
            if isinstance(exc, KeyboardInterrupt):
                raise
        else:
            loop.call_soon_threadsafe(_set_result, fut, value)

    jobs.put(job)
    return await fut


def has_sync_caller() -> bool:
    return _caller.get() is not None


def _set_result(fut: asyncio.Future[T], value: T) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exc(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc if not isinstance(exc, KeyboardInterrupt) else asyncio.CancelledError())

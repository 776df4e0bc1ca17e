"""The chat as an async stream of its events: the caller owns the view.

    async for item in user.a_run_stream(assistant, message="Plot sin(x)"):
        if isinstance(item, ChatResult):
            print(item.summary)
        else:
            my_view.handle_event(item)

Every :class:`agentnb.messages.Event` the chat emits is yielded in order (nested chats
included), then the :class:`ChatResult` last, as AutoGen 0.4's ``run_stream`` does. The stream
is built on :func:`agentnb.messages.subscribe`, the same bus the views consume. Closing the
iterator early (``await stream.aclose()``, or ``break`` inside ``async with contextlib.aclosing(stream)``)
cancels the chat and waits for its cleanup; a bare ``break`` leaves that to garbage collection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from ..messages import Event, subscribe
from .result import ChatResult

_DONE = object()


async def event_stream(start: Callable[[], Awaitable[ChatResult]]) -> AsyncIterator[Event | ChatResult]:
    """Run ``start()`` (a chat) as a task; yield its events as they are emitted, then its result.

    An error of the chat is raised from the iterator after the events that led to it.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()

    def on_event(event: Event) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            queue.put_nowait(event)
        else:  # emitted from another thread (a sync handler's worker): hand it to the stream's loop
            loop.call_soon_threadsafe(queue.put_nowait, event)

    async def run() -> ChatResult:
        return await start()

    with subscribe(on_event):  # the task copies this context: it (and what it spawns) emits to the stream
        task = loop.create_task(run())
    task.add_done_callback(lambda _: queue.put_nowait(_DONE))
    try:
        while isinstance(item := await queue.get(), Event):
            yield item
        yield task.result()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

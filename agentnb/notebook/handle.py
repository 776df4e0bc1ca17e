"""ChatHandle: what ``%%agents`` returns for a chat running as a task on the kernel's loop.

    handle = _                     # or %%agents --out handle
    result = await handle          # ChatResult, once the chat ends
    handle.done(); handle.cancel(); handle.chat_history; handle.export("run.ipynb")

As a cell's result it shows nothing (the panel above is the chat); displayed later, it shows
its state at that moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from ..export import Recorder, write_notebook
from ..messages import Event, MessageSent


class ChatHandle:
    """A running (or finished) chat started by ``%%agents``."""

    def __init__(self, task: asyncio.Task[Any] | None, *, name: str, panel: Any = None,
                 follow_up: Callable[[str], asyncio.Task[Any]] | None = None, quiet: bool = False) -> None:
        """``follow_up(message)`` starts the task that continues the chat (:meth:`send`); ``quiet``: the
        first display shows nothing (the handle is the cell's result, the panel above is the chat)."""
        self._task = task
        self.name = name
        """A short id for ``%agents list`` / ``%agents stop``."""
        self.panel = panel
        """The ChatPanel showing this chat (None with ``--silent``)."""
        self.recorder = Recorder()
        """Every event of the chat so far (Export works while running, after Stop or a failure)."""
        self.executor: Any = None
        """The agents' code executor when the chat keeps it (``--keep`` / ``--share``): ``pull`` and
        ``send`` use it; :meth:`close` shuts it down."""
        self.work_dir = "coding"
        self._follow_up = follow_up
        self._messages: list[dict[str, Any]] = []
        self._quiet = quiet

    @property
    def task(self) -> asyncio.Task[Any]:
        """The chat's task (``%%agents`` attaches it right after creating the handle and its panel)."""
        if self._task is None:
            raise RuntimeError(f"{self.name} has no chat task yet")
        return self._task

    @task.setter
    def task(self, task: asyncio.Task[Any]) -> None:
        self._task = task

    def record(self, event: Event) -> None:
        """Event subscriber: keeps the events and messages so far (history while running)."""
        self.recorder(event)
        if isinstance(event, MessageSent):
            self._messages.append(event.message)

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.shield(self.task).__await__()

    def done(self) -> bool:
        return self.task.done()

    def running(self) -> bool:
        return not self.task.done()

    def result(self) -> Any:
        """The ChatResult. Raises ``asyncio.InvalidStateError`` while the chat runs, ``CancelledError``
        if it was stopped, or the chat's error."""
        if not self.task.done():
            raise asyncio.InvalidStateError(f"chat {self.name} is still running: use `await handle`")
        return self.task.result()

    def cancel(self) -> bool:
        """Stop the chat: the running code is interrupted, the execution kernel shut down; history kept."""
        return self.task.cancel()

    def export(self, path: str | Path, *, overwrite: bool = False, unique: bool = False) -> Path:
        """Write what happened so far (running, stopped, failed or finished) as a notebook.

        An existing file is never replaced silently: ``FileExistsError`` unless ``overwrite=True``,
        or ``unique=True`` for the first free name (``run-2.ipynb``, ...)."""
        return write_notebook(self.recorder.events, path, overwrite=overwrite, unique=unique,
                              title=f"agentnb {self.name}")

    def code_blocks(self) -> list[str]:
        """The code of each block that ran so far, as it ran (edits included), in order."""
        from ..messages import ExecutionFinished

        return [e.code for e in self.recorder.events if isinstance(e, ExecutionFinished)]

    async def pull(self, name: str) -> Any:
        """The value of ``name`` in the agents' kernel (data only: see :mod:`agentnb.notebook.bridge`)."""
        from .bridge import pull_from

        return await pull_from(self._kept_executor("pull"), name, self.work_dir)

    def send(self, message: str) -> ChatHandle:
        """Continue this chat (same agents, same kernel state) with ``message``; ``await`` the handle again."""
        if not self.task.done():
            raise RuntimeError(f"{self.name} is still running; send a follow-up when it has ended")
        if self._follow_up is None:
            raise RuntimeError(f"{self.name} cannot be continued (it was not started by %%agents)")
        self.task = self._follow_up(message)
        return self

    async def close(self) -> None:
        """Shut down the agents' kernel kept for ``pull`` / ``send`` (also done at interpreter exit)."""
        executor, self.executor = self.executor, None
        if executor is not None:
            await executor.a_close()

    def _kept_executor(self, what: str) -> Any:
        if self.executor is None:
            raise RuntimeError(f"{what}: {self.name}'s kernel was not kept; start the chat with "
                               "`%%agents --keep` (or `--share NAMES`)")
        return self.executor

    @property
    def chat_history(self) -> list[dict[str, Any]]:
        """The messages so far (the final history once the chat ended normally)."""
        if self.task.done() and not self.task.cancelled() and self.task.exception() is None:
            return list(self.task.result().chat_history)
        return list(self._messages)

    @property
    def status(self) -> str:
        """running, waiting for you, stopping, finished: REASON, stopped, or failed: ERROR."""
        if not self.task.done():
            state = self.panel.state if self.panel is not None else "running"
            if state in ("stopping", "stopped"):
                return "stopping"
            return "waiting for you" if state == "waiting" else "running"
        if self.task.cancelled():
            return "stopped"
        if self.task.exception() is not None:
            return f"failed: {type(self.task.exception()).__name__}"
        return f"finished: {getattr(self.task.result(), 'stop_reason', '') or 'done'}"

    def __repr__(self) -> str:
        return f"<ChatHandle {self.name} {self.status}, {len(self.chat_history)} messages>"

    def _ipython_display_(self) -> None:
        """Nothing as the ``%%agents`` cell's own result (the panel is the chat); its state when shown later,
        brought up to date when the chat ends (a saved notebook never keeps a stale "running")."""
        if self._quiet:
            self._quiet = False
            return
        from .slots import CellSlot

        slot = CellSlot({"text/plain": repr(self)})
        if self._task is not None and not self._task.done():
            self._task.add_done_callback(lambda _task: slot.update({"text/plain": repr(self)}))

"""``%%agents`` and ``%agents``: run a conversation from a notebook cell.

    %load_ext agentnb

    %%agents --max-turns 6 --approve always --out chat
    Plot y = sin(x) for x in [0, 2π] with matplotlib.

The cell returns at once; the chat runs as a task on the kernel's loop, shown in
a ChatPanel whose buttons stay live. ``await chat`` waits for the ChatResult.
When it ends, the panel's output becomes a static page that a saved notebook keeps.
``--share df,x`` copies notebook variables into the agents' kernel (and keeps it, as ``--keep``
does): ``await chat.pull("result")`` / ``%agents pull result`` bring values back, and
``chat.send("now per month")`` (or the follow-up box) continues the same chat.
Line magic: ``%agents model [NAME] | list | stop [ID] | view widget|plain|console|auto |
export PATH [--overwrite] | pull NAME [ID] | insert [N] [ID]`` (the N-th code block that ran, default
the last, as a new cell below).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .handle import ChatHandle

LINE_USAGE = ("usage: %agents model [NAME] | list | stop [ID] | view widget|plain|console|auto | "
              "export PATH [--overwrite] | pull NAME [ID] | insert [N] [ID] | studio | history")


def _usage_name(name: str) -> Any:
    """Set the command name IPython's ``magic_arguments`` prints in the usage line."""

    def mark(func: Any) -> Any:
        func.argcmd_name = name
        return func

    return mark


@magics_class
class AgentMagics(Magics):
    """The ``agents`` line and cell magics; one instance per IPython shell."""

    @property
    def _shell(self) -> InteractiveShell:
        """The shell the magics are registered on (always set once loaded)."""
        if self.shell is None:
            raise UsageError("the agents magics are not loaded in an IPython shell")
        return self.shell

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.handles: dict[str, ChatHandle] = {}
        self.model: str | None = None
        """Default model name for ``%%agents`` (set with ``%agents model NAME``)."""
        self._ids = itertools.count(1)
        self._pulls: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ cell magic

    @magic_arguments()
    @_usage_name("%agents")  # the usage line reads `%%agents [options]`, not `%agents_cell`
    @argument("--model", default=None, help="model name from the configured config list")
    @argument("--max-turns", type=int, default=10, help="maximum number of turns (default 10)")
    @argument("--approve", choices=("always", "never", "first"), default=None,
              help="ask before running code or tools: always (default), never, or first block only; with "
                   "--team, given explicitly, it applies to every agent of the chat that runs code or tools, "
                   "nested chats and group members included (the agents themselves are not changed)")
    @argument("--team", default=None,
              help="variable holding a GroupChatManager, a (user_proxy, assistant) tuple, or a dict")
    @argument("--work-dir", default="coding", help="working folder for executed code (default 'coding')")
    @argument("--executor", default=None, help="executor name (e.g. 'kernel', 'local') or a variable")
    @argument("--out", default=None, help="store the ChatHandle in this variable")
    @argument("--silent", action="store_true", help="no panel")
    @argument("--share", default=None,
              help="comma-separated notebook variables copied into the agents' kernel (the model is told "
                   "their types and shapes); implies --keep")
    @argument("--keep", action="store_true",
              help="keep the agents' kernel after the chat: handle.pull('x') / %%agents pull x, handle.send(...)")
    @cell_magic("agents")  # type: ignore[arg-type]  # IPython types these decorators for plain functions
    def agents_cell(self, line: str, cell: str) -> ChatHandle | Any:
        """Run the cell body as the task of a conversation, shown in a live chat panel.

        The cell returns at once with a ChatHandle (``await handle``, ``handle.result()``,
        ``handle.cancel()``, ``handle.chat_history``); the chat runs on the kernel's loop, so the
        panel's Approve / Edit / Reject, Stop and Export buttons stay live. Without ``--team`` an
        AssistantAgent on the default model (``%agents model NAME`` or ``--model`` to change it)
        writes code and a UserProxyAgent runs it in its own Jupyter kernel under ``--work-dir``,
        asking before each block unless ``--approve never``.

        Example::

            %%agents --approve first --max-turns 6 --out chat
            Plot y = sin(x) for x in [0, 2*pi] with matplotlib.
        """
        args = parse_argstring(self.agents_cell, line)
        message = (cell or "").strip()
        if not message:
            raise UsageError("%%agents needs a task: write it in the cell body")
        if args.max_turns < 1:
            raise UsageError("--max-turns must be at least 1")
        shared = [n.strip() for n in (args.share or "").split(",") if n.strip()]
        missing = [n for n in shared if n not in self._shell.user_ns]
        if missing:
            raise UsageError(f"--share: no variable {', '.join(missing)} in this notebook")
        if shared or args.keep:
            if args.team or args.executor:
                raise UsageError("--share/--keep use the agents %%agents builds; not with --team or --executor")
            from ..coding.kernel import KernelExecutor

            args.executor = KernelExecutor(args.work_dir)  # ours, not the chat's: it outlives the chat
        args.shared = shared
        try:
            sender, recipient = self._participants(args)
        except UsageError:
            raise
        except Exception as exc:  # configuration mistakes: short message, no traceback
            raise UsageError(f"%%agents: {type(exc).__name__}: {exc}") from None
        kwargs: dict[str, Any] = {"message": message, "max_turns": args.max_turns}
        if args.approve is not None:  # chat-scoped: every agent that runs code or tools, nested ones too
            kwargs["approval"] = args.approve
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # terminal IPython: no running loop, run it to the end right here
            return sender.initiate_chat(recipient, silent=args.silent, **kwargs)
        return self._start(loop, sender, recipient, kwargs, args)

    def _start(self, loop: asyncio.AbstractEventLoop, sender: Any, recipient: Any, kwargs: dict[str, Any],
               args: Any) -> ChatHandle:
        from ..messages import subscribe
        from ..studio._switch import record_history, run_context
        from ..views import shown_in

        name = f"chat{next(self._ids)}"
        panel = None
        if not args.silent:
            from .panel import ChatPanel

            panel = ChatPanel(name)

        async def run(kwargs: dict[str, Any]) -> Any:
            if args.shared and kwargs.get("clear_history") is not False:  # the first run, not a follow-up
                from .bridge import share_into

                told = await share_into(handle.executor, self._shell.user_ns, args.shared, args.work_dir)
                kwargs = {**kwargs, "message": f"{kwargs['message']}\n\nThese variables are already defined in "
                                                f"the Python session where your code runs:\n{told}"}
            with contextlib.ExitStack() as stack:
                stack.enter_context(record_history())  # %%agents chats go to the run history (AGENTNB_HISTORY=off)
                stack.enter_context(run_context(source="%%agents"))
                stack.enter_context(subscribe(handle.record))
                if panel is not None:  # the panel this cell shows, with Stop/Export/follow-up wired to the handle
                    stack.enter_context(shown_in(panel))
                return await sender.a_initiate_chat(recipient, silent=args.silent, **kwargs)

        def start(run_kwargs: dict[str, Any]) -> asyncio.Task:
            task = asyncio.ensure_future(run(run_kwargs), loop=loop)
            task.add_done_callback(_retrieve)
            if panel is not None:
                task.add_done_callback(lambda done: _settle(panel, done))
            return task

        handle = ChatHandle(None, name=name, panel=panel, quiet=True,  # the cell's Out: nothing, the panel is the chat
                            follow_up=lambda message: start({**kwargs, "message": message, "clear_history": False}))
        if args.keep or args.shared:
            handle.executor, handle.work_dir = args.executor, args.work_dir
        handle.task = start(kwargs)
        self.handles[name] = handle
        if panel is not None:
            panel.on_stop(handle.cancel)
            # the name typed next to Export, or the first free one after it (chat1-2.ipynb, ...): never
            # over a file of an earlier session
            panel.on_export(lambda path: export_handle(handle, path, unique=True))
            panel.on_follow_up(handle.send)
            panel.show()
        if args.out:
            self._shell.user_ns[args.out] = handle
        return handle

    def _participants(self, args: Any) -> tuple[Any, Any]:
        import agentnb

        if args.team:
            if args.team not in self._shell.user_ns:
                raise UsageError(f"--team {args.team}: no such variable")
            return resolve_team(self._shell.user_ns[args.team])
        executor: Any = args.executor
        if executor and executor in self._shell.user_ns and not isinstance(self._shell.user_ns[executor], str):
            executor = self._shell.user_ns[executor]
        exec_config: dict[str, Any] = {"work_dir": args.work_dir, "approval": args.approve or "always"}
        if executor:
            exec_config["executor"] = executor
        assistant = agentnb.AssistantAgent("assistant", llm_config=self.llm_config(args.model or self.model))
        user = agentnb.UserProxyAgent("user_proxy", human_input_mode="NEVER", llm_config=False,
                                      is_termination_msg=_ends_with_terminate,  # 0.2's default is exact
                                      code_execution_config=exec_config)
        return user, assistant

    @staticmethod
    def llm_config(model: str | None) -> dict[str, Any] | None:
        """``None`` (the default model) or the default config list filtered to ``model``."""
        if not model:
            return None
        from ..llm.config import filter_config, get_default_llm_config

        config = get_default_llm_config()
        entries = filter_config(config.get("config_list", []), {"model": [model]})
        if not entries:
            known = ", ".join(sorted({str(e.get("model")) for e in config.get("config_list", [])})) or "none"
            raise UsageError(f"no model {model!r} in the configured config list (known: {known}); "
                             "set OAI_CONFIG_LIST or pass --team")
        return {**config, "config_list": entries}

    # ------------------------------------------------------------------ line magic

    @line_magic("agents")  # type: ignore[arg-type]  # IPython types these decorators for plain functions
    def agents_line(self, line: str) -> Any:
        """``%agents model [NAME] | list | stop [ID] | view MODE | export PATH [--overwrite]``."""
        words = line.split()
        if not words:
            raise UsageError(LINE_USAGE)
        command, rest = words[0], words[1:]
        if command == "model":
            if rest:
                self.llm_config(rest[0])  # validate
                self.model = rest[0]
            cfg = self.llm_config(self.model) if self.model else None
            if cfg is None:
                from ..llm.config import get_default_llm_config

                cfg = get_default_llm_config()
            print(f"model: {cfg['config_list'][0].get('model')}")
            return None
        if command == "list":
            if not self.handles:
                print("no chats started in this session")
            for handle in self.handles.values():
                print(f"{handle.name}: {handle.status}, {len(handle.chat_history)} messages")
            return None
        if command == "stop":
            targets = [self._handle(rest[0])] if rest else [h for h in self.handles.values() if h.running()]
            for handle in targets:
                handle.cancel()
                print(f"stopping {handle.name}")
            if not targets:
                print("no running chat")
            return None
        if command == "view":
            from ..views import set_view_mode

            if len(rest) != 1 or rest[0] not in ("widget", "plain", "console", "auto"):
                raise UsageError("usage: %agents view widget|plain|console|auto")
            set_view_mode(None if rest[0] == "auto" else rest[0])
            return None
        if command == "export":
            overwrite = "--overwrite" in rest
            paths = [w for w in rest if w != "--overwrite"]
            if len(paths) != 1:
                raise UsageError("usage: %agents export PATH [--overwrite]")
            if not self.handles:
                raise UsageError("no chat to export yet")
            handle = list(self.handles.values())[-1]
            try:
                where = export_handle(handle, paths[0], overwrite=overwrite)
            except FileExistsError:
                raise UsageError(f"{paths[0]} already exists; add --overwrite to replace it") from None
            print(f"exported {handle.name} to {where}")
            return None
        if command == "insert" and len(rest) <= 2:
            handle = self._handle(rest[1]) if len(rest) == 2 else self._latest()
            blocks = handle.code_blocks()
            try:
                code = blocks[int(rest[0]) - 1 if rest else -1]
            except (IndexError, ValueError):
                raise UsageError(f"{handle.name} ran {len(blocks)} code block(s); "
                                 "usage: %agents insert [N] [ID]") from None
            self._shell.set_next_input(code.rstrip("\n"), replace=False)  # a new cell below (JupyterLab 4, Notebook 7)
            return None
        if command == "pull" and rest and len(rest) <= 2:
            handle = self._handle(rest[1]) if len(rest) == 2 else self._last_kept()

            async def pull(name: str = rest[0]) -> None:
                try:
                    self._shell.user_ns[name] = await handle.pull(name)
                except Exception as exc:
                    print(f"pull {name} from {handle.name} failed: {exc}")
                else:
                    print(f"pulled {name} from {handle.name}")

            task = asyncio.ensure_future(pull())
            self._pulls.add(task)  # keep a reference until it is done
            task.add_done_callback(self._pulls.discard)
            return None
        if command in ("studio", "history") and not rest:
            from .. import studio

            display(studio.studio() if command == "studio" else studio.history())
            return None
        raise UsageError(LINE_USAGE)

    def _latest(self) -> ChatHandle:
        if not self.handles:
            raise UsageError("no chat started in this session")
        return list(self.handles.values())[-1]

    def _last_kept(self) -> ChatHandle:
        kept = [h for h in self.handles.values() if h.executor is not None]
        if not kept:
            raise UsageError("no chat kept its kernel: start one with %%agents --keep or --share NAMES")
        return kept[-1]

    def _handle(self, name: str) -> ChatHandle:
        if name not in self.handles:
            raise UsageError(f"no chat {name!r}; %agents list shows them")
        return self.handles[name]


def export_handle(handle: ChatHandle, path: str, *, overwrite: bool = False, unique: bool = False) -> Any:
    """Write what happened so far in ``handle``'s chat (running, stopped, failed or finished) to ``path``
    (an existing file: see :func:`agentnb.export.write_notebook`)."""
    return handle.export(path, overwrite=overwrite, unique=unique)


def _settle(panel: Any, task: asyncio.Task) -> None:
    """A chat task that ended without a ChatFinished (stopped before it began, failed early)."""
    if task.cancelled():
        panel.end("stopped")
    elif task.exception() is not None:
        exc = task.exception()
        panel.end("failed", f"{type(exc).__name__}: {exc}")


def _ends_with_terminate(message: dict[str, Any]) -> bool:
    """The termination rule of the agents the magic builds: a message that ends with TERMINATE."""
    return str(message.get("content") or "").rstrip().endswith("TERMINATE")


def resolve_team(team: Any) -> tuple[Any, Any]:
    """``(sender, recipient)`` from a GroupChatManager, a 2-tuple, or a dict."""
    if isinstance(team, dict):
        sender = next((team[k] for k in ("user_proxy", "sender", "initiator") if k in team), None)
        recipient = next((team[k] for k in ("assistant", "recipient", "manager") if k in team), None)
    elif isinstance(team, tuple | list) and len(team) == 2:
        sender, recipient = team
    elif hasattr(team, "groupchat"):
        recipient = team
        members = getattr(team.groupchat, "agents", [])
        sender = next((a for a in members if type(a).__name__ == "UserProxyAgent"), None)
        if sender is None:
            import agentnb

            sender = agentnb.UserProxyAgent("user", human_input_mode="NEVER", llm_config=False,
                                            is_termination_msg=_ends_with_terminate, code_execution_config=False)
    else:
        raise UsageError("--team must name a GroupChatManager, a (user_proxy, assistant) tuple, "
                         "or a dict with 'user_proxy' and 'assistant'")
    if not hasattr(sender, "a_initiate_chat") or recipient is None:
        raise UsageError("--team: could not find an initiating agent and a recipient")
    return sender, recipient


def _retrieve(task: asyncio.Task) -> None:
    """Mark the task's exception as seen (it is shown in the panel and raised by ``result()``)."""
    if not task.cancelled():
        task.exception()

"""The console view: prints a conversation as AutoGen users expect.

::

    user_proxy (to assistant):

    Plot a chart of ...

    --------------------------------------------------------------------------------

Every piece of model or execution text goes through :func:`agentnb.textguard.visible`
before it reaches the terminal: an escape sequence in a reply is shown (``␛[2K``), never
obeyed, so it cannot erase or rewrite what a person reads before approving.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO

from typing_extensions import assert_never  # typing has it from Python 3.11

from .messages import (
    AnyEvent,
    ApprovalDecided,
    ApprovalRequested,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ErrorOccurred,
    Event,
    ExecutionFinished,
    ExecutionOutput,
    HumanInputReceived,
    HumanInputRequested,
    MessageSent,
    ModelCallFinished,
    SpeakerSelected,
    StreamStarted,
    TokenChunk,
    ToolCallFinished,
    ToolCallProposed,
    UsageUpdated,
    content_str,
    subscribe,
)
from .textguard import HIDDEN_WARNING, has_hidden, visible

RULE = "-" * 80
_COLORS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "cyan": "36"}


class ConsoleView:
    """Prints events to ``stream`` (stdout by default); colours on a terminal."""

    def __init__(self, stream: IO[str] | None = None, color: bool | None = None, max_chars: int = 20_000):
        self._stream = stream
        self.color = color
        self.max_chars = max_chars

    @property
    def stream(self) -> IO[str]:
        return self._stream or sys.stdout

    def _c(self, text: str, color: str) -> str:
        """``text`` (made visible) in ``color`` when colours are on."""
        text = visible(text)
        use = self.color
        if use is None:
            use = hasattr(self.stream, "isatty") and self.stream.isatty() and not os.environ.get("NO_COLOR")
        return f"\x1b[{_COLORS[color]}m{text}\x1b[0m" if use else text

    def _print(self, *parts: str) -> None:
        text = "\n".join(parts)
        if self._stream is None:  # a 0.2 user's IOStream (IOStream.set_default / set_global_default) gets it
            from .io import custom_iostream

            iostream = custom_iostream()
            if iostream is not None:
                iostream.print(text, flush=True)
                return
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except UnicodeEncodeError:
            enc = getattr(self.stream, "encoding", None) or "ascii"
            self.stream.write(text.encode(enc, "replace").decode(enc) + "\n")

    def _clip(self, text: str) -> str:
        """``text`` made visible and cut to ``max_chars`` (a warning line first if it hides characters)."""
        warning = self._c(HIDDEN_WARNING, "red") + "\n" if has_hidden(text) else ""
        if len(text) > self.max_chars:
            cut = f"\n... [{len(text) - self.max_chars} more characters not shown]"
            return warning + visible(text[: self.max_chars]) + cut
        return warning + visible(text)

    def handle_event(self, event: Event) -> None:
        if not isinstance(event, AnyEvent):
            return  # not a messages.AnyEvent: nothing to print
        match event:
            case MessageSent():
                self._message(event)
            case CodeBlockProposed():
                if not event.needs_approval:  # else it is announced once approved
                    self._print(self._c("\n>>>>>>>> EXECUTING CODE BLOCK "
                                        f"(inferred language is {event.language})...", "red"))
            case ToolCallProposed():
                self._print(self._c(f"\n>>>>>>>> EXECUTING FUNCTION {event.name}...", "magenta"),
                            f"Call ID: {visible(event.call_id)}", f"Input arguments: {self._clip(event.arguments)}")
            case ApprovalDecided():
                self._decided(event)
            case SpeakerSelected():
                self._print(self._c(f"\nNext speaker: {event.speaker}\n", "green"))
            case ErrorOccurred():
                self._print(self._c(f"\n>>>>>>>> ERROR ({event.error_type}): {event.message}", "red"))
            case ChatFinished():
                if event.reason not in ("terminated", "error"):
                    self._print(self._c(f"\n>>>>>>>> CHAT ENDED: {event.reason.replace('_', ' ')}", "red"))
            case ExecutionFinished() | ExecutionOutput() | ToolCallFinished():
                pass  # the result is printed as the executor's next message
            case (ChatStarted() | StreamStarted() | TokenChunk() | ApprovalRequested() | HumanInputRequested()
                  | HumanInputReceived() | UsageUpdated() | ModelCallFinished()):
                pass  # AutoGen's console prints whole messages; the approver and input() print their own prompts
            case _:
                assert_never(event)

    def _decided(self, event: ApprovalDecided) -> None:
        verdict = "APPROVED" if event.decision.approved else "REJECTED"
        extra = " (edited)" if event.decision.edited else ""
        reason = f": {event.decision.reason}" if event.decision.reason else ""
        then = ""
        if event.decision.approved and event.request.kind == "code":
            then = f", EXECUTING CODE BLOCK (inferred language is {event.request.language})..."
        self._print(self._c(f">>>>>>>> {verdict}{extra}{reason}{then}", "yellow"))

    def _message(self, event: MessageSent) -> None:
        msg = event.message
        lines = [self._c(event.sender, "yellow") + f" (to {visible(event.recipient)}):\n"]
        if msg.get("tool_responses"):
            for tr in msg["tool_responses"]:
                lines.append(self._c(f"***** Response from calling tool ({tr.get('tool_call_id')}) *****",
                                     "green"))
                lines.append(self._clip(content_str(tr.get("content"))))
                lines.append(self._c("*" * 69, "green"))
        elif msg.get("role") == "tool":
            lines.append(self._clip(content_str(msg.get("content"))))
        else:
            content = content_str(msg.get("content"))
            if content:
                lines.append(self._clip(content))
            for tc in msg.get("tool_calls") or []:
                fn = tc.get("function") or {}
                lines.append(self._c(f"***** Suggested tool call ({tc.get('id')}): {fn.get('name')} *****",
                                     "green"))
                lines.append(f"Arguments: \n{self._clip(str(fn.get('arguments')))}")
                lines.append(self._c("*" * 69, "green"))
            if not content and not msg.get("tool_calls"):
                lines.append("(empty message)")
        lines.append("\n" + RULE)
        self._print(*lines)

    @contextlib.contextmanager
    def attach(self, sync: bool = False) -> Iterator[None]:
        """Subscribe for the block; with ``sync``, print on the waiting caller's thread."""
        from ._aio import on_caller_thread

        with subscribe(on_caller_thread(self.handle_event, sync)):
            yield

"""One code block's outputs, from the executor to the event stream: one shape flow.

1. **iopub message content**: seen only inside the executors (``kernel.py``, ``gateway.py``);
2. **nbformat output dict** (``{"output_type": "stream", "name": "stdout", "text": "hi\\n"}``): what
   every executor hands to ``on_output`` as it arrives (see :data:`agentnb.coding.base.OutputCallback`;
   ``clear_output`` and ``update_display_data`` included); folded, what it keeps in
   ``CodeResult.outputs``, what ``ExecutionFinished.outputs`` carries and what a saved notebook stores;
3. **ExecutionOutput event**: a redacted nbformat dict, flattened for the views (``kind`` is the
   ``output_type``, a stream's text joined, ``display_id`` lifted out of ``transient``).

:class:`BlockOutputs` does 2 → 3 for a running block (redacting keys, including one printed piece by
piece) and gives the redacted final outputs; :func:`output_event` is the one 2 → 3 mapping and
:func:`output_dict` its inverse, so a view never rebuilds an nbformat dict field by field.

A stream of outputs (``clear_output`` and ``update_display_data`` among them) becomes what a notebook
keeps by one fold, :class:`OutputFold` (one output at a time: the executors, the live panel) or
:func:`fold_outputs` (a whole list: export, the static page)::

    fold_outputs(output_dict(ev) for ev in block_events)   # -> the block's nbformat v4 outputs

    outputs = BlockOutputs("user_proxy", block_id, emit)
    try:
        result = await executor.a_execute(block, on_output=outputs.feed)
    finally:
        outputs.flush()
    finished_outputs = outputs.final(result.outputs)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..messages import ExecutionOutput
from .redaction import OutputRedactor, redact_output


def output_event(executor: str, block_id: str, out: dict[str, Any], *, chat_id: str | None = None) -> ExecutionOutput:
    """The event for one nbformat output dict of block ``block_id`` run by agent ``executor`` (``chat_id``:
    for a replayed chat; a live one gets it from :func:`agentnb.messages.emit`)."""
    text = out.get("text")
    if isinstance(text, list):
        text = "".join(text)
    transient = out.get("transient") or {}
    return ExecutionOutput(
        executor=executor, block_id=block_id, chat_id=chat_id, kind=out.get("output_type", "stream"),
        data=out.get("data") or {}, metadata=out.get("metadata") or {}, name=out.get("name"), text=text,
        ename=out.get("ename"), evalue=out.get("evalue"), traceback=list(out.get("traceback") or []),
        display_id=transient.get("display_id") or out.get("display_id"),
        wait=bool(out.get("wait", False)), execution_count=out.get("execution_count"),
    )


def output_dict(event: ExecutionOutput) -> dict[str, Any]:
    """The nbformat output dict an event stands for (the inverse of :func:`output_event`)."""
    kind = event.kind
    out: dict[str, Any] = {"output_type": kind}
    if kind == "stream":
        out.update(name=event.name or "stdout", text=event.text or "")
    elif kind == "error":  # an error event may carry its plain traceback as ``text`` only
        traceback = list(event.traceback) or ([event.text] if event.text else [])
        out.update(ename=event.ename or "Error", evalue=event.evalue or "", traceback=traceback)
    elif kind == "clear_output":
        out["wait"] = event.wait
    else:  # display_data, execute_result, update_display_data
        out.update(data=event.data, metadata=event.metadata)
        if kind == "execute_result":
            out["execution_count"] = event.execution_count
        if event.display_id:
            out["transient"] = {"display_id": event.display_id}
    return out


def _display_id(out: dict[str, Any]) -> str | None:
    transient = out.get("transient") or {}
    return transient.get("display_id") or out.get("display_id") or None


class OutputFold:
    """A code block's outputs as a notebook keeps them, folded from the outputs as they arrive.

    :meth:`add` takes nbformat output dicts as the executors emit them (:data:`~.base.OutputCallback`);
    :attr:`outputs` is then what a Jupyter front end shows, as nbformat v4 output dicts (``stream``,
    ``display_data``, ``execute_result``, ``error``; no ``transient``):

    - ``clear_output`` removes every output shown and forgets their display ids; with ``wait=True``
      it takes effect when the next output is added (or at :meth:`settle`); if none comes, the
      outputs stay. An ``update_display_data`` in between does not trigger it: it updates what is
      still shown, as JupyterLab does.
    - ``update_display_data`` replaces ``data`` and ``metadata`` of every output shown whose display
      id (``transient.display_id``) is its own (an ``execute_result`` keeps its kind and count); it
      is never shown itself, and an id nothing shown has is ignored.
    - a ``stream`` is appended to the last output when that is a stream of the same name (``stdout``
      then ``stderr`` then ``stdout`` stay three outputs, in order); its text is kept as sent
      (``\r`` and ``\b`` are left to the front end that shows it). A run longer than
      ``max_stream_chars`` (``0``: no cap) is cut there, with a marker.
    - any other ``output_type`` is ignored.

    A dict in :attr:`outputs` is never changed after it was handed out (a merge or an update replaces
    it), so a widget comparing the old and new lists sees every change. ``on_clear`` is called each
    time the outputs are cleared (for a caller keeping state alongside, such as a text summary).

        fold = OutputFold()
        fold.add({"output_type": "stream", "name": "stdout", "text": "a"})
        fold.add({"output_type": "stream", "name": "stdout", "text": "b\n"})
        fold.outputs  # [{"output_type": "stream", "name": "stdout", "text": "ab\n"}]
    """

    def __init__(self, *, max_stream_chars: int = 0, on_clear: Callable[[], object] | None = None) -> None:
        self.max_stream_chars = max_stream_chars
        self._on_clear = on_clear
        self._outputs: list[dict[str, Any]] = []
        self._display_ids: list[str | None] = []  # parallel to _outputs
        self._clear_pending = False

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The outputs shown now (the fold's own list: read it, do not change it)."""
        return self._outputs

    @property
    def clear_pending(self) -> bool:
        """True after a ``clear_output(wait=True)`` that no output has followed yet."""
        return self._clear_pending

    def settle(self) -> None:
        """Apply a pending ``clear_output(wait=True)`` now: the next output is about to be added
        (:meth:`add` does this itself; a caller with state alongside calls it before updating that)."""
        if self._clear_pending:
            self._clear()

    def add(self, out: dict[str, Any]) -> bool:
        """Fold in one output; True if :attr:`outputs` changed."""
        kind = out.get("output_type")
        if kind == "clear_output":
            if out.get("wait"):
                self._clear_pending = True
                return False
            changed = bool(self._outputs)
            self._clear()
            return changed
        if kind == "update_display_data":
            return self._update(out)
        if kind not in ("stream", "display_data", "execute_result", "error"):
            return False
        self.settle()
        if kind == "stream":
            self._stream(str(out.get("name") or "stdout"), _text(out.get("text")))
            return True
        new: dict[str, Any]
        if kind == "error":
            new = {"output_type": "error", "ename": out.get("ename") or "Error", "evalue": out.get("evalue") or "",
                   "traceback": list(out.get("traceback") or [])}
        else:
            new = {"output_type": kind, "data": out.get("data") or {}, "metadata": out.get("metadata") or {}}
            if kind == "execute_result":
                new["execution_count"] = out.get("execution_count")
        self._outputs.append(new)
        self._display_ids.append(None if kind == "error" else _display_id(out))
        return True

    def _clear(self) -> None:
        self._clear_pending = False
        self._outputs.clear()
        self._display_ids.clear()
        if self._on_clear is not None:
            self._on_clear()

    def _update(self, out: dict[str, Any]) -> bool:
        display_id = _display_id(out)
        changed = False
        for i, shown in enumerate(self._display_ids):
            if display_id is not None and shown == display_id:
                self._outputs[i] = {**self._outputs[i], "data": out.get("data") or {},
                                    "metadata": out.get("metadata") or {}}
                changed = True
        return changed

    def _stream(self, name: str, text: str) -> None:
        last = self._outputs[-1] if self._outputs else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            text = last["text"] + text
            del self._outputs[-1], self._display_ids[-1]
        cap = self.max_stream_chars
        if 0 < cap < len(text):
            text = text[:cap] + f"\n… [output truncated after {cap} characters]\n"
        self._outputs.append({"output_type": "stream", "name": name, "text": text})
        self._display_ids.append(None)


def fold_outputs(outputs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nbformat v4 outputs a notebook keeps of ``outputs`` (see :class:`OutputFold`)."""
    fold = OutputFold()
    for out in outputs:
        fold.add(out)
    return fold.outputs


def _text(text: Any) -> str:
    return "".join(str(t) for t in text) if isinstance(text, list) else str(text or "")


class BlockOutputs:
    """The outputs of one running code block: each one redacted and emitted as an :class:`ExecutionOutput`.

    Pass :meth:`feed` as the executor's ``on_output``; call :meth:`flush` when the block ends, however it
    ends (text held back because it could be the start of an API key is emitted then, redacted).
    """

    def __init__(self, executor: str, block_id: str, emit: Callable[[ExecutionOutput], Any]) -> None:
        self.executor = executor
        """The name of the agent running the block."""
        self.block_id = block_id
        self._emit = emit
        self._redactor = OutputRedactor()

    def feed(self, out: dict[str, Any]) -> None:
        """Take one nbformat output as it arrives; emit what may be shown now."""
        for clean in self._redactor.feed(out):
            self._emit(output_event(self.executor, self.block_id, clean))

    def flush(self) -> None:
        """Emit whatever is still held back."""
        for clean in self._redactor.flush():
            self._emit(output_event(self.executor, self.block_id, clean))

    @staticmethod
    def final(outputs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The block's kept outputs (``CodeResult.outputs``), folded (whichever executor made them) and
        redacted, for ``ExecutionFinished.outputs``."""
        return [redact_output(out) for out in fold_outputs(outputs)]

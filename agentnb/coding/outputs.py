"""One code block's outputs, from the executor to the event stream: one shape flow.

1. **iopub message content**: seen only inside the executors (``kernel.py``, ``gateway.py``);
2. **nbformat output dict** (``{"output_type": "stream", "name": "stdout", "text": "hi\\n"}``): what
   every executor hands to ``on_output`` as it arrives and keeps in ``CodeResult.outputs`` (see
   :data:`agentnb.coding.base.OutputCallback`), what a saved notebook stores, and what
   ``ExecutionFinished.outputs`` carries;
3. **ExecutionOutput event**: a redacted nbformat dict, flattened for the views (``kind`` is the
   ``output_type``, a stream's text joined, ``display_id`` lifted out of ``transient``).

:class:`BlockOutputs` does 2 → 3 for a running block (redacting keys, including one printed piece by
piece) and gives the redacted final outputs; :func:`output_event` is the one 2 → 3 mapping and
:func:`output_dict` its inverse, so a view never rebuilds an nbformat dict field by field.

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
    elif kind == "error":
        out.update(ename=event.ename or "Error", evalue=event.evalue or "", traceback=list(event.traceback))
    elif kind == "clear_output":
        out["wait"] = event.wait
    else:  # display_data, execute_result, update_display_data
        out.update(data=event.data, metadata=event.metadata)
        if kind == "execute_result":
            out["execution_count"] = event.execution_count
        if event.display_id:
            out["transient"] = {"display_id": event.display_id}
    return out


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
        """The block's kept outputs (``CodeResult.outputs``), redacted, for ``ExecutionFinished.outputs``."""
        return [redact_output(out) for out in outputs]

"""``agentnb.coding.outputs``: a block's outputs from a REAL kernel to events, one shape flow.

Every nbformat output a kernel executor hands to ``on_output`` becomes an ``ExecutionOutput`` that
carries all of it (``output_dict`` gives the same dict back), and ``BlockOutputs`` emits them redacted,
a key printed one character at a time included.
"""

from __future__ import annotations

import secrets

import pytest

from agentnb._aio import run_sync
from agentnb.coding import CodeBlock
from agentnb.coding.kernel import KernelExecutor
from agentnb.coding.outputs import BlockOutputs, output_dict, output_event
from agentnb.coding.pool import KernelPool
from agentnb.errors import register_secret
from agentnb.messages import ExecutionOutput

pytestmark = pytest.mark.slow

EVERY_KIND = """
import sys
from IPython.display import display, clear_output
print("out 1")
sys.stderr.write("err 1\\n")
handle = display({"text/plain": "v1", "text/html": "<b>v1</b>"}, raw=True, display_id=True)
handle.update({"text/plain": "v2"}, raw=True)
display({"text/plain": "plain"}, metadata={"note": 1}, raw=True)
clear_output(wait=True)
print("after clear")
42
"""


@pytest.fixture(scope="module")
def ex(tmp_path_factory):
    pool = KernelPool(size=1)
    executor = KernelExecutor(tmp_path_factory.mktemp("coding"), pool=pool, timeout=30)
    with executor:
        yield executor
    run_sync(pool.close())


def _run(ex: KernelExecutor, code: str) -> tuple[list[dict], list[ExecutionOutput], BlockOutputs, object]:
    raw: list[dict] = []
    events: list[ExecutionOutput] = []
    outputs = BlockOutputs("user_proxy", "block-1", events.append)

    def on_output(out: dict) -> None:
        raw.append(dict(out))
        outputs.feed(out)

    try:
        result = ex.execute(CodeBlock(code), on_output=on_output)
    finally:
        outputs.flush()
    return raw, events, outputs, result


def test_every_kernel_output_survives_the_event_shape(ex):
    raw, events, _, result = _run(ex, EVERY_KIND)
    kinds = [o["output_type"] for o in raw]
    for kind in ("stream", "display_data", "update_display_data", "clear_output", "execute_result"):
        assert kind in kinds, kinds
    assert [e.kind for e in events] == kinds
    for out, event in zip(raw, events, strict=True):
        assert (event.executor, event.block_id) == ("user_proxy", "block-1")
        assert output_dict(event) == out  # nothing of the executor's dict is lost on the way to the views
        assert output_dict(output_event("a", "b", out)) == out
    update = next(e for e in events if e.kind == "update_display_data")
    shown = next(e for e in events if e.kind == "display_data" and e.display_id)
    assert update.display_id == shown.display_id and update.data == {"text/plain": "v2"}
    assert result.exit_code == 0


def test_an_error_output_keeps_its_name_value_and_traceback(ex):
    raw, events, _, result = _run(ex, "raise KeyError('missing')")
    error = next(e for e in events if e.kind == "error")
    assert (error.ename, error.evalue) == ("KeyError", "'missing'") and error.traceback
    assert output_dict(error) == next(o for o in raw if o["output_type"] == "error")
    assert result.exit_code == 1


def test_a_key_printed_piece_by_piece_never_reaches_an_event_or_the_final_outputs(ex):
    key = "sk-proj-" + secrets.token_urlsafe(30)
    register_secret(key)
    code = f"import sys\nfor c in {key!r}:\n    sys.stdout.write(c); sys.stdout.flush()\nprint(' end')\n"
    raw, events, outputs, result = _run(ex, code)
    assert key in "".join(o.get("text", "") for o in raw)  # the kernel did print it
    shown = "".join(e.text or "" for e in events)
    assert key not in shown and "***" in shown and shown.rstrip().endswith("end")
    final = outputs.final(result.outputs)
    assert final and key not in str(final) and "***" in str(final)

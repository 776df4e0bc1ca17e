"""Attack: kernel-layer edges that lost output, held a block up or flooded the views.

- ``exit()`` / ``quit()`` in model code: the block reported a plain success, the kernel exited just after,
  and the model learnt of it only at the next block (or an innocent next block was blamed for killing a
  kernel that was shutting down). Now that block's result says so and the next block runs in a fresh kernel.
- a shell block that starts a background job (``sleep 8 & echo started``) waited for the job (or the
  timeout) because the job held the output pipe open. Now it returns when bash exits; the job runs on.
- display outputs (HTML, text/plain, JSON, execute results, tracebacks) reached views and exports whole:
  ``max_display_chars`` only capped stdout/stderr. Now their text parts are cut, with a visible marker.

Real Jupyter kernels (the agent's own ``jupyter`` executor), the scripted server as the model.
"""

from __future__ import annotations

import re

import pytest
from support.faults import PIDS, assert_gone, exit_code, jupyter_chat, printed_pids, running, told

from agentnb.coding import CodeBlock, KernelExecutor
from agentnb.export import events_to_notebook
from agentnb.messages import ExecutionFinished, ExecutionOutput, subscribe
from agentnb.testing import ScriptedModelServer, code


def _kernel_pid(text: str) -> int:
    found = re.search(r"PIDS (\d+) \d+", text)
    assert found, f"no pid printed: {text[:300]!r}"
    return int(found.group(1))


# -- exit() / quit() ----------------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["exit()", "quit()"])
def test_exit_restarts_the_kernel_and_says_so_in_that_block(tmp_path, call):
    script = [code(PIDS + f"x = 41\nprint('before the exit')\n{call}"),
              code(PIDS + "print('x kept:', 'x' in globals())"), "TERMINATE"]
    with ScriptedModelServer(script) as server:
        result = jupyter_chat(server, tmp_path)
        pids = printed_pids(server)
        exited, after = told(server, 1), told(server, 2)
    assert "before the exit" in exited  # the block's own output is kept
    assert "called exit()" in exited and "restarted" in exited, f"the model was not told: {exited!r}"
    assert exit_code(after) == 0 and "x kept: False" in after, after  # runs normally, in a fresh kernel
    assert "died" not in after, "the next block was blamed for the exit"
    assert _kernel_pid(after) != _kernel_pid(exited)
    assert result.chat_history[-1]["content"] == "TERMINATE"
    assert_gone(pids)


def test_the_block_right_after_exit_is_not_blamed(tmp_path):
    """No model round trip between the two blocks: the second one must not meet the exiting kernel."""
    with KernelExecutor(tmp_path) as ex:
        exited = ex.execute(CodeBlock("print('bye')\nexit()"))
        after = ex.execute(CodeBlock("print(40 + 2)"))
    assert "bye" in exited.output and "called exit()" in exited.output
    assert after.exit_code == 0 and after.output == "42\n" and not after.kernel_died


def test_exit_keep_kernel_keeps_the_kernel(tmp_path):
    with KernelExecutor(tmp_path) as ex:
        ex.execute(CodeBlock("x = 7"))
        kept = ex.execute(CodeBlock("exit(keep_kernel=True)"))
        after = ex.execute(CodeBlock("print(x * 6)"))
    assert "called exit()" not in kept.output
    assert after.exit_code == 0 and after.output == "42\n"


# -- shell blocks with background jobs -----------------------------------------------------------------

def test_a_shell_background_job_does_not_hold_the_block(tmp_path):
    """The block returns when bash exits (long before the job or the timeout), with all the foreground
    output; the job is still running at the next block and is gone after the chat."""
    background = code('sleep 8 &\necho "PIDS $! $$"\necho $! > bg.pid\nseq 1 100000\necho started', lang="sh")
    check = code(PIDS + "os.kill(int(open('bg.pid').read()), 0)\nprint('job alive')")
    with ScriptedModelServer([background, check, "TERMINATE"]) as server:
        jupyter_chat(server, tmp_path, timeout=5)
        pids = printed_pids(server)
        started, after = told(server, 1), told(server, 2)
    assert exit_code(started) == 0, f"the block waited for its background job: {started[-300:]!r}"
    assert "\n100000\nstarted" in started  # the foreground output is complete
    assert exit_code(after) == 0 and "job alive" in after
    assert_gone(pids)


def test_a_background_job_that_writes_later_is_not_killed(tmp_path):
    """Its later output no longer has a reader in the block; it must not die of SIGPIPE for that."""
    with KernelExecutor(tmp_path, timeout=20) as ex:
        first = ex.execute(CodeBlock("(sleep 0.5; echo late; echo late >&2; sleep 30) &\necho $! > bg.pid\n"
                                     "echo now", language="sh"))
        job = int((tmp_path / "bg.pid").read_text())
        assert first.exit_code == 0 and first.output.startswith("now")
        waited = ex.execute(CodeBlock("sleep 1.5; echo waited", language="sh"))
        assert waited.output == "waited\n" and "late" not in waited.output
        assert running(job), "the background job died once its block had returned"
    assert_gone({job})


# -- display outputs are capped for views ----------------------------------------------------------------

BIG = 2_000_000  # characters, twice the default max_display_chars

DISPLAYS = f"""
from IPython.display import display, HTML, Markdown
display(HTML('<pre>' + 'h' * {BIG} + '</pre>'))
display(Markdown('m' * {BIG}))
display({{'text/plain': 'p' * {BIG}, 'application/json': {{'k': 'j' * {BIG}}}}}, raw=True)
display({{'application/json': {{'k': 'i' * {BIG}}}}}, raw=True)
'r' * {BIG}
"""


def _longest_text(value) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_longest_text(v) for v in value) if all(isinstance(v, str) for v in value) else \
            max((_longest_text(v) for v in value), default=0)
    if isinstance(value, dict):
        return max((_longest_text(v) for v in value.values()), default=0)
    return 0


def test_display_outputs_are_capped_for_views(tmp_path):
    events = []
    script = [code(DISPLAYS), code(f"raise ValueError('v' * {BIG})"), "TERMINATE"]
    with ScriptedModelServer(script) as server:
        with subscribe(events.append):
            result = jupyter_chat(server, tmp_path)
        shown, failed = told(server, 1), told(server, 2)
    assert exit_code(shown) == 0 and shown.rstrip().endswith("rrrr'") and len(shown) < 100_000  # as before
    assert exit_code(failed) == 1 and "ValueError" in failed and len(failed) < 100_000
    streamed = [ev for ev in events if isinstance(ev, ExecutionOutput)]
    finished = [out for ev in events if isinstance(ev, ExecutionFinished) for out in ev.outputs]
    kinds = {ev.kind for ev in streamed}
    assert {"display_data", "execute_result", "error"} <= kinds, kinds
    limit = 1_000_000 + 500  # max_display_chars and the markers
    for ev in streamed:
        assert _longest_text([ev.data, ev.text or "", ev.evalue or "", ev.traceback]) <= limit, ev.kind
    for out in finished:
        assert _longest_text(out) <= limit, f"{out['output_type']} reached a view whole"
    bundles = [ev.data for ev in streamed if ev.data]
    for mime in ("text/html", "text/markdown", "text/plain"):
        assert any("truncated for display" in str(b.get(mime, "")) for b in bundles), f"{mime}: no marker"
    assert any("application/json" in b.get("text/plain", "") and "not shown" in b["text/plain"] for b in bundles)
    assert any(b.get("text/plain", "").startswith('{"k": "iii') and "truncated" in b["text/plain"] for b in bundles)
    error = next(ev for ev in streamed if ev.kind == "error")
    assert "truncated" in error.evalue and "truncated" in "".join(error.traceback)
    nb = events_to_notebook(result.events)
    assert max(_longest_text(cell.get("outputs", [])) for cell in nb.cells) <= limit


def test_an_oversized_image_becomes_a_note(tmp_path):
    """Images are not cut (that would break them); one beyond 20 MB of base64 is replaced by a note."""
    seen = []
    huge = "import base64\ndisplay({'image/png': base64.b64encode(b'\\0' * 16_000_000).decode()}, raw=True)"
    small = "display({'image/png': 'iVBORw0KGgo=' * 100_000}, raw=True)"  # 1.2 MB: shown as it is
    with KernelExecutor(tmp_path) as ex:
        result = ex.execute(CodeBlock(f"{huge}\n{small}\nprint('next')"), on_output=seen.append)
    assert result.exit_code == 0 and "next" in result.output
    huge_out, small_out = (out["data"] for out in seen if out["output_type"] == "display_data")
    assert "image/png" not in huge_out and "not shown" in huge_out["text/plain"]
    assert small_out["image/png"] == "iVBORw0KGgo=" * 100_000

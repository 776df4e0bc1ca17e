"""``OutputFold`` / ``fold_outputs``: a block's stream of outputs becomes what a notebook keeps, in one place.

The executors (``OutputCollector``), the live panel (``ExecutionCard``), the export and the static page
all fold with it; these tests pin its rules (clear_output, clear_output(wait=True), update_display_data,
stream merging) and that every consumer shows the same fold, down to a real kernel's block.
"""

from __future__ import annotations

import nbformat
import pytest

from agentnb._aio import run_sync
from agentnb.coding import CodeBlock
from agentnb.coding.iopub import OutputCollector
from agentnb.coding.kernel import KernelExecutor
from agentnb.coding.outputs import BlockOutputs, OutputFold, fold_outputs, output_dict, output_event
from agentnb.coding.pool import KernelPool
from agentnb.export import events_to_notebook
from agentnb.messages import CodeBlockProposed, ExecutionFinished, ExecutionOutput
from agentnb.notebook.cards import MAX_STREAM_CHARS, ExecutionCard
from agentnb.notebook.static import transcript_html


def stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def display(text: str, display_id: str | None = None, kind: str = "display_data") -> dict:
    out: dict = {"output_type": kind, "data": {"text/plain": text}, "metadata": {}}
    if kind == "execute_result":
        out["execution_count"] = 3
    if display_id:
        out["transient"] = {"display_id": display_id}
    return out


def update(text: str, display_id: str) -> dict:
    return {"output_type": "update_display_data", "data": {"text/plain": text}, "metadata": {"v": text},
            "transient": {"display_id": display_id}}


def clear(wait: bool = False) -> dict:
    return {"output_type": "clear_output", "wait": wait}


def shown(outputs: list[dict]) -> list[tuple[str, str]]:
    """(kind, text) of each output: what a person reads."""
    return [(o["output_type"], o["text"] if o["output_type"] == "stream" else
             o["data"]["text/plain"] if "data" in o else o["ename"]) for o in outputs]


# ---------------------------------------------------------------------------------------- the rules


def test_clear_output_removes_everything_shown_before_it():
    assert shown(fold_outputs([stream("a\n"), display("plot"), clear(), stream("b\n")])) == [("stream", "b\n")]
    assert fold_outputs([stream("a\n"), clear()]) == []


def test_clear_wait_takes_effect_when_the_next_output_comes_and_keeps_the_old_ones_if_none_does():
    assert shown(fold_outputs([stream("1\n"), clear(wait=True), stream("2\n")])) == [("stream", "2\n")]
    assert shown(fold_outputs([stream("1\n"), clear(wait=True)])) == [("stream", "1\n")]
    # a progress bar redrawn in place: only the last frame stays
    frames = [o for i in range(5) for o in (clear(wait=True), display(f"{i * 25}%"))]
    assert shown(fold_outputs(frames)) == [("display_data", "100%")]


def test_an_update_does_not_trigger_a_pending_clear_it_updates_what_is_still_shown():
    outs = fold_outputs([display("0%", "p"), clear(wait=True), update("50%", "p")])
    assert shown(outs) == [("display_data", "50%")]  # as JupyterLab: the update is not a new output
    outs = fold_outputs([display("0%", "p"), clear(wait=True), update("50%", "p"), stream("x")])
    assert shown(outs) == [("stream", "x")]


def test_update_display_data_replaces_every_output_with_its_display_id_in_place():
    outs = fold_outputs([display("a", "d"), stream("between\n"), display("b", "e"), display("a again", "d"),
                         update("new", "d")])
    assert shown(outs) == [("display_data", "new"), ("stream", "between\n"), ("display_data", "b"),
                           ("display_data", "new")]
    assert outs[0]["metadata"] == {"v": "new"}


def test_an_update_keeps_an_execute_results_kind_and_count():
    [out] = fold_outputs([display("1", "r", kind="execute_result"), update("2", "r")])
    assert out == {"output_type": "execute_result", "data": {"text/plain": "2"}, "metadata": {"v": "2"},
                   "execution_count": 3}


def test_an_update_for_an_unknown_or_cleared_display_id_is_ignored_and_never_shown():
    assert shown(fold_outputs([display("a", "d"), update("x", "other")])) == [("display_data", "a")]
    assert fold_outputs([display("a", "d"), clear(), update("x", "d")]) == []  # the id went with its output
    assert fold_outputs([update("x", "d")]) == []
    assert shown(fold_outputs([display("no id"), update("x", "")])) == [("display_data", "no id")]


def test_display_ids_are_transient_they_are_matched_but_never_kept():
    outs = fold_outputs([display("a", "d"), {**update("b", "x"), "transient": {}, "display_id": "d"}])
    assert shown(outs) == [("display_data", "b")]  # a display id outside ``transient`` (an event's) counts too
    assert all("transient" not in o and "display_id" not in o for o in outs)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.from_dict(o) for o in fold_outputs([display("a", "d"), display("r", "e", "execute_result")])])])
    nbformat.validate(nb)  # what the fold gives is valid nbformat v4 as it is


def test_consecutive_streams_of_one_name_merge_interleaved_ones_stay_in_order():
    outs = fold_outputs([stream("a"), stream("b\n"), stream("e1\n", "stderr"), stream("e2\n", "stderr"),
                         stream("c\n"), display("d"), stream("after\n")])
    assert shown(outs) == [("stream", "ab\n"), ("stream", "e1\ne2\n"), ("stream", "c\n"),
                           ("display_data", "d"), ("stream", "after\n")]
    assert [o.get("name") for o in outs] == ["stdout", "stderr", "stdout", None, "stdout"]


def test_stream_text_is_kept_as_sent_carriage_returns_are_the_front_ends():
    # none of the fold's users rewrote \r or \b before it existed; a front end applies them when it shows
    [out] = fold_outputs([stream("10%\r"), stream("20%\r"), stream(["100%", "\n"])])
    assert out["text"] == "10%\r20%\r100%\n"


def test_errors_and_unknown_kinds():
    outs = fold_outputs([{"output_type": "error", "ename": "KeyError", "evalue": "'k'", "traceback": ["tb"]},
                         {"output_type": "something_else", "data": {}}, {"no": "type"}])
    assert outs == [{"output_type": "error", "ename": "KeyError", "evalue": "'k'", "traceback": ["tb"]}]


def test_a_stream_run_longer_than_the_cap_is_cut_once_with_a_marker():
    fold = OutputFold(max_stream_chars=10)
    for _ in range(5):
        fold.add(stream("0123456789"))
    [out] = fold.outputs
    assert out["text"].startswith("0123456789\n") and "truncated after 10 characters" in out["text"]
    fold.add(stream("e", "stderr"))
    assert fold.outputs[-1]["text"] == "e"  # the cap is per run


def test_the_fold_never_changes_a_dict_it_handed_out_nor_its_input():
    fold, given = OutputFold(), display("a", "d")
    fold.add(stream("a"))
    fold.add(given)
    before = [dict(o) for o in fold.outputs]
    handed = list(fold.outputs)
    assert fold.add(stream("b", "stderr")) and fold.add(stream("c", "stderr")) and fold.add(update("z", "d"))
    assert [dict(o) for o in handed] == before  # a merge or an update replaced the dict
    assert given == display("a", "d")
    assert not fold.add(clear(wait=True)) and fold.clear_pending and not fold.add(update("q", "nothing"))
    cleared: list[bool] = []
    fold2 = OutputFold(on_clear=lambda: cleared.append(True))
    fold2.add(stream("x"))
    fold2.add(clear(wait=True))
    fold2.settle()
    assert cleared == [True] and fold2.outputs == [] and not fold2.clear_pending


def test_folding_a_folded_list_changes_nothing():
    raw = [stream("a"), stream("b", "stderr"), display("p", "d"), clear(wait=True), stream("c"), stream("d"),
           display("q", "e"), update("q2", "e")]
    once = fold_outputs(raw)
    assert fold_outputs(once) == once
    assert fold_outputs(output_dict(output_event("u", "b", o)) for o in raw) == once  # through the event shape


# ------------------------------------------------------------------------------------- its users


def iopub(kind: str, **content) -> dict:
    return {"msg_type": kind, "content": content}


def collector() -> OutputCollector:
    return OutputCollector(None, max_output_chars=10_000, max_display_chars=10_000,
                           save_file=lambda ext, data: f"/dev/null/{ext}")


def test_the_collector_keeps_the_fold_and_its_summary_shows_what_stays_on_screen():
    c = collector()
    for msg in [iopub("stream", name="stdout", text="old\n"), iopub("clear_output", wait=True),
                iopub("stream", name="stdout", text="new\n"), iopub("stream", name="stdout", text="more\n"),
                iopub("display_data", data={"text/plain": "0%"}, metadata={}, transient={"display_id": "p"}),
                iopub("update_display_data", data={"text/plain": "100%"}, metadata={},
                      transient={"display_id": "p"})]:
        c.handle(msg)
    result = c.result({"status": "ok"}, sh=False, timeout=5, timed_out=False)
    assert shown(result.outputs) == [("stream", "new\nmore\n"), ("display_data", "100%")]
    # the text printed right after a clear_output(wait=True) is what the model is told, not lost with the clear
    assert "new\nmore" in result.output and "old" not in result.output


def test_a_finished_blocks_outputs_are_the_fold_whichever_executor_made_them():
    # an executor of the user's own may hand back every output as it came; ExecutionFinished still gets the fold
    raw = [stream("a"), stream("b"), display("p", "d"), update("q", "d"), clear(wait=True), stream("c")]
    assert BlockOutputs.final(raw) == fold_outputs(raw) == [stream("c")]


def test_the_card_in_the_live_panel_shows_the_fold_and_tells_the_widget_each_change():
    raw = [stream("a"), stream("b\n"), display("0%", "p"), update("50%", "p"), stream("e\n", "stderr"),
           clear(wait=True), stream("last\n")]
    card = ExecutionCard("u", "python")
    changes: list[object] = []
    card.output.observe(changes.append, "outputs")
    for out in raw:
        card.add(output_event("u", "b", out))
    assert list(card.output.outputs) == fold_outputs(raw)
    assert len(changes) == 6  # every visible change reached the widget (the clear with wait waited)
    big = ExecutionCard("u", "python")
    for _ in range(3):
        big.add(output_event("u", "b", stream("x" * MAX_STREAM_CHARS)))
    assert len(big.output.outputs[0]["text"]) < MAX_STREAM_CHARS + 100


def test_export_and_static_page_show_the_fold_of_streamed_events():
    raw = [stream("gone\n"), clear(), stream("a"), stream("b\n"), display("first-frame", "p"),
           update("last-frame", "p"), stream("e\n", "stderr")]
    events = [CodeBlockProposed(executor="u", block_id="b", language="python", code="x"),
              *(output_event("u", "b", o) for o in raw),
              ExecutionOutput(executor="u", block_id="b", kind="stream", text="z\n"),  # no name: stdout
              ExecutionFinished(executor="u", block_id="b", language="python", code="x", exit_code=0, summary="")]
    nb = events_to_notebook(events)
    nbformat.validate(nb)  # a stream event without a name is stdout (it was written as name None)
    [cell] = [c for c in nb.cells if c.cell_type == "code"]
    assert [dict(o) for o in cell.outputs] == fold_outputs([*raw, stream("z\n")])
    page = transcript_html(events)
    assert "ab\n" in page and "last-frame" in page and "first-frame" not in page and "gone" not in page


@pytest.mark.slow
def test_a_real_blocks_events_fold_to_its_final_outputs(tmp_path):
    code = """
import sys
from IPython.display import display, clear_output
print("a", end=""); print("b")
sys.stderr.write("err\\n")
h = display({"text/plain": "0%"}, raw=True, display_id=True)
print("c")
h.update({"text/plain": "100%"}, raw=True)
clear_output(wait=True)
print("after")
sys.stdout.flush()
h2 = display({"text/plain": "x"}, raw=True, display_id=True)
h2.update({"text/plain": "y"}, raw=True)
7
"""
    pool = KernelPool(size=1)
    events: list[ExecutionOutput] = []
    try:
        with KernelExecutor(tmp_path, pool=pool, timeout=30) as ex:
            result = ex.execute(CodeBlock(code), on_output=lambda o: events.append(output_event("u", "b", o)))
    finally:
        run_sync(pool.close())
    assert fold_outputs(output_dict(e) for e in events) == result.outputs
    assert shown(result.outputs) == [("stream", "after\n"), ("display_data", "y"), ("execute_result", "7")]

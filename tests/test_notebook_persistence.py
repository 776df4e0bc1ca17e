"""What a saved notebook keeps of a ``%%agents`` chat, in a REAL kernel driven through jupyter_client.

The cell's outputs are rebuilt from iopub exactly as a front end applies them (``display_data``
with a display id, later ``update_display_data`` for that id), then checked as nbformat would save
them: the conversation with its plot as ordinary ``text/html``, no widget reference left once the
notebook moves on, no raw ``ChatHandle``/``ChatPanel`` repr.
"""

from __future__ import annotations

import itertools
import re

import nbformat
import pytest
from support.kernel import WIDGET_VIEW
from test_magic_kernel import kernel_factory  # noqa: F401  (fixture)

from agentnb.testing import ScriptedModelServer, code

pytestmark = pytest.mark.slow

PLOT = """import matplotlib.pyplot as plt
plt.plot([0, 1, 2], [0, 1, 4])
plt.title("squares")
plt.show()
print("plotted")"""

FAIL = "def f():\n    return 1 / 0\nf()"


def saved_outputs(nb, cell_msg_ids: list[str], *, front_end: str = "lab") -> list[dict]:
    """The outputs a front end holds for the cells ``cell_msg_ids`` after every iopub message so far.

    ``lab`` (JupyterLab, Notebook 7) applies a display update to a cell's outputs only when it is
    addressed to that cell (its parent header); ``nbclient`` (nbconvert, nbval, papermill) applies
    every update it reads, whichever cell it was addressed to, but reads only the messages of the
    cell it is running (here: all of them, in order)."""
    outputs: list[dict] = []
    for msg in nb.messages:
        kind, content = msg["header"]["msg_type"], msg["content"]
        parent = msg["parent_header"].get("msg_id")
        if kind in ("display_data", "execute_result") and parent in cell_msg_ids:
            out = {"output_type": kind, "data": content["data"],
                   "display_id": content.get("transient", {}).get("display_id")}
            outputs.append(out)
        elif kind == "stream" and parent in cell_msg_ids:
            outputs.append({"output_type": "stream", "text": content["text"], "display_id": None})
        elif kind == "update_display_data" and (front_end == "nbclient" or parent in cell_msg_ids):
            for out in outputs:
                if out["display_id"] and out["display_id"] == content.get("transient", {}).get("display_id"):
                    out["data"] = content["data"]
    return outputs


def run_cell(nb, source: str) -> str:
    msg_id = nb.kc.execute(source)
    nb.wait_for(lambda: any(m["parent_header"].get("msg_id") == msg_id and m["header"]["msg_type"] == "status"
                            and m["content"]["execution_state"] == "idle" for m in nb.messages),
                what=source[:30])
    reply = nb.reply_to(msg_id)["content"]
    assert reply["status"] == "ok", reply
    return msg_id


def test_finished_chat_is_saved_as_static_html_with_its_plot(kernel_factory, tmp_path):  # noqa: F811
    with ScriptedModelServer([code(PLOT, before="I will plot the squares:"), "The plot is shown. TERMINATE",
                             "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        cell = run_cell(nb, f"%%agents --work-dir {tmp_path / 'w'} --max-turns 3 --out h\nPlot squares.\n")
        live = saved_outputs(nb, [cell])
        assert not any(o["output_type"] == "execute_result" for o in live), "the cell printed a raw ChatHandle"
        assert any(WIDGET_VIEW in o["data"] for o in live)
        nb.click(nb.wait_for(lambda: nb.button("Approve"), what="Approve"))
        run_cell(nb, "r = await h")
        outs = saved_outputs(nb, [cell])
        page = outs[0]["data"]
        assert WIDGET_VIEW not in page, "the panel still points at a widget model after the chat ended"
        html = page["text/html"]
        assert '<img src="data:image/png;base64,' in html and "plotted" in html
        assert "I will plot the squares" in html and "✔ finished" in html
        assert "TERMINATE" not in html and "exitcode" not in html.split("what the model saw")[0]
        assert html.count(">title</span>") == 1, "the code is shown once"
        assert "ChatPanel(" not in page["text/plain"] and "assistant: I will plot" in page["text/plain"]
        # the live toolbar (Export) under it lasts until the notebook runs another cell, then leaves nothing
        assert any(WIDGET_VIEW in o["data"] for o in saved_outputs(nb, [cell])[1:])
        run_cell(nb, "1 + 1")
        assert not any(WIDGET_VIEW in o["data"] for o in saved_outputs(nb, [cell]))
        # the saved file validates and carries no widget reference
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%%agents ...")])
        notebook.cells[0].outputs = [nbformat.v4.new_output("display_data", data=o["data"])
                                     for o in saved_outputs(nb, [cell]) if o["output_type"] == "display_data"]
        nbformat.validate(notebook)
        assert WIDGET_VIEW not in nbformat.writes(notebook)


def test_failed_block_folds_and_export_after_stop(kernel_factory, tmp_path):  # noqa: F811
    slow = "import time\nprint('started')\ntime.sleep(60)"
    with ScriptedModelServer([code(FAIL), code(slow), "never reached"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        cell = run_cell(nb, f"%%agents --work-dir {tmp_path / 'w'} --max-turns 4 --out h\nDivide.\n")
        nb.click(nb.wait_for(lambda: nb.button("Approve"), what="first Approve"))

        def second_approve():
            ids = [c for c, s in nb.widgets.items() if s.get("_model_name") == "ButtonModel"
                   and s.get("description") == "Approve" and not s.get("disabled")]
            return ids[-1] if len(ids) and ids[-1] != first else None

        first = nb.button("Approve", enabled=False)
        nb.click(nb.wait_for(second_approve, what="second Approve"))
        nb.wait_for(lambda: any(m["header"]["msg_type"] == "comm_msg" and "started" in str(m["content"])
                                for m in nb.messages), what="the slow block to start")
        nb.click(nb.wait_for(lambda: nb.button("Stop"), what="Stop"))
        nb.wait_for(lambda: any(WIDGET_VIEW not in o["data"] and "■ stopped" in o["data"].get("text/html", "")
                                for o in saved_outputs(nb, [cell])), what="the stopped page")
        html = saved_outputs(nb, [cell])[0]["data"]["text/html"]
        assert "✘ ZeroDivisionError: division by zero" in html and "traceback ▸" in html
        assert "■ interrupted" in html and "✔ finished" not in html
        export = nb.button("Export")
        assert export is not None, "Export is available after Stop"
        name = next(c for c, s in nb.widgets.items() if s.get("_model_name") == "TextModel"
                    and str(s.get("value", "")).endswith(".ipynb"))
        nb.set_value(name, "stopped-run.ipynb")
        (tmp_path / "stopped-run.ipynb").write_text("earlier")
        nb.click(export)
        link = nb.wait_for(lambda: next((s["value"] for s in nb.widgets.values()
                                         if "href" in str(s.get("value", ""))), None),
                           what="the export link")
        assert 'href="stopped-run-2.ipynb"' in link
        assert (tmp_path / "stopped-run.ipynb").read_text() == "earlier"  # never overwritten
        exported = nbformat.read(tmp_path / "stopped-run-2.ipynb", as_version=4)
        assert any("1 / 0" in c.source for c in exported.cells)
        status = nb.stdout(nb.execute("import asyncio\ntry:\n    await h\nexcept asyncio.CancelledError:\n"
                                      "    pass\nprint(h.status, repr(h))"))
        assert status.startswith("stopped <ChatHandle chat1 stopped")


def test_insert_puts_a_block_that_ran_into_a_new_cell(kernel_factory, tmp_path):  # noqa: F811
    with ScriptedModelServer([code("print('first')"), code("x = 41\nprint(x + 1)"), "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        nb.execute(f"%%agents --approve never --max-turns 3 --work-dir {tmp_path / 'w'} --out h\nCount.")
        nb.execute("r = await h")

        def payload(line: str) -> list[dict]:
            msg_id = nb.kc.execute(line)
            return nb.reply_to(msg_id)["content"].get("payload", [])

        (last,) = payload("%agents insert")
        assert last["source"] == "set_next_input" and last["text"] == "x = 41\nprint(x + 1)"
        assert last["replace"] is False
        (first,) = payload("%agents insert 1 chat1")
        assert first["text"] == "print('first')"
        msg_id = nb.kc.execute("%agents insert 3")
        reply = nb.reply_to(msg_id)["content"]
        assert reply["status"] == "error" and "ran 2 code block(s)" in reply["evalue"]


def _snapshot_updates(nb, cell: str, display_id: str) -> list[dict]:
    return [m for m in nb.messages if m["header"]["msg_type"] == "update_display_data"
            and m["parent_header"].get("msg_id") == cell
            and m["content"].get("transient", {}).get("display_id") == display_id]


def _html_export(outputs: list[dict]) -> str:
    """What nbviewer / ``jupyter nbconvert --to html`` shows for a notebook holding ``outputs``."""
    from nbconvert import HTMLExporter

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%%agents\nPlot squares.")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("display_data", data=o["data"]) for o in outputs]
    nbformat.validate(notebook)
    return HTMLExporter().from_notebook_node(notebook)[0]


def test_a_running_chat_is_saved_as_a_snapshot_that_leaves_when_it_ends(kernel_factory, tmp_path):  # noqa: F811
    """Saved while waiting on the second approval: the plot and the talk so far, as static HTML next to the
    live widget (which hides it while it renders); refreshed at boundaries at most once a second; gone at the end."""
    second = "print('second step')"
    with ScriptedModelServer([code(PLOT, before="I will plot the squares:"),
                              code(second, before="Now the second step:"), "Both done. TERMINATE",
                              "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        cell = run_cell(nb, f"%%agents --work-dir {tmp_path / 'w'} --max-turns 4 --out h\nPlot squares.\n")
        live, snapshot = saved_outputs(nb, [cell])
        assert WIDGET_VIEW in live["data"] and "live widget" in live["data"]["text/plain"]
        assert "agentnb-snapshot" in snapshot["data"]["text/html"] and WIDGET_VIEW not in snapshot["data"]
        first = nb.wait_for(lambda: nb.button("Approve"), what="first Approve")
        nb.click(first)
        nb.wait_for(lambda: next((c for c in [nb.button("Approve")] if c and c != first), None),
                    what="second Approve")

        def waiting_snapshot():
            html = saved_outputs(nb, [cell])[1]["data"].get("text/html", "")
            return html if "● waiting for approval" in html and "Now the second step" in html else None

        html = nb.wait_for(waiting_snapshot, what="a snapshot of the chat waiting on the second block")
        assert '<img src="data:image/png;base64,' in html and "plotted" in html
        assert "I will plot the squares" in html and "● waiting for you" in html
        assert "saved while the chat was running" in html and "TERMINATE" not in html
        # the live widget carries the style that hides exactly this snapshot; the snapshot hides the dead widget
        key = f"agentnb-snap-{live['data'][WIDGET_VIEW]['model_id']}"
        assert f'class="agentnb-snapshot {key}"' in html
        assert any(f".{key} {{ display: none; }}" in str(s.get("value", "")) for s in nb.widgets.values()
                   if s.get("_model_name") == "HTMLModel")
        assert f".jp-OutputArea-child:has(+ .jp-OutputArea-child .{key}):not(:has(.agentnb-panel))" in html
        # nbviewer / nbconvert of the notebook saved now: the conversation and its plot, no raw repr
        page = _html_export(saved_outputs(nb, [cell]))
        assert "Now the second step" in page and re.search(r'<img [^>]*src="data:image/png;base64,', page)
        assert "ChatPanel(" not in page and "Toolbar(" not in page and "model not found" not in page
        # refreshed at message/execution boundaries, never closer than SNAPSHOT_EVERY (kernel clock)
        sent = [m["header"]["date"] for m in _snapshot_updates(nb, cell, snapshot["display_id"])]
        assert len(sent) >= 2
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent)]
        assert min(gaps) >= 0.99, gaps
        nb.click(nb.button("Approve"))
        run_cell(nb, "r = await h")
        page_out, toolbar = saved_outputs(nb, [cell])
        final = page_out["data"]["text/html"]
        assert "agentnb-page" in final and "✔ finished" in final and "second step" in final
        assert "agentnb-snapshot" not in final and "saved while the chat was running" not in final
        assert WIDGET_VIEW in toolbar["data"] and toolbar["data"]["text/plain"] == ""  # Export, no repr
        assert not any("agentnb-snapshot" in str(o["data"]) for o in saved_outputs(nb, [cell]))
        after = len(_snapshot_updates(nb, cell, snapshot["display_id"]))
        run_cell(nb, "1 + 1")
        assert saved_outputs(nb, [cell])[1]["data"] == {"text/plain": ""}
        assert len(_snapshot_updates(nb, cell, snapshot["display_id"])) == after + 1  # only that clearing
        # what nbclient (nbconvert --execute, nbval, papermill) saved: the page, and nothing under it
        executed = saved_outputs(nb, [cell], front_end="nbclient")
        assert "✔ finished" in executed[0]["data"]["text/html"] and executed[1]["data"] == {"text/plain": ""}
        finished = _html_export(executed)
        assert "Both done" in finished and "ChatPanel(" not in finished and "live widget" not in finished


def test_a_follow_up_brings_the_snapshot_back_and_it_leaves_again(kernel_factory, tmp_path):  # noqa: F811
    with ScriptedModelServer(["Nothing to run. TERMINATE",
                              code("print('follow-up ran')", before="Running the follow-up:"),
                              "Done again. TERMINATE", "TERMINATE"]) as srv:
        nb = kernel_factory(srv.config_list())
        nb.execute("%load_ext agentnb")
        cell = run_cell(nb, f"%%agents --keep --work-dir {tmp_path / 'w'} --max-turns 2 --out h\nSay hi.\n")
        run_cell(nb, "r = await h")
        assert "Nothing to run" in saved_outputs(nb, [cell])[0]["data"]["text/html"]
        sent = run_cell(nb, "h.send('Now run something.')")  # the cell shows the handle: running
        assert "running" in saved_outputs(nb, [sent])[0]["data"]["text/plain"]

        def waiting() -> bool:
            html = saved_outputs(nb, [cell])[1]["data"].get("text/html", "")
            return "● waiting for approval" in html and "Running the follow-up" in html

        nb.wait_for(waiting, what="the follow-up's snapshot")
        main = saved_outputs(nb, [cell])[0]["data"]
        assert WIDGET_VIEW in main, "the panel is live again"
        nb.click(nb.wait_for(lambda: nb.button("Approve"), what="Approve"))
        run_cell(nb, "r = await h\nawait h.close()")
        page, under = saved_outputs(nb, [cell])
        assert "follow-up ran" in page["data"]["text/html"] and "Done again" in page["data"]["text/html"]
        assert "agentnb-snapshot" not in str(under["data"])
        state = saved_outputs(nb, [sent])[0]["data"]["text/plain"]  # what a notebook saved now keeps there
        assert state.startswith("<ChatHandle chat1 finished") and "running" not in state


def test_a_sync_chat_blocking_its_cell_still_refreshes_its_snapshot(kernel_factory, tmp_path):  # noqa: F811
    """``initiate_chat`` blocks the cell (and the kernel's loop): due snapshots are made at the boundary itself."""
    from agentnb.testing import Fault

    sync_cell = ("import agentnb\n"
                 "a = agentnb.AssistantAgent('assistant')\n"
                 "u = agentnb.UserProxyAgent('user_proxy', human_input_mode='NEVER', llm_config=False, "
                 f"code_execution_config={{'work_dir': {str(tmp_path / 'w')!r}, 'approval': 'never'}})\n"
                 "r = u.initiate_chat(a, message='print one', max_turns=2)\n")
    with ScriptedModelServer([Fault.hang(1.2, then=code("print('one')", before="Printing one:")),
                              Fault.hang(1.2, then="Printed. TERMINATE")]) as srv:
        nb = kernel_factory(srv.config_list(), JPY_SESSION_NAME="sync.ipynb")
        cell = run_cell(nb, sync_cell)
        shown = [m for m in nb.messages if m["header"]["msg_type"] == "display_data"
                 and m["parent_header"].get("msg_id") == cell]
        snapshot_id = shown[1]["content"]["transient"]["display_id"]
        snapshots = [m["content"]["data"].get("text/html", "") for m in _snapshot_updates(nb, cell, snapshot_id)]
        assert any("Printing one" in html and "agentnb-snapshot" in html for html in snapshots), \
            "no snapshot while the cell was blocked"
        page, under = saved_outputs(nb, [cell])
        assert "✔ finished" in page["data"]["text/html"] and under["data"] == {"text/plain": ""}

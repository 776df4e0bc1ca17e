"""The static page, folding, protocol words, colours and risk cues of the notebook view (no kernel)."""

from __future__ import annotations

import asyncio
import re
import time

import ipywidgets as widgets
import pytest

from agentnb.messages import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalRequested,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ErrorOccurred,
    ExecutionFinished,
    ExecutionOutput,
    MessageSent,
    StreamStarted,
    TokenChunk,
)
from agentnb.notebook import frame
from agentnb.notebook.controls import ApprovalCard
from agentnb.notebook.html import PALETTE, Palette, for_people
from agentnb.notebook.panel import ChatPanel
from agentnb.notebook.risk import risk_cues
from agentnb.notebook.slots import EMPTY
from agentnb.notebook.static import FOLD_LINES, outputs_html, transcript_html, transcript_text
from agentnb.textguard import has_hidden

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
CODE = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"
TRACEBACK = [f"  File \"<x>\", line {i}, in step" for i in range(40)] + ["ZeroDivisionError: division by zero"]


def chat_events(*, fail: bool = False) -> list:
    """A one-block chat: task, proposed code, approval, outputs, the model's copy, the answer."""
    reply = f"Here it is:\n```python\n{CODE}\n```"
    outputs = [{"output_type": "stream", "name": "stdout", "text": "plotted\n"},
               {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": "<Figure>"}}]
    if fail:
        outputs.append({"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
                        "traceback": ["\x1b[31m" + line + "\x1b[0m" for line in TRACEBACK]})
    request = ApprovalRequest(kind="code", agent="user_proxy", code=CODE)
    return [
        ChatStarted(sender="user_proxy", recipient="assistant", agents=["user_proxy", "assistant"]),
        MessageSent(sender="user_proxy", recipient="assistant", message={"content": "Plot it."}),
        MessageSent(sender="assistant", recipient="user_proxy", message={"content": reply}),
        CodeBlockProposed(executor="user_proxy", block_id="b1", language="python", code=CODE, needs_approval=True),
        ApprovalRequested(request=request),
        ApprovalDecided(request=request, decision=ApprovalDecision(approved=True)),
        ExecutionFinished(executor="user_proxy", block_id="b1", language="python", code=CODE,
                          exit_code=1 if fail else 0, summary="", outputs=outputs),
        MessageSent(sender="user_proxy", recipient="assistant",
                    message={"content": "exitcode: 0 (execution succeeded)\nCode output: plotted\n"}),
        MessageSent(sender="assistant", recipient="user_proxy", message={"content": "Done.\n\nTERMINATE"}),
        MessageSent(sender="user_proxy", recipient="assistant", message={"content": ""}),
        ChatFinished(reason="terminated"),
    ]


def texts(widget: widgets.Widget) -> str:
    out = []

    def walk(w):
        if isinstance(getattr(w, "value", None), str):
            out.append(w.value)
        for c in getattr(w, "children", ()):
            walk(c)

    walk(widget)
    return "\n".join(out)


def test_static_page_shows_each_thing_once_with_the_plot():
    html = transcript_html(chat_events(), title="chat1", state="finished")
    assert f'<img src="data:image/png;base64,{PNG}"' in html
    assert html.count(">plot</span>") == 1  # the code once, in the message that proposed it
    saw = html.index("what the model saw")
    assert "exitcode: 0" in html[saw:] and "exitcode" not in html[:saw]
    assert "TERMINATE" not in html and "Done." in html
    assert html.count('class="agentnb-card"') == 3  # task, proposal, answer: no empty or protocol-only cards
    assert "✔ approved" in html and "✔ finished" in html
    plain = transcript_text(chat_events(), title="chat1", state="finished")
    assert "exitcode" not in plain and "[python block ran: ✔]" in plain and "TERMINATE" not in plain


def test_traceback_folds_behind_its_error_line():
    html = transcript_html(chat_events(fail=True), state="failed")
    assert "✘ ZeroDivisionError: division by zero" in html
    assert re.search(r"<summary>traceback ▸ 41 lines</summary>", html)
    assert "\x1b" not in html and "␛" not in html  # colour codes dropped, not shown as symbols
    long = outputs_html([{"output_type": "stream", "name": "stdout", "text": "".join(f"row {i}\n" for i in range(50))}])
    assert f"row 0 ▸ {49} more lines" in long and FOLD_LINES < 50
    short = outputs_html([{"output_type": "stream", "name": "stdout", "text": "one\ntwo\n"}])
    assert "<details>" not in short


def test_stopped_chat_marks_the_running_block_interrupted():
    working = ExecutionOutput(executor="user_proxy", block_id="b1", kind="stream", name="stdout", text="working\n")
    events = [*chat_events()[:6], working, ChatFinished(reason="stopped")]
    html = transcript_html(events, state="stopped")
    assert "working" in html and "■ interrupted" in html and "■ stopped" in html


def test_static_page_keeps_hidden_characters_visible():
    sneaky = "ok\u202e evil \x1b[2K"
    events = [ChatStarted(sender="u\u200b", recipient="a"),
              MessageSent(sender="a\u202e", recipient="u", message={"content": sneaky}),
              ErrorOccurred(source="x\u202e", error_type="E\u200b", message="m\x1b[2K")]
    for text in (transcript_html(events, state="running"), transcript_text(events, state="running")):
        assert not has_hidden(text.replace("\n", "")), text
        assert "⟨U+202E⟩" in text


def test_protocol_words_hidden_from_people_only():
    assert for_people("All done.\nTERMINATE") == "All done."
    assert for_people("TERMINATE.") == ""
    assert for_people("TERMINATE the process first, then restart") == "TERMINATE the process first, then restart"
    panel = ChatPanel()
    msg = {"content": "The answer is 4. TERMINATE"}
    panel.handle_event(MessageSent(sender="assistant", recipient="user", message=msg))
    assert "TERMINATE" not in texts(panel.conversation) and msg["content"].endswith("TERMINATE")


def test_panel_shows_code_once_and_folds_the_models_copy():
    panel = ChatPanel()
    for ev in chat_events()[:4]:
        panel.handle_event(ev)
    request = chat_events()[4].request
    panel.handle_event(ApprovalRequested(request=request))
    card = panel._approvals[request.request_id]
    assert "the code above" in card.children[0].value and "agentnb-code" not in card.children[0].value
    card.approve_button.click()
    assert card.button_row.layout.display == "none" and "✔ approved" in card.status.value
    for ev in chat_events()[6:]:
        panel.handle_event(ev)
    shown = texts(panel.conversation)
    assert shown.count(">plot</span>") == 1
    assert "what the model saw" in shown and shown.count("exitcode") == 1  # only inside the fold
    cards = [w for w in panel.items if isinstance(w, widgets.HTML) and "agentnb-card" in w.value]
    assert len(cards) == 3
    assert "✔ finished" in panel.status.value and panel.stop_button.layout.display == "none"


def test_states_are_distinct():
    seen = {}
    for reason, error in [("terminated", None), ("stopped", None), ("error", "boom")]:
        panel = ChatPanel()
        panel.on_stop(lambda: None)
        panel.handle_event(ChatStarted(sender="u", recipient="a"))
        assert "● running" in panel.status.value and not panel.stop_button.disabled
        panel.handle_event(ChatFinished(reason=reason, error=error))
        seen[reason] = panel.status.value
    assert "✔ finished" in seen["terminated"]
    assert "■ stopped" in seen["stopped"] and "finished" not in seen["stopped"]
    assert "✘ failed: boom" in seen["error"] and "finished" not in seen["error"]


def test_nested_chat_does_not_end_the_panel():
    panel = ChatPanel()
    panel.handle_event(ChatStarted(sender="u", recipient="a"))
    panel.handle_event(ChatStarted(sender="a", recipient="inner"))
    panel.handle_event(ChatFinished(reason="terminated"))
    assert panel.state == "running"
    panel.handle_event(ChatFinished(reason="max_turns"))
    assert panel.state == "finished"


def test_twelve_agents_twelve_colours_stable_per_name():
    names = ["planner", "coder", "reviewer", "user_proxy", "assistant", "chatbot", "critic", "writer",
             "researcher", "executor", "tester", "manager"]
    palette = Palette(names)
    colours = [palette(n) for n in names]
    assert len(set(colours)) == 12 and set(colours) == set(PALETTE)
    assert Palette(names)("coder") == palette("coder")  # same chat order, same colours
    assert palette("planner") != palette("coder") and palette("chatbot") != palette("user_proxy")


@pytest.mark.parametrize(("code", "cue"), [
    ("import shutil\nshutil.rmtree('data')", "deletes files or folders"),
    ("!rm -rf build/", "deletes files or folders"),
    ("cur.execute('DROP TABLE users')", "deletes files or folders"),
    ("open('out.csv', 'w').write(text)", "writes or overwrites files"),
    ("df.to_csv('sales.csv')", "writes or overwrites files"),
    ("%pip install requests", "installs packages"),
    ("subprocess.run(['pip', 'install', 'x'])", "installs packages"),
    ("import requests\nrequests.get('https://example.com')", "touches the network"),
    ("os.system('ls')", "runs shell commands"),
])
def test_risk_cues(code, cue):
    assert cue in risk_cues(code)
    card = ApprovalCard(ApprovalRequest(kind="code", agent="user_proxy", code=code))
    assert f"⚠ {cue}" in card.children[0].value


def test_harmless_code_gets_no_cue():
    assert risk_cues("import numpy as np\nprint(np.arange(10).sum())\nx = open('data.csv').read()") == []


def test_plain_renderer_folds_the_models_copy_and_hides_protocol_words(monkeypatch):
    from agentnb.notebook import render

    shown: list[dict] = []
    monkeypatch.setattr(render, "display", lambda bundle, **kw: shown.append(bundle))
    renderer = render.PlainRenderer()
    for ev in chat_events():
        if not isinstance(ev, ExecutionFinished):
            renderer.handle_event(ev)
    assert all(set(b) == {"text/html", "text/plain"} for b in shown)  # never text/markdown
    page = "\n".join(b["text/html"] for b in shown)
    assert "TERMINATE" not in page and "Done." in page
    saw = page.index("<summary>what the model saw</summary>")
    assert "exitcode: 0" in page[saw:] and "exitcode" not in page[:saw]
    assert "⚠" not in page  # plotting is not a risk
    risky = ApprovalRequest(kind="code", agent="u", code="shutil.rmtree('/data')")
    renderer.handle_event(ApprovalRequested(request=risky))
    assert "⚠ deletes files or folders" in shown[-1]["text/html"]
    assert "⚠ deletes files or folders" in shown[-1]["text/plain"]


def test_export_folds_the_models_copy_under_the_code(tmp_path):
    import nbformat

    from agentnb.export import write_notebook

    nb = nbformat.read(write_notebook(chat_events(), tmp_path / "chat.ipynb"), as_version=4)
    sources = [c.source for c in nb.cells]
    code_at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    folded = sources[code_at + 1]
    assert "<details><summary>what the model saw</summary>" in folded
    assert "exitcode: 0 (execution succeeded)&#10;Code output: plotted&#10;" in folded  # lines kept
    assert sum("exitcode" in s for s in sources) == 1


class RecordedSlots:
    """Stands in for the notebook's display channel (:class:`CellSlots`): keeps what the panel sends."""

    def __init__(self) -> None:
        self.main: list[dict] = []
        self.second: list = []
        self.extra = None

    def update_main(self, bundle: dict) -> None:
        self.main.append(bundle)

    def update_second(self, bundle: dict) -> None:
        self.second.append(bundle)

    def show_extra(self, widget) -> None:
        self.extra = widget
        self.second.append(widget)

    def clear_extra(self) -> None:
        self.extra = None
        self.second.append(EMPTY)


def test_snapshot_refreshes_at_boundaries_never_per_token_and_leaves_at_the_end(monkeypatch):
    monkeypatch.setattr(frame, "SNAPSHOT_EVERY", 0.05)

    async def scenario() -> None:
        panel, slots = ChatPanel("c1"), RecordedSlots()
        panel.attach_slots(slots)
        events = chat_events()
        panel.handle_event(events[0])  # ChatStarted
        panel.handle_event(events[1])  # the task: two boundaries in one turn of the loop, one snapshot
        await asyncio.sleep(0.02)
        assert len(slots.second) == 1 and "Plot it." in slots.second[0]["text/html"]
        panel.handle_event(StreamStarted(sender="assistant", message_id="m1"))
        for i in range(2_000):  # 0.2 s of tokens, four snapshot intervals: none of them is a boundary
            panel.handle_event(TokenChunk(sender="assistant", message_id="m1", text="tok "))
            if i % 100 == 0:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert len(slots.second) == 1 and panel.updates > 1
        for event in events[2:5]:  # the message, its block, the approval request
            panel.handle_event(event)
        await asyncio.sleep(0.6)
        assert len(slots.second) == 2
        html = slots.second[-1]["text/html"]
        assert "● waiting for approval" in html and "Here it is" in html and "saved while the chat was running" in html
        for event in events[5:-1]:
            panel.handle_event(event)
        panel.handle_event(events[-1])  # ChatFinished right after a boundary: its pending snapshot is dropped
        await asyncio.sleep(0.2)
        assert slots.second[-1] == EMPTY and len(slots.main) == 1
        page = slots.main[0]["text/html"]
        assert "agentnb-page" in page and "✔ finished" in page and "agentnb-snapshot" not in page
        assert '<img src="data:image/png;base64,' in page

    asyncio.run(scenario())


def test_snapshot_is_hidden_by_the_live_widget_and_hides_the_dead_one():
    panel = ChatPanel("c2")
    panel.attach_slots(RecordedSlots())
    for event in chat_events()[:5]:
        panel.handle_event(event)
    key = f"agentnb-snap-{panel.model_id}"
    html = panel.snapshot_bundle()["text/html"]
    assert html.startswith(f'<div class="agentnb-snapshot {key}"><style>')
    assert f".jp-OutputArea-child:has(+ .jp-OutputArea-child .{key}):not(:has(.agentnb-panel))" in html
    live_styles = [w.value for w in panel.children if isinstance(w, widgets.HTML) and key in w.value]
    assert live_styles == [f"<style>.{key} {{ display: none; }} .jp-OutputArea-child:has(.{key}), "
                           f".output_area:has(.{key}) {{ display: none; }}</style>"]
    assert "saved while the chat was running" in panel.snapshot_bundle()["text/plain"]
    panel_text = panel._repr_mimebundle_()["text/plain"]
    assert panel_text == "agentnb chat c2: a live widget, shown while the kernel that ran it runs"


def test_throttle_spaces_costly_snapshots_and_merges_requests():
    async def scenario() -> None:
        runs: list[float] = []

        def render() -> None:
            runs.append(time.monotonic())
            time.sleep(0.06)

        throttle = frame._Throttle(render)
        throttle.request()
        throttle.request()
        await asyncio.sleep(0.01)
        assert len(runs) == 1 and throttle.interval >= frame.SNAPSHOT_COST_RATIO * 0.06
        throttle.request()
        throttle.request()
        await asyncio.sleep(0.05)
        assert len(runs) == 1 and throttle.timer is not None  # one trailing run, not yet due
        throttle.cancel()
        assert throttle.timer is None

    asyncio.run(scenario())

"""Conversation -> .ipynb export: structure, redaction, and re-execution in a real kernel."""

from __future__ import annotations

import base64
import contextlib
import html.parser
import io
import json
import traceback

import matplotlib
import nbformat
import pandas as pd
import pytest
from markdown_it import MarkdownIt

from agentnb.export import Recorder, events_to_notebook, write_notebook
from agentnb.messages import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequest,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ExecutionFinished,
    ExecutionOutput,
    MessageSent,
    TokenChunk,
    ToolCallFinished,
    ToolCallProposed,
    UsageUpdated,
    emit,
    subscribe,
)

matplotlib.use("Agg")

KEY = "sk-abcdef123456789"

PRINT_CODE = "total = sum(range(10))\nprint('total', total)\nprint('squares', [i * i for i in range(5)])"
PLOT_CODE = (
    "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
    "import matplotlib.pyplot as plt\nplt.plot([0, 1, 2], [0, 1, 4])\nplt.show()"
)
DF_CODE = "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2, 3], 'y': [1, 4, 9]})\ndf"
ERROR_CODE = "print('before')\n1 / 0"
SH_CODE = "echo hello from sh\necho $((6 * 7))"


def run_in_process(code: str) -> tuple[str, dict | None]:
    """Really run ``code`` here; return (stdout, error output dict or None)."""
    buf = io.StringIO()
    error = None
    with contextlib.redirect_stdout(buf):
        try:
            exec(compile(code, "<cell>", "exec"), {})
        except Exception as exc:
            error = {"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc),
                     "traceback": traceback.format_exception(exc)}
    return buf.getvalue(), error


def real_png() -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [0, 1, 4])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    assert buf.getvalue().startswith(b"\x89PNG")
    return base64.b64encode(buf.getvalue()).decode()


def chat_events() -> list:
    """A realistic chat: task, code proposed/edited/approved, four executions, a tool call."""
    printed, _ = run_in_process(PRINT_CODE)
    err_stdout, err = run_in_process(ERROR_CODE)
    assert err is not None
    df = pd.DataFrame({"x": [1, 2, 3], "y": [1, 4, 9]})
    ev: list = [
        ChatStarted(sender="user", recipient="assistant", agents=["user", "assistant"], model="gpt-4o-mini"),
        MessageSent(sender="user", recipient="assistant",
                    message={"role": "user", "content": "Compute some numbers and plot y = x**2."}),
        TokenChunk(sender="assistant", message_id="m1", text="Sure"),
        MessageSent(sender="assistant", recipient="user", message={
            "role": "assistant",
            "content": f"Sure:\n\n```python\n{PRINT_CODE.replace('total', 'tot')}\n```\n\n"
                       "and a <b>plot</b>."}),
        CodeBlockProposed(executor="user", block_id="b1", language="python",
                          code=PRINT_CODE.replace("total", "tot")),
    ]
    req = ApprovalRequest(kind="code", agent="user", code=PRINT_CODE.replace("total", "tot"))
    ev += [
        ApprovalDecided(request=req, decision=ApprovalDecision(approved=True, code=PRINT_CODE)),
        ExecutionOutput(executor="user", block_id="b1", kind="stream", name="stdout", text=printed),
        ExecutionFinished(executor="user", block_id="b1", language="python", code=PRINT_CODE, exit_code=0,
                          summary=printed,
                          outputs=[{"output_type": "stream", "name": "stdout", "text": printed}]),
        ExecutionFinished(executor="user", block_id="b2", language="python", code=PLOT_CODE, exit_code=0,
                          summary="[image]", outputs=[
                              {"output_type": "display_data", "data": {"image/png": real_png(),
                                                                       "text/plain": "<Figure>"},
                               "metadata": {}}]),
        ExecutionFinished(executor="user", block_id="b3", language="python", code=DF_CODE, exit_code=0,
                          summary=repr(df), outputs=[
                              {"output_type": "execute_result", "execution_count": 99,
                               "data": {"text/html": df._repr_html_(), "text/plain": repr(df)},
                               "metadata": {}}]),
        ExecutionFinished(executor="user", block_id="b4", language="python", code=ERROR_CODE, exit_code=1,
                          summary="ZeroDivisionError", outputs=[
                              {"output_type": "stream", "name": "stdout", "text": err_stdout}, err]),
        ExecutionFinished(executor="user", block_id="b5", language="sh", code=SH_CODE, exit_code=0,
                          summary="hello from sh\n42\n", outputs=[
                              {"output_type": "stream", "name": "stdout", "text": "hello from sh\n42\n"}]),
        MessageSent(sender="assistant", recipient="user", message={
            "role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}),
        ToolCallProposed(executor="user", call_id="call_1", name="get_weather",
                         arguments='{"city": "Paris"}'),
        ToolCallFinished(executor="user", call_id="call_1", name="get_weather", content="sunny, 21C"),
        MessageSent(sender="user", recipient="assistant", message={"role": "user", "content": ""}),
        UsageUpdated(agent="assistant", model="gpt-4o-mini", prompt_tokens=120, completion_tokens=40,
                     cost=0.0),
        ChatFinished(reason="terminated", summary="Done."),
    ]
    return ev


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


class Shown(html.parser.HTMLParser):
    """What a person sees of rendered HTML: its text, the text of each ``<pre>``, and the tags."""

    def __init__(self, rendered: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.pres: list[str] = []
        self.tags: list[str] = []
        self._pre: str | None = None
        self.feed(rendered)
        self.close()
        self.text = self.text.strip()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "pre":
            self._pre = ""

    def handle_endtag(self, tag):
        if tag == "pre" and self._pre is not None:
            self.pres.append(self._pre)
            self._pre = None

    def handle_data(self, data):
        self.text += data
        if self._pre is not None:
            self._pre += data


def shown(source: str) -> Shown:
    """A Markdown cell rendered by a real CommonMark parser (raw HTML allowed, as in JupyterLab)."""
    return Shown(MarkdownIt("commonmark").render(source))


def test_structure_and_metadata(tmp_path):
    path = write_notebook(chat_events(), tmp_path / "sub" / "chat.ipynb", title="Squares")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert nb.metadata.kernelspec.name == "python3"
    meta = nb.metadata.agentnb
    assert meta.agents == ["user", "assistant"] and meta.models == ["gpt-4o-mini"]
    assert meta.agentnb_version and meta.created and meta.task.startswith("Compute")
    title = nb.cells[0].source
    assert title.startswith("# Squares") and "gpt-4o-mini" in title and "Compute some numbers" in title

    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    views = [shown(s) for s in md]
    assert views[1].text.startswith("user → assistant") and "strong" in views[1].tags
    assert "<b>" not in md[2] and "b" not in views[2].tags  # model HTML never reaches the page as HTML...
    assert "a <b>plot</b>." in views[2].text  # ...it shows as the text it is
    assert views[2].pres == [PRINT_CODE.replace("total", "tot") + "\n"]  # the proposed code, readable
    calls = next(v for v in views if "Tool calls:" in v.text)
    assert json.loads(calls.pres[0])[0]["id"] == "call_1"
    assert any("get_weather" in v.text and "sunny, 21C" in v.text and '{"city": "Paris"}' in v.text for v in views)
    assert any(v.text.endswith("(empty message)") for v in views)
    assert "Done." in views[-1].text

    cells = code_cells(nb)
    assert [c.source for c in cells] == [PRINT_CODE, PLOT_CODE, DF_CODE, ERROR_CODE, "%%bash\n" + SH_CODE]
    assert [c.execution_count for c in cells] == [1, 2, 3, 4, 5]
    assert cells[2].outputs[0].execution_count == 3  # consistent with the cell, not the recorded 99
    assert base64.b64decode(cells[1].outputs[0].data["image/png"]).startswith(b"\x89PNG")
    assert cells[3].outputs[-1].ename == "ZeroDivisionError"


def test_reexecution_reproduces_outputs(tmp_path):
    import nbclient

    nb = events_to_notebook(chat_events())
    recorded = [c.outputs for c in code_cells(nb)]
    nbclient.NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    rerun = [c.outputs for c in code_cells(nb)]

    def streams(outputs):  # the kernel may split a stream into several messages
        joined: dict[str, str] = {}
        for o in outputs:
            if o.output_type == "stream":
                joined[o.name] = joined.get(o.name, "") + o.text
        return list(joined.items())

    assert streams(rerun[0]) == streams(recorded[0]) == [("stdout", "total 45\nsquares [0, 1, 4, 9, 16]\n")]
    assert any("image/png" in o.get("data", {}) for o in rerun[1])
    assert rerun[2][0].data["text/html"] == recorded[2][0].data["text/html"]
    assert streams(rerun[3]) == streams(recorded[3]) == [("stdout", "before\n")]
    assert rerun[3][-1].output_type == "error" and rerun[3][-1].ename == "ZeroDivisionError"
    assert streams(rerun[4]) == streams(recorded[4]) == [("stdout", "hello from sh\n42\n")]
    assert [c.execution_count for c in code_cells(nb)] == [1, 2, 3, 4, 5]


def test_api_key_never_written(tmp_path):
    events = [
        ChatStarted(sender="user", recipient="assistant", model="gpt-4o"),
        MessageSent(sender="user", recipient="assistant",
                    message={"role": "user", "content": f"my key is {KEY}, api_key={KEY[3:]}"}),
        ExecutionFinished(executor="user", block_id="b1", language="python",
                          code=f"import os\nos.environ['OPENAI_API_KEY'] = '{KEY}'\nprint('{KEY}')",
                          exit_code=0, summary=KEY, outputs=[
                              {"output_type": "stream", "name": "stdout", "text": KEY + "\n"},
                              {"output_type": "execute_result", "data": {"text/plain": repr(KEY)},
                               "metadata": {"api_key": KEY}}]),
        ToolCallFinished(executor="user", call_id="c", name="echo",
                         content=f"Authorization: Bearer {KEY[3:]}"),
    ]
    metadata = {"llm_config": {"config_list": [{"model": "gpt-4o", "api_key": KEY[3:]}]},
                "headers": {"Authorization": f"Bearer {KEY[3:]}"}, "note": f"uses {KEY}", "API_KEY": "x" * 20}
    path = write_notebook(events, tmp_path / "k.ipynb", title=f"chat with {KEY}", metadata=metadata)
    text = path.read_text()
    assert "abcdef123456789" not in text and "x" * 20 not in text
    meta = nbformat.read(path, as_version=4).metadata.agentnb
    assert meta.llm_config.config_list == [{"model": "gpt-4o"}] and "headers" in meta
    assert "Authorization" not in meta.headers and "API_KEY" not in meta


def test_execution_counts():
    def fin(block, count):
        return ExecutionFinished(executor="u", block_id=block, language="python", code="1", exit_code=0,
                                 summary="", execution_count=count,
                                 outputs=[{"output_type": "execute_result", "execution_count": count,
                                           "data": {"text/plain": "1"}, "metadata": {}}])

    def counts(events):
        nb = events_to_notebook(events)
        nbformat.validate(nb)
        return [(c.execution_count, c.outputs[0].execution_count) for c in code_cells(nb)]

    assert counts([fin("a", 4), fin("b", 5), fin("c", 9)]) == [(4, 4), (5, 5), (9, 9)]  # real, increasing
    assert counts([fin("a", 4), fin("b", 1), fin("c", 2)]) == [(1, 1), (2, 2), (3, 3)]  # kernel restarted
    assert counts([fin("a", None), fin("b", 2)]) == [(1, 1), (2, 2)]


def test_display_updates_and_clear_output():
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "gone\n"},
        {"output_type": "clear_output", "wait": False},
        {"output_type": "display_data", "data": {"text/plain": "0%"}, "metadata": {},
         "transient": {"display_id": "p"}},
        {"output_type": "stream", "name": "stdout", "text": "a"},
        {"output_type": "stream", "name": "stdout", "text": "b\n"},
        {"output_type": "update_display_data", "data": {"text/plain": "100%"}, "metadata": {},
         "transient": {"display_id": "p"}},
        {"output_type": "clear_output", "wait": True},  # nothing follows: outputs stay
    ]
    nb = events_to_notebook([ExecutionFinished(executor="u", block_id="b", language="python", code="...",
                                               exit_code=0, summary="", outputs=outputs)])
    nbformat.validate(nb)
    out = code_cells(nb)[0].outputs
    assert [o.output_type for o in out] == ["display_data", "stream"]
    assert out[0].data == {"text/plain": "100%"} and out[1].text == "ab\n"


def test_recorder_keeps_events_without_token_chunks(tmp_path):
    rec = Recorder()
    events = chat_events()
    with subscribe(rec):
        for e in events:
            emit(e)
    emit(MessageSent(sender="x", recipient="y", message={"content": "outside"}))  # not subscribed
    assert not any(isinstance(e, TokenChunk) for e in rec.events)
    # the streamed output is dropped once its ExecutionFinished carries the outputs
    assert not any(isinstance(e, ExecutionOutput) for e in rec.events)
    assert len(rec.events) == len(events) - 2
    path = rec.to_notebook(tmp_path / "rec.ipynb")
    assert len(code_cells(nbformat.read(path, as_version=4))) == 5


def test_streamed_outputs_used_when_finished_has_none():
    rec = Recorder()
    rec(ExecutionOutput(executor="u", block_id="b", kind="stream", name="stdout", text="hi\n"))
    rec(ExecutionFinished(executor="u", block_id="b", language="python", code="print('hi')", exit_code=0,
                          summary="hi"))
    nb = events_to_notebook(rec.events)
    assert [(o.name, o.text) for o in code_cells(nb)[0].outputs] == [("stdout", "hi\n")]


@pytest.mark.parametrize(("content", "text"), [("``` inside ``` text <x>", "text <x>"),
                                               ("```python\nunclosed <y>", "unclosed <y>")])
def test_markdown_fences_show_as_text(content, text):
    nb = events_to_notebook([MessageSent(sender="a", recipient="b", message={"content": content})])
    nbformat.validate(nb)
    view = shown(nb.cells[1].source)
    assert text in view.text and not {"x", "y"} & set(view.tags)


def test_usage_in_the_metadata_adds_up_every_model_call(tmp_path):
    calls = [UsageUpdated(agent="assistant", model="gpt-4o-mini", prompt_tokens=p, completion_tokens=c, cost=x)
             for p, c, x in [(120, 40, 0.25), (300, 10, 0.5), (7, 3, 0.0)]]
    other = UsageUpdated(agent="critic", model="gpt-4o", prompt_tokens=50, completion_tokens=5, cost=1.0)
    events = [*chat_events()[:-2], *calls, other, chat_events()[-1]]
    nb = nbformat.read(write_notebook(events, tmp_path / "chat.ipynb"), as_version=4)
    usage = nb.metadata.agentnb.usage
    assert usage["assistant"] == {"model": "gpt-4o-mini", "prompt_tokens": 427, "completion_tokens": 53, "cost": 0.75}
    assert usage["critic"]["prompt_tokens"] == 50

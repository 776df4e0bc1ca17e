"""ChatPanel costs, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_panel.py

1. token → widget-state latency: one TokenChunk that triggers a render (markdown + escape +
   traitlets set) vs. setting an HTML widget's value to the same text directly;
2. fast stream: tokens sent as fast as the loop allows for ~2 s — how many re-renders per
   second reach the widget (the cap is 1/flush_interval = 20/s) and the cost per token vs.
   appending the token to a list;
3. 500 messages: time and memory to render 500 markdown+code messages vs. 500 bare HTML
   widgets; and memory after 2,000 messages (bounded at 500 kept) vs. after 500.
4. static page: the saved form of a 100-message chat with 20 plots (``transcript_html``, what
   replaces the panel when a chat ends), vs. base64-joining the same plots (target < 200 ms).

Results go to stdout and benchmarks/results/bench_panel.json.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
import tracemalloc
from pathlib import Path

import ipywidgets as widgets

from agentnb.messages import (
    ChatStarted,
    CodeBlockProposed,
    ExecutionFinished,
    MessageSent,
    StreamStarted,
    TokenChunk,
)
from agentnb.notebook.panel import ChatPanel
from agentnb.notebook.static import transcript_html

TEXT = ("Here is the plan:\n\n- load the **data**\n- plot it with `matplotlib`\n\n"
        "```python\nimport numpy as np\nx = np.linspace(0, 6.28, 100)\nprint(x.mean())\n```\n")


def token_latency(n: int = 300) -> dict[str, float]:
    panel = ChatPanel(flush_interval=0.0)  # every token renders: measures one render
    panel.handle_event(StreamStarted(sender="assistant", message_id="m"))
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        panel.handle_event(TokenChunk(sender="assistant", message_id="m", text=TEXT[i % len(TEXT)]))
        samples.append(time.perf_counter() - t0)
    html = widgets.HTML()
    base = []
    text = ""
    for i in range(n):
        text += TEXT[i % len(TEXT)]
        t0 = time.perf_counter()
        html.value = f"<div>{text}</div>"
        base.append(time.perf_counter() - t0)
    p50, b50 = statistics.median(samples), statistics.median(base)
    return {"token_to_state_p50_ms": p50 * 1e3, "raw_widget_set_p50_ms": b50 * 1e3, "ratio": p50 / b50}


async def _fast_stream(seconds: float) -> dict[str, float]:
    panel = ChatPanel()  # default flush_interval 0.05 s
    panel.handle_event(StreamStarted(sender="assistant", message_id="m"))
    tokens = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            panel.handle_event(TokenChunk(sender="assistant", message_id="m", text="tok "))
            tokens += 1
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - t0
    per_token = elapsed / tokens
    sink: list[str] = []
    t1 = time.perf_counter()
    for _ in range(tokens):
        sink.append("tok ")
    base = (time.perf_counter() - t1) / tokens
    return {"tokens_per_s": tokens / elapsed, "updates_per_s": panel.updates / elapsed,
            "cost_per_token_us": per_token * 1e6, "list_append_per_token_us": base * 1e6,
            "ratio": per_token / base}


def _messages(panel: ChatPanel, n: int) -> None:
    panel.handle_event(ChatStarted(sender="user", recipient="assistant"))
    for i in range(n):
        sender = "assistant" if i % 2 else "user"
        panel.handle_event(MessageSent(sender=sender, recipient="x", message={"content": f"{i}\n{TEXT}"}))


def _measure(fn) -> tuple[float, int]:
    """Wall time of ``fn()`` (untraced run), then memory it keeps (separate traced run)."""
    gc.collect()
    t0 = time.perf_counter()
    keep = fn()
    elapsed = time.perf_counter() - t0
    del keep
    gc.collect()
    tracemalloc.start()
    keep = fn()
    gc.collect()
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del keep
    return elapsed, current


def many_messages() -> dict[str, float]:
    def panel_500():
        p = ChatPanel(max_messages=500)
        _messages(p, 500)
        return p

    def panel_2000():
        p = ChatPanel(max_messages=500)
        _messages(p, 2000)
        return p

    def bare_500():
        return [widgets.HTML(f"<div>{i}\n{TEXT}</div>") for i in range(500)]

    t_panel, m_panel = _measure(panel_500)
    t_bare, m_bare = _measure(bare_500)
    t_2000, m_2000 = _measure(panel_2000)
    return {"render_500_s": t_panel, "bare_html_500_s": t_bare, "time_ratio": t_panel / t_bare,
            "memory_500_MB": m_panel / 1e6, "bare_memory_500_MB": m_bare / 1e6,
            "memory_ratio": m_panel / m_bare, "render_2000_s": t_2000, "memory_2000_MB": m_2000 / 1e6,
            "bounded_ratio_2000_vs_500": m_2000 / m_panel}


def _plot_png() -> str:
    """A real matplotlib PNG (about 20 KB), as a kernel would send it."""
    import base64
    import io

    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(100), [i * i for i in range(100)])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def static_page(messages: int = 100, plots: int = 20, repeat: int = 5) -> dict[str, float]:
    png = _plot_png()
    events: list = [ChatStarted(sender="user", recipient="assistant")]
    for i in range(messages):
        sender = "assistant" if i % 2 else "user"
        events.append(MessageSent(sender=sender, recipient="x", message={"content": f"{i}\n{TEXT}"}))
        if sender == "assistant" and len([e for e in events if isinstance(e, ExecutionFinished)]) < plots:
            events.append(CodeBlockProposed(executor="user", block_id=f"b{i}", language="python", code="x"))
            events.append(ExecutionFinished(
                executor="user", block_id=f"b{i}", language="python", code="x", exit_code=0, summary="ok",
                outputs=[{"output_type": "stream", "name": "stdout", "text": "done\n"},
                         {"output_type": "display_data", "data": {"image/png": png, "text/plain": "<Figure>"}}]))
    samples, base = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        html = transcript_html(events, title="bench", state="finished")
        samples.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        joined = "".join(f'<img src="data:image/png;base64,{png}">' for _ in range(plots))
        base.append(time.perf_counter() - t0)
    assert html.count("<img") == plots and len(joined) > 0
    p50, b50 = statistics.median(samples), statistics.median(base)
    return {"static_100_messages_20_plots_ms": p50 * 1e3, "join_20_plots_ms": b50 * 1e3,
            "ratio": p50 / b50, "page_MB": len(html) / 1e6}


def main() -> None:
    results = {"token_latency": token_latency(), "fast_stream": asyncio.run(_fast_stream(2.0)),
               "messages": many_messages(), "static_page": static_page()}
    for name, values in results.items():
        print(name)
        for key, value in values.items():
            print(f"  {key:28s} {value:12.3f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_panel.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

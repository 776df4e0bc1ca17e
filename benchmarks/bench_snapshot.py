"""What the saved-mid-chat snapshot costs a ChatPanel, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_snapshot.py

A shown panel (:meth:`ChatPanel.attach_slots`, as ``%%agents`` shows it) keeps a static snapshot of
the chat so far in a second output, refreshed at message/execution boundaries, at most once per
``SNAPSHOT_EVERY`` seconds (or 20x what one snapshot costs). Measured:

1. per streamed token: a shown panel vs. the same panel not shown (the snapshot hook runs for every
   event; a token is never a boundary);
2. per execution output (a boundary, throttled): shown vs. not shown;
3. one snapshot (``snapshot_bundle``) of a 10-message chat with 2 plots and of a 100-message chat with
   20 plots: time, size, the interval the throttle then keeps, and the share of the kernel's time
   that leaves to snapshots in a chat that never pauses (time / interval).

The display channel is a sink that keeps only the size of what would go to the front end, so the
numbers are the kernel side (rendering and handing over the bundle), not the websocket.
Results go to stdout and benchmarks/results/bench_snapshot.json.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_panel import TEXT, _plot_png  # the same text and plot as the panel benchmark

from agentnb.messages import (
    ChatStarted,
    CodeBlockProposed,
    ExecutionFinished,
    ExecutionOutput,
    MessageSent,
    StreamStarted,
    TokenChunk,
)
from agentnb.notebook import frame
from agentnb.notebook.panel import ChatPanel


class SizeSink:
    """Stands in for the cell's display slots: counts the bundles and their bytes."""

    def __init__(self) -> None:
        self.sent = 0
        self.bytes = 0
        self.extra = None

    def _take(self, bundle: dict) -> None:
        self.sent += 1
        self.bytes += sum(len(v) for v in bundle.values() if isinstance(v, str))

    update_main = update_second = _take

    def show_extra(self, widget: object) -> None:
        self.extra = widget

    def clear_extra(self) -> None:
        self.extra = None


def _panel(shown: bool) -> tuple[ChatPanel, SizeSink]:
    panel, sink = ChatPanel(flush_interval=0.0), SizeSink()
    if shown:
        panel.attach_slots(sink)  # type: ignore[arg-type]
    panel.handle_event(ChatStarted(sender="user", recipient="assistant"))
    return panel, sink


async def _per_token(shown: bool, n: int = 300) -> float:
    panel, _sink = _panel(shown)
    panel.handle_event(StreamStarted(sender="assistant", message_id="m"))
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        panel.handle_event(TokenChunk(sender="assistant", message_id="m", text=TEXT[i % len(TEXT)]))
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


async def _per_output(shown: bool, n: int = 2_000) -> tuple[float, int]:
    panel, sink = _panel(shown)
    panel.handle_event(CodeBlockProposed(executor="user", block_id="b", language="python", code="x"))
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        panel.handle_event(ExecutionOutput(executor="user", block_id="b", kind="stream", name="stdout",
                                           text=f"line {i}\n"))
        samples.append(time.perf_counter() - t0)
        if i % 100 == 0:
            await asyncio.sleep(0)  # let a due snapshot run (it is not inside the sample)
    return statistics.median(samples), sink.sent


def _chat(panel: ChatPanel, messages: int, plots: int, png: str) -> None:
    done = 0
    for i in range(messages):
        sender = "assistant" if i % 2 else "user"
        panel.handle_event(MessageSent(sender=sender, recipient="x", message={"content": f"{i}\n{TEXT}"}))
        if sender == "assistant" and done < plots:
            done += 1
            panel.handle_event(CodeBlockProposed(executor="user", block_id=f"b{i}", language="python", code="x"))
            panel.handle_event(ExecutionFinished(
                executor="user", block_id=f"b{i}", language="python", code="x", exit_code=0, summary="ok",
                outputs=[{"output_type": "stream", "name": "stdout", "text": "done\n"},
                         {"output_type": "display_data", "data": {"image/png": png, "text/plain": "<Figure>"}}]))


def _snapshot(messages: int, plots: int, png: str, repeat: int = 5) -> dict[str, float]:
    panel, _sink = _panel(False)
    _chat(panel, messages, plots, png)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        bundle = panel.snapshot_bundle()
        samples.append(time.perf_counter() - t0)
    cost = statistics.median(samples)
    interval = max(frame.SNAPSHOT_EVERY, frame.SNAPSHOT_COST_RATIO * cost)
    return {"snapshot_ms": cost * 1e3, "snapshot_MB": len(bundle["text/html"]) / 1e6,
            "interval_s": interval, "kernel_time_share": cost / interval}


async def _main() -> dict[str, dict[str, float]]:
    token_shown, token_bare = await _per_token(True), await _per_token(False)
    out_shown, sent = await _per_output(True)
    out_bare, _ = await _per_output(False)
    png = _plot_png()
    return {
        "per_token": {"shown_p50_ms": token_shown * 1e3, "not_shown_p50_ms": token_bare * 1e3,
                      "ratio": token_shown / token_bare},
        "per_output": {"shown_p50_us": out_shown * 1e6, "not_shown_p50_us": out_bare * 1e6,
                       "ratio": out_shown / out_bare, "snapshots_for_2000_outputs": sent},
        "snapshot_10_messages_2_plots": _snapshot(10, 2, png),
        "snapshot_100_messages_20_plots": _snapshot(100, 20, png),
    }


def main() -> None:
    results = asyncio.run(_main())
    for name, values in results.items():
        print(name)
        for key, value in values.items():
            print(f"  {key:28s} {value:12.3f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_snapshot.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Usage summaries printed as AutoGen 0.2 prints them, through the default :class:`~agentnb.io.IOStream`."""

from __future__ import annotations

from typing import Any

RULE = "-" * 100


def _print_one(iostream: Any, summary: dict[str, Any] | None, kind: str) -> None:
    if summary is None:
        iostream.print("No actual cost incurred (all completions are using cache).", flush=True)
        return
    word = "including" if kind == "total" else "excluding"
    iostream.print(f"Usage summary {word} cached usage: ", flush=True)
    iostream.print(f"Total cost: {round(summary['total_cost'], 5)}", flush=True)
    for model, row in summary.items():
        if model == "total_cost":
            continue
        iostream.print(f"* Model '{model}': cost: {round(row['cost'], 5)}, prompt_tokens: {row['prompt_tokens']}, "
                       f"completion_tokens: {row['completion_tokens']}, total_tokens: {row['total_tokens']}",
                       flush=True)


def print_usage_summary(actual: dict[str, Any] | None, total: dict[str, Any] | None,
                        mode: str | list[str] | tuple[str, ...] = ("actual", "total")) -> None:
    """Print ``actual`` and/or ``total`` (``mode``: ``"actual"``, ``"total"`` or both)."""
    from ..io import IOStream

    iostream = IOStream.get_default()
    if total is None:
        iostream.print('No usage summary. Please call "create" first.', flush=True)
        return
    if not isinstance(mode, str):
        modes = list(mode)
        if not modes or len(modes) > 2 or any(m not in ("actual", "total") for m in modes):
            raise ValueError(f'Invalid mode: {mode}, choose from "actual", "total", ["actual", "total"]')
        mode = "both" if len(set(modes)) == 2 else modes[0]
    if mode not in ("actual", "total", "both"):
        raise ValueError(f'Invalid mode: {mode}, choose from "actual", "total", ["actual", "total"]')
    iostream.print(RULE, flush=True)
    if mode == "both":
        _print_one(iostream, actual, "actual")
        iostream.print()
        if total != actual:
            _print_one(iostream, total, "total")
        else:
            iostream.print("All completions are non-cached: the total cost with cached completions is the same as "
                           "actual cost.", flush=True)
    else:
        _print_one(iostream, actual if mode == "actual" else total, mode)
    iostream.print(RULE, flush=True)

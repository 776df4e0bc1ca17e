"""Cost of a model call in USD: the entry's ``price`` if given, else a small table of known models."""

from __future__ import annotations

from typing import Any

# USD per 1,000 (prompt, completion) tokens, longest prefix wins.
KNOWN_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4o": (0.0025, 0.01),
    "gpt-4.1-nano": (0.0001, 0.0004),
    "gpt-4.1-mini": (0.0004, 0.0016),
    "gpt-4.1": (0.002, 0.008),
    "gpt-4-turbo": (0.01, 0.03),
    "gpt-4": (0.03, 0.06),
    "gpt-3.5-turbo": (0.0005, 0.0015),
    "o1-mini": (0.0011, 0.0044),
    "o3-mini": (0.0011, 0.0044),
    "o1": (0.015, 0.06),
}


def cost_of(entry: Any, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost of one call; 0 for unknown (e.g. local) models."""
    price = getattr(entry, "price", None)
    if price is None:
        for name in sorted(KNOWN_PRICES, key=len, reverse=True):
            if model.startswith(name) or entry.model.startswith(name):
                price = KNOWN_PRICES[name]
                break
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1000

"""Moved to :mod:`agentnb.demo`; this name stays for notebooks saved before the move."""

from __future__ import annotations

from .demo import demo_llm_config, demo_mode

__all__ = ["demo_llm_config", "demo_mode"]

"""Risk cues for code awaiting approval: deletes, overwrites, installs, network.

A *cue*, not a boundary: a short list of regular expressions that catch the common
spellings, so a person's eye goes to the line that matters before clicking Approve.
Code can always do these things in ways no pattern sees (``getattr(os, "re" + "move")``);
an approval policy that must hold uses its own rules (see the approval demo notebook).

>>> risk_cues("import shutil; shutil.rmtree('data')")
['deletes files or folders']
"""

from __future__ import annotations

import re

__all__ = ["RISK_PATTERNS", "risk_cues"]

RISK_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("deletes files or folders", re.compile(
        r"\b(?:shutil\.rmtree|os\.(?:remove|unlink|rmdir|removedirs)|\.unlink\(|\.rmdir\(|send2trash)"
        r"|\brm\s+-[a-zA-Z]*[rf]|\brm\s+\S|\brmdir\b|\bdel\s+/[sq]\b|\bDROP\s+(?:TABLE|DATABASE|SCHEMA)\b"
        r"|\bTRUNCATE\s+TABLE\b|\bDELETE\s+FROM\b", re.IGNORECASE)),
    ("writes or overwrites files", re.compile(
        r"""\bopen\([^)]*,\s*(?:mode\s*=\s*)?["'][^"']*[wax+]""" r"|\.write_(?:text|bytes)\("
        r"|\.to_(?:csv|parquet|excel|json|pickle|feather|sql)\(|\bshutil\.(?:move|copy\w*)\("
        r"|\bos\.(?:rename|replace)\(|(?<![<>\d&])>{1,2}\s*[\w./~-]+|\bsavefig\(|\bmv\s+\S")),
    ("installs packages", re.compile(
        r"\b(?:pip3?|conda|mamba|apt(?:-get)?|brew|npm|yarn|uv)\s+(?:install|add)\b|%pip\b|%conda\b"
        r"|\bpython\s+-m\s+pip\b|\bsubprocess\b.*\bpip\b")),
    ("touches the network", re.compile(
        r"\b(?:urllib|requests|httpx|aiohttp|socket|http\.client|ftplib|smtplib|paramiko|websockets?)\b"
        r"|\b(?:curl|wget|ssh|scp|rsync)\s|\bgit\s+(?:clone|pull|push|fetch)\b|https?://")),
    ("runs shell commands", re.compile(
        r"\bsubprocess\b|\bos\.(?:system|popen|exec\w*|spawn\w*)\(|^\s*!", re.MULTILINE)),
)
"""``(cue, pattern)`` pairs, checked in order; every matching cue is reported once."""


def risk_cues(code: str) -> list[str]:
    """The cues (from :data:`RISK_PATTERNS`) whose pattern occurs in ``code``, in list order."""
    return [cue for cue, pattern in RISK_PATTERNS if pattern.search(code or "")]

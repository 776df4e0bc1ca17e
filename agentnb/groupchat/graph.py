"""The speaker-transition graph as a small hand-drawn SVG (no dependency)."""

from __future__ import annotations

import math
from html import escape
from typing import Any


def transitions_svg(names: list[str], edges: dict[str, list[str]], size: int = 360) -> str:
    """Agents on a circle; an arrow for each allowed transition, a loop for a repeat."""
    n = len(names)
    c = size / 2
    radius = size / 2 - 60 if n > 1 else 0
    node = max(16, min(30, 180 / max(n, 1)))
    pos = {name: (c + radius * math.cos(2 * math.pi * i / n - math.pi / 2),
                  c + radius * math.sin(2 * math.pi * i / n - math.pi / 2)) for i, name in enumerate(names)}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" class="agentnb-transitions" role="img">',
        "<title>Allowed speaker transitions</title>",
        '<defs><marker id="agentnb-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for src, targets in edges.items():
        if src not in pos:
            continue
        x1, y1 = pos[src]
        for dst in targets:
            if dst not in pos:
                continue
            if dst == src:
                dx, dy = x1 - c, y1 - c
                norm = math.hypot(dx, dy) or 1.0
                ux, uy = (dx / norm, dy / norm) if n > 1 else (0.0, -1.0)
                lx, ly = x1 + ux * (node + 12), y1 + uy * (node + 12)
                parts.append(f'<circle cx="{lx:.1f}" cy="{ly:.1f}" r="12" fill="none" stroke="#555" '
                             f'stroke-width="1.3" class="loop" data-agent="{escape(src)}"/>')
                continue
            x2, y2 = pos[dst]
            dx, dy = x2 - x1, y2 - y1
            dist = math.hypot(dx, dy) or 1.0
            ux, uy = dx / dist, dy / dist
            # offset sideways so A->B and B->A do not overlap
            ox, oy = -uy * 4, ux * 4
            sx, sy = x1 + ux * node + ox, y1 + uy * node + oy
            ex, ey = x2 - ux * (node + 2) + ox, y2 - uy * (node + 2) + oy
            parts.append(f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" stroke="#555" '
                         f'stroke-width="1.3" marker-end="url(#agentnb-arrow)" class="edge" '
                         f'data-from="{escape(src)}" data-to="{escape(dst)}"/>')
    for name, (x, y) in pos.items():
        label = name if len(name) <= 14 else name[:13] + "…"
        parts.append(f'<g class="node" data-agent="{escape(name)}"><circle cx="{x:.1f}" cy="{y:.1f}" '
                     f'r="{node:.1f}" fill="#e8f0fe" stroke="#1a73e8" stroke-width="1.5"/>'
                     f'<text x="{x:.1f}" y="{y + 4:.1f}" font-family="sans-serif" font-size="11" '
                     f'text-anchor="middle">{escape(label)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


class SVGDisplay:
    """Displays an SVG string in a notebook (``_repr_svg_`` / ``_repr_mimebundle_``)."""

    def __init__(self, svg: str):
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"image/svg+xml": self.svg, "text/plain": "<speaker transition graph>"}

    def __str__(self) -> str:
        return self.svg

"""AutoGen 0.2's ``autogen.agentchat.utils``: usage gathering and HTML-style tags in message content.

    parse_tags_from_content("img", "A cat <img https://x.org/cat.png> and a dog")
    # [{"tag": "img", "attr": {"src": "https://x.org/cat.png"}, "match": <re.Match ...>}]
"""

from __future__ import annotations

import re
from typing import Any

from .agents.result import gather_usage_summary

__all__ = ["gather_usage_summary", "parse_tags_from_content"]

_QUOTED_ATTR = re.compile(r"""([^\s=]+)=(["'])(.*?)\2(?=\s|$)""", re.DOTALL)


def parse_tags_from_content(tag: str, content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every ``<tag ...>`` in ``content`` (text, or the text parts of a multimodal list), in order.

    Each result is ``{"tag": tag, "attr": {...}, "match": re.Match}``: quoted ``key="value"`` pairs
    become attributes; the remaining words become ``src``. ``ValueError`` for other content types.
    """
    if isinstance(content, str):
        return _parse_text(tag, content)
    if isinstance(content, list):
        results = []
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text":
                results.extend(_parse_text(tag, item["text"]))
        return results
    raise ValueError(f"content must be str or list, but got {type(content)}")


def _parse_text(tag: str, text: str) -> list[dict[str, Any]]:
    return [{"tag": tag, "attr": _attributes(match.group(1).strip()), "match": match}
            for match in re.finditer(rf"<{re.escape(tag)} (.*?)>", text)]


def _attributes(body: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    rest = []
    end = 0
    for match in _QUOTED_ATTR.finditer(body):
        rest.append(body[end:match.start()])
        attrs[match.group(1)] = match.group(3)
        end = match.end()
    rest.append(body[end:])
    src = " ".join(" ".join(rest).split())
    if src:
        attrs = {"src": src, **attrs}
    return attrs

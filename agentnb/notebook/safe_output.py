"""Outputs of the agents' kernel made safe to show in the user's page.

Code in the agents' kernel is the model's (or, with approval off, runs unread), and that kernel may
be a remote, isolated one. JupyterLab renders trusted ``text/html`` unsanitized, runs
``application/javascript`` and renders raw HTML inside ``text/markdown``; the page it does this in
holds the Jupyter server's credentials. So an output of that kernel shown as it came would run
JavaScript in the user's page: it could execute code in the user's own kernel without approval
(an escape from a gateway-isolated kernel), or restyle the panel (hide a warning, dress Reject as
Approve). Every output bundle reaching the page goes through :func:`safe_bundle` first:

- ``text/html`` is cleaned by Ammonia (``nh3``) with :data:`HTML_TAGS` / :data:`HTML_ATTRIBUTES`:
  tables (a pandas ``to_html`` keeps its structure and classes), text formatting, lists, headings,
  ``img`` with ``https:`` or ``data:image/...`` sources and ``http(s)``/``mailto`` links stay; scripts,
  event handlers, ``javascript:`` URLs, ``<style>`` and ``style=``, frames, objects, forms, buttons,
  ``id``/``name`` (DOM clobbering), relative URLs (they would reach the user's server) and classes
  of the page itself (``agentnb-*``, ``jp-*``, ``lm-*``, ``widget-*``…) go;
- ``text/markdown`` with raw HTML, entities, links or a MathJax macro of the next point is dropped
  and shown as its source text instead (JupyterLab would render its HTML and ``javascript:`` links
  unsanitized); Markdown without them is kept, math included;
- ``text/latex`` using a MathJax macro that makes links, styles or classes (``\\href``, ``\\style``…)
  is dropped (shown as its source text);
- images are kept: JupyterLab 4 and Notebook 7 show ``image/svg+xml`` through an ``<img>`` ``data:``
  URL, where scripts in the SVG never run (and so does the static page); an SVG with scripts, event
  handlers, ``javascript:`` URLs or foreign HTML is still dropped, for front ends that inline SVG
  (classic Notebook);
- ``text/plain`` and ``application/json`` are kept; any other type (``application/javascript``,
  widget views, which name a model in another kernel, Vega, Plotly…) is dropped, with a note.

Only what the page shows is cleaned. What the model is told about an output (the summary) and a
notebook written by :mod:`agentnb.export` keep the outputs as the kernel made them: the
model must see what really ran, and an exported notebook is a new file that JupyterLab opens
untrusted (so it sanitizes it itself) and that must re-execute faithfully.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from html import unescape
from typing import Any

import nh3

HTML_TAGS = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd",
    "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u",
    "ul", "var", "wbr",
})
"""The tags an output's HTML keeps (others go, their text stays; see :data:`DROPPED_WITH_CONTENT`)."""

DROPPED_WITH_CONTENT = frozenset({"script", "style", "noscript", "template", "textarea", "title", "xmp",
                                  "noembed", "noframes", "iframe", "object", "math", "svg", "select"})
"""Tags removed with everything inside them (their text is code, CSS or markup, not prose)."""

_TABLE_CELL = {"align", "valign", "colspan", "rowspan", "headers", "scope"}
HTML_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"class", "title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "table": {"border", "cellpadding", "cellspacing", "align"},
    "th": _TABLE_CELL, "td": _TABLE_CELL,
    "tr": {"align", "valign"}, "thead": {"align", "valign"}, "tbody": {"align", "valign"},
    "tfoot": {"align", "valign"}, "col": {"span", "align"}, "colgroup": {"span", "align"},
    "ol": {"start", "type", "reversed"}, "li": {"value"}, "time": {"datetime"},
    "q": {"cite"}, "blockquote": {"cite"}, "del": {"cite", "datetime"}, "ins": {"cite", "datetime"},
}
"""The attributes an output's HTML keeps: no ``style``, no ``on*``, no ``id``/``name``."""

PAGE_CLASS_PREFIXES = ("agentnb", "jp-", "lm-", "p-", "widget", "jupyter", "mod-", "cm-", "codemirror", "bp3-",
                       "mjx", "mathjax", "tex2jax")
"""Classes of the page around the output (our panel, JupyterLab, Lumino, ipywidgets, CodeMirror, MathJax):
an output wearing them could pass for part of the page (a look-alike Approve button) or switch math
processing back on."""

_IMAGE_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp|bmp|svg\+xml)[;,]", re.IGNORECASE)
_LINK_URL = re.compile(r"(?:https?|mailto):", re.IGNORECASE)

SAFE_AS_IS = frozenset({"text/plain", "application/json", "image/png", "image/jpeg", "image/gif",
                        "image/webp", "image/bmp"})
"""MIME types JupyterLab shows without running anything (SVG: see :func:`_svg_runs`)."""

_SVG_TAGS = re.compile(r"<\s*(?:script|foreignobject|iframe|object|embed|handler|listener)\b", re.IGNORECASE)
_SVG_HANDLER = re.compile(r"[\s/\"'](?:on[a-z]+|ev:event)\s*=", re.IGNORECASE)
_SVG_URL = re.compile(r"javascript:|vbscript:|data:text/html|data:application", re.IGNORECASE)

_UNSAFE_MARKDOWN = re.compile(r"[<>&]|\]\s*[(\[:]", re.MULTILINE)
"""Raw HTML or autolinks, entities, inline links, images and reference links or definitions (HTML in
a code span would be harmless, but telling it apart is a Markdown parser's job: dropped too)."""

_UNSAFE_LATEX = re.compile(r"\\(?:href|url|style|class|cssId|require|unicode|html|csname|mmlToken|data|"
                           r"bbox|def|let|newcommand|renewcommand|DeclareMathOperator|begingroup)(?![A-Za-z])")
"""MathJax macros that make links, set CSS or classes, load extensions, or define new macros (JupyterLab 4.6
typesets with MathJax's SafeHandler, which filters these too; other front ends may not)."""

_REPR = re.compile(r"\A<[\w.]+ object(?: at 0x[0-9a-f]+)?>\Z")


def _text(value: Any) -> str:
    return "".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _svg_runs(svg: str) -> bool:
    """True if ``svg`` would run code were it inlined in a page (entities and spaces in URLs seen through)."""
    text = unescape(svg)
    return bool(_SVG_TAGS.search(text) or _SVG_HANDLER.search(text)
                or _SVG_URL.search(re.sub(r"[\x00-\x20]", "", text)))


def _attribute(tag: str, attr: str, value: str) -> str | None:
    if attr == "class":
        kept = [c for c in value.split() if not c.lower().startswith(PAGE_CLASS_PREFIXES)]
        return " ".join(kept) or None
    if attr == "src":
        url = value.strip()
        return value if url.lower().startswith("https:") or _IMAGE_DATA_URL.match(url) else None
    if attr in ("href", "cite"):
        return value if _LINK_URL.match(value.strip()) else None
    return value


CACHED_CHARS = 256_000
"""HTML up to this size is cleaned once per distinct string (the static page and its snapshots render
the same outputs again and again); longer HTML is cleaned each time, so the cache stays small."""


def clean_html(html: str) -> str:
    """``html`` from the agents' kernel with nothing left that runs code or restyles the page."""
    return _clean_cached(html) if len(html) <= CACHED_CHARS else _clean(html)


def _clean(html: str) -> str:
    return nh3.clean(html, tags=set(HTML_TAGS), clean_content_tags=set(DROPPED_WITH_CONTENT),
                     attributes=HTML_ATTRIBUTES, attribute_filter=_attribute, strip_comments=True,
                     link_rel="noopener noreferrer nofollow", url_schemes={"http", "https", "mailto", "data"},
                     url_relative="deny")


_clean_cached = lru_cache(maxsize=128)(_clean)


def safe_bundle(data: dict[str, Any]) -> dict[str, Any]:
    """A MIME bundle of the agents' kernel as the user's page may show it (see the module docstring)."""
    safe: dict[str, Any] = {}
    source = ""  # Markdown or LaTeX dropped: shown as text instead
    dropped: list[str] = []
    for mime, value in data.items():
        if mime in SAFE_AS_IS:
            safe[mime] = value
        elif mime == "text/html":
            safe[mime] = clean_html(_text(value))
        elif mime == "image/svg+xml":
            if _svg_runs(_text(value)):
                dropped.append(mime)
            else:
                safe[mime] = value
        elif mime == "text/markdown":
            if _UNSAFE_MARKDOWN.search(_text(value)) or _UNSAFE_LATEX.search(_text(value)):
                source = _text(value)
            else:
                safe[mime] = value
        elif mime == "text/latex":
            if _UNSAFE_LATEX.search(_text(value)):
                source = source or _text(value)
            else:
                safe[mime] = value
        else:
            dropped.append(mime)
    plain = _text(safe.get("text/plain", ""))
    if source and (not plain or _REPR.match(plain.strip())):
        safe["text/plain"] = source
    if not safe and dropped:
        safe["text/plain"] = f"[{', '.join(dropped)} output not shown: it could run code in this page]"
    return safe


def safe_output(out: dict[str, Any]) -> dict[str, Any]:
    """An nbformat output dict with its ``data`` made safe (``out`` itself when it has none)."""
    if "data" not in out or out.get("output_type") not in ("display_data", "execute_result",
                                                           "update_display_data"):
        return out
    return {**out, "data": safe_bundle(out.get("data") or {})}


class SafeOutputs:
    """Safe copies of a growing list of output dicts, each cleaned once.

    For a view re-showing a fold's whole list on every new output (:class:`~agentnb.coding.outputs.OutputFold`
    replaces a dict it changes, never edits it, so an unchanged dict's safe copy can be reused)::

        safe = SafeOutputs()
        output_widget.outputs = safe(fold.outputs)
    """

    def __init__(self) -> None:
        self._memo: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def __call__(self, outputs: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
        memo: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        shown = []
        for out in outputs:
            hit = self._memo.get(id(out))
            if hit is None or hit[0] is not out:
                hit = (out, safe_output(out))
            memo[id(out)] = hit
            shown.append(hit[1])
        self._memo = memo
        return tuple(shown)


__all__ = ["HTML_ATTRIBUTES", "HTML_TAGS", "SafeOutputs", "clean_html", "safe_bundle", "safe_output"]

"""Safe HTML for the panel: a small Markdown subset, highlighted code, stable agent colours.

Every piece of message text is made visible (:func:`agentnb.textguard.visible`: control,
bidi and zero-width characters shown, not interpreted) and HTML-escaped *before* any
markup is added, so a model reply can never inject tags or scripts into the notebook, nor
reorder or hide what a person reads. Supported
Markdown: fenced code (highlighted with pygments, with Copy / Insert below buttons), headings, bullet/numbered
lists, blockquotes, ``inline code``, **bold**, *italic*, http(s) links and
paragraphs. Anything else shows as the plain text it is.
"""

from __future__ import annotations

import html
import re
import zlib

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from ..textguard import HIDDEN_WARNING, has_hidden, visible
from .code_actions import CSS as ACTIONS_CSS
from .code_actions import with_actions

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#5254a3", "#00897b",
)
"""Twelve qualitative colours for agent names (matplotlib's tab10 plus indigo and teal). Names are drawn
mixed with the theme's text colour (see :data:`CSS`), so they stay readable on light and dark themes."""

_FORMATTER = HtmlFormatter(nowrap=True, style="default")
_INLINE_FORMATTER = HtmlFormatter(nowrap=True, noclasses=True, style="default")
"""Colours as ``style`` attributes, for outputs shown without agentnb's stylesheet (the plain view)."""
_WHITESPACE_SPAN = re.compile(r'<span class="w">([^<]*)</span>')
"""Pygments wraps runs of spaces in a colour span; spaces show no colour, so the span only costs bytes
(a tenth of a highlighted block, more than the Copy / Insert below wrapper adds)."""
_INLINE_WHITESPACE_SPAN = re.compile(r'<span style="color: #BBB">(\s*)</span>')
"""The same spans with inline colours (:data:`_INLINE_FORMATTER`): only whitespace, so only bytes."""

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.\-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)",
                    re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s)\"'<>]+)\)")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:([-*+])|(\d{1,9})[.)])\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def agent_colour(name: str) -> str:
    """A colour for ``name`` that is the same in every session (crc32, not ``hash()``)."""
    return PALETTE[zlib.crc32(name.encode("utf-8")) % len(PALETTE)]


class Palette:
    """Distinct colours for the agents of one chat: each name takes its own slot (``agent_colour``)
    unless an earlier name holds it, then the next free one; up to 12 names never share a colour."""

    def __init__(self, names: list[str] | tuple[str, ...] = ()) -> None:
        self._colours: dict[str, str] = {}
        for name in names:
            self(name)

    def __call__(self, name: str) -> str:
        colour = self._colours.get(name)
        if colour is None:
            taken = set(self._colours.values())
            start = zlib.crc32(name.encode("utf-8")) % len(PALETTE)
            slots = [PALETTE[(start + i) % len(PALETTE)] for i in range(len(PALETTE))]
            colour = next((c for c in slots if c not in taken), slots[0])
            self._colours[name] = colour
        return colour


_TERMINATE = re.compile(r"\s*\bTERMINATE\W{0,3}\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def for_people(text: str) -> str:
    """Model text without the protocol word a reply ends with (``TERMINATE``); the model still got it."""
    return _TERMINATE.sub("", text) if "TERMINATE" in text else text


def strip_colours(text: str) -> str:
    """``text`` without ANSI colour codes (SGR); other escapes stay for :func:`visible` to show."""
    return _ANSI.sub("", text) if "\x1b[" in text else text


def highlight_code(code: str, language: str = "python", *, actions: bool = False,
                   inline_styles: bool = False) -> str:
    """``<pre>`` HTML of ``code`` (hidden characters made visible) with pygments classes (see :data:`CSS`).

    ``actions``: as a block agentnb's extension gives Copy / Insert below (:mod:`.code_actions`), for code a
    person may reuse. ``inline_styles``: colours as ``style`` attributes instead of classes (no :data:`CSS`).
    """
    code = visible(code)
    try:
        lexer = get_lexer_by_name(language or "python")
    except ClassNotFound:
        lexer = TextLexer()
    if inline_styles:
        body = _INLINE_WHITESPACE_SPAN.sub(r"\1", highlight(code, lexer, _INLINE_FORMATTER))
    else:
        body = _WHITESPACE_SPAN.sub(r"\1", highlight(code, lexer, _FORMATTER))
    pre = f'<pre class="agentnb-code"><code>{body}</code></pre>'
    return with_actions(pre, code) if actions else pre


def _inline(escaped: str) -> str:
    """Inline markup on already-escaped text (code spans are protected from the rest)."""
    spans: list[str] = []

    def keep(m: re.Match) -> str:
        spans.append(f"<code>{m.group(1)}</code>")
        return f"\x00{len(spans) - 1}\x00"

    def emphasis(part: str) -> str:
        return _ITALIC.sub(r"<em>\1</em>", _BOLD.sub(r"<strong>\1</strong>", part))

    def restore(part: str) -> str:
        return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], part)

    def link(m: re.Match) -> str:  # kept whole: no emphasis markup inside the href
        label = restore(emphasis(m.group(1)))
        spans.append(f'<a href="{m.group(2)}" target="_blank" rel="noopener noreferrer">{label}</a>')
        return f"\x00{len(spans) - 1}\x00"

    return restore(emphasis(_LINK.sub(link, _INLINE_CODE.sub(keep, escaped))))


def _prose_to_html(text: str) -> str:
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""

    def flush_para():
        if para:
            out.append("<p>" + "<br>".join(_inline(line) for line in para) + "</p>")
            para.clear()

    def flush_list():
        nonlocal list_tag
        if items:
            out.append(f"<{list_tag}>" + "".join(f"<li>{i}</li>" for i in items) + f"</{list_tag}>")
            items.clear()
        list_tag = ""

    for raw in text.split("\n"):
        line = html.escape(raw, quote=True)
        if not raw.strip():
            flush_para()
            flush_list()
            continue
        m = _HEADING.match(raw)
        if m:
            flush_para()
            flush_list()
            level = min(len(m.group(1)) + 2, 6)  # keep headings small inside a card
            out.append(f"<h{level}>{_inline(html.escape(m.group(2)))}</h{level}>")
            continue
        m = _LIST_ITEM.match(raw)
        if m:
            flush_para()
            tag = "ul" if m.group(1) else "ol"
            if list_tag and tag != list_tag:
                flush_list()
            list_tag = tag
            items.append(_inline(html.escape(m.group(3))))
            continue
        if raw.lstrip().startswith(">"):
            flush_para()
            flush_list()
            out.append(f"<blockquote>{_inline(html.escape(raw.lstrip()[1:].strip()))}</blockquote>")
            continue
        if items and raw.startswith((" ", "\t")):
            items[-1] += " " + _inline(line.strip())
            continue
        flush_list()
        para.append(line)
    flush_para()
    flush_list()
    return "".join(out)


def markdown_to_html(text: str, *, inline_styles: bool = False) -> str:
    """Render the supported Markdown subset of ``text`` (hidden characters made visible) to safe HTML.

    ``inline_styles``: code colours as ``style`` attributes (see :func:`highlight_code`).
    """
    text = visible(text)
    parts: list[str] = []
    pos = 0
    for m in _FENCE.finditer(text):
        parts.append(_prose_to_html(text[pos:m.start()]))
        parts.append(highlight_code(m.group(3), m.group(2) or "python", actions=True,
                                    inline_styles=inline_styles))
        pos = m.end()
    parts.append(_prose_to_html(text[pos:]))
    return "".join(parts)


def escape(text: str) -> str:
    """``text`` made visible (see :mod:`agentnb.textguard`) and HTML-escaped."""
    return html.escape(visible(text), quote=True)


def hidden_warning(text: str) -> str:
    """A warning line (HTML) if ``text`` holds hidden characters, else ``""``."""
    if not has_hidden(text):
        return ""
    return f'<div class="agentnb-warning">{html.escape(HIDDEN_WARNING)}</div>'


_THEMED_TOKENS = "\n".join(
    ", ".join(f"body[data-jp-theme-name] .agentnb-code .{c}" for c in classes.split()) + f" {{ color: var({var}); }}"
    for classes, var in (
        ("k kc kd kn kp kr kt ow", "--jp-mirror-editor-keyword-color"),
        ("s s1 s2 sa sb sc sd se sh si sr ss sx", "--jp-mirror-editor-string-color"),
        ("m mb mf mh mi mo il", "--jp-mirror-editor-number-color"),
        ("c c1 ch cm cp cpf cs", "--jp-mirror-editor-comment-color"),
        ("nb bp", "--jp-mirror-editor-builtin-color"),
        ("nf fm nc nn", "--jp-mirror-editor-def-color"),
        ("n nv nx", "--jp-mirror-editor-variable-color"),
        ("o p", "--jp-mirror-editor-operator-color"),
        ("nd", "--jp-mirror-editor-meta-color"),
    ))
"""Token colours from JupyterLab's editor theme (light or dark) over pygments' light defaults, only inside
JupyterLab / Notebook 7 (``body[data-jp-theme-name]``); elsewhere the pygments colours stay."""

CSS = ("""
<style>
.agentnb-panel, .agentnb-static { font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px;
  color: var(--jp-content-font-color1, inherit); }
.agentnb-card { border-left: 4px solid var(--agent-colour, #888); padding: 3px 10px; margin: 3px 0;
  background: var(--jp-layout-color1, transparent); border-radius: 3px; }
.agentnb-head { font-weight: 600; font-size: 12px; margin-bottom: 1px;
  color: color-mix(in srgb, var(--agent-colour, #888) 72%, var(--jp-content-font-color1, #000)); }
.agentnb-head .agentnb-to { font-weight: 400; opacity: 0.7; }
.agentnb-card p { margin: 3px 0; }
.agentnb-card h3, .agentnb-card h4, .agentnb-card h5, .agentnb-card h6 { margin: 6px 0 3px 0; }
.agentnb-code { background: transparent !important; padding: 2px 8px !important; margin: 3px 0;
  border-left: 2px solid var(--jp-border-color1, #bbb); overflow-x: auto; font-size: 12px; line-height: 1.35;
  max-height: 28em; }
.agentnb-code > code { display: block; background: transparent !important; padding: 0 !important; border: 0;
  font-size: inherit;
  color: inherit; white-space: pre; }
.agentnb-status { font-size: 12px; color: var(--jp-ui-font-color1, inherit); }
.agentnb-state-running, .agentnb-state-waiting { font-weight: 600; color: var(--jp-brand-color1, #1976d2); }
.agentnb-state-waiting { color: var(--jp-warn-color1, #f57c00); }
.agentnb-state-finished { font-weight: 600; color: var(--jp-success-color1, #388e3c); }
.agentnb-state-stopped { font-weight: 600; color: var(--jp-ui-font-color2, #757575); }
.agentnb-state-failed { font-weight: 600; color: var(--jp-error-color1, #d32f2f); }
.agentnb-note { font-size: 12px; color: var(--jp-ui-font-color2, #666); }
.agentnb-warning { font-size: 12px; font-weight: 600; color: var(--jp-error-color1, #b00); margin: 2px 0; }
.agentnb-risk { font-size: 12px; font-weight: 600; color: var(--jp-warn-color1, #b45f06); margin: 2px 0; }
.agentnb-block { margin: 0 0 4px 14px; }
.agentnb-block pre.agentnb-out { margin: 2px 0; padding: 4px 8px; font-size: 12px; line-height: 1.3;
  white-space: pre-wrap; max-height: 24em; overflow: auto; background: var(--jp-layout-color2, #f3f3f3); }
.agentnb-block .agentnb-err { border-left: 3px solid var(--jp-error-color1, #d32f2f); }
.agentnb-block img { max-width: 100%; }
.agentnb-html { max-height: 30em; overflow: auto; }
.agentnb-static details > summary, .agentnb-panel details > summary { cursor: pointer; font-size: 12px;
  color: var(--jp-ui-font-color2, #666); }
.jp-Cell-outputArea:has(.agentnb-pending), .jp-OutputArea-child:has(.agentnb-pending),
.jp-OutputArea-output:has(.agentnb-pending), .widget-box:has(.agentnb-pending) { overflow: visible !important; }
.agentnb-pending { position: sticky; bottom: 0; z-index: 3; background: var(--jp-layout-color1, #fff);
  box-shadow: 0 -2px 6px rgba(0, 0, 0, 0.15); }
.agentnb-cursor::after { content: "▍"; opacity: 0.6; }
""" + ACTIONS_CSS + HtmlFormatter(style="default").get_style_defs(".agentnb-code") + "\n" + _THEMED_TOKENS
       + "\n</style>")
"""Styles the panel injects once (pygments classes scoped under ``.agentnb-code``)."""

"""Copy and Insert below on every code block the panel (and its static page) shows.

The kernel cannot create a cell in the user's notebook from a widget click, so the buttons belong to
agentnb's JupyterLab 4 / Notebook 7 extension (``agentnb/labextension``, source in
``extensions/agentnb-jupyterlab``). The kernel only wraps each block in ``<div class="agentnb-snippet">``
(under 70 bytes, so 500 messages stay small); the extension adds the two buttons to a block when the
pointer enters it, a finger touches it or the keyboard focuses it, and acts on their clicks: it reads
the block's ``<pre>`` text — exactly what the person sees, hidden characters already shown as visible
marks by :func:`agentnb.textguard.visible` — and copies it or inserts it as a new cell under the cell
whose output holds the block. Where the extension is absent (VS Code, Voilà, nbviewer, an old
JupyterLab) no button exists, so none shows.

>>> with_actions('<pre class="agentnb-code"><code>print(1)</code></pre>', "print(1)")[:54]
'<div class="agentnb-snippet" data-agentnb-key="f36c289'
"""

from __future__ import annotations

import hashlib

from ..textguard import visible

__all__ = ["CSS", "block_key", "hide_while_editing", "with_actions"]


def block_key(code: str) -> str:
    """A short stable key of ``code`` as shown (the approval card finds "its" block by it)."""
    return hashlib.sha1(visible(code).strip().encode("utf-8")).hexdigest()[:12]


def with_actions(pre_html: str, code: str) -> str:
    """``pre_html`` (the highlighted ``<pre>`` of ``code``) as a block the extension gives Copy / Insert below.

    ``code`` only names the block (:func:`block_key`); the buttons act on the text shown in ``pre_html``.
    """
    return f'<div class="agentnb-snippet" data-agentnb-key="{block_key(code)}">{pre_html}</div>'


def hide_while_editing(code: str) -> str:
    """A ``<style>`` that hides the shown block of ``code`` while its approval card edits it.

    The approval card follows the message card that shows the block (``.widget-html`` right
    before it) or shows the block itself; with the ``agentnb-editing`` class on the card, the
    editor is then the only copy of the code on screen.
    """
    key = block_key(code)
    block = f'.agentnb-snippet[data-agentnb-key="{key}"]'
    return (f"<style>.widget-html:has(+ .agentnb-editing) {block}, .agentnb-editing {block} "
            "{ display: none; }</style>")


CSS = """
.agentnb-snippet { position: relative; }
.agentnb-snippet:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 1px; }
.agentnb-snippet-actions { position: absolute; top: 2px; right: 4px; z-index: 2; display: flex; gap: 4px;
  opacity: 0.45; transition: opacity 0.12s; }
.agentnb-snippet:hover .agentnb-snippet-actions, .agentnb-snippet:focus-within .agentnb-snippet-actions {
  opacity: 1; }
.agentnb-snippet-action { font: 11px var(--jp-ui-font-family, sans-serif); line-height: 1.4; padding: 0 6px;
  cursor: pointer; border: 1px solid var(--jp-border-color1, #bbb); border-radius: 3px;
  color: var(--jp-ui-font-color1, #333); background: var(--jp-layout-color1, #fff); }
.agentnb-snippet-action:hover { background: var(--jp-layout-color2, #eee); }
.agentnb-snippet-action[data-agentnb-done="true"] { color: var(--jp-success-color1, #388e3c); }
.agentnb-snippet-action[data-agentnb-done="false"] { color: var(--jp-error-color1, #d32f2f); }
.agentnb-approval:not(.agentnb-editing) .agentnb-if-editing, .agentnb-editing .agentnb-unless-editing {
  display: none; }
.agentnb-editor textarea { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
"""
"""Styles of the blocks and of the buttons the extension adds (joined into :data:`agentnb.notebook.html.CSS`)."""

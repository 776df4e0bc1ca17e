"""Model text in an exported notebook's Markdown cells never renders as live HTML or a script link.

A saved notebook becomes trusted, and JupyterLab then renders its Markdown cells unsanitized (nbconvert's
HTML exporter and Voilà do not sanitize either): a tag from a model reply would run JavaScript in the
user's page, which can drive the kernel without any approval. Each payload is put in every place model
or user text reaches a Markdown cell (message, task, title, agent names, tool name / arguments / result,
approval reason, error, chat summary, the executor's report), the chat is exported, and every Markdown
cell is rendered by real CommonMark parsers (markdown-it-py with raw HTML on, as in JupyterLab, and
nbconvert's mistune) and audited as a browser would parse it. Code cells stay byte-identical.
"""

from __future__ import annotations

import html.parser
import re
import subprocess
import sys

import nbformat
import pytest
from markdown_it import MarkdownIt
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from agentnb.export import events_to_notebook, write_notebook
from agentnb.messages import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequest,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ErrorOccurred,
    ExecutionFinished,
    MessageSent,
    ToolCallFinished,
    ToolCallProposed,
)

PAYLOADS = {
    "backtick-run": "a `` <img src=x onerror=alert(1)> `b` ``",
    "backtick-run-2": "a <img src=x onerror=alert(1)> `b`",
    "tilde-inline": "a ~~~ <img src=x onerror=alert(1)> ~~~",
    "img": "<img src=x onerror=alert(1)>",
    "svg": "<svg onload=alert(1)><circle r=9></svg>",
    "script": "<script>alert(1)</script>",
    "iframe-srcdoc": "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "details": "<details open ontoggle=alert(1)><summary>x</summary></details>",
    "style": "<style>body{display:none}</style>",
    "object-embed": "<object data=javascript:alert(1)></object><embed src=javascript:alert(1)>",
    "a-href": "<a href=\"javascript:alert(1)\">click</a>",
    "link": "[click](javascript:alert(1))",
    "image-link": "![i](javascript:alert(1))",
    "autolink": "<javascript:alert(1)>",
    "entity-link": "[click](javascript&#58;alert(1))",
    "reference-link": "[click][r]\n\n[r]: javascript:alert(1)",
    "indented-fence": "    ```\n<img src=x onerror=alert(1)>\n    ```",
    "four-backticks": "````\n```\n````\n<img src=x onerror=alert(1)>\n```",
    "blank-then-html": "text\n\n<img src=x onerror=alert(1)>",
    "fence-then-html": "```\nx\n```\n\n<div onmouseover=alert(1)>hover</div>",
    "html-comment": "<!-- x --><img src=x onerror=alert(1)>",
    "pre-escaped": "&lt;img src=x onerror=alert(1)&gt; &#60;script&#62;",
}

ALLOWED_TAGS = {"div", "p", "strong", "em", "code", "pre", "span", "a", "ul", "ol", "li", "br", "blockquote",
                "details", "summary", "h1", "h2", "h3", "h4", "h5", "h6"}
URL_ATTRS = {"href", "src", "srcdoc", "action", "formaction", "data", "xlink:href", "poster", "background"}
SAFE_URL = re.compile(r"(https?://|data:image/(png|jpeg|gif);|#)", re.I)
"""http(s), inline images, and in-page anchors (nbconvert links each heading to itself)."""
CODE = "print('plain code')  # <img src=x onerror=alert(1)>"


class Audit(html.parser.HTMLParser):
    """Parse rendered HTML as a browser would and list everything that could run script."""

    def __init__(self, rendered: str) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text = ""
        self.feed(rendered)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=>")
            if name in URL_ATTRS and not SAFE_URL.match((value or "").strip()):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name == "style":
                self.problems.append(f"<{tag} style=>")

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text += data


RENDERERS = {
    "markdown-it": MarkdownIt("commonmark").render,  # raw HTML on: what JupyterLab's marked does
    "mistune": markdown2html_mistune,  # nbconvert's --to html and Voilà
}


def chat(p: str) -> list:
    """A chat where ``p`` is every piece of text a model or user controls."""
    return [
        ChatStarted(sender=p, recipient="assistant", agents=[p, "assistant"], model=p),
        MessageSent(sender="user", recipient="assistant", message={"role": "user", "content": p}),
        MessageSent(sender=p, recipient=p, message={"role": "assistant", "content": p, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": p, "arguments": p}}]}),
        ToolCallProposed(executor=p, call_id="c1", name=p, arguments=p),
        ToolCallFinished(executor=p, call_id="c1", name=p, content=p),
        ToolCallFinished(executor=p, call_id="c2", name=p, content=p, is_error=True),
        CodeBlockProposed(executor="user", block_id="b1", language="python", code=CODE),
        ExecutionFinished(executor="user", block_id="b1", language="python", code=CODE, exit_code=0,
                          summary=p, outputs=[{"output_type": "stream", "name": "stdout", "text": "plain code\n"}]),
        MessageSent(sender="user", recipient="assistant", message={"role": "user", "content": p}),
        ApprovalDecided(request=ApprovalRequest(kind="tool", agent=p, tool_name=p, arguments=p),
                        decision=ApprovalDecision(approved=False, reason=p)),
        ErrorOccurred(source=p, error_type=p, message=p),
        ChatFinished(reason=p, summary=p),
    ]


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("name", PAYLOADS)
def test_no_payload_renders_live_in_any_markdown_cell(name, renderer):
    payload = PAYLOADS[name]
    nb = events_to_notebook(chat(payload), title=payload)
    nbformat.validate(nb)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) == 9  # title, 2 messages, 2 tool results, report, rejection, error, finish
    shown = ""
    for source in markdown:
        audit = Audit(RENDERERS[renderer](source))
        assert not audit.problems, (audit.problems, source)
        shown += audit.text
    for word in ("alert(1)", "javascript"):  # the payload is shown as the text it is, not dropped
        if word in payload:
            assert word in shown
    assert [c.source for c in nb.cells if c.cell_type == "code"] == [CODE]  # code cells byte-identical


def test_nbconvert_html_of_an_exported_chat_has_no_live_payload(tmp_path):
    payload = "\n\n".join(PAYLOADS.values())
    path = write_notebook(chat(payload), tmp_path / "chat.ipynb", title=payload)
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", "--log-level", "ERROR", str(path)],
                   check=True, capture_output=True, timeout=120)
    page = (tmp_path / "chat.html").read_text(encoding="utf-8")
    handlers: list[str] = []
    scripts: list[str] = []

    class Page(html.parser.HTMLParser):
        in_script = False

        def handle_starttag(self, tag, attrs):
            handlers.extend(f"<{tag} {k}>" for k, _ in attrs if k.startswith("on"))
            handlers.extend(f"<{tag} {k}={v}>" for k, v in attrs
                            if k in URL_ATTRS and not SAFE_URL.match((v or "").strip()))
            if tag in {"iframe", "object", "embed", "svg", "img"}:
                handlers.append(f"<{tag}>")
            self.in_script = tag == "script"

        def handle_endtag(self, tag):
            self.in_script = False

        def handle_data(self, data):
            if self.in_script:
                scripts.append(data)

    Page(convert_charrefs=True).feed(page)
    assert not handlers
    assert not any("alert(1)" in s for s in scripts)
    assert "onerror=alert(1)" in page.replace("&lt;", "<").replace("&gt;", ">")  # there, as escaped text

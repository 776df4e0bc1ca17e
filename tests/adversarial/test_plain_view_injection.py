"""Attack: model text that runs JavaScript in the user's page through the plain view.

The plain view (:class:`agentnb.notebook.render.PlainRenderer`: ``%agents view plain``, Voilà, nbconvert,
terminal IPython) displays notes built from model-controlled text — replies, tool names, arguments and
results, agent names, error messages, the prompt. Front ends render trusted ``text/markdown`` with raw HTML
enabled and unsanitized, so a reply holding ``<img onerror=…>`` would run in the page that holds the Jupyter
server's credentials and could drive the user's own kernel. One real chat against the scripted model server
carries every payload through every one of those places; no displayed bundle may hold ``text/markdown``, and
its ``text/html`` may hold no construct that runs, while the payload text itself stays readable.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

import agentnb as autogen
from agentnb.errors import ModelError
from agentnb.messages import ErrorOccurred, Event, MessageSent, ToolCallFinished, ToolCallProposed, subscribe
from agentnb.notebook.html import markdown_to_html
from agentnb.notebook.render import PlainRenderer
from agentnb.testing import Fault, ScriptedModelServer, text, tool_calls

PAYLOADS = [
    "<img src=x onerror=window.__pwned=1>",
    "<IMG SRC=x OnErRoR='window.__pwned=1'>",
    "<svg onload=window.__pwned=1></svg>",
    "<svg><script>window.__pwned=1</script></svg>",
    "<script>window.__pwned=1</script>",
    "<iframe srcdoc='<script>parent.__pwned=1</script>'></iframe>",
    "<object data='data:text/html,<script>window.__pwned=1</script>'></object>",
    "<embed src='data:text/html,<script>window.__pwned=1</script>'>",
    "<style>.agentnb-approve{display:none}</style>",
    "<details open ontoggle=window.__pwned=1>x</details>",
    "<a href='javascript:window.__pwned=1'>Approve</a>",
    "[Approve](javascript:window.__pwned=1)",
    "[Approve](JaVaScRiPt:window.__pwned=1)",
    "[Approve]( javascript:window.__pwned=1 )",
    "[Approve](javascript&#58;window.__pwned=1)",
    "[Approve](&#106;avascript:window.__pwned=1)",
    "[Approve](data:text/html,<script>window.__pwned=1</script>)",
    "<javascript:window.__pwned=1>",
    "<https://ok.example/\"onmouseover=window.__pwned=1>",
    "[x](https://ok.example/**a**\"onmouseover=window.__pwned=1)",
    "![x](javascript:window.__pwned=1)",
    "intro\n\n    <img src=x onerror=window.__pwned=1>\n\nafter",  # an indented "fence"
    "   ```\n<img src=x onerror=window.__pwned=1>\n   ```",
    "~~~\n<img src=x onerror=window.__pwned=1>\n~~~",
    "````\n```\n<img src=x onerror=window.__pwned=1>\n````",
    "````python\nx = 1\n```\n<img src=x onerror=window.__pwned=1>\n```",  # a ``` "close" inside ````
    "```\nx\n````\n<img src=x onerror=window.__pwned=1>",
    "`<img src=x onerror=window.__pwned=1>` and <img src=x onerror=window.__pwned=1>",
    "<!--><img src=x onerror=window.__pwned=1>-->",
    "<noscript><p title=\"</noscript><img src=x onerror=window.__pwned=1>\">",
    "&lt;img src=x onerror=window.__pwned=1&gt; &#60;script&#62;window.__pwned=1&#60;/script&#62;",
    "<div style='position:fixed;top:0;left:0;width:100%;height:100%'>all fine</div>",
]
ALL = "\n\n".join(PAYLOADS)
AGENT = "<svg onload=window.__pwned=1>[a](javascript:window.__pwned=1)"
TOOL_NAMES = ["<img src=x onerror=window.__pwned=1>", "[x](javascript:window.__pwned=1)",
              "<details open ontoggle=window.__pwned=1>"]
SEEN = ["onerror=window.__pwned=1", "onload=window.__pwned=1", "ontoggle=window.__pwned=1",
        "javascript:window.__pwned=1", "<script>window.__pwned=1</script>", "srcdoc="]
"""Pieces of the payloads a person must still read (as text) wherever they were sent."""

BANNED_TAGS = {"script", "iframe", "frame", "object", "embed", "svg", "math", "style", "link", "meta", "base",
               "form", "input", "button", "textarea", "noscript", "template", "img", "video", "audio", "source"}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "srcdoc", "data", "poster", "background"}


class _Constructs(HTMLParser):
    """Every element, attribute or URL of an HTML fragment that could run script or fetch from elsewhere."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BANNED_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            elif name in URL_ATTRS:
                url = "".join(ch for ch in (value or "") if ch > " ").lower()  # what a browser would parse
                if not url.startswith(("http://", "https://", "data:image/")):
                    self.found.append(f"{tag} {name}={value!r}")

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def constructs(fragment: str) -> tuple[list[str], str]:
    """(dangerous constructs found, the text a person reads) of an HTML fragment."""
    parser = _Constructs()
    parser.feed(fragment)
    parser.close()
    return parser.found, "".join(parser.text)


@pytest.fixture(scope="module")
def shown() -> list[tuple[Event, dict]]:
    """(event, bundle) for every note the plain view displayed during one real chat full of payloads."""
    from IPython.core.interactiveshell import InteractiveShell

    display_pub = InteractiveShell.instance().display_pub
    bundles: list[dict] = []
    pairs: list[tuple[Event, dict]] = []
    renderer = PlainRenderer()

    def render(event: Event) -> None:
        before = len(bundles)
        renderer.handle_event(event)
        pairs.extend((event, b) for b in bundles[before:])

    replies = [tool_calls([("echo", {"text": ALL}), *[(name, {"x": ALL}) for name in TOOL_NAMES]]),
               *[text(p) for p in PAYLOADS], text(ALL), Fault.status(400, message=ALL)]
    original = display_pub.publish
    display_pub.publish = lambda data, metadata=None, **kw: bundles.append(data)
    try:
        with ScriptedModelServer(replies) as server:
            assistant = autogen.AssistantAgent(AGENT, llm_config=server.llm_config())
            user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                                          max_consecutive_auto_reply=len(replies) + 2)

            @user.register_for_execution()
            @assistant.register_for_llm(description="Echo the text.")
            def echo(text: str) -> str:
                return text

            with subscribe(render), pytest.raises(ModelError):
                user.initiate_chat(assistant, message="go\n\n" + ALL, silent=True)
    finally:
        display_pub.publish = original
    assert len(pairs) == len(bundles)
    return pairs


def test_no_note_is_markdown_and_no_html_runs(shown):
    assert len(shown) > len(PAYLOADS)
    for event, bundle in shown:
        assert "text/markdown" not in bundle, (type(event).__name__, bundle)
        assert set(bundle) == {"text/html", "text/plain"}, bundle
        found, _ = constructs(bundle["text/html"])
        assert found == [], (type(event).__name__, found, bundle["text/html"][:500])


def test_every_place_model_text_reaches_shows_it_as_text(shown):
    """The payloads were really displayed (as readable text) from each kind of model-controlled source."""

    def read(kind: type, where=lambda ev: True) -> str:
        return "\n".join(constructs(b["text/html"])[1] for ev, b in shown if isinstance(ev, kind) and where(ev))

    replies = read(MessageSent, lambda ev: ev.sender == AGENT and ev.message.get("content"))
    for payload in PAYLOADS[:11]:  # the plain HTML ones read exactly as sent
        assert payload in replies, payload
    sources = {
        "message": replies,
        "prompt": read(MessageSent, lambda ev: str(ev.message.get("content") or "").startswith("go\n")),
        "tool argument": read(MessageSent, lambda ev: bool(ev.message.get("tool_calls"))),
        "tool result": read(ToolCallFinished, lambda ev: ev.name == "echo"),
        "error": read(ErrorOccurred),
    }
    for source, readable in sources.items():
        for piece in SEEN:
            assert piece in readable, (source, piece)
    names = read(ToolCallProposed)
    assert all(name in names for name in TOOL_NAMES)
    assert AGENT in read(MessageSent, lambda ev: ev.sender == AGENT)


def test_the_renderer_links_only_http():
    """agentnb's Markdown subset makes ``<a>`` of http(s) links only; everything else stays text."""
    page = markdown_to_html("[ok](https://example.org/a?b=1&c=2) [s](http://example.org) " + ALL)
    assert constructs(page)[0] == []
    hrefs = [part.split('"', 1)[0] for part in page.split('href="')[1:]]
    assert hrefs == ["https://example.org/a?b=1&amp;c=2", "http://example.org", "https://ok.example/**a**&quot;"
                     "onmouseover=window.__pwned=1"]

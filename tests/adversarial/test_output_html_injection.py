"""Attack: an output of the agents' kernel that runs JavaScript in the user's page.

JupyterLab renders trusted ``text/html`` unsanitized, runs ``application/javascript`` and renders raw
HTML in ``text/markdown``; the page holds the Jupyter server's credentials. A block that displays
attacker HTML (a Styler of hostile data, ``display(HTML(...))`` built obscurely, or anything when
approval is off) would run code in the user's own kernel — or restyle the panel (UI redress). One
real chat in a real kernel displays every payload below; the live panel's Output widget and the
static page must hold no construct that runs or restyles, while tables, images and text survive.
"""

from __future__ import annotations

import base64
import json
import re
import time
from html import unescape
from html.parser import HTMLParser

import pytest
from support.browser import JupyterServer, chromium, needs_browser, open_notebook, run_cells, write_notebook

import agentnb as autogen
from agentnb.coding.outputs import fold_outputs
from agentnb.messages import ExecutionFinished, subscribe
from agentnb.notebook.cards import ExecutionCard
from agentnb.notebook.panel import ChatPanel
from agentnb.notebook.safe_output import safe_bundle
from agentnb.testing import ScriptedModelServer, code

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    "<SCRIPT>window.__pwned=1</SCRIPT>",
    "<ScRiPt type='module'>window.__pwned=1</sCrIpT>",
    "<scr<script>ipt>window.__pwned=1</scr</script>ipt>",
    "<script src='https://evil.example/x.js'></script>",
    "<div><p><script>window.__pwned=1</script></p></div>",
    "<img src=x onerror=window.__pwned=1>",
    "<IMG SRC=x OnErRoR='window.__pwned=1'>",
    "<img src=x onerror\n=window.__pwned=1>",
    "<img/src=x/onerror=window.__pwned=1>",
    "<svg onload=window.__pwned=1></svg>",
    "<svg><script>window.__pwned=1</script></svg>",
    "<body onload=window.__pwned=1>",
    "<details open ontoggle=window.__pwned=1>x</details>",
    "<a href='javascript:window.__pwned=1'>Approve</a>",
    "<a href='JaVaScRiPt:window.__pwned=1'>Approve</a>",
    "<a href=' \tjavascript:window.__pwned=1'>Approve</a>",
    "<a href='javascript&#58;window.__pwned=1'>Approve</a>",
    "<a href='&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:window.__pwned=1'>x</a>",
    "<a href='java&#x09;script:window.__pwned=1'>x</a>",
    "<a href='vbscript:msgbox(1)'>x</a>",
    "<a href='data:text/html,<script>window.__pwned=1</script>'>x</a>",
    "<img src='data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xPC9zY3JpcHQ+'>",
    "<iframe srcdoc='<script>parent.__pwned=1</script>'></iframe>",
    "<iframe src='javascript:parent.__pwned=1'></iframe>",
    "<object data='data:text/html,<script>window.__pwned=1</script>'></object>",
    "<embed src='data:text/html,<script>window.__pwned=1</script>'>",
    "<meta http-equiv='refresh' content='0;url=javascript:window.__pwned=1'>",
    "<base href='https://evil.example/'>",
    "<link rel=stylesheet href='https://evil.example/x.css'>",
    "<style>.agentnb-approve{display:none}</style>",
    "<div style='position:fixed;top:0;left:0;width:100%;height:100%;background:white'>all fine</div>",
    "<form action='/api/kernels' method=post><input name=x><button>Approve</button></form>",
    "<button class='agentnb-snippet agentnb-action-insert-below'>Insert below</button>",
    "<div class='agentnb-snippet'><span class='agentnb-action-insert-below jp-Button'>Run</span></div>",
    "<div class='jp-Dialog-button jp-mod-accept'>Approve</div>",
    "<!--><script>window.__pwned=1</script>-->",
    "<!-- --!><script>window.__pwned=1</script> -->",
    "<noscript><p title=\"</noscript><img src=x onerror=window.__pwned=1>\">",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__pwned=1>",
    "<svg></p><style><a id=\"</style><img src=1 onerror=window.__pwned=1>\">",
    "<math><mi><mglyph><svg><mtext><textarea><path id=\"</textarea><img onerror=window.__pwned=1 src=1>\">",
    "<template><script>window.__pwned=1</script></template>",
    "<textarea></textarea><script>window.__pwned=1</script>",
    "<xmp><p title=\"</xmp><img src=x onerror=window.__pwned=1>\">",
    "<img name=getElementById><form id=document>",
    "<video><source onerror=window.__pwned=1></video>",
    "<marquee onstart=window.__pwned=1>x</marquee>",
    "<isindex action=javascript:window.__pwned=1 type=image>",
]
"""Each alone in a ``text/html`` output; each holds something that runs, loads, restyles or clobbers."""

FORBIDDEN_TAGS = {"script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
                  "input", "button", "textarea", "select", "meta", "base", "link", "svg", "math", "noscript",
                  "template", "video", "audio", "source", "marquee", "isindex", "body", "html", "xmp"}
URL_ATTRS = {"href", "src", "action", "formaction", "data", "poster", "background", "xlink:href", "cite"}


class _Constructs(HTMLParser):
    """What in a piece of HTML runs code, loads a page, restyles or poses as part of the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or name in ("style", "srcdoc", "id", "name", "http-equiv"):
                self.found.append(f"{tag}[{name}]")
            if name in URL_ATTRS:
                url = re.sub(r"[\x00-\x20]", "", unescape(value)).lower()
                if not (url.startswith(("https:", "http:", "mailto:")) or re.match(r"data:image/", url)):
                    self.found.append(f"{tag}[{name}={url[:30]}]")
            if name == "class" and any(c.startswith(("agentnb", "jp-")) for c in value.split()):
                self.found.append(f"{tag}[class={value}]")

    handle_startendtag = handle_starttag


def constructs(html: str) -> list[str]:
    parser = _Constructs()
    parser.feed(html)
    parser.close()
    if re.search(r"<\s*/?\s*script|javascript\s*:", unescape(html), re.IGNORECASE):
        parser.found.append("script text")
    return parser.found


def output_regions(page: str) -> list[str]:
    """The contents of each ``<div class="agentnb-html">`` of the static page (a balanced-tag walk)."""
    regions = []
    for m in re.finditer(r'<div class="agentnb-html">', page):
        depth, pos = 1, m.end()
        for tag in re.finditer(r"<(/?)div\b[^>]*>", page[pos:]):
            depth += -1 if tag.group(1) else 1
            if depth == 0:
                regions.append(page[pos:pos + tag.start()])
                break
    return regions


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_payload_is_an_attack(payload):
    """The checker sees something in every raw payload (no case passes because it was harmless)."""
    assert constructs(payload), payload


SVG_WITH_SCRIPT = "<svg xmlns='http://www.w3.org/2000/svg' onload='window.__pwned=1'><script>1</script></svg>"
SVG_PLOT = ("<svg xmlns='http://www.w3.org/2000/svg' xmlns:xlink='http://www.w3.org/1999/xlink'><defs><style>*{stroke:"
            "red}</style><path id='p' d='M0 0L1 1'/></defs><use xlink:href='#p'/><text>&#x2212;1</text></svg>")
"""What matplotlib's SVG backend writes (a style, a reference, an entity): nothing in it runs."""

SOURCE = """\
import json, io
from IPython.display import display, HTML, Markdown, Javascript, Latex, update_display
import pandas as pd
import matplotlib.pyplot as plt
for p in json.load(open("payloads.json")):
    display({"text/html": p, "text/plain": "payload"}, raw=True)
df = pd.DataFrame({"price": [1.5, 2.25], "name": ["<img src=x onerror=window.__pwned=1>", "b"]})
display(df)
display(df.style.highlight_max(subset=["price"]).set_table_attributes("onmouseover='window.__pwned=1'"))
display(Markdown("# Results **bold**"))
display(Markdown("<img src=x onerror=window.__pwned=1> and [ok](javascript\\\\:window.__pwned=1)"))
display(Javascript("window.__pwned = 1"))
display({"application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0},
         "text/plain": "widget"}, raw=True)
display(Latex(r"$\\href{javascript:window.__pwned=1}{x^2}$"))
display(Latex(r"$x^2 + y^2$"))
display({"image/svg+xml": SVG, "text/plain": "svg"}, raw=True)
display({"image/svg+xml": SVG_PLOT, "text/plain": "plot"}, raw=True)
display(HTML("<b>fine</b>"), display_id="upd")
update_display(HTML("<i>updated</i><img src=x onerror=window.__pwned=1>"), display_id="upd")
fig, ax = plt.subplots()
ax.plot([1, 2, 3])
display(fig)
plt.close(fig)
"""


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    """One real chat: the model's block displays every payload in a real kernel; a ChatPanel shows it."""
    work = tmp_path_factory.mktemp("work")
    (work / "payloads.json").write_text(json.dumps(PAYLOADS))
    source = f"SVG = {SVG_WITH_SCRIPT!r}\nSVG_PLOT = {SVG_PLOT!r}\n" + SOURCE
    panel = ChatPanel()
    events: list = []
    with ScriptedModelServer([code(source), "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
        proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=2,
                                       code_execution_config={"work_dir": str(work), "executor": "jupyter"})
        with subscribe(panel.handle_event, events.append):
            proxy.initiate_chat(assistant, message="show the data", silent=True)
        told = server.requests[1]["messages"][-1]["content"]
    yield panel, events, told
    panel.close()


def _cards(widget) -> list[ExecutionCard]:
    found = [widget] if isinstance(widget, ExecutionCard) else []
    for child in getattr(widget, "children", ()):
        found += _cards(child)
    return found


def _live_outputs(panel: ChatPanel) -> list[dict]:
    cards = _cards(panel.conversation)
    assert len(cards) == 1
    return list(cards[0].output.outputs)


def _raw_outputs(events) -> list[dict]:
    finished = [ev for ev in events if isinstance(ev, ExecutionFinished)]
    assert len(finished) == 1 and finished[0].exit_code == 0, finished
    return fold_outputs(finished[0].outputs)


def test_the_block_really_displayed_every_payload(chat):
    """The kernel produced the attacks as they are (the record and what the model is told keep them)."""
    _, events, told = chat
    raw = _raw_outputs(events)
    html = [o["data"]["text/html"] for o in raw[:len(PAYLOADS)]]
    assert html == PAYLOADS
    assert any("application/javascript" in o.get("data", {}) for o in raw)
    assert "exitcode: 0" in told


def test_live_panel_shows_no_payload_that_runs(chat):
    panel, events, _ = chat
    live = _live_outputs(panel)
    assert len(live) == len(_raw_outputs(events))  # one shown output per output: nothing lost or merged
    for i, payload in enumerate(PAYLOADS):
        data = live[i]["data"]
        assert constructs(data["text/html"]) == [], (payload, data["text/html"])
    for out in live:
        data = out.get("data", {})
        assert not {"application/javascript", "text/javascript",
                    "application/vnd.jupyter.widget-view+json"} & set(data), data
        assert constructs(str(data.get("text/html", ""))) == [], data
        assert "<" not in str(data.get("text/markdown", "")), data
        assert "href" not in str(data.get("text/latex", "")), data


def test_static_page_shows_no_payload_that_runs(chat):
    panel, _, _ = chat
    page = panel.final_bundle()["text/html"]
    regions = output_regions(page)
    assert len(regions) >= len(PAYLOADS) + 3  # every payload, both DataFrames, the updated display
    for region in regions:
        assert constructs(region) == [], region
    # the page around them (the model's code is shown there, escaped) has nothing that runs either
    page_wide = [c for c in constructs(page) if c not in ("<style>", "script text") and "[style]" not in c
                 and "[class=" not in c and "[id]" not in c]
    assert page_wide == []


def test_useful_outputs_survive(chat):
    """A DataFrame is still a table (its hostile cell as text), Markdown, LaTeX and plots are kept."""
    panel, events, _ = chat
    live = _live_outputs(panel)
    raw = _raw_outputs(events)
    frame = live[len(PAYLOADS)]["data"]["text/html"]
    assert '<table border="1" class="dataframe">' in frame and "<td>1.50</td>" in frame.replace("1.5<", "1.50<")
    assert "&lt;img src=x onerror=window.__pwned=1&gt;" in frame  # the cell's text, shown, not run
    styler = live[len(PAYLOADS) + 1]["data"]["text/html"]
    assert "<table" in styler and "2.25" in styler and "onmouseover" not in styler
    shown = [o.get("data", {}) for o in live]
    assert {"text/markdown": "# Results **bold**"}.items() <= next(d for d in shown if "text/markdown" in d).items()
    assert any("<img src=x onerror" in str(d.get("text/plain")) for d in shown)  # unsafe Markdown: as its source
    assert any(d.get("text/latex") == "$x^2 + y^2$" for d in shown)
    assert any(d.get("text/html") == "<i>updated</i><img>" for d in shown)  # update_display reached the widget
    assert [d["image/svg+xml"] for d in shown if "image/svg+xml" in d] == [SVG_PLOT]  # the hostile one dropped
    assert {"text/plain": "svg"} in shown
    pngs = [(r["data"]["image/png"], s["data"]["image/png"]) for r, s in zip(raw, live, strict=True)
            if "image/png" in r.get("data", {})]
    assert len(pngs) == 1 and pngs[0][0] == pngs[0][1]  # the matplotlib figure, byte for byte
    assert base64.b64decode(pngs[0][1]).startswith(b"\x89PNG")
    page = panel.final_bundle()["text/html"]
    assert '<table border="1" class="dataframe">' in page and f"base64,{pngs[0][1]}" in page.replace("\n", "")


def test_plain_view_shows_no_payload_that_runs(chat, monkeypatch):
    """The plain view (no widget front end) displays the chat's real output events in the user's notebook."""
    from IPython.core.interactiveshell import InteractiveShell

    from agentnb.messages import ExecutionOutput
    from agentnb.notebook.render import PlainRenderer

    _, events, _ = chat
    shown: list[dict] = []
    monkeypatch.setattr(InteractiveShell.instance().display_pub, "publish",
                        lambda data, metadata=None, **kw: shown.append(data))
    renderer = PlainRenderer()
    outputs = [ev for ev in events if isinstance(ev, ExecutionOutput) and ev.kind != "stream"]
    for ev in outputs:
        renderer.handle_event(ev)
    assert len(shown) == len(outputs) > len(PAYLOADS)
    for data in shown:
        assert constructs(str(data.get("text/html", ""))) == [], data
        assert not {"application/javascript", "application/vnd.jupyter.widget-view+json"} & set(data), data
        assert "<" not in str(data.get("text/markdown", "")), data
    assert any('<table border="1" class="dataframe">' in str(d.get("text/html")) for d in shown)


def test_safe_bundle_drops_what_it_cannot_make_safe():
    assert safe_bundle({"application/javascript": "x"}) == {
        "text/plain": "[application/javascript output not shown: it could run code in this page]"}
    assert safe_bundle({"text/markdown": "[a](javascript\\:x)", "text/plain": "<IPython.core.display.Markdown "
                        "object>"}) == {"text/plain": "[a](javascript\\:x)"}
    assert safe_bundle({"application/vnd.vegalite.v5+json": {}, "text/plain": "chart"}) == {"text/plain": "chart"}
    for svg in ("<svg><a href='java&#x09;script&#58;x'>a</a></svg>", "<svg/onload=x>", "<svg><foreignObject/></svg>",
                "<svg><set attributeName='href' to='javascript:x'/></svg>", "<svg><SCRIPT>x</SCRIPT></svg>"):
        assert "image/svg+xml" not in safe_bundle({"image/svg+xml": svg}), svg
    assert safe_bundle({"image/svg+xml": SVG_PLOT}) == {"image/svg+xml": SVG_PLOT}


# ------------------------------------------------------------------ real JupyterLab


BROWSER_BLOCK = """\
from IPython.display import display, HTML, Javascript, Markdown
display(HTML('<img src=x onerror="window.__pwned = 1">'))
display(HTML('<script>window.__pwned = 2</script>'))
display(HTML('<svg><animate onbegin="window.__pwned = 3" attributeName=x dur=1s></animate></svg>'))
display(Javascript('window.__pwned = 4'))
display(Markdown('<img src=x onerror="window.__pwned = 5">'))
display(HTML('<noscript><p title="</noscript><img src=x onerror=window.__pwned=6>">'))
display(HTML('<a href="javascript:window.__pwned=7" id="agentnb-fake">click</a>'))
print('payloads' + '-shown-ok')
"""


@pytest.mark.browser
@pytest.mark.slow
@needs_browser
def test_jupyterlab_runs_no_payload_live_nor_after_save_and_reopen(tmp_path):
    """In real JupyterLab: the chat's outputs set nothing in ``window`` (live, on the final page, and with
    the saved notebook reopened trusted), while the same ``<img onerror>`` from the user's own cell does —
    the control that shows the page would have run it."""
    control = "from IPython.display import HTML\nHTML('<img src=x onerror=\"window.__control = 1\">')"
    replies = [code(BROWSER_BLOCK), code("print('second')"), "TERMINATE"]  # the 2nd approval holds the live panel
    with ScriptedModelServer(replies) as srv:
        lab = JupyterServer(tmp_path, "lab", {"OAI_CONFIG_LIST": json.dumps(srv.config_list())})
        lab.root.mkdir(parents=True)
        write_notebook(lab.root / "xss.ipynb", ["%load_ext agentnb",
                                                "%%agents --work-dir coding --max-turns 4\nShow the data.", control])
        url = f"{lab.base}/lab/workspaces/xss/tree/xss.ipynb?token={lab.token}"
        with lab, chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            open_notebook(page, url)
            run_cells(page, 3)
            cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(1)
            cell.locator(".agentnb-panel button:has-text('Approve')").first.click(timeout=120_000)
            second = cell.locator(".agentnb-approval").nth(1).locator("button:has-text('Approve')")
            second.wait_for(timeout=120_000)
            cell.locator(".agentnb-panel .jp-OutputArea-output", has_text="payloads-shown-ok").wait_for()
            page.wait_for_timeout(1500)  # an onerror / onbegin would have fired by now
            assert page.evaluate("window.__pwned") is None  # the live panel's Output widget
            second.click()
            cell.locator(".agentnb-static:has-text('✔ finished')").wait_for(timeout=120_000)
            page.wait_for_function("window.__control === 1", timeout=60_000)
            page.wait_for_timeout(1500)
            assert page.evaluate("window.__pwned") is None  # the final page
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 60
            while "agentnb-page" not in (lab.root / "xss.ipynb").read_text():
                assert time.monotonic() < deadline, "the notebook was not saved"
                time.sleep(0.3)
            lab.shutdown_kernels()
            page.close()
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            open_notebook(page, url)
            page.locator(".agentnb-static").first.wait_for(state="visible", timeout=60_000)
            page.wait_for_function("window.__control === 1", timeout=60_000)  # reopened trusted
            page.wait_for_timeout(1500)
            assert page.evaluate("window.__pwned") is None
            assert "click" in page.locator(".agentnb-static").first.inner_text()

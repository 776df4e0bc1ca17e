"""Human in the loop: approve, edit or reject code before it runs (``notebooks/approval.ipynb``)."""

from __future__ import annotations

from .. import testing as reply
from .base import REPLAY_NOTE, Demo, code, md, setup

CELLS = [
    md("""
# Human in the loop: approve, edit or reject code before it runs

With `code_execution_config={"approval": "always"}` the user proxy asks before running each code block
(`"first"` asks once, `"never"` runs everything). *Who* answers is pluggable:

- in JupyterLab, the `%%agents` magic shows a panel with **Approve / Edit / Reject** buttons;
- with the sync API (`initiate_chat`), the question comes as a text prompt (`input()`);
- or a **policy**: any function `request -> ApprovalDecision`, installed with `agentnb.human_handlers`.

A rejected block never runs; the model is told why and can try again.
"""),
    md(REPLAY_NOTE),
    setup('''llm_config = demo_llm_config("approval")
panel_llm_config = demo_llm_config("approval", "panel_assistant")'''),
    md("""
## A policy approver

This policy rejects code that touches the network or names a file outside the work folder, and approves
everything else. It is just a function, so it is easy to test on its own first.
"""),
    code('''import os
import re
from pathlib import Path

from agentnb import ApprovalDecision, ApprovalRequest

WORK_DIR = Path("coding").resolve()
NETWORK = re.compile(r"\\b(urllib|requests|httpx|aiohttp|socket|http\\.client|ftplib|smtplib|curl|wget)\\b")
PATH_LITERAL = re.compile(r"""["']((?:/|~|\\.\\.)[^"']*)["']""")
decisions = []


def inside_work_dir(path: str) -> bool:
    return (WORK_DIR / os.path.expanduser(path)).resolve().is_relative_to(WORK_DIR)


def policy(request: ApprovalRequest) -> ApprovalDecision:
    if NETWORK.search(request.code):
        decision = ApprovalDecision(approved=False, reason="network access is not allowed here; work offline")
    elif not all(inside_work_dir(p) for p in PATH_LITERAL.findall(request.code)):
        decision = ApprovalDecision(approved=False, reason=f"only files inside {WORK_DIR.name}/ may be used")
    else:
        decision = ApprovalDecision(approved=True)
    decisions.append((request.code, decision))
    return decision


for snippet in ["print(sum(range(10)))", "open('/etc/passwd').read()", "import requests",
                "open('../secrets.txt')", "open('results/table.csv', 'w')"]:
    decision = policy(ApprovalRequest(kind="code", agent="user_proxy", code=snippet))
    print(f"{snippet!r:36} -> {'approve' if decision.approved else 'reject: ' + decision.reason}")
decisions.clear()'''),
    md("""
Now a real chat. `human_handlers(approver=policy)` installs the policy for the chats run inside the block.
The assistant's first idea is to download the book; the policy rejects it, and the assistant works offline.
"""),
    code('''assistant = autogen.AssistantAgent("assistant", llm_config=llm_config)
user_proxy = autogen.UserProxyAgent(
    "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=6,
    is_termination_msg=lambda x: (x.get("content") or "").rstrip().endswith("TERMINATE"),
    code_execution_config={"work_dir": "coding", "use_docker": False, "approval": "always"},
)

with autogen.human_handlers(approver=policy):
    result = user_proxy.initiate_chat(
        assistant,
        message="Count how often each word occurs in the opening line of A Tale of Two Cities "
                "and save the counts to word_counts.csv.",
    )'''),
    md("What the policy decided, and proof that the rejected block never ran (it would have written `pg98.txt`):"),
    code('''for block, decision in decisions:
    verdict = "approved" if decision.approved else f"rejected ({decision.reason})"
    print(f"{block.splitlines()[0]!r:40} {verdict}")

print("pg98.txt exists:", (WORK_DIR / "pg98.txt").exists())
print((WORK_DIR / "word_counts.csv").read_text())'''),
    md("""
## The `%%agents` magic and its panel

`%load_ext agentnb` adds the `%%agents` cell magic: the cell body is the task, the chat runs in the
background and shows itself in a panel, so the buttons stay live. `--approve always` makes the agents the
magic builds ask before every block; `--team` runs your own agents instead (here a pair that also asks
always); `--out chat` stores the `ChatHandle`.

In JupyterLab you click **Approve** (or **Edit**, or **Reject** with a reason) in the panel. When no one is
there to click (nbval, a CI run of this notebook), the policy above answers instead: `answer_when_unattended`
installs it for this session only when no widget front end is attached, and the panel shows its decisions.
"""),
    code('''%load_ext agentnb
from agentnb.demo import answer_when_unattended

unattended = answer_when_unattended(policy)  # False in JupyterLab: there, you click

panel_proxy = autogen.UserProxyAgent(
    "user_proxy", human_input_mode="NEVER",
    is_termination_msg=lambda x: (x.get("content") or "").rstrip().endswith("TERMINATE"),
    code_execution_config={"work_dir": "coding", "use_docker": False, "approval": "always"},
)
team = (panel_proxy, autogen.AssistantAgent("assistant", llm_config=panel_llm_config))'''),
    code('''%%agents --approve always --team team --out chat
Print the first ten square numbers.''', "nbval-ignore-output"),
    md("`await chat` returns the `ChatResult` once the chat has ended:"),
    code('''panel_result = await chat
print(panel_result.summary)'''),
]

REPLIES = {
    "assistant": [
        reply.code(
            '''import urllib.request

url = "https://www.gutenberg.org/cache/epub/98/pg98.txt"
text = urllib.request.urlopen(url, timeout=30).read().decode("utf-8")
with open("pg98.txt", "w") as f:
    f.write(text)
print(len(text), "characters downloaded")''',
            before="First I'll download the book from Project Gutenberg and keep a local copy:",
        ),
        reply.code(
            '''import collections
import csv
import re

line = ("It was the best of times, it was the worst of times, "
        "it was the age of wisdom, it was the age of foolishness")
counts = collections.Counter(re.findall(r"[a-z']+", line.lower()))
with open("word_counts.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["word", "count"])
    writer.writerows(counts.most_common())
for word, n in counts.most_common(6):
    print(f"{word:>6} {n}")
print(len(counts), "distinct words saved to word_counts.csv")''',
            before="Understood: no network access. The opening line is well known, so I'll embed it and count "
                   "the words offline:",
        ),
        reply.text("Saved to word_counts.csv: 'it', 'was', 'the' and 'of' occur 4 times each, 'times' and 'age' "
                   "twice, and the line has 10 distinct words.\n\nTERMINATE"),
    ],
    "panel_assistant": [
        reply.code("squares = [n * n for n in range(1, 11)]\nprint(squares)"),
        reply.text("The first ten square numbers are 1, 4, 9, 16, 25, 36, 49, 64, 81 and 100.\n\nTERMINATE"),
    ],
}

DEMO = Demo("approval", CELLS, REPLIES)

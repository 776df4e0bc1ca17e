"""Export a conversation as a notebook (``notebooks/export.ipynb``)."""

from __future__ import annotations

from .. import testing as reply
from .base import REPLAY_NOTE, Demo, code, md, setup

CELLS = [
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
    code('''import html
import re

import nbformat

path = result.to_notebook("exported/primes_chat.ipynb", overwrite=True)
exported = nbformat.read(path, as_version=4)
nbformat.validate(exported)
print(path.name, "is a valid notebook:", len(exported.cells), "cells")
for cell in exported.cells:  # message cells are escaped HTML: show their first line of text
    text = html.unescape(re.sub(r"<[^>]+>", "\\n", cell.source)) if cell.cell_type == "markdown" else cell.source
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    print(f"  {cell.cell_type:8} {first[:70]}")'''),
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

REPLIES = {
    "assistant": [
        reply.code(
            '''import statistics

primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
print("mean:", statistics.mean(primes))
print("sample standard deviation:", round(statistics.stdev(primes), 4))''',
            before="I'll use the standard library's statistics module:",
        ),
        reply.text("The first 10 primes have mean 12.9 and sample standard deviation 9.024.\n\nTERMINATE"),
    ],
}

DEMO = Demo("export", CELLS, REPLIES)

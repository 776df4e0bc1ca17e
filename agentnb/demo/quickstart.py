"""Quickstart: an assistant that writes and runs code (``notebooks/quickstart.ipynb``)."""

from __future__ import annotations

from .. import testing as reply
from .base import REPLAY_NOTE, Demo, code, md, setup

CELLS = [
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

REPLIES = {
    "assistant": [
        reply.code(
            '''import numpy as np
import matplotlib.pyplot as plt

principal, rate, years = 1000.0, 0.05, 30
year = np.arange(years + 1)
balance = principal * (1 + rate) ** year

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(year, balance, marker="o", markersize=3)
ax.set_xlabel("year")
ax.set_ylabel("balance (USD)")
ax.set_title("1,000 USD at 5% compounded yearly")
ax.grid(alpha=0.3)
plt.show()

print(f"final balance after {years} years: {balance[-1]:,.2f} USD")''',
            before="Plan:\n1. Compute the balance for every year 0-30 as `1000 * 1.05 ** year`.\n"
                   "2. Plot balance against year with matplotlib.\n"
                   "3. Print the final balance rounded to cents.\n\nRun this code:",
        ),
        reply.text("The code ran without errors. The chart curves upward because each year's interest is earned "
                   "on a larger balance. After 30 years the balance is 4,321.94 USD, about 4.3 times the "
                   "original 1,000 USD (simple interest would give only 2,500 USD).\n\nTERMINATE"),
    ],
}

DEMO = Demo("quickstart", CELLS, REPLIES)

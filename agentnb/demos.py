"""Recorded conversations for the demo notebooks, and the ``llm_config`` each notebook uses.

    from agentnb.demos import demo_llm_config
    llm_config = demo_llm_config("quickstart")            # assistant's config
    manager_config = demo_llm_config("groupchat", "chat_manager")

With env ``AGENTNB_DEMO_MODEL=replay`` the config points at a :class:`ScriptedModelServer`
(127.0.0.1, started once per process, stopped at exit) that answers with the replies recorded
below, so a notebook runs the same way everywhere: in tests, on Binder, with no key. Otherwise
``None`` is returned: the default model (``OPENAI_API_KEY`` / ``OAI_CONFIG_LIST``, else the
embedded local model).

Each agent's reply is chosen by its position in the conversation (how many times that agent
has already spoken), not by a queue, so re-running a notebook cell replays the same chat.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from typing import Any

from .errors import ConfigError
from .testing import ScriptedModelServer, code, forever, text, tool_calls

MODE_ENV = "AGENTNB_DEMO_MODEL"
REPLAY = "replay"
MANAGER = "chat_manager"
"""Queue of a GroupChatManager's speaker choices (its default name)."""

# --------------------------------------------------------------------------- quickstart

QUICKSTART_TASK = ("Plot how 1,000 USD grows over 30 years at 5% annual interest, compounded yearly. "
                   "Show the chart and print the final balance.")

_QUICKSTART = {
    "assistant": [
        code(
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
        text("The code ran without errors. The chart curves upward because each year's interest is earned "
             "on a larger balance. After 30 years the balance is 4,321.94 USD, about 4.3 times the "
             "original 1,000 USD (simple interest would give only 2,500 USD).\n\nTERMINATE"),
    ],
}

# --------------------------------------------------------------------------- group chat

GROUPCHAT_TASK = "Which of the first 30 Fibonacci numbers are prime? Show them on a chart."

_GROUPCHAT: dict[str, list[Any]] = {
    MANAGER: ["planner", "coder", "user_proxy", "reviewer"],
    "planner": [
        text("Plan:\n"
             "1. coder: generate F(0)..F(29) iteratively (F(0) = 0, F(1) = 1).\n"
             "2. coder: test each number for primality by trial division up to sqrt(n); 0 and 1 are not "
             "prime.\n"
             "3. coder: print the primes with their indices, and plot all 30 numbers on a log scale with "
             "the primes highlighted.\n"
             "4. user_proxy: run the code.\n"
             "5. reviewer: check the output against the known Fibonacci primes."),
    ],
    "coder": [
        code(
            '''import math
import matplotlib.pyplot as plt

def is_prime(n):
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))

fib = [0, 1]
while len(fib) < 30:
    fib.append(fib[-1] + fib[-2])

primes = [(i, f) for i, f in enumerate(fib) if is_prime(f)]
for i, f in primes:
    print(f"F({i}) = {f}")
print(len(primes), "primes among the first 30 Fibonacci numbers")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(range(1, 30), fib[1:], "o", color="lightgray", label="Fibonacci")
ax.semilogy([i for i, _ in primes], [f for _, f in primes], "o", color="crimson", label="prime")
ax.set_xlabel("index n")
ax.set_ylabel("F(n)")
ax.legend()
plt.show()''',
            before="Here is the code for steps 1-3:",
        ),
    ],
    "reviewer": [
        text("Review of the output:\n"
             "- 9 primes: F(3)=2, F(4)=3, F(5)=5, F(7)=13, F(11)=89, F(13)=233, F(17)=1597, "
             "F(23)=28657, F(29)=514229.\n"
             "- This matches the known Fibonacci primes (OEIS A005478) below F(30). Every index is prime "
             "except n = 4, the known exception (F(4) = 3).\n"
             "- On the log scale the numbers lie on a straight line, as expected from their exponential "
             "growth.\n\nThe answer is correct and complete. TERMINATE"),
    ],
}

# --------------------------------------------------------------------------- approval

APPROVAL_TASK = ("Count how often each word occurs in the opening line of A Tale of Two Cities and save the "
                 "counts to word_counts.csv.")
PANEL_TASK = "Print the first ten square numbers."

_APPROVAL = {
    "assistant": [
        code(
            '''import urllib.request

url = "https://www.gutenberg.org/cache/epub/98/pg98.txt"
text = urllib.request.urlopen(url, timeout=30).read().decode("utf-8")
with open("pg98.txt", "w") as f:
    f.write(text)
print(len(text), "characters downloaded")''',
            before="First I'll download the book from Project Gutenberg and keep a local copy:",
        ),
        code(
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
        text("Saved to word_counts.csv: 'it', 'was', 'the' and 'of' occur 4 times each, 'times' and 'age' "
             "twice, and the line has 10 distinct words.\n\nTERMINATE"),
    ],
    "panel_assistant": [
        code("squares = [n * n for n in range(1, 11)]\nprint(squares)"),
        text("The first ten square numbers are 1, 4, 9, 16, 25, 36, 49, 64, 81 and 100.\n\nTERMINATE"),
    ],
}

# --------------------------------------------------------------------------- tools

TOOLS_TASK = "How much is 123.45 USD in EUR, and how much is 100 EUR in USD?"

_TOOLS = {
    "assistant": [
        tool_calls([
            ("currency_calculator", {"base_amount": 123.45, "base_currency": "USD", "quote_currency": "EUR"}),
            ("currency_calculator", {"base_amount": 100, "base_currency": "EUR", "quote_currency": "USD"}),
        ]),
        text("- 123.45 USD = 112.23 EUR\n- 100 EUR = 110.00 USD\n\n(at 1 EUR = 1.10 USD)\n\nTERMINATE"),
    ],
}

# --------------------------------------------------------------------------- export

EXPORT_TASK = "What are the mean and the standard deviation of the first 10 prime numbers?"

_EXPORT = {
    "assistant": [
        code(
            '''import statistics

primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
print("mean:", statistics.mean(primes))
print("sample standard deviation:", round(statistics.stdev(primes), 4))''',
            before="I'll use the standard library's statistics module:",
        ),
        text("The first 10 primes have mean 12.9 and sample standard deviation 9.024.\n\nTERMINATE"),
    ],
}

RECORDINGS: dict[str, dict[str, list[Any]]] = {
    "quickstart": _QUICKSTART,
    "groupchat": _GROUPCHAT,
    "approval": _APPROVAL,
    "tools": _TOOLS,
    "export": _EXPORT,
}
"""demo -> agent (model queue) -> that agent's replies, in order."""

# --------------------------------------------------------------------------- replay server

_servers: dict[str, ScriptedModelServer] = {}
_lock = threading.Lock()
_atexit_registered = False


def _turn(agent: str, body: dict) -> int:
    """How many times ``agent`` has spoken already, read from the request's messages."""
    messages = body.get("messages") or []
    if agent == MANAGER:  # speaker selection: system prompt(s) + the transcript so far
        return max(0, sum(1 for m in messages if m.get("role") != "system") - 1)
    return sum(1 for m in messages if m.get("role") == "assistant")


def _replayer(agent: str, replies: list[Any]) -> Callable[[dict], Any]:
    def reply(body: dict) -> Any:
        turn = _turn(agent, body)
        return replies[turn] if turn < len(replies) else text("TERMINATE")

    return reply


def replay_server(demo: str) -> ScriptedModelServer:
    """The started replay server of ``demo`` (one per demo and process, stopped at exit)."""
    global _atexit_registered
    if demo not in RECORDINGS:
        raise ConfigError(f"no recorded demo {demo!r}; known: {', '.join(sorted(RECORDINGS))}")
    with _lock:
        server = _servers.get(demo)
        if server is None:
            server = ScriptedModelServer(model=f"demo-{demo}")
            for agent, replies in RECORDINGS[demo].items():
                server.add(forever(_replayer(agent, replies)), model=agent)
            server.start()
            _servers[demo] = server
            if not _atexit_registered:
                atexit.register(stop_replay_servers)
                _atexit_registered = True
        return server


def stop_replay_servers() -> None:
    """Stop every replay server this process started."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.stop()


def demo_mode() -> str:
    """``"replay"`` when env ``AGENTNB_DEMO_MODEL=replay``, else ``"default"``."""
    return REPLAY if os.environ.get(MODE_ENV, "").strip().lower() == REPLAY else "default"


def demo_llm_config(demo: str, agent: str | None = None) -> dict | None:
    """The llm_config for ``agent`` in ``demo``: the recorded replies in replay mode, else ``None``."""
    if demo_mode() != REPLAY:
        return None
    name = agent or "assistant"
    recorded = RECORDINGS.get(demo, {})
    if demo in RECORDINGS and name not in recorded:
        raise ConfigError(f"demo {demo!r} has no recorded replies for {name!r}; "
                          f"recorded agents: {', '.join(recorded)}")
    return replay_server(demo).llm_config(model=name)


# --------------------------------------------------------------------------- unattended notebooks


async def approve_when_unattended(handle: Any, *, poll: float = 0.05, timeout: float = 300.0) -> int:
    """Press Approve on every approval card of a ``%%agents`` chat until it ends, when nobody can click.

    With a widget front end (JupyterLab, VS Code) this returns 0 at once: the person clicks. Otherwise
    (nbval, nbclient, a CI run) it clicks each card's Approve button, as a click would, and returns how many.
    """
    import asyncio

    from .views import view_mode

    panel = getattr(handle, "panel", None)
    if panel is None or view_mode() == "widget":
        return 0
    from .notebook.controls import ApprovalCard

    clicked, loop = 0, asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not handle.done():
        for card in panel.items:
            if isinstance(card, ApprovalCard) and card.decision is None:
                card.approve_button.click()
                clicked += 1
        if loop.time() > deadline:
            raise TimeoutError(f"chat {handle.name} still running after {timeout:g}s")
        await asyncio.sleep(poll)
    return clicked

"""Group chat: planner, coder, reviewer (``notebooks/groupchat.ipynb``)."""

from __future__ import annotations

from typing import Any

from .. import testing as reply
from .base import REPLAY_NOTE, Demo, code, md, setup

CELLS = [
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

REPLIES: dict[str, list[Any]] = {
    "chat_manager": ["planner", "coder", "user_proxy", "reviewer"],
    "planner": [
        reply.text("Plan:\n"
                   "1. coder: generate F(0)..F(29) iteratively (F(0) = 0, F(1) = 1).\n"
                   "2. coder: test each number for primality by trial division up to sqrt(n); 0 and 1 are not "
                   "prime.\n"
                   "3. coder: print the primes with their indices, and plot all 30 numbers on a log scale with "
                   "the primes highlighted.\n"
                   "4. user_proxy: run the code.\n"
                   "5. reviewer: check the output against the known Fibonacci primes."),
    ],
    "coder": [
        reply.code(
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
        reply.text("Review of the output:\n"
                   "- 9 primes: F(3)=2, F(4)=3, F(5)=5, F(7)=13, F(11)=89, F(13)=233, F(17)=1597, "
                   "F(23)=28657, F(29)=514229.\n"
                   "- This matches the known Fibonacci primes (OEIS A005478) below F(30). Every index is prime "
                   "except n = 4, the known exception (F(4) = 3).\n"
                   "- On the log scale the numbers lie on a straight line, as expected from their exponential "
                   "growth.\n\nThe answer is correct and complete. TERMINATE"),
    ],
}

DEMO = Demo("groupchat", CELLS, REPLIES)

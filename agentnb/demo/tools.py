"""Tools: let the model call your Python functions (``notebooks/tools.ipynb``)."""

from __future__ import annotations

from .. import testing as reply
from .base import REPLAY_NOTE, Demo, code, md, setup

CELLS = [
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

REPLIES = {
    "assistant": [
        reply.tool_calls([
            ("currency_calculator", {"base_amount": 123.45, "base_currency": "USD", "quote_currency": "EUR"}),
            ("currency_calculator", {"base_amount": 100, "base_currency": "EUR", "quote_currency": "USD"}),
        ]),
        reply.text("- 123.45 USD = 112.23 EUR\n- 100 EUR = 110.00 USD\n\n(at 1 EUR = 1.10 USD)\n\nTERMINATE"),
    ],
}

DEMO = Demo("tools", CELLS, REPLIES)

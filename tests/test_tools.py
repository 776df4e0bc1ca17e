"""Tools / function calling, through the real openai SDK against the scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import threading
from typing import Annotated, Literal

import pydantic
import pytest

import agentnb
from agentnb import AssistantAgent, ConversableAgent, UserProxyAgent
from agentnb.agents import tools
from agentnb.agents.human import human_handlers
from agentnb.agents.schema import get_function_schema, tool_signature
from agentnb.errors import ConfigError
from agentnb.messages import ApprovalDecision, ToolCallFinished, ToolCallProposed, subscribe
from agentnb.testing import ScriptedModelServer, tool_calls

Currency = Literal["USD", "EUR"]
RATES = {("USD", "EUR"): 0.9, ("EUR", "USD"): 1.1}
GUARD = 20.0  # seconds before a concurrency test gives up instead of hanging (never reached when it works)


def exchange(base_amount: Annotated[float, "Amount"],
             base_currency: Annotated[Currency, "Base"] = "USD",
             quote_currency: Annotated[Currency, "Quote"] = "EUR") -> str:
    rate = 1.0 if base_currency == quote_currency else RATES[(base_currency, quote_currency)]
    return f"{base_amount * rate:.2f} {quote_currency}"


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(pydantic.BaseModel):
    x: int
    y: int = 0


@dataclasses.dataclass
class Box:
    width: int
    label: str


def ends_with_terminate(message: dict) -> bool:
    """The termination rule 0.2 notebooks pass explicitly (0.2's default is ``content == "TERMINATE"``)."""
    return (message.get("content") or "").rstrip().endswith("TERMINATE")


def pair(server: ScriptedModelServer, *, stream: bool = False, **proxy_kw) -> tuple[UserProxyAgent, AssistantAgent]:
    llm_config = server.llm_config(**({"stream": True} if stream else {}))
    assistant = AssistantAgent("assistant", llm_config=llm_config, system_message="Use tools.")
    proxy_kw.setdefault("code_execution_config", False)
    proxy_kw.setdefault("is_termination_msg", ends_with_terminate)
    user_proxy = UserProxyAgent("user_proxy", human_input_mode="NEVER", **proxy_kw)
    return user_proxy, assistant


def tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m["role"] == "tool"]


def call_message(*calls: tuple[str, object, str]) -> dict:
    """An assistant message with tool calls ``(id, name, arguments)`` (arguments: str or JSON-able)."""
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": cid, "type": "function",
         "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
        for cid, name, args in calls]}


def run_calls(agent: ConversableAgent, message: dict):
    return asyncio.run(tools.generate_tool_calls_reply(agent, message))


def executor_with(*funcs, **named) -> ConversableAgent:
    agent = ConversableAgent("runner", llm_config=False, human_input_mode="NEVER")
    agent.register_function({f.__name__: f for f in funcs} | named)
    return agent


# ------------------------------------------------------------------ schema


def test_currency_schema():
    schema = get_function_schema(exchange, description="Currency exchange calculator.")
    assert schema["type"] == "function"
    fn = schema["function"]
    assert (fn["name"], fn["description"]) == ("exchange", "Currency exchange calculator.")
    params = fn["parameters"]
    assert params["type"] == "object" and params["required"] == ["base_amount"]
    assert params["properties"] == {
        "base_amount": {"type": "number", "description": "Amount"},
        "base_currency": {"type": "string", "enum": ["USD", "EUR"], "default": "USD", "description": "Base"},
        "quote_currency": {"type": "string", "enum": ["USD", "EUR"], "default": "EUR", "description": "Quote"},
    }


def test_schema_types_enum_list_dict_optional_nested():
    def draw(color: Color, points: Annotated[list[Point], "Corners"], tags: dict[str, int] | None = None,
             box: Box | None = None, json: int = 1) -> str:
        return ""

    params = get_function_schema(draw, description="d")["function"]["parameters"]
    props, defs = params["properties"], params["$defs"]
    assert params["required"] == ["color", "points"]
    assert defs["Color"]["enum"] == ["red", "blue"] and props["color"] == {"$ref": "#/$defs/Color"}
    assert props["points"] == {"type": "array", "items": {"$ref": "#/$defs/Point"}, "description": "Corners"}
    assert defs["Point"]["required"] == ["x"] and defs["Point"]["properties"]["y"]["default"] == 0
    assert {"type": "object", "additionalProperties": {"type": "integer"}} in props["tags"]["anyOf"]
    assert {"type": "null"} in props["tags"]["anyOf"] and props["tags"]["default"] is None
    assert defs["Box"]["required"] == ["width", "label"]
    # a name BaseModel uses is fine; as in AutoGen 0.2 an un-Annotated parameter is described by its name
    assert props["json"] == {"type": "integer", "default": 1, "description": "json"}
    assert "additionalProperties" not in params  # 0.2 does not emit it (extra arguments still fail validation)

    def no_args() -> str:
        return ""

    assert get_function_schema(no_args, description="d")["function"]["parameters"] == {
        "type": "object", "properties": {}, "required": []}  # 0.2 always sends `required`

    args, kwargs = tool_signature(draw).validate({"color": "blue", "points": [{"x": 1}], "box": {"width": 2,
                                                                                                 "label": "b"}})
    assert args == [] and kwargs == {"color": Color.BLUE, "points": [Point(x=1)], "box": Box(2, "b")}


def test_string_annotations_are_resolved():
    namespace: dict = {}
    exec("from __future__ import annotations\nfrom typing import Annotated\n"
         "def f(n: Annotated[int, 'How many']) -> str: return str(n)\n", namespace)
    props = get_function_schema(namespace["f"], description="d")["function"]["parameters"]["properties"]
    assert props == {"n": {"type": "integer", "description": "How many"}}


class Opaque:
    pass


def no_hint(amount):
    return amount


def star(*values: int) -> int:
    return 0


def options(**options: int) -> int:
    return 0


@pytest.mark.parametrize("func, words", [
    (no_hint, ["parameter 'amount' of tool 'no_hint'", "no type annotation"]),
    (star, ["*values", "not supported"]),
    (options, ["**options", "not supported"]),
])
def test_bad_parameters_fail_at_registration(func, words):
    with pytest.raises(ConfigError) as info:
        get_function_schema(func, description="d")
    assert all(w in str(info.value) for w in words)


def test_undescribable_type_names_parameter_and_function():
    def handle(thing: Opaque, callback: int) -> str:
        return ""

    with pytest.raises(ConfigError, match=r"parameter 'thing' of tool 'handle'.*Opaque"):
        get_function_schema(handle, description="d")


# ------------------------------------------------------------------ registration


def test_register_requires_llm_config_and_description():
    proxy = UserProxyAgent("proxy", llm_config=False)
    with pytest.raises(ConfigError, match="agent 'proxy' has no llm_config; tools need a model"):
        proxy.register_for_llm(description="x")
    assistant = AssistantAgent("a", llm_config={"model": "m", "base_url": "http://127.0.0.1:9/v1"})

    def nodoc(x: int) -> int:
        return x

    with pytest.raises(ConfigError, match="'nodoc' needs a description"):
        assistant.register_for_llm()(nodoc)

    def documented(x: int) -> int:
        """Double a number."""
        return 2 * x

    assistant.register_for_llm()(documented)
    assert assistant.tools[0]["function"]["description"] == "Double a number."
    with pytest.raises(ConfigError, match="tool name 'bad name'"):
        assistant.register_for_llm(name="bad name", description="d")(documented)


def test_decorators_stack_in_either_order_and_replace_by_name():
    assistant = AssistantAgent("a", llm_config={"model": "m", "base_url": "http://127.0.0.1:9/v1"})
    proxy = UserProxyAgent("p", human_input_mode="NEVER")

    @proxy.register_for_execution()
    @assistant.register_for_llm(name="convert", description="first")
    def exchange_a(base_amount: Annotated[float, "Amount"]) -> str:
        return "a"

    @assistant.register_for_llm(name="convert2", description="second")
    @proxy.register_for_execution()
    def exchange_b(base_amount: Annotated[float, "Amount"]) -> str:
        return "b"

    assert exchange_a(1) == "a"  # returned unchanged
    assert proxy.function_map == {"convert": exchange_a, "convert2": exchange_b}
    assert [t["function"]["name"] for t in assistant.tools] == ["convert", "convert2"]
    assistant.register_for_llm(name="convert", description="replaced")(exchange_a)
    assert [t["function"]["description"] for t in assistant.tools] == ["second", "replaced"]
    assert assistant.llm_config["tools"] == assistant.tools
    assistant.update_tool_signature("convert", is_remove=True)
    assert [t["function"]["name"] for t in assistant.tools] == ["convert2"]


def test_module_level_register_function():
    assistant = AssistantAgent("a", llm_config={"model": "m", "base_url": "http://127.0.0.1:9/v1"})
    proxy = UserProxyAgent("p", human_input_mode="NEVER")
    agentnb.register_function(exchange, caller=assistant, executor=proxy, name="fx", description="Convert.")
    assert proxy.function_map["fx"].__wrapped__ is exchange
    assert not hasattr(exchange, "_name")  # the user's function is not mutated
    assert assistant.tools[0]["function"]["name"] == "fx"
    assert proxy.tools == []


# ------------------------------------------------------------------ end to end


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_currency_exchange_end_to_end(stream):
    ran = []
    with ScriptedModelServer([
        tool_calls([("currency_calculator", {"base_amount": 123.45, "base_currency": "USD",
                                             "quote_currency": "EUR"})]),
        "123.45 USD is 111.11 EUR. TERMINATE",
    ]) as server:
        user_proxy, assistant = pair(server, stream=stream)

        @user_proxy.register_for_execution()
        @assistant.register_for_llm(description="Currency exchange calculator.")
        def currency_calculator(base_amount: Annotated[float, "Amount of currency in base_currency"],
                                base_currency: Annotated[Currency, "Base currency"] = "USD",
                                quote_currency: Annotated[Currency, "Quote currency"] = "EUR") -> str:
            ran.append((base_amount, base_currency, quote_currency))
            return exchange(base_amount, base_currency, quote_currency)

        events = []
        with subscribe(events.append):
            result = user_proxy.initiate_chat(assistant, message="How much is 123.45 USD in EUR?", silent=True)

    assert ran == [(123.45, "USD", "EUR")]
    first, second = server.requests
    assert first["tools"] == assistant.tools
    assert first["tools"][0]["function"]["parameters"]["required"] == ["base_amount"]
    assert bool(first.get("stream")) is stream
    assert tool_messages(second) == [{"role": "tool", "tool_call_id": "call_1", "content": "111.11 EUR"}]
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "currency_calculator"
    assert result.summary == "123.45 USD is 111.11 EUR."
    proposed = [e for e in events if isinstance(e, ToolCallProposed)]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(e.executor, e.call_id, e.name) for e in proposed] == [("user_proxy", "call_1", "currency_calculator")]
    assert [(e.content, e.is_error) for e in finished] == [("111.11 EUR", False)]


def test_bad_arguments_reach_the_model_which_retries():
    with ScriptedModelServer([
        tool_calls([("exchange", {"base_currency": "GBP"})]),
        tool_calls([("exchange", {"base_amount": 10})]),
        "Done. TERMINATE",
    ]) as server:
        user_proxy, assistant = pair(server)
        agentnb.register_function(exchange, caller=assistant, executor=user_proxy, description="Convert.")
        user_proxy.initiate_chat(assistant, message="convert", silent=True)
    error = tool_messages(server.requests[1])[0]["content"]
    assert error.startswith("Error: invalid arguments for exchange:")
    assert "base_amount: Field required" in error and "base_currency: Input should be 'USD' or 'EUR'" in error
    assert error.endswith("Fix the arguments and call again.")
    assert tool_messages(server.requests[2])[-1]["content"] == "9.00 EUR"


def test_raising_tool_gives_error_result_and_chat_goes_on():
    with ScriptedModelServer([tool_calls([("divide", {"a": 1, "b": 0})]), "Cannot divide. TERMINATE"]) as server:
        user_proxy, assistant = pair(server)

        @user_proxy.register_for_execution()
        @assistant.register_for_llm(description="Divide a by b.")
        def divide(a: int, b: int) -> float:
            return a / b

        result = user_proxy.initiate_chat(assistant, message="1/0?", silent=True)
    assert tool_messages(server.requests[1])[0]["content"] == "Error: ZeroDivisionError: division by zero"
    assert result.summary == "Cannot divide."


@pytest.mark.parametrize("how", ["code_execution_config", "tool_approval"])
def test_rejected_tool_call_never_runs(how):
    side_effects = []
    asked = []

    def approver(request):
        asked.append(request)
        return ApprovalDecision(approved=False, reason="not on a Friday")

    with ScriptedModelServer([tool_calls([("delete_files", {"path": "/data"})]), "OK. TERMINATE"]) as server:
        kw = {"code_execution_config": {"approval": "always"}} if how == "code_execution_config" else {}
        user_proxy, assistant = pair(server, **kw)
        if how == "tool_approval":
            user_proxy.tool_approval = "always"

        @user_proxy.register_for_execution()
        @assistant.register_for_llm(description="Delete files.")
        def delete_files(path: str) -> str:
            side_effects.append(path)
            return "deleted"

        with human_handlers(approver=approver):
            user_proxy.initiate_chat(assistant, message="clean up", silent=True)
    assert side_effects == []
    assert [(r.kind, r.agent, r.tool_name, r.code) for r in asked] == [
        ("tool", "user_proxy", "delete_files", 'delete_files(path="/data")')]
    content = tool_messages(server.requests[1])[0]["content"]
    assert content == "Error: the user rejected the call to delete_files; it was not run. Reason: not on a Friday"


def test_approval_first_asks_once_and_edits_apply():
    done, asked = [], []

    def approver(request):
        asked.append(request.arguments)
        return ApprovalDecision(approved=True, code='double({"n": 21})')

    def double(n: int) -> int:
        done.append(n)
        return 2 * n

    agent = executor_with(double)
    agent.tool_approval = "first"
    message = call_message(("c1", "double", {"n": 1}), ("c2", "double", {"n": 2}))
    with human_handlers(approver=approver):
        final, reply = run_calls(agent, message)
    assert final and asked == ['{"n": 1}']
    assert sorted(done) == [2, 21]
    assert [r["content"] for r in reply["tool_responses"]] == ["42", "4"]


# ------------------------------------------------------------------ concurrency


def test_async_tool_calls_run_concurrently_and_keep_order():
    async def main():
        first_in, second_in = asyncio.Event(), asyncio.Event()

        async def ping() -> str:
            first_in.set()
            await asyncio.wait_for(second_in.wait(), GUARD)
            return "ping done"

        async def pong() -> str:
            second_in.set()
            await asyncio.wait_for(first_in.wait(), GUARD)
            return "pong done"

        agent = executor_with(ping, pong)
        return await tools.generate_tool_calls_reply(agent, call_message(("a", "ping", {}), ("b", "pong", {})))

    final, reply = asyncio.run(main())
    assert final and reply["role"] == "tool"
    assert reply["tool_responses"] == [{"tool_call_id": "a", "role": "tool", "content": "ping done"},
                                       {"tool_call_id": "b", "role": "tool", "content": "pong done"}]
    assert reply["content"] == "ping done\n\npong done"


def test_sync_tools_run_in_threads_concurrently():
    left_in, right_in = threading.Event(), threading.Event()

    def left() -> str:
        left_in.set()
        return "left" if right_in.wait(GUARD) else "left alone"

    def right() -> str:
        right_in.set()
        return "right" if left_in.wait(GUARD) else "right alone"

    final, reply = run_calls(executor_with(left, right), call_message(("1", "left", {}), ("2", "right", {})))
    assert final and [r["content"] for r in reply["tool_responses"]] == ["left", "right"]


def test_streamed_parallel_tool_calls_through_a_chat():
    async def main():
        first_in, second_in = asyncio.Event(), asyncio.Event()
        async with ScriptedModelServer([tool_calls([("ping", {"n": 1}), ("pong", {"n": 2})]), "TERMINATE"]) as s:
            user_proxy, assistant = pair(s, stream=True)

            @user_proxy.register_for_execution()
            @assistant.register_for_llm(description="Ping.")
            async def ping(n: int) -> str:
                first_in.set()
                await asyncio.wait_for(second_in.wait(), GUARD)
                return f"ping {n}"

            @user_proxy.register_for_execution()
            @assistant.register_for_llm(description="Pong.")
            async def pong(n: int) -> str:
                second_in.set()
                await asyncio.wait_for(first_in.wait(), GUARD)
                return f"pong {n}"

            await user_proxy.a_initiate_chat(assistant, message="go", silent=True)
            return s.requests

    requests = asyncio.run(main())
    assert [(m["tool_call_id"], m["content"]) for m in tool_messages(requests[1])] == [
        ("call_1", "ping 1"), ("call_2", "pong 2")]


# ------------------------------------------------------------------ bad input, results, routing


def test_every_bad_input_becomes_an_error_result():
    calls = []

    def add(a: int, b: int = 0) -> int:
        calls.append((a, b))
        return a + b

    agent = executor_with(add)
    message = call_message(
        ("1", "add", "{not json"),
        ("2", "add", "[1, 2]"),
        ("3", "add", {"b": 1}),
        ("4", "add", {"a": 1, "c": 2}),
        ("5", "add", {"a": "three"}),
        ("6", "subtract", {"a": 1}),
        ("7", "add", {"a": 2}),
    )
    final, reply = run_calls(agent, message)
    contents = {r["tool_call_id"]: r["content"] for r in reply["tool_responses"]}
    assert final and calls == [(2, 0)] and contents["7"] == "2"
    assert contents["1"].startswith("Error: the arguments of add are not valid JSON")
    assert "must be a JSON object, not list" in contents["2"]
    assert "a: Field required" in contents["3"]
    assert "c: Extra inputs are not permitted" in contents["4"]
    assert "a: Input should be a valid integer" in contents["5"]
    assert contents["6"] == "Error: Function subtract not found. Available functions: add."
    assert all(contents[k].endswith("Fix the arguments and call again.") for k in "12345")


def test_calls_for_someone_else_are_left_alone():
    def lookup(key: str) -> str:
        return key.upper()

    bystander = executor_with()
    owner = executor_with(lookup)
    message = call_message(("x", "lookup", {"key": "k"}))
    events = []
    with subscribe(events.append):
        assert run_calls(bystander, message) == (False, None)
    assert events == []
    assert run_calls(owner, message)[1]["tool_responses"][0]["content"] == "K"


def test_function_map_functions_without_annotations_still_run():
    agent = ConversableAgent("runner", llm_config=False, function_map={"echo": lambda text, **kw: text + "!"})
    final, reply = run_calls(agent, call_message(("1", "echo", {"text": "hi", "extra": 1}), ("2", "echo", {})))
    assert final and reply["tool_responses"][0]["content"] == "hi!"
    assert "missing a required argument: 'text'" in reply["tool_responses"][1]["content"]


def test_return_values_are_serialised():
    def model() -> Point:
        return Point(x=1, y=2)

    def box() -> Box:
        return Box(3, "b")

    def mapping() -> dict:
        return {"when": dataclasses.fields, "n": [1, 2]}

    def nothing() -> None:
        return None

    final, reply = run_calls(executor_with(model, box, mapping, nothing), call_message(
        ("1", "model", {}), ("2", "box", {}), ("3", "mapping", {}), ("4", "nothing", {})))
    contents = [r["content"] for r in reply["tool_responses"]]
    assert final and contents[0] == '{"x":1,"y":2}' and json.loads(contents[1]) == {"width": 3, "label": "b"}
    assert json.loads(contents[2])["n"] == [1, 2] and contents[3] == "null"


def test_execute_function_and_legacy_function_call():
    agent = executor_with(exchange)
    ok, reply = asyncio.run(agent.a_execute_function({"name": "exchange", "arguments": '{"base_amount": 2}'}))
    assert ok and reply == {"name": "exchange", "role": "function", "content": "1.80 EUR"}
    ok, reply = asyncio.run(agent.a_execute_function({"name": "nope", "arguments": "{}"}))
    assert not ok and reply["content"].startswith("Error: Function nope not found")
    message = {"role": "assistant", "content": None,
               "function_call": {"name": "exchange", "arguments": '{"base_amount": 10, "base_currency": "EUR", '
                                                                  '"quote_currency": "USD"}'}}
    assert asyncio.run(tools.generate_function_call_reply(agent, message)) == (
        True, {"name": "exchange", "role": "function", "content": "11.00 USD"})
    assert asyncio.run(tools.generate_function_call_reply(executor_with(), message)) == (False, None)


def test_legacy_function_style_is_sent_as_functions():
    with ScriptedModelServer(["hello"]) as server:
        assistant = AssistantAgent("a", llm_config=server.llm_config())
        assistant.register_for_llm(description="Convert.", api_style="function")(exchange)
        assert assistant.tools == []
        reply = assistant.generate_reply(messages=[{"role": "user", "content": "hi"}])
    assert reply == "hello"
    request = server.requests[0]
    assert "tools" not in request and request["functions"][0]["name"] == "exchange"
    assert request["functions"][0]["parameters"]["required"] == ["base_amount"]

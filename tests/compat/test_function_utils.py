"""``autogen.function_utils`` (0.2): typed signatures and OpenAI tool schemas in 0.2's exact shape."""

from __future__ import annotations

import asyncio
import inspect
import logging
from enum import Enum
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel

import agentnb.function_utils
from agentnb.function_utils import (
    get_function_schema,
    get_missing_annotations,
    get_param_annotations,
    get_parameter_json_schema,
    get_required_params,
    get_typed_return_annotation,
    get_typed_signature,
    load_basemodels_if_needed,
    serialize_to_str,
)


class Currency(BaseModel):
    currency: Annotated[Literal["USD", "EUR"], "Currency code"]
    amount: Annotated[float, "Amount of money"] = 0


class Color(str, Enum):
    RED = "red"
    BLUE = "blue"


def exchange(base: Annotated[Currency, "Base currency: amount and currency symbol"],
             quote: Annotated[Literal["USD", "EUR"], "Quote currency symbol"] = "EUR") -> Currency:
    return Currency(currency=quote, amount=base.amount * 2)


def f(a: Annotated[str, "Parameter a"], b: int = 2, c: Annotated[float, "Parameter c"] = 0.1, *, d) -> str:
    return a


def test_typed_signature_resolves_string_annotations():
    sig = get_typed_signature(f)  # this module uses `from __future__ import annotations`
    assert sig.parameters["b"].annotation is int
    assert sig.parameters["a"].annotation == Annotated[str, "Parameter a"]
    assert sig.return_annotation is inspect.Signature.empty  # as 0.2: the return type is separate
    assert get_typed_return_annotation(f) is str
    assert get_typed_return_annotation(lambda x: x) is None


def test_param_annotations_required_and_missing():
    sig = get_typed_signature(f)
    assert set(get_param_annotations(sig)) == {"a", "b", "c"}
    assert get_required_params(sig) == ["a", "d"]
    assert get_missing_annotations(sig, ["a", "d"]) == ({"d"}, set())

    def g(x, y=1, z: int = 2):
        return x

    gsig = get_typed_signature(g)
    assert get_missing_annotations(gsig, get_required_params(gsig)) == ({"x"}, {"y"})


def test_parameter_json_schema_shapes():
    assert get_parameter_json_schema("c", str, {}) == {"type": "string", "description": "c"}
    assert get_parameter_json_schema("c", str, {"c": "ccc"}) == {"type": "string", "default": "ccc",
                                                                 "description": "c"}
    assert get_parameter_json_schema("a", Annotated[str, "parameter a"], {}) == {
        "type": "string", "description": "parameter a"}
    assert get_parameter_json_schema("e", Color, {}) == {"enum": ["red", "blue"], "title": "Color", "type": "string",
                                                         "description": "e"}

    class B(BaseModel):
        b: float
        c: str

    assert get_parameter_json_schema("b", B, {}) == {
        "description": "b",
        "properties": {"b": {"title": "B", "type": "number"}, "c": {"title": "C", "type": "string"}},
        "required": ["b", "c"], "title": "B", "type": "object"}
    with pytest.raises(ValueError, match="should be a string"):
        get_parameter_json_schema("x", Annotated[int, 3], {})


def test_function_schema_is_0_2_shape():
    def plain(a: Annotated[str, "Parameter a"], b: int = 2, c: Annotated[float, "Parameter c"] = 0.1) -> None:
        pass

    assert get_function_schema(plain, description="function f") == {
        "type": "function",
        "function": {
            "description": "function f",
            "name": "plain",
            "parameters": {
                "type": "object",
                "properties": {
                    "a": {"type": "string", "description": "Parameter a"},
                    "b": {"type": "integer", "default": 2, "description": "b"},
                    "c": {"type": "number", "default": 0.1, "description": "Parameter c"},
                },
                "required": ["a"],
            },
        },
    }


def test_function_schema_nested_model_and_name():
    schema = get_function_schema(exchange, name="currency_calculator", description="Currency exchange")
    params = schema["function"]["parameters"]
    assert schema["function"]["name"] == "currency_calculator" and params["required"] == ["base"]
    assert "additionalProperties" not in params
    assert params["properties"]["quote"] == {"enum": ["USD", "EUR"], "type": "string", "default": "EUR",
                                             "description": "Quote currency symbol"}
    base = params["properties"]["base"]
    assert base["description"] == "Base currency: amount and currency symbol" and base["title"] == "Currency"
    assert base["properties"]["currency"] == {"enum": ["USD", "EUR"], "title": "Currency", "type": "string"}
    assert base["required"] == ["currency"]


def test_function_schema_no_parameters_has_empty_required():
    def now() -> str:
        return "now"

    params = get_function_schema(now, description="time")["function"]["parameters"]
    assert params == {"type": "object", "properties": {}, "required": []}


def test_missing_annotation_raises_type_error_and_warns_for_defaults(caplog):
    def bad(a, b=1):
        return a

    with pytest.raises(TypeError, match="annotations are missing for the following parameters: 'a'"):
        get_function_schema(bad, description="x")

    def loose(a: int, b=1):
        return a

    with caplog.at_level(logging.WARNING, logger="agentnb.function_utils"):
        get_function_schema(loose, description="x")
    assert "not annotated: 'b'" in caplog.text and "return type of the function 'loose'" in caplog.text


def test_load_basemodels_if_needed_sync_and_async():
    wrapped = load_basemodels_if_needed(exchange)
    result = wrapped(base={"currency": "USD", "amount": 3}, quote="USD")
    assert result == Currency(currency="USD", amount=6)

    async def a_exchange(base: Annotated[Currency, "b"]) -> float:
        return base.amount

    a_wrapped = load_basemodels_if_needed(a_exchange)
    assert inspect.iscoroutinefunction(a_wrapped)
    assert asyncio.run(a_wrapped(base={"currency": "EUR", "amount": 1.5})) == 1.5


def test_serialize_to_str():
    assert serialize_to_str("as is") == "as is"
    assert serialize_to_str(Currency(currency="USD", amount=1)) == '{"currency":"USD","amount":1.0}'
    assert serialize_to_str({"k": "é", "n": [1]}) == '{"k": "é", "n": [1]}'


def test_module_attribute_path():
    import agentnb as autogen

    assert autogen.function_utils.get_function_schema is agentnb.function_utils.get_function_schema

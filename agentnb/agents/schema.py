"""JSON Schema for a tool from its type hints, and validation of the arguments a model sends.

Each parameter becomes a field of a pydantic model (``extra="forbid"``), so the schema the
model sees and the validation its arguments go through are the same thing::

    def exchange(amount: Annotated[float, "Amount"], currency: Literal["USD", "EUR"] = "USD") -> str: ...

    get_function_schema(exchange, description="Convert money")["function"]["parameters"]
    # {"type": "object", "properties": {"amount": {"type": "number", "description": "Amount"},
    #  "currency": {"enum": ["USD", "EUR"], "type": "string", "default": "USD"}}, "required": ["amount"], ...}

``Annotated[T, "text"]`` describes a parameter; defaults make it optional; Literal/Enum give
``enum``; nested pydantic models and dataclasses go to ``$defs``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from ..errors import ConfigError
from ..messages import is_protocol_name

_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass(frozen=True)
class ToolSignature:
    """What a tool function accepts: the pydantic model its arguments are validated with."""

    func_name: str
    """The function's own name (for messages)."""
    model: type[BaseModel]
    """Fields ``p0, p1, ...`` aliased to the parameter names (so no name clashes with BaseModel)."""
    params: tuple[tuple[str, str, bool], ...]
    """``(field, parameter name, positional-only)`` in signature order."""

    @property
    def parameters(self) -> dict[str, Any]:
        """The OpenAI ``parameters`` JSON Schema."""
        return _clean_schema(self.model.model_json_schema(by_alias=True))

    def validate(self, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """``(args, kwargs)`` to call the function with; raises ``pydantic.ValidationError``."""
        values = self.model.model_validate(arguments)
        given = values.model_fields_set
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for field, name, positional_only in self.params:
            if positional_only:
                args.append(getattr(values, field))
            elif field in given:
                kwargs[name] = getattr(values, field)
        return args, kwargs


def callable_name(func: Callable) -> str:
    """``func.__name__`` (or the wrapped function's / the class's name)."""
    for obj in (func, getattr(func, "func", None), type(func)):
        name = getattr(obj, "__name__", None)
        if isinstance(name, str) and name != "partial":
            return name
    return "tool"


def check_tool_name(name: str) -> str:
    if not is_protocol_name(name):
        raise ConfigError(f"tool name {name!r} is not valid: use 1-64 letters, digits, '_' or '-'")
    return name


def tool_signature(func: Callable) -> ToolSignature:
    """Build the :class:`ToolSignature` of ``func``; raise ConfigError naming any bad parameter."""
    fname = callable_name(func)
    if not callable(func):
        raise ConfigError(f"a tool must be callable, not {type(func).__name__}")
    try:
        sig = inspect.signature(func, eval_str=True)
    except (NameError, SyntaxError, TypeError, AttributeError) as exc:
        raise ConfigError(f"tool {fname!r}: its type hints cannot be resolved ({type(exc).__name__}: {exc})") \
            from None
    except ValueError as exc:
        raise ConfigError(f"tool {fname!r}: no signature can be read ({exc})") from None
    fields: dict[str, Any] = {}
    params: list[tuple[str, str, bool]] = []
    for index, param in enumerate(sig.parameters.values()):
        where = f"parameter {param.name!r} of tool {fname!r}"
        if param.kind in _VARIADIC:
            star = "*" if param.kind == inspect.Parameter.VAR_POSITIONAL else "**"
            raise ConfigError(f"{where}: {star}{param.name} is not supported; a tool needs named, "
                              "annotated parameters the model can fill in")
        if param.annotation is inspect.Parameter.empty:
            raise ConfigError(f"{where} has no type annotation; annotate it (e.g. "
                              f"`{param.name}: Annotated[str, \"what it is\"]`) so the model knows what to send")
        annotation, description = _split_annotated(param.annotation)
        _check_describable(annotation, where)
        default = {} if param.default is inspect.Parameter.empty else {"default": param.default}
        field = f"p{index}"
        fields[field] = (annotation, Field(alias=param.name, description=description, **default))
        params.append((field, param.name, param.kind == _POSITIONAL_ONLY))
    try:
        model = create_model(f"{fname}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        model.model_json_schema(by_alias=True)
    except (pydantic.PydanticUserError, pydantic.errors.PydanticSchemaGenerationError, TypeError) as exc:
        raise ConfigError(f"tool {fname!r}: its parameters cannot be described as JSON Schema ({exc})") from None
    return ToolSignature(func_name=fname, model=model, params=tuple(params))


def get_function_schema(func: Callable, *, name: str | None = None, description: str) -> dict[str, Any]:
    """The OpenAI ``tools`` entry for ``func`` (AutoGen's ``get_function_schema``)."""
    name = check_tool_name(name or callable_name(func))
    parameters = tool_signature(func).parameters
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    """One line per problem: ``base_amount: Field required``."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err.get("loc", ())) or "(arguments)"
        lines.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(lines)


def _split_annotated(annotation: Any) -> tuple[Any, str | None]:
    """Take the plain-string metadata of ``Annotated[T, "text", ...]`` out as the description."""
    if typing.get_origin(annotation) is not Annotated:
        return annotation, None
    base, *metadata = typing.get_args(annotation)
    texts = [m for m in metadata if isinstance(m, str)]
    others = [m for m in metadata if not isinstance(m, str)]
    if others:
        base = Annotated[(base, *others)]
    return base, " ".join(texts) or None


def _check_describable(annotation: Any, where: str) -> None:
    if isinstance(annotation, str):
        raise ConfigError(f"{where}: the annotation {annotation!r} could not be resolved to a type")
    try:
        TypeAdapter(annotation).json_schema()
    except Exception as exc:  # pydantic raises several kinds here; all mean "not describable"
        shown = getattr(annotation, "__name__", None) or repr(annotation)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{where}: its type {shown} cannot be described as JSON Schema for the model "
                          f"({first}); use str/int/float/bool, Literal, Enum, list, dict or a pydantic model") \
            from None


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The shape AutoGen 0.2 sends: no generated titles, every property described (by its ``Annotated``
    text, else its name; a ``$ref`` stays alone), ``required`` always present, and no
    ``additionalProperties: false`` (extra arguments are still rejected when the call is validated)."""
    schema = dict(schema)
    schema.pop("title", None)
    schema.pop("additionalProperties", None)
    props = {}
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        props[name] = prop if "$ref" in prop or "description" in prop else {**prop, "description": name}
    out: dict[str, Any] = {"type": "object", "properties": props, "required": list(schema.get("required", []))}
    for key, value in schema.items():
        if key not in out and key != "properties":
            out[key] = value
    return out

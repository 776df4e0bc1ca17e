"""AutoGen 0.2's ``autogen.function_utils``: a tool's JSON schema from its signature, in 0.2's exact shape.

    def add(a: Annotated[int, "first"], b: int = 2) -> int: ...
    get_function_schema(add, description="Add")
    # {"type": "function", "function": {"description": "Add", "name": "add", "parameters": {
    #     "type": "object", "properties": {"a": {"type": "integer", "description": "first"},
    #                                      "b": {"type": "integer", "default": 2, "description": "b"}},
    #     "required": ["a"]}}}

Shapes follow 0.2: every property has a ``description`` (the parameter name when not annotated),
``required`` is always present, pydantic's titles are kept inside model schemas, and no
``additionalProperties`` is added. (Agents registering tools use :mod:`agentnb.agents.schema`, which
validates arguments against the same types but emits a stricter schema.)
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import typing
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter

logger = logging.getLogger(__name__)


def get_typed_annotation(annotation: Any, globalns: dict[str, Any]) -> Any:
    """``annotation`` itself, or (a string, e.g. under ``from __future__ import annotations``) evaluated
    in the function's module globals."""
    if isinstance(annotation, str):
        return eval(annotation, dict(globalns))  # the user's own type hint, as typing does
    if isinstance(annotation, typing.ForwardRef):
        return eval(annotation.__forward_arg__, dict(globalns))
    return annotation


def get_typed_signature(call: Callable[..., Any]) -> inspect.Signature:
    """The signature of ``call`` with string annotations resolved (return annotation dropped, as 0.2)."""
    signature = inspect.signature(call)
    globalns = getattr(call, "__globals__", {})
    params = [inspect.Parameter(name=p.name, kind=p.kind, default=p.default,
                                annotation=get_typed_annotation(p.annotation, globalns))
              for p in signature.parameters.values()]
    return inspect.Signature(params)


def get_typed_return_annotation(call: Callable[..., Any]) -> Any:
    """The resolved return annotation, or None when there is none."""
    annotation = inspect.signature(call).return_annotation
    if annotation is inspect.Signature.empty:
        return None
    return get_typed_annotation(annotation, getattr(call, "__globals__", {}))


def get_param_annotations(typed_signature: inspect.Signature) -> dict[str, Any]:
    """``{parameter: annotation}`` for the annotated parameters."""
    return {k: v.annotation for k, v in typed_signature.parameters.items()
            if v.annotation is not inspect.Signature.empty}


def get_required_params(typed_signature: inspect.Signature) -> list[str]:
    """Names of the parameters without a default."""
    return [k for k, v in typed_signature.parameters.items() if v.default is inspect.Signature.empty]


def get_default_values(typed_signature: inspect.Signature) -> dict[str, Any]:
    """``{parameter: default}`` for the parameters that have one."""
    return {k: v.default for k, v in typed_signature.parameters.items() if v.default is not inspect.Signature.empty}


def get_missing_annotations(typed_signature: inspect.Signature, required: list[str]) -> tuple[set[str], set[str]]:
    """``(required parameters without annotation, defaulted parameters without annotation)``."""
    unannotated = {k for k, v in typed_signature.parameters.items() if v.annotation is inspect.Signature.empty}
    missing = unannotated & set(required)
    return missing, unannotated - missing


def type2schema(t: Any) -> dict[str, Any]:
    """pydantic's JSON Schema of a type (``None`` is ``{"type": "null"}``)."""
    if t is None or t is type(None):
        return {"type": "null"}
    return TypeAdapter(t).json_schema()


def _description(k: str, v: Any) -> str:
    if typing.get_origin(v) is Annotated:
        first = v.__metadata__[0]
        if not isinstance(first, str):
            raise ValueError(f"Invalid description {first} for parameter {k}, should be a string.")
        return first
    return k


def get_parameter_json_schema(k: str, v: Any, default_values: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of parameter ``k`` of type ``v``: pydantic's, plus ``default`` and ``description``."""
    schema = type2schema(v)
    if k in default_values:
        default = default_values[k]
        schema["default"] = default.model_dump(mode="json") if isinstance(default, BaseModel) else default
    schema["description"] = _description(k, v)
    return schema


def get_parameters(required: list[str], param_annotations: dict[str, Any],
                   default_values: dict[str, Any]) -> dict[str, Any]:
    """The ``parameters`` object: ``type``, ``properties``, ``required``."""
    return {"type": "object",
            "properties": {k: get_parameter_json_schema(k, v, default_values) for k, v in param_annotations.items()},
            "required": list(required)}


def get_function_schema(f: Callable[..., Any], *, name: str | None = None, description: str) -> dict[str, Any]:
    """The OpenAI ``tools`` entry for ``f``; ``TypeError`` if a parameter without default lacks a type."""
    typed_signature = get_typed_signature(f)
    required = get_required_params(typed_signature)
    defaults = get_default_values(typed_signature)
    annotations = get_param_annotations(typed_signature)
    fname = getattr(f, "__name__", type(f).__name__)
    missing, unannotated_with_default = get_missing_annotations(typed_signature, required)
    if get_typed_return_annotation(f) is None:
        logger.warning(f"The return type of the function '{fname}' is not annotated. Although annotating it is "
                       "optional, the function should return either a string, a subclass of 'pydantic.BaseModel'.")
    if unannotated_with_default:
        names = ", ".join(f"'{k}'" for k in sorted(unannotated_with_default))
        logger.warning(f"The following parameters of the function '{fname}' with default values are not "
                       f"annotated: {names}.")
    if missing:
        names = ", ".join(f"'{k}'" for k in sorted(missing))
        raise TypeError(f"All parameters of the function '{fname}' without default values must be annotated. "
                        f"The annotations are missing for the following parameters: {names}")
    return {"type": "function",
            "function": {"description": description, "name": name or fname,
                         "parameters": get_parameters(required, annotations, defaults)}}


def get_load_param_if_needed_function(t: Any) -> Callable[[Any, type[BaseModel]], BaseModel] | None:
    """A loader turning a dict into the pydantic model ``t`` (through ``Annotated``), or None."""
    if typing.get_origin(t) is Annotated:
        return get_load_param_if_needed_function(typing.get_args(t)[0])
    if isinstance(t, type) and issubclass(t, BaseModel):
        return _load_model
    return None


def _load_model(value: Any, model: type[BaseModel]) -> BaseModel:
    return value if isinstance(value, model) else model.model_validate(value)


def load_basemodels_if_needed(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: keyword arguments annotated with a pydantic model are built from dicts before the call."""
    annotations = get_param_annotations(get_typed_signature(func))
    loaders = {k: f for k, f in ((k, get_load_param_if_needed_function(t)) for k, t in annotations.items()) if f}

    def load(kwargs: dict[str, Any]) -> dict[str, Any]:
        for k, loader in loaders.items():
            if k in kwargs:
                kwargs[k] = loader(kwargs[k], typing.get_args(annotations[k])[0]
                                   if typing.get_origin(annotations[k]) is Annotated else annotations[k])
        return kwargs

    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def a_load_parameters_if_needed(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, **load(kwargs))

        return a_load_parameters_if_needed

    @functools.wraps(func)
    def load_parameters_if_needed(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **load(kwargs))

    return load_parameters_if_needed


def serialize_to_str(x: Any) -> str:
    """A string as is, a pydantic model as its JSON, anything else through ``json.dumps``."""
    if isinstance(x, str):
        return x
    if isinstance(x, BaseModel):
        return x.model_dump_json()
    return json.dumps(x, ensure_ascii=False)

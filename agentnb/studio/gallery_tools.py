"""Small deterministic tools the gallery's tool-using assistant offers its model (by import path).

Each is a plain function with a docstring (the description the model sees) and annotated parameters
(the JSON schema). Nothing here touches the network or the file system.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal

_OPS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv}

_TO_METRES = {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0, "in": 0.0254, "ft": 0.3048, "mi": 1609.344}


def calculate(expression: Annotated[str, "An arithmetic expression, e.g. '2 * (3 + 4) ** 2'"]) -> str:
    """Evaluate an arithmetic expression (numbers, + - * / // % **, parentheses) and return the result."""
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value,
                                                                                                     bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ValueError("exponent too large")
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.operand))
        raise ValueError(f"unsupported element: {ast.dump(node)[:40]}")

    try:
        return str(walk(ast.parse(expression, mode="eval").body))
    except (SyntaxError, ValueError, ZeroDivisionError) as exc:
        return f"Error: {exc}"


def word_count(text: Annotated[str, "The text to count"]) -> dict[str, int]:
    """Count the words, lines and characters of a text."""
    return {"words": len(text.split()), "lines": len(text.splitlines()) or (1 if text else 0),
            "characters": len(text)}


def convert_length(value: Annotated[float, "The length to convert"],
                   from_unit: Annotated[Literal["mm", "cm", "m", "km", "in", "ft", "mi"], "Its unit"],
                   to_unit: Annotated[Literal["mm", "cm", "m", "km", "in", "ft", "mi"], "The unit wanted"]) -> str:
    """Convert a length between metric and imperial units."""
    result = value * _TO_METRES[from_unit] / _TO_METRES[to_unit]
    return f"{value:g} {from_unit} = {result:.6g} {to_unit}"

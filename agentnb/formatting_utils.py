"""AutoGen 0.2's ``autogen.formatting_utils.colored``: ANSI colours for terminal text (termcolor's signature)."""

from __future__ import annotations

from collections.abc import Iterable

_COLORS = {"black": 30, "grey": 30, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36,
           "light_grey": 37, "white": 97, "dark_grey": 90, "light_red": 91, "light_green": 92,
           "light_yellow": 93, "light_blue": 94, "light_magenta": 95, "light_cyan": 96}
_ATTRS = {"bold": 1, "dark": 2, "underline": 4, "blink": 5, "reverse": 7, "concealed": 8}


def colored(text: object, color: str | None = None, on_color: str | None = None,
            attrs: Iterable[str] | None = None) -> str:
    """``text`` wrapped in the escape codes of ``color`` (foreground), ``on_color`` (``on_<color>``) and ``attrs``."""
    codes = []
    if color in _COLORS:
        codes.append(_COLORS[color])
    if on_color and on_color.removeprefix("on_") in _COLORS:
        codes.append(_COLORS[on_color.removeprefix("on_")] + 10)
    codes += [_ATTRS[a] for a in attrs or () if a in _ATTRS]
    if not codes:
        return str(text)
    return "".join(f"\x1b[{c}m" for c in codes) + f"{text}\x1b[0m"


__all__ = ["colored"]

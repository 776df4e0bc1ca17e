"""The one lazy-loading mechanism: names a package exports, imported on first use.

A package lists ``{name: "agentnb.module"}`` and installs the two module hooks PEP 562 defines::

    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, public=__all__)

so ``import agentnb`` stays cheap (``agentnb.AssistantAgent`` loads the agents on first access) while
IDEs and type checkers see the names through the package's ``if TYPE_CHECKING:`` imports. A resolved
name is cached in the package's namespace, so the hook runs once per name. :class:`LazyModule` does
the same for a third-party module a module uses everywhere but needs late (nbformat: ~0.3 s).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str], *, submodules: Iterable[str] = (),
                 public: Iterable[str] | None = None) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name in ``exports`` comes from the module it maps to
    (absolute, or relative to ``package`` when it starts with a dot); each of ``submodules`` is
    ``package.<name>`` itself (``autogen.code_utils.extract_code`` without importing it first)."""
    subs = frozenset(submodules)
    listed = sorted({*(exports if public is None else public), *subs})

    def __getattr__(name: str) -> Any:
        if name in subs:
            value: Any = importlib.import_module(f"{package}.{name}")
        else:
            module = exports.get(name)
            if module is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return listed

    return __getattr__, __dir__


class LazyModule:
    """A module imported on first attribute access (then looked up directly)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        self.__dict__[attr] = value = getattr(module, attr)
        return value

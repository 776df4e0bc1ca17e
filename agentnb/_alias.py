"""Import a package under a second name without loading its modules twice (for 0.2's import paths)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType


def alias_package(alias: str, real: str) -> ModuleType:
    """Register ``real`` and all its submodules in ``sys.modules`` under ``alias``; return the package."""
    package = importlib.import_module(real)
    sys.modules[alias] = package
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), prefix=f"{real}."):
        module = importlib.import_module(info.name)
        sys.modules[alias + info.name[len(real):]] = module
    return package

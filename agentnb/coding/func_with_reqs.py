"""AutoGen 0.2's import path ``autogen.coding.func_with_reqs`` (the code is in :mod:`agentnb.coding.functions`)."""

from .functions import (
    Alias,
    FunctionWithRequirements,
    FunctionWithRequirementsStr,
    Import,
    ImportFromModule,
    to_stub,
    with_requirements,
)

__all__ = [
    "Alias",
    "FunctionWithRequirements",
    "FunctionWithRequirementsStr",
    "Import",
    "ImportFromModule",
    "to_stub",
    "with_requirements",
]

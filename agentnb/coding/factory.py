"""AutoGen 0.2's import path ``autogen.coding.factory`` (code in :mod:`.compat`)."""

from .compat import CodeExecutorFactory

__all__ = ["CodeExecutorFactory"]

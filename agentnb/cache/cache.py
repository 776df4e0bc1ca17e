"""AutoGen 0.2's import path ``autogen.cache.cache``."""

from ..llm.cache import Cache

__all__ = ["Cache"]

"""AutoGen 0.2's import path ``autogen.cache.in_memory_cache``."""

from ..llm.cache_backends import InMemoryCache

__all__ = ["InMemoryCache"]

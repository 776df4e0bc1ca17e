"""AutoGen 0.2's import path ``autogen.cache.cache_factory``."""

from ..llm.cache_backends import CacheFactory

__all__ = ["CacheFactory"]

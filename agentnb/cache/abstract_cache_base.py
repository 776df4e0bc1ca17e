"""AutoGen 0.2's import path ``autogen.cache.abstract_cache_base``."""

from ..llm.cache_backends import AbstractCache

__all__ = ["AbstractCache"]

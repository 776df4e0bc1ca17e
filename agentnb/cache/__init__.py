"""AutoGen 0.2's import path ``autogen.cache`` (the code is in :mod:`agentnb.llm.cache` and
:mod:`agentnb.llm.cache_backends`)."""

from ..llm.cache import Cache
from ..llm.cache_backends import AbstractCache, CacheFactory, DiskCache, InMemoryCache

__all__ = ["AbstractCache", "Cache", "CacheFactory", "DiskCache", "InMemoryCache"]

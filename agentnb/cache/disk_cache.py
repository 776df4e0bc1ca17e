"""AutoGen 0.2's import path ``autogen.cache.disk_cache``."""

from ..llm.cache_backends import DiskCache

__all__ = ["DiskCache"]

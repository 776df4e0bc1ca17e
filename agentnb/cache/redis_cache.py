"""AutoGen 0.2's import path ``autogen.cache.redis_cache`` (constructing one needs the ``redis`` package)."""

from ..llm.cache_backends import RedisCache

__all__ = ["RedisCache"]

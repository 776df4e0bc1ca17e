"""AutoGen 0.2's cache API: the ``AbstractCache`` protocol, its backends and ``CacheFactory``.

    with Cache.disk(cache_seed=7) as cache:            # or Cache.redis(...), InMemoryCache(seed=7)
        agent.initiate_chat(other, message="hi", cache=cache)
    cache.set("k", {"v": 1}); cache.get("k")           # {'v': 1}

Every backend is also a response store for agentnb's model client (``key``/``get``/``put``), so any of
them can be passed as ``cache=``. :class:`DiskCache` uses the folder of the agent-level ``cache_seed``
(``<cache_path_root>/agentnb/<seed>``, one JSON file per entry), so both share entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")
_TAG = "__agentnb_cache__"


@runtime_checkable
class AbstractCache(Protocol):
    """What a cache offers: ``get``/``set``/``close`` and use as a context manager."""

    def get(self, key: str, default: Any | None = None) -> Any | None: ...

    def set(self, key: str, value: Any) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None: ...


class _ResponseStore:
    """The model client's side of a cache: ``key(model, messages, request)``, ``get(key)``, ``put``."""

    @staticmethod
    def key(model: str, messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
        payload = json.dumps({"model": model, "messages": messages, "request": request},
                             sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def put(self, key: str, completion: Any) -> None:
        data = asdict(completion) if is_dataclass(completion) and not isinstance(completion, type) \
            else dict(completion)
        data.pop("cached", None)
        data["message_id"] = None
        self.set(key, data)

    def set(self, key: str, value: Any) -> None:  # pragma: no cover - every backend defines it
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class InMemoryCache(_ResponseStore):
    """A dict in this process; keys are prefixed with ``seed`` (``"<seed>_<key>"``)."""

    def __init__(self, seed: str | int = ""):
        self._seed = str(seed)
        self._cache: dict[str, Any] = {}

    def _prefixed_key(self, key: str) -> str:
        return f"{self._seed}_{key}" if self._seed else key

    def get(self, key: str, default: Any | None = None) -> Any | None:
        value = self._cache.get(self._prefixed_key(key))
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        self._cache[self._prefixed_key(key)] = value


class DiskCache(_ResponseStore):
    """JSON files under ``<cache_path_root>/agentnb/<seed>/`` (the seed is checked to stay inside).

    Values are JSON (dicts, lists, str, numbers) or pydantic models; no pickle, so reading a cache
    folder can never run code.
    """

    def __init__(self, seed: str | int, cache_path_root: str | os.PathLike[str] = ".cache"):
        from .cache import cache_dir  # lazily: llm.cache imports this module

        self._root = cache_path_root
        self._seed = seed
        self.dir = cache_dir(cache_path_root, seed)

    def _path(self, key: str) -> Path:
        name = key if _HEX_KEY.match(key) else hashlib.sha256(key.encode()).hexdigest()
        return self.dir / f"{name}.json"

    def get(self, key: str, default: Any | None = None) -> Any | None:
        try:
            value = _decode(json.loads(self._path(key).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return default
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        from .cache import cache_dir

        text = json.dumps(_encode(value), ensure_ascii=False)
        self.dir.mkdir(parents=True, exist_ok=True)
        cache_dir(self._root, self._seed)  # re-check: a symlink planted since must not be followed
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, self._path(key))


def _encode(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        cls = type(value)
        return {_TAG: "pydantic", "class": f"{cls.__module__}:{cls.__qualname__}",
                "data": value.model_dump(mode="json")}
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise TypeError(f"DiskCache stores JSON values and pydantic models, not {type(value).__name__}") from None
    return value


def _decode(value: Any) -> Any:
    """Rebuild a pydantic model whose class is already imported; never imports a module named in the file."""
    if not (isinstance(value, dict) and value.get(_TAG) == "pydantic"):
        return value
    from pydantic import BaseModel

    module_name, _, qualname = str(value.get("class", "")).partition(":")
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if isinstance(obj, type) and issubclass(obj, BaseModel):
        return obj.model_validate(value.get("data"))
    return value.get("data")


class RedisCache(_ResponseStore):
    """Entries in Redis under ``autogen:<seed>:<key>`` (JSON values); needs the ``redis`` package."""

    def __init__(self, seed: str | int, redis_url: str):
        try:
            import redis
        except ImportError:
            raise ImportError(
                "Cache.redis needs the `redis` package (pip install redis) and a Redis server; nothing was "
                "cached. Use Cache.disk() or InMemoryCache() instead.") from None
        self.seed = str(seed)
        self.cache = redis.Redis.from_url(redis_url)

    def _prefixed_key(self, key: str) -> str:
        return f"autogen:{self.seed}:{key}"

    def get(self, key: str, default: Any | None = None) -> Any | None:
        raw = self.cache.get(self._prefixed_key(key))
        return default if raw is None else _decode(json.loads(raw))

    def set(self, key: str, value: Any) -> None:
        self.cache.set(self._prefixed_key(key), json.dumps(_encode(value), ensure_ascii=False))

    def close(self) -> None:
        self.cache.close()


class CacheFactory:
    """Picks the backend for a configuration (0.2's ``CacheFactory``)."""

    @staticmethod
    def cache_factory(seed: str | int, redis_url: str | None = None, cache_path_root: str = ".cache",
                      cosmosdb_config: dict[str, Any] | None = None) -> AbstractCache:
        """Redis if ``redis_url``; Cosmos DB if ``cosmosdb_config``; else a :class:`DiskCache`.

        Unlike 0.2, an unavailable Redis/Cosmos DB backend raises instead of quietly using the disk.
        """
        if redis_url:
            return RedisCache(seed, redis_url)
        if cosmosdb_config:
            raise NotImplementedError(
                "Cache.cosmos_db: agentnb has no Azure Cosmos DB cache backend; nothing was cached. "
                "Use Cache.disk() (or Cache.redis()) instead.")
        return DiskCache(seed, cache_path_root or ".cache")


class CacheAPI:
    """0.2's ``Cache`` methods, mixed into :class:`agentnb.llm.cache.Cache` (whose ``store`` is a backend)."""

    ALLOWED_CONFIG_KEYS = ["cache_seed", "redis_url", "cache_path_root", "cosmos_db_config"]
    store: Any

    @staticmethod
    def _store_from(config: Any) -> Any:
        """A backend from 0.2's config dict (``ValueError`` for an unknown key); any other store as is."""
        if not isinstance(config, dict):
            return config
        for key in config:
            if key not in CacheAPI.ALLOWED_CONFIG_KEYS:
                raise ValueError(f"Invalid config key: {key}")
        config["cache_seed"] = str(config.get("cache_seed", 42))
        return CacheFactory.cache_factory(seed=config["cache_seed"], redis_url=config.get("redis_url"),
                                          cache_path_root=config.get("cache_path_root") or ".cache",
                                          cosmosdb_config=config.get("cosmos_db_config"))

    @classmethod
    def redis(cls, cache_seed: str | int = 42, redis_url: str = "redis://localhost:6379/0") -> Any:
        """A cache in Redis (needs the ``redis`` package and a server)."""
        return cls({"cache_seed": cache_seed, "redis_url": redis_url})  # type: ignore[call-arg]

    @classmethod
    def cosmos_db(cls, connection_string: str | None = None, container_id: str | None = None,
                  cache_seed: str | int = 42, client: Any = None) -> Any:
        """Not supported: raises ``NotImplementedError`` (0.2 fell back to the disk when unavailable)."""
        config = {"connection_string": connection_string, "database_id": "autogen_cache",
                  "container_id": container_id, "client": client}
        return cls({"cache_seed": cache_seed, "cosmos_db_config": config})  # type: ignore[call-arg]

    @property
    def cache(self) -> Any:
        """The backend (0.2's ``Cache.cache``)."""
        return self.store

    def get(self, key: str, default: Any | None = None) -> Any | None:
        return self.store.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.store.set(key, value)

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

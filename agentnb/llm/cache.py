"""On-disk response cache keyed by ``cache_seed`` and the request (AutoGen's ``cache_seed``)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any


class DiskCache:
    """JSON files under ``<root>/<seed>/``: the same request with the same seed makes no network call."""

    def __init__(self, root: str | os.PathLike = ".cache", seed: int | str = 41):
        self.dir = Path(root) / "agentnb" / str(seed)

    @staticmethod
    def key(model: str, messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
        payload = json.dumps({"model": model, "messages": messages, "request": request},
                             sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.dir / f"{key}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def put(self, key: str, completion: Any) -> None:
        data = asdict(completion)
        data.pop("cached", None)
        data["message_id"] = None
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.dir / f"{key}.json")


class Cache:
    """AutoGen's ``Cache``: ``with Cache.disk(cache_seed=7) as cache: agent.initiate_chat(..., cache=cache)``.

    Replies of every model call in that chat are read from / written to the disk cache.
    """

    def __init__(self, store: DiskCache):
        self.store = store

    @classmethod
    def disk(cls, cache_seed: int | str = 42, cache_path_root: str = ".cache") -> Cache:
        return cls(DiskCache(cache_path_root, cache_seed))

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

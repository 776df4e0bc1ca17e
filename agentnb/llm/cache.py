"""On-disk response cache keyed by ``cache_seed`` and the request (AutoGen's ``cache_seed``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .cache_backends import CacheAPI

_SEED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def cache_dir(root: str | os.PathLike[str], seed: Any) -> Path:
    """``<root>/agentnb/<seed>``, checked to stay inside ``<root>/agentnb`` (symlinks resolved).

    A seed is an int or a short name of letters, digits, ``_``, ``.`` and ``-`` (not starting with
    ``.``): ``"../../.."``, ``"/etc"`` or ``"a/b"`` raise ConfigError instead of writing elsewhere.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | str):
        raise ConfigError(f"cache_seed must be an int or a short name, not {type(seed).__name__} ({seed!r})")
    text = str(seed)
    if isinstance(seed, str) and not _SEED.fullmatch(text):
        raise ConfigError(f"cache_seed {seed!r} is not allowed: use an int or up to 64 letters, digits, '_', "
                          "'.' or '-' (not starting with '.'); it names a folder under the cache root")
    if isinstance(root, bool) or not isinstance(root, str | os.PathLike):
        raise ConfigError(f"cache_path_root must be a path, not {type(root).__name__} ({root!r})")
    base = Path(root) / "agentnb"
    folder = base / text
    resolved_base = base.resolve()
    resolved = folder.resolve()
    if resolved.parent != resolved_base:
        raise ConfigError(f"cache_seed {seed!r}: {folder} resolves to {resolved}, outside the cache root "
                          f"{resolved_base} (a symlink?)")
    return folder


class DiskCache:
    """JSON files under ``<root>/agentnb/<seed>/``: the same request with the same seed makes no network call."""

    def __init__(self, root: str | os.PathLike[str] = ".cache", seed: int | str = 41):
        self.root = root
        self.seed = seed
        self.dir = cache_dir(root, seed)

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
        cache_dir(self.root, self.seed)  # re-check: a symlink planted since the start must not be followed
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.dir / f"{key}.json")


class Cache(CacheAPI):
    """AutoGen's ``Cache``: ``with Cache.disk(cache_seed=7) as cache: agent.initiate_chat(..., cache=cache)``.

    Replies of every model call in that chat are read from / written to the disk cache.
    """

    def __init__(self, store: Any):
        self.store = self._store_from(store)  # a backend, or 0.2's config dict (see cache_backends.py)

    @classmethod
    def disk(cls, cache_seed: int | str = 42, cache_path_root: str = ".cache") -> Cache:
        return cls({"cache_seed": cache_seed, "cache_path_root": cache_path_root})

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # as 0.2: leaving the block closes the backend

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

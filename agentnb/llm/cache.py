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

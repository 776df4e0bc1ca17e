"""``LoggerFactory.get_logger(logger_type="sqlite" | "file", config=...)``."""

from __future__ import annotations

from typing import Any

from .base_logger import BaseLogger
from .file_logger import FileLogger
from .sqlite_logger import SqliteLogger


class LoggerFactory:
    @staticmethod
    def get_logger(logger_type: str = "sqlite", config: dict[str, Any] | None = None) -> BaseLogger:
        if logger_type == "sqlite":
            return SqliteLogger(config)
        if logger_type == "file":
            return FileLogger(config)
        raise ValueError(f"[logger_factory] Unknown logger type: {logger_type}")

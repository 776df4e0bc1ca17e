"""AutoGen 0.2's ``autogen.logger``: sqlite and JSON-lines runtime loggers (see :mod:`agentnb.runtime_logging`)."""

from .base_logger import BaseLogger
from .file_logger import FileLogger
from .logger_factory import LoggerFactory
from .sqlite_logger import SqliteLogger

__all__ = ["BaseLogger", "FileLogger", "LoggerFactory", "SqliteLogger"]

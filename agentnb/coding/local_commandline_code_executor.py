"""AutoGen 0.2's import path ``autogen.coding.local_commandline_code_executor`` (code in :mod:`.compat`)."""

from .compat import (
    CommandLineCodeResult,
    CommandlineCodeResult,
    LocalCommandLineCodeExecutor,
    LocalCommandlineCodeExecutor,
)

__all__ = ["CommandLineCodeResult", "CommandlineCodeResult", "LocalCommandLineCodeExecutor",
           "LocalCommandlineCodeExecutor"]

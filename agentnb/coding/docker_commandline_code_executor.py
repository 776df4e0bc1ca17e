"""AutoGen 0.2's import path ``autogen.coding.docker_commandline_code_executor``: the class refuses clearly
(agentnb does not run code in Docker)."""

from .compat import DockerCommandLineCodeExecutor

__all__ = ["DockerCommandLineCodeExecutor"]

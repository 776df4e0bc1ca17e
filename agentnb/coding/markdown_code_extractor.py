"""AutoGen 0.2's import path ``autogen.coding.markdown_code_extractor`` (code in :mod:`.compat`)."""

from .compat import MarkdownCodeExtractor

__all__ = ["MarkdownCodeExtractor"]

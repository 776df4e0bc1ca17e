"""``autogen.agentchat.utils``: re-exported from :mod:`agentnb.chat_utils`."""

from ..chat_utils import gather_usage_summary, parse_tags_from_content

__all__ = ["gather_usage_summary", "parse_tags_from_content"]

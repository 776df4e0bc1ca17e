"""agentnb."""

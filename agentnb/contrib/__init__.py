"""AutoGen 0.2's ``autogen.agentchat.contrib`` pieces that agentnb implements (the capabilities)."""

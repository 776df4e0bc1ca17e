"""Agent teams the entry-point tests share: the smallest chat that ends by itself.

    assistant, user = pair(model_server)
    user.initiate_chat(assistant, message="hi")
"""

from __future__ import annotations

import agentnb as autogen
from agentnb.testing import ScriptedModelServer


def pair(server: ScriptedModelServer) -> tuple[autogen.AssistantAgent, autogen.UserProxyAgent]:
    """An assistant on ``server`` and a user proxy that runs no code, answers once, and stops on TERMINATE."""
    assistant = autogen.AssistantAgent(name="assistant", llm_config=server.llm_config())
    user = autogen.UserProxyAgent(name="user", human_input_mode="NEVER", code_execution_config=False,
                                  max_consecutive_auto_reply=1,
                                  is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
    return assistant, user

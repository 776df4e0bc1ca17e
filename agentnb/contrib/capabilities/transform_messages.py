"""AutoGen 0.2's ``TransformMessages`` capability: reshape the history an agent replies to.

    context = TransformMessages(transforms=[MessageHistoryLimiter(max_messages=10),
                                            MessageTokenLimiter(max_tokens=2000, max_tokens_per_message=500)])
    context.add_to_agent(assistant)

The transforms apply to a copy of the messages just before each reply (the stored chat history is not
changed); a leading system message is kept aside and put back untouched.
"""

from __future__ import annotations

import copy
from typing import Any

from .agent_capability import AgentCapability
from .transforms import MessageTransform


class TransformMessages(AgentCapability):
    """Runs ``transforms`` in order on the messages before the agent replies; ``verbose`` prints what
    each transform changed."""

    def __init__(self, *, transforms: list[MessageTransform] | None = None, verbose: bool = True):
        self._transforms = list(transforms or [])
        self._verbose = verbose

    def add_to_agent(self, agent: Any) -> None:
        """Register on ``agent``'s ``process_all_messages_before_reply`` hook."""
        agent.register_hook(hookable_method="process_all_messages_before_reply", hook=self._transform_messages)

    def _transform_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        messages = copy.deepcopy(messages)
        system = messages.pop(0) if messages and messages[0].get("role") == "system" else None
        for transform in self._transforms:
            before = copy.deepcopy(messages) if self._verbose else messages
            messages = transform.apply_transform(before)
            if self._verbose:
                text, had_effect = transform.get_logs(before, messages)
                if had_effect:
                    print(text)
        if system is not None:
            messages.insert(0, system)
        return messages

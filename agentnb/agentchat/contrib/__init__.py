"""``autogen.agentchat.contrib``: only ``capabilities`` (an alias of :mod:`agentnb.contrib.capabilities`).

The alias registers every module of the real package under this name too, so
``autogen.agentchat.contrib.capabilities.transforms.MessageHistoryLimiter`` *is*
``agentnb.contrib.capabilities.transforms.MessageHistoryLimiter`` (one class, not a copy).
"""

from ..._alias import alias_package

capabilities = alias_package(f"{__name__}.capabilities", "agentnb.contrib.capabilities")

__all__ = ["capabilities"]

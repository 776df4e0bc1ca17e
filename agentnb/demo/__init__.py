"""The demo notebooks, one source each: ``agentnb.demo.<name>`` holds a notebook's cells and the model
replies recorded for it; ``notebooks/build_notebooks.py`` writes and runs ``notebooks/<name>.ipynb`` from it.

    from agentnb.demo import demo_llm_config, demo_mode
    llm_config = demo_llm_config("quickstart")                     # the assistant's config
    manager_config = demo_llm_config("groupchat", "chat_manager")

With env ``AGENTNB_DEMO_MODEL=replay`` the configs point at a scripted server on 127.0.0.1 that
answers with the recorded replies (:mod:`.replay`), so a notebook runs the same way everywhere: in
tests, on Binder, with no key. Otherwise ``None``: the default model (``OPENAI_API_KEY`` /
``OAI_CONFIG_LIST``, else the embedded local model).

This package sits above every other layer: nothing in agentnb imports it (tests/test_architecture.py).
"""

from __future__ import annotations

from .base import Cell, Demo, notebook
from .catalog import DEMOS
from .replay import MODE_ENV, REPLAY, demo_llm_config, demo_mode, replay_server, stop_replay_servers
from .unattended import answer_when_unattended

__all__ = [
    "DEMOS", "MODE_ENV", "REPLAY", "Cell", "Demo", "answer_when_unattended", "demo_llm_config", "demo_mode",
    "notebook", "replay_server", "stop_replay_servers",
]

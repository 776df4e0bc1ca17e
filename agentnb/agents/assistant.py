"""``AssistantAgent`` and ``UserProxyAgent``: the classic pair, with AutoGen 0.2's defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .conversable import ConversableAgent

DEFAULT_SYSTEM_MESSAGE = """You are a helpful AI assistant who solves tasks by writing Python code.
A user proxy runs every code block you send in a persistent Jupyter kernel (variables survive between
messages) and replies with what it printed, any error, and a note for each image a plot produced.

- Send complete, runnable code in fenced blocks: ```python for Python, ```sh for shell commands.
  Do not ask the user to edit or fill in code; send one block per message when steps depend on each other.
- Use print() for every result you need to see; plots show up for the user automatically (plt.show()).
- If a package is missing, install it with a ```sh block (pip install ...) and try again.
- If the code fails, read the error, fix the cause and send the corrected code in full.
- Explain your plan briefly before the code. Check the output; when the task is done and verified,
  give the answer in plain words and end your message with the word TERMINATE."""

DEFAULT_DESCRIPTION = ("A helpful and general-purpose AI assistant that has strong language skills, "
                       "Python skills, and Linux command line skills.")


def _embedded(llm_config: Any) -> bool:
    from ..llm.config import is_embedded

    return is_embedded(llm_config if isinstance(llm_config, dict) else None)


class AssistantAgent(ConversableAgent):
    """Writes code and answers with the model; never asks a human, never runs code itself.

    >>> assistant = AssistantAgent("assistant", llm_config={"config_list": config_list})
    """

    DEFAULT_SYSTEM_MESSAGE = DEFAULT_SYSTEM_MESSAGE
    DEFAULT_DESCRIPTION = DEFAULT_DESCRIPTION

    def __init__(self, name: str, system_message: str | None = DEFAULT_SYSTEM_MESSAGE,
                 llm_config: dict[str, Any] | bool | None = None,
                 is_termination_msg: Callable[[dict[str, Any]], bool] | None = None,
                 max_consecutive_auto_reply: int | None = None, human_input_mode: str = "NEVER",
                 description: str | None = None, **kwargs: Any):
        if system_message == DEFAULT_SYSTEM_MESSAGE and llm_config is not False and _embedded(llm_config):
            from ..llm.local import LOCAL_CODER_SYSTEM_MESSAGE

            system_message = LOCAL_CODER_SYSTEM_MESSAGE  # the tiny local model cannot follow the long one
            description = description or DEFAULT_DESCRIPTION
        super().__init__(name, system_message=system_message, is_termination_msg=is_termination_msg,
                         max_consecutive_auto_reply=max_consecutive_auto_reply,
                         human_input_mode=human_input_mode, llm_config=llm_config,
                         description=description if description is not None else (
                             DEFAULT_DESCRIPTION if system_message == DEFAULT_SYSTEM_MESSAGE else None),
                         **kwargs)


class UserProxyAgent(ConversableAgent):
    """Stands in for the user: runs the code it receives and (depending on the mode) asks a person.

    >>> user_proxy = UserProxyAgent("user_proxy", human_input_mode="NEVER",
    ...                             code_execution_config={"work_dir": "coding", "use_docker": False})
    """

    DEFAULT_USER_PROXY_AGENT_DESCRIPTIONS = {
        "ALWAYS": "An attentive HUMAN user who can answer questions about the task, and can perform tasks "
                  "such as running Python code or inputting command line commands at a Linux terminal and "
                  "reporting back the execution results.",
        "TERMINATE": "A user that can run Python code or input command line commands at a Linux terminal "
                     "and report back the execution results.",
        "NEVER": "A computer terminal that performs no other action than running Python scripts (provided "
                 "to it quoted in ```python code blocks), or sh shell scripts (provided to it quoted in "
                 "```sh code blocks).",
    }

    def __init__(self, name: str, is_termination_msg: Callable[[dict[str, Any]], bool] | None = None,
                 max_consecutive_auto_reply: int | None = None, human_input_mode: str = "ALWAYS",
                 function_map: dict[str, Callable] | None = None,
                 code_execution_config: dict[str, Any] | bool | None = None,
                 default_auto_reply: str | dict[str, Any] = "", llm_config: dict[str, Any] | bool = False,
                 system_message: str | list = "", description: str | None = None, **kwargs: Any):
        if description is None:
            description = self.DEFAULT_USER_PROXY_AGENT_DESCRIPTIONS.get(human_input_mode, "")
        super().__init__(name=name, system_message=system_message, is_termination_msg=is_termination_msg,
                         max_consecutive_auto_reply=max_consecutive_auto_reply,
                         human_input_mode=human_input_mode, function_map=function_map,
                         code_execution_config={} if code_execution_config is None else code_execution_config,
                         llm_config=llm_config, default_auto_reply=default_auto_reply,
                         description=description, **kwargs)

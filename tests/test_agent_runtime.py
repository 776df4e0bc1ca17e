"""The agent's runtime state (``agent.runtime``) and the public surface the chat core uses instead of privates."""

from __future__ import annotations

import functools

import agentnb as autogen
from agentnb.agents.human import human_handlers
from agentnb.agents.runtime import AgentRuntime
from agentnb.agents.tools import tool_info, user_function
from agentnb.coding import LocalCommandLineExecutor
from agentnb.coding.base import CodeBlock


class ClosesCounted(LocalCommandLineExecutor):
    """A real local executor that counts its shutdowns."""

    closes = 0

    async def a_close(self) -> None:
        self.closes += 1
        await super().a_close()


def _bots(**user_kw):
    bot = autogen.ConversableAgent("bot", llm_config=False, default_auto_reply="ok", human_input_mode="NEVER")
    user_kw.setdefault("human_input_mode", "ALWAYS")
    user = autogen.ConversableAgent("user", llm_config=False, **user_kw)
    return bot, user


def test_counters_and_human_input_live_in_the_runtime_and_reset_clears_them():
    bot, user = _bots()
    answers = iter(["", "more please", "exit"])
    with human_handlers(input_provider=lambda prompt: next(answers)):
        result = user.initiate_chat(bot, message="hi", silent=True)
    assert isinstance(user.runtime, AgentRuntime)
    assert result.human_input == ["", "more please", "exit"] == user.runtime.human_input
    assert result.human_input is not user.runtime.human_input  # the result keeps its own copy
    assert bot.runtime.auto_replies[user] == 3  # the bot answered every message by itself
    assert bot._consecutive_auto_reply_counter is bot.runtime.auto_replies  # AutoGen 0.2's name, one dict
    bot.reset()
    user.reset()
    assert bot.runtime.auto_replies == {} and user.runtime.human_input == []
    assert result.human_input == ["", "more please", "exit"]


def test_a_new_chat_starts_counting_again_and_forgets_the_last_chats_input():
    bot, user = _bots(max_consecutive_auto_reply=1, human_input_mode="TERMINATE")
    with human_handlers(input_provider=lambda prompt: "exit"):
        first = user.initiate_chat(bot, message="one", silent=True)
        second = user.initiate_chat(bot, message="two", silent=True)
    for result, opening in ((first, "one"), (second, "two")):
        assert [m["content"] for m in result.chat_history] == [opening, "ok", "", "ok"]  # one auto reply each
        assert result.human_input == ["exit"] and result.stop_reason == "human_exit"


def test_an_executor_the_user_passed_is_used_and_never_closed_by_the_agent(tmp_path):
    executor = ClosesCounted(work_dir=str(tmp_path))
    runner = autogen.ConversableAgent("runner", llm_config=False, human_input_mode="NEVER",
                                      code_execution_config={"executor": executor})
    assert "exitcode: 0" in runner.execute_code_blocks([("python", "print('first')")])
    assert runner.code_executor is executor and not runner.runtime.owns_executor
    writer = autogen.ConversableAgent("writer", llm_config=False, human_input_mode="NEVER",
                                      default_auto_reply="```python\nprint('from the chat')\n```",
                                      max_consecutive_auto_reply=1)
    result = writer.initiate_chat(runner, message="```python\nprint('again')\n```", silent=True, max_turns=1)
    assert "again" in result.chat_history[-1]["content"]
    assert runner.code_executor is None and executor.closes == 0  # forgotten when the chat ended, not closed
    result = executor.execute(CodeBlock(code="print('still alive')", language="python"))
    assert result.exit_code == 0 and "still alive" in result.output


def test_an_executor_the_agent_made_is_owned_and_closed_with_the_chat(tmp_path):
    runner = autogen.ConversableAgent("runner", llm_config=False, human_input_mode="NEVER",
                                      code_execution_config={"executor": "commandline-local",
                                                             "work_dir": str(tmp_path)})
    writer = autogen.ConversableAgent("writer", llm_config=False, human_input_mode="NEVER")
    result = writer.initiate_chat(runner, message="```python\nprint(6 * 7)\n```", silent=True, max_turns=1)
    assert "42" in result.chat_history[-1]["content"]
    assert runner.runtime.owns_executor and runner.code_executor is None


def test_a_group_ends_when_a_member_other_than_the_speaker_sees_its_termination_message():
    said = autogen.ConversableAgent("speaker", llm_config=False, human_input_mode="NEVER",
                                    default_auto_reply="we are done: STOP")
    listener = autogen.ConversableAgent("listener", llm_config=False, human_input_mode="NEVER",
                                        default_auto_reply="never said",
                                        is_termination_msg=lambda m: "STOP" in (m.get("content") or ""))
    group = autogen.GroupChat(agents=[said, listener], messages=[], max_round=6,
                              speaker_selection_method="round_robin")
    manager = autogen.GroupChatManager(groupchat=group, llm_config=False)
    assert listener.is_termination_msg({"content": "STOP"}) and not said.is_termination_msg({"content": "STOP"})
    result = said.initiate_chat(manager, message="go", silent=True)
    assert result.stop_reason == "terminated"
    assert [m["content"] for m in group.messages] == ["go", "never said", "we are done: STOP"]


def test_an_unhashable_callable_object_works_as_a_reply_function():
    class Reply:
        __hash__ = None  # type: ignore[assignment]  # e.g. a dataclass with eq=True

        def __eq__(self, other):
            return self is other

        def __call__(self, recipient, messages=None, sender=None, config=None):
            return True, "from the object"

    bot, user = _bots(human_input_mode="NEVER", max_consecutive_auto_reply=0)
    bot.register_reply([autogen.Agent, None], Reply())
    result = user.initiate_chat(bot, message="hi", silent=True)
    assert result.chat_history[-1]["content"] == "from the object"


def test_tool_wrappers_are_known_by_a_side_table_not_attributes_on_the_function():
    caller = autogen.ConversableAgent("caller", llm_config={"config_list": [{"model": "m", "api_key": "x"}]})
    runner = autogen.ConversableAgent("runner", llm_config=False)

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    tool = runner.register_for_execution()(caller.register_for_llm(name="plus")(add))
    assert tool is not add and user_function(tool) is add and user_function(add) is add
    info = tool_info(tool)
    assert info is not None and (info.name, info.description) == ("plus", "Add two numbers.")
    assert runner.function_map == {"plus": tool} and vars(add) == {}

    @functools.wraps(tool)
    def decorated(*args, **kwargs):  # a user's own decorator around our wrapper is the user's function
        return tool(*args, **kwargs)

    assert tool_info(decorated) is None and user_function(decorated) is decorated

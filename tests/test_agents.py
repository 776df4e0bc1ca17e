"""The conversation core: AutoGen 0.2's two-agent pattern against the real scripted server."""

from __future__ import annotations

import asyncio
import io

import pytest

import agentnb as autogen
from agentnb.agents.human import human_handlers
from agentnb.console import ConsoleView
from agentnb.errors import ChatError, ConfigError, DockerUnavailableError, ModelUnavailableError
from agentnb.messages import (
    ApprovalDecision,
    ChatFinished,
    CodeBlockProposed,
    ExecutionFinished,
    MessageSent,
    subscribe,
)
from agentnb.testing import Fault, code


def ends_with_terminate(message: dict) -> bool:
    """The termination rule 0.2 notebooks pass explicitly (0.2's default is ``content == "TERMINATE"``)."""
    return (message.get("content") or "").rstrip().endswith("TERMINATE")


def pair(server, work_dir, *, executor="commandline-local", approval="never", **proxy_kw):
    assistant = autogen.AssistantAgent(name="assistant", llm_config=server.llm_config())
    proxy_kw.setdefault("human_input_mode", "NEVER")
    proxy_kw.setdefault("is_termination_msg", ends_with_terminate)
    proxy_kw.setdefault("max_consecutive_auto_reply", 10)
    user_proxy = autogen.UserProxyAgent(
        name="user_proxy",
        code_execution_config={"work_dir": str(work_dir), "use_docker": False, "executor": executor,
                               "approval": approval},
        **proxy_kw,
    )
    return assistant, user_proxy


def test_seed_snippet_runs_code_and_returns_chat_result(model_server, tmp_workdir, capsys):
    model_server.add(code("import sys\nprint('answer', 6 * 7)"), "The answer is 42. TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    result = user_proxy.initiate_chat(assistant, message="Compute 6 * 7.")
    out = capsys.readouterr().out
    assert "user_proxy (to assistant):" in out and "assistant (to user_proxy):" in out
    assert "EXECUTING CODE BLOCK" in out and "answer 42" in out
    assert isinstance(result, autogen.ChatResult)
    assert [m["name"] for m in result.chat_history] == ["user_proxy", "assistant", "user_proxy", "assistant"]
    assert result.chat_history[2]["content"].startswith("exitcode: 0 (execution succeeded)")
    assert "answer 42" in result.chat_history[2]["content"]
    assert result.summary == "The answer is 42."
    assert result.stop_reason == "terminated"
    usage = result.cost["usage_including_cached_inference"]
    assert usage["scripted-model"]["prompt_tokens"] > 0
    assert result.chat_id and result.human_input == []
    # the model saw the execution result in its second request
    assert "answer 42" in model_server.requests[1]["messages"][-1]["content"]


def test_failed_code_reports_exit_code(model_server, tmp_workdir):
    model_server.add(code("raise ValueError('boom')"), "TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    reply = result.chat_history[2]["content"]
    assert reply.startswith("exitcode: 1 (execution failed)") and "ValueError: boom" in reply


def test_max_consecutive_auto_reply_limits_the_chat(model_server, tmp_workdir):
    model_server.add(*(["still thinking"] * 3))
    assistant, user_proxy = pair(model_server, tmp_workdir, max_consecutive_auto_reply=2)
    result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    assert len(model_server.requests) == 3 and result.stop_reason == "max_consecutive_auto_reply"


def test_max_turns(model_server, tmp_workdir):
    model_server.add("one", "two", "three")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    result = user_proxy.initiate_chat(assistant, message="go", max_turns=2, silent=True)
    assert len(model_server.requests) == 2
    assert len(result.chat_history) == 4 and result.stop_reason == "max_turns"


def test_model_failure_stops_chat_with_history(model_server, tmp_workdir):
    model_server.add(code("print('ok')"), Fault.status(500, times=3, retry_after=0.01))
    assistant, user_proxy = pair(model_server, tmp_workdir)
    events = []
    with subscribe(events.append), pytest.raises(ModelUnavailableError) as info:
        user_proxy.initiate_chat(assistant, message="go", silent=True)
    history = info.value.chat_history
    assert len(history) == 3 and "ok" in history[2]["content"]
    assert "scripted-model" in str(info.value)
    assert isinstance(events[-1], ChatFinished) and events[-1].reason == "error"


def test_odd_contents_never_crash_the_view(model_server, tmp_workdir):
    long_text = "x" * 200_000
    model_server.add("", long_text, "naïve café — 日本語 🚀 TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    buf = io.StringIO()
    with ConsoleView(stream=buf).attach():
        result = user_proxy.initiate_chat(assistant, message=None or "héllo", silent=True)
    assert result.chat_history[-1]["content"].endswith("TERMINATE")
    printed = buf.getvalue()
    assert "(empty message)" in printed and "日本語" in printed and "more characters not shown" in printed


def test_ascii_console_does_not_crash(model_server, tmp_workdir):
    model_server.add("日本語 TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    with ConsoleView(stream=stream).attach():
        user_proxy.initiate_chat(assistant, message="hi", silent=True)
    stream.flush()
    assert b"???" in raw.getvalue()


def test_register_reply_later_registered_checked_first(model_server):
    bot = autogen.ConversableAgent("bot", llm_config=False, human_input_mode="NEVER")
    calls = []

    def first(recipient, messages=None, sender=None, config=None):
        calls.append("first")
        return True, "from first"

    async def second(recipient, messages=None, sender=None, config=None):
        calls.append("second")
        return False, None

    bot.register_reply([autogen.Agent, None], first)
    bot.register_reply([autogen.Agent, None], second)
    user = autogen.ConversableAgent("user", llm_config=False, human_input_mode="NEVER",
                                    max_consecutive_auto_reply=0)
    result = user.initiate_chat(bot, message="hi", silent=True)
    assert calls == ["second", "first"]
    assert result.chat_history[-1]["content"] == "from first"


def test_trigger_by_name_only_fires_for_that_sender():
    bot = autogen.ConversableAgent("bot", llm_config=False, human_input_mode="NEVER", default_auto_reply="default")
    bot.register_reply("alice", lambda r, messages=None, sender=None, config=None: (True, "hi alice"))
    alice = autogen.ConversableAgent("alice", llm_config=False, human_input_mode="NEVER",
                                     max_consecutive_auto_reply=0)
    bob = autogen.ConversableAgent("bob", llm_config=False, human_input_mode="NEVER", max_consecutive_auto_reply=0)
    assert alice.initiate_chat(bot, message="x", silent=True).summary == "hi alice"
    assert bob.initiate_chat(bot, message="x", silent=True).summary == "default"


def test_human_input_always_mode(model_server, tmp_workdir):
    model_server.add("first answer", "second answer", "third answer")
    answers = iter(["please elaborate", "", "exit"])
    prompts = []

    def provider(prompt):
        prompts.append(prompt)
        return next(answers)

    assistant, user_proxy = pair(model_server, tmp_workdir, human_input_mode="ALWAYS")
    with human_handlers(input_provider=provider):
        result = user_proxy.initiate_chat(assistant, message="start", silent=True)
    # human text is sent as is; empty = auto reply (no code -> default_auto_reply ""); exit ends
    contents = [m["content"] for m in result.chat_history]
    assert contents == ["start", "first answer", "please elaborate", "second answer", "", "third answer"]
    assert len(model_server.requests) == 3 and len(prompts) == 3
    assert result.human_input == ["please elaborate", "", "exit"]
    assert result.stop_reason == "human_exit"
    assert "Press enter to skip" in prompts[0]


def test_human_input_terminate_mode_asks_on_termination(model_server, tmp_workdir):
    model_server.add("done TERMINATE", "ok really done TERMINATE")
    replies = iter(["one more thing", ""])
    assistant, user_proxy = pair(model_server, tmp_workdir, human_input_mode="TERMINATE")
    with human_handlers(input_provider=lambda p: next(replies)):
        result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    assert [m["content"] for m in result.chat_history][2] == "one more thing"
    assert result.stop_reason == "terminated"  # an empty answer accepts the TERMINATE


def test_sync_get_human_input_override_is_used(model_server, tmp_workdir):
    model_server.add("what now?")

    class Scripted(autogen.UserProxyAgent):
        def get_human_input(self, prompt):
            return "exit"

    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    proxy = Scripted("user_proxy", code_execution_config=False)
    result = proxy.initiate_chat(assistant, message="hi", silent=True)
    assert result.human_input == ["exit"] and len(result.chat_history) == 2


def test_summary_methods(model_server, tmp_workdir):
    model_server.add("Result: 3. TERMINATE", "A short reflection.")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    result = user_proxy.initiate_chat(assistant, message="1+2", summary_method="reflection_with_llm",
                                      silent=True)
    assert result.summary == "A short reflection."
    assert model_server.requests[-1]["messages"][-1]["content"].startswith("Summarize the takeaway")
    model_server.add("x TERMINATE")
    result = user_proxy.initiate_chat(assistant, message="again", silent=True,
                                      summary_method=lambda s, r, a: f"{len(s.chat_messages[r])} messages")
    assert result.summary == "2 messages"


def test_message_as_dict_and_callable(model_server, tmp_workdir):
    model_server.add("a TERMINATE", "b TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    user_proxy.initiate_chat(assistant, message={"content": "as dict", "role": "user"}, silent=True)
    assert model_server.requests[0]["messages"][-1]["content"] == "as dict"
    user_proxy.initiate_chat(assistant, message=lambda s, r, ctx: f"from {s.name} to {r.name}", silent=True)
    assert model_server.requests[1]["messages"][-1]["content"] == "from user_proxy to assistant"


def test_clear_history_false_continues(model_server, tmp_workdir):
    model_server.add("first TERMINATE", "second TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    user_proxy.initiate_chat(assistant, message="one", silent=True)
    result = user_proxy.initiate_chat(assistant, message="two", clear_history=False, silent=True)
    assert len(result.chat_history) == 4
    assert len(model_server.requests[1]["messages"]) == 4  # system + 3 turns


@pytest.mark.parametrize("kwargs, field", [
    ({"human_input_mode": "SOMETIMES"}, "human_input_mode"),
    ({"max_consecutive_auto_reply": -1}, "max_consecutive_auto_reply"),
    ({"code_execution_config": {"approval": "maybe"}}, "approval"),
    ({"code_execution_config": {"executor": "docker-in-the-sky"}}, "executor"),
])
def test_bad_agent_arguments(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        proxy = autogen.UserProxyAgent("u", **kwargs)
        if "executor" in field:  # executors are built on first use
            asyncio.run(_first_executor(proxy))


async def _first_executor(agent):
    from agentnb.agents.replies import _get_executor

    await _get_executor(agent)


def test_use_docker_fails_clearly_never_runs_on_host(tmp_workdir):
    with pytest.raises(DockerUnavailableError, match=r"[Dd]ocker"):
        autogen.UserProxyAgent("u", code_execution_config={"work_dir": str(tmp_workdir), "use_docker": True})


def test_approval_reject_means_code_never_runs(model_server, tmp_workdir):
    marker = tmp_workdir / "ran.txt"
    model_server.add(code(f"open({str(marker)!r}, 'w').write('x')"), "ok TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir, approval="always")
    seen = []

    def approver(request):
        seen.append(request)
        assert not marker.exists()
        return ApprovalDecision(approved=False, reason="not on my machine")

    with human_handlers(approver=approver):
        result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    assert not marker.exists()
    assert seen and "ran.txt" in seen[0].code
    reply = result.chat_history[2]["content"]
    assert "rejected" in reply and "not on my machine" in reply


def test_approval_edit_runs_edited_code_and_tells_model(model_server, tmp_workdir):
    model_server.add(code("print('original')"), "ok TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir, approval="first")
    events = []
    with subscribe(events.append), human_handlers(
            approver=lambda r: ApprovalDecision(approved=True, code="print('edited')\n")):
        result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    reply = result.chat_history[2]["content"]
    assert "edited" in reply and "original" not in reply.split("Code output:")[1]
    assert "The user edited the code block" in model_server.requests[1]["messages"][-1]["content"]
    finished = [e for e in events if isinstance(e, ExecutionFinished)]
    assert finished[0].code == "print('edited')\n"


def test_approval_without_a_person_rejects(model_server, tmp_workdir, monkeypatch):
    """No approver installed and no usable stdin: the default console approver must refuse."""
    marker = tmp_workdir / "ran.txt"
    model_server.add(code(f"open({str(marker)!r}, 'w').write('x')"), "TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir, approval="always")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    assert not marker.exists() and "rejected" in result.chat_history[2]["content"]


def test_events_stream_in_order(model_server, tmp_workdir):
    model_server.add(code("print(1)"), "TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    kinds = [type(e).__name__ for e in result.events]
    assert kinds[0] == "ChatStarted" and kinds[-1] == "ChatFinished"
    assert kinds.index("CodeBlockProposed") < kinds.index("ExecutionFinished")
    sent = [e for e in result.events if isinstance(e, MessageSent)]
    assert [e.sender for e in sent] == ["user_proxy", "assistant", "user_proxy", "assistant"]
    assert any(isinstance(e, CodeBlockProposed) for e in result.events)
    assert all(e.chat_id == result.chat_id for e in result.events)


def test_sync_api_inside_a_running_loop(model_server, tmp_workdir):
    model_server.add("hello TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)

    async def main():
        # a sync call while this loop runs: no "event loop is already running"
        return user_proxy.initiate_chat(assistant, message="hi", silent=True)

    assert asyncio.run(main()).summary == "hello"


def test_async_api(model_server, tmp_workdir):
    model_server.add(code("x = 5\nprint(x)"), "TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    result = asyncio.run(user_proxy.a_initiate_chat(assistant, message="go", silent=True))
    assert "5" in result.chat_history[2]["content"]


def test_unexpected_reply_function_error_keeps_history(model_server):
    bot = autogen.ConversableAgent("bot", llm_config=False, human_input_mode="NEVER")

    def broken(recipient, messages=None, sender=None, config=None):
        raise RuntimeError("reply function bug")

    bot.register_reply([autogen.Agent, None], broken)
    user = autogen.ConversableAgent("user", llm_config=False, human_input_mode="NEVER")
    with pytest.raises(ChatError, match="reply function bug") as info:
        user.initiate_chat(bot, message="hi", silent=True)
    assert info.value.chat_history[0]["content"] == "hi"


def test_default_executor_is_a_stateful_jupyter_kernel(model_server, tmp_workdir):
    """The seed's config (no executor named) runs code in a kernel: state survives between blocks."""
    model_server.add(code("x = 6 * 7"), code("print('x is', x)"), "TERMINATE")
    assistant = autogen.AssistantAgent(name="assistant", llm_config=model_server.llm_config())
    user_proxy = autogen.UserProxyAgent(
        name="user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=10,
        code_execution_config={"work_dir": str(tmp_workdir), "use_docker": False})
    result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    assert "x is 42" in result.chat_history[4]["content"]
    finished = [e for e in result.events if isinstance(e, ExecutionFinished)]
    assert [e.execution_count for e in finished] == [1, 2]  # a kernel numbers its cells
    assert user_proxy.code_executor is None  # the kernel was shut down when the chat ended


def test_a_failing_approver_rejects(model_server, tmp_workdir):
    marker = tmp_workdir / "ran.txt"
    model_server.add(code(f"open({str(marker)!r}, 'w').write('x')"), "TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir, approval="always")

    def broken(request):
        raise NotImplementedError("stdin is not available")

    with human_handlers(approver=broken):
        result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    assert not marker.exists()
    reply = result.chat_history[2]["content"]
    assert "rejected" in reply and "stdin is not available" in reply


def test_console_announces_execution_only_after_approval(model_server, tmp_workdir):
    model_server.add(code("print('never')"), "TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir, approval="always")
    buf = io.StringIO()
    with ConsoleView(stream=buf).attach(), human_handlers(
            approver=lambda r: ApprovalDecision(approved=False, reason="no")):
        user_proxy.initiate_chat(assistant, message="go", silent=True)
    printed = buf.getvalue()
    assert "REJECTED: no" in printed and "EXECUTING CODE BLOCK" not in printed


@pytest.mark.parametrize("answer", [{"approved": False}, "no", (False, "reason"), None, 1])
def test_approver_answers_other_than_a_decision_reject(model_server, tmp_workdir, answer):
    """Fail closed: only an ApprovalDecision or True approves."""
    marker = tmp_workdir / "ran.txt"
    model_server.add(code(f"open({str(marker)!r}, 'w').write('x')"), "TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir, approval="always")
    with human_handlers(approver=lambda r: answer):
        result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    assert not marker.exists()
    assert "rejected" in result.chat_history[2]["content"]


def test_model_code_cannot_read_model_keys(model_server, tmp_workdir, monkeypatch):
    secret = "sk-proj-abcdefghijklmnop1234"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("OTHER_API_KEY", secret)
    model_server.add(
        code("import os\nprint('key:', os.environ.get('OPENAI_API_KEY'), os.environ.get('OTHER_API_KEY'))"),
        "TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    user_proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER",
                                        code_execution_config={"work_dir": str(tmp_workdir)})
    result = user_proxy.initiate_chat(assistant, message="go", silent=True)
    assert "key: None None" in result.chat_history[2]["content"]
    assert secret not in str(result.chat_history) and secret not in str(model_server.requests)


def test_cache_object_and_reflection_uses_the_recipients_model(model_server, tmp_workdir, tmp_path):
    model_server.add("Answer. TERMINATE", "the reflection")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    with autogen.Cache.disk(cache_seed=3, cache_path_root=str(tmp_path)) as cache:
        first = user_proxy.initiate_chat(assistant, message="q", cache=cache, silent=True,
                                         summary_method="reflection_with_llm")
        second = user_proxy.initiate_chat(assistant, message="q", cache=cache, silent=True,
                                          summary_method="reflection_with_llm")
    assert first.summary == second.summary == "the reflection"
    assert len(model_server.requests) == 2  # the second chat came from the cache
    assert second.cost["usage_excluding_cached_inference"]["total_cost"] == 0


def test_module_level_initiate_chats_carries_summaries(model_server, tmp_workdir):
    model_server.add("Paris. TERMINATE", "It has 2 million people. TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    results = autogen.initiate_chats([
        {"sender": user_proxy, "recipient": assistant, "message": "Capital of France?", "silent": True},
        {"sender": user_proxy, "recipient": assistant, "message": "Its population?", "silent": True},
    ])
    assert [r.summary for r in results] == ["Paris.", "It has 2 million people."]
    assert "Paris." in model_server.requests[1]["messages"][-1]["content"]


def test_execute_code_blocks_directly(tmp_workdir):
    proxy = autogen.UserProxyAgent(
        "u", human_input_mode="NEVER",
        code_execution_config={"work_dir": str(tmp_workdir), "executor": "commandline-local"})
    out = proxy.execute_code_blocks([("python", "print(2 + 3)"), ("sh", "echo shell")])
    assert out.startswith("exitcode: 0") and "5" in out and "shell" in out


def test_hooks_change_what_the_model_sees_and_what_is_sent(model_server, tmp_workdir):
    model_server.add("answer TERMINATE")
    assistant, user_proxy = pair(model_server, tmp_workdir)
    assistant.register_hook("process_last_received_message", lambda text: text.upper())
    user_proxy.register_hook("process_message_before_send",
                             lambda sender, message, recipient, silent: f"[{recipient.name}] {message}")
    with pytest.raises(ConfigError, match="hookable"):
        assistant.register_hook("no_such_hook", print)
    user_proxy.initiate_chat(assistant, message="hello", silent=True)
    assert model_server.requests[0]["messages"][-1]["content"] == "[ASSISTANT] HELLO"
    assert assistant.chat_messages[user_proxy][0]["content"] == "[assistant] hello"  # history keeps the original


def test_nested_chats_reply_with_the_inner_summary(model_server, tmp_workdir):
    model_server.add("Inner critique: fine. TERMINATE", model="critic")
    model_server.add("Draft answer", "Thanks", model="writer")
    writer = autogen.AssistantAgent("writer", llm_config=model_server.llm_config(model="writer"))
    critic = autogen.AssistantAgent("critic", llm_config=model_server.llm_config(model="critic"))
    reviewer = autogen.UserProxyAgent("reviewer", human_input_mode="NEVER", code_execution_config=False,
                                      max_consecutive_auto_reply=1)
    reviewer.register_nested_chats([{"recipient": critic, "max_turns": 1, "summary_method": "last_msg"}],
                                   trigger=writer)
    result = reviewer.initiate_chat(writer, message="write", max_turns=2, silent=True)
    # writer's draft went to the critic in a nested chat; its summary is the reviewer's reply
    assert model_server.requests_for("critic")[0]["messages"][-1]["content"] == "Draft answer"
    assert result.chat_history[2]["content"] == "Inner critique: fine."

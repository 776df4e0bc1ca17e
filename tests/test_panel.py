"""ChatPanel driven by scripted event sequences and real button clicks (no kernel needed)."""

from __future__ import annotations

import asyncio

import ipywidgets as widgets
import pytest

from agentnb.messages import (
    ApprovalDecided,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalRequested,
    ChatFinished,
    ChatStarted,
    CodeBlockProposed,
    ExecutionFinished,
    ExecutionOutput,
    MessageSent,
    StreamStarted,
    TokenChunk,
    UsageUpdated,
    emit,
)
from agentnb.notebook.html import agent_colour, markdown_to_html
from agentnb.notebook.panel import ChatPanel
from agentnb.notebook.render import PlainRenderer

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def code_request(code: str = "print('hi')\n") -> ApprovalRequest:
    return ApprovalRequest(kind="code", agent="user_proxy", code=code)


async def _pending(coro):
    """Start ``coro`` as a task and let it reach its first wait."""
    task = asyncio.ensure_future(coro)
    for _ in range(3):
        await asyncio.sleep(0)
    return task


def html_of(panel: ChatPanel) -> str:
    out = []

    def walk(w):
        if isinstance(w, widgets.HTML):
            out.append(w.value)
        for c in getattr(w, "children", ()):
            walk(c)

    walk(panel.conversation)
    return "\n".join(out)


# ------------------------------------------------------------------ approval


def test_approve_resolves_only_after_click():
    async def main():
        panel = ChatPanel()
        req = code_request()
        panel.handle_event(ApprovalRequested(request=req))
        task = await _pending(panel.approver(req))
        await asyncio.sleep(0.01)
        assert not task.done(), "approval resolved without a click"
        card = panel._approvals[req.request_id]
        card.approve_button.click()
        decision = await asyncio.wait_for(task, 5)
        assert decision == ApprovalDecision(approved=True)
        assert all(b.disabled for b in card.buttons)
        card.reject_button.click()  # a second click changes nothing
        assert card.decision.approved

    asyncio.run(main())


def test_edit_returns_edited_code():
    async def main():
        panel = ChatPanel()
        req = code_request("x = 1\n")
        task = await _pending(panel.approver(req))  # the card is created on demand too
        card = panel._approvals[req.request_id]
        card.edit_button.click()
        assert card.editor.layout.display is None and not task.done()
        card.editor.value = "x = 2\n"
        card.run_edited_button.click()
        decision = await asyncio.wait_for(task, 5)
        assert decision.approved and decision.edited and decision.code == "x = 2\n"

    asyncio.run(main())


def test_reject_carries_reason():
    async def main():
        panel = ChatPanel()
        req = code_request("import os; os.remove('x')\n")
        task = await _pending(panel.approver(req))
        card = panel._approvals[req.request_id]
        card.reason.value = "  do not delete files "
        card.reject_button.click()
        decision = await asyncio.wait_for(task, 5)
        assert decision == ApprovalDecision(approved=False, reason="do not delete files")
        assert "rejected: do not delete files" in card.status.value

    asyncio.run(main())


def test_click_from_another_thread_resolves_future():
    async def main():
        panel = ChatPanel()
        req = code_request()
        task = await _pending(panel.approver(req))
        await asyncio.to_thread(panel._approvals[req.request_id].approve_button.click)
        assert (await asyncio.wait_for(task, 5)).approved

    asyncio.run(main())


def test_approval_through_human_hooks_and_bus():
    """The real request_approval path: event shows the card, installed approver waits for the click."""
    from agentnb.agents.human import request_approval

    async def main():
        panel = ChatPanel()
        with panel.attached():
            task = await _pending(request_approval(code_request("1 + 1\n")))
        (card,) = panel._approvals.values()
        assert not task.done()
        card.approve_button.click()
        decision = await asyncio.wait_for(task, 5)
        assert decision.approved and card.decision.approved and "approved" in card.status.value

    asyncio.run(main())


def test_cancelled_approval_disables_buttons():
    async def main():
        panel = ChatPanel()
        req = code_request()
        task = await _pending(panel.approver(req))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert all(b.disabled for b in panel._approvals[req.request_id].buttons)

    asyncio.run(main())


def test_sync_mode_shows_request_read_only_and_decision():
    panel = ChatPanel(interactive=False)
    req = code_request()
    panel.handle_event(ApprovalRequested(request=req))
    card = panel._approvals[req.request_id]
    assert card.approve_button not in card.children[1:] and "input box below" in card.status.value
    panel.handle_event(ApprovalDecided(request=req, decision=ApprovalDecision(approved=False, reason="no")))
    assert "rejected: no" in card.status.value


# ------------------------------------------------------------------ input, speakers, buttons


def test_reply_box_and_speaker_choice():
    async def main():
        panel = ChatPanel()
        task = await _pending(panel.input_provider("Your reply?"))
        assert panel.reply_box.layout.display is None and "Your reply?" in panel.reply_box.prompt.value
        assert not task.done()
        panel.reply_box.text.value = "exit"
        panel.reply_box.send_button.click()
        assert await asyncio.wait_for(task, 5) == "exit"
        assert panel.reply_box.layout.display == "none"

        task = await _pending(panel.input_provider("again"))
        panel.reply_box.send_button.click()  # empty = auto-reply
        assert await asyncio.wait_for(task, 5) == ""

        task = await _pending(panel.choose_speaker(["coder", "critic"], "Pick"))
        names = [b.description for b in panel.speaker_chooser.buttons]
        assert names == ["coder", "critic"] and not task.done()
        panel.speaker_chooser.buttons[1].click()
        assert await asyncio.wait_for(task, 5) == "critic"

    asyncio.run(main())


def test_stop_and_export_call_callbacks():
    panel = ChatPanel()
    stopped, exported = [], []
    panel.on_stop(lambda: stopped.append(1))
    panel.on_export(lambda: exported.append(1) or "chat.ipynb")
    panel.handle_event(ChatStarted(sender="user", recipient="assistant", max_turns=3))
    panel.stop_button.click()
    panel.export_button.click()
    assert stopped == [1] and exported == [1]
    assert "exported to chat.ipynb" in html_of(panel)


# ------------------------------------------------------------------ messages, streaming, outputs


def test_messages_rendered_escaped_and_coloured():
    panel = ChatPanel()
    panel.handle_event(ChatStarted(sender="user", recipient="assistant", max_turns=4))
    panel.handle_event(MessageSent(sender="user", recipient="assistant",
                                   message={"content": "<img src=x onerror=alert(1)> **bold**"}))
    panel.handle_event(MessageSent(sender="assistant", recipient="user",
                                   message={"content": "Plot:\n```python\nprint(1 < 2)\n```"}))
    panel.handle_event(UsageUpdated(agent="assistant", model="m", prompt_tokens=100, completion_tokens=23,
                                    cost=0.5))
    text = html_of(panel)
    assert "<img" not in text and "&lt;img src=x" in text and "<strong>bold</strong>" in text
    assert 'class="nb">print' in text and "&lt;" in text  # highlighted and escaped
    assert agent_colour("assistant") in text and agent_colour("assistant") == agent_colour("assistant")
    status = panel.status.value
    assert "2 messages" in status and "123 tokens" in status and "$0.5000" in status and "assistant" in status


def test_markdown_links_only_http():
    out = markdown_to_html("[a](javascript:alert(1)) [b](https://example.org)")
    assert "javascript:" not in out.split("href")[1] if "href" in out else True
    assert '<a href="https://example.org"' in out and 'href="javascript' not in out


def test_token_stream_batched_and_final_message_replaces_it():
    panel = ChatPanel(flush_interval=3600)  # no second flush can be due during this test
    panel.handle_event(StreamStarted(sender="assistant", message_id="m1"))
    for i in range(1000):
        panel.handle_event(TokenChunk(sender="assistant", message_id="m1", text=f"t{i} "))
    assert panel.updates == 1, "every token re-rendered the card"
    panel.handle_event(MessageSent(sender="assistant", recipient="user", message_id="m1",
                                   message={"content": "final answer"}))
    assert panel.updates == 2
    assert len(panel.items) == 1
    assert "final answer" in panel.items[0].value


def test_token_stream_timer_flushes_on_running_loop():
    async def main():
        panel = ChatPanel(flush_interval=0.02)
        panel.handle_event(StreamStarted(sender="a", message_id="m"))
        panel.handle_event(TokenChunk(sender="a", message_id="m", text="one "))
        panel.handle_event(TokenChunk(sender="a", message_id="m", text="two"))
        while "two" not in panel.items[0].value:  # the scheduled flush shows the tail
            await asyncio.sleep(0.01)
        assert panel.updates == 2

    asyncio.run(asyncio.wait_for(main(), 10))


def test_execution_outputs_as_mime_bundles():
    panel = ChatPanel()
    panel.handle_event(CodeBlockProposed(executor="user_proxy", block_id="b1", language="python", code="x"))
    for ev in [
        ExecutionOutput(executor="user_proxy", block_id="b1", kind="stream", name="stdout", text="a\n"),
        ExecutionOutput(executor="user_proxy", block_id="b1", kind="stream", name="stdout", text="b\n"),
        ExecutionOutput(executor="user_proxy", block_id="b1", kind="display_data", display_id="d",
                        data={"image/png": PNG, "text/plain": "<Figure>"}),
        ExecutionOutput(executor="user_proxy", block_id="b1", kind="update_display_data", display_id="d",
                        data={"text/html": "<table></table>", "text/plain": "t"}),
        ExecutionOutput(executor="user_proxy", block_id="b1", kind="error", ename="ValueError", evalue="bad",
                        traceback=["\x1b[31mValueError\x1b[0m: bad"]),
    ]:
        panel.handle_event(ev)
    panel.handle_event(ExecutionFinished(executor="user_proxy", block_id="b1", language="python", code="x",
                                         exit_code=1, summary=""))
    (execution,) = panel._executions.values()
    outs = execution.output.outputs
    assert outs[0] == {"output_type": "stream", "name": "stdout", "text": "a\nb\n"}
    assert outs[1]["data"]["text/html"] == "<table></table>"
    assert outs[2]["output_type"] == "error" and outs[2]["ename"] == "ValueError"
    # a traceback folds: error type and message first, the live Output view swapped for the folded one
    assert execution.output.layout.display == "none"
    assert "✘ ValueError: bad" in execution.folded.value and "traceback ▸" not in execution.folded.value


def test_chat_finished_stops_and_cancels_pending_cards():
    panel = ChatPanel()
    panel.on_stop(lambda: None)
    panel.handle_event(ChatStarted(sender="u", recipient="a"))
    assert not panel.stop_button.disabled
    req = code_request()
    panel.handle_event(ApprovalRequested(request=req))
    panel.handle_event(ChatFinished(reason="stopped"))
    assert panel.stop_button.disabled and all(b.disabled for b in panel._approvals[req.request_id].buttons)
    assert "■ stopped" in panel.status.value and "finished" not in panel.status.value
    assert panel.stop_button.layout.display == "none"  # no Stop on a chat that is over


def test_500_messages_bounded():
    from ipywidgets.widgets.widget import _instances

    before = len(_instances)
    panel = ChatPanel(max_messages=500)
    panel.handle_event(ChatStarted(sender="u", recipient="a"))
    for i in range(1200):
        panel.handle_event(MessageSent(sender="u" if i % 2 else "a", recipient="a",
                                       message={"content": f"message {i} with `code`"}))
    assert len(panel.messages) == 500 and panel.messages[-1]["content"].startswith("message 1199")
    assert 500 <= len(panel.items) < 550  # whole pages of 50 are dropped
    assert "message 1199" in panel.items[-1].value
    assert f"{1200 - len(panel.items)} earlier items" in panel.hidden_note.value
    # closed widgets are unregistered: the registry holds ~one model per kept card, not per message
    assert len(_instances) - before < 600


def test_plain_renderer_displays_bundles(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shown = []
    shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)
    r = PlainRenderer()
    r.handle_event(MessageSent(sender="assistant", recipient="user", message={"content": "hello *x*"}))
    r.handle_event(ExecutionOutput(executor="u", block_id="b", kind="display_data",
                                   data={"image/png": PNG, "text/plain": "<Figure>"}))
    r.handle_event(ExecutionOutput(executor="u", block_id="b", kind="stream", name="stdout", text="out\n"))
    r.handle_event(ChatFinished(reason="terminated"))
    assert "text/markdown" not in shown[0] and shown[1]["image/png"] == PNG
    assert "<strong>assistant</strong> → user" in shown[0]["text/html"] and "<em>x</em>" in shown[0]["text/html"]
    assert shown[0]["text/plain"] == "assistant (to user):\nhello *x*\n"
    assert "chat finished: terminated" in shown[-1]["text/plain"]
    assert capsys.readouterr().out == "out\n"


def test_attached_sync_posts_events_to_caller_thread():
    """Sync chats: events emitted on the bridge thread are rendered on the caller's thread."""
    import threading

    from agentnb._aio import run_sync

    panel = ChatPanel()
    seen_threads = []
    original = panel.handle_event
    panel.handle_event = lambda ev: (seen_threads.append(threading.current_thread()), original(ev))

    async def chat():
        emit(MessageSent(sender="a", recipient="b", message={"content": "hi"}))

    with panel.attached(sync=True):
        run_sync(chat())
    assert seen_threads == [threading.main_thread()]
    assert not panel.interactive and "hi" in html_of(panel)


# ------------------------------------------------------------------ view selection, line magic


def test_view_mode_selection(monkeypatch, capsys):
    from agentnb import views

    monkeypatch.delenv("AGENTNB_VIEW", raising=False)
    assert views.view_mode() == "console"  # no kernel in this process
    monkeypatch.setenv("AGENTNB_VIEW", "plain")
    assert views.view_mode() == "plain"
    views.set_view_mode("widget")
    try:
        assert views.view_mode() == "widget"
    finally:
        views.set_view_mode(None)
    with pytest.raises(ValueError):
        views.set_view_mode("fancy")
    monkeypatch.setenv("AGENTNB_VIEW", "console")
    with views.default_view(sync=False):
        emit(MessageSent(sender="assistant", recipient="user", message={"content": "printed by the console"}))
    assert "printed by the console" in capsys.readouterr().out


def test_line_magic_usage_and_view(monkeypatch):
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    from agentnb import views
    from agentnb.notebook import load_ipython_extension

    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    with pytest.raises(UsageError):
        shell.run_line_magic("agents", "frobnicate")
    shell.run_line_magic("agents", "view plain")
    try:
        assert views.view_mode() == "plain"
    finally:
        shell.run_line_magic("agents", "view auto")
    with pytest.raises(UsageError, match="needs a task"):
        shell.run_cell_magic("agents", "--max-turns 2", "   ")


def test_model_line_magic_filters_config_list(monkeypatch, capsys):
    import json

    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    from agentnb.notebook import load_ipython_extension
    from agentnb.notebook.magics import AgentMagics

    monkeypatch.setenv("OAI_CONFIG_LIST", json.dumps([
        {"model": "small", "base_url": "http://127.0.0.1:9/v1", "api_key": "k1"},
        {"model": "big", "base_url": "http://127.0.0.1:9/v1", "api_key": "k2"}]))
    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    shell.run_line_magic("agents", "model big")
    assert capsys.readouterr().out.strip() == "model: big"
    assert [e["model"] for e in AgentMagics.llm_config("big")["config_list"]] == ["big"]
    with pytest.raises(UsageError, match="known: big, small"):
        shell.run_line_magic("agents", "model huge")


def test_explicit_approve_covers_a_teams_tools_and_code():
    """--approve with --team becomes the chat's policy (code and tools, nested agents too: see
    tests/adversarial/test_approval_nested.py); the team's agents themselves are not changed."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.magic_arguments import parse_argstring

    import agentnb as autogen
    from agentnb.notebook.magics import AgentMagics

    shell = InteractiveShell.instance()
    user = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", code_execution_config=False)
    coder = autogen.UserProxyAgent("runner", human_input_mode="NEVER", code_execution_config={"approval": "never"})
    assistant = autogen.AssistantAgent("assistant", llm_config={"config_list": [{"model": "m"}]})
    shell.user_ns["team"] = {"user_proxy": user, "assistant": assistant}
    magics = AgentMagics(shell)
    args = parse_argstring(magics.agents_cell, "--team team --approve always")
    sender, recipient = magics._participants(args)
    assert sender is user and recipient is assistant
    assert not hasattr(user, "tool_approval") and not hasattr(assistant, "tool_approval")
    assert user._code_execution_config is False
    args = parse_argstring(magics.agents_cell, "--team pair")
    shell.user_ns["pair"] = (coder, assistant)
    magics._participants(args)  # no --approve: the team's own settings stay
    assert coder._code_execution_config["approval"] == "never"


def test_an_approver_the_caller_installed_decides_and_the_panel_shows_it():
    """The caller's policy (human_handlers) wins over the buttons: the card has none, shows the verdict."""
    from agentnb.agents.human import human_handlers, request_approval

    def policy(request):
        return ApprovalDecision(approved=False, reason="no network here")

    async def main():
        panel = ChatPanel()
        with human_handlers(approver=policy), panel.attached():
            panel.handle_event(ApprovalRequested(request=code_request("x = 1\n")))
            (card,) = panel._approvals.values()
            assert card.button_row not in card.children and "approver installed for this chat" in card.status.value
            decision = await asyncio.wait_for(request_approval(code_request("import socket\n")), 5)
        card = list(panel._approvals.values())[-1]
        assert decision == ApprovalDecision(approved=False, reason="no network here")
        assert card.button_row not in card.children and "rejected: no network here" in card.status.value
        with panel.attached():  # no approver of the caller's: the buttons answer again
            task = await _pending(request_approval(code_request("1 + 1\n")))
        card = list(panel._approvals.values())[-1]
        card.approve_button.click()
        assert (await asyncio.wait_for(task, 5)).approved

    asyncio.run(main())

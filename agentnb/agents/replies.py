"""The built-in reply functions of ``ConversableAgent`` (checked in this order).

1. :func:`check_termination_and_human_reply`: stop, ask a person, or count an auto reply;
2. :func:`generate_tool_calls_reply` / :func:`generate_function_call_reply`: run tool calls;
3. :func:`generate_code_execution_reply`: run fenced code blocks (after approval when required);
4. :func:`generate_oai_reply`: ask the model.

Each has AutoGen's signature ``(agent, messages, sender, config) -> (final, reply)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..coding.base import (
    TRUNCATED_MARK,
    CodeBlock,
    cut_off,
    cut_off_reply,
    extract_code_blocks,
    mark_truncated,
    scrub_surrogates,
)
from ..coding.outputs import BlockOutputs
from ..errors import redact
from ..messages import (
    ApprovalRequest,
    CodeBlockProposed,
    ExecutionFinished,
    content_str,
    emit,
    is_protocol_name,
    new_id,
)
from . import scope as _scope
from .human import approval_needed, approval_round, ensure_not_stopped, note_approved, request_approval

if TYPE_CHECKING:
    from .conversable import ConversableAgent



# ----------------------------------------------------------------------- termination / human


async def check_termination_and_human_reply(agent: ConversableAgent, messages: list[dict] | None = None,
                                            sender: Any = None, config: Any = None) -> tuple[bool, Any]:
    """AutoGen 0.2's logic: human_input_mode decides when a person is asked and when the chat stops."""
    if messages is None:
        messages = agent.chat_messages[sender] if sender is not None else []
    if not messages:
        return False, None
    message = messages[-1]
    sender_name = "the sender" if sender is None else sender.name
    reply = ""
    human_exit = False
    auto_limit = agent.max_consecutive_auto_reply(sender)
    if agent.human_input_mode == "ALWAYS":
        reply = await agent.a_get_human_input(
            f"Replying as {agent.name}. Provide feedback to {sender_name}. Press enter to skip and use "
            "auto-reply, or type 'exit' to end the conversation: ")
        human_exit = reply.strip().lower() == "exit"
        reply = reply if reply or not agent.is_termination_msg(message) else "exit"
        stop_reason = "terminated"
    elif agent.runtime.auto_replies[sender] >= auto_limit:
        stop_reason = "max_consecutive_auto_reply"
        if agent.human_input_mode == "NEVER":
            reply = "exit"
        else:
            terminate = agent.is_termination_msg(message)
            reply = await agent.a_get_human_input(
                f"Please give feedback to {sender_name}. Press enter or type 'exit' to stop the conversation: "
                if terminate else
                f"Please give feedback to {sender_name}. Press enter to skip and use auto-reply, "
                "or type 'exit' to stop the conversation: ")
            human_exit = reply.strip().lower() == "exit"
            reply = reply if reply or not terminate else "exit"
    elif agent.is_termination_msg(message):
        stop_reason = "terminated"
        if agent.human_input_mode == "NEVER":
            reply = "exit"
        else:
            reply = await agent.a_get_human_input(
                f"Please give feedback to {sender_name}. Press enter or type 'exit' to stop the conversation: ")
            human_exit = reply.strip().lower() == "exit"
            reply = reply or "exit"
    else:
        stop_reason = "terminated"
    if reply.strip().lower() == "exit":
        agent.runtime.auto_replies[sender] = 0
        _scope.note_stop("human_exit" if human_exit else stop_reason)
        return True, None
    if reply or auto_limit == 0:
        agent.runtime.auto_replies[sender] = 0
        if not reply and auto_limit == 0:
            _scope.note_stop("max_consecutive_auto_reply")
            return True, None
        tool_returns = [
            {"tool_call_id": tc.get("id"), "role": "tool", "content": "USER INTERRUPTED"}
            for tc in (message.get("tool_calls") or [])
        ]
        if tool_returns:
            return True, {"role": "tool", "tool_responses": tool_returns, "content": reply}
        return True, {"role": "user", "content": reply}
    agent.runtime.auto_replies[sender] += 1
    return False, None


# ----------------------------------------------------------------------- tools


async def generate_tool_calls_reply(agent: ConversableAgent, messages: list[dict] | None = None,
                                    sender: Any = None, config: Any = None) -> tuple[bool, Any]:
    """Run the tool calls of the last message with this agent's ``function_map``."""
    if messages is None:
        messages = agent.chat_messages[sender]
    if not messages or not messages[-1].get("tool_calls"):
        return False, None
    from . import tools

    cut = _cut_off_calls(agent, messages[-1])
    if cut is not None:
        return True, cut
    return await tools.generate_tool_calls_reply(agent, messages[-1])


async def generate_function_call_reply(agent: ConversableAgent, messages: list[dict] | None = None,
                                       sender: Any = None, config: Any = None) -> tuple[bool, Any]:
    """Run a legacy ``function_call`` of the last message."""
    if messages is None:
        messages = agent.chat_messages[sender]
    if not messages or not messages[-1].get("function_call"):
        return False, None
    from . import tools

    cut = _cut_off_calls(agent, messages[-1])
    if cut is not None:
        return True, cut
    return await tools.generate_function_call_reply(agent, messages[-1])


def _cut_off_calls(agent: ConversableAgent, message: dict[str, Any]) -> dict[str, Any] | None:
    """For a reply cut off by max_tokens: an answer to each of its calls saying none ran; else None."""
    if not agent.function_map or not content_str(message.get("content")).rstrip().endswith(TRUNCATED_MARK):
        return None
    note = cut_off_reply("max_tokens")
    if isinstance(message.get("function_call"), dict):
        return {"name": message["function_call"].get("name") or "", "role": "function", "content": note}
    from ..llm.client import new_tool_call_id

    responses = []
    for tc in message.get("tool_calls") or []:
        if isinstance(tc, dict):
            if not isinstance(tc.get("id"), str) or not tc["id"]:
                tc["id"] = new_tool_call_id()
            responses.append({"tool_call_id": tc["id"], "role": "tool", "content": note})
    return {"role": "tool", "tool_responses": responses, "content": note}


# ----------------------------------------------------------------------- code


def _messages_to_scan(agent: ConversableAgent, messages: list[dict], last_n: Any) -> list[dict]:
    if last_n == "auto":
        scan = []
        for m in reversed(messages):
            if m.get("name") == agent.name or (m.get("role") == "assistant" and m.get("name") == agent.name):
                break
            scan.append(m)
        return scan or messages[-1:]
    n = int(last_n)
    return list(reversed(messages[-n:])) if n > 0 else []


async def generate_code_execution_reply(agent: ConversableAgent, messages: list[dict] | None = None,
                                        sender: Any = None, config: Any = None) -> tuple[bool, Any]:
    """Run the code blocks of the newest message that has some; reply with the outputs."""
    cfg = config if config is not None else agent.code_execution_config
    if cfg is False:
        return False, None
    if messages is None:
        messages = agent.chat_messages[sender]
    last_n = cfg.get("last_n_messages", "auto") if isinstance(cfg, dict) else "auto"
    for message in _messages_to_scan(agent, messages, last_n):
        if message.get("role") == "tool" or message.get("tool_calls"):
            continue
        text = content_str(message.get("content"))
        reason = cut_off(text)
        if reason is not None:  # cut off by max_tokens or inside an unclosed block: nothing of it runs
            return True, cut_off_reply(reason)
        blocks = extract_code_blocks(text)
        if not blocks:
            continue
        return True, await run_code_blocks(agent, blocks, cfg)
    return False, None


def _needs_approval(agent: ConversableAgent, cfg: Any = None) -> bool:
    """The agent's own policy, unless the chat imposes one (see :func:`human.chat_approval`)."""
    cfg = agent.code_execution_config if cfg is None else cfg
    policy = cfg.get("approval", "never") if isinstance(cfg, dict) else "never"
    return approval_needed(agent, "code", policy)


async def _get_executor(agent: ConversableAgent) -> Any:
    executor, made = agent.runtime.executor_for(agent.code_execution_config)
    if made:
        _scope.track_executor_owner(agent)  # shut down when the chat that started it ends, however nested
    return executor


async def run_code_blocks(agent: ConversableAgent, blocks: list[CodeBlock], config: Any = None) -> str:
    """Execute ``blocks`` in order (stopping at the first failure) and format AutoGen's reply."""
    with approval_round():  # outside a chat, "first" counts within this call
        return await _run_code_blocks(agent, blocks, config)


async def _run_code_blocks(agent: ConversableAgent, blocks: list[CodeBlock], config: Any = None) -> str:
    logs: list[str] = []
    exit_code = 0
    notes: list[str] = []
    rejected = False
    for index, block in enumerate(blocks):
        block_id = new_id("block")
        needs_approval = _needs_approval(agent, config)
        emit(CodeBlockProposed(executor=agent.name, block_id=block_id, language=block.language, code=block.code,
                               needs_approval=needs_approval))
        if needs_approval:
            decision = await request_approval(ApprovalRequest(kind="code", agent=agent.name,
                                                              language=block.language, code=block.code))
            if not decision.approved:
                reason = f" Reason: {decision.reason}" if decision.reason else ""
                what = f"code block {index + 1} of {len(blocks)}" if len(blocks) > 1 else "the code block"
                notes.append(f"The user rejected {what}; it was not executed.{reason}")
                rejected = True
                break
            note_approved(agent, "code")
            if decision.edited:
                block = CodeBlock(code=decision.code or "", language=block.language)
                what = f"code block {index + 1}" if len(blocks) > 1 else "the code block"
                notes.append(f"The user edited {what} before running it; this code ran:\n"
                             f"```{block.language}\n{block.code.rstrip()}\n```")
        executor = await _get_executor(agent)
        outputs = BlockOutputs(agent.name, block_id, emit)  # every view gets them redacted, split keys too
        if block.language not in executor.languages:
            result = executor.unsupported(block)
        else:
            await ensure_not_stopped()  # a Stop during approval or executor start: nothing new runs
            try:
                result = await executor.a_execute(block, on_output=outputs.feed)
            finally:
                outputs.flush()
        emit(ExecutionFinished(executor=agent.name, block_id=block_id, language=block.language, code=block.code,
                               exit_code=result.exit_code, summary=redact(result.output),
                               execution_count=result.execution_count, outputs=outputs.final(result.outputs)))
        logs.append(result.output)
        exit_code = result.exit_code
        if result.exit_code != 0:
            break
    if rejected and not logs:
        return "\n".join(notes) + " Nothing was executed."
    status = "execution succeeded" if exit_code == 0 else "execution failed"
    text = redact(f"exitcode: {exit_code} ({status})\nCode output: {''.join(_join(logs))}")
    if notes:
        text = "\n".join(notes) + "\n" + text
    return text


def _join(logs: list[str]) -> list[str]:
    return ["\n".join(log.rstrip("\n") for log in logs) + ("\n" if logs else "")]


# ----------------------------------------------------------------------- model


def oai_messages(agent: ConversableAgent, messages: list[dict]) -> list[dict[str, Any]]:
    """System message + history in the shape the OpenAI API accepts (tool responses expanded)."""
    system = agent.system_message
    out: list[dict[str, Any]] = [{"content": system, "role": "system"}] if system else []
    for m in messages:
        if m.get("tool_responses"):
            for tr in m["tool_responses"]:
                out.append({"role": "tool", "tool_call_id": tr.get("tool_call_id"),
                            "content": content_str(tr.get("content"))})
            continue
        msg: dict[str, Any] = {"role": m.get("role", "user"), "content": m.get("content")}
        if msg["role"] == "tool":
            msg["tool_call_id"] = m.get("tool_call_id")
            msg["content"] = content_str(msg["content"])
        elif msg["role"] == "function":
            msg["name"] = m.get("name")
        else:
            name = m.get("name")
            if is_protocol_name(name):
                msg["name"] = name
        if m.get("tool_calls"):
            msg["tool_calls"] = m["tool_calls"]
        if m.get("function_call"):
            msg["function_call"] = m["function_call"]
        if msg["content"] is None and msg["role"] != "assistant":
            msg["content"] = ""
        out.append(msg)
    from .tools import pair_tool_calls

    # lone surrogates (a model's or a tool's broken text) cannot be sent as UTF-8 JSON: the request would fail
    return pair_tool_calls(scrub_surrogates(out))  # every tool_call_id answered once, or the request is invalid


async def generate_oai_reply(agent: ConversableAgent, messages: list[dict] | None = None,
                             sender: Any = None, config: Any = None) -> tuple[bool, Any]:
    """Ask the agent's model for the next message."""
    client = config if config is not None else agent.client
    if client is None:
        return False, None
    if messages is None:
        messages = agent.chat_messages[sender]
    tools = agent.tools or None
    completion = await client.create(oai_messages(agent, messages), tools=tools, cache=agent.client_cache)
    reply = scrub_surrogates(completion.to_message())  # no lone surrogate reaches the history or the views
    if getattr(completion, "finish_reason", None) == "length":  # cut off: marked for the person and the model
        reply["content"] = mark_truncated(reply.get("content"))
    if reply.get("content") is None and not reply.get("tool_calls") and not reply.get("function_call"):
        reply["content"] = ""
    if completion.message_id:
        reply["_stream_id"] = completion.message_id
    if not reply.get("tool_calls") and not reply.get("function_call") and not completion.message_id:
        return True, reply["content"]
    return True, reply

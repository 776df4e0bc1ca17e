"""Attack: one malformed output kills the chat.

``display({'image/png': 'not base64!!'}, raw=True)`` raised inside the output handler and ended the chat
with ``ChatError``; output holding lone surrogates sent the model a ZMQ/tornado traceback and "exitcode: 0"
and lost the rest of the output. Each must become part of the block's result: the output after it is
kept, the model is told what happened, the chat goes on, and the saved notebook can be written.
"""

from __future__ import annotations

import json

import nbformat
import pytest

import agentnb as autogen
from agentnb.coding import CodeBlock, KernelExecutor
from agentnb.export import events_to_notebook
from agentnb.messages import ExecutionFinished, ExecutionOutput, subscribe
from agentnb.testing import ScriptedModelServer, code

BAD_OUTPUTS = {
    "bad-base64-png": "display({'image/png': 'not base64!!'}, raw=True)",
    "bad-base64-jpeg-list": "display({'image/jpeg': ['@@', '%%']}, raw=True)",
    "lone-surrogate-stdout": "print('a\\ud800b')",
    "lone-surrogate-stderr": "import sys; sys.stderr.write('x\\udfffy\\n')",
    "lone-surrogate-display": "display({'text/plain': 'p\\ud83dq', 'text/html': '<b>\\udc00</b>'}, raw=True)",
    "lone-surrogate-error": "raise ValueError('bad \\ud800 value')",
}


@pytest.mark.parametrize("case", sorted(BAD_OUTPUTS))
def test_bad_output_becomes_part_of_the_result(tmp_path, case):
    after = "AFTER-THE-BAD-OUTPUT"
    source = f"{BAD_OUTPUTS[case]}\n" if case.endswith("error") else f"{BAD_OUTPUTS[case]}\nprint({after!r})\n"
    events = []
    with ScriptedModelServer([code(source), "TERMINATE"]) as server:
        assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
        proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=2,
                                       code_execution_config={"work_dir": str(tmp_path), "executor": "jupyter"})
        with subscribe(events.append):
            result = proxy.initiate_chat(assistant, message="go", silent=True)  # no ChatError
        told = server.requests[1]["messages"][-1]["content"]
    assert result.stop_reason == "terminated"  # the chat went on to the model's next reply
    assert "Traceback (most recent call last)" not in told or case.endswith("error")
    assert "zmq" not in told.lower() and "tornado" not in told.lower()
    if case.endswith("error"):
        assert told.startswith("exitcode: 1") and "ValueError" in told
    else:
        assert after in told, told  # the output after the bad one was not lost
    assert "\ud800" not in told and "\udfff" not in told
    # every view's data encodes as UTF-8 (a terminal, a JSON request, a saved notebook)
    for ev in events:
        if isinstance(ev, ExecutionOutput | ExecutionFinished):
            json.dumps(ev.__dict__, default=str).encode("utf-8")
    nb = events_to_notebook(result.events)
    nbformat.writes(nb).encode("utf-8")


def test_bad_image_is_named_to_the_model_and_not_saved(tmp_path):
    with KernelExecutor(tmp_path) as ex:
        result = ex.execute(CodeBlock("display({'image/png': 'not base64!!'}, raw=True)\nprint('next')"))
        assert result.exit_code == 0
        assert "image/png" in result.output and "next" in result.output
        assert result.files == [] and not list(tmp_path.glob("output_*"))
        # the kernel is fine afterwards
        assert ex.execute(CodeBlock("print(40 + 2)")).output == "42\n"

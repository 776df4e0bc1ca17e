"""``%%agents`` is an entry point like any other, in a REAL kernel: it shows its chat in its own panel
through the scope's view factory, and its options apply to that chat only, never to the user's agents.
"""

from __future__ import annotations

import json

import pytest
from support.kernel import NotebookKernel

from agentnb.testing import ScriptedModelServer, code

pytestmark = pytest.mark.slow

SETUP = """
import copy
import agentnb as autogen
from agentnb.agents import scope
from agentnb.messages import subscribe
import contextlib

shown = []

@contextlib.contextmanager
def my_view(sync):
    with subscribe(lambda e: shown.append(type(e).__name__)):
        yield

scope.set_view_factory(my_view)  # the user's own process-wide view
done = lambda m: (m.get('content') or '').rstrip().endswith('TERMINATE')
user = autogen.UserProxyAgent('user_proxy', human_input_mode='NEVER', is_termination_msg=done,
                              code_execution_config={{'work_dir': {work!r}, 'approval': 'never'}})
bot = autogen.AssistantAgent('assistant')
team = (user, bot)

def snapshot(agent):
    # the agent's configuration and its attribute names (a chat may change its history and counters only)
    return repr([sorted(vars(agent)), agent._code_execution_config, agent.human_input_mode,
                 getattr(agent, 'tool_approval', None), agent.max_consecutive_auto_reply(), agent._is_termination_msg,
                 [f['reply_func'] for f in agent.reply_func_list], agent.hook_lists, agent.system_message,
                 agent.llm_config, agent.function_map])

before = [snapshot(a) for a in team]
config_before = copy.deepcopy(user._code_execution_config)
"""


@pytest.fixture
def kernel(tmp_path):
    started: list[NotebookKernel] = []

    def start(config_list: list[dict]) -> NotebookKernel:
        k = NotebookKernel(str(tmp_path), {"OAI_CONFIG_LIST": json.dumps(config_list)})
        started.append(k)
        return k

    yield start
    for k in started:
        k.close()


def test_approve_option_applies_to_the_chat_and_leaves_the_users_agents_unchanged(kernel, tmp_path):
    work = tmp_path / "work"
    with ScriptedModelServer([code("open('made.txt','w').write('x')"), "TERMINATE",
                              code("open('again.txt','w').write('y')"), "TERMINATE",
                              code("open('quiet.txt','w').write('z')"), "TERMINATE"]) as srv:
        nb = kernel(srv.config_list())
        nb.execute("%load_ext agentnb")
        nb.execute(SETUP.format(work=str(work)))
        nb.execute("%%agents --team team --approve always --out h\nCreate the file made.txt\n")
        approve = nb.wait_for(lambda: nb.button("Approve"), what="the Approve button in the magic's panel")
        assert not (work / "made.txt").exists(), "code ran before approval"
        nb.click(approve)
        out = nb.stdout(nb.execute("r = await h\n"
                                   "print([snapshot(a) for a in team] == before,"
                                   " user._code_execution_config == config_before, shown)"))
        assert (work / "made.txt").read_text() == "x"
        assert out.split() == ["True", "True", "[]"], out  # agents as they were; the user's view saw nothing

        # the same agents, started from code afterwards: their own policy ('never') and the user's view again
        out = nb.stdout(nb.execute("r2 = user.initiate_chat(bot, message='again')\n"
                                   "print(r2.stop_reason, 'ChatStarted' in shown, 'ApprovalRequested' in shown)"))
        assert (work / "again.txt").read_text() == "y"
        assert out.split() == ["terminated", "True", "False"], out

        # --silent: AutoGen's silent=True, nothing shown by anyone (no panel, not the user's view, no output)
        seen = nb.stdout(nb.execute("print(len(shown))"))
        quiet = nb.execute("%%agents --team team --silent --approve never --out h3\nCreate quiet.txt\n")
        assert not [m for m in quiet if m["header"]["msg_type"] in ("display_data", "stream")]
        out = nb.stdout(nb.execute("r3 = await h3\nprint(len(shown), r3.stop_reason)"))
        assert (work / "quiet.txt").read_text() == "z"
        assert out.split() == [seen.strip(), "terminated"], out

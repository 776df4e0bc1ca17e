"""Held: model code that breaks its kernel. The chat goes on, the model is told, no kernel is left behind.

- the kernel kills itself (``os._exit``, SIGKILL, SIGSEGV, ``abort``, a shell killing its parent): it is
  restarted, the model gets a failed result, the next block runs in a fresh kernel (state lost);
- a block runs past the timeout: it is interrupted, the kernel and its variables are kept;
- a block allocates until a limit (bounded by ``RLIMIT_AS`` inside the kernel, so the machine is never at
  risk): a failed result, the chat goes on;
- ``input()`` / ``getpass`` / reading stdin: an error or EOF at once, never a hang until the timeout;
- 50 MB of output: the model gets a truncated summary, the chat goes on.

Every block prints its kernel's pid (and the supervisor's); after each chat none of them is alive.
Real Jupyter kernels (the agent's own ``jupyter`` executor), the scripted server as the model.
"""

from __future__ import annotations

import re

import pytest
from support.faults import PIDS, assert_gone, exit_code, jupyter_chat, printed_pids, told

from agentnb.testing import ScriptedModelServer, code


def _kernel_pids(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"PIDS (\d+) \d+", text)]


CRASHES = {
    "os._exit": "os._exit(3)",
    "SIGKILL": "import signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "SIGSEGV": "import ctypes\nctypes.string_at(0)",
    "abort": "os.abort()",
    "shell kills its kernel": "import subprocess\nsubprocess.run(['bash', '-c', 'kill -9 $PPID'])",
    # the launcher that supervises the kernel (never this test process: without one, exit instead)
    "kills its supervisor": "import signal\nparent = os.getppid()\n"
                            "if 'launcher' in open(f'/proc/{parent}/cmdline').read():\n"
                            "    os.kill(parent, signal.SIGKILL)\nelse:\n    os._exit(5)",
}


DIES_AFTER_THE_BLOCK = {"kills its supervisor"}
"""The kernel notices its parent is gone (ipykernel's parent poller) only after the block's reply."""


def _crash_chat(tmp_path, crashes: list[str]) -> None:
    """One chat, each way of dying in turn; after each, the next block runs in a fresh kernel."""
    script = [code(PIDS + "x = 41")]
    for crash in (CRASHES[name] for name in crashes):
        script += [code(PIDS + crash), code(PIDS + "print('x kept:', 'x' in globals())\nx = 41")]
    with ScriptedModelServer([*script, "TERMINATE"]) as server:
        result = jupyter_chat(server, tmp_path, turns=len(script))
        pids = printed_pids(server)
        answers = [told(server, n) for n in range(1, len(script) + 1)]
    assert exit_code(answers[0]) == 0
    previous = _kernel_pids(answers[0])
    for n, name in enumerate(crashes):
        after_crash, fresh = answers[1 + 2 * n], answers[2 + 2 * n]
        if name in DIES_AFTER_THE_BLOCK:  # the block itself finished; the next result carries the news
            assert "died" in fresh, f"{name}: the model was never told its kernel died"
        else:
            assert exit_code(after_crash) != 0, f"{name}: a dead kernel was reported as a success"
        assert exit_code(fresh) == 0 and "x kept: False" in fresh, f"{name}: the next block found no fresh kernel"
        assert _kernel_pids(fresh) != previous, f"{name}: the kernel was not replaced"
        previous = _kernel_pids(fresh)
    assert result.chat_history[-1]["content"] == "TERMINATE"  # the chat went on to its normal end
    assert_gone(pids)


def test_a_crashed_kernel_is_restarted_and_the_chat_goes_on(tmp_path):
    _crash_chat(tmp_path, ["os._exit", "SIGKILL"])


@pytest.mark.slow
def test_more_ways_of_dying(tmp_path):
    _crash_chat(tmp_path, ["SIGSEGV", "abort", "shell kills its kernel", "kills its supervisor"])


def test_a_timeout_interrupts_the_cell_and_keeps_the_kernel(tmp_path):
    """Python and shell blocks past the timeout; the shell's background child is gone after the chat."""
    script = [code(PIDS + "x = 42\nimport time\ntime.sleep(120)\nx = 0"), code(PIDS + "print('x =', x)"),
              code('sleep 120 &\necho "PIDS $! $$"\nwait\necho $((6 * 7))done', lang="sh"),
              code(PIDS + "print('x =', x)"),
              "TERMINATE"]
    with ScriptedModelServer(script) as server:
        jupyter_chat(server, tmp_path, timeout=2, turns=4)
        pids = printed_pids(server)
        slow, after, slow_sh, after_sh = (told(server, n) for n in range(1, 5))
    assert exit_code(slow) != 0 and exit_code(slow_sh) != 0 and "42done" not in slow_sh
    assert exit_code(after) == 0 and "x = 42" in after, "the interrupt lost the kernel's state"
    assert exit_code(after_sh) == 0 and "x = 42" in after_sh, "the shell's interrupt lost the kernel's state"
    assert _kernel_pids(after) == _kernel_pids(slow) == _kernel_pids(after_sh)
    assert_gone(pids)


@pytest.mark.slow
def test_a_cell_that_ignores_the_interrupt_gets_a_new_kernel(tmp_path):
    stubborn = PIDS + "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(300)"
    with ScriptedModelServer([code(stubborn), code(PIDS + "print('fresh')"), "TERMINATE"]) as server:
        jupyter_chat(server, tmp_path, timeout=1)
        pids = printed_pids(server)
        stuck, after = told(server, 1), told(server, 2)
    assert exit_code(stuck) != 0
    assert exit_code(after) == 0 and "fresh" in after and _kernel_pids(after) != _kernel_pids(stuck)
    assert_gone(pids)


MEMORY_HOG = PIDS + """
import resource
size = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + 512 * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
hog = []
while True:
    hog.append(bytearray(32 * 2**20))
"""


def test_a_memory_hog_gets_a_clear_failure_and_the_chat_goes_on(tmp_path):
    with ScriptedModelServer([code(MEMORY_HOG), code(PIDS + "print('still here')"), "TERMINATE"]) as server:
        jupyter_chat(server, tmp_path)
        pids = printed_pids(server)
        hog, after = told(server, 1), told(server, 2)
    assert exit_code(hog) != 0 and ("MemoryError" in hog or "died" in hog)
    assert exit_code(after) == 0 and "still here" in after
    assert_gone(pids)


STDIN = {
    "input()": "answer = input('Continue? ')",
    "getpass": "import getpass\npassword = getpass.getpass()",
    "sys.stdin.read": "import sys\nprint('read:', repr(sys.stdin.read()))",
    "a child reading stdin": "import subprocess\nprint(subprocess.run(['cat'], capture_output=True).returncode)",
    "shell read": "import subprocess\nsubprocess.run(['bash', '-c', 'read line; echo rc=$?'])",
}


def test_reading_stdin_never_hangs(tmp_path):
    """Each way of reading stdin, one block each in one chat: an error or EOF at once, never a timeout."""
    script = [code(PIDS + snippet) for snippet in STDIN.values()] + [code("read line; echo rc=$?", lang="sh")]
    with ScriptedModelServer([*script, code(PIDS + "print('next')"), "TERMINATE"]) as server:
        result = jupyter_chat(server, tmp_path, timeout=60, turns=len(script) + 1)
        pids = printed_pids(server)
        answers = [told(server, n) for n in range(1, len(script) + 2)]
    for name, text in zip([*STDIN, "sh read"], answers, strict=False):
        assert exit_code(text) in (0, 1) and "Timeout" not in text, f"{name}: stdin blocked: {text[-300:]!r}"
    assert "rc=1" in answers[-2]  # bash's read got EOF
    assert exit_code(answers[-1]) == 0 and "next" in answers[-1]
    assert _kernel_pids(answers[0]) == _kernel_pids(answers[-1])  # nothing had to be restarted
    assert result.chat_history[-1]["content"] == "TERMINATE"
    assert_gone(pids)


MB50 = 50 * 2**20
FLOODS = {
    "one 50 MB write": f"import sys\nsys.stdout.write('y' * {MB50})",
    "50 MB in 1 KB lines": f"for _ in range({MB50 // 1024}):\n    print('z' * 1023)",
    "50 MB on stderr": f"import sys\nsys.stderr.write('e' * {MB50})",
}


def _flood_chat(tmp_path, floods: list[str]):
    script = [code(PIDS + flood) for flood in floods] + [code(PIDS + "print('next')")]
    with ScriptedModelServer([*script, "TERMINATE"]) as server:
        result = jupyter_chat(server, tmp_path, turns=len(script))
        pids = printed_pids(server)
        answers = [told(server, n) for n in range(1, len(script) + 1)]
        biggest = max(len(str(m.get("content"))) for r in server.requests for m in r["messages"])
    for text in answers:
        assert exit_code(text) == 0
    assert biggest < 100_000, f"the model was sent {biggest} characters of output"
    assert "next" in answers[-1]
    assert len(result.chat_history) == 2 * len(script) + 2  # every block and result kept, then TERMINATE
    assert_gone(pids)


def test_50_mb_of_output_is_truncated_for_the_model(tmp_path):
    _flood_chat(tmp_path, list(FLOODS.values()))


@pytest.mark.slow
def test_a_50_mb_display_is_truncated_for_the_model(tmp_path):
    """Slow (~10 s here): display bundles reach the views whole and are redacted twice (see the report)."""
    _flood_chat(tmp_path, [f"display({{'text/plain': 'd' * {MB50}}}, raw=True)"])

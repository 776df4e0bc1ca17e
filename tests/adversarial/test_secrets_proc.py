"""Leak: model code reads the API key out of the agentnb process.

Model code runs as the same user. It read ``OPENAI_API_KEY`` from ``/proc/<agentnb pid>/environ`` and a
config_list key from ``/proc/<agentnb pid>/mem``. agentnb now makes itself non-dumpable before any
kernel starts (``prctl(PR_SET_DUMPABLE, 0)``), which closes both files (and ptrace) to other processes
of the same non-root user; kernels start with no key in their environment.

Root bypasses the flag, and CI runs as root. Measured on this machine's kernel (Linux 6.18): a root
reader keeps reading ``environ`` of a non-dumpable root process even after dropping ``CAP_SYS_PTRACE``
(only ``mem`` closes), so a root run proves nothing. When the tests run as root, the whole attack
(agentnb, its kernel and the reader) is therefore run as the unprivileged user ``nobody`` with a Python
that user can execute; where none exists the test is skipped and says why. The control run with
``AGENTNB_DUMPABLE=1`` shows the same reader does get the key when the flag is not set.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

import pytest

import agentnb
from agentnb.coding import CodeBlock, KernelExecutor, KernelPool
from agentnb.errors import register_secret
from agentnb.llm.client import ModelClient

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc are Linux")

PR_GET_DUMPABLE = 3

# Run inside the kernel as a separate process: what a hostile block would do.
READER = r'''
import sys
pid = int(sys.argv[1])
for name in ("environ", "mem"):
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            data = f.read() if name == "environ" else b""
        print(name, "READ", b"OPENAI_API_KEY=" in data)
    except OSError as exc:
        print(name, "DENIED", exc.errno)
'''

CHILD = r'''
import os, sys
from agentnb.coding import CodeBlock, KernelExecutor
run = f"[sys.executable, '-c', {sys.argv[1]!r}, '{os.getpid()}']"
block = f"import subprocess, sys\nprint(subprocess.run({run}, capture_output=True, text=True).stdout)"
with KernelExecutor(sys.argv[2]) as ex:
    print(ex.execute(CodeBlock(block)).output)
'''


def _as_nobody() -> None:
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def _unprivileged() -> tuple[list[str], dict[str, str], object]:
    """(python, extra env, preexec) to run the attack as a non-root user; skips where impossible."""
    if os.geteuid() != 0:
        return [sys.executable], {}, None
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no 'nobody' user to run the same-user attack as")
    paths = [os.path.dirname(os.path.dirname(agentnb.__file__)), sysconfig.get_paths()["purelib"],
             sysconfig.get_paths()["platlib"]]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [os.path.realpath(sys.executable), shutil.which(f"python{version}") or "",
                  f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            probe = subprocess.run([python, "-c", "import agentnb.coding, ipykernel, zmq, psutil"],
                                   env={**os.environ, **env}, preexec_fn=_as_nobody, capture_output=True)
        except OSError:  # not executable for that user
            continue
        if probe.returncode == 0:
            return [python], env, _as_nobody
    pytest.skip(f"running as root, and no Python {version} that the user 'nobody' can run imports agentnb "
                "here (the venv's interpreter is not reachable): the non-root attack cannot be run")


def _attack(key: str, **env: str) -> dict[str, list[str]]:
    python, extra, preexec = _unprivileged()
    with tempfile.TemporaryDirectory() as home:
        if preexec is not None:
            os.chown(home, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
        full = {**os.environ, **extra, "HOME": home, "JUPYTER_RUNTIME_DIR": os.path.join(home, "rt"),
                "IPYTHONDIR": os.path.join(home, "ipy"), "MPLCONFIGDIR": os.path.join(home, "mpl"),
                "OPENAI_API_KEY": key, **env}
        out = subprocess.run([*python, "-c", CHILD, READER, os.path.join(home, "work")], env=full,
                             preexec_fn=preexec, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()
            if line.split() and line.split()[0] in ("environ", "mem")}


def test_the_agentnb_process_is_not_dumpable_once_a_kernel_runs(tmp_path):
    with KernelExecutor(tmp_path) as ex:
        assert ex.execute(CodeBlock("1")).exit_code == 0
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0


def test_model_code_cannot_read_the_key_from_the_agentnb_process():
    key = "sk-proj-" + secrets.token_urlsafe(30)
    seen = _attack(key)
    assert seen["environ"][0] == "DENIED", seen
    assert seen["mem"][0] == "DENIED", seen


def test_control_without_the_flag_the_same_reader_gets_the_key():
    """``AGENTNB_DUMPABLE=1`` (the opt-out) leaves the process readable: the defence above is the flag."""
    key = "sk-proj-" + secrets.token_urlsafe(30)
    seen = _attack(key, AGENTNB_DUMPABLE="1")
    assert seen["environ"] == ["READ", "True"], seen


READ_ENV = CodeBlock("print(open('/proc/self/environ', 'rb').read().decode(errors='replace'))")


def test_kernel_environment_holds_no_key(tmp_path, monkeypatch):
    env_key, copied_key, config_key = (secrets.token_urlsafe(24) for _ in range(3))
    monkeypatch.setenv("OPENAI_API_KEY", env_key)
    monkeypatch.setenv("MY_SERVICE_TOKEN", copied_key)  # a key under a name that does not look like one
    monkeypatch.setenv("ANALYTICS_SETTING", config_key)
    ModelClient({"config_list": [{"model": "m", "api_key": config_key, "base_url": "http://127.0.0.1:9/v1"}]})
    register_secret(copied_key)

    async def go() -> str:
        async with KernelPool(size=0) as pool, KernelExecutor(tmp_path, pool=pool) as ex:
            return (await ex.a_execute(READ_ENV)).output

    seen = asyncio.run(go())
    assert "PATH=" in seen  # the environment really was read
    for key in (env_key, copied_key, config_key):
        assert key not in seen


def test_a_warm_kernel_started_before_a_key_was_registered_is_not_handed_out(tmp_path, monkeypatch):
    late_key = secrets.token_urlsafe(24)
    monkeypatch.setenv("LATE_SETTING", late_key)

    async def go() -> str:
        async with KernelPool(size=1) as pool:
            deadline = time.monotonic() + 60
            while not pool._ready and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert pool._ready, "the pool never warmed a kernel"
            register_secret(late_key)  # e.g. an agent with this key is created after the pool warmed up
            async with KernelExecutor(tmp_path, pool=pool) as ex:
                return (await ex.a_execute(READ_ENV)).output

    seen = asyncio.run(go())
    assert "PATH=" in seen and late_key not in seen

"""Process hygiene for kernels: no process outlives agentnb, and kernels cannot read agentnb's memory.

- :func:`make_undumpable` — ``prctl(PR_SET_DUMPABLE, 0)`` on the agentnb process (Linux), called before
  the first kernel starts: ``/proc/<agentnb pid>/environ``, ``/mem`` and ptrace become unavailable to
  other processes of the same (non-root) user, kernels included. Root bypasses it. ``AGENTNB_DUMPABLE=1``
  opts out (debuggers such as py-spy then work on the notebook process again).
- :func:`supervised` — wraps a kernel command in :mod:`agentnb.coding.launcher`, a subreaper that kills
  the kernel's whole process tree when agentnb dies or asks it to (``AGENTNB_KERNEL_SUPERVISOR=0`` opts out).
- :func:`snapshot` / :func:`kill_procs` — the psutil tree walk used at shutdown as a second net.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from typing import Any

import psutil

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")

_undumpable_lock = threading.Lock()
_undumpable_done = False


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def make_undumpable() -> bool:
    """Make this process non-dumpable (once); True if the flag is now 0. No-op off Linux or when opted out."""
    global _undumpable_done
    if not sys.platform.startswith("linux") or os.environ.get("AGENTNB_DUMPABLE") == "1":
        return False
    with _undumpable_lock:
        if not _undumpable_done:
            with contextlib.suppress(OSError, AttributeError):
                _libc().prctl(PR_SET_DUMPABLE, ctypes.c_ulong(0), 0, 0, 0)
            _undumpable_done = True
    return is_dumpable() is False


def is_dumpable() -> bool | None:
    """This process's dumpable flag (``prctl(PR_GET_DUMPABLE)``); None where unknown."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return bool(_libc().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1)
    except (OSError, AttributeError):
        return None


def supervision_enabled() -> bool:
    return sys.platform.startswith("linux") and os.environ.get("AGENTNB_KERNEL_SUPERVISOR") != "0"


def supervised(argv: list[str]) -> list[str]:
    """``argv`` run under the launcher (Linux), which ties the kernel's process tree to this process."""
    if not supervision_enabled():
        return list(argv)
    return [sys.executable, "-I", "-S", LAUNCHER, str(os.getpid()), "--", *argv]


def snapshot(pid: int | None) -> list[psutil.Process]:
    """Every live descendant of ``pid`` (setsid'd ones too, while their parent lives)."""
    if pid is None:
        return []
    try:
        children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
        return children
    except psutil.Error:
        return []


def kill_procs(procs: list[psutil.Process]) -> None:
    """SIGKILL the processes still running (psutil refuses a pid that was reused meanwhile)."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    with contextlib.suppress(psutil.Error):
        psutil.wait_procs(procs, timeout=2)


def ask_supervisor_to_stop(proc: Any) -> bool:
    """SIGTERM the launcher (it kills the kernel's tree, then exits); False if there is none to ask."""
    if proc is None or proc.poll() is not None:
        return False
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except OSError:
        return False
    return True

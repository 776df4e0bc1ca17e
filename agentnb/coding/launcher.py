"""The supervisor between agentnb and one kernel (Linux): the kernel's whole process tree dies with it.

    python -I -S launcher.py <agentnb pid> -- <kernel argv...>

It makes itself a child subreaper, so that processes the kernel's descendants orphan (``setsid``,
``nohup ... &``, double-forked daemons) are re-parented here instead of to init and stay findable;
starts the kernel in its own process group (interrupts sent to the group reach the kernel; this
process ignores SIGINT); and waits. When agentnb dies (SIGKILL included: a pidfd on the parent),
when it gets SIGTERM (agentnb shutting the kernel down), or when the kernel exits, it kills every
descendant left and exits with the kernel's status.

Standard library only and no agentnb import: it is run as a script and starts in milliseconds.
"""

from __future__ import annotations

import ctypes
import os
import resource
import select
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


class _Stop(Exception):
    """Raised by the SIGTERM handler to leave the wait."""


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def descendants(root: int) -> list[tuple[int, bool]]:
    """``(pid, is_zombie)`` of every process below ``root``, read from /proc."""
    children: dict[int, list[tuple[int, bool]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append((int(entry), fields[0] == b"Z"))
    out: list[tuple[int, bool]] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            out.append(child)
            todo.append(child[0])
    return out


def _reap(kernel: int, status: list[int]) -> None:
    """Collect every exited child (orphans re-parented here included); remember the kernel's status."""
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == kernel:
            status.append(code)


def kill_descendants(kernel: int, status: list[int]) -> None:
    """SIGKILL everything below us until nothing is left (children of killed processes come back here)."""
    for _ in range(500):
        procs = descendants(os.getpid())
        alive = [pid for pid, zombie in procs if not zombie]
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap(kernel, status)
        if not procs:
            return
        time.sleep(0.005)


def _exit_like(status: list[int]) -> None:
    if not status:
        os._exit(1)
    code = status[0]
    if os.WIFSIGNALED(code):
        sig = os.WTERMSIG(code)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(code) if os.WIFEXITED(code) else 1)


def main(argv: list[str]) -> None:
    parent = int(argv[1])
    cmd = argv[argv.index("--") + 1:]
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum: int, frame: object) -> None:
        raise _Stop

    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    status: list[int] = []
    kernel = -1
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        kernel = os.posix_spawnp(cmd[0], cmd, os.environ,
                                 setsigdef=(signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
        parent_fd = _pidfd(parent)
        kernel_fd = _pidfd(kernel)
        watch = [fd for fd in (parent_fd, kernel_fd) if fd is not None]
        poll = 1.0 if len(watch) == 2 else 0.1
        while os.getppid() == parent:
            ready, _, _ = select.select(watch, [], [], poll)
            _reap(kernel, status)
            if status or (parent_fd is not None and parent_fd in ready):
                break
    except _Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    kill_descendants(kernel, status)
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv)

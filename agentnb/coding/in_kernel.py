"""The module every Python kernel loads as ``__agentnb__``: it runs in the kernel, never in agentnb.

:mod:`.kernel_helper` sends this file's source to the kernel, which execs it as a module kept out of
the user namespace (so it reaches remote gateway kernels too, where agentnb is not installed). It
imports nothing from agentnb: only the standard library, and ipykernel or matplotlib where the
kernel has them.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Callable
from typing import IO, Any

last_rc = 0
"""The exit code of the last ``sh`` block (read back through ``user_expressions``)."""


def bind(work_dir: str, env: dict[str, str], neutral: str) -> None:
    """Move the kernel into ``work_dir`` (cwd, first on ``sys.path``) and add ``env`` to its environment;
    ``neutral`` (the directory it started in) leaves ``sys.path``."""
    os.chdir(work_dir)
    sys.path[:] = [p for p in sys.path if p not in ("", neutral)]
    sys.path.insert(0, work_dir)
    os.environ.update(env)
    get_ipython: Callable[[], Any] | None = getattr(builtins, "get_ipython", None)  # IPython installs it
    if get_ipython is not None:
        try:
            get_ipython().user_ns["_dh"][:] = [work_dir]
        except Exception:
            pass


def harden() -> None:
    """Send outputs holding lone surrogates with U+FFFD instead of failing in the iopub thread."""
    import re

    from ipykernel.kernelapp import IPKernelApp

    bad = re.compile("[\ud800-\udfff]")

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return bad.sub("\ufffd", value)
        if isinstance(value, dict):
            return {scrub(k): scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [scrub(v) for v in value]
        return value

    session = IPKernelApp.instance().session
    original: Callable[[Any], bytes] = session.pack

    def pack(obj: Any) -> bytes:
        try:
            return original(obj)
        except UnicodeEncodeError:
            return original(scrub(obj))

    session.pack = pack


def warm(preload: tuple[str, ...]) -> None:
    """Import ``preload``, skipping what fails; for matplotlib, render one figure (fonts, Agg)."""
    for name in preload:
        try:
            __import__(name)
        except Exception:
            continue
        if name == "matplotlib":
            _warm_matplotlib()


def _warm_matplotlib() -> None:
    import io

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="warm")
    ax.set_title("warm")
    ax.legend()
    # what IPython's inline backend does to show a figure (pylabtools.print_figure)
    fig.canvas.print_figure(io.BytesIO(), format="png", bbox_inches="tight", dpi=fig.dpi,
                            facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    plt.close(fig)


def run_sh(code: str) -> None:
    """Run ``code`` with bash in the kernel's cwd, streaming stdout/stderr; return when bash exits.

    Background jobs (``cmd &``) may keep the pipes open: once bash has exited, what is already in the
    pipes is shown and a thread drains (and drops) the rest, so such a job runs on unharmed (no
    SIGPIPE) until the kernel shuts down, without holding up the block.
    """
    global last_rc
    import codecs
    import selectors
    import subprocess
    import threading
    import time

    p = subprocess.Popen(["bash", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    assert p.stdout is not None and p.stderr is not None
    pipes: dict[int, IO[bytes]] = {p.stdout.fileno(): p.stdout, p.stderr.fileno(): p.stderr}
    sel = selectors.DefaultSelector()
    for pipe, out in ((p.stdout, sys.stdout), (p.stderr, sys.stderr)):
        sel.register(pipe, selectors.EVENT_READ, (out, codecs.getincrementaldecoder("utf-8")("replace")))
    pidfd: int | None
    try:
        pidfd = os.pidfd_open(p.pid)
    except (AttributeError, OSError):
        pidfd = None  # no pidfd: notice bash's exit by polling
    else:
        sel.register(pidfd, selectors.EVENT_READ, None)
    handed_over = False
    try:
        exited_at = None
        while len(sel.get_map()) > (pidfd is not None):
            if exited_at is None and p.poll() is not None:
                exited_at = time.monotonic()
            if exited_at is not None and time.monotonic() - exited_at > 0.2:
                break  # a background job keeps writing: the block is over all the same
            timeout = 0 if exited_at is not None else (None if pidfd is not None else 0.05)
            ready = sel.select(timeout)
            if not ready and exited_at is not None:
                break  # bash is gone and nothing more is waiting in the pipes
            for key, _ in ready:
                if key.data is None:  # the pidfd: bash exited
                    sel.unregister(key.fileobj)
                    if pidfd is not None:
                        os.close(pidfd)
                    pidfd = None
                    continue
                out, dec = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    out.write(dec.decode(b"", final=True))
                    pipes.pop(key.fd).close()
                    continue
                out.write(dec.decode(chunk))
                out.flush()
        last_rc = p.wait()
        rest = [pipes[key.fd] for key in sel.get_map().values() if key.data is not None]
        for key in list(sel.get_map().values()):
            if key.data is not None:
                out, dec = key.data
                out.write(dec.decode(b"", final=True))
        if rest:
            threading.Thread(target=_drain, args=(rest,), daemon=True, name="agentnb-sh-drain").start()
            handed_over = True
    except BaseException:
        p.kill()
        p.wait()
        last_rc = p.returncode
        raise
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
        if not handed_over:
            p.stdout.close()
            p.stderr.close()


def _drain(pipes: list[IO[bytes]]) -> None:
    """Read and drop what background jobs of a finished shell block still write, until they exit."""
    import selectors

    sel = selectors.DefaultSelector()
    by_fd = {pipe.fileno(): pipe for pipe in pipes}
    for pipe in pipes:
        sel.register(pipe, selectors.EVENT_READ)
    try:
        while sel.get_map():
            for key, _ in sel.select():
                if not os.read(key.fd, 65536):
                    sel.unregister(key.fileobj)
                    by_fd.pop(key.fd).close()
    finally:
        sel.close()

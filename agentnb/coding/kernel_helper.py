"""The helper module every Python kernel loads as ``__agentnb__`` (kept out of the user namespace).

It runs inside the kernel, not in agentnb's process, so it ships as source: :func:`load_code` is the
code that execs it there. ``bind`` moves the kernel into its work_dir, ``harden`` keeps outputs with
lone surrogates from failing in the iopub thread, ``warm`` pre-imports modules, ``run_sh`` runs an
``sh`` block with bash and streams its output.
"""

from __future__ import annotations

HELPER_SOURCE = r'''
import os, sys
last_rc = 0

def bind(work_dir, env, neutral):
    os.chdir(work_dir)
    sys.path[:] = [p for p in sys.path if p not in ("", neutral)]
    sys.path.insert(0, work_dir)
    os.environ.update(env)
    try:
        sh = get_ipython()
        sh.user_ns["_dh"][:] = [work_dir]
    except Exception:
        pass

def harden():
    """Send outputs holding lone surrogates with U+FFFD instead of failing in the iopub thread."""
    import re
    from ipykernel.kernelapp import IPKernelApp
    bad = re.compile("[\ud800-\udfff]")

    def scrub(v):
        if isinstance(v, str):
            return bad.sub("\ufffd", v)
        if isinstance(v, dict):
            return {scrub(k): scrub(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [scrub(x) for x in v]
        return v

    session = IPKernelApp.instance().session
    original = session.pack

    def pack(obj):
        try:
            return original(obj)
        except UnicodeEncodeError:
            return original(scrub(obj))

    session.pack = pack

def warm(preload):
    for name in preload:
        try:
            __import__(name)
        except Exception:
            continue
        if name == "matplotlib":
            _warm_matplotlib()

def _warm_matplotlib():
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import print_figure
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="warm")
    ax.set_title("warm"); ax.legend()
    print_figure(fig, "png", bbox_inches="tight")
    plt.close(fig)

def run_sh(code):
    """Run ``code`` with bash in the kernel's cwd, streaming stdout/stderr; return when bash exits.

    Background jobs (``cmd &``) may keep the pipes open: once bash has exited, what is already in the
    pipes is shown and a thread drains (and drops) the rest, so such a job runs on unharmed (no
    SIGPIPE) until the kernel shuts down, without holding up the block.
    """
    global last_rc
    import codecs, selectors, subprocess, threading, time
    p = subprocess.Popen(["bash", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    sel = selectors.DefaultSelector()
    for pipe, out in ((p.stdout, sys.stdout), (p.stderr, sys.stderr)):
        sel.register(pipe, selectors.EVENT_READ, (out, codecs.getincrementaldecoder("utf-8")("replace")))
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
                    os.close(pidfd)
                    pidfd = None
                    continue
                out, dec = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    out.write(dec.decode(b"", final=True))
                    key.fileobj.close()
                    continue
                out.write(dec.decode(chunk))
                out.flush()
        last_rc = p.wait()
        rest = [key.fileobj for key in sel.get_map().values() if key.data is not None]
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
            for pipe in (p.stdout, p.stderr):
                pipe.close()

def _drain(pipes):
    """Read and drop what background jobs of a finished shell block still write, until they exit."""
    import selectors
    sel = selectors.DefaultSelector()
    for pipe in pipes:
        sel.register(pipe, selectors.EVENT_READ)
    try:
        while sel.get_map():
            for key, _ in sel.select():
                if not os.read(key.fd, 65536):
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
    finally:
        sel.close()
'''

_LOAD = (
    "import sys as _s, types as _t\n"
    "_m = _t.ModuleType('__agentnb__'); exec({src!r}, _m.__dict__); _s.modules['__agentnb__'] = _m\n"
)


def load_code(*, harden: bool = True, env: dict[str, str] | None = None) -> str:
    """Code that loads the helpers as ``__agentnb__`` in a kernel: ``harden`` installs the surrogate-safe
    output packing (local kernels); ``env`` is added to the kernel's environment (remote kernels)."""
    code = _LOAD.format(src=HELPER_SOURCE)
    if harden:
        code += "_m.harden()\n"
    if env:
        code += f"__import__('os').environ.update({dict(env)!r})\n"
    return code + "del _s, _t, _m\n"


def run_sh_code(code: str) -> str:
    """The Python that runs ``code`` (an ``sh`` block) through the helpers."""
    return f"__import__('__agentnb__').run_sh({code!r})"


SH_RC_EXPRESSIONS = {"rc": "__import__('__agentnb__').last_rc"}
"""``user_expressions`` that return an ``sh`` block's exit code with its execute reply."""

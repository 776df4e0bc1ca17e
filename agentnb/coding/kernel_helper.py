"""Loading agentnb's helpers into a kernel, and the code that calls them.

The helpers are :mod:`.in_kernel`, shipped as source and exec'd in the kernel as the module
``__agentnb__`` (kept out of the user namespace): ``bind`` moves the kernel into its work_dir,
``harden`` keeps outputs with lone surrogates from failing in the iopub thread, ``warm`` pre-imports
modules, ``run_sh`` runs an ``sh`` block with bash and streams its output.
"""

from __future__ import annotations

from pathlib import Path

HELPER_SOURCE = Path(__file__).with_name("in_kernel.py").read_text(encoding="utf-8")
"""The source of :mod:`.in_kernel`, what a kernel execs as ``__agentnb__``."""

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

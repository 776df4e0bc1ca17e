"""The embedded model's server process: ``python -m agentnb.llm.llama_launch [llama_cpp.server args]``.

Runs ``llama_cpp.server`` with two guards that a plain ``python -m llama_cpp.server`` lacks:

- **no weight repacking** (``llama_model_params.use_extra_bufts = False``). llama.cpp repacks
  weights into "extra buffer types" for the CPU it was built on; on CPUs with AMX the Q4_1 repack
  path (``ggml_backend_amx_mul_mat``) segfaults on the first prompt longer than one token when the
  wheel was built with ``GGML_NATIVE=ON`` (pip's default). ``./dev`` builds a portable wheel, but
  a ``pip install "agentnb[local]"`` elsewhere builds a native one: this guard makes both safe.
  ``AGENTNB_LLAMA_REPACK=1`` turns repacking back on (measured cost of leaving it off:
  ``benchmarks/bench_local_model.py``).
- **dies with its parent**, even when the parent is killed by SIGKILL (no atexit then): a thread
  polls the parent pid (PR_SET_PDEATHSIG would fire when the *thread* that forked us exits, and
  agentnb may start the server from a short-lived worker thread).
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time

ENV_REPACK = "AGENTNB_LLAMA_REPACK"


def disable_weight_repacking() -> bool:
    """Make llama-cpp-python load models with ``use_extra_bufts=False``; False if it has no such field."""
    import llama_cpp.llama_cpp as capi

    fields = {name for name, *_ in capi.llama_model_params._fields_}
    if "use_extra_bufts" not in fields:
        return False
    original = capi.llama_model_default_params

    def default_params_without_repacking():  # type: ignore[no-untyped-def]
        params = original()
        params.use_extra_bufts = False
        return params

    capi.llama_model_default_params = default_params_without_repacking
    return True


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="agentnb-parent-watch", daemon=True).start()


def main() -> None:
    _exit_with_parent(os.getppid())
    if os.environ.get(ENV_REPACK, "").strip() not in {"1", "true", "yes"}:
        applied = disable_weight_repacking()
        print(f"agentnb: weight repacking {'off' if applied else 'not configurable in this llama-cpp-python'}",
              flush=True)
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

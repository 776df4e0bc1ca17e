"""Benchmark the embedded local model (llama.cpp server + SmolLM2-135M-Instruct).

Measures, on this machine: server start-up time, time to first token, generation tokens/s
(medians of a few runs), and how often the 135M model writes a usable fenced Python block for a
realistic agent prompt, per prompt phrasing and temperature.

    .venv/bin/python benchmarks/bench_local_model.py [--runs 5] [--tries 10] [--skip-quality]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

import openai

from agentnb.coding.base import extract_code_blocks
from agentnb.llm.local import LOCAL_CODER_SYSTEM_MESSAGE, LocalModelServer, find_default_gguf

LONG_PROMPT = "Write a short story about a robot who learns to paint. Use at least 150 words."

AUTOGEN_LIKE = (
    "You are a helpful AI assistant. Solve tasks using your coding and language skills. "
    "When you need to run code, suggest python code (in a python coding block) or shell script "
    "(in a sh coding block) for the user to execute. The user cannot modify your code, so do not "
    "suggest incomplete code. Put all code in one block. When the task is done, reply TERMINATE."
)
SHORT = LOCAL_CODER_SYSTEM_MESSAGE
FEW_SHOT_EXAMPLE = [
    {"role": "user", "content": "Write Python code that prints the word hello."},
    {"role": "assistant", "content": "```python\nprint(\"hello\")\n```\nTERMINATE"},
]
SECOND_EXAMPLE = [
    {"role": "user", "content": "Write Python code that prints 3*3."},
    {"role": "assistant", "content": "```python\nprint(3*3)\n```\nTERMINATE"},
]
TASK = "Write Python code that prints 2+2."
# What the user proxy sends back after running the block (AutoGen 0.2 wording).
EXEC_REPORT = "exitcode: 0 (execution succeeded)\nCode output: 4\n"

PROMPTS = {
    "autogen-like system": [{"role": "system", "content": AUTOGEN_LIKE}, {"role": "user", "content": TASK}],
    "short system": [{"role": "system", "content": SHORT}, {"role": "user", "content": TASK}],
    "short system + 1 example": [{"role": "system", "content": SHORT}, *FEW_SHOT_EXAMPLE,
                                 {"role": "user", "content": TASK}],
    "short system + 2 examples": [{"role": "system", "content": SHORT}, *FEW_SHOT_EXAMPLE, *SECOND_EXAMPLE,
                                  {"role": "user", "content": TASK}],
}


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu}), "
            f"Python {platform.python_version()}")


def measure_startup(runs: int, **kwargs) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        with LocalModelServer(**kwargs):
            times.append(time.perf_counter() - t0)
    return times


def measure_generation(client: openai.OpenAI, model: str, runs: int) -> tuple[list[float], list[float]]:
    """Return (tokens/s of full completions, seconds to first streamed token)."""
    messages = [{"role": "user", "content": LONG_PROMPT}]
    client.chat.completions.create(model=model, messages=messages, max_tokens=8)  # warm-up
    rates, ttfts = [], []
    for i in range(runs):
        t0 = time.perf_counter()
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=200,
                                               temperature=0.7, seed=i)
        elapsed = time.perf_counter() - t0
        rates.append(reply.usage.completion_tokens / elapsed)
        t0 = time.perf_counter()
        stream = client.chat.completions.create(model=model, messages=messages, max_tokens=16,
                                                temperature=0.7, seed=i, stream=True)
        first = None
        for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - t0
        ttfts.append(first if first is not None else float("nan"))
    return rates, ttfts


def judge(text: str) -> dict[str, bool]:
    """Is there a python block that runs and prints 4? Did it say TERMINATE?"""
    blocks = [b for b in extract_code_blocks(text) if b.language == "python"]
    runs_ok = False
    if blocks:
        try:
            out = subprocess.run([sys.executable, "-c", blocks[0].code], capture_output=True, text=True,
                                 timeout=10)
            runs_ok = out.returncode == 0 and out.stdout.strip() == "4"
        except subprocess.TimeoutExpired:
            runs_ok = False
    return {"fenced": bool(blocks), "prints_4": runs_ok, "terminate": "TERMINATE" in text}


def measure_quality(client: openai.OpenAI, model: str, tries: int, temperatures: list[float]):
    rows, samples = [], {}
    for name, messages in PROMPTS.items():
        for temp in temperatures:
            counts = {"fenced": 0, "prints_4": 0, "terminate": 0}
            for i in range(tries):
                reply = client.chat.completions.create(model=model, messages=messages, max_tokens=200,
                                                       temperature=temp, seed=1000 + i)
                text = reply.choices[0].message.content or ""
                samples.setdefault((name, temp), text)
                for key, ok in judge(text).items():
                    counts[key] += ok
            rows.append((name, temp, counts))
            print(f"  {name:<26} T={temp:<4} fenced {counts['fenced']}/{tries}  "
                  f"runs+prints 4 {counts['prints_4']}/{tries}  TERMINATE {counts['terminate']}/{tries}",
                  flush=True)
    return rows, samples


def measure_second_turn(client: openai.OpenAI, model: str, tries: int, temperatures: list[float]) -> None:
    """After the code ran, does the model close with TERMINATE (the AutoGen stop signal)?"""
    for name in ("autogen-like system", "short system + 2 examples"):
        messages = [*PROMPTS[name], {"role": "assistant", "content": "```python\nprint(2 + 2)\n```"},
                    {"role": "user", "content": EXEC_REPORT}]
        for temp in temperatures:
            hits, more_code, sample = 0, 0, ""
            for i in range(tries):
                reply = client.chat.completions.create(model=model, messages=messages, max_tokens=120,
                                                       temperature=temp, seed=2000 + i)
                text = reply.choices[0].message.content or ""
                sample = sample or text
                hits += "TERMINATE" in text
                more_code += bool(extract_code_blocks(text))
            print(f"  turn 2, {name:<26} T={temp:<4} TERMINATE {hits}/{tries}  "
                  f"another code block {more_code}/{tries}  sample {sample[:80]!r}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--temperatures", default="0,0.2,0.7")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()

    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {machine()}")
    print(f"model: {find_default_gguf()}")

    startup = measure_startup(3)
    print(f"start-up (s), 3 runs: {[round(t, 2) for t in startup]}  median {statistics.median(startup):.2f}")

    thread_options = sorted({1, os.cpu_count() or 1})
    for n_threads in thread_options:
        with LocalModelServer(n_threads=n_threads) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="sk-no-key-required", max_retries=0)
            rates, ttfts = measure_generation(client, server.model, args.runs)
            print(f"n_threads={n_threads}: tokens/s median {statistics.median(rates):.1f} "
                  f"(runs {[round(r, 1) for r in rates]}); time to first token median "
                  f"{statistics.median(ttfts) * 1000:.0f} ms", flush=True)

    if args.skip_quality:
        return
    temps = [float(t) for t in args.temperatures.split(",")]
    print(f"code-block quality, {args.tries} tries per cell, max_tokens=200, task: {TASK!r}")
    with LocalModelServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-no-key-required", max_retries=0)
        _, samples = measure_quality(client, server.model, args.tries, temps)
        measure_second_turn(client, server.model, args.tries, temps)
    print("\nfirst sample per cell:")
    for (name, temp), text in samples.items():
        print(f"--- {name}, T={temp} ---\n{text}\n")


if __name__ == "__main__":
    main()

"""The ``agentnb`` command: ``agentnb demo`` runs the classic two-agent pattern headless.

    agentnb demo                          # embedded local model, offline
    agentnb demo --base-url URL --model M # any OpenAI-compatible endpoint (key from $OPENAI_API_KEY)
    agentnb demo --task "..." --out chat.ipynb
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_TASK = "Compute the squares of 1 to 10 with a list comprehension, print them, and plot them with matplotlib."

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentnb", description="Jupyter-native multi-agent conversations.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a two-agent conversation headless and save its notebook")
    demo.add_argument("--task", default=DEFAULT_TASK, help="what the agents should do")
    demo.add_argument("--model", help="model name (default: the embedded local model, or $AGENTNB_MODEL)")
    demo.add_argument("--base-url", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    demo.add_argument("--api-key-env", default="OPENAI_API_KEY",
                      help="name of the environment variable holding the API key (keys never go on the command line)")
    demo.add_argument("--work-dir", default="agentnb-demo", help="where code runs and files go")
    demo.add_argument("--out", help="transcript notebook path (default: WORK_DIR/transcript.ipynb)")
    demo.add_argument("--max-replies", type=int, default=None,
                      help="max consecutive auto replies of the user proxy (default 1 on the embedded model, "
                           "which never says TERMINATE by itself; else 6)")
    demo.add_argument("--executor", default="jupyter", choices=["jupyter", "commandline-local"],
                      help="where code runs (default: a dedicated Jupyter kernel)")
    demo.add_argument("--temperature", type=float, default=None)
    demo.add_argument("--require-code", action="store_true",
                      help="exit with status 3 unless the model wrote a code block and it was executed "
                           "(CI uses this to prove the embedded model really works on this machine)")
    sub.add_parser("version", help="print the version")
    from .batch import add_arguments as add_batch_arguments

    add_batch_arguments(sub.add_parser("batch", help="run a team over many tasks (see `pydoc agentnb.batch`)"))
    from .studio.cli import add_arguments as add_serve_arguments

    add_serve_arguments(sub.add_parser("serve", help="run a team spec behind a local web page and HTTP API "
                                                     "(see `pydoc agentnb.studio.serve`)"))
    return parser


def _llm_config(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    """The demo's llm_config, and whether it is the embedded tiny model."""
    from .llm.config import EMBEDDED, get_default_llm_config

    if args.base_url or args.model:
        entry: dict[str, Any] = {"model": args.model or os.environ.get("AGENTNB_MODEL", "gpt-4o-mini")}
        if args.base_url:
            entry["base_url"] = args.base_url
        key = os.environ.get(args.api_key_env)
        if key:
            entry["api_key"] = key
        config: dict[str, Any] = {"config_list": [entry]}
    else:
        config = get_default_llm_config()
    if args.temperature is not None:
        config = {**config, "temperature": args.temperature}
    embedded = any(e.get("api_type") == EMBEDDED for e in config.get("config_list", []))
    return config, embedded


def demo(args: argparse.Namespace) -> int:
    import agentnb as autogen

    from .messages import ExecutionFinished

    config, embedded = _llm_config(args)
    where = "the embedded local model (tiny, for offline demos)" if embedded else \
        f"{config['config_list'][0]['model']} at {config['config_list'][0].get('base_url', 'api.openai.com')}"
    print(f"agentnb demo — {where}\ntask: {args.task}\n", flush=True)
    work_dir = Path(args.work_dir)
    max_replies = args.max_replies if args.max_replies is not None else (1 if embedded else 6)
    assistant = autogen.AssistantAgent("assistant", llm_config=config)
    user_proxy = autogen.UserProxyAgent(
        "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=max_replies,
        is_termination_msg=lambda m: (m.get("content") or "").rstrip().endswith("TERMINATE"),  # as 0.2 notebooks
        code_execution_config={"work_dir": str(work_dir), "use_docker": False, "executor": args.executor})
    started = time.perf_counter()
    try:
        result = user_proxy.initiate_chat(assistant, message=args.task)
    except autogen.AgentNBError as exc:
        print(f"\nagentnb demo failed: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    runs = [e for e in result.events if isinstance(e, ExecutionFinished)]
    out = Path(args.out) if args.out else work_dir / "transcript.ipynb"
    replaced = out.exists()
    path = result.to_notebook(out, title=f"agentnb demo: {args.task}", overwrite=True)
    ok = sum(1 for r in runs if r.exit_code == 0)
    print(f"\n{len(result.chat_history)} messages, {len(runs)} code block(s) executed in a "
          f"{'Jupyter kernel' if args.executor == 'jupyter' else 'subprocess'} ({ok} succeeded), "
          f"{elapsed:.1f} s; ended: {result.stop_reason.replace('_', ' ')}")
    print(f"transcript notebook: {path}{' (replaced the previous one)' if replaced else ''}")
    if not runs:
        print("note: the model wrote no code block this time; a real model endpoint does much better "
              "(see --base-url / --model).")
    if args.require_code and not runs:
        print("agentnb demo failed: --require-code was given and the model produced no code block",
              file=sys.stderr)
        return 3
    return 0


def main(argv: list[str] | None = None) -> int:
    from ._compose import install_defaults

    install_defaults()  # the CLI is an entry point: its chats show in the default view (the console here)
    args = _parser().parse_args(argv)
    if args.command == "version":
        from . import __version__

        print(__version__)
        return 0
    if args.command == "batch":
        from .batch import main as batch_main

        return batch_main(args)
    if args.command == "serve":
        from .studio.cli import main as serve_main

        return serve_main(args)
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())

"""``agentnb serve``'s arguments and entry point (kept apart so that the CLI does not import tornado)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("team", help="a team spec (agentnb or AutoGen Studio JSON) or a gallery name")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default loopback; anything else exposes the team to the network)")


def main(args: argparse.Namespace) -> int:
    from .build import _spec_from
    from .catalog import gallery_names, gallery_spec
    from .serve import TeamServer

    spec = gallery_spec(args.team) if args.team in gallery_names() and not Path(args.team).exists() \
        else _spec_from(args.team)

    async def run() -> None:
        server = TeamServer(spec)
        port = server.listen(args.port, args.host)
        print(f"agentnb serve: {spec.label or args.team} at http://{args.host}:{port}/?token={server.token}",
              flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0

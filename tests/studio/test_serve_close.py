"""``TeamServer.close`` shuts down the warm kernels its loop started: no orphan after ``agentnb serve`` stops."""

from __future__ import annotations

import asyncio

import psutil
import pytest

from agentnb.coding.pool import default_pool, default_pools
from agentnb.studio import gallery_spec
from agentnb.studio.serve import TeamServer
from agentnb.testing import ScriptedModelServer

pytestmark = pytest.mark.slow


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE}


def test_closing_the_server_shuts_down_the_warm_kernels_of_its_loop(monkeypatch):
    monkeypatch.setenv("AGENTNB_KERNEL_POOL", "1")
    before = _children()

    async def main() -> set[int]:
        with ScriptedModelServer() as model:
            server = TeamServer(gallery_spec("coder"), models={"default": model.llm_config()})
            pool = default_pool()
            pool.fill(warm=False)
            while pool.starting:
                await asyncio.sleep(0.05)
            assert pool.ready == 1 and pool in default_pools()
            started = _children() - before
            assert started, "no warm kernel was started"
            await server.close()
            assert pool.closed
            assert not (_children() & started), "a warm kernel outlived the server"  # while its loop still runs
            return started

    asyncio.run(main())

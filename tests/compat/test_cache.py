"""``autogen.cache`` (0.2): Cache.disk / redis / cosmos_db, InMemoryCache, DiskCache, CacheFactory,
AbstractCache; and a real chat served from the cache without a second model call."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

import agentnb as autogen
import agentnb.cache
from agentnb.cache import AbstractCache, Cache
from agentnb.cache.abstract_cache_base import AbstractCache as AbstractCachePath
from agentnb.cache.cache import Cache as CachePath
from agentnb.cache.cache_factory import CacheFactory
from agentnb.cache.disk_cache import DiskCache
from agentnb.cache.in_memory_cache import InMemoryCache


class Point(BaseModel):
    x: int
    y: int


def test_import_paths_resolve_to_one_cache():
    assert autogen.Cache is Cache is CachePath is agentnb.cache.Cache
    assert AbstractCache is AbstractCachePath


def test_disk_cache_get_set_and_persistence(tmp_path):
    with Cache.disk(cache_seed=7, cache_path_root=str(tmp_path)) as cache:
        assert isinstance(cache.cache, DiskCache) and isinstance(cache.cache, AbstractCache)
        assert cache.get("missing") is None and cache.get("missing", "dflt") == "dflt"
        cache.set("k", {"a": [1, 2]})
        assert cache.get("k") == {"a": [1, 2]}
    again = Cache.disk(cache_seed=7, cache_path_root=str(tmp_path))
    assert again.get("k") == {"a": [1, 2]}
    assert Cache.disk(cache_seed=8, cache_path_root=str(tmp_path)).get("k") is None


def test_disk_cache_values_are_json_never_pickle(tmp_path):
    cache = DiskCache(seed="s", cache_path_root=tmp_path)
    cache.set("point", Point(x=1, y=2))
    assert cache.get("point") == Point(x=1, y=2)
    files = list(cache.dir.glob("*.json"))
    assert files and all(json.loads(f.read_text()) for f in files)
    with pytest.raises(TypeError, match="JSON values and pydantic models"):
        cache.set("obj", object())
    # a file naming an unimported module does not import it
    cache.set("evil", {"__agentnb_cache__": "pydantic", "class": "agentnb_no_such_module_xyz:X", "data": {"v": 1}})
    import sys

    assert cache.get("evil") == {"v": 1} and "agentnb_no_such_module_xyz" not in sys.modules


def test_cache_seed_cannot_escape_the_root(tmp_path):
    with pytest.raises(ValueError):
        Cache.disk(cache_seed="../../etc", cache_path_root=str(tmp_path))


def test_cache_from_0_2_config_dict(tmp_path):
    cache = Cache({"cache_seed": 3, "cache_path_root": str(tmp_path)})
    cache.set("a", 1)
    assert cache.get("a") == 1 and (tmp_path / "agentnb" / "3").is_dir()
    with pytest.raises(ValueError, match="Invalid config key: colour"):
        Cache({"cache_seed": 3, "colour": "red"})


def test_in_memory_cache_seeds_and_defaults():
    one, two = InMemoryCache(seed=1), InMemoryCache()
    one.set("k", "v")
    assert one.get("k") == "v" and one._cache == {"1_k": "v"}
    two.set("k", "w")
    assert two._cache == {"k": "w"} and two.get("nope", 0) == 0
    with InMemoryCache() as inside:
        assert isinstance(inside, AbstractCache)


def test_leaving_the_block_closes_the_backend(tmp_path):
    closed = []

    class Recording(InMemoryCache):
        def close(self):
            closed.append(True)

    with Cache(Recording()) as cache:
        cache.set("a", 1)
    assert closed == [True]


def test_cache_factory(tmp_path):
    disk = CacheFactory.cache_factory("9", cache_path_root=str(tmp_path))
    assert isinstance(disk, DiskCache) and disk.dir == tmp_path / "agentnb" / "9"


def test_redis_and_cosmos_fail_clearly_instead_of_falling_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImportError, match="pip install redis"):
        Cache.redis(cache_seed=1, redis_url="redis://127.0.0.1:6379/0")
    with pytest.raises(NotImplementedError, match="Cosmos DB"):
        Cache.cosmos_db(connection_string="AccountEndpoint=x;AccountKey=y", container_id="c")
    assert not (tmp_path / ".cache").exists()  # nothing quietly written to disk instead


@pytest.mark.parametrize("make", [lambda root: Cache.disk(cache_seed=5, cache_path_root=root),
                                  lambda root: InMemoryCache(seed=5)], ids=["Cache.disk", "InMemoryCache"])
def test_second_chat_is_served_from_the_cache(model_server, tmp_path, make):
    model_server.add("cached answer")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False,
                                  max_consecutive_auto_reply=0)
    cache = make(str(tmp_path))
    first = user.initiate_chat(assistant, message="question", cache=cache, silent=True)
    second = user.initiate_chat(assistant, message="question", cache=cache, silent=True)
    assert first.chat_history[-1]["content"] == second.chat_history[-1]["content"] == "cached answer"
    assert len(model_server.requests) == 1

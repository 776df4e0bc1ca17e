"""Attack: files agentnb writes that nobody asked for.

- The panel's Export wrote ``chat1.ipynb`` over an existing file, and the counter restarts every
  kernel session, so exporting in a new session destroyed an earlier export. Nothing is overwritten
  without saying so: the panel picks a free name, an explicit path refuses unless overwrite is asked.
- ``cache_seed="../../.."`` wrote cached replies outside the cache root. Seeds are names, checked, and
  the resolved folder must stay inside the root (also when a symlink is planted later).
"""

from __future__ import annotations

import asyncio

import nbformat
import pytest
from IPython.core.error import UsageError

import agentnb as autogen
from agentnb.errors import ConfigError
from agentnb.export import write_notebook
from agentnb.llm.cache import Cache, DiskCache
from agentnb.llm.client import Completion
from agentnb.messages import ChatFinished, ChatStarted, MessageSent
from agentnb.testing import ScriptedModelServer

EARLIER = "an export from an earlier session\n"


def _events(text="hello"):
    return [ChatStarted(sender="user", recipient="assistant"),
            MessageSent(sender="user", recipient="assistant", message={"content": text, "role": "user"}),
            ChatFinished(reason="terminated")]


# ------------------------------------------------------------------ export


def test_an_explicit_path_is_never_overwritten_silently(tmp_path):
    path = tmp_path / "chat.ipynb"
    path.write_text(EARLIER)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_notebook(_events(), path)
    assert path.read_text() == EARLIER
    write_notebook(_events("replaced"), path, overwrite=True)  # asked for: replaced
    assert "replaced" in path.read_text()
    nbformat.validate(nbformat.read(str(path), as_version=4))


def test_unique_export_picks_a_free_name(tmp_path):
    first = tmp_path / "chat1.ipynb"
    first.write_text(EARLIER)
    (tmp_path / "chat1-2.ipynb").write_text(EARLIER)
    written = write_notebook(_events(), first, unique=True)
    assert written == tmp_path / "chat1-3.ipynb"
    assert first.read_text() == EARLIER and (tmp_path / "chat1-2.ipynb").read_text() == EARLIER
    assert nbformat.read(str(written), as_version=4).cells


def test_export_does_not_write_through_a_planted_symlink(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    link = tmp_path / "out" / "chat.ipynb"
    link.parent.mkdir()
    link.symlink_to(outside)
    with pytest.raises(FileExistsError):
        write_notebook(_events(), link)
    assert write_notebook(_events(), link, unique=True) == link.with_name("chat-2.ipynb")
    write_notebook(_events(), link, overwrite=True)  # replaces the link itself
    assert outside.read_text() == "precious" and not link.is_symlink()


def _team(server):
    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
    user = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=0,
                                  code_execution_config=False)
    return user, assistant


def test_panel_export_in_a_new_session_keeps_the_earlier_file(tmp_path, monkeypatch):
    """A new kernel session numbers chats from chat1 again: its Export must not replace chat1.ipynb."""
    from IPython.core.interactiveshell import InteractiveShell

    from agentnb.notebook.magics import AgentMagics

    monkeypatch.chdir(tmp_path)
    (tmp_path / "chat1.ipynb").write_text(EARLIER)
    shell = InteractiveShell.instance()

    async def session():
        with ScriptedModelServer(["answer TERMINATE"]) as server:
            shell.user_ns["team"] = _team(server)
            handle = AgentMagics(shell).agents_cell("--team team --approve never --max-turns 1", "task")
            await handle
            handle.panel.export_button.click()
            return handle

    handle = asyncio.run(session())
    assert handle.name == "chat1"
    assert (tmp_path / "chat1.ipynb").read_text() == EARLIER
    exported = nbformat.read(str(tmp_path / "chat1-2.ipynb"), as_version=4)
    assert any("task" in "".join(c.source) for c in exported.cells)
    notes = " ".join(getattr(w, "value", "") for w in handle.panel.items)
    assert "chat1-2.ipynb" in notes  # the person is told where it went


def test_export_line_magic_refuses_an_existing_path_unless_asked(tmp_path, monkeypatch, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from agentnb.notebook.magics import AgentMagics

    monkeypatch.chdir(tmp_path)
    target = tmp_path / "mine.ipynb"
    target.write_text(EARLIER)
    shell = InteractiveShell.instance()
    magics = AgentMagics(shell)

    async def session():
        with ScriptedModelServer(["answer TERMINATE"]) as server:
            shell.user_ns["team"] = _team(server)
            await magics.agents_cell("--team team --approve never --max-turns 1 --silent", "task")

    asyncio.run(session())
    with pytest.raises(UsageError, match="overwrite"):
        magics.agents_line(f"export {target}")
    assert target.read_text() == EARLIER
    magics.agents_line(f"export {target} --overwrite")
    assert nbformat.read(str(target), as_version=4).cells


# ------------------------------------------------------------------ cache


ODD_SEEDS = ["../../..", "..", ".", "/etc", "a/b", "a\\b", "", ".hidden", "x" * 65, "seed\n", 1.5, True, None,
             ["7"]]


@pytest.mark.parametrize("seed", ODD_SEEDS, ids=repr)
def test_odd_cache_seeds_are_refused(tmp_path, seed):
    root = tmp_path / "root"
    with pytest.raises(ConfigError, match="cache_seed"):
        DiskCache(root, seed)
    if isinstance(seed, str):  # (AutoGen's Cache turns other seeds into their str(), a plain name)
        with pytest.raises(ConfigError):
            Cache.disk(cache_seed=seed, cache_path_root=str(root))
    assert list(tmp_path.iterdir()) == []  # nothing was created anywhere


def test_a_traversal_seed_in_llm_config_never_writes_outside(tmp_path):
    root = tmp_path / "a" / "b" / "c"
    with ScriptedModelServer(["hi"]) as server:
        with pytest.raises(ConfigError, match="cache_seed"):
            autogen.AssistantAgent("assistant", llm_config={**server.llm_config(), "cache_seed": "../../..",
                                                            "cache_path_root": str(root)})
    assert list(tmp_path.rglob("*.json")) == []


@pytest.mark.parametrize("seed", [42, -1, 0, "run-1", "v1.2", "A_b"])
def test_ordinary_seeds_still_cache_under_the_root(tmp_path, seed):
    cache = DiskCache(tmp_path, seed)
    cache.put("k", Completion(content="x", model="m"))
    assert cache.get("k")["content"] == "x"
    assert (tmp_path / "agentnb" / str(seed) / "k.json").is_file()


def test_a_symlinked_seed_folder_is_refused_even_when_planted_later(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    (root / "agentnb").mkdir(parents=True)
    (root / "agentnb" / "7").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside"):
        DiskCache(root, 7)
    cache = DiskCache(root, 8)
    (root / "agentnb" / "8").symlink_to(outside)  # planted after the cache was set up
    with pytest.raises(ConfigError, match="outside"):
        cache.put("k", Completion(content="x", model="m"))
    assert list(outside.iterdir()) == []

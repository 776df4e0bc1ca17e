"""Attack: agentnb's own writes under ``work_dir`` escape it through links planted by model code.

Model code runs as the same user inside ``work_dir``. It plants a dangling symlink where the next
image output will be saved, a symlinked folder that ``# filename: link/x.py`` writes through, a symlink
or hard link named like the next code file, or swaps ``work_dir`` itself for a link. Nothing may be
written outside ``work_dir``, nothing outside may be truncated, and the model is told why.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib

import pytest

import agentnb as autogen
from agentnb.coding import CodeBlock, KernelExecutor, LocalCommandLineExecutor
from agentnb.testing import ScriptedModelServer, code


def _png() -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


SHOW_PNG = f"display({{'image/png': {_png()!r}}}, raw=True)\n"


def _chat(server, work, executor):
    assistant = autogen.AssistantAgent("assistant", llm_config=server.llm_config())
    proxy = autogen.UserProxyAgent("user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=3,
                                   code_execution_config={"work_dir": str(work), "executor": executor})
    return proxy.initiate_chat(assistant, message="go", silent=True)


def test_image_save_does_not_follow_planted_dangling_symlinks(tmp_path):
    work, outside = tmp_path / "work", tmp_path / "outside"
    outside.mkdir()
    plant = (f"import os\nfor i in range(1, 40):\n"
             f"    os.symlink({str(outside)!r} + f'/stolen_{{i}}.png', f'output_{{i}}.png')\n")
    with ScriptedModelServer([code(plant), code(SHOW_PNG + "print('shown')"), "TERMINATE"]) as server:
        _chat(server, work, "jupyter")
        told = server.requests[2]["messages"][-1]["content"]
    assert list(outside.iterdir()) == [], "an image output was written through a planted symlink"
    assert "shown" in told
    saved = [p for p in work.glob("output_*.png") if not p.is_symlink()]
    assert len(saved) == 1 and saved[0].read_bytes().startswith(b"\x89PNG")


def test_image_save_refuses_a_work_dir_swapped_for_a_link(tmp_path):
    work, outside = tmp_path / "work", tmp_path / "outside"
    outside.mkdir()
    swap = (f"import os\nos.chdir('..')\nos.rename({str(work)!r}, {str(tmp_path / 'moved')!r})\n"
            f"os.symlink({str(outside)!r}, {str(work)!r})\n")
    with KernelExecutor(work) as ex:
        assert ex.execute(CodeBlock(swap)).exit_code == 0
        result = ex.execute(CodeBlock(SHOW_PNG + "print('shown')"))
    assert list(outside.iterdir()) == []
    assert result.files == [] and "not saved" in result.output and "shown" in result.output


@pytest.mark.parametrize("how", ["symlinked-folder", "symlinked-file", "hard-link"])
def test_filename_comment_does_not_write_through_links(tmp_path, how):
    work, outside = tmp_path / "work", tmp_path / "outside"
    outside.mkdir()
    target = outside / "x.py"
    target.write_text("precious = True\n")
    marker = tmp_path / "ran.txt"
    plant = {
        "symlinked-folder": f"import os; os.symlink({str(outside)!r}, 'link')",
        "symlinked-file": f"import os; os.makedirs('link', exist_ok=True); os.symlink({str(target)!r}, 'link/x.py')",
        "hard-link": f"import os; os.makedirs('link', exist_ok=True); os.link({str(target)!r}, 'link/x.py')",
    }[how]
    payload = f"# filename: link/x.py\nopen({str(marker)!r}, 'w').write('ran')"
    with ScriptedModelServer([code(plant), code(payload), "TERMINATE"]) as server:
        _chat(server, work, "commandline-local")
        told = server.requests[2]["messages"][-1]["content"]
    assert target.read_text() == "precious = True\n", "a file outside work_dir was overwritten"
    assert sorted(p.name for p in outside.iterdir()) == ["x.py"]
    assert not marker.exists(), "the refused block ran anyway"
    assert told.startswith("exitcode: 1") and "link/x.py" in told


def test_filename_comment_still_writes_plain_subfolders(tmp_path):
    """Control: an ordinary ``# filename: pkg/mod.py`` is written and runs."""
    with LocalCommandLineExecutor(tmp_path) as ex:
        result = ex.execute(CodeBlock("# filename: pkg/mod.py\nprint('ok')"))
    assert result.exit_code == 0 and result.output == "ok\n"
    assert (tmp_path / "pkg" / "mod.py").read_text().startswith("# filename: pkg/mod.py")
    assert not os.path.islink(tmp_path / "pkg")


@pytest.mark.parametrize("how", ["symlink", "hard-link"])
def test_autogen_02_executor_does_not_write_through_links(tmp_path, how):
    """``autogen.coding.LocalCommandLineCodeExecutor`` (0.2 API) writes its code files the same safe way."""
    from agentnb.coding.compat import LocalCommandLineCodeExecutor

    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    target = outside / "x.py"
    target.write_text("precious = True\n")
    (os.symlink if how == "symlink" else os.link)(target, work / "x.py")
    ex = LocalCommandLineCodeExecutor(work_dir=work)
    result = ex.execute_code_blocks([CodeBlock(code="# filename: x.py\nprint('ran')", language="python")])
    assert target.read_text() == "precious = True\n"
    assert result.exit_code == 1 and "ran" not in result.output

"""KernelExecutor and KernelPool against real ipykernel processes."""

from __future__ import annotations

import asyncio
import os

import psutil
import pytest

from agentnb._aio import run_sync
from agentnb.coding.base import CodeBlock
from agentnb.coding.kernel import BoundedText, KernelExecutor, png_size
from agentnb.coding.pool import KernelPool, live_kernel_count, start_kernel


def kernel_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture(scope="module")
def pool():
    p = KernelPool(size=1)
    yield p
    run_sync(p.close())


@pytest.fixture(scope="module")
def ex(tmp_path_factory, pool):
    executor = KernelExecutor(tmp_path_factory.mktemp("coding"), pool=pool, timeout=30)
    with executor:
        yield executor


def py(code: str) -> CodeBlock:
    return CodeBlock(code, "python")


def test_state_kept_and_execute_result(ex):
    assert ex.execute(py("x = 20")).exit_code == 0
    result = ex.execute(py("print('hi')\nx + 22"))
    assert result.exit_code == 0
    assert result.output == "hi\n42\n"
    assert result.outputs[0] == {"output_type": "stream", "name": "stdout", "text": "hi\n"}
    assert result.outputs[1]["output_type"] == "execute_result"
    assert result.outputs[1]["data"]["text/plain"] == "42"
    assert result.execution_count == result.outputs[1]["execution_count"]


def test_cwd_is_work_dir_and_files_importable(ex):
    with open(os.path.join(ex.work_dir, "helper_mod.py"), "w") as f:
        f.write("VALUE = 7\n")
    result = ex.execute(py("import os, helper_mod\nprint(os.getcwd(), helper_mod.VALUE)"))
    assert result.output == f"{ex.work_dir} 7\n"


def test_error_summary(ex):
    result = ex.execute(py("def f():\n    return 1 / 0\nf()"))
    assert result.exit_code == 1
    assert result.outputs[-1]["output_type"] == "error"
    assert result.outputs[-1]["ename"] == "ZeroDivisionError"
    assert "\x1b[" not in result.output
    assert "ZeroDivisionError: division by zero" in result.output
    assert "return 1 / 0" in result.output


def test_matplotlib_png_saved_and_streamed(ex):
    seen = []
    result = ex.execute(py(
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 3, 2])\nplt.show()"
    ), on_output=seen.append)
    assert result.exit_code == 0
    images = [o for o in result.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert seen[-1]["data"] == images[0]["data"]
    assert len(result.files) == 1 and os.path.exists(result.files[0])
    with open(result.files[0], "rb") as f:
        width, height = png_size(f.read())
    assert f"[image/png {width}x{height} saved to " in result.output
    assert os.path.basename(result.files[0]) in result.output
    assert "<Figure" not in result.output


def test_dataframe_html_and_text(ex):
    result = ex.execute(py("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})"))
    data = result.outputs[-1]["data"]
    assert "<table" in data["text/html"]
    assert result.output == data["text/plain"] + "\n"


def test_svg_and_html_only_outputs(ex):
    result = ex.execute(py(
        "from IPython.display import SVG, HTML, display\n"
        "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"></svg>'))\n"
        "display(HTML('<b>bold</b>'))"
    ))
    assert result.files[0].endswith(".svg") and os.path.exists(result.files[0])
    assert "[image/svg+xml saved to" in result.output
    assert "<IPython.core.display.HTML object>" in result.output


def test_streaming_arrives_before_completion(ex):
    events = []

    async def go():
        task = asyncio.ensure_future(ex.a_execute(
            py("import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')"),
            on_output=lambda o: events.append(("output", o.get("text"), task.done())),
        ))
        result = await task
        events.append(("done", None, True))
        return result

    result = run_sync(go())
    assert result.output == "first\nsecond\n"
    assert events[0] == ("output", "first\n", False)
    assert events[-1][0] == "done"


def test_clear_output_semantics(ex):
    result = ex.execute(py(
        "from IPython.display import clear_output\nprint('old')\nclear_output()\nprint('new')"
    ))
    assert result.output == "new\n"
    assert [o.get("text") for o in result.outputs] == ["new\n"]


def test_timeout_interrupts_and_keeps_state(ex):
    ex.execute(py("kept = 'still here'"))
    result = ex.execute(py("import time\nprint('start', flush=True)\ntime.sleep(30)"), timeout=1)
    assert result.exit_code == 124 and result.timed_out
    assert "TimeoutError: code execution exceeded 1 s" in result.output
    assert "kernel and its variables are kept" in result.output
    assert ex.execute(py("kept")).output == "'still here'\n"


def test_input_does_not_hang(ex):
    result = ex.execute(py("input('name? ')"))
    assert result.exit_code == 1
    assert "StdinNotImplementedError" in result.output


def test_huge_output_bounded(ex):
    result = ex.execute(py("print('x' * 50_000_000)\nprint('tail-marker')"))
    assert result.exit_code == 0
    assert len(result.output) < ex.max_output_chars + 200
    assert "[output truncated:" in result.output
    assert result.output.rstrip().endswith("tail-marker")
    kept = sum(len(o.get("text", "")) for o in result.outputs)
    assert kept < ex.max_display_chars + 1000


def test_sh_block(ex):
    result = ex.execute(CodeBlock("echo out; pwd; echo err >&2; exit 3", "sh"))
    assert result.exit_code == 3
    assert result.output == f"out\n{ex.work_dir}\nerr\n"
    ok = ex.execute(CodeBlock("echo fine", "sh"))
    assert (ok.exit_code, ok.output) == (0, "fine\n")


def test_unsupported_language(ex):
    result = ex.execute(CodeBlock("print 1", "cobol"))
    assert result.exit_code == 1 and "unknown language 'cobol'" in result.output


@pytest.mark.parametrize("crash", ["import os; os._exit(1)", "import ctypes; ctypes.string_at(0)"])
def test_kernel_death_restarts(tmp_path, pool, crash):
    with KernelExecutor(tmp_path, pool=pool) as ex:
        ex.execute(py("lost = 1"))
        old_pid = ex.kernel.pid
        result = ex.execute(py(crash))
        assert result.exit_code == 1 and result.kernel_died
        assert "KernelDiedError: the kernel died while running this code" in result.output
        assert "all variables were lost" in result.output
        shown = result.outputs[-1]  # people see it as the block's error output
        assert shown["output_type"] == "error" and shown["ename"] == "KernelDiedError"
        assert ex.kernel.pid != old_pid
        assert ex.execute(py("print(1 + 1)")).output == "2\n"
        assert "NameError" in ex.execute(py("lost")).output


@pytest.mark.parametrize("end", ["shutdown", "kill"])
def test_an_ended_kernel_releases_its_sockets(end):
    async def go():
        kernel = await start_kernel()
        if end == "kill":
            kernel.kill()  # the synchronous last resort (atexit, finalizers) frees them too
        else:
            await kernel.shutdown()
        return kernel

    kernel = run_sync(go())
    assert not psutil.pid_exists(kernel.pid) or psutil.Process(kernel.pid).status() == psutil.STATUS_ZOMBIE
    assert kernel.kc.context.closed and kernel.km.context.closed  # every zmq socket of both closed with them


@pytest.mark.slow
def test_no_orphans_after_many_executors(tmp_path):
    before = {p.pid for p in kernel_children()}

    async def go():
        async with KernelPool(size=1) as pool:
            for i in range(20):
                async with KernelExecutor(tmp_path / str(i), pool=pool) as ex:
                    assert (await ex.a_execute(py(f"print({i})"))).output == f"{i}\n"

    run_sync(go())
    assert {p.pid for p in kernel_children()} - before == set()


def test_closed_pool_and_cancelled_executor_leave_nothing(tmp_path):
    before = {p.pid for p in kernel_children()}
    count = live_kernel_count()

    async def go():
        pool = KernelPool(size=2)
        pool.fill()
        ex = KernelExecutor(tmp_path, pool=pool)
        async with ex:
            started = asyncio.Event()
            task = asyncio.ensure_future(ex.a_execute(
                py("import time\nprint('busy', flush=True)\ntime.sleep(30)"),
                on_output=lambda o: started.set()))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            result = await ex.a_execute(py("'alive'"))
            assert result.output == "'alive'\n", result
        await pool.close()

    run_sync(go())
    assert {p.pid for p in kernel_children()} - before == set()
    assert live_kernel_count() == count


def test_bounded_text_matches_truncate():
    from agentnb.coding.base import truncate

    text = "".join(str(i % 10) for i in range(1000))
    bounded = BoundedText(100)
    for i in range(0, 1000, 7):
        bounded.add(text[i:i + 7])
    assert bounded.render() == truncate(text, 100)
    small = BoundedText(100)
    small.add("abc")
    assert small.render() == "abc"

"""``autogen.coding.jupyter`` (0.2): the Jupyter executors run in real dedicated kernels."""

from __future__ import annotations

import psutil
import pytest

import agentnb as autogen
import agentnb.coding.jupyter
from agentnb.coding import CodeBlock, CodeExecutorFactory, MarkdownCodeExtractor
from agentnb.coding.jupyter import (
    EmbeddedIPythonCodeExecutor,
    JupyterCodeExecutor,
    JupyterCodeResult,
    JupyterConnectable,
    JupyterConnectionInfo,
    LocalJupyterServer,
)
from agentnb.testing import code


def py(source: str) -> list[CodeBlock]:
    return [CodeBlock(code=source, language="python")]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    with EmbeddedIPythonCodeExecutor(timeout=15, output_dir=tmp_path_factory.mktemp("out")) as executor:
        yield executor


def test_module_path_and_names():
    assert autogen.coding.jupyter.EmbeddedIPythonCodeExecutor is EmbeddedIPythonCodeExecutor
    assert isinstance(LocalJupyterServer(), JupyterConnectable)


def test_state_persists_between_calls(embedded):
    assert embedded.execute_code_blocks(py("x = 21")).exit_code == 0
    result = embedded.execute_code_blocks(py("print('half', x)\nx * 2"))
    assert isinstance(result, JupyterCodeResult)
    assert (result.exit_code, result.output, result.output_files) == (0, "half 21\n\n42", [])


def test_kernel_cwd_is_output_dir(embedded):
    result = embedded.execute_code_blocks(py("import os\nprint(os.getcwd())"))
    assert result.output.strip() == str(embedded.output_dir.resolve())


def test_error_format_and_stop_at_first_error(embedded):
    result = embedded.execute_code_blocks(py("1 / 0") + py("print('never')"))
    assert result.exit_code == 1
    assert result.output.startswith("ERROR: ZeroDivisionError: division by zero\n")
    assert "never" not in result.output and "\x1b[" not in result.output


def test_png_and_html_outputs_saved_to_output_dir(embedded):
    result = embedded.execute_code_blocks(py(
        "import matplotlib.pyplot as plt\nfrom IPython.display import HTML, display\n"
        "plt.plot([1, 2], [3, 4]); plt.show()\ndisplay(HTML('<b>bold</b>'))"))
    assert result.exit_code == 0, result.output
    png, html = result.output_files
    assert png.endswith(".png") and html.endswith(".html")
    assert f"Image data saved to {png}" in result.output and f"HTML data saved to {html}" in result.output
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(html) as f:
        assert f.read() == "<b>bold</b>"
    assert all(p.startswith(str(embedded.output_dir.resolve())) for p in (png, html))


def test_timeout_reports_and_keeps_the_kernel(tmp_path):
    with EmbeddedIPythonCodeExecutor(timeout=1, output_dir=tmp_path) as executor:
        executor.execute_code_blocks(py("kept = 'yes'"))
        result = executor.execute_code_blocks(py("import time\ntime.sleep(30)"))
        assert (result.exit_code, result.output) == (1, "ERROR: Timeout waiting for output from code block.")
        assert executor.execute_code_blocks(py("print(kept)")).output == "yes\n"


def test_restart_forgets_state_and_stop_ends_the_kernel(tmp_path):
    executor = EmbeddedIPythonCodeExecutor(output_dir=tmp_path)
    executor.execute_code_blocks(py("y = 1"))
    first = executor.kernel_executor.kernel.pid
    executor.restart()
    result = executor.execute_code_blocks(py("y"))
    assert result.exit_code == 1 and "NameError" in result.output
    second = executor.kernel_executor.kernel.pid
    assert second != first and not alive(first)
    executor.stop()
    executor.stop()  # idempotent
    assert not alive(second)


def test_pip_install_lines_are_silenced(embedded):
    result = embedded.execute_code_blocks([CodeBlock(code="!pip --version", language="python")])
    assert result.exit_code == 0 and "pip" in result.output


def test_validation(tmp_path):
    with pytest.raises(ValueError, match="Timeout"):
        EmbeddedIPythonCodeExecutor(timeout=0, output_dir=tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        EmbeddedIPythonCodeExecutor(output_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="not installed"):
        EmbeddedIPythonCodeExecutor(kernel_name="no-such-kernel", output_dir=tmp_path)


def test_jupyter_code_executor_with_local_server(tmp_path):
    with LocalJupyterServer() as server:
        executor = JupyterCodeExecutor(server, output_dir=tmp_path, timeout=20)
        assert isinstance(executor.code_extractor, MarkdownCodeExtractor)
        executor.execute_code_blocks(py("n = 5"))
        assert executor.execute_code_blocks(py("print(n + 1)")).output == "6\n"
        sh = executor.execute_code_blocks([CodeBlock(code="echo shell-ok", language="bash")])
        assert sh.output == "shell-ok\n"
        pid = executor.kernel_executor.kernel.pid
    assert not alive(pid)  # the server's stop() shut its executors' kernels


def test_remote_server_is_refused_clearly(tmp_path):
    info = JupyterConnectionInfo(host="10.0.0.5", use_https=True, port=8888, token="secret-token")
    assert "secret-token" not in repr(info)
    with pytest.raises(ValueError, match="remote Jupyter servers are not supported"):
        JupyterCodeExecutor(info, output_dir=tmp_path)
    with pytest.raises(ValueError, match="JupyterConnectable"):
        JupyterCodeExecutor("http://localhost:8888", output_dir=tmp_path)


def test_factory_ipython_embedded(tmp_path):
    executor = CodeExecutorFactory.create({"executor": "ipython-embedded",
                                           "ipython-embedded": {"output_dir": str(tmp_path), "timeout": 9}})
    with executor:
        assert isinstance(executor, EmbeddedIPythonCodeExecutor) and executor.timeout == 9


def test_agent_runs_code_in_the_embedded_kernel(model_server, tmp_path):
    executor = EmbeddedIPythonCodeExecutor(output_dir=tmp_path)
    model_server.add(code("total = sum(range(10))"), code("print('total is', total)"), "TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    proxy = autogen.UserProxyAgent("proxy", human_input_mode="NEVER",
                                   code_execution_config={"executor": executor})
    with executor:
        result = proxy.initiate_chat(assistant, message="sum", silent=True)
    assert "total is 45" in result.chat_history[4]["content"]  # state kept across turns

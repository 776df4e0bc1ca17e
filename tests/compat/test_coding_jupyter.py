"""``autogen.coding.jupyter`` (0.2): the Jupyter executors run in real dedicated kernels."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

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


def test_docker_jupyter_server_refuses():
    from agentnb.code_utils import DockerExecutionUnavailable
    from agentnb.coding.jupyter import DockerJupyterServer

    with pytest.raises(DockerExecutionUnavailable, match="nothing was run"):
        DockerJupyterServer()


def test_connection_info_hides_the_token_and_bad_servers_are_refused(tmp_path):
    info = JupyterConnectionInfo(host="127.0.0.1", use_https=True, port=8888, token="secret-token")
    assert "secret-token" not in repr(info)
    with pytest.raises(ValueError, match="JupyterConnectable"):
        JupyterCodeExecutor("http://localhost:8888", output_dir=tmp_path)


@pytest.fixture
def kernel_gateway(tmp_path):
    """A real Jupyter Kernel Gateway on 127.0.0.1 with a token; killed (with its kernels) afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    proc = subprocess.Popen([sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
                             f"--KernelGatewayApp.port={port}", f"--KernelGatewayApp.auth_token={token}",
                             "--KernelGatewayApp.port_retries=0", "--JupyterWebsocketPersonality.list_kernels=True"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)

    def kernels() -> list:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/kernels",
                                         headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    try:
        for _ in range(600):
            assert proc.poll() is None, "the kernel gateway exited"
            try:
                kernels()
                break
            except OSError:
                time.sleep(0.1)
        yield JupyterConnectionInfo(host="127.0.0.1", use_https=False, port=port, token=token), kernels
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.mark.slow
def test_jupyter_code_executor_on_a_remote_gateway(kernel_gateway, tmp_path):
    info, kernels = kernel_gateway
    out = tmp_path / "out"
    out.mkdir()
    with JupyterCodeExecutor(info, output_dir=out, timeout=30) as executor:
        executor.execute_code_blocks(py("z = 6"))
        result = executor.execute_code_blocks(py(
            "import matplotlib.pyplot as plt\nprint('z', z * 7)\nplt.plot([0, 1]); plt.show()"))
        assert result.exit_code == 0, result.output
        assert result.output.startswith("z 42\n") and len(result.output_files) == 1
        assert result.output_files[0].startswith(str(out.resolve()))  # saved locally
        assert len(kernels()) == 1
        error = executor.execute_code_blocks(py("undefined_name"))
        assert error.exit_code == 1 and error.output.startswith("ERROR: NameError")
    assert kernels() == []  # stop() deleted the remote kernel


def test_factory_ipython_embedded(tmp_path):
    executor = CodeExecutorFactory.create({"executor": "ipython-embedded",
                                           "ipython-embedded": {"output_dir": str(tmp_path), "timeout": 9}})
    with executor:
        assert isinstance(executor, EmbeddedIPythonCodeExecutor) and executor.timeout == 9
        assert executor.kernel_name == "python3" and executor.output_dir == tmp_path


def test_agent_runs_code_in_the_embedded_kernel(model_server, tmp_path):
    executor = EmbeddedIPythonCodeExecutor(output_dir=tmp_path)
    model_server.add(code("total = sum(range(10))"), code("print('total is', total)"), "TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    proxy = autogen.UserProxyAgent("proxy", human_input_mode="NEVER",
                                   code_execution_config={"executor": executor})
    with executor:
        result = proxy.initiate_chat(assistant, message="sum", silent=True)
    assert "total is 45" in result.chat_history[4]["content"]  # state kept across turns

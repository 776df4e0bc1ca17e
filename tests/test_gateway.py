"""GatewayExecutor against a real Jupyter Kernel Gateway on 127.0.0.1 (token auth), faults included."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import pickle
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest

import agentnb as autogen
from agentnb._aio import run_sync
from agentnb.coding import make_executor
from agentnb.coding.base import CodeBlock
from agentnb.coding.gateway import GatewayAuthError, GatewayError, GatewayExecutor
from agentnb.errors import ChatError, ConfigError
from agentnb.messages import ExecutionFinished, subscribe
from agentnb.testing import ScriptedModelServer, code

TOKEN_ENV = "AGENTNB_TEST_GATEWAY_TOKEN"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KernelGateway:
    """``jupyter kernelgateway`` as a subprocess in its own process group (kernels included)."""

    def __init__(self, root, token: str, port: int | None = None, extra: tuple[str, ...] = (),
                 tls: tuple[str, str] | None = None):
        self.root = root
        self.token = token
        self.port = port or free_port()
        self.extra = extra
        if tls is not None:
            self.extra = (*extra, f"--KernelGatewayApp.certfile={tls[0]}", f"--KernelGatewayApp.keyfile={tls[1]}")
        self.context = ssl.create_default_context(cafile=tls[0]) if tls else None
        self.proc: subprocess.Popen | None = None
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> KernelGateway:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
        env["JUPYTER_RUNTIME_DIR"] = str(self.root / "runtime")
        self.log = open(self.root / f"gateway-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
             f"--KernelGatewayApp.port={self.port}", f"--KernelGatewayApp.auth_token={self.token}",
             "--KernelGatewayApp.port_retries=0", "--JupyterWebsocketPersonality.list_kernels=True", *self.extra],
            cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, (self.root / f"gateway-{self.port}.log").read_text()
                with contextlib.suppress(OSError):
                    self.kernels()
                    return self
                time.sleep(0.1)
            raise RuntimeError("the kernel gateway did not start")
        except BaseException:
            self.stop()  # no process group, no open log left behind by a start that failed
            raise

    def kernels(self) -> list[dict]:
        request = urllib.request.Request(f"{self.url}/api/kernels", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=5, context=self.context) as response:
            return json.loads(response.read())

    def delete(self, kernel_id: str) -> None:
        request = urllib.request.Request(f"{self.url}/api/kernels/{kernel_id}", method="DELETE",
                                         headers={"Authorization": f"token {self.token}"})
        urllib.request.urlopen(request, timeout=10, context=self.context).close()

    def kernel_pids(self) -> list[int]:
        assert self.proc is not None
        pids = []
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(child.cmdline()):
                    pids.append(child.pid)
        return pids

    def stop(self) -> None:
        """SIGKILL the whole process group: the gateway and every kernel it started."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        self.log.close()


def kernel_ids(gw: KernelGateway) -> set[str]:
    return {k["id"] for k in gw.kernels()}


@pytest.fixture
def no_new_kernels(gateway):
    """Fails the test if it leaves a remote kernel behind (the module's shared executor may own one)."""
    before = kernel_ids(gateway)
    yield
    assert kernel_ids(gateway) <= before, "the test left a remote kernel on the gateway"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = KernelGateway(tmp_path_factory.mktemp("gateway"), "gw-" + secrets.token_hex(12)).start()
    yield gw
    try:
        assert gw.kernels() == [], "remote kernels left on the gateway"
    finally:
        gw.stop()


@pytest.fixture
def token_env(gateway, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, gateway.token)
    return TOKEN_ENV


@pytest.fixture(scope="module")
def ex(gateway, tmp_path_factory):
    executor = GatewayExecutor(gateway.url, auth_token=gateway.token, work_dir=tmp_path_factory.mktemp("coding"),
                               timeout=30)
    with executor:
        yield executor


def py(source: str) -> CodeBlock:
    return CodeBlock(source, "python")


def test_outputs_state_and_execute_result(ex, gateway):
    assert ex.kernel_id in [k["id"] for k in gateway.kernels()]
    assert ex.execute(py("x = 20")).exit_code == 0
    result = ex.execute(py("print('hi')\nx + 22"))
    assert result.exit_code == 0
    assert result.output == "hi\n42\n"
    assert result.outputs[0] == {"output_type": "stream", "name": "stdout", "text": "hi\n"}
    assert result.outputs[1]["output_type"] == "execute_result"
    assert result.outputs[1]["data"]["text/plain"] == "42"
    assert result.execution_count == result.outputs[1]["execution_count"]


def test_streaming_arrives_before_completion(ex):
    events = []

    async def go():
        task = asyncio.ensure_future(ex.a_execute(
            py("import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')"),
            on_output=lambda o: events.append((o.get("text"), task.done()))))
        return await task

    result = run_sync(go())
    assert result.output == "first\nsecond\n"
    assert events[0] == ("first\n", False)


def test_png_saved_locally_and_html_kept(ex):
    seen = []
    result = ex.execute(py(
        "import base64\nfrom IPython.display import Image, HTML, display\n"
        "png = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEklEQVR4nGP4z8Dwn4GBgQEAHvAC/mR"
        "vYSoAAAAASUVORK5CYII=')\n"
        "display(Image(png))\ndisplay(HTML('<b>bold</b>'))"), on_output=seen.append)
    assert result.exit_code == 0, result.output
    assert len(result.files) == 1 and result.files[0].startswith(ex.work_dir)
    with open(result.files[0], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "[image/png 2x3 saved to " in result.output
    assert any("image/png" in o.get("data", {}) for o in seen)
    assert result.outputs[-1]["data"]["text/html"] == "<b>bold</b>"


def test_error_output(ex):
    result = ex.execute(py("def f():\n    return 1 / 0\nf()"))
    assert result.exit_code == 1
    assert result.outputs[-1]["output_type"] == "error" and result.outputs[-1]["ename"] == "ZeroDivisionError"
    assert "ZeroDivisionError: division by zero" in result.output and "\x1b[" not in result.output


def test_sh_block_and_env(gateway, tmp_path):
    with GatewayExecutor(gateway.url, auth_token=gateway.token, work_dir=tmp_path,
                         env={"AGENTNB_GW_TEST": "yes"}) as ex:
        result = ex.execute(CodeBlock("echo out $AGENTNB_GW_TEST; echo err >&2; exit 3", "sh"))
        assert result.exit_code == 3
        assert "out yes" in result.output and "err" in result.output
        assert ex.execute(py("import os; print(os.environ['AGENTNB_GW_TEST'])")).output == "yes\n"


def test_timeout_interrupts_over_rest_and_keeps_state(ex):
    ex.execute(py("kept = 'still here'"))
    result = ex.execute(py("import time\nprint('start', flush=True)\ntime.sleep(60)"), timeout=1)
    assert result.exit_code == 124 and result.timed_out
    assert "start" in result.output and "KeyboardInterrupt" in result.output
    assert "the kernel and its variables are kept" in result.output
    assert ex.execute(py("print(kept)")).output == "still here\n"


def test_cancel_interrupts_and_next_block_runs(ex):
    async def go():
        task = asyncio.ensure_future(ex.a_execute(py("import time\ntime.sleep(60)")))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await ex.a_execute(py("print('after cancel')"))

    assert run_sync(go()).output == "after cancel\n"


def test_kernel_dies_in_code_gateway_restarts_it_and_agents_are_told(gateway, tmp_path):
    with GatewayExecutor(gateway.url, auth_token=gateway.token, work_dir=tmp_path) as ex:
        ex.execute(py("lost = 1"))
        result = ex.execute(py("import os; os._exit(1)"))
        assert result.exit_code == 1 and result.kernel_died
        assert "KernelDiedError:" in result.output and "all variables were lost" in result.output
        assert ex.execute(py("print(1 + 1)")).output == "2\n"
        assert "NameError" in ex.execute(py("lost")).output


def test_exit_in_model_code_restarts_the_kernel_and_says_so_in_that_block(gateway, tmp_path):
    with GatewayExecutor(gateway.url, auth_token=gateway.token, work_dir=tmp_path) as ex:
        ex.execute(py("lost = 1"))
        old = ex.kernel_id
        result = ex.execute(py("print('bye'); exit()"))
        assert result.exit_code == 0 and "bye" in result.output and "called exit()" in result.output
        assert ex.kernel_id != old and old not in [k["id"] for k in gateway.kernels()]
        after = ex.execute(py("print('fresh')"))
        assert after.exit_code == 0 and after.output == "fresh\n"  # not blamed for the exit
        assert "NameError" in ex.execute(py("lost")).output


def test_kernel_killed_on_the_gateway_side(gateway, tmp_path):
    """A kernel deleted behind our back (culler, admin) is replaced; the next block says so."""
    with GatewayExecutor(gateway.url, auth_token=gateway.token, work_dir=tmp_path) as ex:
        ex.execute(py("lost = 1"))
        old = ex.kernel_id
        gateway.delete(old)
        result = ex.execute(py("print('fresh')"))
        assert result.exit_code == 0
        assert "no longer exists on the gateway" in result.output and "all variables were lost" in result.output
        assert result.output.endswith("fresh\n")
        assert ex.kernel_id != old and old not in [k["id"] for k in gateway.kernels()]


def test_kernel_process_killed_between_blocks(gateway, tmp_path):
    with GatewayExecutor(gateway.url, auth_token=gateway.token, work_dir=tmp_path) as ex:
        ex.execute(py("lost = 1"))
        pid = int(ex.execute(py("import os; print(os.getpid())")).output)
        assert pid in gateway.kernel_pids()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while pid in gateway.kernel_pids() or len(gateway.kernel_pids()) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        result = ex.execute(py("print('again')"))
        if result.kernel_died:  # the gateway announced the restart after this block was sent
            assert "before this code could run; it was not run" in result.output
            result = ex.execute(py("print('again')"))
        else:
            assert "Note: the kernel died" in result.output
        assert result.output.endswith("again\n") and "NameError" in ex.execute(py("lost")).output


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 whose connections the test can cut (a dropped network, not a closed socket API)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.refuse_until = 0.0
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_forever()

    async def _client(self, reader, writer):
        if time.monotonic() < self.refuse_until:
            writer.close()
            return
        self.writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except BaseException:
            writer.close()
            raise
        self.writers.add(up_writer)

        async def pipe(src, dst):
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            writer.close()
            up_writer.close()

    def drop(self, refuse_for: float) -> None:
        """Cut every open connection and refuse new ones for ``refuse_for`` seconds."""
        def cut():
            self.refuse_until = time.monotonic() + refuse_for
            for w in list(self.writers):
                w.transport.abort()
            self.writers.clear()
        self.loop.call_soon_threadsafe(cut)

    def close(self) -> None:
        def stop():
            self.server.close()
            for w in list(self.writers):
                w.transport.abort()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.stop()
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(10)
        # the cancelled connections finish here (their sockets close), then the loop and its self-pipe
        pending = asyncio.all_tasks(self.loop)
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()


def test_websocket_dropped_mid_block_reconnects_without_losing_outputs(gateway, tmp_path):
    proxy = DroppingProxy(gateway.port)
    try:
        with GatewayExecutor(f"http://127.0.0.1:{proxy.port}", auth_token=gateway.token, work_dir=tmp_path) as ex:
            ex.execute(py("kept = 7"))
            seen = []

            def on_output(out):
                seen.append(out.get("text"))
                if out.get("text") == "before\n":
                    proxy.drop(refuse_for=1.0)  # 'during' and 'after' are printed while we are cut off

            result = ex.execute(py("import time\nprint('before', flush=True)\ntime.sleep(0.5)\n"
                                   "print('during', flush=True)\ntime.sleep(1.5)\nprint('after')"),
                                on_output=on_output)
            assert result.exit_code == 0, result.output
            assert result.output == "before\nduring\nafter\n"
            assert ex.reconnects >= 1
            assert ex.execute(py("print(kept)")).output == "7\n"
    finally:
        proxy.close()


def test_wrong_token_names_url_never_token(gateway, tmp_path, caplog):
    wrong = "wrong-" + secrets.token_hex(8)
    ex = GatewayExecutor(gateway.url, auth_token=wrong, work_dir=tmp_path)
    with pytest.raises(GatewayAuthError) as info:
        ex.start()
    message = str(info.value)
    assert gateway.url in message and ("HTTP 403" in message or "HTTP 401" in message)
    for secret in (wrong, gateway.token):
        assert secret not in message and secret not in repr(info.value) and secret not in caplog.text
    assert pickle.loads(pickle.dumps(info.value)).url == gateway.url
    ex.close()


def test_unreachable_gateway_is_a_clear_error(tmp_path):
    port = free_port()
    with pytest.raises(GatewayError, match=f"cannot reach the Jupyter gateway at http://127.0.0.1:{port}"):
        GatewayExecutor(f"http://user:pw@127.0.0.1:{port}/", auth_token="t0ken-abc", work_dir=tmp_path).start()


def test_config_selection_and_env_url(gateway, token_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTNB_GATEWAY_URL", gateway.url)
    ex = make_executor({"executor": "gateway", "auth_token_env": token_env, "work_dir": str(tmp_path),
                        "timeout": 5})
    assert isinstance(ex, GatewayExecutor) and ex.gateway_url == gateway.url and ex.timeout == 5
    monkeypatch.delenv("AGENTNB_GATEWAY_URL")
    with pytest.raises(ConfigError, match="AGENTNB_GATEWAY_URL"):
        make_executor({"executor": "gateway"})
    with pytest.raises(ConfigError, match="'gateway'"):
        make_executor({"executor": "nowhere"})


def test_gateway_restarted_mid_chat_recovers_and_tells_the_model(gateway, token_env, model_server, tmp_path,
                                                                  no_new_kernels):
    model_server.add(code("x = 41\nprint('first', x)"), code("print('second')"), "TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    proxy = autogen.UserProxyAgent(
        "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=5,
        code_execution_config={"executor": "gateway", "gateway_url": gateway.url, "auth_token_env": token_env,
                               "work_dir": str(tmp_path), "reconnect_timeout": 60})

    def restart_after_first_block(event):
        if isinstance(event, ExecutionFinished) and "first" in event.summary:
            gateway.stop()
            gateway.start()  # same port and token, no kernels: ours is gone

    with subscribe(restart_after_first_block):
        result = proxy.initiate_chat(assistant, message="two blocks", silent=True)
    told = model_server.requests[2]["messages"][-1]["content"]
    assert "exitcode: 0" in told and "no longer exists on the gateway" in told and "second" in told
    assert result.stop_reason == "terminated"


def test_gateway_down_mid_chat_is_a_clear_error(gateway, tmp_path, token_env, model_server):
    gw = gateway
    try:
        model_server.add(code("print('first')"), code("print('second')"), "TERMINATE")
        assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
        proxy = autogen.UserProxyAgent(
            "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=5,
            code_execution_config={"executor": "gateway", "gateway_url": gw.url, "auth_token_env": token_env,
                                   "work_dir": str(tmp_path / "w"), "reconnect_timeout": 2})

        def kill_after_first_block(event):
            if isinstance(event, ExecutionFinished) and "first" in event.summary:
                gw.stop()

        with subscribe(kill_after_first_block), pytest.raises((ChatError, GatewayError)) as info:
            proxy.initiate_chat(assistant, message="two blocks", silent=True)
        assert gw.url in str(info.value) and os.environ[token_env] not in str(info.value)
    finally:
        if gw.proc is None:
            gw.start()


def test_two_agent_chat_on_the_gateway(gateway, token_env, model_server, tmp_path, no_new_kernels):
    model_server.add(code("import sys\nprint('answer', 6 * 7)"), "TERMINATE")
    assistant = autogen.AssistantAgent("assistant", llm_config=model_server.llm_config())
    proxy = autogen.UserProxyAgent(
        "user_proxy", human_input_mode="NEVER", max_consecutive_auto_reply=5,
        code_execution_config={"executor": "gateway", "gateway_url": gateway.url, "auth_token_env": token_env,
                               "work_dir": str(tmp_path)})
    result = proxy.initiate_chat(assistant, message="Compute 6 * 7.", silent=True)
    assert [m["name"] for m in result.chat_history] == ["user_proxy", "assistant", "user_proxy", "assistant"]
    assert "answer 42" in result.chat_history[2]["content"]
    nb = result.to_notebook(tmp_path / "chat.ipynb")
    assert "answer 42" in nb.read_text() and gateway.token not in nb.read_text()


def test_no_remote_kernels_after_close_and_after_gc(gateway, tmp_path):
    ex = GatewayExecutor(gateway.url, auth_token=gateway.token, work_dir=tmp_path)
    ex.start()
    kernel_id = ex.kernel_id
    assert kernel_id in [k["id"] for k in gateway.kernels()]
    ex.close()
    ex.close()  # idempotent
    assert kernel_id not in [k["id"] for k in gateway.kernels()]
    # an executor dropped without close: its finalizer deletes the kernel
    ex = GatewayExecutor(gateway.url, auth_token=gateway.token, work_dir=tmp_path)
    ex.start()
    kernel_id = ex.kernel_id
    del ex
    gc.collect()
    assert kernel_id not in [k["id"] for k in gateway.kernels()]


def test_process_exit_deletes_remote_kernel(gateway, tmp_path):
    """A script that never closes its executor: the interpreter-exit sweep deletes the kernel."""
    script = (
        "from agentnb.coding.gateway import GatewayExecutor\nfrom agentnb.coding.base import CodeBlock\n"
        f"ex = GatewayExecutor({gateway.url!r}, auth_token_env='GW_TOKEN', work_dir={str(tmp_path)!r})\n"
        "print(ex.execute(CodeBlock('print(6*7)')).output, ex.kernel_id, flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "GW_TOKEN": gateway.token})
    assert out.returncode == 0, out.stderr
    answer, kernel_id = out.stdout.split()
    assert answer == "42" and kernel_id not in [k["id"] for k in gateway.kernels()]
    with contextlib.suppress(urllib.error.HTTPError):
        gateway.delete(kernel_id)


def test_batch_on_gateway_kernels(gateway, token_env, tmp_path, no_new_kernels):
    from agentnb.batch import run_batch

    def model(body):
        last = body["messages"][-1]["content"] or ""
        return "TERMINATE" if "exitcode:" in last else code("import os\nprint('remote', os.getpid())")

    with ScriptedModelServer(model) as server:
        spec = {"agents": [{"name": "assistant", "llm": {"model": server.model, "base_url": server.base_url}},
                           {"name": "user_proxy", "kind": "user_proxy", "code_execution": {"timeout": 30}}],
                "chat": {"type": "pair", "max_turns": 4}}
        result = run_batch(["a", "b"], team=spec, parallel=2, executor="gateway", progress=None,
                           executor_options={"gateway_url": gateway.url, "auth_token_env": token_env},
                           out_dir=tmp_path)
    assert [r["status"] for r in result.rows] == ["ok", "ok"], result.rows
    pids = {int(re.search(r"remote (\d+)", (tmp_path / r["transcript"]).read_text()).group(1)) for r in result.rows}
    assert len(pids) == 2


def test_gateway_culling_removes_kernels_of_a_killed_client(tmp_path):
    """The documented safety net for a client killed with SIGKILL (no atexit): idle culling of disconnected
    kernels. A connected idle kernel is kept; once its client dies, the gateway culls it."""
    gw = KernelGateway(tmp_path, "gw-" + secrets.token_hex(12), extra=(
        "--MappingKernelManager.cull_idle_timeout=2", "--MappingKernelManager.cull_interval=1")).start()
    script = (
        "import time\nfrom agentnb.coding.gateway import GatewayExecutor\n"
        "from agentnb.coding.base import CodeBlock\n"
        f"ex = GatewayExecutor({gw.url!r}, auth_token_env='GW_TOKEN', work_dir={str(tmp_path / 'w')!r})\n"
        "ex.execute(CodeBlock('x = 1'))\nprint('started', flush=True)\ntime.sleep(4)\n"
        "print(ex.execute(CodeBlock('print(x)')).output.strip(), flush=True)\ntime.sleep(120)\n"
    )
    client = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "GW_TOKEN": gw.token})
    try:
        assert client.stdout.readline().strip() == "started" and len(gw.kernels()) == 1
        assert client.stdout.readline().strip() == "1"  # idle for twice the cull timeout, but connected: kept
        client.kill()
        client.wait(10)
        deadline = time.monotonic() + 30
        while gw.kernels():
            assert time.monotonic() < deadline, "the gateway did not cull the dead client's kernel"
            time.sleep(0.25)
    finally:
        client.kill()
        client.wait(10)
        client.stdout.close()
        gw.stop()


def test_gateway_back_after_an_outage_next_block_recovers(gateway, tmp_path):
    gw = gateway
    try:
        with GatewayExecutor(gw.url, auth_token=gw.token, work_dir=tmp_path / "w", reconnect_timeout=1) as ex:
            ex.execute(py("lost = 1"))
            gw.stop()
            with pytest.raises(GatewayError, match=f"Jupyter gateway at {gw.url}"):
                ex.execute(py("print('nobody there')"))
            with pytest.raises(GatewayError, match=f"cannot reach the Jupyter gateway at {gw.url}"):
                ex.execute(py("print('still nobody')"))  # the next block tries to reconnect, and says why not
            gw.start()
            result = ex.execute(py("print('back')"))
            assert "no longer exists on the gateway" in result.output and result.output.endswith("back\n")
            assert kernel_ids(gw) == {ex.kernel_id}
    finally:
        if gw.proc is None:
            gw.start()


def test_same_executor_from_another_event_loop(ex):
    ex.execute(py("shared = 'kept'"))
    result = asyncio.run(ex.a_execute(py("print(shared)")))  # a new loop: the websocket is reopened there
    assert result.output == "kept\n"
    assert ex.execute(py("print(shared)")).output == "kept\n"  # and back on the sync bridge loop


def test_agents_cell_magic_with_gateway_executor(gateway, model_server, monkeypatch, tmp_path, no_new_kernels):
    from IPython.core.interactiveshell import InteractiveShell

    from agentnb.notebook import load_ipython_extension

    monkeypatch.setenv("OAI_CONFIG_LIST", json.dumps(model_server.config_list()))
    monkeypatch.setenv("AGENTNB_GATEWAY_URL", gateway.url)
    monkeypatch.setenv("AGENTNB_GATEWAY_TOKEN", gateway.token)
    model_server.add(code("import os\nprint('ran at', os.getcwd())"), "TERMINATE")
    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    result = shell.run_cell_magic(
        "agents", f"--executor gateway --approve never --silent --work-dir {tmp_path} --model {model_server.model}",
        "Where do you run?")
    assert f"ran at {gateway.root}" in result.chat_history[2]["content"]  # the gateway's folder, not ours


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_and_wss_with_a_private_ca(tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    gw = KernelGateway(tmp_path, "gw-" + secrets.token_hex(12), tls=(cert, key)).start()
    try:
        with pytest.raises(GatewayError, match=f"cannot reach the Jupyter gateway at {gw.url}"):
            GatewayExecutor(gw.url, auth_token=gw.token, work_dir=tmp_path / "w").start()  # unknown CA: refused
        with GatewayExecutor(gw.url, auth_token=gw.token, work_dir=tmp_path / "w", ca_certs=cert) as ex:
            ex.execute(py("x = 6"))
            assert ex.execute(py("print(x * 7)")).output == "42\n"  # REST over https, messages over wss
        assert gw.kernels() == []
    finally:
        gw.stop()

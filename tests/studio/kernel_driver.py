"""A real ipykernel driven through jupyter_client like a front end: iopub recorded, widget state tracked,
buttons clicked with the comm message a browser sends."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from typing import Any

from jupyter_client import KernelManager


class NotebookKernel:
    def __init__(self, cwd: str, env: dict[str, str]) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "VSCODE_"))}
        full_env.update(env)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), full_env.get("PYTHONPATH")]))
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=full_env, cwd=cwd)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.messages: list[dict[str, Any]] = []
        self.widgets: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def _pump(self, timeout: float) -> None:
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return
        self.messages.append(msg)
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "comm_open":
            self.widgets[content["comm_id"]] = dict(content.get("data", {}).get("state", {}))
        elif kind == "comm_msg" and content.get("data", {}).get("method") == "update":
            self.widgets.setdefault(content["comm_id"], {}).update(content["data"].get("state", {}))

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 90, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            self._pump(0.2)
        raise AssertionError(f"timed out waiting for {what or predicate}")

    def execute(self, source: str, timeout: float = 120) -> list[dict[str, Any]]:
        msg_id = self.kc.execute(source)
        start = len(self.messages)

        def idle() -> bool:
            return any(m["parent_header"].get("msg_id") == msg_id and m["header"]["msg_type"] == "status"
                       and m["content"]["execution_state"] == "idle" for m in self.messages[start:])

        self.wait_for(idle, timeout, f"cell {source[:40]!r}")
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        mine = [m for m in self.messages[start:] if m["parent_header"].get("msg_id") == msg_id]
        errors = [m["content"] for m in mine if m["header"]["msg_type"] == "error"]
        assert reply["content"]["status"] == "ok", (reply["content"], errors)
        return mine

    def stdout(self, msgs: list[dict[str, Any]]) -> str:
        return "".join(m["content"].get("text", "") for m in msgs if m["header"]["msg_type"] == "stream")

    def button(self, description: str) -> str | None:
        return next((c for c, s in self.widgets.items() if s.get("_model_name") == "ButtonModel"
                     and s.get("description") == description and not s.get("disabled")), None)

    def click(self, comm_id: str) -> None:
        self._send(comm_id, {"method": "custom", "content": {"event": "click"}})

    def set_state(self, comm_id: str, state: dict[str, Any]) -> None:
        self._send(comm_id, {"method": "update", "state": state, "buffer_paths": []})

    def _send(self, comm_id: str, data: dict[str, Any]) -> None:
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

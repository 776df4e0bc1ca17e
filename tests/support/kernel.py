"""A real ipykernel driven through jupyter_client like a front end: iopub recorded, widget state tracked,
buttons clicked with the comm message a browser sends.

    with NotebookKernel(str(tmp_path), {"OAI_CONFIG_LIST": ...}) as nb:
        nb.execute("%load_ext agentnb")
        nb.execute("%%agents --out h\\nCreate made.txt")
        nb.click(nb.wait_for(lambda: nb.button("Approve"), what="the Approve button"))
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from typing import Any

from jupyter_client.manager import KernelManager

from .browser import REPO

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class NotebookKernel:
    """A real ipykernel (``cwd``, this environment plus ``env``) and a client that records every iopub message
    and the state of every widget; shut down by :meth:`close` or on leaving ``with``."""

    def __init__(self, cwd: str, env: dict[str, str]) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "VSCODE_"))}
        full_env.update(env)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=full_env, cwd=cwd)
        try:
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=60)
        except BaseException:
            self.km.shutdown_kernel(now=True)
            raise
        self.messages: list[dict[str, Any]] = []
        self.widgets: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> NotebookKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid  # type: ignore[union-attr]

    def _pump(self, timeout: float) -> bool:
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return False
        self.messages.append(msg)
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "comm_open":
            self.widgets[content["comm_id"]] = dict(content.get("data", {}).get("state", {}))
        elif kind == "comm_msg" and content.get("data", {}).get("method") == "update":
            self.widgets.setdefault(content["comm_id"], {}).update(content["data"].get("state", {}))
        return True

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 90, what: str = "") -> Any:
        """Pump iopub until ``predicate()`` is truthy; return its value (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            self._pump(0.2)
        raise AssertionError(f"timed out waiting for {what or predicate}")

    def execute(self, source: str, timeout: float = 120) -> list[dict[str, Any]]:
        """Run a cell; return its iopub messages (up to idle). Fails on an error reply."""
        msg_id = self.kc.execute(source)
        start = len(self.messages)

        def idle() -> bool:
            return any(m["parent_header"].get("msg_id") == msg_id and m["header"]["msg_type"] == "status"
                       and m["content"]["execution_state"] == "idle" for m in self.messages[start:])

        self.wait_for(idle, timeout, f"cell {source[:40]!r}")
        reply = self.reply_to(msg_id, timeout)
        mine = [m for m in self.messages[start:] if m["parent_header"].get("msg_id") == msg_id]
        errors = [m["content"] for m in mine if m["header"]["msg_type"] == "error"]
        assert reply["content"]["status"] == "ok", (reply["content"], errors)
        return mine

    def reply_to(self, msg_id: str, timeout: float = 60) -> dict[str, Any]:
        """The shell reply to ``msg_id`` (stale replies, e.g. extra kernel_info, are skipped)."""
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def stdout(self, msgs: list[dict[str, Any]]) -> str:
        """The text of the stream messages among ``msgs``."""
        return "".join(m["content"].get("text", "") for m in msgs if m["header"]["msg_type"] == "stream")

    def button(self, description: str, enabled: bool = True) -> str | None:
        """The comm id of the first button labelled ``description`` (an enabled one, unless ``enabled=False``)."""
        for comm_id, state in self.widgets.items():
            if (state.get("_model_name") == "ButtonModel" and state.get("description") == description
                    and (not enabled or not state.get("disabled"))):
                return comm_id
        return None

    def text_widget(self, placeholder_start: str) -> str | None:
        """The comm id of the first text box whose placeholder starts with ``placeholder_start``."""
        return next((c for c, s in self.widgets.items() if s.get("_model_name") == "TextModel"
                     and str(s.get("placeholder", "")).startswith(placeholder_start)), None)

    def click(self, comm_id: str) -> None:
        self._send(comm_id, {"method": "custom", "content": {"event": "click"}})

    def set_value(self, comm_id: str, value: str) -> None:
        self.set_state(comm_id, {"value": value})

    def set_state(self, comm_id: str, state: dict[str, Any]) -> None:
        self._send(comm_id, {"method": "update", "state": state, "buffer_paths": []})

    def _send(self, comm_id: str, data: dict[str, Any]) -> None:
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

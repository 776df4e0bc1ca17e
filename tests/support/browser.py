"""Real JupyterLab 4 / Notebook 7 servers on 127.0.0.1 and headless Debian Chromium (Playwright) for browser tests.

Every server is isolated: a fresh token and port, its own root and Jupyter directories under a temporary
folder, and it is stopped by PID (terminate, then kill) however the test ends.

    pytestmark = [pytest.mark.browser, needs_browser]

    with JupyterServer(tmp_path, env={"OAI_CONFIG_LIST": ...}) as lab, chromium() as browser:
        write_notebook(lab.root / "demo.ipynb", ["%load_ext agentnb", "%%agents\\nPlot it."])
        page = browser.new_page()
        open_notebook(page, lab.url("demo.ipynb"))
        run_cells(page, 2)
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"
"""Where browser tests save screenshots for a person to look at."""
LABEXTENSION = REPO / "agentnb" / "labextension"
APPS = {"lab": ("jupyterlab", "lab/tree"), "notebook": ("notebook", "notebooks")}
"""``app`` -> (the module ``python -m`` starts, the URL path a notebook opens under)."""
PLOT = """import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 6.3, 200)
plt.plot(x, np.sin(x), label="sin(x)")
plt.title("y = sin(x)")
plt.legend()
plt.show()"""
"""A block a scripted model proposes: a plot of sin(x) the page shows once it ran."""


def _browser_missing() -> str:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed"
    return ""


needs_browser = pytest.mark.skipif(bool(_browser_missing()), reason=_browser_missing() or "Chromium is here")
"""Skips a test (or a module, in ``pytestmark``) where Chromium or Playwright is missing."""

needs_labextension = pytest.mark.skipif(not (LABEXTENSION / "package.json").exists(),
                                        reason="agentnb/labextension is not built (scripts/build-labextension)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(workdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without a parent Jupyter's variables, plus ``extra``, with every Jupyter
    directory under ``workdir`` and this checkout first on ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "VSCODE_"))}
    env.update(extra or {})
    env.update({
        "JUPYTER_CONFIG_DIR": str(workdir / "jcfg"), "JUPYTER_RUNTIME_DIR": str(workdir / "jrt"),
        "JUPYTER_DATA_DIR": str(workdir / "jdata"),
        "JUPYTERLAB_SETTINGS_DIR": str(workdir / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "lab-ws"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    })
    return env


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Terminate ``proc``; kill it if it is still there after 30 s. Always reaped."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class JupyterServer:
    """JupyterLab (``app="lab"``) or Notebook 7 (``app="notebook"``) serving ``workdir/root``.

    Servers started in the same ``workdir`` share the root and the Jupyter directories (one notary: what
    one saved, the other trusts). ``labextension=True`` serves this checkout's ``agentnb/labextension``
    (``JUPYTER_PATH``), so a test checks the committed build, installed or not.
    """

    def __init__(self, workdir: Path, app: str = "lab", env: Mapping[str, str] | None = None, *,
                 labextension: bool = False) -> None:
        if app not in APPS:
            raise ValueError(f"app must be one of {sorted(APPS)}, not {app!r}")
        self.workdir, self.app = workdir, app
        self.root = workdir / "root"
        self.lab_settings = workdir / "lab-settings"
        """``JUPYTERLAB_SETTINGS_DIR``: a test may add settings files (a theme) before the page loads."""
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{APPS[app][0]}-{self.port}.log"
        self._env = dict(env or {})
        self._labextension = labextension
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> JupyterServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, notebook: str) -> str:
        """The page that opens ``notebook`` (a path under the root) in this app."""
        return f"{self.base}/{APPS[self.app][1]}/{notebook}?token={self.token}"

    def start(self, timeout: float = 120) -> None:
        """Start the server and wait until ``/api/status`` answers (RuntimeError with its log if it never does)."""
        self.root.mkdir(parents=True, exist_ok=True)
        apputils = self.lab_settings / "@jupyterlab" / "apputils-extension"
        apputils.mkdir(parents=True, exist_ok=True)
        (apputils / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        env = isolated_env(self.workdir, self._env)
        if self._labextension:
            extensions = self.workdir / "jpath" / "labextensions"
            extensions.mkdir(parents=True, exist_ok=True)
            if not (extensions / "agentnb-jupyterlab").is_symlink():
                (extensions / "agentnb-jupyterlab").symlink_to(LABEXTENSION)
            env["JUPYTER_PATH"] = str(self.workdir / "jpath")
        cmd = [sys.executable, "-m", APPS[self.app][0], "--no-browser", "--ip", "127.0.0.1", "--port",
               str(self.port), f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--allow-root", "--ServerApp.open_browser=False"]
        with open(self.log, "wb") as log:
            self._proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2):
                    return
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(self.log.read_text()[-3000:]) from None
                time.sleep(0.3)

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel the server runs (a reopened notebook then starts a new one)."""
        with urllib.request.urlopen(f"{self.base}/api/kernels?token={self.token}", timeout=10) as resp:
            kernels = json.loads(resp.read())
        for kernel in kernels:
            req = urllib.request.Request(f"{self.base}/api/kernels/{kernel['id']}?token={self.token}",
                                         method="DELETE")
            urllib.request.urlopen(req, timeout=30).close()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium through Playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def write_notebook(path: Path, cells: Sequence[str | nbformat.NotebookNode]) -> None:
    """Write a Python 3 notebook (unsigned) whose cells are ``cells``: sources or ready-made cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells]
    nbformat.write(nb, path)


def open_notebook(page: Page, url: str, *, ready: str = ".jp-Notebook", idle: bool = True) -> None:
    """Open ``url``, wait for ``ready``, accept the kernel dialog if one comes, and (``idle``) wait until the
    kernel is idle."""
    page.goto(url)
    page.wait_for_selector(ready, timeout=120_000)
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        dialog.wait_for(timeout=5_000)
        dialog.click()
    except Exception:
        pass  # the kernel from the notebook metadata started without asking
    if idle:
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)


def run_cells(page: Page, count: int) -> None:
    """Run the first ``count`` cells, as a person does: click into the first one, then Shift+Enter."""
    page.locator(".jp-Cell .jp-InputArea-editor").first.click()
    for _ in range(count):
        page.keyboard.press("Shift+Enter")

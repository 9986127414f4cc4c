"""One JupyterLab and one headless Chromium for the browser tests, set up as a learner gets them.

The server runs on a published student tree (``autograder publish``) in a temporary
folder, with the Jupyter configuration the tree's own postBuild leaves (as on Binder:
Validate on, instructor tools off), on 127.0.0.1 with a fixed token and a free port. The
kernels import the tree's ``course`` package. Every screenshot goes to
``artifacts/screenshots/`` (git-ignored); the server's log to ``artifacts/jupyterlab.log``.
The server is stopped when the session ends, however it ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.publish import publish
from tests.conftest import ROOT
from tests.test_binder import run_post_build

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
TOKEN = "browser-tests-token"
VIEWPORT = {"width": 1400, "height": 900}

# JupyterLab user settings for the run: every cell stays in the page (JupyterLab otherwise
# detaches cells scrolled out of view, and the tests read all of them), and no prompt
# about news covers the notebook in screenshots.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass
class Lab:
    """A running JupyterLab: its address, token and the student tree it serves."""

    url: str
    token: str
    tree: Path

    def address(self, path: str) -> str:
        """The page that opens ``path`` (relative to the tree) in a fresh workspace."""
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        """End every session, so kernels do not pile up from one test to the next."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")


def _require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: the browser tests need Debian's chromium "
            "(apt-get install chromium; .ci/run installs it)",
            pytrace=False,
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]'", pytrace=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Stop the server (it shuts its kernels down), then anything left in its group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    try:
        os.killpg(process.pid, signal.SIGKILL)  # kernels the server could not stop
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def student_tree(tmp_path_factory) -> Path:
    """A published student tree, in a temporary folder the tests may write to."""
    _require_chromium()
    tree = tmp_path_factory.mktemp("browser") / "student"
    publish(tree, root=ROOT)
    return tree


@pytest.fixture(scope="session")
def lab(student_tree, tmp_path_factory):
    """JupyterLab serving the student tree, configured by the tree's postBuild."""
    home = tmp_path_factory.mktemp("jupyter-home")
    prefix, _ = run_post_build(student_tree, home / "binder")
    for name, values in SETTINGS.items():
        (home / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (home / "settings" / name).write_text(json.dumps(values))
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(prefix / "etc" / "jupyter"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "PYTHONPATH": str(student_tree),  # kernels import the published `course`
    }
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={student_tree}", f"--IdentityProvider.token={TOKEN}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / "jupyterlab.log").open("w")
    process = subprocess.Popen(
        command, cwd=student_tree, env=environment, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        server = Lab(url=f"http://127.0.0.1:{port}", token=TOKEN, tree=student_tree)
        deadline = time.monotonic() + 120
        while True:
            try:
                server.api("status")
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"JupyterLab exited at start: see {ARTIFACTS / 'jupyterlab.log'}")
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not answer within 120 s")
                time.sleep(0.5)
        yield server
    finally:
        _stop(process)
        log.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium, driven by Playwright."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(browser, lab, request):
    """A fresh browser tab; a screenshot of it is kept when the test fails."""
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    try:
        yield tab
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = "".join(c if c.isalnum() or c in "-_" else "-" for c in request.node.name)
            tab.screenshot(path=SCREENSHOTS / f"FAILED-{name}.png")
        context.close()
        lab.shut_down_kernels()

"""Open JupyterLab on the course: ``python -m course.lab`` (what ``make lab`` runs).

Starts JupyterLab on 127.0.0.1 with the course's first notebook open and prints the
address to visit. Refuses, with one clear line, when the port is already taken. Stopping
it (Ctrl+C, or SIGTERM or SIGHUP, which `make` passes on when it is killed) stops
JupyterLab too: nothing is left serving the course.

It also serves notebooks through :class:`ContentsManager`, so that a freshly released
notebook opens without JupyterLab's unsaved-changes dot (postBuild configures the same for
Binder and the student course's ``make lab``).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

ROOT = Path(__file__).resolve().parent.parent


class ContentsManager(AsyncLargeFileManager):
    """Jupyter's own contents manager, which completes a released notebook's language_info.

    When a notebook opens, JupyterLab writes the kernel's ``language_info`` into it and,
    when that changes anything, marks the notebook as having unsaved changes. The release
    writes everything ipykernel reports except the Python version, which only the
    learner's environment knows (``autograder release`` must give the same bytes
    everywhere); this fills that version in, as the kernel will report it (the kernel
    runs the server's Python). A notebook that has a version, any notebook JupyterLab has
    saved, is served untouched.
    """

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
            info = model["content"].get("metadata", {}).get("language_info")
            if isinstance(info, dict) and info.get("name") == "python" and "version" not in info:
                info["version"] = platform.python_version()
        return model


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def lab_command(root: Path, notebook: str, host: str, port: int, token: str) -> list[str]:
    """The ``jupyter lab`` command line that serves ``root`` and opens ``notebook``."""
    command = [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.ip={host}", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", "--no-browser",
        f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
        "--ServerApp.contents_manager_class=course.lab.ContentsManager",
        notebook,
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(3, "--allow-root")
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.lab", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--notebook", default="release/01_likelihood/01_likelihood.ipynb")
    parser.add_argument("--root", type=Path, default=ROOT)
    arguments = parser.parse_args(argv)
    root = arguments.root.resolve()
    if not (root / arguments.notebook).is_file():
        print(f"course.lab: error: no notebook at {root / arguments.notebook}", file=sys.stderr)
        return 2
    if not port_is_free(arguments.host, arguments.port):
        other = arguments.port + 1
        print(
            f"course.lab: error: port {arguments.port} on {arguments.host} is already in use "
            f"(another Jupyter?); stop it or choose another port: make lab PORT={other}",
            file=sys.stderr,
        )
        return 1
    token = secrets.token_hex(16)
    url = f"http://{arguments.host}:{arguments.port}/lab/tree/{arguments.notebook}?token={token}"
    print(f"\nOpen the course in your browser:\n\n    {url}\n\nStop it with Ctrl+C.\n", flush=True)
    command = lab_command(root, arguments.notebook, arguments.host, arguments.port, token)
    return serve(command, cwd=root)


#: How long JupyterLab gets to shut down after being asked, before it is killed.
GRACE_SECONDS = 10


def serve(command: list[str], *, cwd: Path) -> int:
    """Run ``command`` (JupyterLab) until it exits; a SIGTERM or SIGHUP to this process
    stops it first (asked, then killed after ``GRACE_SECONDS``), as Ctrl+C does."""
    lab = subprocess.Popen(command, cwd=cwd)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return lab.wait()
    except KeyboardInterrupt:
        return _stop(lab)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(lab: subprocess.Popen) -> int:
    if lab.poll() is None:
        lab.terminate()  # Ctrl+C reached JupyterLab already when it came from a terminal
    try:
        lab.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        lab.kill()
        lab.wait()
    except KeyboardInterrupt:  # a second Ctrl+C: do not wait
        lab.kill()
        lab.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does `make lab` (``python -m course.lab``) serve release notebooks with nothing to change,
and leave nothing running once it is stopped?"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import platform
import signal
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course.lab import ContentsManager, lab_command
from tests.autograder.test_publish import _free_port, _make_lab, _stop
from tests.conftest import ROOT


def _served(folder, notebook) -> dict:
    nbformat.write(notebook, folder / "notebook.ipynb")
    manager = ContentsManager(root_dir=str(folder))
    # A loop of its own, in a thread of its own: an earlier test in this process may have
    # left an event loop marked running in the main thread (asyncio.run would refuse).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        model = pool.submit(asyncio.run, manager.get("notebook.ipynb")).result()
    return model["content"]["metadata"]["language_info"]


def test_a_release_notebook_gets_the_kernels_python_version(tmp_path):
    """Does a notebook whose language_info lacks the version get the server's Python version,
    what the kernel will report, so opening it changes nothing?"""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["language_info"] = {"name": "python", "mimetype": "text/x-python"}
    info = _served(tmp_path, notebook)
    assert info == {
        "name": "python",
        "mimetype": "text/x-python",
        "version": platform.python_version(),
    }


def test_a_saved_notebook_is_served_as_it_is(tmp_path):
    """Is a notebook that already names its Python version (as JupyterLab saves it) untouched?"""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["language_info"] = {"name": "python", "version": "3.0.1"}
    assert _served(tmp_path, notebook) == {"name": "python", "version": "3.0.1"}


def test_make_lab_serves_through_it():
    """Does `make lab` (course.lab) start JupyterLab with this contents manager?"""
    command = lab_command(Path("."), "x.ipynb", "127.0.0.1", 8888, "token")
    assert "--ServerApp.contents_manager_class=course.lab.ContentsManager" in command


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_sigterm_to_make_lab_stops_jupyterlab(tmp_path):
    """When `make lab` itself gets SIGTERM (a terminal closed, a process manager, `kill`),
    does JupyterLab stop too, instead of serving the course with nobody to stop it?"""
    port = _free_port()
    lab = _make_lab(ROOT, port, tmp_path)
    try:
        url = next((line.strip() for line in lab.stdout if "http://" in line), None)
        assert url, "make lab printed no address"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10):
                    break
            except OSError:
                assert lab.poll() is None, "make lab exited before JupyterLab answered"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(1)
        os.kill(lab.pid, signal.SIGTERM)  # make alone, as `kill <pid>` does; make passes it on
        lab.wait(60)
        deadline = time.monotonic() + 30
        while _group_alive(lab.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _group_alive(lab.pid), "JupyterLab is still running after make lab was stopped"
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=5)
    finally:
        _stop(lab)

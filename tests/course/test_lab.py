"""Does `make lab` (``python -m course.lab``) leave nothing running once it is stopped?"""

from __future__ import annotations

import os
import signal
import time
import urllib.request

import pytest

from tests.autograder.test_publish import _free_port, _make_lab, _stop
from tests.conftest import ROOT


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

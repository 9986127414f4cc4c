"""Does the warm kernel parent serve only the grader, and never start a kernel as root?

The hostile corpus (test_grade.py) attacks it from inside a kernel, where the folder
holding its socket already stops the attempt; these tests take that folder away and
check the next two locks on their own.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import sandbox as sandboxing
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    not sandboxing.warm_kernels_available(isolate=True),
    reason="the warm parent needs root and bubblewrap",
)


EXPOSE = (*sandboxing.python_paths(), ROOT / "course")


@pytest.fixture
def scratch():
    # As the grader makes it: kernels' users must be able to pass through (pytest's own
    # temporary folders are private to root).
    folder = Path(tempfile.mkdtemp(prefix="autograder-test-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def zygote(scratch):
    parent = sandboxing.Zygote(scratch=scratch, hide=(ROOT,), expose=EXPOSE)
    parent.start()
    yield parent
    parent.close()


def spawn_request(uid: int, folder) -> dict:
    return {
        "op": "spawn",
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", str(folder / "kernel.json")],
        "uid": uid,
        "cwd": str(folder),
        "env": {},
        "log": str(folder / "kernel.log"),
        "limits": {},
    }


def test_warm_parent_refuses_to_start_a_kernel_as_root(zygote, scratch):
    """Is a request for a root (or system-user) kernel refused with a reason?"""
    for uid in (0, 999):
        with pytest.raises(RuntimeError, match=f"refusing to start a kernel as user id {uid}"):
            zygote.call(spawn_request(uid, scratch))


def test_warm_parent_answers_only_root(zygote, scratch):
    """Does a process of another user get no answer, even with the socket left open to it?"""
    zygote.home.chmod(0o777)
    zygote.socket.chmod(0o777)
    client = f"""
import json, socket
with socket.socket(socket.AF_UNIX) as connection:
    connection.settimeout(10)
    connection.connect({str(zygote.socket)!r})
    try:
        connection.sendall(json.dumps({spawn_request(300000, scratch)!r}).encode() + b"\\n")
        print(repr(connection.makefile().readline()))
    except (BrokenPipeError, ConnectionResetError):  # hung up on, request unread
        print(repr(""))
"""
    result = subprocess.run(
        ["setpriv", "--reuid=300000", "--regid=300000", "--clear-groups", sys.executable],
        input=client,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "''"  # connected, then hung up on without a word
    # ...while the grader (root) is still answered.
    assert zygote.call({"op": "poll", "pid": 1}) == {"exit": -1}


@pytest.mark.parametrize("start", ["forked", "from scratch"])
def test_a_kernel_runs_as_its_own_user_in_its_folder_with_its_limits(scratch, start, request):
    """Does a kernel, forked from the warm parent or started from scratch, run code as the
    user, in the folder, with the memory limit and private home it was given, unable to
    write outside its folders or read another kernel's? (The same home both ways:
    IPython writes paths under it as ~, so a different one changes tracebacks.)"""
    zygote = request.getfixturevalue("zygote") if start == "forked" else None
    uid = next(sandboxing.uid_sequence())
    box = sandboxing.Sandbox(
        workdir=scratch / "k-work",
        rundir=scratch / "k-run",
        hide=(ROOT, scratch),  # as the grader does: its run folders are bound back in
        expose=EXPOSE,
        limits=sandboxing.Limits(memory_bytes=3 * 1024**3),
        uid=uid,
    )
    sandboxing.prepare(box)
    other = scratch / "another-kernel-run" / "kernel.json"  # another kernel's secrets
    other.parent.mkdir(mode=0o700)
    other.write_text("{}")
    manager = sandboxing.kernel_manager(box, zygote=zygote)
    probe = nbformat.v4.new_code_cell(
        "import os, resource, numpy\n"
        "print(os.getuid(), os.getcwd(), resource.getrlimit(resource.RLIMIT_AS)[0],"
        f" os.access('/usr', os.W_OK), os.access({str(other)!r}, os.R_OK),"
        " os.path.expanduser('~'), os.access(os.path.expanduser('~'), os.W_OK))"
    )
    notebook = nbformat.v4.new_notebook(cells=[probe])
    try:
        NotebookClient(notebook, km=manager, timeout=60).execute()
    finally:
        manager.provisioner.process.kill()
        sandboxing.wait_for_user_processes(uid, seconds=10)
    assert notebook.cells[0].outputs[0]["text"].split() == [
        str(uid),
        str(box.workdir),
        str(3 * 1024**3),
        "False",
        "False",
        str(box.rundir / "home"),
        "True",
    ]
    assert sandboxing.user_processes(uid) == []

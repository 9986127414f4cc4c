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
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import sandbox as sandboxing
from autograder.cgroups import MemoryCgroups
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


def _run_in_kernel(box, zygote, code: str, *, timeout: int = 60) -> tuple[str, object]:
    """Run ``code`` in a kernel started in ``box``; its stdout, and the kernel's process
    (still running: the caller kills it)."""
    sandboxing.prepare(box)
    manager = sandboxing.kernel_manager(box, zygote=zygote)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(notebook, km=manager, timeout=timeout, allow_errors=True).execute(
        cleanup_kc=False
    )
    outputs = notebook.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    return text + "\n".join(errors), manager.provisioner.process


def _box(scratch, name, **kwargs) -> sandboxing.Sandbox:
    return sandboxing.Sandbox(
        workdir=scratch / f"{name}-work",
        rundir=scratch / f"{name}-run",
        hide=(ROOT, scratch),
        expose=EXPOSE,
        uid=next(sandboxing.uid_sequence()),
        **kwargs,
    )


@pytest.mark.parametrize("start", ["forked", "from scratch"])
def test_a_kernel_sees_only_the_environment_the_course_package_and_its_folders(
    scratch, start, request, tmp_path_factory
):
    """Is the kernel's view of the disk an allow-list: another copy of the course (outside
    any hidden folder), the course's source/ and other kernels' files all invisible, its
    own /tmp private, and only its own processes in /proc?"""
    zygote = request.getfixturevalue("zygote") if start == "forked" else None
    elsewhere = Path(tempfile.mkdtemp(prefix="course-copy-", dir="/var/tmp"))
    try:
        (elsewhere / "source").mkdir()
        (elsewhere / "source" / "secret.ipynb").write_text("BEGIN SOLUTION")
        elsewhere.chmod(0o755)
        first, second = _box(scratch, "first"), _box(scratch, "second")
        probe = (
            "import os\n"
            "open('/tmp/note', 'w').write('hello')\n"
            "print(sorted(os.listdir('/')))\n"
            f"print(os.path.exists({str(elsewhere)!r}), os.path.exists({str(ROOT / 'source')!r}))\n"
            "print(len([p for p in os.listdir('/proc') if p.isdigit()]))\n"
            "print(os.path.exists('/tmp/note-from-first'))\n"
            "print(all(os.access(p, os.R_OK) for p in ('/etc/ld.so.cache', '/etc/fonts')))\n"
        )
        _, process = _run_in_kernel(
            first, zygote, probe.replace("/tmp/note'", "/tmp/note-from-first'")
        )
        try:
            other, other_process = _run_in_kernel(second, zygote, probe)
            other_process.kill()
        finally:
            process.kill()
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    listing, hidden, processes, shared, readable = other.strip().splitlines()
    allowed = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}
    top = {Path(p).parts[1] for p in (*EXPOSE, scratch)}
    assert set(eval(listing)) <= allowed | top
    assert hidden == "False False"
    assert int(processes) <= 3  # the kernel and its namespace's init
    assert shared == "False", "a note written to /tmp by one kernel was seen by another"
    assert readable == "True", "the system files a kernel needs (/etc) are not readable"


@pytest.mark.parametrize("start", ["forked", "from scratch"])
def test_an_environment_under_tmp_stays_visible_beside_the_private_tmp(scratch, start):
    """A course and its environment checked out under /tmp (a CI clone, say): is what the
    kernel is shown from there still there under its private /tmp, read-only?"""
    folder = Path(tempfile.mkdtemp(prefix="environment-", dir="/tmp"))
    try:
        (folder / "lib").mkdir()
        (folder / "lib" / "data.txt").write_text("seen")
        for path in (folder, folder / "lib"):
            path.chmod(0o755)
        (folder / "lib" / "data.txt").chmod(0o644)
        expose = (*EXPOSE, folder)
        zygote = None
        if start == "forked":
            zygote = sandboxing.Zygote(scratch=scratch, hide=(ROOT,), expose=expose)
            zygote.start()
        box = sandboxing.Sandbox(
            workdir=scratch / "env-work", rundir=scratch / "env-run", hide=(ROOT, scratch),
            expose=expose, uid=next(sandboxing.uid_sequence()),
        )  # fmt: skip
        probe = (
            f"print(open({str(folder / 'lib' / 'data.txt')!r}).read())\n"
            f"open({str(folder / 'lib' / 'new.txt')!r}, 'w')\n"
        )
        try:
            output, process = _run_in_kernel(box, zygote, probe)
            process.kill()
        finally:
            if zygote is not None:
                zygote.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    seen, refused = output.strip().splitlines()
    assert seen == "seen"
    assert refused.startswith(("PermissionError", "OSError")), refused


@pytest.mark.parametrize("start", ["forked", "from scratch"])
def test_nothing_a_kernel_starts_outlives_it(scratch, start, request):
    """When a kernel is killed, does every process it started die with it, even a daemon
    that left its session and keeps forking to stay ahead of a kill loop?"""
    zygote = request.getfixturevalue("zygote") if start == "forked" else None
    box = _box(scratch, "haunted")
    daemon = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    while True:\n"
        "        if os.fork():\n"
        "            os._exit(0)\n"
        "        time.sleep(0.01)\n"
        "time.sleep(0.5)\n"
        "print('started')\n"
    )
    text, process = _run_in_kernel(box, zygote, daemon)
    assert "started" in text
    assert sandboxing.user_processes(box.uid)  # the daemon runs beside the kernel
    # Killed as the grader kills it: the zygote's kill (forked), bubblewrap's process
    # (from scratch); never by a loop over the user's processes.
    if isinstance(process, sandboxing.WarmKernel):
        zygote.call({"op": "kill", "pid": process.pid})
    else:
        process.kill()
    deadline = time.monotonic() + 20
    while sandboxing.user_processes(box.uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandboxing.user_processes(box.uid) == []


@pytest.mark.skipif(
    not MemoryCgroups.create(1).version, reason="this machine gives no memory cgroups"
)
def test_memfd_pages_count_against_the_memory_limit(scratch):
    """Does a kernel holding more memory in memfds than its cgroup's limit (512 MiB here;
    the address-space limit, 2 GiB, does not see memfds) get stopped, and is it told
    apart as out of memory?"""
    cgroups = MemoryCgroups.create(512 * 1024**2)
    zygote = sandboxing.Zygote(scratch=scratch, hide=(ROOT,), expose=EXPOSE, cgroups=cgroups.folder)
    zygote.start()
    try:
        box = _box(scratch, "hoarder", cgroup=cgroups.make("hoarder"))
        hoard = (
            "import os\n"
            "held = []\n"
            "for _ in range(16):\n"
            "    descriptor = os.memfd_create('hoard')\n"
            "    os.write(descriptor, b'x' * (60 * 1024**2))\n"
            "    held.append(descriptor)\n"
            "print('held', len(held) * 60, 'MiB')\n"
        )
        with pytest.raises(Exception, match=r"[Kk]ernel died"):
            _run_in_kernel(box, zygote, hoard)
        assert MemoryCgroups.out_of_memory(box.cgroup)
    finally:
        zygote.close()
        cgroups.close()

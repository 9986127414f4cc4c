"""Without bubblewrap, can a kernel still not reach the grader?

Each kernel then runs under a small supervisor (autograder/supervisor.py), in a session
of its own: signalling its parent, its process group or its session reaches no grader
process, and where a kernel can run as a user of its own, nothing it signals does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import sandbox as sandboxing
from autograder.grade import grade
from autograder.summary import summary
from tests.conftest import ROOT
from tests.submissions import set_answer, solved, write_submission

ASSIGNMENT = "01_likelihood"
SUPERVISOR = [sys.executable, "-I", "-S", str(sandboxing.SUPERVISOR)]


def killer(grader_uid: int) -> str:
    """An answer that signals its parent, its process group and, where it runs as a user
    of its own (never the grader's, never root), every process it may signal."""
    return f"""
import os
import signal

for target in (
    lambda: os.kill(os.getppid(), signal.SIGKILL),
    lambda: os.kill(os.getppid(), signal.SIGTERM),
    lambda: os.killpg(os.getpgid(os.getppid()), signal.SIGKILL),
    lambda: os.kill(-1, signal.SIGKILL) if os.getuid() not in (0, {grader_uid}) else None,
    lambda: os.killpg(0, signal.SIGKILL),
):
    try:
        target()
    except OSError:
        pass


def likelihood_bernoulli(x, theta):
    return float(np.prod(np.where(x == 1, theta, 1 - theta)))
"""


def processes_mentioning(text: str) -> list[str]:
    """The processes whose command line holds ``text``, once those being killed have had
    the time to end."""
    deadline = time.monotonic() + 30
    while True:
        found = []
        for entry in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                command = entry.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in command:
                found.append(command)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.slow
def test_a_parent_killing_submission_costs_only_its_own_row(tmp_path, monkeypatch):
    """Graded with the sandbox turned off, does a submission that signals its parent,
    its parent's process group and its own group end as one row (failed, or graded if
    it deserves it) while the grader lives on and grades the rest of the class, with
    no kernel left behind and a first line that says what is and is not protected?"""
    root = tmp_path / "course"
    for name in ("source", "release"):
        shutil.copytree(ROOT / name / ASSIGNMENT, root / name / ASSIGNMENT)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    notebook = solved(ASSIGNMENT)
    set_answer(notebook, "likelihood_bernoulli", killer(os.getuid()))
    write_submission(root / "submitted", "mal", ASSIGNMENT, notebook)
    for student in ("ada", "zed"):
        write_submission(root / "submitted", student, ASSIGNMENT, solved(ASSIGNMENT))
    scratch = Path(tempfile.mkdtemp(prefix="autograder-supervisor-test-"))
    scratch.chmod(0o711)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    try:
        outcomes = grade(root=root, workers=2, isolate=False, warm=False, timeout=20)
        left = processes_mentioning(str(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = {o.student: o for o in outcomes}
    assert sorted(rows) == ["ada", "mal", "zed"]
    assert {s: (rows[s].status, rows[s].auto_score) for s in ("ada", "zed")} == {
        "ada": ("graded", 8.0),
        "zed": ("graded", 8.0),
    }
    assert rows["mal"].status in ("failed", "graded"), rows["mal"]
    assert not left, left
    first = summary(outcomes).splitlines()[0]
    assert first.startswith("WARNING: bubblewrap")
    assert "under a supervisor, in a session of its own" in first
    if sandboxing.separate_user(isolate=False, expose=(ROOT / "course",)):
        assert "as an unprivileged user of its own" in first and "cannot signal the grader" in first
    else:
        assert "NOT protected: it runs as " in first and "os.kill(-1)" in first


def supervise(script: str, *options: str, **popen) -> subprocess.Popen:
    """``script`` (sh) as a kernel under the supervisor, started as the grader starts it."""
    return subprocess.Popen(
        [*SUPERVISOR, *options, "--", "/bin/sh", "-c", script],
        start_new_session=True,
        **popen,
    )


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie waiting for init counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def wait_until(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize(
    "attack",
    ["kill -KILL $PPID", "kill -KILL -$(ps -o pgid= -p $PPID | tr -d ' ')", "kill -KILL 0"],
    ids=["its parent", "its parent's group", "its own group"],
)
def test_a_kernel_signals_reach_no_grader_process(attack):
    """Does a kernel that kills its parent, its parent's process group or its own group
    reach only itself and its supervisor, never the process that started the supervisor
    (this one, standing for the grader) or its process group?"""
    if not shutil.which("ps"):
        pytest.skip("needs ps")
    bystander = subprocess.Popen(["sleep", "300"])  # in the grader's process group
    try:
        supervisor = supervise(attack)
        # The supervisor was killed (SIGKILL), or reports its kernel was (128 + 9).
        assert supervisor.wait(timeout=60) in (-signal.SIGKILL, 128 + signal.SIGKILL)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_a_stopped_supervisor_takes_the_kernel_and_what_it_started(tmp_path):
    """When the grader stops a kernel (SIGTERM to its supervisor), does everything the
    kernel started go with it?"""
    pids = tmp_path / "pids"
    supervisor = supervise(
        f"sleep 300 & echo $$ $! > {pids}.partial; mv {pids}.partial {pids}; wait"
    )
    wait_until(pids.exists, "the kernel did not start")
    started = [int(pid) for pid in pids.read_text().split()]
    supervisor.terminate()
    assert supervisor.wait(timeout=60) == 128 + signal.SIGTERM
    wait_until(lambda: all(gone(pid) for pid in started), "a process of the kernel was left")


def test_a_kernel_whose_supervisor_dies_dies_too(tmp_path):
    """When the supervisor is killed outright, does the kernel die with it?"""
    pid = tmp_path / "pid"
    supervisor = supervise(f"echo $$ > {pid}.partial; mv {pid}.partial {pid}; exec sleep 300")
    wait_until(pid.exists, "the kernel did not start")
    kernel = int(pid.read_text())
    supervisor.kill()
    supervisor.wait()
    wait_until(lambda: gone(kernel), "the kernel outlived its supervisor")


def readable_python() -> str | None:
    """A Python every user may run (kernels of their own user need one)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        path = Path(candidate)
        if path.exists() and sandboxing._unreadable((path.resolve(),)) is None:
            return str(path)
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a kernel a user of its own")
def test_a_kernel_of_its_own_user_cannot_signal_the_grader(tmp_path):
    """Run as a user of its own, can a kernel neither signal its supervisor nor, with
    os.kill(-1), anything but its own processes, and is every process of that user
    gone when it ends?"""
    python = readable_python()
    if python is None:
        pytest.skip("no Python every user may run")
    uid = next(sandboxing.uid_sequence())
    code = f"""
import os, signal, subprocess
print(os.getuid(), os.getgroups(), flush=True)
try:
    os.kill(os.getppid(), signal.SIGKILL)
    print("reached its supervisor", flush=True)
except PermissionError:
    print("supervisor out of reach", flush=True)
if os.getuid() == {uid}:
    os.kill(-1, signal.SIGKILL)  # its own processes only
print("survived", flush=True)
subprocess.Popen(["sleep", "300"], start_new_session=True)  # a daemon of its own
"""
    supervisor = subprocess.run(
        [*SUPERVISOR, "--uid", str(uid), "--", python, "-c", code],
        capture_output=True, text=True, timeout=60, start_new_session=True,
    )  # fmt: skip
    assert supervisor.stdout.split("\n")[:3] == [f"{uid} []", "supervisor out of reach", "survived"]
    wait_until(
        lambda: not sandboxing.user_processes(uid), "a process of the kernel's user was left"
    )

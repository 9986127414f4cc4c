"""Does the grader survive its own death: SIGKILL anywhere, a hot journal, a submission that
kills the grader every time, Ctrl+C and SIGTERM? Each time, does running the same
command again end exactly where an uninterrupted run ends?

The SIGKILL points are drawn at random, differently every run, from a seed that a
failure prints (set CRASH_SEED to replay it).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import backup
from autograder.discover import LEDGER
from autograder.recovery import DIED_TWICE, MARKS
from tests import crashing
from tests.conftest import ROOT
from tests.submissions import fixture_answers, solved, write_submission

ASSIGNMENT = "01_likelihood"
STUDENTS = ("ada", "ben")


def make_course(base: Path, students=STUDENTS) -> Path:
    root = base / "course"
    for name in ("source", "release"):
        shutil.copytree(ROOT / name / ASSIGNMENT, root / name / ASSIGNMENT)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    answers = fixture_answers(ASSIGNMENT)
    mistakes = {
        "ben": {"likelihood_bernoulli": answers["likelihood_bernoulli"]["mistake_sum_not_product"]},
    }
    for student in students:
        notebook = solved(ASSIGNMENT, mistakes.get(student, {}))
        write_submission(root / "submitted", student, ASSIGNMENT, notebook)
    return root


@pytest.fixture(scope="module")
def scratch():
    """A folder for the grader's scratch space (TMPDIR), so that what a killed run leaves
    there is removed; kernels' users must be able to pass through it."""
    folder = Path(tempfile.mkdtemp(prefix="autograder-recovery-test-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run(root: Path, *arguments, scratch: Path, crash: tuple[str, int] | None = None, **popen):
    """``autograder --root ROOT ARGUMENTS``, killed with SIGKILL at ``crash`` if given."""
    prefix = (
        ["-m", "tests.crashing", crash[0], str(crash[1]), "--"] if crash else ["-m", "autograder"]
    )
    command = [sys.executable, *prefix, "--root", str(root), *arguments]
    environment = {**os.environ, "TMPDIR": str(scratch)}
    if popen:
        return subprocess.Popen(command, cwd=ROOT, env=environment, text=True, **popen)
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600
    )


def exported(root: Path, scratch: Path, **crash) -> dict[str, str]:
    result = run(root, "export", scratch=scratch, **crash)
    assert result.returncode == 0, result.stderr
    return {name: (root / "grades" / name).read_text() for name in ("scores.csv", "tests.csv")}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, scratch):
    """The class graded and exported without interruption: what every rerun must reach,
    and how many events of each stage it took (where a kill may land)."""
    root = make_course(tmp_path_factory.mktemp("uninterrupted"))
    result = run(root, "grade", "--workers", "2", scratch=scratch, crash=("count", 0))
    assert result.returncode == 0, result.stdout + result.stderr
    events = crashing.counts(result.stderr)
    export = run(root, "export", scratch=scratch, crash=("count", 0))
    assert export.returncode == 0, export.stderr
    events.update(crashing.counts(export.stderr))
    assert all(events.get(stage) for stage in STAGES), events
    return root, exported(root, scratch), events


#: Where the SIGKILL test kills the grader (tests/crashing.py).
STAGES = ("preparing", "executing", "recording", "exporting")


def kernels_left(scratch: Path) -> list[str]:
    """Processes still running a kernel of a run whose scratch space is ``scratch``, once
    those the run killed have had the time to end (a killed process ends at once, but
    not within the same instant)."""
    deadline = time.monotonic() + 30
    while True:
        left = []
        for entry in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                command = entry.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(scratch) in command:
                left.append(command)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.mark.slow
def test_sigkill_anywhere_then_a_rerun_ends_where_an_uninterrupted_run_ends(
    uninterrupted, scratch, tmp_path
):
    """Killed with SIGKILL at a random point while preparing, executing, recording and
    exporting, and run again each time, does the grader end with exactly the export of
    an uninterrupted run, taking the hot journal a kill in the middle of a write leaves
    in its stride?"""
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"CRASH_SEED={seed}")
    rng = random.Random(seed)
    _, expected, events = uninterrupted
    for stage in rng.sample(STAGES[:3], 3):  # in an order of the seed's
        root = make_course(tmp_path / stage)
        point = (stage, rng.randint(1, events[stage]))
        killed = run(root, "grade", "--workers", "2", scratch=scratch, crash=point)
        assert killed.returncode == -signal.SIGKILL, (seed, point, killed.stderr[-2000:])
        if stage == "recording":  # killed between a write and its commit
            assert (root / "gradebook.db-journal").exists(), (seed, point)
        rerun = run(root, "grade", "--workers", "2", scratch=scratch)
        assert rerun.returncode == 0, (seed, point, rerun.stdout + rerun.stderr)
        assert "damaged" not in rerun.stdout + rerun.stderr
        assert exported(root, scratch) == expected, (seed, point)
        assert not (root / MARKS).exists(), (seed, point)  # nothing left in progress
        assert backup.newest(root / "gradebook.db"), "the rerun backed the gradebook up"
    shutil.rmtree(root / "grades")
    point = ("exporting", rng.randint(1, events["exporting"]))
    killed = run(root, "export", scratch=scratch, crash=point)
    assert killed.returncode == -signal.SIGKILL, (seed, point, killed.stderr)
    assert exported(root, scratch) == expected, (seed, point)


def hot_journal(gradebook: Path) -> None:
    """Leave ``gradebook`` as a writer killed in the middle of a transaction leaves it:
    every score changed on disk, the change not committed, the journal beside it."""
    writer = subprocess.Popen(
        [sys.executable, "-c", f"""
import sqlite3, sys
connection = sqlite3.connect({str(gradebook)!r}, isolation_level=None)
connection.execute("PRAGMA cache_size = 1")  # changed pages reach the file at once
connection.execute("BEGIN")
connection.execute("UPDATE grade SET auto_score = 999, manual_score = 999")
connection.execute("UPDATE submitted_assignment SET timestamp = '2001-01-01 00:00:00'")
print("written", flush=True)
sys.stdin.read()
"""],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writer.stdout.readline() == "written\n"
    writer.kill()
    writer.wait()
    assert (gradebook.parent / "gradebook.db-journal").stat().st_size > 0


@pytest.mark.slow
def test_a_gradebook_with_a_hot_journal_is_graded_and_exported(uninterrupted, scratch, tmp_path):
    """After a writer was killed in the middle of a transaction, do export and grade
    both run without calling the gradebook damaged, with the scores as they were before
    the unfinished write?"""
    graded, expected, _ = uninterrupted
    root = tmp_path / "course"
    shutil.copytree(graded, root)
    shutil.rmtree(root / "grades")
    hot_journal(root / "gradebook.db")
    assert exported(root, scratch) == expected
    hot_journal(root / "gradebook.db")
    result = run(root, "grade", scratch=scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(STUDENTS)} unchanged" in result.stdout
    assert exported(root, scratch) == expected


def small_gradebook(path: Path) -> Path:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE assignment (id)")
    connection.execute("CREATE TABLE grade (auto_score, manual_score)")
    connection.execute("CREATE TABLE submitted_assignment (timestamp)")
    connection.executemany("INSERT INTO grade VALUES (?, ?)", [(1.0, None)] * 2000)
    connection.commit()
    connection.close()
    return path


def test_a_hot_journal_is_rolled_back_and_real_damage_still_refused(tmp_path):
    """Is a gradebook with a hot journal accepted, as it was before the unfinished write,
    while a damaged one is still refused?"""
    from autograder.course import CourseError, check_gradebook

    gradebook = small_gradebook(tmp_path / "gradebook.db")
    hot_journal(gradebook)
    check_gradebook(f"sqlite:///{gradebook}", must_exist=True)
    assert not (tmp_path / "gradebook.db-journal").exists()
    connection = sqlite3.connect(gradebook)
    assert connection.execute("SELECT DISTINCT auto_score FROM grade").fetchall() == [(1.0,)]
    connection.close()
    data = gradebook.read_bytes()
    gradebook.write_bytes(data[: len(data) // 3])
    with pytest.raises(CourseError, match="is damaged"):
        check_gradebook(f"sqlite:///{gradebook}", must_exist=True)


def test_a_hot_journal_the_grader_may_not_undo_is_not_called_damage(tmp_path, monkeypatch):
    """When the grader may not write beside the gradebook, is a hot journal reported as
    an unfinished write that needs write access, rather than as damage?"""
    import autograder.course
    from autograder.course import CourseError, check_gradebook

    gradebook = small_gradebook(tmp_path / "gradebook.db")
    hot_journal(gradebook)
    monkeypatch.setattr(autograder.course.os, "access", lambda path, mode: False)
    with pytest.raises(CourseError, match="unfinished") as raised:
        check_gradebook(f"sqlite:///{gradebook}", must_exist=True)
    assert "damaged" not in str(raised.value) and "write access" in str(raised.value)


@pytest.mark.slow
def test_a_submission_that_kills_the_grader_is_given_up_after_two_deaths(scratch, tmp_path):
    """When grading one submission kills the grader every time, is it graded alone after
    the first death, recorded failed with a reason after the second, the rest of the
    class graded, and tried again with --force?"""
    root = make_course(tmp_path)
    write_submission(root / "submitted", "mal", ASSIGNMENT, solved(ASSIGNMENT))
    killer = ("student:mal", 0)
    first = run(root, "grade", "--workers", "2", scratch=scratch, crash=killer)
    assert first.returncode == -signal.SIGKILL
    mark = root / MARKS / "mal" / f"{ASSIGNMENT}.json"
    assert json.loads(mark.read_text())["deaths"] == 0  # and its run is dead
    second = run(root, "grade", "--workers", "2", scratch=scratch, crash=killer)
    assert second.returncode == -signal.SIGKILL
    assert json.loads(mark.read_text())["deaths"] == 1
    third = run(root, "grade", "--workers", "2", scratch=scratch, crash=killer)
    assert third.returncode == 3, third.stdout + third.stderr  # something was not graded
    rows = {line.split()[0]: line for line in third.stdout.splitlines() if ASSIGNMENT in line}
    assert f"failed: {DIED_TWICE}" in rows["mal"]
    for student in STUDENTS:
        assert "failed" not in rows[student], rows[student]
    scores = exported(root, scratch)["scores.csv"]
    assert "mal,01_likelihood,0.0,10.0,true" in scores
    assert not (root / MARKS).exists()
    fourth = run(root, "grade", scratch=scratch)  # unchanged: not graded again
    assert fourth.returncode == 3 and f"unchanged: {DIED_TWICE}" in fourth.stdout
    forced = run(root, "grade", "--force", scratch=scratch, crash=killer)
    assert forced.returncode == -signal.SIGKILL  # it was tried again


def wait_for_ledgers(root: Path, count: int, process) -> None:
    """Wait until ``count`` submissions are recorded (their ledger written)."""
    while len(list((root / "autograded").glob(f"*/*/{LEDGER}"))) < count:
        assert process.poll() is None, "the run ended before it was stopped"
        time.sleep(0.1)


@pytest.mark.slow
def test_ctrl_c_and_sigterm_stop_cleanly_and_a_rerun_loses_nothing(
    uninterrupted, scratch, tmp_path
):
    """Stopped by Ctrl+C (SIGINT to the whole foreground process group) and by SIGTERM,
    does the grader kill its kernels, print what it graded, exit 130 and 143, leave
    nothing half-written, and does a rerun then end where an uninterrupted run ends?"""
    _, expected, _ = uninterrupted
    students = (*STUDENTS, "dee", "eve")  # dee and eve answer as ada does
    root = make_course(tmp_path, students)
    recorded: list[str] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        process = run(
            root, "grade", "--workers", "1", scratch=scratch,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        wait_for_ledgers(root, len(recorded) + 1, process)
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)  # what a terminal's Ctrl+C does
        else:
            os.kill(process.pid, signum)
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 128 + signum, stdout + stderr
        name = "Ctrl+C (SIGINT)" if signum == signal.SIGINT else "SIGTERM"
        assert f"stopped by {name}" in stdout and "not graded yet" in stdout, stdout
        graded = [line.split()[0] for line in stdout.splitlines() if line.endswith("  graded")]
        ledgers = [p.parent.parent.name for p in (root / "autograded").glob(f"*/*/{LEDGER}")]
        assert graded and sorted(graded) == sorted(set(ledgers) - set(recorded)), stdout
        for folder in (root / "autograded").glob(f"*/{ASSIGNMENT}"):  # nothing half-written
            if (folder / LEDGER).exists():
                assert (folder / f"{ASSIGNMENT}.ipynb").exists()
        assert not list(root.rglob("*.partial"))
        assert not (root / MARKS).exists()  # stopping is no death
        assert not kernels_left(scratch)
        recorded = ledgers
    assert len(recorded) < len(students), "nothing was left to resume"
    rerun = run(root, "grade", "--workers", "2", scratch=scratch)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{len(students) - len(recorded)} graded" in rerun.stdout
    assert f"{len(recorded)} unchanged" in rerun.stdout
    files = exported(root, scratch)
    for name, text in expected.items():  # dee and eve answered as ada did
        lines = files[name].splitlines()
        assert [
            line for line in lines if not line.startswith(("dee,", "eve,"))
        ] == text.splitlines()
        rows = {
            s: [ln.split(",", 1)[1] for ln in lines if ln.startswith(f"{s},")] for s in students
        }
        assert rows["dee"] == rows["eve"] == rows["ada"], name

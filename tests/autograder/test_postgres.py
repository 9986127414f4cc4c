"""Is a PostgreSQL gradebook as good as SQLite, and are runs at the same time safe?

The server is real (tests/services.py: Debian's PostgreSQL, started by the suite).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.export import score_rows
from tests.conftest import ROOT
from tests.submissions import solved, write_submission

BIN = Path(sys.executable).parent
ASSIGNMENTS = ("01_likelihood", "02_log_likelihood")
STUDENTS = ("ann", "bob", "cy")


def _course(base: Path, db_url: str | None = None) -> Path:
    root = base / "course"
    root.mkdir(parents=True)
    for folder in ("source", "release"):
        for name in ASSIGNMENTS:
            shutil.copytree(ROOT / folder / name, root / folder / name)
    config = (ROOT / "nbgrader_config.py").read_text()
    if db_url:
        config += f"\nc.CourseDirectory.db_url = {db_url!r}\n"
    (root / "nbgrader_config.py").write_text(config)
    for name in ASSIGNMENTS:
        for student in STUDENTS:
            write_submission(root / "submitted", student, name, solved(name))
    return root


def _autograder(root: Path, *arguments: str) -> subprocess.Popen:
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen(
        [str(BIN / "autograder"), "--root", str(root), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.stat().st_size):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_runs_and_an_export_at_once_lose_no_row(tmp_path, postgres):
    """Two `grade` runs on different assignments of the same students, and an `export`
    while they run: is every submission there once, with all its grades?"""
    from nbgrader.api import Gradebook

    url = postgres.create_database("concurrent")
    root = _course(tmp_path, url)
    runs = [_autograder(root, "grade", name, "--workers", "1") for name in ASSIGNMENTS]
    _wait_for(root / "autograded" / "ann" / ASSIGNMENTS[0] / ".autograder.json", runs[0])
    export = _autograder(root, "export", "--out", str(tmp_path / "during"))
    assert export.wait(timeout=600) == 0, export.communicate()
    for run in runs:
        out, err = run.communicate(timeout=1200)
        assert run.returncode == 0, out + err
    import csv

    rows = score_rows(root)
    assert sorted((r["student_id"], r["assignment"]) for r in rows) == sorted(
        (s, a) for s in STUDENTS for a in ASSIGNMENTS
    )
    assert all(r["submitted"] == "true" for r in rows)
    final = {(r["student_id"], r["assignment"]): r for r in rows}
    with open(tmp_path / "during" / "scores.csv", newline="") as handle:
        during = list(csv.DictReader(handle))
    assert during
    for row in during:  # each submission whole: graded in full, or not there yet
        if row["submitted"] == "true":
            after = final[(row["student_id"], row["assignment"])]
            assert float(row["raw_score"]) == after["raw_score"], row
            assert float(row["max_score"]) == after["max_score"], row
    with Gradebook(url, "nll-first-principles") as gb:
        assert sorted(s.id for s in gb.students) == sorted(STUDENTS)
        for name in ASSIGNMENTS:
            cells = sum(len(nb.grade_cells) for nb in gb.find_assignment(name).notebooks)
            for student in STUDENTS:
                submission = gb.find_submission(name, student)
                assert sum(len(nb.grades) for nb in submission.notebooks) == cells
                tests = [g for nb in submission.notebooks for g in nb.grades]
                assert all(g.auto_score is not None for g in tests if g.name.startswith("test_"))


@pytest.mark.slow
def test_a_second_run_on_a_sqlite_gradebook_is_refused_in_one_line(tmp_path):
    """While one `grade` runs, is a second on the same SQLite gradebook refused with one
    line (never "database is locked")?"""
    root = _course(tmp_path)
    first = _autograder(root, "grade", ASSIGNMENTS[0], "--workers", "1")
    _wait_for(root / "gradebook.db.grading", first)
    second = _autograder(root, "grade", ASSIGNMENTS[1], "--workers", "1")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 2, out + err
    assert err.startswith("autograder: error: another `autograder grade` is grading")
    assert len(err.strip().splitlines()) == 1 and "locked" not in err
    out, err = first.communicate(timeout=1200)
    assert first.returncode == 0, out + err


@pytest.mark.parametrize("problem", ["unreachable", "bad password", "no such database"])
def test_a_database_that_cannot_be_used_is_one_line(tmp_path, postgres, problem):
    """Does an unreachable server, a wrong password or a missing database give one line
    naming the host and the database and what failed, without any password?"""
    url = {
        "unreachable": "postgresql+psycopg://grader:hunter2-pw@127.0.0.1:9/grades",
        "bad password": postgres.url("postgres", password="wrong-pw-1234"),
        "no such database": postgres.url("missing_gradebook"),
    }[problem]
    root = tmp_path / "course"
    (root / "source" / ASSIGNMENTS[0]).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    (root / "submitted").mkdir()
    run = _autograder(root, "grade", "--db", url)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2, out + err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for secret in ("hunter2-pw", "wrong-pw-1234", "s3cret-gradebook-pw"):
        assert secret not in err + out
    expected = {
        "unreachable": ("database grades on 127.0.0.1", "refused"),
        "bad password": ("database postgres on /", "password authentication failed"),
        "no such database": ("database missing_gradebook on /", "does not exist"),
    }[problem]
    for words in expected:
        assert words in err, err

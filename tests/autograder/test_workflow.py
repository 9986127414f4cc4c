"""Does the instructor workflow hold together: parallel equals serial, a killed run resumes
without loss or duplicates, reruns are idempotent, and export and feedback tell the truth?"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import sandbox as sandboxing
from autograder.export import cell_rows, export, score_rows
from autograder.feedback import feedback
from autograder.grade import LEDGER, grade
from autograder.summary import summary
from tests.conftest import ROOT
from tests.submissions import fixture_answers, solved, write_submission

ASSIGNMENT = "01_likelihood"


def make_course(base: Path) -> Path:
    root = base / "course"
    for name in ("source", "release"):
        shutil.copytree(ROOT / name / ASSIGNMENT, root / name / ASSIGNMENT)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    answers = fixture_answers(ASSIGNMENT)
    students = {
        "ada": {},
        "ben": {"likelihood_bernoulli": answers["likelihood_bernoulli"]["mistake_sum_not_product"]},
        "cai": {"likelihood_gaussian": answers["likelihood_gaussian"]["mistake_variance_as_sigma"]},
        "dee": {"likelihood_gaussian": answers["likelihood_gaussian"]["correct_scipy"]},
        "eve": {"likelihood_bernoulli": answers["likelihood_bernoulli"]["mistake_heads_only"]},
    }
    for student, overrides in students.items():
        write_submission(root / "submitted", student, ASSIGNMENT, solved(ASSIGNMENT, overrides))
    return root


def _outputs(cell) -> list:
    """A cell's outputs, without what differs from run to run (object addresses, widget
    model ids, and where the kernel happened to split a stream into messages)."""
    merged = []
    for output in cell.get("outputs", []):
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            merged[-1] = {**previous, "text": previous["text"] + output["text"]}
        else:
            merged.append(dict(output))
    return [
        re.sub(r"0x[0-9a-f]+|\b[0-9a-f]{32}\b", "…", json.dumps(output, sort_keys=True))
        for output in merged
    ]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("serial"))
    grade(root=root, workers=1)
    return root


@pytest.mark.slow
def test_parallel_grading_equals_serial(serial, tmp_path):
    """Does grading with two workers give exactly the scores of grading one at a time?"""
    root = make_course(tmp_path)
    grade(root=root, workers=2)
    assert cell_rows(root) == cell_rows(serial)
    assert {r["student_id"]: r["score"] for r in score_rows(serial)} == {
        "ada": 8.0, "ben": 4.0, "cai": 5.0, "dee": 8.0, "eve": 5.0,
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(
    not sandboxing.warm_kernels_available(isolate=True), reason="warm kernels need root and bwrap"
)
def test_kernels_started_from_scratch_grade_like_warm_ones(serial, tmp_path):
    """Does `grade --fresh-kernels` start kernels from scratch and give exactly the scores
    of kernels forked from the warm parent?"""
    root = make_course(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(root), "grade", "--fresh-kernels"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sandboxed with bubblewrap" in result.stdout
    assert "started from scratch" in result.stdout
    assert cell_rows(root) == cell_rows(serial)
    for student in ("ada", "ben", "cai", "dee", "eve"):  # and every cell's output alike
        fresh, warm = (
            nbformat.read(r / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
            for r in (root, serial)
        )
        assert [_outputs(c) for c in fresh.cells] == [_outputs(c) for c in warm.cells]


@pytest.mark.slow
@pytest.mark.skipif(
    not sandboxing.warm_kernels_available(isolate=True), reason="warm kernels need root and bwrap"
)
@pytest.mark.parametrize("breakdown", ["cannot start", "dies while grading"])
def test_a_failing_warm_parent_costs_nobody_points(serial, tmp_path, monkeypatch, breakdown):
    """When the warm parent cannot start, or dies under the grader, are kernels started
    from scratch instead, with the same scores, and does the summary say what happened?"""
    if breakdown == "cannot start":
        monkeypatch.setattr(sandboxing.Zygote, "SCRIPT", tmp_path / "no-such-zygote.py")
    else:
        spawn = sandboxing.Zygote.spawn

        def killed_first(zygote, argv, sandbox):
            with zygote.lock:
                if zygote.process is not None:
                    zygote.process.kill()
                    zygote.process.wait()
            return spawn(zygote, argv, sandbox)

        monkeypatch.setattr(sandboxing.Zygote, "spawn", killed_first)
    root = make_course(tmp_path)
    outcomes = grade(root=root, workers=2)
    assert cell_rows(root) == cell_rows(serial)
    assert {o.status for o in outcomes} == {"graded"}
    assert summary(outcomes).splitlines()[1].startswith("WARNING: the warm kernel parent failed")


@pytest.mark.slow
def test_grading_leaves_no_open_files_or_threads(tmp_path):
    """Does a run close every kernel's sockets and threads? (A class of hundreds of
    notebooks would otherwise run out of file descriptors partway through.)"""
    root = make_course(tmp_path)
    grade(root=root, workers=2)  # the first run imports and caches what it needs

    def open_files():
        gc.collect()  # what is unreachable but not yet collected does not count
        return len(os.listdir("/proc/self/fd")), len(os.listdir("/proc/self/task"))

    before = open_files()
    outcomes = grade(root=root, workers=2, force=True)
    assert len(outcomes) == 5
    assert open_files() == before


@pytest.mark.slow
def test_killed_run_resumes_without_loss_or_duplicates(serial, tmp_path):
    """Does a run killed midway, then rerun, end exactly where an uninterrupted run ends?"""
    root = make_course(tmp_path)
    run = subprocess.Popen(
        [sys.executable, "-m", "autograder", "--root", str(root), "grade", "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list((root / "autograded").glob(f"*/*/{LEDGER}")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    finished_before_kill = len(list((root / "autograded").glob(f"*/*/{LEDGER}")))
    assert 1 <= finished_before_kill < 5, "the kill did not land midway"
    outcomes = grade(root=root, workers=2)
    assert sum(o.status == "unchanged" for o in outcomes) == finished_before_kill
    rows = cell_rows(root)
    keys = [(r["student_id"], r["grade_id"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert rows == cell_rows(serial)


@pytest.mark.slow
def test_rerun_grades_only_what_changed(serial, tmp_path):
    """Does a rerun skip unchanged submissions, regrade an edited one, and --force regrade all?"""
    root = tmp_path / "course"
    shutil.copytree(serial, root)
    assert {o.status for o in grade(root=root)} == {"unchanged"}
    path = root / "submitted" / "ben" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    notebook = solved(ASSIGNMENT)
    nbformat.write(notebook, path)  # ben fixes his mistake
    outcomes = {o.student: o for o in grade(root=root)}
    assert outcomes["ben"].status == "graded" and outcomes["ben"].score == 8.0
    assert {o.status for s, o in outcomes.items() if s != "ben"} == {"unchanged"}
    assert {o.status for o in grade(root=root, force=True)} == {"graded"}


@pytest.mark.slow
def test_export_matches_the_gradebook(serial, tmp_path):
    """Do scores.csv and tests.csv hold one row per student (and cell), summing consistently?"""
    scores_csv, tests_csv = export(root=serial, out=tmp_path)
    scores = scores_csv.read_text().splitlines()
    assert scores[0] == (
        "student_id,assignment,score,max_score,"
        "submitted,timestamp,raw_score,late_penalty,needs_manual_grade"
    )
    # The written answer waits for a person: no total is final yet.
    assert scores[1:] == [
        f"{student},01_likelihood,{score},10.0,true,,{score},0.0,true"
        for student, score in (("ada", 8.0), ("ben", 4.0), ("cai", 5.0), ("dee", 8.0), ("eve", 5.0))
    ]
    tests = tests_csv.read_text().splitlines()
    assert tests[0] == "student_id,assignment,notebook,grade_id,score,max_score,needs_manual_grade"
    assert len(tests) - 1 == 5 * 7
    per_student = {}
    for line in tests[1:]:
        student, _, _, _, score, _, _ = line.split(",")
        per_student[student] = per_student.get(student, 0.0) + float(score)
    assert per_student == {"ada": 8.0, "ben": 4.0, "cai": 5.0, "dee": 8.0, "eve": 5.0}


@pytest.mark.slow
def test_feedback_shows_messages_but_no_hidden_test_code(serial, tmp_path):
    """Does feedback show each failing test's learner-worded message, and no hidden test code?"""
    pages = feedback(root=serial, out=tmp_path)
    assert len(pages) == 5
    page = (tmp_path / "ben" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "failed" in page and "expected:" in page and "hint:" in page
    assert "Did you swap theta" in page or "multiply" in page
    source = (ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    hidden = [
        line.strip()
        for line in source.split("BEGIN HIDDEN TESTS")[1].split("END HIDDEN TESTS")[0].split("\\n")
        if len(line.strip()) > 15
    ]
    assert hidden and not [line for line in hidden if line in page]
    assert "BEGIN HIDDEN" not in page and "Traceback" not in page
    assert "passed" in (tmp_path / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()


def _edit_source_cell(root: Path, grade_id: str, change) -> None:
    path = root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    change(cell)
    nbformat.write(notebook, path)


@pytest.mark.slow
def test_a_test_fixed_in_source_regrades_its_assignment(tmp_path):
    """When the instructor fixes a test (new code, new points) after grading, does the next
    plain run grade every submission of it with the new test, say so, and then rest?
    (nbgrader puts test cells back from the gradebook, so stale records would silently
    keep the old test.)"""
    root = make_course(tmp_path)
    grade(root=root, workers=2)
    before = {(r["student_id"], r["grade_id"]): r for r in cell_rows(root)}
    _edit_source_cell(
        root, "test_likelihood_bernoulli_hidden", lambda c: c.metadata.nbgrader.update(points=3)
    )
    _edit_source_cell(
        root,
        "test_likelihood_gaussian_standard",
        lambda c: setattr(c, "source", c.source + '\nassert False, "a stricter test"'),
    )
    outcomes = grade(root=root, workers=2)
    assert {o.status for o in outcomes} == {"graded"}
    assert any("source/01_likelihood changed since it was last graded" in line for line in
               summary(outcomes).splitlines()[:4])  # fmt: skip
    after = {(r["student_id"], r["grade_id"]): r for r in cell_rows(root)}
    assert after.keys() == before.keys()
    for (student, grade_id), row in after.items():
        if grade_id == "test_likelihood_gaussian_standard":
            assert row["score"] == 0.0, student
        elif grade_id == "test_likelihood_bernoulli_hidden":
            assert row["max_score"] == 3.0
            assert row["score"] == before[student, grade_id]["score"] * 1.5
        else:
            assert row == before[student, grade_id]
    assert {o.status for o in grade(root=root, workers=2)} == {"unchanged"}


def test_adding_a_cell_after_grading_is_refused_in_one_line(tmp_path):
    """Does a source that gains a graded cell after submissions were graded stop the run
    with one line saying what nbgrader cannot do and what to do instead?"""
    root = make_course(tmp_path)
    for student in ("ben", "cai", "dee", "eve"):
        shutil.rmtree(root / "submitted" / student)
    grade(root=root, workers=1)
    path = root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    extra = nbformat.v4.new_code_cell("assert True")
    extra.metadata.nbgrader = {
        "grade": True, "solution": False, "locked": True, "points": 1,
        "grade_id": "test_extra", "schema_version": 3,
    }  # fmt: skip
    notebook.cells.append(extra)
    nbformat.write(notebook, path)
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(root), "grade"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "adds or removes graded cells" in result.stderr
    assert [r["student_id"] for r in score_rows(root)] == ["ada"]  # nothing lost

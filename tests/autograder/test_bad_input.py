"""Does the grader stay correct when the files it is given are not what it expects?

Symbolic links in a submission, a Windows-encoded timestamp, misnamed notebooks and
folders, a damaged gradebook, an unwritable output folder, an unusable --timeout: each
either costs only its own submission's points or stops with one line, and none loses or
replaces good data.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import load_config
from autograder.export import export, score_rows
from autograder.feedback import feedback
from autograder.grade import grade
from autograder.prepare import Unreadable as _Unreadable
from autograder.prepare import notebook_text as _notebook_text
from autograder.summary import summary
from tests.autograder.test_workflow import ASSIGNMENT, _edit_source_cell, make_course
from tests.conftest import ROOT
from tests.submissions import solved, write_submission


def run(root: Path, *arguments, cwd: Path | None = None, **environment: str):
    return subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(root), *arguments],
        cwd=cwd or root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **environment},
    )


@pytest.fixture(scope="module")
def odd_class(tmp_path_factory):
    """A class graded once, with every odd shape of submission folder in it."""
    root = make_course(tmp_path_factory.mktemp("odd"))
    submitted = root / "submitted"
    for student in ("ben", "cai", "dee", "eve"):
        shutil.rmtree(submitted / student)
    source = root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    # A notebook that is a link to the solutions, and a folder that links to ada's work.
    (submitted / "cat" / ASSIGNMENT).mkdir(parents=True)
    (submitted / "cat" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").symlink_to(source)
    (submitted / "dan").mkdir()
    (submitted / "dan" / ASSIGNMENT).symlink_to(submitted / "ada" / ASSIGNMENT)
    # A correct notebook whose timestamp.txt was saved as UTF-16 by Windows Notepad.
    write_submission(submitted, "fay", ASSIGNMENT, solved(ASSIGNMENT))
    (submitted / "fay" / ASSIGNMENT / "timestamp.txt").write_bytes(
        "2026-11-20 09:30:00\n".encode("utf-16")
    )
    # A notebook renamed by a second download.
    path = write_submission(submitted, "gus", ASSIGNMENT, solved(ASSIGNMENT))
    path.rename(path.with_name(f"{ASSIGNMENT} (1).ipynb"))
    # Cells copied in JupyterLab (metadata and all), and answers pasted into a new notebook.
    notebook = solved(ASSIGNMENT)
    for grade_id in ("likelihood_bernoulli", "test_likelihood_bernoulli_values"):
        index = next(i for i, c in enumerate(notebook.cells) if _grade_id(c) == grade_id)
        copy = nbformat.from_dict(json.loads(json.dumps(notebook.cells[index])))
        copy.id = f"copy-of-{index}"
        notebook.cells.insert(index + 1, copy)
    write_submission(submitted, "jon", ASSIGNMENT, notebook)
    notebook = solved(ASSIGNMENT)
    for cell in notebook.cells:
        cell.metadata.pop("nbgrader", None)
    write_submission(submitted, "kit", ASSIGNMENT, notebook)
    # An answer that quotes the running test cell (hidden tests and all) in its error.
    leak = (
        "def likelihood_bernoulli(x, theta):\n"
        "    raise NotImplementedError(get_ipython().user_ns['In'][-1])\n"
    )
    write_submission(
        submitted, "lea", ASSIGNMENT, solved(ASSIGNMENT, {"likelihood_bernoulli": leak})
    )
    # Entries that are not <student>/<assignment>/ folders.
    (submitted / "hal").mkdir()
    (submitted / "hal" / ASSIGNMENT).write_text("not a folder")
    (submitted / "class.zip").write_bytes(b"PK")
    outcomes = grade(root=root, workers=2)
    export(root=root)
    return root, {o.student: o for o in outcomes}, outcomes


def test_symbolic_links_are_not_followed(odd_class):
    """Does a notebook or folder that links elsewhere (the solutions, a classmate's work)
    earn 0 with a reason, and never put the linked file's content in autograded/ or the
    feedback?"""
    root, outcomes, _ = odd_class
    assert outcomes["ada"].status == "graded" and outcomes["ada"].score == 8.0
    for student, what in (("cat", f"{ASSIGNMENT}.ipynb"), ("dan", f"the folder {ASSIGNMENT}/")):
        outcome = outcomes[student]
        assert (outcome.status, outcome.score) == ("failed", 0.0), outcome
        assert f"{what} is a symbolic link, not submitted work" in outcome.reason
    pages = feedback(root=root)
    for student in ("cat", "dan"):
        written = [
            *(root / "autograded" / student).rglob("*.ipynb"),
            *(p for p in pages if student in p.parts),
        ]
        assert written, student
        for path in written:
            text = path.read_text()
            assert "BEGIN SOLUTION" not in text and "np.prod" not in text, path


def test_an_error_that_quotes_the_test_does_not_reach_the_feedback(odd_class):
    """Does an exception message made of the running test cell's source (hidden tests
    included) stay out of the learner's feedback page?"""
    root, outcomes, _ = odd_class
    assert outcomes["lea"].score == 4.0  # likelihood_gaussian is still right
    (page,) = [p for p in feedback(root=root) if "lea" in p.parts]
    text = page.read_text()
    assert "HIDDEN TESTS" not in text and "expect_value" not in text
    assert "likelihood_bernoulli is not answered yet" in text


def test_a_timestamp_saved_by_windows_is_read(odd_class):
    """Does a UTF-16 timestamp.txt neither crash the run nor cost the student points?"""
    root, outcomes, _ = odd_class
    assert (outcomes["fay"].status, outcomes["fay"].score) == ("graded", 8.0)
    with sqlite3.connect(root / "gradebook.db") as db:
        (stamp,) = db.execute(
            "SELECT timestamp FROM submitted_assignment WHERE student_id = 'fay'"
        ).fetchone()
    assert stamp.startswith("2026-11-20 09:30:00")


def test_a_misnamed_notebook_is_named_in_the_reason(odd_class):
    """Does a renamed notebook fail with what was expected and what was found?"""
    _, outcomes, _ = odd_class
    assert outcomes["gus"].status == "failed"
    assert outcomes["gus"].reason == (
        f"{ASSIGNMENT}.ipynb is missing from the submission (found: {ASSIGNMENT} (1).ipynb)"
    )


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def test_copied_cells_cost_nothing(odd_class):
    """Does a notebook in which the learner copied an answer cell and a test cell (which
    copies their nbgrader metadata) grade like the original, not fail as a whole?"""
    _, outcomes, _ = odd_class
    assert (outcomes["jon"].status, outcomes["jon"].score) == ("graded", 8.0), outcomes["jon"]


def test_answers_pasted_into_a_new_notebook_get_a_reason_that_says_so(odd_class):
    """Does a notebook with no nbgrader cells left fail with what happened and what to do?"""
    _, outcomes, _ = odd_class
    assert outcomes["kit"].status == "failed"
    assert "has lost the nbgrader cells" in outcomes["kit"].reason
    assert "fresh copy of the released notebook" in outcomes["kit"].reason


def test_folders_that_are_not_submissions_are_listed(odd_class):
    """Are entries that cannot be a submission named in the summary, not silently dropped?"""
    _, outcomes, result = odd_class
    assert "hal" not in outcomes
    lines = summary(result).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("not graded: 2 entries"))
    assert lines[start + 1 : start + 3] == [
        "  class.zip (a file where a student folder belongs)",
        f"  hal/{ASSIGNMENT} (a file, not an assignment folder)",
    ]
    assert not result.complete


def test_the_summary_keeps_tested_and_written_points_apart(odd_class):
    """Is every row's autograded score out of the test points, and is the written answer
    counted as awaiting a person only where the notebook ran?"""
    _, _, result = odd_class
    lines = summary(result).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    rows = [line.split() for line in lines[start : lines.index("", start)]]
    assert {row[0] for row in rows} == {"ada", "cat", "dan", "fay", "gus", "jon", "kit", "lea"}
    for row in rows:
        got, out_of = map(float, row[2].split("/"))
        assert out_of == 8.0 and 0.0 <= got <= out_of, row
        assert row[3] == ("-" if row[5].startswith("failed") else "1"), row


@pytest.fixture
def graded_copy(odd_class, tmp_path):
    """A private copy of the graded class, to damage."""
    root = tmp_path / "course"
    shutil.copytree(odd_class[0], root, symlinks=True)
    return root


DAMAGE = {
    "an empty file": lambda data: b"",
    "a text file": lambda data: b"hello\n",
    "a database cut short": lambda data: data[: len(data) // 3],
}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("command", ["export", "feedback", "report", "grade"])
def test_a_damaged_gradebook_stops_every_command_and_is_kept(graded_copy, damage, command):
    """Does each command refuse a damaged gradebook in one line, leaving the gradebook
    and the exported grades exactly as they were (nothing replaced by an empty class)?"""
    gradebook = graded_copy / "gradebook.db"
    damaged = DAMAGE[damage](gradebook.read_bytes())
    gradebook.write_bytes(damaged)
    scores = (graded_copy / "grades" / "scores.csv").read_bytes()
    result = run(graded_copy, command)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "gradebook" in result.stderr
    assert "Traceback" not in result.stderr
    assert gradebook.read_bytes() == damaged
    assert (graded_copy / "grades" / "scores.csv").read_bytes() == scores


def test_an_empty_gradebook_does_not_replace_exported_grades(graded_copy):
    """Does exporting a gradebook with no submissions leave a grades file with rows alone?"""
    from nbgrader.api import Gradebook

    load_config(graded_copy)  # puts nbgrader's alembic on PATH
    with Gradebook(f"sqlite:///{graded_copy / 'gradebook.db'}") as gb:
        for row in score_rows(graded_copy):
            gb.remove_submission(row["assignment"], row["student_id"])
    assert {row["submitted"] for row in score_rows(graded_copy)} == {"false"}
    scores = (graded_copy / "grades" / "scores.csv").read_bytes()
    result = run(graded_copy, "export")
    assert result.returncode == 2 and "not replaced" in result.stderr
    assert (graded_copy / "grades" / "scores.csv").read_bytes() == scores


@pytest.mark.parametrize("blocker", ["out is a file", "scores.csv is a folder"])
def test_an_unwritable_export_changes_nothing(graded_copy, tmp_path, blocker):
    """Does an export that cannot be written say so in one line and leave no .partial
    file and no tests.csv without its scores.csv?"""
    out = tmp_path / "out"
    if blocker == "out is a file":
        out.write_text("x")
    else:
        (out / "scores.csv").mkdir(parents=True)
    result = run(graded_copy, "export", "--out", str(out))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    if out.is_dir():
        assert sorted(p.name for p in out.iterdir()) == ["scores.csv"]
        assert (out / "scores.csv").is_dir()


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "0.5", "-3", "1e9"])
def test_an_unusable_timeout_is_refused_before_anything_runs(graded_copy, timeout, tmp_path):
    """Is a --timeout that cannot work refused in one line, with no student regraded and
    no scratch folder left behind?"""
    scratch = tmp_path / "scratch"  # this run's own, so no other run's folders count
    scratch.mkdir()
    ledgers = {p: p.read_bytes() for p in (graded_copy / "autograded").rglob("*.json")}
    result = run(graded_copy, "grade", "--force", f"--timeout={timeout}", TMPDIR=str(scratch))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--timeout must be between 1 and" in result.stderr
    assert {p: p.read_bytes() for p in ledgers} == ledgers
    assert list(scratch.iterdir()) == []


def test_a_partial_regrade_after_a_source_change_names_who_is_left(tmp_path):
    """When source/ changed and only some students' folder is graded, does the summary
    name the submissions still scored with the old tests?"""
    root = make_course(tmp_path)
    for student in ("cai", "dee", "eve"):
        shutil.rmtree(root / "submitted" / student)
    grade(root=root, workers=2)
    _edit_source_cell(
        root, "test_likelihood_bernoulli_hidden", lambda c: c.metadata.nbgrader.update(points=3)
    )
    late = tmp_path / "late"
    shutil.copytree(root / "submitted" / "ada", late / "ada")
    notes = grade(root=root, submissions=late, workers=1).notes
    assert any(
        "except 1 not in this run (ben), still scored with the old tests" in n for n in notes
    )
    assert [r["student_id"] for r in score_rows(root)] == ["ada", "ben"]


def test_a_notebook_cut_anywhere_is_called_cut_off(tmp_path):
    """Wherever an upload or a full disk cut a notebook short, is the reason that it looks
    cut off (not a JSON parser message about some line)?"""
    text = (ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    path = tmp_path / "cut.ipynb"
    reasons = set()
    for end in range(1, len(text) - 2, max(1, len(text) // 997)):
        path.write_text(text[:end])
        with pytest.raises(_Unreadable) as error:
            _notebook_text(path)
        reasons.add(str(error.value).split(", at ")[0].split(" that starts at ")[0])
    assert reasons == {
        "not valid JSON: the file ends early",
        "not valid JSON: the file ends inside a string",
    }

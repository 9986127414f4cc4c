"""Does one submission whose grading raises cost only its own points?

The grader's stages (prepare, execute, record) run each submission inside a guard: what
one raises makes that submission `failed` with a one-line reason naming it, and the rest
of the class is graded and exported. Here the raise is real: an instructor's test cell
that gives partial credit from the value a function returns (nbgrader reads a number
left as a test cell's value as its score) makes nbgrader's own SaveAutoGrades raise when
that number is above the cell's points.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest

from autograder.export import export, score_rows
from autograder.grade import grade
from tests.conftest import ROOT
from tests.submissions import set_answer, solved, write_submission

ASSIGNMENT = "01_likelihood"
PARTIAL_CREDIT = (
    '"""likelihood_bernoulli, scored by partial credit: twice the probability of 1, 1"""\n'
    "float(likelihood_bernoulli(np.array([1, 1]), 1.0)) * 2"
)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("failures") / "course"
    for name in ("source", "release"):
        shutil.copytree(ROOT / name / ASSIGNMENT, root / name / ASSIGNMENT)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    path = root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    source = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_code_cell(PARTIAL_CREDIT)
    cell.id = "test-likelihood-bernoulli-partial"
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "test_likelihood_bernoulli_partial",
        "locked": True,
        "points": 2,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    last_test = max(
        i
        for i, c in enumerate(source.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_likelihood_b")
    )
    source.cells.insert(last_test + 1, cell)
    nbformat.write(source, path)
    submissions = root / "submitted"
    write_submission(submissions, "ada", ASSIGNMENT, solved(ASSIGNMENT))
    huge = solved(ASSIGNMENT)
    set_answer(huge, "likelihood_bernoulli", "def likelihood_bernoulli(x, theta):\n    return 1e9")
    write_submission(submissions, "bob", ASSIGNMENT, huge)
    write_submission(submissions, "cy", ASSIGNMENT, solved(ASSIGNMENT))
    first = {o.student: o for o in grade([ASSIGNMENT], root=root, workers=2)}
    again = {o.student: o for o in grade([ASSIGNMENT], root=root, workers=2)}
    return root, first, again


@pytest.mark.slow
def test_a_submission_whose_recording_raises_is_failed_with_a_reason(graded):
    """Is bob, whose answer makes nbgrader's recording raise, failed with one line that
    names him and what went wrong, and scored 0?"""
    _, outcomes, _ = graded
    bob = outcomes["bob"]
    assert (bob.status, bob.score) == ("failed", 0.0), bob
    assert "bob/01_likelihood" in bob.reason and "recording" in bob.reason
    assert "partial credit" in bob.reason and "\n" not in bob.reason


@pytest.mark.slow
def test_everyone_else_is_graded_and_exported(graded):
    """Are the others graded in full, and does the export hold a row for every student?"""
    root, outcomes, _ = graded
    assert {s: (o.status, o.score) for s, o in outcomes.items() if s != "bob"} == {
        "ada": ("graded", 10.0),
        "cy": ("graded", 10.0),
    }
    export(root=root)
    assert {r["student_id"] for r in score_rows(root)} == {"ada", "bob", "cy"}


@pytest.mark.slow
def test_a_rerun_does_not_stop_on_it(graded):
    """Does the next run go through without trouble, bob still failed, nobody regraded?"""
    _, _, again = graded
    assert {s: o.status for s, o in again.items()} == {
        "ada": "unchanged",
        "bob": "unchanged",
        "cy": "unchanged",
    }
    assert again["bob"].reason

"""Does the grading reward exactly what it should, on a corpus of student answers?

For each assignment the corpus holds, per graded function, correct answers in several
styles and common mistakes (tests/fixtures/answers/<assignment>/<function>/*.py). Each is
dropped into an otherwise correct submission and graded by the real pipeline (nbgrader's
preprocessors and gradebook, in the sandboxed grader).
"""

from __future__ import annotations

import pytest

from autograder.export import cell_rows
from autograder.grade import grade
from tests.conftest import assignment_names
from tests.contract import ASSIGNMENTS
from tests.submissions import corpus_submissions, corpus_verdicts, fixture_answers


@pytest.mark.parametrize("assignment", assignment_names())
def test_corpus_covers_every_function(assignment):
    """Does every graded function have two correct styles and two common mistakes in the corpus?"""
    answers = fixture_answers(assignment)
    thin = {
        function: sorted(answers.get(function, {}))
        for function in ASSIGNMENTS[assignment]
        if sum(s.startswith("correct_") for s in answers.get(function, {})) < 2
        or sum(s.startswith("mistake_") for s in answers.get(function, {})) < 2
    }
    assert thin == {}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignment_names())
def test_corpus_earns_what_it_deserves(assignment, course_copy):
    """Do correct answers earn full marks, and each mistake lose points on its own function only?"""
    submissions = course_copy / "submitted"
    students = corpus_submissions(assignment, submissions)
    outcomes = grade([assignment], root=course_copy, submissions=submissions, workers=2)
    assert {o.student for o in outcomes} == set(students)
    assert [o for o in outcomes if o.status != "graded"] == []
    rows = cell_rows(course_copy)
    verdicts = corpus_verdicts(assignment, students, rows, ASSIGNMENTS[assignment])
    assert verdicts == {}
    # The same verdicts as one kernel gives (the learner's Validate, plain nbgrader), for
    # the reference and a correct answer and two mistakes.
    two_kernels = {(r["student_id"], r["grade_id"]): r["score"] for r in rows}
    for student in _sample(students):
        one_kernel = one_kernel_scores(course_copy, assignment, student)
        assert {g: two_kernels[(student, g)] for g in one_kernel} == one_kernel, student


def _sample(students: dict[str, tuple]) -> list[str]:
    """The reference, the first correct answer, and the first mistakes of the first and
    last functions."""
    by_kind = sorted(s for s in students if s != "reference")
    correct = [s for s in by_kind if students[s][1].startswith("correct")][:1]
    mistakes = [s for s in by_kind if students[s][1].startswith("mistake")]
    return ["reference", *correct, *mistakes[:1], *mistakes[-1:]]


def one_kernel_scores(root, assignment: str, student: str) -> dict[str, float]:
    """Each test cell's score when the whole submission runs in one plain kernel, as
    nbgrader's own autograde runs it: sanitized by nbgrader (tests restored), executed
    by nbclient, stderr warnings ignored, scored by nbgrader's determine_grade."""
    from nbclient import NotebookClient
    from nbgrader.preprocessors import IgnorePattern
    from nbgrader.utils import determine_grade

    from autograder.course import course_id, gradebook_url, load_config
    from autograder.gradebook import open_gradebook
    from autograder.plan import is_test
    from autograder.prepare import SANITIZE, nbgrader_steps, resources, sanitize
    from autograder.snapshot import RecordsGradebook, notebook_records

    config = load_config(root)
    url = gradebook_url(config, root)
    with open_gradebook(url, course_id(config)) as gb:
        records = notebook_records(gb, assignment, [assignment])
    path = root / "submitted" / student / assignment / f"{assignment}.ipynb"
    notebook, problem = sanitize(
        path.read_bytes(),
        assignment,
        nbgrader_steps(SANITIZE, config),
        resources(student, assignment, assignment, RecordsGradebook(records)),
        records[assignment].names,
    )
    assert notebook is not None, problem
    folder = root / "source" / assignment
    NotebookClient(
        notebook, timeout=60, allow_errors=True, resources={"metadata": {"path": str(folder)}}
    ).execute()
    notebook, _ = IgnorePattern(config=config).preprocess(notebook, {})
    return {
        cell.metadata["nbgrader"]["grade_id"]: determine_grade(cell)[0]
        for cell in notebook.cells
        if is_test(cell)
    }

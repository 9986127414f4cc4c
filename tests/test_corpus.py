"""Does the grading reward exactly what it should, on a corpus of student answers?

For each assignment the corpus holds, per graded function, correct answers in several
styles and common mistakes (tests/fixtures/answers/<assignment>/<function>/*.py). Each is
dropped into an otherwise correct submission and graded by the real pipeline (nbgrader's
preprocessors and gradebook, in the sandboxed grader).
"""

from __future__ import annotations

import concurrent.futures
import shutil

import pytest

from autograder.export import cell_rows
from autograder.grade import grade
from tests.conftest import ROOT, assignment_names
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


@pytest.fixture(scope="module")
def graded_corpus(tmp_path_factory):
    """The whole corpus, every assignment's, graded in one run as a term's submissions
    are: ``(root, students by assignment, outcomes, cell rows)``."""
    root = tmp_path_factory.mktemp("corpus") / "course"
    root.mkdir()
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    names = assignment_names()
    students = {name: corpus_submissions(name, root / "submitted") for name in names}
    outcomes = grade(names, root=root, workers=2)
    return root, students, outcomes, cell_rows(root)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignment_names())
def test_corpus_earns_what_it_deserves(assignment, graded_corpus):
    """Do correct answers earn full marks, and each mistake lose points on its own function
    only, and does one kernel (the learner's Validate, plain nbgrader) give the same
    verdicts as the grader's two, for the reference, a correct answer and a mistake?"""
    root, by_assignment, outcomes, rows = graded_corpus
    students = by_assignment[assignment]
    mine = [o for o in outcomes if o.assignment == assignment]
    assert {o.student for o in mine} == set(students)
    assert [o for o in mine if o.status != "graded"] == []
    rows = [r for r in rows if r["assignment"] == assignment]
    verdicts = corpus_verdicts(assignment, students, rows, ASSIGNMENTS[assignment])
    assert verdicts == {}
    two_kernels = {(r["student_id"], r["grade_id"]): r["score"] for r in rows}
    sample = _sample(students)
    # Each in a plain kernel of its own; two at a time, as the grader's two workers run.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        scores = pool.map(lambda s: one_kernel_scores(root, assignment, s), sample)
        for student, one_kernel in zip(sample, scores, strict=True):
            assert {g: two_kernels[(student, g)] for g in one_kernel} == one_kernel, student


def _sample(students: dict[str, tuple]) -> list[str]:
    """The reference, the first correct answer, and the first mistake of the last function."""
    by_kind = sorted(s for s in students if s != "reference")
    correct = [s for s in by_kind if students[s][1].startswith("correct")][:1]
    mistakes = [s for s in by_kind if students[s][1].startswith("mistake")]
    return ["reference", *correct, *mistakes[-1:]]


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

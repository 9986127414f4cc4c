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
    verdicts = corpus_verdicts(
        assignment, students, cell_rows(course_copy), ASSIGNMENTS[assignment]
    )
    assert verdicts == {}

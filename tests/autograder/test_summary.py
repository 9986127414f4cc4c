"""Does the run summary tell the instructor what happened, one line per submission?"""

from autograder.record import Outcome
from autograder.summary import summary


def test_summary_separates_autograded_points_from_those_awaiting_a_person():
    """Does a full autograded score read as full, with the written points shown apart?"""
    text = summary(
        [
            Outcome(
                "alice",
                "03_minus_sign",
                "graded",
                score=14.0,
                max_score=16.0,
                seconds=3.2,
                manual_points=2.0,
            )
        ]
    )
    row = next(line for line in text.splitlines() if line.startswith("alice"))
    assert "14.0/14.0" in row and row.split()[3] == "2"


def test_summary_gives_each_failure_its_reason_on_one_line():
    """Does a broken submission appear with its status and one-line reason, and get counted?"""
    outcomes = [
        Outcome(
            "bob",
            "01_likelihood",
            "failed",
            reason="01_likelihood.ipynb is missing",
            max_score=10.0,
        ),
        Outcome("cat", "01_likelihood", "unchanged", score=8.0, max_score=10.0),
    ]
    lines = summary(outcomes).splitlines()
    assert any(
        line.startswith("bob") and "failed: 01_likelihood.ipynb is missing" in line
        for line in lines
    )
    assert lines[-1].startswith("0 graded, 1 failed") and lines[-1].endswith("1 unchanged")

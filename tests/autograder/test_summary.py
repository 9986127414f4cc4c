"""Does the run summary tell the instructor what happened, one line per submission?"""

from autograder.record import Outcome
from autograder.summary import summary


def test_summary_separates_autograded_points_from_those_awaiting_a_person():
    """Does a full autograded score read as full, with the answers awaiting a person
    counted apart (not their points, which would read as a final total)?"""
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
                awaiting=1,
            ),
            Outcome("bob", "03_minus_sign", "graded", score=9.0, max_score=16.0, manual_points=2.0),
        ]
    )
    rows = {
        line.split()[0]: line.split() for line in text.splitlines() if line[:3] in ("ali", "bob")
    }
    assert rows["alice"][2] == "14.0/14.0" and rows["alice"][3] == "1"
    assert rows["bob"][2] == "9.0/14.0" and rows["bob"][3] == "-"
    assert text.splitlines()[-1].startswith("1 answer(s) of 1 submission(s) wait for a person")


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

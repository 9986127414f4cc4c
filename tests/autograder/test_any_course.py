"""Does `autograder grade` grade any nbgrader course as nbgrader itself does?

nbgrader's user guide ships a course inside the installed package: assignment ``ps1``
(two notebooks and an image), and the submissions of ``bitdiddle`` and ``hacker``. Its
tests are plain ``assert`` cells, one of which deletes an answer's name to check that
another answer uses it. Its config names no ``course_id``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbgrader
import pytest

from autograder.export import cell_rows
from autograder.grade import grade

GUIDE = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide"
STUDENTS = ("bitdiddle", "hacker")


def _course(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copytree(GUIDE / "source" / "ps1", root / "source" / "ps1")
    for student in STUDENTS:
        shutil.copytree(GUIDE / "submitted" / student / "ps1", root / "submitted" / student / "ps1")
    # No course_id: nbgrader's default applies.
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    return root


def _scores(root: Path) -> dict[tuple[str, str, str], float]:
    return {
        (r["student_id"], r["notebook"], r["grade_id"]): r["score"]
        for r in cell_rows(root)
        if r["assignment"] == "ps1"
    }


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The user guide's class graded by plain nbgrader and by the autograder."""
    plain = _course(tmp_path_factory.mktemp("plain") / "course")
    nbgrader_command = [sys.executable, "-m", "nbgrader"]
    # nbgrader runs `alembic` to make a gradebook: this environment's, on PATH.
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for step in (["generate_assignment", "ps1"], ["autograde", "ps1"]):
        subprocess.run(
            [*nbgrader_command, *step, "--force"],
            cwd=plain,
            check=True,
            capture_output=True,
            timeout=600,
            env=environment,
        )
    ours = _course(tmp_path_factory.mktemp("ours") / "course")
    outcomes = grade(["ps1"], root=ours, workers=2)
    return _scores(plain), _scores(ours), {o.student: o for o in outcomes}


@pytest.mark.slow
def test_every_cell_scores_as_plain_nbgrader_scores_it(both):
    """Does every graded cell of bitdiddle's and hacker's ps1 get nbgrader's own score?"""
    plain, ours, _ = both
    assert plain, "plain nbgrader graded nothing"
    assert ours == plain


@pytest.mark.slow
def test_the_guide_course_is_graded_without_failures(both):
    """Are both submissions graded (none failed), with the default course id?"""
    _, _, outcomes = both
    assert set(outcomes) == set(STUDENTS)
    assert {o.status for o in outcomes.values()} == {"graded"}, outcomes

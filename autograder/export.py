"""``autograder export``: the gradebook as two CSV files.

``scores.csv``  one row per submitted student and assignment:
                ``student_id,assignment,score,max_score``
``tests.csv``   one row per submitted student, assignment, notebook and graded cell:
                ``student_id,assignment,notebook,grade_id,score,max_score``

Both come from nbgrader's gradebook (so manual grades entered in formgrader count), and
both are written atomically: a reader never sees a half-written file.
"""

from __future__ import annotations

from pathlib import Path

from autograder.course import (
    CourseError,
    check_gradebook,
    course_id,
    csv_text,
    find_root,
    gradebook_url,
    load_config,
    write_all_atomically,
)

SCORE_FIELDS = ("student_id", "assignment", "score", "max_score")
TEST_FIELDS = ("student_id", "assignment", "notebook", "grade_id", "score", "max_score")


def _gradebook(root: Path):
    from nbgrader.api import Gradebook

    config = load_config(root)
    url = gradebook_url(config, root)
    check_gradebook(url, must_exist=True)
    return Gradebook(url, course_id(config))


def _number(value) -> float:
    return round(float(value or 0.0), 6)


def score_rows(root: Path) -> list[dict]:
    """One row per submitted student and assignment, sorted."""
    rows = []
    with _gradebook(root) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                rows.append(
                    {
                        "student_id": submission.student.id,
                        "assignment": assignment.name,
                        "score": _number(submission.score),
                        "max_score": _number(submission.max_score),
                    }
                )
    return sorted(rows, key=lambda r: (r["student_id"], r["assignment"]))


def cell_rows(root: Path) -> list[dict]:
    """One row per submitted student, assignment, notebook and graded cell, sorted."""
    rows = []
    with _gradebook(root) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        rows.append(
                            {
                                "student_id": submission.student.id,
                                "assignment": assignment.name,
                                "notebook": notebook.name,
                                "grade_id": grade.name,
                                "score": _number(grade.score),
                                "max_score": _number(grade.max_score),
                            }
                        )
    return sorted(
        rows, key=lambda r: (r["student_id"], r["assignment"], r["notebook"], r["grade_id"])
    )


def _csv(fields, rows) -> str:
    return csv_text(fields, rows)


def _rows_in(path: Path) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return max(0, sum(1 for line in handle if line.strip()) - 1)
    except OSError:
        return 0


def export(*, root: Path | None = None, out: Path | None = None) -> tuple[Path, Path]:
    """Write ``scores.csv`` and ``tests.csv`` into ``out`` (default ``<root>/grades``).

    Both files are replaced together or not at all. An export with no rows does not
    replace a ``scores.csv`` that has some: a gradebook with no submissions where there
    used to be grades is more likely a mistake than a class that vanished.
    """
    root = find_root(root) if root is None else Path(root).resolve()
    out = Path(out) if out is not None else root / "grades"
    scores, tests = score_rows(root), cell_rows(root)
    if out.exists() and not out.is_dir():
        raise CourseError(f"cannot write into {out}: it is a file, not a folder")
    previous = _rows_in(out / "scores.csv")
    if not scores and previous:
        raise CourseError(
            f"the gradebook has no submissions, but {out / 'scores.csv'} has {previous} "
            "row(s): not replaced (move it aside to export an empty gradebook)"
        )
    write_all_atomically(
        {
            out / "scores.csv": _csv(SCORE_FIELDS, scores),
            out / "tests.csv": _csv(TEST_FIELDS, tests),
        }
    )
    return out / "scores.csv", out / "tests.csv"

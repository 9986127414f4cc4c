"""``autograder export``: the gradebook as two CSV files.

``scores.csv``  one row per submitted student and assignment:
                ``student_id,assignment,score,max_score``
``tests.csv``   one row per submitted student, assignment, notebook and graded cell:
                ``student_id,assignment,notebook,grade_id,score,max_score``

Both come from nbgrader's gradebook (so manual grades entered in formgrader count), and
both are written atomically: a reader never sees a half-written file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.course import CourseError, find_root, load_config, write_atomically

SCORE_FIELDS = ("student_id", "assignment", "score", "max_score")
TEST_FIELDS = ("student_id", "assignment", "notebook", "grade_id", "score", "max_score")


def _gradebook(root: Path):
    from nbgrader.api import Gradebook

    config = load_config(root)
    url = config.CourseDirectory.get("db_url", "") or f"sqlite:///{root / 'gradebook.db'}"
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise CourseError(
            f"no gradebook at {url[len('sqlite:///') :]}: run `autograder grade` first"
        )
    return Gradebook(url, config.CourseDirectory.course_id)


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


def _write_csv(path: Path, fields, rows) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, buffer.getvalue())


def export(*, root: Path | None = None, out: Path | None = None) -> tuple[Path, Path]:
    """Write ``scores.csv`` and ``tests.csv`` into ``out`` (default ``<root>/grades``)."""
    root = find_root(root) if root is None else Path(root).resolve()
    out = Path(out) if out is not None else root / "grades"
    scores, tests = score_rows(root), cell_rows(root)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CourseError(f"cannot create {out}: {error.strerror}") from None
    _write_csv(out / "scores.csv", SCORE_FIELDS, scores)
    _write_csv(out / "tests.csv", TEST_FIELDS, tests)
    return out / "scores.csv", out / "tests.csv"

"""``autograder export``: the gradebook as two CSV files.

``scores.csv``  one row per student in the gradebook and assignment, submitted or not
                (nbgrader's ``export`` does the same): the contract's
                ``student_id,assignment,score,max_score`` first, then ``submitted``
                (``true``/``false``), ``timestamp`` (UTC, ISO 8601, empty when unknown),
                ``raw_score`` (before the late penalty), ``late_penalty`` and
                ``needs_manual_grade`` (``true`` while an answer waits for a person in
                formgrader: the score is not final). ``score`` is ``raw_score`` minus
                the late penalty, never below 0, as in ``nbgrader export``.
``tests.csv``   one row per submitted student, assignment, notebook and graded cell:
                ``student_id,assignment,notebook,grade_id,score,max_score``, then
                ``needs_manual_grade``

Both come from nbgrader's gradebook (so manual grades entered in formgrader count), and
both are written atomically: a reader never sees a half-written file.
"""

from __future__ import annotations

from pathlib import Path

from autograder.course import (
    CourseError,
    check_assignments,
    check_gradebook,
    course_id,
    csv_text,
    did_you_mean,
    find_root,
    gradebook_url,
    load_config,
    write_all_atomically,
)
from autograder.gradebook import awaiting_grades

# The contract's columns (CURRICULUM.md) come first and in this order; what nbgrader's
# export adds, and what it lacks, after them.
SCORE_FIELDS = (
    "student_id",
    "assignment",
    "score",
    "max_score",
    "submitted",
    "timestamp",
    "raw_score",
    "late_penalty",
    "needs_manual_grade",
)
TEST_FIELDS = (
    "student_id",
    "assignment",
    "notebook",
    "grade_id",
    "score",
    "max_score",
    "needs_manual_grade",
)


def _gradebook(root: Path):
    from nbgrader.api import Gradebook

    config = load_config(root)
    url = gradebook_url(config, root)
    check_gradebook(url, must_exist=True)
    return Gradebook(url, course_id(config))


def _number(value) -> float:
    return round(float(value or 0.0), 6)


def _flag(value) -> str:
    return "true" if value else "false"


def check_students(gb, requested: list[str] | None) -> list[str] | None:
    """``requested`` if every id is a student of the gradebook, else one line naming the
    unknown ones (with the closest id); None stands for everybody."""
    if not requested:
        return None
    known = [student.id for student in gb.students]
    unknown = [student for student in requested if student not in known]
    if unknown:
        hint = did_you_mean(unknown[0], known) if len(unknown) == 1 else ""
        raise CourseError(f"no such student in the gradebook: {', '.join(unknown)}{hint}")
    return list(dict.fromkeys(requested))


def score_rows(
    root: Path, assignments: list[str] | None = None, students: list[str] | None = None
) -> list[dict]:
    """One row per student of the gradebook and assignment (``students`` and
    ``assignments`` narrow it), sorted; 0 and ``submitted=false`` where nothing came."""
    rows = []
    with _gradebook(root) as gb:
        wanted = check_students(gb, students)
        roster = [s.id for s in gb.students if wanted is None or s.id in wanted]
        for assignment in gb.assignments:
            if assignments and assignment.name not in assignments:
                continue
            submitted = {s.student.id: s for s in assignment.submissions}
            for student in roster:
                submission = submitted.get(student)
                if submission is None:
                    rows.append(
                        {
                            "student_id": student,
                            "assignment": assignment.name,
                            "score": 0.0,
                            "max_score": _number(assignment.max_score),
                            "submitted": "false",
                            "timestamp": "",
                            "raw_score": 0.0,
                            "late_penalty": 0.0,
                            "needs_manual_grade": "false",
                        }
                    )
                    continue
                raw = _number(submission.score)
                penalty = _number(submission.late_submission_penalty)
                stamp = submission.timestamp
                rows.append(
                    {
                        "student_id": student,
                        "assignment": assignment.name,
                        "score": _number(max(0.0, raw - penalty)),
                        "max_score": _number(submission.max_score),
                        "submitted": "true",
                        "timestamp": stamp.isoformat() if stamp is not None else "",
                        "raw_score": raw,
                        "late_penalty": penalty,
                        "needs_manual_grade": _flag(awaiting_grades(submission)),
                    }
                )
    return sorted(rows, key=lambda r: (r["student_id"], r["assignment"]))


def cell_rows(
    root: Path, assignments: list[str] | None = None, students: list[str] | None = None
) -> list[dict]:
    """One row per submitted student, assignment, notebook and graded cell, sorted."""
    rows = []
    with _gradebook(root) as gb:
        wanted = check_students(gb, students)
        for assignment in gb.assignments:
            if assignments and assignment.name not in assignments:
                continue
            for submission in assignment.submissions:
                if wanted is not None and submission.student.id not in wanted:
                    continue
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
                                "needs_manual_grade": _flag(grade.needs_manual_grade),
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


def export(
    assignments: list[str] | None = None,
    *,
    students: list[str] | None = None,
    root: Path | None = None,
    out: Path | None = None,
) -> tuple[Path, Path]:
    """Write ``scores.csv`` and ``tests.csv`` into ``out`` (default ``<root>/grades``).

    ``assignments`` and ``students`` narrow the rows (default: everybody, every assignment
    in the gradebook); an unknown name is a one-line :class:`CourseError`. Both files are
    replaced together or not at all. A whole-class export in which nobody submitted
    anything does not replace a ``scores.csv`` that has rows: a gradebook with no
    submissions where there used to be grades is more likely a mistake than a class that
    vanished.
    """
    root = find_root(root) if root is None else Path(root).resolve()
    names = check_assignments(root, assignments) if assignments else None
    out = Path(out) if out is not None else root / "grades"
    scores = score_rows(root, names, students)
    tests = cell_rows(root, names, students)
    if out.exists() and not out.is_dir():
        raise CourseError(f"cannot write into {out}: it is a file, not a folder")
    previous = _rows_in(out / "scores.csv")
    if not names and not students and not tests and previous:
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

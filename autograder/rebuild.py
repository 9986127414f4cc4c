"""Remaking an assignment's gradebook records, keeping what people entered.

nbgrader cannot add or remove graded cells (or notebooks) once submissions are recorded.
``autograder grade ASSIGNMENT --rebuild`` does it in three steps: :func:`take_apart`
keeps what people entered (hand grades, comments, extensions, the due date) in a file
under ``.autograder/`` and removes the assignment's records; the run remakes them from
``source/`` and regrades every submission; the recorder puts back what was kept
(:meth:`Kept.restore`) wherever its cell still exists. The file outlives a run killed
midway, so the next run finishes the restoring.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.course import CourseError, write_atomically
from autograder.gradebook import _recorded_sources, _sources_table, open_gradebook

#: Where what people entered waits while an assignment's records are remade.
KEPT_FOLDER = ".autograder"


def kept_path(root: Path, assignment: str) -> Path:
    return Path(root) / KEPT_FOLDER / f"rebuild-{assignment}.json"


@dataclass
class Kept:
    """What people entered for one assignment, kept while its records are remade.

    ``grades`` and ``comments`` are ``[student, notebook, cell, value...]`` lists (JSON);
    ``pending`` the students whose submission has not been regraded and restored yet.
    """

    assignment: str
    duedate: str | None = None
    grades: list[list] = field(default_factory=list)  # student, notebook, cell, manual, extra
    comments: list[list] = field(default_factory=list)  # student, notebook, cell, text
    submissions: dict[str, dict] = field(default_factory=dict)  # timestamp, extension
    flagged: list[list] = field(default_factory=list)  # student, notebook
    pending: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # "bob: written_old (no longer ...)"
    restored_grades: int = 0
    restored_comments: int = 0

    def save(self, root: Path) -> None:
        write_atomically(kept_path(root, self.assignment), json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, root: Path, assignment: str) -> Kept | None:
        try:
            return cls(**json.loads(kept_path(root, assignment).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def restore(self, gb, student: str) -> None:
        """Put back ``student``'s hand grades, comments, extension and flags wherever
        their cell still exists; what cannot go back is added to ``dropped``."""
        from nbgrader.api import MissingEntry

        if student not in self.pending:
            return
        submission = gb.find_submission(self.assignment, student)
        saved = self.submissions.get(student, {})
        if saved.get("extension") is not None:
            submission.extension = datetime.timedelta(seconds=saved["extension"])
        if submission.timestamp is None and saved.get("timestamp"):
            submission.timestamp = datetime.datetime.fromisoformat(saved["timestamp"])
        for who, notebook, cell, manual, extra in self.grades:
            if who != student:
                continue
            try:
                grade = gb.find_grade(cell, notebook, self.assignment, student)
            except MissingEntry:
                self.dropped.append(f"{student}: the hand grade of {notebook}/{cell}")
                continue
            grade.manual_score, grade.extra_credit = manual, extra
            self.restored_grades += 1
        for who, notebook, cell, text in self.comments:
            if who != student:
                continue
            try:
                comment = gb.find_comment(cell, notebook, self.assignment, student)
            except MissingEntry:
                self.dropped.append(f"{student}: the comment on {notebook}/{cell}")
                continue
            comment.manual_comment = text
            self.restored_comments += 1
        for who, notebook in self.flagged:
            if who == student:
                try:
                    gb.find_submission_notebook(notebook, self.assignment, student).flagged = True
                except MissingEntry:
                    self.dropped.append(f"{student}: the flag on {notebook}")
        gb.db.commit()
        self.pending.remove(student)


def take_apart(root: Path, db_url: str, course_id: str, assignment: str, present: set[str]) -> Kept:
    """Keep what people entered for ``assignment`` in a file, then remove its records.

    ``present`` are the students whose submission of it this run grades; the rebuild is
    refused (nothing changed) when the gradebook holds a submission outside it, which
    would otherwise lose its grades.
    """
    from nbgrader.api import MissingEntry

    earlier = Kept.load(root, assignment)
    with open_gradebook(db_url, course_id) as gb:
        try:
            record = gb.find_assignment(assignment)
        except MissingEntry:  # nothing recorded yet, or a rebuild killed midway
            kept = earlier or Kept(assignment)
            kept.save(root)
            return kept
        missing = sorted(s.student.id for s in record.submissions if s.student.id not in present)
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise CourseError(
                f"cannot rebuild {assignment}: {len(missing)} of its submissions in the "
                f"gradebook ({shown}) are not in the submissions folder, and would lose "
                "their grades; grade a folder that holds every submission of it"
            )
        kept = Kept(
            assignment,
            duedate=record.duedate.isoformat() if record.duedate is not None else None,
        )
        for submission in record.submissions:
            student = submission.student.id
            kept.pending.append(student)
            kept.submissions[student] = {
                "timestamp": submission.timestamp.isoformat() if submission.timestamp else None,
                "extension": submission.extension.total_seconds()
                if submission.extension is not None
                else None,
            }
            for notebook in submission.notebooks:
                if notebook.flagged:
                    kept.flagged.append([student, notebook.name])
                for grade in notebook.grades:
                    if grade.manual_score is not None or grade.extra_credit is not None:
                        kept.grades.append(
                            [student, notebook.name, grade.name, grade.manual_score,
                             grade.extra_credit]
                        )  # fmt: skip
                for comment in notebook.comments:
                    if comment.manual_comment is not None:
                        kept.comments.append(
                            [student, notebook.name, comment.name, comment.manual_comment]
                        )
        if earlier is not None:  # a rebuild killed before it restored everything
            kept.grades += [g for g in earlier.grades if g[0] in earlier.pending]
            kept.comments += [c for c in earlier.comments if c[0] in earlier.pending]
            kept.pending += [s for s in earlier.pending if s not in kept.pending]
        kept.save(root)  # before anything is removed
        gb.remove_assignment(assignment)
    with open_gradebook(db_url, course_id) as gb:
        engine = gb.engine
        _recorded_sources(engine)
        table = _sources_table()
        with engine.begin() as connection:
            connection.execute(table.delete().where(table.c.assignment == assignment))
    return kept


def restore_duedate(db_url: str, course_id: str, kept: Kept) -> None:
    """Give the remade assignment record its due date back."""
    if kept.duedate is None:
        return
    with open_gradebook(db_url, course_id) as gb:
        gb.update_or_create_assignment(kept.assignment, duedate=kept.duedate)

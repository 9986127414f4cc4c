"""The coordinator's writes of one graded submission: :class:`SubmissionWriter`, a
handful of bulk statements on nbgrader's own tables, with nbgrader's rules."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass
class NotebookIds:
    """One notebook's rows in the gradebook, by id (read once per run)."""

    id: str
    grade_cells: dict[str, str]  # cell id -> name
    solution_cells: dict[str, str]
    task_cells: dict[str, str]
    max_scores: dict[str, float]  # graded or task cell id -> points


@dataclass
class AssignmentIds:
    id: str
    has_duedate: bool
    notebooks: dict[str, NotebookIds]


@dataclass
class Saved:
    """What :meth:`SubmissionWriter.save` wrote, for the summary."""

    submission_id: str
    score: float = 0.0  # nbgrader's SubmittedAssignment.score
    max_score: float = 0.0  # nbgrader's SubmittedAssignment.max_score
    manual_points: float = 0.0  # points of the cells graded by hand
    auto_score: float = 0.0  # points the tests awarded
    awaiting: int = 0  # graded cells waiting for a person


def grade_score(manual, auto, extra) -> float:
    """nbgrader's ``Grade.score`` (a SQL expression there), from a row's values."""
    extra = extra if extra is not None else 0.0
    if manual is not None:
        return float(manual + extra)
    if auto is not None:
        return float(auto + extra)
    return 0.0


def _insert_ignoring(connection, table, rows) -> None:
    """``INSERT`` that skips rows already there (another run added them meanwhile)."""
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
        connection.execute(insert(table).on_conflict_do_nothing(), rows)
        return
    import sqlalchemy

    for row in rows:
        key = next(iter(row))
        exists = connection.execute(
            sqlalchemy.select(table.c[key]).where(table.c[key] == row[key])
        ).first()
        if exists is None:
            connection.execute(table.insert(), [row])


#: A submission's time to clear (its timestamp.txt could not be read).
NO_TIME = object()


class SubmissionWriter:
    """The coordinator's writes for one submission, in the caller's transaction, with
    SQLAlchemy Core on nbgrader's tables: its rows made when missing (as nbgrader's
    ``add_submission`` makes them), every grade and comment written, a handful of
    statements in all, with nbgrader's rules (``SaveAutoGrades``: a cell with a hand
    grade, or without an auto score, waits for a person; ``AssignLatePenalties``)."""

    def __init__(self, config):
        from nbgrader.preprocessors import AssignLatePenalties

        self.late = AssignLatePenalties(config=config)
        self.late.init_plugin()
        self.assignments: dict[str, AssignmentIds] = {}
        self._statements()

    def _statements(self) -> None:
        """The statements of the hot path, built once (SQLAlchemy caches their SQL)."""
        import sqlalchemy
        from nbgrader.api import Comment, Grade, SubmittedAssignment, SubmittedNotebook

        bind = sqlalchemy.bindparam
        submissions, notebooks = SubmittedAssignment.__table__, SubmittedNotebook.__table__
        grades, comments = Grade.__table__, Comment.__table__
        self._find_submission = (
            sqlalchemy.select(submissions.c.id)
            .where(submissions.c.assignment_id == bind("a"), submissions.c.student_id == bind("s"))
        )  # fmt: skip
        self._find_grades = (
            sqlalchemy.select(
                notebooks.c.id.label("submitted"),
                notebooks.c.notebook_id,
                notebooks.c.late_submission_penalty,
                grades.c.id,
                grades.c.cell_id,
                grades.c.auto_score,
                grades.c.manual_score,
                grades.c.extra_credit,
                grades.c.needs_manual_grade,
            )
            .select_from(notebooks.outerjoin(grades))
            .where(notebooks.c.assignment_id == bind("s"))
        )
        self._update_grades = (
            grades.update()
            .where(grades.c.id == bind("g"))
            .values(auto_score=bind("a"), needs_manual_grade=bind("m"))
        )
        self._update_comments = (
            comments.update()
            .where(comments.c.notebook_id == bind("n"), comments.c.cell_id == bind("c"))
            .values(auto_comment=bind("auto_comment"))
        )

    def ids(self, connection, assignment: str) -> AssignmentIds:
        known = self.assignments.get(assignment)
        if known is None:
            from nbgrader.api import Assignment
            from sqlalchemy.orm import Session

            with Session(bind=connection) as session:
                record = session.query(Assignment).filter(Assignment.name == assignment).one()
                notebooks = {}
                for notebook in record.notebooks:
                    scored = [*notebook.grade_cells, *notebook.task_cells]
                    notebooks[notebook.name] = NotebookIds(
                        id=notebook.id,
                        grade_cells={c.id: c.name for c in notebook.grade_cells},
                        solution_cells={c.id: c.name for c in notebook.solution_cells},
                        task_cells={c.id: c.name for c in notebook.task_cells},
                        max_scores={c.id: float(c.max_score or 0.0) for c in scored},
                    )
                known = self.assignments[assignment] = AssignmentIds(
                    record.id, record.duedate is not None, notebooks
                )
        return known

    def ensure(self, connection, assignment: str, student: str, timestamp=None) -> str:
        """The submission's id, its rows made when missing (grades and comments empty,
        as nbgrader's ``add_submission`` makes them). ``timestamp``: a time (a datetime,
        or text nbgrader parses) is recorded; :data:`NO_TIME` clears the one recorded
        (a timestamp.txt that cannot be read: graded as on time); None keeps it, as
        nbgrader keeps a time recorded earlier when the submission has none."""
        from nbgrader import utils
        from nbgrader.api import (
            Comment,
            Grade,
            Student,
            SubmittedAssignment,
            SubmittedNotebook,
            new_uuid,
        )

        ids = self.ids(connection, assignment)
        stamp = None
        if isinstance(timestamp, str) and timestamp:
            try:
                stamp = utils.parse_utc(timestamp)
            except Exception:  # not a date nbgrader can parse: graded without one
                stamp = None
        elif timestamp is not None and timestamp is not NO_TIME:
            stamp = timestamp
        table = SubmittedAssignment.__table__
        found = connection.execute(self._find_submission, {"a": ids.id, "s": student}).scalar()
        if found is not None:  # and so the student is there too
            if stamp is not None or timestamp is NO_TIME:
                connection.execute(
                    table.update().where(table.c.id == found).values(timestamp=stamp)
                )
            return found
        _insert_ignoring(connection, Student.__table__, [{"id": student}])
        found = new_uuid()
        connection.execute(
            table.insert().values(
                id=found, assignment_id=ids.id, student_id=student, timestamp=stamp
            )
        )
        notebooks, grades, comments = [], [], []
        for record in ids.notebooks.values():
            made = new_uuid()
            notebooks.append(
                {"id": made, "assignment_id": found, "notebook_id": record.id, "flagged": False}
            )
            for cell in [*record.grade_cells, *record.task_cells]:
                grades.append({"id": new_uuid(), "cell_id": cell, "notebook_id": made})
            for cell in [*record.solution_cells, *record.task_cells]:
                comments.append({"id": new_uuid(), "cell_id": cell, "notebook_id": made})
        connection.execute(SubmittedNotebook.__table__.insert(), notebooks)
        for table, rows in ((Grade.__table__, grades), (Comment.__table__, comments)):
            if rows:
                columns = {"auto_score": None, "manual_score": None, "extra_credit": None}
                if table is Grade.__table__:
                    rows = [{**columns, "needs_manual_grade": True, **row} for row in rows]
                else:
                    rows = [{"auto_comment": None, "manual_comment": None, **row} for row in rows]
                connection.execute(table.insert(), rows)
        return found

    def save(
        self,
        connection,
        assignment: str,
        student: str,
        timestamp,
        grades: dict[str, dict],
        comments: dict[str, dict],
        *,
        earlier=None,
        answers: dict | None = None,
        zero_all: bool = False,
    ) -> Saved:
        """Write a submission's grades (notebook -> grade_id -> auto score) and comments
        in the caller's transaction. A notebook without grades (not readable, or
        ``zero_all``) scores 0 on every graded cell. ``earlier()`` gives the answers a
        person graded before, ``answers`` the new ones (``{(notebook, grade_id):
        source}``): a hand grade of an unchanged answer stays final."""
        from nbgrader.api import MissingEntry

        ids = self.ids(connection, assignment)
        submission = self.ensure(connection, assignment, student, timestamp)
        saved = Saved(submission)
        names = {record.id: name for name, record in ids.notebooks.items()}
        submitted = {}  # submitted notebook id -> notebook name
        rows = {name: {} for name in ids.notebooks}  # name -> cell name -> grade row
        penalized = set()  # submitted notebooks with a late penalty recorded
        for row in connection.execute(self._find_grades, {"s": submission}):
            name = names[row.notebook_id]
            submitted[row.submitted] = name
            if row.late_submission_penalty is not None:
                penalized.add(row.submitted)
            if row.id is None:
                continue
            record = ids.notebooks[name]
            cell = record.grade_cells.get(row.cell_id) or record.task_cells.get(row.cell_id)
            rows[name][cell] = {
                "id": row.id,
                "cell_id": row.cell_id,
                "manual_score": row.manual_score,
                "extra_credit": row.extra_credit,
                "auto_score": row.auto_score,
                "needs_manual_grade": row.needs_manual_grade,
                "changed": False,
            }
        by_name = {name: nb_id for nb_id, name in submitted.items()}
        comment_updates = []
        for name, by_cell in rows.items():
            scores = None if zero_all else grades.get(name)
            if scores is None:
                for grade in by_cell.values():
                    grade.update(auto_score=0, needs_manual_grade=False, changed=True)
                continue
            for grade_id, auto_score in scores.items():  # SaveAutoGrades' rule
                if grade_id not in by_cell:
                    raise MissingEntry(f"no grade {grade_id} for {student}/{assignment}/{name}")
                grade = by_cell[grade_id]
                grade.update(
                    auto_score=auto_score,
                    needs_manual_grade=grade["manual_score"] is not None or auto_score is None,
                    changed=True,
                )
            record = ids.notebooks[name]
            cells = {v: k for k, v in {**record.solution_cells, **record.task_cells}.items()}
            for grade_id, text in comments.get(name, {}).items():
                if grade_id not in cells:
                    raise MissingEntry(f"no comment {grade_id} for {student}/{assignment}/{name}")
                comment_updates.append(
                    {"n": by_name[name], "c": cells[grade_id], "auto_comment": text}
                )
        # nbgrader asks for every hand grade to be reviewed after a regrade; one given to
        # an answer that has not changed since stays final.
        review = [
            (name, grade_id, grade)
            for name, by_cell in rows.items()
            for grade_id, grade in by_cell.items()
            if grade["needs_manual_grade"]
            and grade["manual_score"] is not None
            and grade_id in ids.notebooks[name].solution_cells.values()
        ]
        if review and earlier is not None:
            before, now = earlier(), answers or {}
            for name, grade_id, grade in review:
                key = (name, grade_id)
                if key in before and now.get(key) == before[key]:
                    grade.update(needs_manual_grade=False, changed=True)
        changed = [g for by_cell in rows.values() for g in by_cell.values() if g["changed"]]
        if changed:
            connection.execute(
                self._update_grades,
                [
                    {"g": g["id"], "a": g["auto_score"], "m": bool(g["needs_manual_grade"])}
                    for g in changed
                ],
            )
        if comment_updates:
            connection.execute(self._update_comments, comment_updates)
        if not zero_all:
            graded = [nb_id for nb_id, name in submitted.items() if name in grades]
            self._late_penalties(connection, submission, student, graded, penalized, ids)
        for name, by_cell in rows.items():
            record = ids.notebooks[name]
            written = set(record.solution_cells.values())
            for grade_id, grade in by_cell.items():
                points = record.max_scores.get(grade["cell_id"], 0.0)
                score = grade_score(
                    grade["manual_score"], grade["auto_score"], grade["extra_credit"]
                )
                saved.score += score
                saved.max_score += points
                if grade_id in written:
                    saved.manual_points += points
                else:
                    saved.auto_score += score
                saved.awaiting += bool(grade["needs_manual_grade"])
        return saved

    def _late_penalties(self, connection, submission, student, graded, penalized, ids) -> None:
        """nbgrader's AssignLatePenalties, for each notebook that was graded."""
        import sqlalchemy
        from nbgrader.api import SubmittedAssignment, SubmittedNotebook
        from sqlalchemy.orm import Session

        if not graded:
            return
        table = SubmittedNotebook.__table__
        reset = [notebook for notebook in graded if notebook in penalized]
        if reset:  # nbgrader resets the penalty of every notebook it grades
            connection.execute(
                table.update().where(table.c.id.in_(reset)).values(late_submission_penalty=None)
            )
        if not ids.has_duedate:
            return
        with Session(bind=connection) as session:
            record = session.get(SubmittedAssignment, submission)
            late = record.total_seconds_late
            if late <= 0:
                return
            for notebook in session.scalars(
                sqlalchemy.select(SubmittedNotebook).where(SubmittedNotebook.id.in_(graded))
            ):
                penalty = self.late.plugin_inst.late_submission_penalty(
                    student, notebook.score, late
                )
                if penalty is not None:
                    notebook.late_submission_penalty = self.late._check_late_penalty(
                        notebook, penalty
                    )
            session.flush()

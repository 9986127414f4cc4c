"""The gradebook: nbgrader's database, and its assignment records kept in line with source/.

nbgrader puts a submission's test cells back from the gradebook's records, so the
records must match ``source/``: they are made when missing, and remade when ``source/``
changed since they were made (a fixed test, new points), as ``nbgrader
generate_assignment`` would. Each assignment's source digest is kept in a table of the
gradebook's own database (``autograder_sources``).

nbgrader cannot add or remove graded cells (or notebooks) once submissions are recorded.
``autograder grade ASSIGNMENT --rebuild`` does it in three steps: :func:`take_apart`
keeps what people entered (hand grades, comments, extensions, the due date) in a file
under ``.autograder/`` and removes the assignment's records; the run remakes them from
``source/`` and regrades every submission; the recorder puts back what was kept
(:meth:`Kept.restore`) wherever its cell still exists. The file outlives a run killed
midway, so the next run finishes the restoring.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import logging
import os
import socket
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbgrader import api

from autograder.course import CourseError, write_atomically
from autograder.discover import digest_folder

#: While a grading run lasts: one engine per database URL, its tables known to exist.
_shared: dict[str, object] | None = None
#: nbgrader's modules that open the gradebook themselves (the grader's own runs of
#: ``nbgrader generate_assignment`` while it brings the records in line with source/).
_PREPROCESSORS = (
    "nbgrader.preprocessors.overwritecells",
    "nbgrader.preprocessors.overwritekernelspec",
    "nbgrader.preprocessors.saveautogrades",
    "nbgrader.preprocessors.latesubmissions",
    "nbgrader.preprocessors.getgrades",
)


class Gradebook(api.Gradebook):
    """nbgrader's Gradebook; during :func:`shared_engines`, one engine per database.

    nbgrader's Gradebook makes a new engine each time it is opened, checks every table
    and disposes of the engine when closed: about 10 ms, several times per notebook, on
    the one thread that records. Within a run the database does not change under the
    grader, so the engine and the check are made once.
    """

    def __init__(self, db_url: str, course_id: str = "default_course", authenticator=None):
        self._keep_engine = _shared is not None
        if _shared is None or db_url not in _shared:
            super().__init__(db_url, course_id, authenticator)
            if _shared is not None:
                _shared[db_url] = self.engine
            return
        from sqlalchemy.orm import scoped_session, sessionmaker

        self.engine = _shared[db_url]
        self.db = scoped_session(sessionmaker(autoflush=True, bind=self.engine, future=True))
        self.check_course(course_id=course_id)
        self.course_id = course_id
        self.authenticator = authenticator

    def close(self):
        if self._keep_engine:
            self.db.remove()  # the engine stays for the rest of the run
        else:
            super().close()


@contextlib.contextmanager
def shared_engines():
    """For the length of a grading run: every gradebook the grader or nbgrader's
    preprocessors open shares one engine per database."""
    global _shared
    modules = [importlib.import_module(name) for name in _PREPROCESSORS]
    previous = [module.Gradebook for module in modules]
    _shared = {}
    for module in modules:
        module.Gradebook = Gradebook
    try:
        yield
    finally:
        engines, _shared = _shared, None
        for module, original in zip(modules, previous, strict=True):
            module.Gradebook = original
        for engine in engines.values():
            engine.dispose()


def open_gradebook(db_url: str, course_id: str):
    """nbgrader's :class:`~nbgrader.api.Gradebook` (a context manager)."""
    return Gradebook(db_url, course_id)


def _sources_table():
    import sqlalchemy

    metadata = sqlalchemy.MetaData()
    return sqlalchemy.Table(
        "autograder_sources",
        metadata,
        sqlalchemy.Column("assignment", sqlalchemy.String(128), primary_key=True),
        sqlalchemy.Column("digest", sqlalchemy.String(64), nullable=False),
    )


def _recorded_sources(engine) -> dict[str, str]:
    """Each assignment's source digest when its gradebook records were last made."""
    import sqlalchemy

    table = _sources_table()
    table.create(engine, checkfirst=True)
    with engine.begin() as connection:
        rows = connection.execute(sqlalchemy.select(table.c.assignment, table.c.digest))
        return {assignment: digest for assignment, digest in rows}


def _record_source(engine, assignment: str, digest: str) -> None:
    table = _sources_table()
    with engine.begin() as connection:
        connection.execute(table.delete().where(table.c.assignment == assignment))
        connection.execute(table.insert().values(assignment=assignment, digest=digest))


@dataclass
class Records:
    """What :func:`ensure_assignments` found and did."""

    notebooks: dict[str, list[str]] = field(default_factory=dict)  # assignment -> notebooks
    sources: dict[str, str] = field(default_factory=dict)  # assignment -> source digest
    resynced: list[str] = field(default_factory=list)  # remade since they were last graded


def ensure_assignments(root: Path, db_url: str, course_id: str, names: list[str]) -> Records:
    """Bring the gradebook's records of ``names`` in line with ``source/``."""
    from nbgrader.api import MissingEntry

    from autograder.release import generate_student_versions

    sources = {name: digest_folder(root / "source" / name) for name in names}
    missing, changed = [], []
    with open_gradebook(db_url, course_id) as gb:
        recorded = _recorded_sources(gb.engine)
        for name in names:
            try:
                gb.find_assignment(name)
            except MissingEntry:
                missing.append(name)
                continue
            if recorded.get(name) != sources[name]:
                changed.append(name)
    for name in missing + changed:
        with tempfile.TemporaryDirectory(prefix="autograder-sync-") as scratch:
            try:
                generate_student_versions(root, [name], Path(scratch), db_url=db_url)
            except CourseError as error:
                if not any(
                    words in str(error)
                    for words in ("Cannot add or remove cells", "Cannot modify existing")
                ):
                    raise
                raise CourseError(
                    f"source/{name} adds or removes graded cells or notebooks, but "
                    "submissions of it are already in the gradebook; nbgrader cannot change "
                    f"the set of cells in place: run `autograder grade {name} --rebuild` to "
                    "remake its records from source/ and regrade it (hand grades and "
                    "comments on cells that still exist are kept)"
                ) from None
        with open_gradebook(db_url, course_id) as gb:
            _record_source(gb.engine, name, sources[name])
    with open_gradebook(db_url, course_id) as gb:
        notebooks = {
            name: sorted(nb.name for nb in gb.find_assignment(name).notebooks) for name in names
        }
    resynced = [name for name in changed if recorded.get(name) is not None]
    return Records(notebooks=notebooks, sources=sources, resynced=resynced)


def has_submission(gb, student: str, assignment: str) -> bool:
    from nbgrader.api import MissingEntry

    try:
        gb.find_submission(assignment, student)
        return True
    except MissingEntry:
        return False


def submitted_students(gb, assignment: str) -> list[str]:
    """Every student with a submission of ``assignment`` in the gradebook, sorted."""
    return sorted(s.student.id for s in gb.find_assignment(assignment).submissions)


def release_gradebooks(steps) -> None:
    """Roll back and close the gradebook an nbgrader preprocessor left open when it raised
    (it would hold SQLite's write lock, and no later write could go through)."""
    for step in steps:
        gradebook = getattr(step, "gradebook", None)
        if gradebook is None:
            continue
        try:
            gradebook.db.rollback()
            gradebook.close()
        except Exception:
            logging.getLogger("autograder").debug("closing a gradebook", exc_info=True)
        step.gradebook = None


# -- rebuilding an assignment's records ------------------------------------------------
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


def awaiting_grades(submission) -> int:
    """How many of a submission's graded cells wait for a person in formgrader: nbgrader's
    ``needs_manual_grade`` (a written answer nobody has scored, or a hand grade to review)."""
    return sum(bool(grade.needs_manual_grade) for nb in submission.notebooks for grade in nb.grades)


# -- the gradebook as data, for the workers; bulk writes, for the coordinator ----------
@dataclass
class SourceCellRecord:
    """One of a notebook's cells as the gradebook knows it (nbgrader's ``SourceCell``)."""

    name: str
    cell_type: str
    locked: bool
    checksum: str | None
    source: str


@dataclass
class ScoredCellRecord:
    """A graded or task cell: its name and points (nbgrader's ``GradeCell``, ``TaskCell``)."""

    name: str
    max_score: float


@dataclass
class NotebookRecords:
    """What nbgrader's sanitizing preprocessors read of one notebook's gradebook records,
    read once per run and sent to wherever notebooks are graded, as data."""

    name: str
    kernelspec: str | None
    source_cells: list[SourceCellRecord]  # in the gradebook's order
    grade_cells: list[ScoredCellRecord]
    solution_cells: list[ScoredCellRecord]
    task_cells: list[ScoredCellRecord]

    @property
    def names(self) -> set[str]:
        return {cell.name for cell in self.source_cells}


def notebook_records(gb, assignment: str, names: list[str]) -> dict[str, NotebookRecords]:
    """The records of ``assignment``'s notebooks ``names``, as data."""
    records = {}
    for name in names:
        notebook = gb.find_notebook(name, assignment)
        records[name] = NotebookRecords(
            name=name,
            kernelspec=notebook.kernelspec,
            source_cells=[
                SourceCellRecord(c.name, c.cell_type, bool(c.locked), c.checksum, c.source)
                for c in notebook.source_cells
            ],
            grade_cells=[ScoredCellRecord(c.name, c.max_score) for c in notebook.grade_cells],
            solution_cells=[ScoredCellRecord(c.name, 0.0) for c in notebook.solution_cells],
            task_cells=[ScoredCellRecord(c.name, c.max_score) for c in notebook.task_cells],
        )
    return records


class RecordsGradebook:
    """The part of nbgrader's Gradebook that its sanitizing preprocessors use
    (``OverwriteCells``, ``OverwriteKernelspec``), answered from :class:`NotebookRecords`:
    no database where notebooks are graded."""

    def __init__(self, records: dict[str, NotebookRecords]):
        self.records = records

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        pass

    def find_notebook(self, notebook: str, assignment: str) -> NotebookRecords:
        from nbgrader.api import MissingEntry

        try:
            return self.records[notebook]
        except KeyError:
            raise MissingEntry(f"no such notebook: {assignment}/{notebook}") from None

    def _find(self, cells, name: str, notebook: str, assignment: str):
        from nbgrader.api import MissingEntry

        for cell in cells:
            if cell.name == name:
                return cell
        raise MissingEntry(f"no such cell: {assignment}/{notebook}/{name}")

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> SourceCellRecord:
        cells = self.find_notebook(notebook, assignment).source_cells
        return self._find(cells, name, notebook, assignment)

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> ScoredCellRecord:
        records = self.find_notebook(notebook, assignment)
        return self._find(records.grade_cells + records.task_cells, name, notebook, assignment)


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


# -- runs at the same time ---------------------------------------------------------------
def _advisory_key(*parts: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit number) for ``parts``."""
    import hashlib

    digest = hashlib.sha256("\0".join(("autograder", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def grading_lock(db_url: str, course_id: str, assignments: list[str]):
    """Held while a grading run lasts. On SQLite one run at a time per gradebook: a
    second one is refused with one line (SQLite has one writer; two runs would end in
    "database is locked"). On PostgreSQL one run at a time per assignment: runs on other
    assignments go on beside it (an ``export`` needs no lock at all).

    Yields a function that holds PostgreSQL's lock for setting the course up (making the
    gradebook's tables and assignment records, which two runs must not do at once)."""
    from autograder.course import sqlite_path

    path = sqlite_path(db_url)
    if path is not None:
        import fcntl

        lock = path.with_name(path.name + ".grading")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip()
                raise CourseError(
                    f"another `autograder grade` is grading with the gradebook {path}"
                    + (f" ({holder})" if holder else "")
                    + ": run this one again once it has finished"
                ) from None
            handle.truncate(0)
            handle.write(f"process {os.getpid()} on {socket.gethostname()}")
            handle.flush()
            try:
                yield contextlib.nullcontext
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if not db_url.startswith("postgresql"):
        yield contextlib.nullcontext
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    from autograder.course import database_error, describe_database

    engine = sqlalchemy.create_engine(db_url, poolclass=NullPool)
    try:
        try:
            connection = engine.connect()
        except Exception as error:
            raise CourseError(database_error(db_url, error)) from None
        with connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            busy = [
                name
                for name in assignments
                if not connection.execute(
                    sqlalchemy.text("SELECT pg_try_advisory_lock(:key)"),
                    {"key": _advisory_key(course_id, name)},
                ).scalar()
            ]
            if busy:
                raise CourseError(
                    f"another `autograder grade` is grading {', '.join(busy)} in the "
                    f"gradebook ({describe_database(db_url)}): run this one again once it "
                    "has finished (other assignments can be graded meanwhile)"
                )

            @contextlib.contextmanager
            def setting_up():
                key = {"key": _advisory_key(course_id, "setting up")}
                connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), key)
                try:
                    yield
                finally:
                    connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), key)

            yield setting_up
    finally:
        engine.dispose()  # closing the connection releases its advisory locks


def engine_of(db_url: str, course_id: str):
    """The run's shared engine for ``db_url`` (see :func:`shared_engines`)."""
    with open_gradebook(db_url, course_id) as gb:
        return gb.engine

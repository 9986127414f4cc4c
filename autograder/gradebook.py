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
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbgrader import api
from nbgrader.preprocessors import SaveAutoGrades

from autograder.course import CourseError, write_atomically
from autograder.discover import digest_folder

#: While a grading run lasts: one engine per database URL, its tables known to exist.
_shared: dict[str, object] | None = None
#: nbgrader's preprocessors that open the gradebook themselves (one per notebook each).
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


class SaveAutoGradesAtOnce(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, saving a notebook's grades in one transaction.

    nbgrader commits after every graded cell and comment: an fsync each, dozens per
    notebook, on the thread that records. One commit per notebook also means a crash
    leaves a notebook's grades all saved or none.
    """

    def preprocess(self, nb, resources):
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.student_id = resources["nbgrader"]["student"]
        self.db_url = resources["nbgrader"]["db_url"]
        self.gradebook = Gradebook(self.db_url)
        with self.gradebook:
            session = self.gradebook.db
            session.commit = session.flush  # the per-cell commits
            try:
                nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)
            finally:
                del session.commit
            session.commit()
        return nb, resources


#: The grader's own versions of nbgrader's preprocessors, by name.
OWN_STEPS = {"SaveAutoGrades": SaveAutoGradesAtOnce}


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

"""The gradebook: nbgrader's database, and its assignment records kept in line with source/.

nbgrader puts a submission's test cells back from the gradebook's records, so the
records must match ``source/``: they are made when missing, and remade when ``source/``
changed since they were made (a fixed test, new points), as ``nbgrader
generate_assignment`` would. Each assignment's source digest is kept in a table of the
gradebook's own database (``autograder_sources``).

Beside this module: :mod:`autograder.snapshot` (the records as data, for wherever notebooks
are graded), :mod:`autograder.writer` (the coordinator's bulk writes of a submission) and
:mod:`autograder.rebuild` (remaking an assignment's records, hand grades kept).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader import api

from autograder.course import CourseError
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


@functools.cache
def alembic_head() -> str:
    """The revision nbgrader stamps a new gradebook with, read in this process.

    nbgrader's own ``get_alembic_version`` runs the ``alembic`` program for it (``alembic
    heads``): about 3 s of start-up for every new gradebook, a course's first ``grade``
    and every ``release`` (whose gradebook is a throwaway one). Same answer, from the
    same migration scripts.
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        return ScriptDirectory.from_config(Config(ini)).get_current_head()


api.get_alembic_version = alembic_head


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


def awaiting_grades(submission) -> int:
    """How many of a submission's graded cells wait for a person in formgrader: nbgrader's
    ``needs_manual_grade`` (a written answer nobody has scored, or a hand grade to review)."""
    return sum(bool(grade.needs_manual_grade) for nb in submission.notebooks for grade in nb.grades)


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

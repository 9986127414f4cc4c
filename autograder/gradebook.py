"""The gradebook: nbgrader's database, and its assignment records kept in line with source/.

nbgrader puts a submission's test cells back from the gradebook's records, so the
records must match ``source/``: they are made when missing, and remade when ``source/``
changed since they were made (a fixed test, new points), as ``nbgrader
generate_assignment`` would. Each assignment's source digest is kept in a table of the
gradebook's own database (``autograder_sources``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import CourseError
from autograder.discover import digest_folder


def open_gradebook(db_url: str, course_id: str):
    """nbgrader's :class:`~nbgrader.api.Gradebook` (a context manager)."""
    from nbgrader.api import Gradebook

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
                if "Cannot add or remove cells" not in str(error):
                    raise
                raise CourseError(
                    f"source/{name} adds or removes graded cells, but submissions of it "
                    "are already in the gradebook; nbgrader can change a cell's code or "
                    "points, not the set of cells (put the cells back, or release the "
                    "change as a new assignment)"
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

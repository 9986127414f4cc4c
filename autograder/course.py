"""The nbgrader course on disk: where it is, its configuration, its assignments."""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import os
import sqlite3
import sys
import unicodedata
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder import backup

CONFIG_FILE = "nbgrader_config.py"
#: nbgrader's own default, for a course whose config names none.
DEFAULT_COURSE_ID = "default_course"


class CourseError(Exception):
    """The instructor's own input is unusable. The message is one line, shown as is."""


def find_root(start: Path | str | None = None) -> Path:
    """Return the course root: the nearest folder at or above ``start`` (default: the
    working directory) with ``nbgrader_config.py`` and ``source/``.

    Outside any course this is a :class:`CourseError` naming ``--root``: guessing a
    course (the one the package was installed from, say) could grade or publish the
    wrong one.
    """
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file() and (folder / "source").is_dir():
            return folder
    raise CourseError(
        f"no nbgrader course (a folder with {CONFIG_FILE} and source/) at or above {here}: "
        "run autograder inside the course, or pass --root COURSE"
    )


def _put_environment_on_path() -> None:
    # nbgrader runs the `alembic` command when it creates a gradebook, and Jupyter finds
    # kernels through PATH: both must come from this environment even when it is not
    # activated (`.venv/bin/autograder ...`).
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def load_config(root: Path) -> Config:
    """Load the course's ``nbgrader_config.py`` with the root pinned to ``root``."""
    _put_environment_on_path()
    root = Path(root).resolve()
    if not (root / CONFIG_FILE).is_file():
        raise CourseError(f"{root} has no {CONFIG_FILE}: is it the course root?")
    try:
        config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    except Exception as error:  # a syntax error in the instructor's config, for one
        raise CourseError(f"cannot read {root / CONFIG_FILE}: {error}") from None
    config.CourseDirectory.root = str(root)
    return config


def is_assignment_name(name: str) -> bool:
    """Whether nbgrader accepts ``name`` as an assignment folder (``hw1``, ``08_bayes``):
    no ``+`` (nbgrader refuses it), no surrounding blanks, not hidden or private."""
    return bool(name) and name == name.strip() and "+" not in name and name[0] not in "._"


def assignments(root: Path) -> list[str]:
    """The assignments of the course: folders of ``source/`` holding a notebook, sorted.

    Any name nbgrader accepts is an assignment (``01_likelihood``, ``ps1``, ``hw-3``):
    nbgrader refuses ``+`` and surrounding spaces; hidden and ``_`` folders are not
    assignments (``.ipynb_checkpoints``, ``__pycache__``).
    """
    source = Path(root) / "source"
    if not source.is_dir():
        raise CourseError(f"{source} does not exist: is {root} the course root?")
    return sorted(
        entry.name
        for entry in source.iterdir()
        if entry.is_dir() and is_assignment_name(entry.name) and any(entry.glob("*.ipynb"))
    )


def course_id(config: Config) -> str:
    """The course's ``CourseDirectory.course_id``, or nbgrader's default when unset."""
    value = config.CourseDirectory.get("course_id", "")
    return value.strip() if isinstance(value, str) and value.strip() else DEFAULT_COURSE_ID


def closest(name: str, known) -> str | None:
    """The name in ``known`` that ``name`` most likely misspells, or None
    (``03_minus_sgn`` gives ``03_minus_sign``; case and separators are forgiven)."""

    def folded(text: str) -> str:
        text = unicodedata.normalize("NFKD", text.casefold())
        text = "".join(c for c in text if not unicodedata.combining(c))  # "zoë" -> "zoe"
        return text.replace("-", "_").replace(" ", "_")

    known = list(known)
    by_fold = {folded(k): k for k in known}
    if folded(name) in by_fold:
        return by_fold[folded(name)]
    found = difflib.get_close_matches(folded(name), list(by_fold), n=1, cutoff=0.75)
    return by_fold[found[0]] if found else None


def did_you_mean(name: str, known) -> str:
    """ ": did you mean 03_minus_sign?", or "" when nothing is close."""
    match = closest(name, known)
    return f": did you mean {match}?" if match else ""


def check_assignments(root: Path, requested: list[str] | None) -> list[str]:
    """Return ``requested`` (default: all), failing with one line on an unknown name."""
    known = assignments(root)
    if not requested:
        return known
    unknown = [name for name in requested if name not in known]
    if unknown:
        if len(unknown) == 1 and closest(unknown[0], known):
            raise CourseError(f"no such assignment: {unknown[0]}{did_you_mean(unknown[0], known)}")
        available = ", ".join(known) or "none"
        raise CourseError(f"no such assignment: {', '.join(unknown)} (the course has: {available})")
    return list(dict.fromkeys(requested))


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new, never half.

    Creates the parent folder if needed; a failure is a one-line :class:`CourseError` and
    leaves neither a ``.partial`` file nor a changed ``path`` behind.
    """
    write_all_atomically({path: text})


def write_all_atomically(files: dict[Path, str]) -> None:
    """Write several files that belong together (``scores.csv`` and ``tests.csv``).

    Every file is written to a ``.partial`` neighbour first and the partials are moved
    into place only when all of them were written, so a full disk or a bad folder leaves
    the old set intact rather than one new file beside one old one.
    """
    files = {Path(path): text for path, text in files.items()}
    partials = {path: path.with_name(path.name + ".partial") for path in files}
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            partials[path].write_text(text, encoding="utf-8")
        for path, partial in partials.items():
            os.replace(partial, path)
    except OSError as error:
        for partial in partials.values():
            with contextlib.suppress(OSError):
                partial.unlink()
        where = str(error.filename or next(iter(partials))).removesuffix(".partial")
        raise CourseError(f"cannot write {where}: {error.strerror or error}") from None


#: What a spreadsheet reads as the start of a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """``value`` as a CSV cell no spreadsheet runs: text that would start a formula gets a
    leading apostrophe (OWASP's advice); numbers are left as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def csv_text(fields, rows) -> str:
    """``rows`` (dicts) as CSV text with a header, every cell :func:`spreadsheet_safe`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()})
    return buffer.getvalue()


SQLITE_HEADER = b"SQLite format 3\x00"


def gradebook_url(config: Config, root: Path, override: str | None = None) -> str:
    """The gradebook's database URL: ``override`` (``--db``), else ``db_url`` from the
    course config, else ``gradebook.db`` at the course root. A PostgreSQL URL without a
    driver gets psycopg (version 3), the driver the grader installs with its
    ``cluster`` extra."""
    url = override or config.CourseDirectory.get("db_url", "")
    url = url or f"sqlite:///{Path(root) / 'gradebook.db'}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    return url


def describe_database(db_url: str) -> str:
    """ "database grades on db.example.org" (never the password), for one-line errors."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(db_url)
    except Exception:
        return "the gradebook database (an unreadable URL)"
    host = url.host or url.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = host[0]
    return f"database {url.database or '(none named)'} on {host}"


def database_error(db_url: str, error: BaseException) -> str:
    """One line for a database that cannot be used: which database, on which host, and
    what failed, the password never shown."""
    from sqlalchemy.engine import make_url

    text = str(getattr(error, "orig", None) or error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    what = first.rsplit("failed: ", 1)[-1].replace("FATAL:", "").strip()
    try:
        password = make_url(db_url).password
    except Exception:
        password = None
    if password:
        what = what.replace(str(password), "***")
    return f"cannot use the gradebook, {describe_database(db_url)}: {what[:200]}"


def check_database_server(db_url: str) -> None:
    """Fail with one line unless the database server behind ``db_url`` answers."""
    try:
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        arguments = {"connect_timeout": 10} if db_url.startswith("postgresql") else {}
        engine = sqlalchemy.create_engine(db_url, poolclass=NullPool, connect_args=arguments)
        try:
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT 1"))
        finally:
            engine.dispose()
    except ModuleNotFoundError as error:
        raise CourseError(
            f"cannot use the gradebook, {describe_database(db_url)}: its driver "
            f"({error.name}) is not installed (pip install 'nll-course[cluster]' brings psycopg)"
        ) from None
    except Exception as error:
        raise CourseError(database_error(db_url, error)) from None


def sqlite_path(db_url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL, or None for another database."""
    prefix = "sqlite:///"
    return Path(db_url[len(prefix) :]) if db_url.startswith(prefix) else None


def check_gradebook(db_url: str, *, must_exist: bool) -> None:
    """Fail with one line unless the gradebook at ``db_url`` can be read.

    A missing file is fine when ``must_exist`` is False (``grade`` creates it). An empty
    file, a file that is not SQLite, or a damaged database is refused by every command,
    so that no command replaces a damaged gradebook with a fresh empty one, or exports
    one as a class with no grades; the message names the newest backup copy.

    A run killed in the middle of a write (``kill -9``, the OOM killer, a lost SSH
    session) leaves a hot journal beside the gradebook: not damage, but a write to undo.
    SQLite undoes it when the gradebook is next opened for writing, so it is opened for
    writing here whenever it can be; the check then sees the gradebook as it was before
    the interrupted write.
    """
    path = sqlite_path(db_url)
    if path is None:
        check_database_server(db_url)
        return
    if not path.exists():
        if must_exist:
            raise CourseError(f"no gradebook at {path}: run `autograder grade` first")
        return
    advice = _restore_advice(path)
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise CourseError(f"cannot read the gradebook {path}: {error.strerror}") from None
    if not header:
        raise CourseError(f"the gradebook {path} is an empty file: {advice}")
    if header != SQLITE_HEADER:
        raise CourseError(f"the gradebook {path} is not an SQLite database: {advice}")
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    mode = "rw" if writable else "ro"
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        finally:
            connection.close()
    except sqlite3.Error as error:
        journal = path.with_name(path.name + "-journal")
        if not writable and journal.exists():
            raise CourseError(
                f"the gradebook {path} holds a write a stopped run left unfinished "
                f"({journal.name}); SQLite undoes it on the next write, which needs write "
                f"access to {path.parent}: run the command again as a user who has it"
            ) from None
        raise CourseError(f"the gradebook {path} is damaged ({error}): {advice}") from None
    if verdict != "ok":
        raise CourseError(f"the gradebook {path} is damaged ({verdict}): {advice}")
    if tables and "assignment" not in tables:
        raise CourseError(f"{path} is an SQLite database but not an nbgrader gradebook: {advice}")


def _restore_advice(path: Path) -> str:
    """What to do with a damaged gradebook, naming the newest backup copy if there is one."""
    copy = backup.newest(path)
    if copy is None:
        return "restore it from a backup, or move it aside to start a new one"
    return (
        f"restore it from the newest backup, {copy} (copy it over {path.name}), or move "
        "it aside to start a new one"
    )

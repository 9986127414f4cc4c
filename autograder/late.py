"""Late work, with nbgrader's own model.

A submission's time is its ``timestamp.txt`` (what ``nbgrader collect`` and the exchange
write); an assignment's due date is nbgrader's ``Assignment.duedate`` in the gradebook
(set by ``autograder grade ASSIGNMENT --due "2026-12-15 23:59 Europe/Berlin"``, by
``nbgrader db assignment add --duedate``, or kept from an earlier run), moved by a
student's ``extension`` (formgrader, ``Gradebook.grant_extension``). nbgrader's
``AssignLatePenalties`` preprocessor, which the record stage runs
(:data:`autograder.record.RECORD`), asks the configured plugin for each notebook's
penalty: ``c.LateSubmissionPlugin.penalty_method = "zero"`` or a class of your own in
``c.AssignLatePenalties.plugin_class``, exactly as for ``nbgrader autograde``. The
penalty lands in the gradebook, where ``export``, ``feedback``, ``export --lms``,
formgrader and ``nbgrader export`` all read it.

This module parses due dates and timestamps, sets due dates, describes lateness in
words, and works out a penalty again when the due date changed after grading (no need
to run the notebooks again for that).
"""

from __future__ import annotations

import datetime
import importlib
import sys
import zoneinfo
from pathlib import Path

from autograder.course import CourseError

EXAMPLE = '"2026-12-15 23:59 Europe/Berlin"'


def parse_due(text: str) -> datetime.datetime:
    """``--due`` as nbgrader stores a due date: a naive datetime in UTC.

    Accepts ``2026-12-15 23:59 Europe/Berlin`` (an IANA time zone, or ``UTC``), and ISO
    8601 with an offset (``2026-12-15T23:59+01:00``, ``...Z``). A time without a zone
    is refused: the grader's clock and the instructor's may not agree on one.
    """
    given = " ".join(str(text).split())
    when, _, zone = given.rpartition(" ")
    moment = None
    if when and zone and not zone[0].isdigit() and zone[0] not in "+-":
        try:
            tzinfo = zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CourseError(
                f"--due {given!r}: no such time zone {zone!r} (write it as {EXAMPLE}, or with UTC)"
            ) from None
        moment = _iso(when, given)
        if moment.tzinfo is not None:
            raise CourseError(f"--due {given!r} gives both an offset and a time zone: keep one")
        moment = moment.replace(tzinfo=tzinfo)
    else:
        offset = when and zone[:1] in "+-" and not zone[1:].replace(":", "").strip("0123456789")
        moment = _iso(when + zone if offset else given, given)
        if moment.tzinfo is None:
            raise CourseError(
                f"--due {given!r} has no time zone: write it as {EXAMPLE} (or UTC, or "
                "an offset such as +01:00)"
            )
    return moment.astimezone(datetime.UTC).replace(tzinfo=None)


def _iso(text: str, given: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CourseError(
            f"--due {given!r} is not a date and time: write it as {EXAMPLE}"
        ) from None


def utc(moment: datetime.datetime | None) -> str:
    """``2026-12-15 22:59 UTC`` (seconds shown only when there are any)."""
    if moment is None:
        return ""
    shape = "%Y-%m-%d %H:%M:%S" if moment.second or moment.microsecond else "%Y-%m-%d %H:%M"
    return f"{moment.strftime(shape)} UTC"


def duration(seconds: float) -> str:
    """``2 d 3 h``, ``1 h 5 min``, ``12 min``, ``40 s``: two units at most, rounded up."""
    seconds = max(0, int(-(-float(seconds) // 1)))
    if seconds < 60:
        return f"{seconds} s"
    minutes = -(-seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{value} {unit}" for value, unit in parts[:2] if value)


def points(value: float) -> str:
    return f"{round(float(value), 6):g}"


def read_timestamp(folder: Path) -> tuple[datetime.datetime | None, str]:
    """The submission's time from its ``timestamp.txt`` and, when it cannot be used, why.

    ``(None, "")`` when there is no file: nbgrader's model then has no time and no
    lateness. A file that is a link, unreadable, empty or not a date nbgrader reads
    gives ``(None, reason)``; the submission is graded as on time and the reason shown.
    Windows Notepad's UTF-16 and UTF-8 with a BOM are read.
    """
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    if path.is_symlink():
        return None, "timestamp.txt is a symbolic link (not followed)"
    if not path.exists():
        return None, ""
    if not path.is_file():
        return None, "timestamp.txt is not a file"
    try:
        data = path.read_bytes()[:200]
    except OSError as error:
        return None, f"timestamp.txt cannot be read ({error.strerror or error})"
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = data.decode(encoding).strip()
    except UnicodeDecodeError:
        return None, "timestamp.txt is not text"
    if not text:
        return None, "timestamp.txt is empty"
    shown = text.splitlines()[0][:40]
    try:
        moment = parse_utc(text)
        if moment.year < 1970:  # what dateutil makes of a bare number or a time alone
            raise ValueError(text)
    except Exception:  # dateutil raises ValueError, OverflowError, TypeError, ...
        return None, f"timestamp.txt says {shown!r}, not a date and time nbgrader reads"
    return moment, ""


def effective_due(submission) -> datetime.datetime | None:
    """The submission's due date with its extension, as nbgrader computes lateness."""
    if submission.assignment.duedate is None:
        return None
    return submission.duedate


def describe(submission, problem: str = "") -> str:
    """Lateness in words for the summary, or "" when there is nothing to say.

    ``late by 1 d 2 h (due 2026-12-15 22:59 UTC): 3 point(s) off``; ``late by 2 h
    (due ...): no penalty``; or the timestamp's problem, with what was done about it.
    """
    due = effective_due(submission)
    if problem:
        return f"{problem}: graded as on time"
    if due is None:
        return ""
    if submission.timestamp is None:
        return "no timestamp.txt: graded as on time"
    late = float(submission.total_seconds_late)
    if late <= 0:
        return ""
    penalty = float(submission.late_submission_penalty or 0.0)
    off = f"{points(penalty)} point(s) off" if penalty else "no penalty"
    return f"late by {duration(late)} (due {utc(due)}): {off}"


def penalty_config(config) -> str:
    """What nbgrader's late-submission plugin is told to do, in words, or "" when a
    penalty is configured; used to say why a late submission lost nothing."""
    plugin = config.AssignLatePenalties.get("plugin_class", None)
    if plugin not in (None, "nbgrader.plugins.LateSubmissionPlugin"):
        return ""
    method = config.LateSubmissionPlugin.get("penalty_method", "none")
    if method != "none":
        return ""
    return (
        "late submissions lose no points: nbgrader's LateSubmissionPlugin.penalty_method "
        "is 'none'; set c.LateSubmissionPlugin.penalty_method = 'zero', or your own "
        "c.AssignLatePenalties.plugin_class, in nbgrader_config.py"
    )


def check_plugin(config, root: Path) -> None:
    """Fail with one line now, rather than on every submission, when the course's
    ``AssignLatePenalties.plugin_class`` cannot be imported. A plugin module beside
    ``nbgrader_config.py`` is found, as nbgrader's documentation has it."""
    plugin = config.AssignLatePenalties.get("plugin_class", None)
    if not isinstance(plugin, str):
        return
    module, _, name = plugin.rpartition(".")
    if str(root) not in sys.path:
        sys.path.append(str(root))
    try:
        found = getattr(importlib.import_module(module), name)
    except Exception as error:
        raise CourseError(
            f"c.AssignLatePenalties.plugin_class = {plugin!r} in nbgrader_config.py cannot "
            f"be imported ({type(error).__name__}: {str(error).strip()[:120]})"
        ) from None
    from nbgrader.plugins import BasePlugin

    if not (isinstance(found, type) and issubclass(found, BasePlugin)):
        raise CourseError(
            f"c.AssignLatePenalties.plugin_class = {plugin!r} in nbgrader_config.py is not "
            "a subclass of nbgrader.plugins.BasePlugin"
        )


def set_due(db_url: str, course_id: str, names: list[str], due: datetime.datetime) -> list[str]:
    """Give each assignment of ``names`` the due date ``due`` (naive UTC) in the
    gradebook; one note per assignment whose due date this changed."""
    from autograder.gradebook import open_gradebook

    notes = []
    with open_gradebook(db_url, course_id) as gb:
        for name in names:
            before = gb.find_assignment(name).duedate
            if before == due:
                continue
            gb.update_or_create_assignment(name, duedate=due)
            was = f" (was {utc(before)})" if before is not None else ""
            notes.append(f"due date of {name}: {utc(due)}{was}")
    return notes


def assign_penalties(steps, student: str, assignment: str, db_url: str, course_id: str) -> None:
    """Run nbgrader's AssignLatePenalties of ``steps`` on every notebook of a recorded
    submission, without its notebooks: the penalty depends only on the gradebook."""
    import nbformat

    from autograder.gradebook import open_gradebook

    step = next(s for s in steps if type(s).__name__ == "AssignLatePenalties")
    with open_gradebook(db_url, course_id) as gb:
        names = [nb.name for nb in gb.find_submission(assignment, student).notebooks]
    for name in names:
        where = {"student": student, "assignment": assignment, "notebook": name}
        step(nbformat.v4.new_notebook(), {"nbgrader": {**where, "db_url": db_url}})


def late_notes(outcomes, config) -> list[str]:
    """A note for the summary when submissions were late and nbgrader's plugin is
    configured to take nothing off (its default)."""
    late = [o for o in outcomes if o.late.startswith("late by")]
    if late and not any(o.late_penalty for o in late):
        note = penalty_config(config)
        return [note] if note else []
    return []

"""``autograder feedback``: one HTML page per student and assignment notebook.

Each page follows the notebook: under each exercise's heading (taken from the
instructor's notebook in ``source/``), every graded cell in notebook order with its
points and result, the student's own answers, and what the instructor wrote in
formgrader (a comment per answer, a hand score). A failed test shows the message it
raised (written for the learner: expected, got, hint); an answer nobody has graded yet
says "awaiting grading", and the total says it is not final. The page never shows the
code of a test: hidden tests stay hidden, and so do tracebacks, which would quote them
(nbgrader's own feedback shows both). A submission that could not be graded says why,
once, at the top.

Pages go to ``feedback/<student>/<assignment>/<notebook>.html``, nbgrader's layout, so
``nbgrader release_feedback`` hands them out. ``nbgrader generate_feedback`` writes the
same files: a page it wrote is replaced, and :func:`feedback` says which ones (each page
this module writes carries a ``generator`` tag, so the two are told apart).
"""

from __future__ import annotations

import datetime
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import bridge
from autograder.course import check_assignments, find_root, load_config, write_atomically
from autograder.discover import LEDGER
from autograder.export import _gradebook, check_students
from autograder.late import duration, effective_due, utc

GENERATOR = "autograder feedback"

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto;
       padding: 0 1rem; color: #1a1a1a; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
h3 { font-size: 1rem; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd;
         vertical-align: top; }
.passed { color: #006d4f; } .failed { color: #b33c00; } .manual { color: #555; }
.awaiting { color: #7a5c00; font-style: italic; }
pre { background: #f5f5f5; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
.comment { border-left: 4px solid #0072b2; padding: .3rem .8rem; background: #eef5fb; }
.total { font-size: 1.2rem; font-weight: bold; }
.late { color: #b33c00; }
"""


#: Errors whose message the course's checks and the grader write for the learner.
_WORDED = frozenset({"CheckFailure", "NotRun"})
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def raised_by_submission(output) -> str:
    """The function of the submission that raised the error ``output`` shows, if the
    submission's code raised it (the grader's proxy notes that on the error); else ""."""
    lines = [_ANSI.sub("", str(line)).strip() for line in output.get("traceback", [])]
    last = lines[-1] if lines else ""
    prefix = f"({bridge.RAISED_BY}"
    return last[len(prefix) : -1] if last.startswith(prefix) and last.endswith(")") else ""


def _message(cell) -> str:
    """What a failed test said, without its traceback (which quotes the test's code).

    A failure belongs to whoever raised it: the course's checks word theirs for the
    learner; an error the submission's own function raised is named as such, with its
    type (a built-in exception, or ``LearnerError``) and a message capped by the grader;
    an error the test's own code raised (an instructor's ``assert`` with a message) is
    the test's message. The submission's code never sees a test (it runs in a kernel of
    its own), so nothing it says can quote one.
    """
    hidden = "BEGIN HIDDEN TESTS" in cell.get("source", "")
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            name, value = output.ename, output.get("evalue", "").strip()
            if name in _WORDED:
                return f"{name}: {value}" if value else name
            function = raised_by_submission(output)
            if function and name == "NotImplementedError":
                return f"{function} is not answered yet (it raises NotImplementedError)"
            if function and name == "TimeoutError":
                return f"{function} {value}" if value else f"{function} took too long (cut off)"
            if function:
                told = f": {value}" if value else ""
                where = "" if hidden else " (run the visible tests to see where)"
                return f"{name} raised by your {function}{told}{where}"
            if name == "AssertionError" and not value:
                return "AssertionError: a check in this test failed"
            return f"{name}: {value}" if value else name
        if output.output_type == "stream" and output.name == "stderr":
            first = output.get("text", "").strip().splitlines()
            said = f": {first[0][:200]}" if first else ""
            return f"the test wrote to stderr, which nbgrader scores as a failure{said}"
    return ""


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='generator' content='{GENERATOR}'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


# -- the notebook's shape, from source/ ------------------------------------------------
@dataclass
class Section:
    """The cells under one heading of the instructor's notebook, in notebook order:
    ``(grade_id, kind)`` with kind ``test``, ``written`` (graded by hand), ``task`` or
    ``answer`` (an autograded answer, not graded itself)."""

    heading: str
    cells: list[tuple[str, str]] = field(default_factory=list)


def _kind(meta: dict, cell_type: str) -> str | None:
    if meta.get("task"):
        return "task"
    if meta.get("solution"):
        return "written" if meta.get("grade") else "answer"
    if meta.get("grade"):
        return "test"
    return None


def layout(source_notebook: Path) -> list[Section]:
    """The sections of an instructor notebook; ``[]`` when it cannot be read."""
    try:
        cells = json.loads(source_notebook.read_text()).get("cells", [])
    except (OSError, ValueError):
        return []
    sections = [Section("")]
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        kind = _kind(meta, cell.get("cell_type", ""))
        if kind is not None and meta.get("grade_id"):
            sections[-1].cells.append((meta["grade_id"], kind))
        elif cell.get("cell_type") == "markdown" and not meta:
            headings = [line for line in source.splitlines() if re.match(r"#{1,6}\s", line)]
            if headings:
                sections.append(Section(headings[-1].lstrip("#").strip()))
    return [section for section in sections if section.cells]


def _heading_html(text: str) -> str:
    """A markdown heading as HTML: escaped, with `code` spans kept."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


# -- one page --------------------------------------------------------------------------
@dataclass
class Graded:
    """One graded cell of a submitted notebook, as the gradebook has it."""

    score: float
    max_score: float
    auto_score: float | None = None
    manual_score: float | None = None
    extra_credit: float | None = None
    needs_manual_grade: bool = False

    @property
    def awaiting(self) -> bool:
        """Nobody has scored it: nbgrader's flag, without a hand score."""
        return self.needs_manual_grade and self.manual_score is None


def _points(grade: Graded) -> str:
    if grade.awaiting:
        return f"– / {grade.max_score:g}"
    extra = f" (+{grade.extra_credit:g} extra)" if grade.extra_credit else ""
    return f"{grade.score:g} / {grade.max_score:g}{extra}"


def _result(kind: str, grade: Graded, cell, reason: str) -> str:
    if kind in ("written", "task"):
        if grade.awaiting:
            return "<span class='awaiting'>awaiting grading</span>"
        if grade.manual_score is None and not grade.auto_score:
            return "<span class='failed'>no answer given</span>"
        return "<span class='manual'>graded by your instructor</span>"
    if grade.manual_score is not None:
        return "<span class='manual'>score set by your instructor</span>"
    if grade.score >= grade.max_score:
        return "<span class='passed'>passed</span>"
    message = _message(cell) if cell is not None else ""
    if reason and (not message or message.startswith("NotRun")):
        message = "not run: see the note at the top"
    return f"<span class='failed'>failed</span><pre>{html.escape(message or 'not run')}</pre>"


def _table(rows: list[str]) -> str:
    if not rows:
        return ""
    header = "<tr><th>cell</th><th>points</th><th>result</th></tr>"
    return f"<table>{header}{''.join(rows)}</table>"


def render(
    student: str,
    assignment: str,
    notebook_name: str,
    notebook,
    grades: dict[str, Graded],
    *,
    sections: list[Section],
    comments: dict[str, str] | None = None,
    reason: str = "",
    course: str = "",
    date: str = "",
    late: str = "",
    late_penalty: float = 0.0,
) -> str:
    """The feedback page of one notebook, as HTML text.

    ``notebook`` is the autograded notebook (None if there is none), ``grades`` the
    gradebook's record of each graded cell, ``sections`` the layout of the instructor's
    notebook (:func:`layout`), ``comments`` formgrader's comment per answer cell. ``late``
    says when the work came in against its due date (:func:`lateness`) and
    ``late_penalty`` what nbgrader's late-submission plugin took off this notebook.
    """
    comments = comments or {}
    cells = {
        c.metadata.get("nbgrader", {}).get("grade_id"): c
        for c in (notebook.cells if notebook else [])
    }
    placed = {grade_id for section in sections for grade_id, _ in section.cells}
    leftovers = [g for g in sorted(grades) if g not in placed]  # not in source/ any more
    if leftovers:
        sections = [*sections, Section("Other graded cells", [(g, "test") for g in leftovers])]
    total = sum(g.score for g in grades.values() if not g.awaiting)
    possible = sum(g.max_score for g in grades.values())
    waiting = sum(g.awaiting for g in grades.values())
    title = f"{assignment} / {notebook_name}: feedback for {student}"
    meta = " · ".join(part for part in (course, date and f"feedback of {date}") if part)
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p class='meta'>{html.escape(meta)}</p>"]
    penalty = min(float(late_penalty or 0.0), total)
    before = f" ({total:g} before the late penalty of {penalty:g})" if penalty else ""
    parts.append(
        f"<p class='total'>Score: {total - penalty:g} / {possible:g}{before}"
        + (
            f" <span class='awaiting'>(not final: {waiting} answer(s) awaiting grading)</span>"
            if waiting
            else ""
        )
        + "</p>"
    )
    if late:
        off = (
            f"late penalty: {penalty:g} point(s) taken off this notebook's score"
            if penalty
            else "no points taken off"
        )
        parts.append(f"<p class='late'>{html.escape(late)}: {off}.</p>")
    if reason:
        parts.append(
            f"<p class='failed'>This notebook could not be graded in full: "
            f"{html.escape(reason)}</p>"
        )
    for section in sections:
        parts.append(f"<h2>{_heading_html(section.heading) or 'Graded cells'}</h2>")
        rows: list[str] = []
        for grade_id, kind in section.cells:
            grade = grades.get(grade_id)
            cell = cells.get(grade_id)
            if grade is not None:
                rows.append(
                    f"<tr><td><code>{html.escape(grade_id)}</code></td>"
                    f"<td>{_points(grade)}</td><td>{_result(kind, grade, cell, reason)}</td></tr>"
                )
            if kind in ("answer", "written", "task") and (cell is not None or grade_id in comments):
                parts.append(_table(rows))
                rows = []
                parts.append(f"<h3>Your answer: <code>{html.escape(grade_id)}</code></h3>")
                if cell is not None:
                    parts.append(f"<pre>{html.escape(cell.source)}</pre>")
                if comments.get(grade_id):
                    parts.append(
                        "<p class='comment'><strong>Your instructor's comment:</strong> "
                        f"{html.escape(comments[grade_id])}</p>"
                    )
        parts.append(_table(rows))
    return _page(title, "\n".join(parts))


def lateness(submission) -> str:
    """``Handed in 2026-12-16 01:10 UTC, 2 h 11 min after the due date (2026-12-15
    22:59 UTC)``, or "" when the work was on time or nbgrader has no time or due date."""
    due = effective_due(submission)
    seconds = float(submission.total_seconds_late) if due is not None else 0.0
    if seconds <= 0:
        return ""
    extended = " with your extension" if submission.extension else ""
    return (
        f"Handed in {utc(submission.timestamp)}, {duration(seconds)} after the due date "
        f"({utc(due)}{extended})"
    )


# -- the command -----------------------------------------------------------------------
class Feedback(list):
    """What :func:`feedback` returns: the pages written (a list of paths, sorted), with
    ``awaiting``, ``{assignment: (answers awaiting grading, students)}``, and
    ``replaced``, the pages ``nbgrader generate_feedback`` had written that were replaced."""

    def __init__(self, pages=(), awaiting=None, replaced=None):
        super().__init__(pages)
        self.awaiting: dict[str, tuple[int, int]] = dict(awaiting or {})
        self.replaced: list[Path] = list(replaced or [])


def _ours(path: Path) -> bool:
    try:
        head = path.read_text(errors="replace")[:400]
    except OSError:
        return True  # nothing there (or unreadable): nobody's page to lose
    return f"content='{GENERATOR}'" in head


def feedback(
    assignments: list[str] | None = None,
    *,
    students: list[str] | None = None,
    root: Path | None = None,
    out: Path | None = None,
    date: datetime.date | None = None,
) -> Feedback:
    """Write a feedback page for every graded notebook (of ``assignments`` and
    ``students``, default all) into ``out`` (default ``<root>/feedback``)."""
    root = find_root(root) if root is None else Path(root).resolve()
    names = check_assignments(root, assignments) if assignments else None
    out = Path(out) if out is not None else root / "feedback"
    config = load_config(root)
    course = config.CourseDirectory.get("course_id", "") or root.name
    day = (date or datetime.date.today()).isoformat()
    notebooks = []  # (student, assignment, notebook, grades, comments, late, penalty)
    with _gradebook(root) as gb:
        wanted = check_students(gb, students)
        for assignment in gb.assignments:
            if names and assignment.name not in names:
                continue
            for submission in assignment.submissions:
                student = submission.student.id
                if wanted is not None and student not in wanted:
                    continue
                for notebook in submission.notebooks:
                    grades = {
                        g.name: Graded(
                            score=float(g.score or 0.0),
                            max_score=float(g.max_score or 0.0),
                            auto_score=g.auto_score,
                            manual_score=g.manual_score,
                            extra_credit=g.extra_credit,
                            needs_manual_grade=bool(g.needs_manual_grade),
                        )
                        for g in notebook.grades
                    }
                    comments = {c.name: c.manual_comment for c in notebook.comments}
                    notebooks.append(
                        (
                            student, assignment.name, notebook.name, grades, comments,
                            lateness(submission), float(notebook.late_submission_penalty or 0),
                        )
                    )  # fmt: skip
    written, replaced, awaiting = [], [], {}
    for student, assignment, name, grades, comments, late, penalty in sorted(
        notebooks, key=lambda n: n[:3]
    ):
        folder = root / "autograded" / student / assignment
        path = folder / f"{name}.ipynb"
        try:
            notebook = nbformat.read(path, as_version=4) if path.is_file() else None
        except Exception:
            notebook = None
        try:
            ledger = json.loads((folder / LEDGER).read_text())
        except (OSError, ValueError):
            ledger = {}
        reason = ledger.get("notebooks", {}).get(name, "")
        page = render(
            student, assignment, name, notebook, grades,
            sections=layout(root / "source" / assignment / f"{name}.ipynb"),
            comments={k: v for k, v in comments.items() if v},
            reason=reason, course=course, date=day, late=late, late_penalty=penalty,
        )  # fmt: skip
        target = out / student / assignment / f"{name}.html"
        if target.exists() and not _ours(target):
            replaced.append(target)
        write_atomically(target, page)
        written.append(target)
        count = sum(g.awaiting for g in grades.values())
        if count:
            answers, people = awaiting.get(assignment, (0, set()))
            awaiting[assignment] = (answers + count, people | {student})
    return Feedback(
        written,
        awaiting={a: (n, len(people)) for a, (n, people) in sorted(awaiting.items())},
        replaced=replaced,
    )

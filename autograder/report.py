"""``autograder report``: which idea did the class miss, and how?

Item statistics for every test cell, as exam platforms compute them (Moodle's quiz
statistics report), plus what no exam platform knows: the learner-worded message each
failing test raised, grouped so that the same mistake counts once per student.

``items.csv``    one row per test cell: ``assignment, notebook, grade_id, function,
                 submissions, mean_score, max_score, facility, discrimination, failed,
                 message_1, count_1, message_2, count_2, message_3, count_3``
``report.html``  one self-contained page (figures embedded as SVG data URIs, no network):
                 per assignment a score histogram, the facility of each test cell from
                 hardest to easiest, the most common failure messages, and the
                 submissions that could not be graded, with the reason

Definitions (over the students who submitted the assignment, as the gradebook has them):

* **facility** = mean score / max score of the cell: 0 nobody passed, 1 everybody did;
* **discrimination** = Pearson correlation between the cell's score and the rest of the
  student's score on the assignment's test cells (the corrected item-total
  correlation). It is left empty with fewer than three students, or when either side
  does not vary: a correlation is meaningless there, not zero.

Scores come from nbgrader's gradebook (so they match ``autograder export``); failure
messages from the autograded notebooks. A submission that could not be graded keeps the
zeros the grader recorded, and its lost cells are counted under ``not graded: <reason>``,
so a broken notebook never passes for a misunderstanding.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import (
    CourseError,
    check_assignments,
    csv_text,
    find_root,
    load_config,
    write_atomically,
)
from autograder.discover import LEDGER
from autograder.export import cell_rows

ITEM_FIELDS = (
    "assignment",
    "notebook",
    "grade_id",
    "function",
    "submissions",
    "mean_score",
    "max_score",
    "facility",
    "discrimination",
    "failed",
    "message_1",
    "count_1",
    "message_2",
    "count_2",
    "message_3",
    "count_3",
)
TOP_MESSAGES = 3
HARDEST = 5
#: Below this many students a correlation says nothing (with two it is always +-1).
MIN_STUDENTS_FOR_DISCRIMINATION = 3
#: Normalized messages are cut here: a flood on stderr must not become a table cell.
MESSAGE_LIMIT = 300
#: How the cells lost by a submission that could not be run are counted.
NOT_GRADED = "not graded"
#: The exceptions the course's checks raise: their message is the whole story.
CHECK_ERRORS = ("CheckFailure", "AssertionError")

# A number standing on its own: not the 64 of float64 or the 03 of 03_minus_sign. A
# trailing dot belongs to it only in numpy's lists ("[1., 0.]", "[1. 0.]"), so the full
# stop after "is 1." survives.
_NUMBER = (
    r"(?<![\w.])[-+]?"
    r"(?:0x[0-9a-f]+"
    r"|(?:\d+\.\d+|\d+\.(?=[,\]]|\s[-+\d.])|\d+|\.\d+)(?:e[-+]?\d+)?"
    r"|inf(?:inity)?|nan)"
    r"(?!\w)"
)
# A list of numbers, nested at most twice: [1, 0, 1], numpy's [1. 0. 1.], [0, 1, ...].
# Messages have single spaces by then, so each separator matches one way only (an
# ambiguous one would backtrack exponentially on a long list that does not close).
_SEPARATOR = r"(?:\s?,\s?|\s)"
_ELEMENT = rf"(?:{_NUMBER}|\.\.\.)"
_LIST = rf"\[\s?{_ELEMENT}(?:{_SEPARATOR}{_ELEMENT})*,?\s?\]"
_ELEMENT_OR_LIST = rf"(?:{_NUMBER}|\.\.\.|{_LIST})"
_NESTED_LIST = rf"\[\s?{_ELEMENT_OR_LIST}(?:{_SEPARATOR}{_ELEMENT_OR_LIST})*,?\s?\]"
_NUMBERS = re.compile(rf"{_NESTED_LIST}|{_NUMBER}", re.IGNORECASE)


@dataclass
class Failure:
    """One mistake a test cell recognized, and how many students made it."""

    #: The message with the numbers of its text as ``#`` (the hint's own words and numbers
    #: kept): what the CSV shows.
    message: str
    count: int
    #: The same message with the numbers that every student in the group saw kept, so
    #: it reads as the learners read it; ``#`` only where their numbers differed.
    readable: str


@dataclass
class Item:
    """The statistics of one test cell."""

    assignment: str
    notebook: str
    grade_id: str
    function: str
    max_score: float
    submissions: int = 0
    mean_score: float | None = None
    facility: float | None = None
    discrimination: float | None = None
    failed: int = 0
    #: The most frequent failure messages, most frequent first (ties by message).
    messages: list[Failure] = field(default_factory=list)


@dataclass
class AssignmentReport:
    """One assignment: who submitted, their scores on the test cells, and the items."""

    name: str
    max_score: float
    items: list[Item]
    scores: dict[str, float] = field(default_factory=dict)  # student -> total on the tests
    ungraded: list[tuple[str, str]] = field(default_factory=list)  # (student, reason)

    @property
    def submissions(self) -> int:
        return len(self.scores)


@dataclass
class Report:
    """What :func:`report` analysed and where it wrote it."""

    assignments: list[AssignmentReport]
    items_csv: Path
    html: Path

    @property
    def items(self) -> list[Item]:
        return [item for assignment in self.assignments for item in assignment.items]

    def hardest(self, count: int = HARDEST) -> list[Item]:
        """The ``count`` test cells with the lowest facility below 1, hardest first."""
        failed = [item for item in self.items if item.facility is not None and item.failed]
        return sorted(failed, key=lambda item: item.facility)[:count]


# -- statistics ------------------------------------------------------------------------
_HINT = re.compile(r"(?:^|\s)hint:\s")


def _split(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A text (whitespace collapsed) as its pieces between numbers and its numbers."""
    text = " ".join(text[: 4 * MESSAGE_LIMIT].split())
    pieces, numbers, last = [], [], 0
    for match in _NUMBERS.finditer(text):
        pieces.append(text[last : match.start()])
        numbers.append(match.group())
        last = match.end()
    pieces.append(text[last:])
    return tuple(pieces), tuple(numbers)


def _parts(text: str) -> tuple[str, str]:
    """A failure message as (what happened, the hint): the checks end their message with
    ``hint: ...``, the mistake they recognized; ``""`` when there is none."""
    text = " ".join(text[: 4 * MESSAGE_LIMIT].split())
    found = list(_HINT.finditer(text))
    if not found:
        return text, ""
    cut = found[-1]
    return text[: cut.start()].rstrip(), text[cut.end() :].strip()


def _join(body: str, hint: str) -> str:
    return f"{body} hint: {hint}" if hint else body


def _shorten(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def normalise_message(text: str) -> str:
    """A failure message with the numbers of its text replaced by ``#``, on one line.

    The same mistake raises the same hint with different numbers (another ``theta``,
    another sample), so numbers, ``inf``/``nan`` and lists of numbers become ``#``
    and runs of whitespace one space: ``"got:      -2.44877"`` and ``"got: -9.8"``
    group together as ``"got: #"``. The hint is words for the learner and is kept as
    written ("each 1 costs -log(1 - theta)" is not a number to hide).
    """
    body, hint = _parts(text)
    return _shorten(_join("#".join(_split(body)[0]), hint))


def _kept(members: list[tuple[str, ...]]) -> list[str]:
    """Per position, the number every member has, or ``#`` where they differ."""
    return [values[0] if len(set(values)) == 1 else "#" for values in zip(*members, strict=True)]


def _fill(pieces: tuple[str, ...], numbers: list[str]) -> str:
    return pieces[0] + "".join(n + p for n, p in zip(numbers, pieces[1:], strict=True))


def group_failures(texts, top: int = TOP_MESSAGES) -> list[Failure]:
    """The ``top`` most frequent mistakes among ``texts``, most frequent first.

    Messages group by the mistake the test recognized, its hint (numbers a hint quotes
    may differ), whatever check raised it; messages without a hint group by their text
    with numbers masked. On a tie a learner's mistake ranks above a submission that
    could not be graded.
    """
    groups: dict[tuple, list[tuple]] = {}
    for text in texts:
        body, hint = _parts(text)
        body_pieces, body_numbers = _split(body)
        hint_pieces, hint_numbers = _split(hint)
        key = ("hint", hint_pieces) if hint else ("text", body_pieces)
        groups.setdefault(key, []).append((body_pieces, body_numbers, hint_numbers))
    failures = []
    for (kind, pieces), members in groups.items():
        # The check most of the group failed speaks for it (the first on a tie).
        shapes = [body_pieces for body_pieces, _, _ in members]
        body_pieces = max(dict.fromkeys(shapes), key=shapes.count)
        same_body = [numbers for shape, numbers, _ in members if shape == body_pieces]
        hint = (
            _fill(pieces, _kept([numbers for _, _, numbers in members])) if kind == "hint" else ""
        )
        masked = _join("#".join(body_pieces), hint)
        readable = _join(_fill(body_pieces, _kept(same_body)), hint)
        failures.append(Failure(_shorten(masked), len(members), _shorten(readable)))
    failures.sort(key=lambda f: (-f.count, f.message.startswith(NOT_GRADED), f.message))
    return failures[:top]


def discrimination(item_scores, rest_scores) -> float | None:
    """Pearson correlation of an item's scores with the rest of each student's score.

    Returns ``None`` (not 0, not nan) when it is meaningless: fewer than
    ``MIN_STUDENTS_FOR_DISCRIMINATION`` students, or a side that does not vary.
    """
    item, rest = [float(v) for v in item_scores], [float(v) for v in rest_scores]
    if len(item) != len(rest):
        raise ValueError(f"{len(item)} item scores but {len(rest)} rest scores")
    if len(item) < MIN_STUDENTS_FOR_DISCRIMINATION or len(set(item)) < 2 or len(set(rest)) < 2:
        return None
    mean_item, mean_rest = sum(item) / len(item), sum(rest) / len(rest)
    dx = [v - mean_item for v in item]
    dy = [v - mean_rest for v in rest]
    spread = math.sqrt(sum(v * v for v in dx) * sum(v * v for v in dy))
    if spread == 0.0:  # unreachable for distinct values; kept so no NaN can ever escape
        return None
    return max(-1.0, min(1.0, sum(a * b for a, b in zip(dx, dy, strict=True)) / spread))


def function_of(grade_id: str, functions) -> str:
    """The graded function a test cell checks: the longest ``f`` with ``grade_id`` equal to
    ``test_f`` or starting with ``test_f_`` (``test_mean_nll_x`` is ``mean_nll``, not
    ``mean``); ``""`` when none matches."""
    owners = [f for f in functions if grade_id == f"test_{f}" or grade_id.startswith(f"test_{f}_")]
    return max(owners, key=len) if owners else ""


# -- reading the course ----------------------------------------------------------------
def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _layout(root: Path, assignment: str) -> dict[str, tuple[list[tuple[str, float]], list[str]]]:
    """``{notebook: ([(test grade_id, points)] in notebook order, [graded functions])}``
    from the instructor's notebooks: answer cells are ``solution`` and not ``grade``,
    test cells are code cells that are ``grade`` and not ``solution``."""
    layout = {}
    for path in sorted((root / "source" / assignment).glob("*.ipynb")):
        tests, functions = [], []
        for cell in _read_json(path).get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if not grade_id:
                continue
            if meta.get("solution") and not meta.get("grade"):
                functions.append(grade_id)
            elif meta.get("grade") and not meta.get("solution") and cell["cell_type"] == "code":
                tests.append((grade_id, float(meta.get("points", 0) or 0)))
        layout[path.stem] = (tests, functions)
    return layout


def _cell_message(cell: dict) -> str:
    """What a failed test cell said: its error (or what reached stderr), else ``""``."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            name, value = output.get("ename", ""), str(output.get("evalue", "")).strip()
            if not value:
                return name or "error"
            # The course's checks word the whole message for learners; other errors
            # (NameError, NotRun, ...) need their name to make sense.
            return value if name in CHECK_ERRORS else f"{name}: {value}"
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "wrote to stderr: " + "".join(output.get("text", "")).strip()
    return ""


class _Messages:
    """Failure messages from the autograded notebooks, each notebook read at most once."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[tuple[str, str, str], dict[str, str] | None] = {}

    def __call__(self, student: str, assignment: str, notebook: str, grade_id: str) -> str:
        key = (student, assignment, notebook)
        if key not in self.cache:
            path = self.root / "autograded" / student / assignment / f"{notebook}.ipynb"
            cells = _read_json(path).get("cells") if path.is_file() else None
            self.cache[key] = (
                None
                if cells is None
                else {
                    c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): _cell_message(c)
                    for c in cells
                }
            )
        messages = self.cache[key]
        if messages is None or grade_id not in messages:
            folder = self.root / "autograded" / student / assignment
            ledger = _read_json(folder / LEDGER)
            reason = ledger.get("notebooks", {}).get(notebook) or ledger.get("reason", "")
            return f"{NOT_GRADED}: {reason}" if reason else NOT_GRADED
        return messages[grade_id] or "lost points without an error message"


def _analyse(root: Path, name: str, rows: list[dict], messages: _Messages) -> AssignmentReport:
    layout = _layout(root, name)
    rows = [r for r in rows if r["assignment"] == name]

    test_ids = {notebook: {g for g, _ in cells} for notebook, (cells, _) in layout.items()}

    def is_test(row) -> bool:
        if row["notebook"] in test_ids:
            return row["grade_id"] in test_ids[row["notebook"]]
        return row["grade_id"].startswith("test_")  # the contract's naming, for lack of source

    tests = [r for r in rows if is_test(r)]
    # Items in notebook order; those of a notebook no longer in source/ go last.
    order = [(nb, g, points) for nb, (cells, _) in layout.items() for g, points in cells]
    known = {(nb, g) for nb, g, _ in order}
    extra = {(r["notebook"], r["grade_id"]): r["max_score"] for r in tests}
    order += [(nb, g, points) for (nb, g), points in sorted(extra.items()) if (nb, g) not in known]

    scores: dict[tuple[str, str], dict[str, float]] = {}
    maxima: dict[tuple[str, str], float] = {}  # the gradebook's points win over source/'s
    totals: dict[str, float] = {r["student_id"]: 0.0 for r in rows}
    for r in tests:
        scores.setdefault((r["notebook"], r["grade_id"]), {})[r["student_id"]] = r["score"]
        maxima[r["notebook"], r["grade_id"]] = r["max_score"]
        totals[r["student_id"]] += r["score"]

    items = []
    for notebook, grade_id, points in order:
        cell_scores = scores.get((notebook, grade_id), {})
        max_score = maxima.get((notebook, grade_id), points)
        functions = layout.get(notebook, ([], []))[1]
        item = Item(name, notebook, grade_id, function_of(grade_id, functions), max_score)
        if cell_scores:
            students = sorted(cell_scores)
            item.submissions = len(students)
            item.mean_score = sum(cell_scores.values()) / len(students)
            item.facility = item.mean_score / max_score if max_score > 0 else None
            item.discrimination = discrimination(
                [cell_scores[s] for s in students],
                [totals[s] - cell_scores[s] for s in students],
            )
            lost = [s for s in students if cell_scores[s] < max_score]
            item.failed = len(lost)
            item.messages = group_failures(messages(s, name, notebook, grade_id) for s in lost)
        items.append(item)

    ungraded = []
    for student in sorted(totals):
        ledger = _read_json(root / "autograded" / student / name / LEDGER)
        if ledger.get("status") == "failed":
            ungraded.append((student, ledger.get("reason", "") or "no reason recorded"))
    return AssignmentReport(
        name=name,
        max_score=sum(item.max_score for item in items),
        items=items,
        scores=dict(sorted(totals.items())),
        ungraded=ungraded,
    )


# -- writing ---------------------------------------------------------------------------
def _number(value: float | None) -> str:
    return "" if value is None else f"{round(value, 4):g}"


def _csv_text(assignments: list[AssignmentReport]) -> str:
    rows = []
    for assignment in assignments:
        for item in assignment.items:
            row = {
                "assignment": item.assignment,
                "notebook": item.notebook,
                "grade_id": item.grade_id,
                "function": item.function,
                "submissions": item.submissions,
                "mean_score": _number(item.mean_score),
                "max_score": _number(item.max_score),
                "facility": _number(item.facility),
                "discrimination": _number(item.discrimination),
                "failed": item.failed,
            }
            for rank in range(TOP_MESSAGES):
                failure = item.messages[rank] if rank < len(item.messages) else None
                row[f"message_{rank + 1}"] = failure.message if failure else ""
                row[f"count_{rank + 1}"] = failure.count if failure else ""
            rows.append(row)
    return csv_text(ITEM_FIELDS, rows)


# -- the command -----------------------------------------------------------------------
def _file_stem(names: list[str] | None, students: list[str] | None) -> str:
    """``""`` for the whole course; ``"-03_minus_sign"``, ``"-03_minus_sign-alice+bob"``
    for part of it, so a partial report never replaces the whole-course one."""
    if not names and not students:
        return ""
    stem = "-" + "+".join(names) if names else "-all"
    if students:
        stem += "-" + ("+".join(students) if len(students) <= 3 else f"{len(students)}-students")
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", stem)


def report(
    assignments: list[str] | None = None,
    *,
    students: list[str] | None = None,
    root: Path | None = None,
    out: Path | None = None,
) -> Report:
    """Write ``items.csv`` and ``report.html`` for the graded submissions.

    Parameters
    ----------
    assignments : list of str, optional
        Which assignments to analyse (default: all of the course's). An assignment that
        nobody submitted gets a "no submissions" section, not an error.
    students : list of str, optional
        Analyse only these students' submissions (default: everybody's).
    root : path, optional
        The course root (default: found from the working directory).
    out : path, optional
        The folder to write ``items.csv`` and ``report.html`` into. By default they go
        to ``<root>/grades``, named after what was asked for when it is not the whole
        course (``report-03_minus_sign.html``), so that one assignment's report never
        replaces the whole course's.

    Returns
    -------
    Report
        The statistics, and the paths written; :func:`summary` prints it.
    """
    root = find_root(root) if root is None else Path(root).resolve()
    names = check_assignments(root, assignments)
    stem = "" if out is not None else _file_stem(assignments and names, students)
    out = Path(out) if out is not None else root / "grades"
    # Fails with "run autograder grade first" without a gradebook, and on unknown students.
    rows = cell_rows(root, names, students)
    messages = _Messages(root)
    analysed = [_analyse(root, name, rows, messages) for name in names]
    course = load_config(root).CourseDirectory.get("course_id", "") or root.name
    if students:
        course += f" (students: {', '.join(students)})"
    result = Report(analysed, out / f"items{stem}.csv", out / f"report{stem}.html")
    from autograder.report_page import page_text  # it needs this module's names

    csv_text, html_text = _csv_text(analysed), page_text(course, result)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(result.items_csv, csv_text)
        write_atomically(result.html, html_text)
    except OSError as error:
        raise CourseError(f"cannot write into {out}: {error.strerror}") from None
    return result


def summary(result: Report, *, count: int = HARDEST, width: int = 100) -> str:
    """The text printed after a report: the ``count`` hardest test cells and their most
    common failure message, then what could not be analysed."""
    submitted = [a for a in result.assignments if a.submissions]
    lines = [
        f"{len(submitted)} of {len(result.assignments)} assignment(s) have submissions; "
        f"{sum(a.submissions for a in submitted)} submission(s) analysed."
    ]
    hardest = result.hardest(count)
    if hardest:
        lines.append(f"The {len(hardest)} hardest test cell(s) (facility = mean score / max):")
        for rank, item in enumerate(hardest, 1):
            lines.append(
                f"{rank:>3}. {item.assignment} {item.grade_id}: facility {item.facility:.2f}, "
                f"failed by {item.failed} of {item.submissions}"
            )
            failure = item.messages[0]
            lines += textwrap.wrap(
                f"{failure.count}x {failure.readable}",
                width=width,
                initial_indent=" " * 7,
                subsequent_indent=" " * 10,
                break_on_hyphens=False,  # "-log(theta)" must not become "-" and "log(theta)"
            )
    elif submitted:
        lines.append("Every submission passed every test cell.")
    empty = [a.name for a in result.assignments if not a.submissions]
    if empty:
        lines.append(f"No submissions for: {', '.join(empty)}.")
    ungraded = sum(len(a.ungraded) for a in result.assignments)
    if ungraded:
        lines.append(f"{ungraded} submission(s) could not be graded: reasons in {result.html}.")
    return "\n".join(lines)

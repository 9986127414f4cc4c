"""``autograder export --lms FILE``: the course's scores, filled into the gradebook CSV
that the LMS exported, ready to import back.

Every LMS exports its gradebook as CSV and imports the same file back, so the file is
filled rather than a format invented. What is not the course's to write is kept byte
for byte: the encoding and its BOM, the delimiter, each cell's quoting, each row's line
ending, Canvas's "Points Possible" row and every other row and column. The course adds
(or fills, when the LMS already has it):

- a column per assignment with at least one submission, named as the LMS expects of a
  new column (the plain assignment name; an existing column is recognized in Canvas's
  ``01_likelihood (12345)`` and Moodle's ``Assignment: 01_likelihood (Real)`` forms and
  keeps its name), holding ``score`` of ``scores.csv``: after nbgrader's late penalty;
- a column :data:`TOTAL`, the sum of those scores;
- in Canvas's "Points Possible" row, the points of each new column.

Students are matched on one column of the file: ``--match COLUMN``, or the first of
:data:`CANDIDATES` that holds the most of the course's student ids (the command says
which). Ids are compared without regard to case or surrounding blanks; an email address
also matches by the part before the ``@`` (``jdoe`` for ``jdoe@uni.edu``), unless that
is ambiguous.

Nothing is lost in silence: the report has one line per problem (an LMS student without
a submission, a submission whose student is not in the file, an ambiguous match, a late
penalty, a score not final yet, a points-possible value that differs).
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import CourseError, did_you_mean, find_root, spreadsheet_safe

#: The columns that usually hold a student's id, in order of preference: Canvas's, then
#: Moodle's, then other LMSs' and hand-made files'.
CANDIDATES = (
    "SIS Login ID",
    "SIS User ID",
    "Login ID",
    "ID",
    "ID number",
    "Username",
    "Email address",
    "Email",
    "E-mail",
    "Student ID",
    "student_id",
    "User ID",
)
#: The column of each student's total over the assignments exported.
TOTAL = "Autograder total"
#: What the default output file is called: ``grades.csv`` gives ``grades-with-scores.csv``.
SUFFIX = "-with-scores"
DELIMITERS = (",", ";", "\t", "|", ":")


@dataclass
class Record:
    """One CSV record: the raw text span of each cell, its values, its line ending."""

    spans: list[tuple[int, int]]
    values: list[str]
    terminator: str
    line: int  # where it starts, 1-based

    @property
    def blank(self) -> bool:
        return len(self.values) == 1 and self.spans[0][0] == self.spans[0][1]


@dataclass
class CsvFile:
    """An LMS's CSV file, parsed without losing a byte of it."""

    path: Path
    text: str
    encoding: str
    bom: bytes
    delimiter: str
    records: list[Record]
    quote_all: bool  # every header cell is quoted: cells written here are too
    decimal_comma: bool  # numbers are written 7,5 in it

    @property
    def header(self) -> list[str]:
        return self.records[0].values


@dataclass
class LmsExport:
    """What :func:`export_lms` did: the file written, the column students were matched
    on (``detected`` when it was not given), ``filled`` (one line per column written)
    and ``problems``, one line each."""

    out: Path
    column: str
    detected: bool
    matched: int
    submitters: int
    filled: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# -- reading ---------------------------------------------------------------------------
def read_csv_file(path: Path) -> CsvFile:
    """Read and parse ``path``; a file that is not a usable CSV is a one-line
    :class:`CourseError` saying why."""
    path = Path(path)
    if not path.exists():
        raise CourseError(f"no such file: {path}")
    if path.is_dir():
        raise CourseError(f"{path} is a folder: give the gradebook CSV file the LMS exported")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CourseError(f"cannot read {path}: {error.strerror or error}") from None
    if data.startswith(b"PK\x03\x04"):
        raise CourseError(
            f"{path} is a spreadsheet workbook (.xlsx or .ods), not CSV: export the "
            "gradebook from the LMS as CSV (or save it as CSV)"
        )
    text, encoding, bom = _decode(path, data)
    if not text.strip():
        raise CourseError(f"{path} is empty: export the gradebook from the LMS again")
    if "\x00" in text:
        raise CourseError(f"{path} is not a text file: give the gradebook CSV the LMS exported")
    delimiter = _delimiter(text)
    records = _records(text, delimiter, path)
    header = records[0]
    if len(header.values) < 2:
        raise CourseError(
            f"{path}: the first line has a single column ({header.values[0][:40]!r}): is it "
            "the gradebook CSV the LMS exported?"
        )
    width = len(header.values)
    for record in records[1:]:
        extra = record.values[width:]
        if not record.blank and any(value.strip() for value in extra):
            raise CourseError(
                f"{path}: line {record.line} has {len(record.values)} cells but the first "
                f"line names {width} columns: is the file complete and unchanged?"
            )
    return CsvFile(
        path=path,
        text=text,
        encoding=encoding,
        bom=bom,
        delimiter=delimiter,
        records=records,
        quote_all=all(text[start : start + 1] == '"' for start, _ in header.spans),
        decimal_comma=_decimal_comma(records),
    )


def is_points_row(record: Record) -> bool:
    """Canvas's "Points Possible" row (anywhere in the file, as Canvas's importer has it)."""
    return record.values[0].strip().casefold() == "points possible"


#: Columns that hold points: Canvas's ``Name (id)``, Moodle's ``(Real)``, totals.
_POINTS_COLUMN = re.compile(r".*(\(\d+\)|\(Real\)|points|score|total)", re.IGNORECASE)


def _decimal_comma(records: list[Record]) -> bool:
    """Whether the file writes numbers as ``7,5`` (Canvas and Moodle in German, say)."""
    columns = [i for i, name in enumerate(records[0].values) if _POINTS_COLUMN.fullmatch(name)]
    for record in records[1:]:
        cells = (
            record.values
            if is_points_row(record)
            else [record.values[i] for i in columns if i < len(record.values)]
        )
        if any(_DECIMAL_COMMA.fullmatch(value.strip()) for value in cells):
            return True
    return False


_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")


def _decode(path: Path, data: bytes) -> tuple[str, str, bytes]:
    """The text, the codec that gives the same bytes back, and the BOM."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding, bom
            except UnicodeDecodeError:
                raise CourseError(f"{path} starts with a {encoding} mark but is not") from None
    # No mark: UTF-8 if it is, else the Windows code page an LMS or Excel writes in.
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if text.encode(encoding) == data:
            return text, encoding, b""
    raise CourseError(f"{path}: cannot tell its text encoding")  # latin-1 reads anything


def _delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most, equally long, records."""
    best, best_score = ",", (False, 0)
    for delimiter in DELIMITERS:
        try:
            records = _records(text, delimiter, None, limit=6)
        except CourseError:
            continue
        width = len(records[0].values)
        rows = [r for r in records[1:] if not r.blank]
        score = (all(len(r.values) == width for r in rows), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _records(text: str, delimiter: str, path: Path | None, limit: int = 0) -> list[Record]:
    """RFC 4180 records of ``text``, each cell's raw span kept (quotes included)."""
    stop = re.compile(f"[{re.escape(delimiter)}\r\n]")
    records: list[Record] = []
    position, length, line = 0, len(text), 1
    while position < length and not (limit and len(records) >= limit):
        spans, values, first_line = [], [], line
        while True:
            start = position
            if position < length and text[position] == '"':
                parts, position = [], position + 1
                while True:
                    quote = text.find('"', position)
                    if quote < 0:
                        raise CourseError(
                            f"{path or 'the file'}: line {first_line}: a quoted cell never "
                            'ends (a lone "): is the file complete?'
                        )
                    parts.append(text[position:quote])
                    if text.startswith('""', quote):
                        parts.append('"')
                        position = quote + 2
                        continue
                    position = quote + 1
                    break
                found = stop.search(text, position)
                end = found.start() if found else length
                value = "".join(parts) + text[position:end]  # text after the quote, kept
                position = end
            else:
                found = stop.search(text, position)
                position = found.start() if found else length
                value = text[start:position]
            line += text.count("\n", start, position)
            spans.append((start, position))
            values.append(value)
            if position < length and text[position] == delimiter:
                position += 1
                continue
            break
        if text.startswith("\r\n", position):
            terminator = "\r\n"
        else:
            terminator = text[position : position + 1]
        position += len(terminator)
        line += 1
        records.append(Record(spans, values, terminator, first_line))
    return records


# -- the columns -----------------------------------------------------------------------
def column_of(name: str, header: list[str]) -> list[int]:
    """The columns of ``header`` that are ``name``: the plain name, Canvas's ``name
    (12345)``, Moodle's ``Assignment: name (Real)`` or ``name (Real)``."""
    plain = re.escape(name)
    forms = (
        re.compile(plain),
        re.compile(rf"{plain} \(\d+\)"),  # Canvas: name (assignment id)
        re.compile(rf"(?:[^:]+: )?{plain} \(Real\)"),  # Moodle: module: name (display type)
    )
    return [i for i, cell in enumerate(header) if any(f.fullmatch(cell.strip()) for f in forms)]


def _header_index(header: list[str], name: str) -> int | None:
    wanted = name.strip().casefold()
    for i, cell in enumerate(header):
        if cell.strip().casefold() == wanted:
            return i
    return None


def _who(header: list[str], record: Record, key: str) -> str:
    """``Jane Doe (jdoe)``: the name the LMS gives the row, and its id."""
    values = dict(zip((h.strip().casefold() for h in header), record.values, strict=False))
    name = values.get("student") or values.get("name") or values.get("full name")
    if not name:
        first = values.get("first name", "")
        last = values.get("last name") or values.get("surname", "")
        name = f"{first} {last}".strip()
    name = " ".join((name or "").split())
    if not key:
        return name
    return f"{name} ({key})" if name and name != key else key


# -- matching ----------------------------------------------------------------------------
class _Index:
    """A column's values: by their whole (case folded), and an address's local part."""

    def __init__(self, rows: list[int], records: list[Record], column: int):
        self.exact: dict[str, list[int]] = {}
        self.local: dict[str, list[int]] = {}
        for row in rows:
            values = records[row].values
            value = values[column].strip() if column < len(values) else ""
            if not value:
                continue
            self.exact.setdefault(value.casefold(), []).append(row)
            if value.count("@") == 1:
                self.local.setdefault(value.split("@")[0].casefold(), []).append(row)

    def rows(self, student: str) -> list[int]:
        key = student.strip().casefold()
        return self.exact.get(key) or self.local.get(key, [])


def _detect(table: CsvFile, rows: list[int], students: list[str]) -> tuple[int, int]:
    """The column of :data:`CANDIDATES` matching the most students, with the count."""
    present = [(c, i) for c in CANDIDATES if (i := _header_index(table.header, c)) is not None]
    if not present:
        shown = ", ".join(repr(h) for h in table.header[:12])
        raise CourseError(
            f"{table.path.name} has none of the columns that usually hold the student id "
            f"({', '.join(CANDIDATES[:7])}, ...): pass --match COLUMN (its columns: {shown})"
        )
    best, best_count = present[0][1], -1
    for _, column in present:
        index = _Index(rows, table.records, column)
        count = sum(len(index.rows(student)) == 1 for student in students)
        if count > best_count:
            best, best_count = column, count
    if best_count <= 0 and students:
        looked = ", ".join(repr(c) for c, _ in present)
        raise CourseError(
            f"none of the {len(students)} student id(s) of this course (such as "
            f"{students[0]!r}) is in the column(s) {looked} of {table.path.name}: pass "
            "--match COLUMN, the column that holds them"
        )
    return best, max(best_count, 0)


# -- writing -----------------------------------------------------------------------------
def _number(value: float, table: CsvFile) -> str:
    text = f"{round(float(value), 6):.6f}".rstrip("0").rstrip(".")
    text = "0" if text in ("", "-0") else text
    return text.replace(".", ",") if table.decimal_comma else text


def _cell(value: str, table: CsvFile) -> str:
    value = spreadsheet_safe(value)
    special = any(c in value for c in (table.delimiter, '"', "\r", "\n"))
    if table.quote_all or special or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def _filled(cell: str) -> bool:
    """Whether an LMS cell holds a grade (Moodle writes ``-`` for none)."""
    return cell.strip() not in ("", "-")


def _float(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return None


def _same(value: str, had: str) -> bool:
    """Whether the LMS's cell already says ``value`` (``8.00`` says ``8``): left as is."""
    if value == had:
        return True
    given, wanted = _float(had), _float(value)
    return given is not None and wanted is not None and abs(given - wanted) < 1e-9


def default_out(path: Path) -> Path:
    """``grades.csv`` → ``grades-with-scores.csv``, beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}{SUFFIX}{path.suffix or '.csv'}")


def _write_bytes(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise CourseError(f"cannot write {path}: {error.strerror or error}") from None


# -- the command -------------------------------------------------------------------------
@dataclass
class _Course:
    """The course's side: ``score_rows`` by student and assignment."""

    scores: dict[tuple[str, str], dict]
    assignments: list[str]  # with at least one submission, in order
    unsubmitted: list[str]  # without any
    students: list[str]  # every student of the gradebook
    submitters: list[str]  # those with at least one submission
    max_of: dict[str, float]

    @classmethod
    def load(cls, root: Path, names: list[str] | None) -> _Course:
        from autograder.export import score_rows

        rows = score_rows(root, names)
        order = sorted({r["assignment"] for r in rows})
        handed_in = {r["assignment"] for r in rows if r["submitted"] == "true"}
        max_of = {r["assignment"]: float(r["max_score"]) for r in rows}
        assignments = [a for a in order if a in handed_in]
        max_of[TOTAL] = sum(max_of[a] for a in assignments)
        return cls(
            scores={(r["student_id"], r["assignment"]): r for r in rows},
            assignments=assignments,
            unsubmitted=[a for a in order if a not in handed_in],
            students=sorted({r["student_id"] for r in rows}),
            submitters=sorted({r["student_id"] for r in rows if r["submitted"] == "true"}),
            max_of=max_of,
        )

    def submission(self, student: str | None, assignment: str) -> dict | None:
        row = self.scores.get((student, assignment)) if student else None
        return row if row is not None and row["submitted"] == "true" else None


def _value(record: Record, column: int) -> str:
    return record.values[column] if column < len(record.values) else ""


def _match(table: CsvFile, rows: list[int], course: _Course, column: int, problems: list[str]):
    """``{LMS row: student}`` for the rows matched to exactly one student and back, and
    the rows refused as ambiguous (each reported in one line)."""
    records, header = table.records, table.header
    key_name = header[column].strip()
    index = _Index(rows, records, column)
    claims: dict[int, list[str]] = {}
    refused: set[int] = set()
    for student in course.students:
        found = index.rows(student)
        if len(found) > 1:
            if student in course.submitters:
                lines = ", ".join(str(records[i].line) for i in found)
                problems.append(
                    f"ambiguous: {student} matches {len(found)} rows of {key_name!r} (lines "
                    f"{lines}): refused, those rows left as they were"
                )
            refused.update(found)
        elif found:
            claims.setdefault(found[0], []).append(student)
    for row, students in claims.items():
        if len(students) > 1:
            refused.add(row)
            record = records[row]
            who = _who(header, record, _value(record, column).strip())
            problems.append(
                f"ambiguous: line {record.line} ({who}) "
                f"matches {len(students)} students of the course ({', '.join(students)}): "
                "refused, left as it was"
            )
    matched = {row: students[0] for row, students in claims.items() if row not in refused}
    return matched, refused, index


def export_lms(
    lms_file: Path,
    assignments: list[str] | None = None,
    *,
    root: Path | None = None,
    match: str | None = None,
    out: Path | None = None,
    missing_zero: bool = False,
) -> LmsExport:
    """Fill the gradebook CSV ``lms_file`` exported by an LMS with the course's scores.

    Parameters
    ----------
    lms_file : path
        The file the LMS exported (Canvas: Grades → Export → Export Entire Gradebook;
        Moodle: Grades → Export → Plain text file). It is read, never written.
    assignments : list of str, optional
        Only these assignments (default: every assignment with a submission).
    root : path, optional
        The course root (default: found from the working directory).
    match : str, optional
        The column of ``lms_file`` holding the course's student ids (default: detected
        among :data:`CANDIDATES`).
    out : path, optional
        Where to write the filled copy (default: beside ``lms_file``, named by
        :func:`default_out`); never ``lms_file`` itself.
    missing_zero : bool
        Give 0 to an LMS student with no submission, where the LMS has no grade (default:
        leave the cell empty, which the LMS reads as no grade).

    Returns
    -------
    LmsExport
        The file written, how students were matched, and the report.
    """
    from autograder.course import check_assignments

    root = find_root(root) if root is None else Path(root).resolve()
    lms_file = Path(lms_file)
    out = Path(out) if out is not None else default_out(lms_file)
    if out.resolve() == lms_file.resolve() or (
        out.exists() and lms_file.exists() and os.path.samefile(out, lms_file)
    ):
        raise CourseError(
            f"--out {out} is the LMS file itself, which is never overwritten: give another name"
        )
    if out.is_dir():
        raise CourseError(f"--out {out} is a folder: give the file to write")
    names = check_assignments(root, assignments) if assignments else None
    table = read_csv_file(lms_file)
    course = _Course.load(root, names)
    if not course.assignments:
        raise CourseError(
            "the gradebook has no submissions"
            + (f" of {', '.join(names)}" if names else "")
            + ": nothing to fill in (run `autograder grade` first)"
        )
    problems = [f"no submissions of {a} yet: no column for it" for a in course.unsubmitted]

    records, header, width = table.records, table.header, len(table.header)
    points_rows = [i for i in range(1, len(records)) if is_points_row(records[i])]
    people = [i for i in range(1, len(records)) if i not in points_rows and not records[i].blank]
    if match is not None:
        column = _header_index(header, match)
        if column is None:
            raise CourseError(
                f"no column {match!r} in {table.path.name}{did_you_mean(match, header)} "
                f"(its columns: {', '.join(repr(h) for h in header[:12])})"
            )
    else:
        column, _ = _detect(table, people, course.submitters)
    key_name = header[column].strip()
    matched, refused, index = _match(table, people, course, column, problems)
    if not set(matched.values()) & set(course.submitters) and not refused:
        raise CourseError(
            f"none of the {len(course.submitters)} student(s) with a submission (such as "
            f"{course.submitters[0]!r}) is in the column {key_name!r} of {table.path.name}: "
            "pass --match COLUMN, the column that holds the course's student ids"
        )

    # The columns: each assignment's (the LMS's own when it has one, else new), the total.
    targets: list[tuple[str, int | None]] = []
    for name in [*course.assignments, TOTAL]:
        found = column_of(name, header)
        if len(found) > 1:
            shown = ", ".join(repr(header[i]) for i in found)
            raise CourseError(
                f"{table.path.name} has {len(found)} columns for {name} ({shown}): keep one "
                "of them and export again"
            )
        targets.append((name, found[0] if found else None))
    new = [name for name, existing in targets if existing is None]

    # Each row's cells: {existing column: value}, and the values of the new columns.
    number = lambda value: _number(value, table)  # noqa: E731
    edits: dict[int, tuple[dict[int, str], list[str]]] = {0: ({}, list(new))}
    for i in points_rows:
        record = records[i]
        edits[i] = ({}, [number(course.max_of[name]) for name in new])
        for name, existing in targets:
            given = _float(_value(record, existing)) if existing is not None else None
            if given is not None and abs(given - course.max_of[name]) > 1e-6:
                problems.append(
                    f"points possible: {header[existing]!r} is out of "
                    f"{_value(record, existing).strip()} in {table.path.name} but "
                    f"{number(course.max_of[name])} in the course: the scores are the course's"
                )
    missing: dict[int, list[str]] = {}
    for i in people:
        record = records[i]
        key = _value(record, column).strip()
        if i in refused or not key:
            edits[i] = ({}, [""] * len(new))
            if not key and i not in refused and _who(header, record, ""):
                problems.append(
                    f"no {key_name}: line {record.line} ({_who(header, record, '')}): left as "
                    "it was"
                )
            continue
        student = matched.get(i)
        changes, appended, total = {}, [], None
        for name, existing in targets:
            had = _value(record, existing) if existing is not None else ""
            if name == TOTAL:
                value = number(total) if total is not None else None
            elif (score := course.submission(student, name)) is not None:
                value = number(float(score["score"]))
                total = (total or 0.0) + float(score["score"])
            else:
                missing.setdefault(i, []).append(name)
                value = None
                if _filled(had):
                    problems.append(
                        f"kept: {_who(header, record, key)} has {had.strip()} for {name} in "
                        f"{table.path.name}, and no submission here"
                    )
            if value is None:  # no score of the course's: the LMS's own, else empty or 0
                value = had if _filled(had) else "0" if missing_zero else None
            if existing is None:
                appended.append(value or "")
            elif value is not None and not _same(value, had):
                changes[existing] = value
        edits[i] = (changes, appended)

    # The report, one line per problem.
    done = "set to 0" if missing_zero else "left empty"
    for i, absent in missing.items():
        record = records[i]
        who = _who(header, record, _value(record, column).strip())
        if len(absent) == len(course.assignments):
            problems.append(f"no submission at all: {who}: {done}")
        else:
            problems.append(f"no submission of {', '.join(absent)}: {who}: {done}")
    for student in course.submitters:
        rows = index.rows(student)
        if student in matched.values() or len(rows) > 1 or (rows and rows[0] in refused):
            continue
        shown = ", ".join(
            f"{a} {number(float(score['score']))}/{number(course.max_of[a])}"
            for a in course.assignments
            if (score := course.submission(student, a)) is not None
        )
        problems.append(
            f"not in {table.path.name}: {student} ({shown}): not written; add the student "
            "to the LMS (or check --match), export the gradebook again and rerun"
        )
    waiting: dict[str, list[str]] = {}
    for student in sorted(matched.values()):
        for name in course.assignments:
            score = course.submission(student, name)
            if score is None:
                continue
            if float(score["late_penalty"]):
                problems.append(
                    f"late: {student} {name}: {number(float(score['late_penalty']))} point(s) "
                    f"off by the late penalty ({number(float(score['raw_score']))} → "
                    f"{number(float(score['score']))} of {number(course.max_of[name])})"
                )
            if score["needs_manual_grade"] == "true":
                waiting.setdefault(name, []).append(student)
    for name, students in waiting.items():
        shown = ", ".join(students[:8]) + (", ..." if len(students) > 8 else "")
        problems.append(
            f"not final: {name}: {len(students)} student(s) have answers awaiting grading in "
            f"formgrader ({shown}); export again once they are graded"
        )

    _write_bytes(out, _render(table, edits, width))
    return LmsExport(
        out=out,
        column=key_name,
        detected=match is None,
        matched=len(matched),
        submitters=len(course.submitters),
        filled=[
            f"{name} (new column)" if existing is None else f"{name} (into {header[existing]!r})"
            for name, existing in targets
        ],
        problems=problems,
    )


def _render(
    table: CsvFile, edits: dict[int, tuple[dict[int, str], list[str]]], width: int
) -> bytes:
    """The file with ``edits`` made: every other byte as it was read."""
    text, delimiter = table.text, table.delimiter
    pieces, position = [], 0
    for i in sorted(edits):
        record = table.records[i]
        changes, appended = edits[i]
        have = len(record.values)
        tail = [""] * max(0, width - have)  # cells a short row lacks, before the new ones
        for cell, value in sorted(changes.items()):
            if cell >= have:
                tail[cell - have] = value
                continue
            start, end = record.spans[cell]
            pieces.append(text[position:start])
            pieces.append(_cell(value, table))
            position = end
        if appended or any(tail):
            # After the header's last column: empty cells a row has past it shift right.
            end = record.spans[min(width, have) - 1][1]
            pieces.append(text[position:end])
            pieces.append("".join(delimiter + _cell(v, table) for v in tail + appended))
            position = end
    pieces.append(text[position:])
    try:
        return table.bom + "".join(pieces).encode(table.encoding)
    except UnicodeEncodeError as error:
        raise CourseError(
            f"{table.path.name} is in {table.encoding}, which cannot hold "
            f"{error.object[error.start : error.end]!r}: export it from the LMS as UTF-8"
        ) from None

"""``autograder feedback``: one HTML page per student and assignment notebook.

Each page lists every graded cell of the notebook: passed or not, points, and for a
failed test the message it raised (written for the learner: expected, got, hint). It
shows the student's own answers, but never the code of a test: hidden tests stay
hidden, and so do tracebacks, which would quote them (nbgrader's own feedback shows
both). A submission that could not be graded gets a page with the reason.

Pages go to ``feedback/<student>/<assignment>/<notebook>.html``, nbgrader's layout, so
``nbgrader release_feedback`` can hand them out.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat

from autograder import bridge
from autograder.course import find_root, write_atomically
from autograder.discover import LEDGER
from autograder.export import cell_rows

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto;
       padding: 0 1rem; color: #1a1a1a; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd;
         vertical-align: top; }
.passed { color: #006d4f; } .failed { color: #b33c00; } .manual { color: #555; }
pre { background: #f5f5f5; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
.total { font-size: 1.2rem; font-weight: bold; }
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
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def render(
    student: str, assignment: str, notebook_name: str, notebook, rows: list[dict], reason: str = ""
) -> str:
    """The feedback page of one notebook, as HTML text."""
    scores = {r["grade_id"]: r for r in rows}
    total = sum(r["score"] for r in rows)
    possible = sum(r["max_score"] for r in rows)
    title = f"{assignment} / {notebook_name}: feedback for {student}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='total'>Score: {total:g} / {possible:g}</p>",
    ]
    if reason:
        parts.append(
            f"<p class='failed'>This notebook could not be graded in full: "
            f"{html.escape(reason)}</p>"
        )
    parts.append(
        "<h2>Tests and questions</h2><table><tr><th>cell</th><th>points</th><th>result</th></tr>"
    )
    cells = {
        c.metadata.get("nbgrader", {}).get("grade_id"): c
        for c in (notebook.cells if notebook else [])
    }
    for grade_id, row in sorted(scores.items()):
        cell = cells.get(grade_id)
        is_test = grade_id.startswith("test_")
        if not is_test and cell is not None and cell.cell_type == "markdown":
            result = "<span class='manual'>graded by your instructor</span>"
        elif row["score"] >= row["max_score"]:
            result = "<span class='passed'>passed</span>"
        else:
            message = _message(cell) if cell is not None else reason or "not run"
            result = f"<span class='failed'>failed</span><pre>{html.escape(message)}</pre>"
        parts.append(
            f"<tr><td><code>{html.escape(grade_id)}</code></td>"
            f"<td>{row['score']:g} / {row['max_score']:g}</td><td>{result}</td></tr>"
        )
    parts.append("</table>")
    answers = [
        c
        for c in (notebook.cells if notebook else [])
        if c.metadata.get("nbgrader", {}).get("solution")
    ]
    if answers:
        parts.append("<h2>Your answers</h2>")
        for cell in answers:
            grade_id = cell.metadata["nbgrader"].get("grade_id", "")
            parts.append(
                f"<h3><code>{html.escape(grade_id)}</code></h3>"
                f"<pre>{html.escape(cell.source)}</pre>"
            )
    return _page(title, "\n".join(parts))


def feedback(*, root: Path | None = None, out: Path | None = None) -> list[Path]:
    """Write a feedback page for every graded notebook; return their paths, sorted."""
    root = find_root(root) if root is None else Path(root).resolve()
    out = Path(out) if out is not None else root / "feedback"
    rows = cell_rows(root)
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["student_id"], row["assignment"], row["notebook"]), []).append(row)
    written = []
    for (student, assignment, name), cells in sorted(groups.items()):
        folder = root / "autograded" / student / assignment
        path = folder / f"{name}.ipynb"
        notebook = nbformat.read(path, as_version=4) if path.is_file() else None
        try:
            ledger = json.loads((folder / LEDGER).read_text())
        except (OSError, ValueError):
            ledger = {}
        reason = ledger.get("notebooks", {}).get(name, "")
        target = out / student / assignment / f"{name}.html"
        write_atomically(target, render(student, assignment, name, notebook, cells, reason))
        written.append(target)
    return written

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
from pathlib import Path

import nbformat

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


#: Errors whose message the course's checks and tripwire write for the learner.
_WORDED = frozenset({"CheckFailure", "EnvironmentModified", "NotRun"})


def _message(cell) -> str:
    """What a failed test said, without its traceback (which may quote hidden code)."""
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            if output.ename not in _WORDED:
                # Text the learner's code chose (an exception it raised itself): it can
                # quote the running test cell, hidden tests included, so it is not shown.
                return f"{output.ename} (raised by your code; run the visible tests to see it)"
            value = output.get("evalue", "").strip()
            return f"{output.ename}: {value}" if value else output.ename
        if output.output_type == "stream" and output.name == "stderr":
            return "the test wrote to stderr, a failure (not shown: it may quote the test)"
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

"""Build student submissions for tests: the released notebook with chosen answers.

``solved(assignment)`` is the student notebook with every answer cell holding the
instructor's solution (the "reference submission"); ``overrides`` swap in other answers
by grade_id, e.g. a fixture from ``tests/fixtures/answers/``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = ROOT / "tests" / "fixtures" / "answers"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def strip_markers(source: str) -> str:
    """An instructor solution as a student would have typed it: without the markers."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in SOLUTION_MARKERS)


def solutions(assignment: str, root: Path = ROOT) -> dict[str, str]:
    """The instructor's answer for every answer cell of an assignment's main notebook."""
    notebook = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: strip_markers(cell.source)
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def solved(assignment: str, overrides: dict[str, str] | None = None,
           root: Path = ROOT) -> nbformat.NotebookNode:
    """The released notebook with every answer filled in (instructor's, unless overridden)."""
    notebook = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {**solutions(assignment, root), **(overrides or {})}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def write_submission(folder: Path, student: str, assignment: str,
                     notebook: nbformat.NotebookNode) -> Path:
    """Write ``notebook`` as ``folder/<student>/<assignment>/<assignment>.ipynb``."""
    path = folder / student / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def fixture_answers(assignment: str) -> dict[str, dict[str, str]]:
    """``{function: {scenario: source}}`` for every fixture answer of an assignment."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted((ANSWERS / assignment).glob("*/*.py")):
        found.setdefault(path.parent.name, {})[path.stem] = path.read_text()
    return found

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
    return "\n".join(line for line in source.splitlines() if line.strip() not in SOLUTION_MARKERS)


def solutions(assignment: str, root: Path = ROOT) -> dict[str, str]:
    """The instructor's answer for every answer cell of an assignment's main notebook."""
    notebook = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: strip_markers(cell.source)
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def solved(
    assignment: str, overrides: dict[str, str] | None = None, root: Path = ROOT
) -> nbformat.NotebookNode:
    """The released notebook with every answer filled in (instructor's, unless overridden)."""
    notebook = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {**solutions(assignment, root), **(overrides or {})}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def write_submission(
    folder: Path, student: str, assignment: str, notebook: nbformat.NotebookNode
) -> Path:
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


def function_of(grade_id: str, functions) -> str | None:
    """The graded function a test cell belongs to: the longest ``test_<f>`` prefix."""
    owners = [f for f in functions if grade_id == f"test_{f}" or grade_id.startswith(f"test_{f}_")]
    return max(owners, key=len) if owners else None


def corpus_submissions(assignment: str, folder: Path, root: Path = ROOT) -> dict[str, tuple]:
    """Write the reference submission and one per fixture answer; return
    ``{student_id: (function or None, scenario)}``."""
    students = {"reference": (None, "reference")}
    write_submission(folder, "reference", assignment, solved(assignment, root=root))
    for function, scenarios in fixture_answers(assignment).items():
        for scenario, source in scenarios.items():
            student = f"{function}--{scenario}".replace("_", "-")
            students[student] = (function, scenario)
            write_submission(
                folder, student, assignment, solved(assignment, {function: source}, root=root)
            )
    return students


def corpus_verdicts(
    assignment: str, students: dict[str, tuple], rows: list[dict], functions
) -> dict[str, list[str]]:
    """What is wrong with each graded fixture, judged by the corpus rules:
    the reference and ``correct_*`` earn every automatic point; a ``mistake_*`` loses
    points on its own function's tests and nowhere else."""
    problems: dict[str, list[str]] = {}
    for student, (function, scenario) in students.items():
        cells = [
            r
            for r in rows
            if r["student_id"] == student
            and r["assignment"] == assignment
            and r["grade_id"].startswith("test_")
        ]
        found = problems.setdefault(student, [])
        if not cells:
            found.append("not graded")
            continue
        lost = {
            r["grade_id"]: r["max_score"] - r["score"] for r in cells if r["score"] < r["max_score"]
        }
        own = {g for g in lost if function_of(g, functions) == function}
        if scenario.startswith("mistake"):
            if not own:
                found.append("loses no points on its own function's tests")
            found += [f"also loses points on {g}" for g in sorted(set(lost) - own)]
        else:
            found += [f"loses {points} point(s) on {g}" for g, points in sorted(lost.items())]
    return {s: p for s, p in problems.items() if p}


def set_answer(notebook: nbformat.NotebookNode, grade_id: str, source: str) -> None:
    """Replace the source of the answer cell ``grade_id``."""
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return
    raise KeyError(grade_id)


def grade_cells(notebook: nbformat.NotebookNode, prefix: str = "test_") -> list:
    """The test cells whose grade_id starts with ``prefix``."""
    return [
        c
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith(prefix)
        and c.metadata["nbgrader"].get("grade")
        and c.cell_type == "code"
    ]

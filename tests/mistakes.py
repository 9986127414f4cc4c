"""Run each common mistake of the corpus as a learner would, and record what they see first.

A learner who makes a mistake runs the visible test cells under their answer, in order,
and reads the first failure. :func:`first_failures` does that for every
``mistake_*.py`` of an assignment in one kernel: it walks the student notebook (every
other answer the instructor's), and at each visible test cell of a function it swaps in
each of that function's mistakes still unexplained, runs the test, and swaps the
instructor's answer back; the first test that fails is what that mistake is told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat
from nbclient import NotebookClient

from tests.conftest import ROOT
from tests.submissions import fixture_answers, function_of, solutions, solved

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Failure:
    """The first failure a mistake meets: the test cell, the error, and how it is shown."""

    grade_id: str
    ename: str
    evalue: str
    shown: list[str]  # the rendered traceback, one line per entry, without colours

    @property
    def hint(self) -> str:
        found = [line.strip() for line in self.shown if line.strip().startswith("hint:")]
        return found[0].removeprefix("hint:").strip() if found else ""


def _error(cell) -> Failure | None:
    for output in cell.outputs:
        if output.output_type == "error":
            shown = [line for text in output.traceback for line in ANSI.sub("", text).split("\n")]
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            return Failure(grade_id, output.ename, output.evalue, shown)
    return None


def _is_visible_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return (
        cell.cell_type == "code"
        and meta.get("grade")
        and not meta.get("solution")
        and not cell.source.lstrip().startswith("#")  # a hidden test's comment
    )


def first_failures(assignment: str, functions) -> dict[tuple[str, str], Failure | None]:
    """``{(function, scenario): first failure or None}`` for every mistake of the corpus."""
    notebook = solved(assignment)
    answers = solutions(assignment)
    pending = {
        (function, scenario): source
        for function, scenarios in fixture_answers(assignment).items()
        for scenario, source in scenarios.items()
        if scenario.startswith("mistake_")
    }
    found: dict[tuple[str, str], Failure | None] = dict.fromkeys(pending)
    folder = ROOT / "release" / assignment
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )

    def run(source: str, index: int, metadata=None):
        cell = nbformat.v4.new_code_cell(source, metadata=metadata or {})
        client.execute_cell(cell, index)
        return cell

    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if _is_visible_test(cell):
                owner = function_of(cell.metadata["nbgrader"]["grade_id"], functions)
                for key in [k for k in pending if k[0] == owner]:
                    run(pending[key], index)
                    failure = _error(run(cell.source, index, cell.metadata))
                    if failure is not None:
                        found[key] = failure
                        del pending[key]
                    run(answers[owner], index)
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
    return found

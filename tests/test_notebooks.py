"""Do the notebooks run: the instructor's with every test passing, the student's failing only
where an answer is still missing, and all the way through, as Run All runs it?"""

from __future__ import annotations

import ast

import nbformat
import pytest
from nbclient import NotebookClient

from course.checks import MAX_LINES
from tests.conftest import read, release_notebooks, source_notebooks


def _execute(path, *, allow_errors: bool = True) -> nbformat.NotebookNode:
    """Run the notebook top to bottom. Without ``allow_errors`` nbclient stops at the first
    error, except in a cell tagged ``raises-exception``, as JupyterLab's Run All does."""
    notebook = read(path)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


def _problems(notebook, allowed_errors=()):
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error" and output.ename not in allowed_errors:
                found.append(f"cell {index}: {output.ename}: {output.evalue[:300]}")
            if output.output_type == "stream" and output.name == "stderr":
                found.append(f"cell {index}: stderr: {output.text[:300]}")
    return found


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def _is_hidden(cell) -> bool:
    """A test cell whose checks are all hidden: in the student version, no statement at all."""
    return not ast.parse(cell.source).body


@pytest.mark.parametrize("path", source_notebooks(), ids=lambda p: p.parent.name)
def test_source_notebook_runs_and_passes_its_tests(path):
    """Does the instructor notebook run top to bottom, every test passing, nothing on stderr?"""
    notebook = _execute(path)
    assert _problems(notebook) == []
    unexecuted = [
        i
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and c.execution_count is None
    ]
    assert unexecuted == []


@pytest.mark.parametrize("path", release_notebooks(), ids=lambda p: p.parent.name)
def test_release_notebook_runs_all_the_way_and_fails_only_where_answers_are_missing(path):
    """Does the untouched student notebook run every cell, as Run All does (errors not allowed
    but test cells tagged), with NotImplementedError as its only error, each failure shown in
    a few lines, every visible test failing until its exercise is answered, and the hidden-test
    cells silent?"""
    notebook = _execute(path, allow_errors=False)
    assert _problems(notebook, allowed_errors=("NotImplementedError",)) == []
    unexecuted = [
        i
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and c.execution_count is None
    ]
    assert unexecuted == [], "Run All stopped before these cells"
    long = [
        cell.metadata["nbgrader"]["grade_id"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error"
        and sum(len(text.splitlines()) for text in output.traceback) > MAX_LINES
    ]
    assert long == [], "these failures take more than MAX_LINES lines"
    tests = [cell for cell in notebook.cells if _is_test(cell)]
    passing_tests = [
        cell.metadata["nbgrader"]["grade_id"]
        for cell in tests
        if not _is_hidden(cell) and not any(o.output_type == "error" for o in cell.outputs)
    ]
    assert passing_tests == [], "these tests pass on an unanswered notebook"
    hidden = [cell for cell in tests if _is_hidden(cell)]
    assert hidden, "no hidden-test cell"
    assert [c.metadata["nbgrader"]["grade_id"] for c in hidden if c.outputs] == []

"""Do the notebooks run: the instructor's with every test passing, the student's failing only
where an answer is still missing?"""

from __future__ import annotations

import ast

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import read, release_notebooks, source_notebooks


def _execute(path) -> nbformat.NotebookNode:
    notebook = read(path)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
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


def _only_docstring(source: str) -> bool:
    body = ast.parse(source).body
    return len(body) <= 1 and all(
        isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in body
    )


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
def test_release_notebook_fails_only_where_answers_are_missing(path):
    """Does the student notebook run top to bottom with NotImplementedError as its only error,
    and does every visible test fail until the exercise is answered?"""
    notebook = _execute(path)
    assert _problems(notebook, allowed_errors=("NotImplementedError",)) == []
    passing_tests = [
        cell.metadata["nbgrader"]["grade_id"]
        for cell in notebook.cells
        if _is_test(cell)
        and not _only_docstring(cell.source)
        and not any(o.output_type == "error" for o in cell.outputs)
    ]
    assert passing_tests == [], "these tests pass on an unanswered notebook"

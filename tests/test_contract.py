"""Does every notebook honour the exercise contract (shared/CURRICULUM.md) that graders rely on?"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT, assignment_names, read
from tests.contract import ASSIGNMENTS
from tests.submissions import function_of, strip_markers


def _cells(assignment):
    notebook = read(ROOT / "source" / assignment / f"{assignment}.ipynb")
    return [c for c in notebook.cells if "nbgrader" in c.metadata]


def _tests(assignment):
    return [
        c
        for c in _cells(assignment)
        if c.cell_type == "code"
        and c.metadata["nbgrader"].get("grade")
        and not c.metadata["nbgrader"].get("solution")
    ]


def _parameters(function: ast.FunctionDef) -> tuple[str, ...]:
    names = [a.arg for a in function.args.posonlyargs + function.args.args]
    if function.args.vararg:
        names.append("*" + function.args.vararg.arg)
    return tuple(names)


def test_the_course_has_every_assignment_of_the_arc():
    """Are the seven assignments of the arc all in source/, named as the contract names them?"""
    assert assignment_names() == sorted(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", assignment_names())
def test_each_function_has_one_answer_cell_with_the_contract_signature(assignment):
    """Is each graded function in exactly one answer cell, alone, with the contract signature?"""
    functions = ASSIGNMENTS[assignment]
    answers = [
        c
        for c in _cells(assignment)
        if c.cell_type == "code" and c.metadata["nbgrader"].get("solution")
    ]
    assert all(not c.metadata["nbgrader"].get("grade") for c in answers), (
        "answer cells are not graded"
    )
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in answers}
    assert sorted(by_id) == sorted(functions) and len(answers) == len(functions)
    for name, cell in by_id.items():
        tree = ast.parse(strip_markers(cell.source))
        defined = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert [d.name for d in defined] == [name]
        assert _parameters(defined[0]) == functions[name]


@pytest.mark.parametrize("assignment", assignment_names())
def test_each_function_has_visible_and_hidden_test_cells(assignment):
    """Does every graded function have a visible and a hidden test cell named test_<function>...?"""
    functions = ASSIGNMENTS[assignment]
    kinds = {f: set() for f in functions}
    for cell in _tests(assignment):
        owner = function_of(cell.metadata["nbgrader"]["grade_id"], functions)
        assert owner, f"{cell.metadata['nbgrader']['grade_id']} names no graded function"
        kinds[owner].add("hidden" if "BEGIN HIDDEN TESTS" in cell.source else "visible")
    assert {f: sorted(k) for f, k in kinds.items()} == {f: ["hidden", "visible"] for f in functions}


@pytest.mark.parametrize("assignment", assignment_names())
def test_test_cells_are_well_formed(assignment):
    """Does each test cell open with a docstring, score points, check only its own function,
    and avoid ending on a value (which nbgrader would read as a partial score)?"""
    functions = ASSIGNMENTS[assignment]
    for cell in _tests(assignment):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        assert cell.metadata["nbgrader"].get("points", 0) > 0, grade_id
        tree = ast.parse(
            cell.source.replace("### BEGIN HIDDEN TESTS", "").replace("### END HIDDEN TESTS", "")
        )
        first = tree.body[0]
        assert (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ), f"{grade_id} does not open with a docstring"
        owner = function_of(grade_id, functions)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        others = sorted(used & (set(functions) - {owner}))
        assert others == [], f"{grade_id} also calls {others}"
        last = tree.body[-1]
        if len(tree.body) > 1 and isinstance(last, ast.Expr):
            call = last.value
            assert (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and getattr(call.func.value, "id", None) == "checks"
            ), f"{grade_id} ends with an expression whose value nbgrader would take as a score"


@pytest.mark.parametrize("assignment", assignment_names())
def test_notebook_has_a_written_question(assignment):
    """Does the notebook ask at least one manually graded written question?"""
    written = [
        c
        for c in _cells(assignment)
        if c.cell_type == "markdown"
        and c.metadata["nbgrader"].get("grade")
        and c.metadata["nbgrader"].get("solution")
    ]
    assert written

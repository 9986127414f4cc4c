"""Which cell of a notebook runs in which kernel, and what the trusted kernel needs first.

A notebook is graded with two kernels (:mod:`autograder.execute`):

* the **student kernel** runs the submission's own code cells in order (its answer
  cells, the cells the student added, the ordinary cells as the student left them),
  never a test cell;
* the **trusted kernel** runs the instructor's ordinary code cells from ``source/`` and
  every test cell (as nbgrader restored it from the gradebook: visible and hidden).

Before a test cell runs, the trusted kernel has run every ordinary cell that precedes
it in the instructor's notebook and that the tests can depend on
(:mod:`autograder.needs` says which), so a test sees the instructor's state as of that
point. The ordinary cells after the last test cell are never run there.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

from nbformat import NotebookNode


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test(cell) -> bool:
    """An autograder test cell: graded code that is not an answer."""
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_answer(cell) -> bool:
    """A code cell the student writes (autograded or manually graded answer)."""
    return cell.cell_type == "code" and bool(_nbgrader(cell).get("solution"))


def python_source(source: str) -> str:
    """``source`` with IPython's syntax (magics, ``!`` commands) turned into Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def defined_names(source: str) -> list[str]:
    """The names a cell binds at its top level by definition or assignment (not imports,
    which would make a module an "answer"). A cell that does not parse binds none."""
    try:
        tree = ast.parse(python_source(source))
    except (SyntaxError, ValueError):
        return []
    names: list[str] = []

    def targets(node):
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Tuple | ast.List):
            for element in node.elts:
                targets(element)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                targets(target)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets(node.target)
    return list(dict.fromkeys(names))


@dataclass
class Plan:
    """What the trusted kernel runs for one notebook of an assignment."""

    #: Names the instructor's answer cells define: bound to proxies in the trusted kernel.
    answer_names: list[str] = field(default_factory=list)
    #: The instructor's ordinary code cells, in order, with their position in source/.
    ordinary: list[tuple[int, str]] = field(default_factory=list)
    #: Each test cell's position in source/, by grade_id.
    tests: dict[str, int] = field(default_factory=dict)

    #: The instructor's ordinary cells before the last test that the tests cannot see.
    skipped: int = 0

    @classmethod
    def from_source(cls, source: NotebookNode) -> Plan:
        from autograder.needs import needed

        plan = cls()
        last_test = max((i for i, cell in enumerate(source.cells) if is_test(cell)), default=-1)
        cells = []  # (index, kind, source) of the code cells up to the last test
        for index, cell in enumerate(source.cells[: last_test + 1]):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if is_test(cell):
                plan.tests[_nbgrader(cell).get("grade_id", "")] = index
                cells.append((index, "test", cell.source))
            elif is_answer(cell):
                plan.answer_names += [
                    n for n in defined_names(cell.source) if n not in plan.answer_names
                ]
                cells.append((index, "answer", cell.source))
            else:
                cells.append((index, "ordinary", cell.source))
        keep = needed([(kind, text) for _, kind, text in cells], set(plan.answer_names))
        for (index, kind, text), kept in zip(cells, keep, strict=True):
            if kind == "ordinary":
                if kept:
                    plan.ordinary.append((index, text))
                else:
                    plan.skipped += 1
        return plan

    def before(self, grade_id: str, done: int) -> tuple[list[str], int]:
        """The ordinary cells to run before the test ``grade_id``, given that the first
        ``done`` of them have run; and the new count. A test the source does not know
        (it cannot happen: test cells come from the gradebook) gets them all."""
        position = self.tests.get(grade_id, math.inf)
        upto = done
        while upto < len(self.ordinary) and self.ordinary[upto][0] < position:
            upto += 1
        return [source for _, source in self.ordinary[done:upto]], upto

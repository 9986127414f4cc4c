"""The gradebook's records of an assignment's notebooks, as data: read once per run by
the coordinator and sent to wherever notebooks are graded (a worker thread, or a cluster
worker with no database), where nbgrader's sanitizing preprocessors read them through
:class:`RecordsGradebook`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SourceCellRecord:
    """One of a notebook's cells as the gradebook knows it (nbgrader's ``SourceCell``)."""

    name: str
    cell_type: str
    locked: bool
    checksum: str | None
    source: str


@dataclass
class ScoredCellRecord:
    """A graded or task cell: its name and points (nbgrader's ``GradeCell``, ``TaskCell``)."""

    name: str
    max_score: float


@dataclass
class NotebookRecords:
    """What nbgrader's sanitizing preprocessors read of one notebook's gradebook records,
    read once per run and sent to wherever notebooks are graded, as data."""

    name: str
    kernelspec: str | None
    source_cells: list[SourceCellRecord]  # in the gradebook's order
    grade_cells: list[ScoredCellRecord]
    solution_cells: list[ScoredCellRecord]
    task_cells: list[ScoredCellRecord]

    @property
    def names(self) -> set[str]:
        return {cell.name for cell in self.source_cells}


def notebook_records(gb, assignment: str, names: list[str]) -> dict[str, NotebookRecords]:
    """The records of ``assignment``'s notebooks ``names``, as data."""
    records = {}
    for name in names:
        notebook = gb.find_notebook(name, assignment)
        records[name] = NotebookRecords(
            name=name,
            kernelspec=notebook.kernelspec,
            source_cells=[
                SourceCellRecord(c.name, c.cell_type, bool(c.locked), c.checksum, c.source)
                for c in notebook.source_cells
            ],
            grade_cells=[ScoredCellRecord(c.name, c.max_score) for c in notebook.grade_cells],
            solution_cells=[ScoredCellRecord(c.name, 0.0) for c in notebook.solution_cells],
            task_cells=[ScoredCellRecord(c.name, c.max_score) for c in notebook.task_cells],
        )
    return records


class RecordsGradebook:
    """The part of nbgrader's Gradebook that its sanitizing preprocessors use
    (``OverwriteCells``, ``OverwriteKernelspec``), answered from :class:`NotebookRecords`:
    no database where notebooks are graded."""

    def __init__(self, records: dict[str, NotebookRecords]):
        self.records = records

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        pass

    def find_notebook(self, notebook: str, assignment: str) -> NotebookRecords:
        from nbgrader.api import MissingEntry

        try:
            return self.records[notebook]
        except KeyError:
            raise MissingEntry(f"no such notebook: {assignment}/{notebook}") from None

    def _find(self, cells, name: str, notebook: str, assignment: str):
        from nbgrader.api import MissingEntry

        for cell in cells:
            if cell.name == name:
                return cell
        raise MissingEntry(f"no such cell: {assignment}/{notebook}/{name}")

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> SourceCellRecord:
        cells = self.find_notebook(notebook, assignment).source_cells
        return self._find(cells, name, notebook, assignment)

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> ScoredCellRecord:
        records = self.find_notebook(notebook, assignment)
        return self._find(records.grade_cells + records.task_cells, name, notebook, assignment)

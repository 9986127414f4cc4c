"""What is done for one notebook wherever it is graded: a grader thread, or a cluster's
worker (:mod:`autograder.cluster`).

Data in, data out: the submitted file's bytes and what the assignment's notebooks share
(the trusted kernel's plans, the assignment's files, the gradebook's records of its
cells) go in; the autograded notebook's text and each cell's score come out. Nothing
here opens the gradebook or reads the course on disk, so the coordinator's own share of
a notebook is reading one file and writing its grades in one transaction.

The steps are nbgrader's autograde pipeline, in its order:

1. sanitize (:func:`autograder.prepare.sanitize`): nbgrader's ``ClearOutput``,
   ``DeduplicateIds``, ``OverwriteKernelspec``, ``OverwriteCells`` (the test cells put
   back from the records) and ``CheckCellMetadata``;
2. execute (:mod:`autograder.execute`): two sandboxed kernels;
3. post-process (:func:`autograder.record.postprocess`): nbgrader's ``IgnorePattern``,
   ``ClearMetadataPreprocessor`` and ``LimitOutput``; each cell's score and comment as
   ``SaveAutoGrades`` computes them (``nbgrader.utils.determine_grade``);
   ``CheckCellMetadata``; then the notebook made inert (:mod:`autograder.inert`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from autograder.execute import Task
from autograder.plan import Plan
from autograder.snapshot import NotebookRecords, RecordsGradebook

log = logging.getLogger("autograder")


@dataclass
class Shared:
    """What every notebook of one assignment shares in a run, read once by the
    coordinator and sent once to each place that grades (a cluster's worker)."""

    assignment: str
    plans: dict[str, Plan]  # notebook -> what the trusted kernel runs
    files: dict[str, bytes]  # the assignment's files beside its notebooks
    records: dict[str, NotebookRecords]  # notebook -> the gradebook's records of its cells


@dataclass
class Work:
    """One submitted notebook to grade."""

    student: str
    assignment: str
    notebook: str
    data: bytes  # the submitted file, as handed in

    @property
    def label(self) -> str:
        return f"{self.student}/{self.assignment}/{self.notebook}"


@dataclass
class Graded:
    """What became of a :class:`Work`: plain data for the coordinator to record."""

    notebook: str
    problem: str = ""  # one line: unreadable, or did not run to its end ("" when fine)
    failure: str = ""  # the grader's own failure, one line ("" when none)
    text: str | None = None  # the autograded notebook, inert (None when not readable)
    grades: dict[str, float | None] = field(default_factory=dict)  # grade_id -> auto score
    comments: dict[str, str | None] = field(default_factory=dict)  # grade_id -> auto comment
    answers: dict[str, str] = field(default_factory=dict)  # answer cell grade_id -> source
    second_kernel: float = 0.0  # seconds of the trusted kernel's own work
    seconds: float = 0.0  # wall time of the whole notebook where it was graded
    worker: str = ""  # where it was graded (a cluster worker's address), if not here


def failure(stage: str, label: str, error: BaseException) -> str:
    """One line for a submission whose grading raised: the grader's own fault, logged in
    full, said in one line, and the rest of the class goes on."""
    log.debug("%s %s failed", stage, label, exc_info=error)
    lines = str(error).strip().splitlines()
    detail = f"{type(error).__name__}: {lines[0][:160]}" if lines else type(error).__name__
    return f"the grader failed while {stage} {label} ({detail})"


_local = threading.local()


def _steps(config):
    """This thread's nbgrader preprocessors for ``config`` (they keep per-notebook state,
    so threads do not share them)."""
    from autograder.prepare import SANITIZE, nbgrader_steps
    from autograder.record import CHECK, POSTPROCESS

    cached = getattr(_local, "steps", None)
    if cached is None or cached[0] is not config:
        steps = tuple(nbgrader_steps(names, config) for names in (SANITIZE, POSTPROCESS, CHECK))
        cached = _local.steps = (config, steps)
    return cached[1]


def grade_notebook(work: Work, shared: Shared, config, executor) -> Graded:
    """Sanitize, execute and post-process one notebook (see the module docstring)."""
    from autograder.prepare import resources, sanitize
    from autograder.record import postprocess

    began = time.monotonic()
    graded = Graded(notebook=work.notebook)
    sanitizing, postprocessing, checking = _steps(config)
    records = shared.records[work.notebook]
    context = resources(
        work.student, work.assignment, work.notebook, RecordsGradebook(shared.records)
    )
    label = f"{work.student}/{work.assignment}"
    try:
        notebook, graded.problem = sanitize(
            work.data, work.notebook, sanitizing, context, records.names
        )
    except Exception as error:  # not the submission's doing
        graded.failure = failure("preparing", label, error)
        return graded
    if notebook is None:
        graded.seconds = time.monotonic() - began
        return graded
    task = Task(
        label=work.label, notebook=notebook, plan=shared.plans[work.notebook], files=shared.files
    )
    try:
        executed = executor.execute(task)
    except Exception as error:
        graded.failure = failure("executing", label, error)
        return graded
    graded.second_kernel = executed.second_kernel
    if executed.problem:
        graded.problem = f"{work.notebook}.ipynb: {executed.problem}"
    try:
        postprocess(graded, notebook, postprocessing, checking, context)
    except Exception as error:
        graded.failure = failure("recording", label, error)
        graded.text = None
    graded.seconds = time.monotonic() - began
    return graded

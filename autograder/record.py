"""Grading, stage 4 of 5: record the grades (discover → prepare → execute → record → summarize).

nbgrader's own post-processing saves the autogrades (ignoring warnings, limiting output)
and the autograded notebook is written to ``autograded/<student>/<assignment>/``, made
inert first (:mod:`autograder.inert`: nothing in it runs in a viewer's browser). Only
the main thread records, so the gradebook never sees two writers. The submission's
ledger (:data:`autograder.discover.LEDGER`) is written last, after its grades are
committed: a run killed midway regrades only what it had not finished.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.corpus.words import generate_corpus_id

from autograder.course import write_atomically
from autograder.discover import LEDGER
from autograder.gradebook import Kept, awaiting_grades, open_gradebook, release_gradebooks
from autograder.inert import make_inert
from autograder.prepare import Job, nbgrader_steps, resources, run_steps

log = logging.getLogger("autograder")

# The second half of nbgrader's autograde pipeline (the first is prepare.SANITIZE).
# Order matters: SaveAutoGrades must see the outputs after IgnorePattern and LimitOutput
# have cleaned them.
RECORD = (
    "IgnorePattern",
    "ClearMetadataPreprocessor",
    "LimitOutput",
    "SaveAutoGrades",
    "AssignLatePenalties",
    "CheckCellMetadata",
)


@dataclass
class Outcome:
    """What happened to one student's assignment."""

    student: str
    assignment: str
    status: str  # "graded", "failed" (recorded with a reason) or "unchanged" (skipped)
    reason: str = ""
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    digest: str = ""
    notebooks: dict[str, str] = field(default_factory=dict)  # notebook -> problem, if any
    manual_points: float = 0.0  # points of the cells graded by hand (written answers)
    auto_score: float | None = None  # points the tests awarded (None in old ledgers)
    awaiting: int = 0  # answers waiting for a person in formgrader (when recorded)
    second_kernel: float = 0.0  # seconds of the trusted kernel's own (start, its cells)


def give_cells_ids(notebook: NotebookNode) -> None:
    """Give an id to each cell without one: the test cells nbgrader puts back in place of
    deleted ones have none, which nbformat warns about (and will refuse)."""
    taken = {cell.get("id") for cell in notebook.cells}
    for cell in notebook.cells:
        if "id" not in cell:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            valid = re.fullmatch(r"[A-Za-z0-9_-]{1,64}", grade_id) and grade_id not in taken
            cell.id = grade_id if valid else generate_corpus_id()
            taken.add(cell.id)


class Recorder:
    """Stage 4, run on the main thread."""

    def __init__(self, config, *, root: Path, db_url: str, course_id: str):
        self.root, self.db_url, self.course_id = root, db_url, course_id
        self.steps = nbgrader_steps(RECORD, config)
        #: Hand grades waiting to be put back, by assignment (``grade --rebuild``).
        self.kept: dict[str, Kept] = {}

    def __call__(self, job: Job, notebook_names: list[str]) -> Outcome:
        destination = self.root / "autograded" / job.student / job.assignment
        graded_answers = _answers(destination, notebook_names)  # what a person may have graded
        kept = self.kept.get(job.assignment)
        if kept is not None and job.student in kept.pending:
            with open_gradebook(self.db_url, self.course_id) as gb:
                kept.restore(gb, job.student)
            kept.save(self.root)
        shutil.rmtree(destination, ignore_errors=True)
        destination.mkdir(parents=True)
        source = self.root / "source" / job.assignment
        for path in source.rglob("*"):
            if path.is_file() and path.suffix != ".ipynb":
                target = destination / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
        answers = {}
        for name in notebook_names:
            notebook = job.notebooks.get(name)
            if notebook is None:
                self._zero(job, name)
                continue
            notebook, _ = run_steps(self.steps, notebook, resources(job, name, self.db_url))
            give_cells_ids(notebook)
            # After SaveAutoGrades: the scores are saved before anything is cleaned.
            make_inert(notebook)
            nbformat.write(notebook, destination / f"{name}.ipynb")
            answers.update(_cell_sources(name, notebook))
        with open_gradebook(self.db_url, self.course_id) as gb:
            submission = gb.find_submission(job.assignment, job.student)
            # nbgrader asks for every hand grade to be reviewed after a regrade; one given
            # to an answer that has not changed since stays final.
            for notebook in submission.notebooks:
                written = {cell.name for cell in notebook.notebook.solution_cells}
                for grade in notebook.grades:
                    key = (notebook.name, grade.name)
                    if (
                        grade.needs_manual_grade
                        and grade.manual_score is not None
                        and grade.name in written
                        and key in graded_answers
                        and answers.get(key) == graded_answers[key]
                    ):
                        grade.needs_manual_grade = False
            gb.db.commit()
            score, max_score = float(submission.score), float(submission.max_score)
            manual = auto_score = 0.0
            for notebook in submission.notebooks:
                # A graded cell that is also an answer cell is graded by a person, whatever
                # its state (a blank answer is scored 0 without one); the rest are tests.
                by_hand = {cell.name for cell in notebook.notebook.solution_cells}
                for grade in notebook.grades:
                    if grade.name in by_hand:
                        manual += float(grade.max_score)
                    else:
                        auto_score += float(grade.score or 0.0)
            awaiting = awaiting_grades(submission)
        outcome = Outcome(
            student=job.student,
            assignment=job.assignment,
            status="failed" if job.problems else "graded",
            reason="; ".join(job.problems[n] for n in sorted(job.problems)),
            score=score,
            max_score=max_score,
            seconds=round(time.monotonic() - job.started, 2) if job.started else 0.0,
            digest=job.digest,
            notebooks=dict(job.problems),
            manual_points=manual,
            auto_score=auto_score,
            awaiting=awaiting,
            second_kernel=round(job.second_kernel, 3),
        )
        write_atomically(destination / LEDGER, json.dumps(asdict(outcome), indent=1))
        return outcome

    def failed(self, job: Job, notebook_names: list[str]) -> Outcome:
        """Record a submission the grader could not grade (``job.failure`` says why):
        score 0 on every graded cell, a ledger, an outcome; never an exception."""
        release_gradebooks(self.steps)
        outcome = Outcome(
            student=job.student,
            assignment=job.assignment,
            status="failed",
            reason=job.failure,
            seconds=round(time.monotonic() - job.started, 2) if job.started else 0.0,
            digest=job.digest,
            notebooks={name: job.failure for name in notebook_names},
            auto_score=0.0,
        )
        try:
            with open_gradebook(self.db_url, self.course_id) as gb:
                gb.db.rollback()
                gb.update_or_create_student(job.student)
                submission = gb.update_or_create_submission(job.assignment, job.student)
                for notebook in submission.notebooks:
                    by_hand = {cell.name for cell in notebook.notebook.solution_cells}
                    for grade in notebook.grades:
                        grade.auto_score = 0
                        grade.needs_manual_grade = False
                        if grade.name in by_hand:
                            outcome.manual_points += float(grade.max_score)
                gb.db.commit()
                outcome.max_score = float(submission.max_score)
        except Exception:
            log.debug("recording %s/%s as failed", job.student, job.assignment, exc_info=True)
        destination = self.root / "autograded" / job.student / job.assignment
        try:
            write_atomically(destination / LEDGER, json.dumps(asdict(outcome), indent=1))
        except Exception:
            log.debug("writing the ledger of %s/%s", job.student, job.assignment, exc_info=True)
        return outcome

    def _zero(self, job: Job, name: str) -> None:
        """Score 0 on every graded cell of a notebook that could not be run."""
        with open_gradebook(self.db_url, self.course_id) as gb:
            submission = gb.find_submission_notebook(name, job.assignment, job.student)
            for grade in submission.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            gb.db.commit()


def _cell_sources(name: str, notebook) -> dict[tuple[str, str], str]:
    """``{(notebook, grade_id): source}`` of the answer cells of a notebook."""
    return {
        (name, cell.metadata.nbgrader["grade_id"]): cell.source
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
        and cell.metadata.nbgrader.get("grade_id")
    }


def _answers(destination: Path, notebook_names: list[str]) -> dict[tuple[str, str], str]:
    """The answers in the autograded notebooks of an earlier grading, if any."""
    answers = {}
    for name in notebook_names:
        try:
            answers.update(_cell_sources(name, nbformat.read(destination / f"{name}.ipynb", 4)))
        except Exception:  # none yet, or unreadable: every hand grade is reviewed
            continue
    return answers

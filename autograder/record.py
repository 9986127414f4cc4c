"""Grading, stage 4 of 5: record the grades (discover → prepare → execute → record → summarize).

Where the notebook was graded, nbgrader's own post-processing cleaned its outputs
(ignoring warnings, limiting output), each graded cell's score was computed as nbgrader's
``SaveAutoGrades`` computes it, and the notebook was made inert (:func:`postprocess`;
:mod:`autograder.inert`: nothing in it runs in a viewer's browser). The coordinator
(:class:`Recorder`, main thread) then writes a submission's grades in one transaction,
with nbgrader's rules (a hand grade is reviewed again, late penalties), and the
autograded notebooks to ``autograded/<student>/<assignment>/``. The submission's ledger
(:data:`autograder.discover.LEDGER`) is written last, after its grades are committed: a
run killed midway regrades only what it had not finished.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.corpus.words import generate_corpus_id

from autograder.course import write_atomically
from autograder.discover import LEDGER
from autograder.gradebook import Kept, SubmissionWriter, engine_of, open_gradebook
from autograder.inert import make_inert
from autograder.prepare import Job, run_steps

log = logging.getLogger("autograder")

# The second half of nbgrader's autograde pipeline (the first is prepare.SANITIZE), where
# the notebook was executed. Order matters: the scores (SaveAutoGrades' rule) are taken
# from the outputs after IgnorePattern and LimitOutput have cleaned them; CheckCellMetadata
# comes last, as in nbgrader. nbgrader's SaveAutoGrades and AssignLatePenalties are the
# coordinator's (gradebook.SubmissionWriter).
POSTPROCESS = ("IgnorePattern", "ClearMetadataPreprocessor", "LimitOutput")
CHECK = ("CheckCellMetadata",)


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


def autograde_scores(notebook: NotebookNode) -> tuple[dict, dict]:
    """Each graded cell's auto score and each answer or task cell's auto comment, as
    nbgrader's ``SaveAutoGrades`` computes them (``nbgrader.utils.determine_grade``)."""
    from nbgrader import utils

    grades, comments = {}, {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if utils.is_grade(cell):
            grades[meta["grade_id"]] = utils.determine_grade(cell, log)[0]
        if utils.is_solution(cell) or utils.is_task(cell):
            unchanged = meta.get("checksum", None) == utils.compute_checksum(cell)
            comments[meta["grade_id"]] = (
                "No response." if unchanged and not utils.is_task(cell) else None
            )
    return grades, comments


def postprocess(graded, notebook: NotebookNode, steps, checks, resources: dict) -> None:
    """nbgrader's post-processing of an executed notebook, its scores, and the notebook
    made inert, into ``graded`` (a :class:`autograder.worker.Graded`)."""
    notebook, _ = run_steps(steps, notebook, resources)
    graded.grades, graded.comments = autograde_scores(notebook)
    notebook, _ = run_steps(checks, notebook, resources)
    give_cells_ids(notebook)
    # After the scores are taken: cleaning never changes one.
    make_inert(notebook)
    graded.answers = {
        grade_id: source for (_, grade_id), source in _cell_sources("", notebook).items()
    }
    graded.text = nbformat.writes(notebook)


class Recorder:
    """Stage 4, the coordinator's part (main thread)."""

    def __init__(self, config, *, root: Path, db_url: str, course_id: str):
        self.root, self.db_url, self.course_id = root, db_url, course_id
        self.writer = SubmissionWriter(config)
        self._engine = None
        #: Hand grades waiting to be put back, by assignment (``grade --rebuild``).
        self.kept: dict[str, Kept] = {}

    def __call__(self, job: Job, graded: dict, notebook_names: list[str], files: dict) -> Outcome:
        """Record ``graded`` (notebook -> :class:`autograder.worker.Graded`); ``files``
        are the assignment's other files, copied beside the autograded notebooks."""
        destination = self.root / "autograded" / job.student / job.assignment
        kept = self.kept.get(job.assignment)
        engine = self.engine()
        if kept is not None and job.student in kept.pending:
            with engine.begin() as connection:
                self.writer.ensure(connection, job.assignment, job.student, job.timestamp)
            with open_gradebook(self.db_url, self.course_id) as gb:
                kept.restore(gb, job.student)
            kept.save(self.root)
        with engine.begin() as connection:  # one transaction: all the grades, or none
            saved = self.writer.save(
                connection,
                job.assignment,
                job.student,
                job.timestamp,
                {name: g.grades for name, g in graded.items() if g.text is not None},
                {name: g.comments for name, g in graded.items() if g.text is not None},
                earlier=lambda: _answers(destination, notebook_names),
                answers={
                    (name, grade_id): source
                    for name, g in graded.items()
                    for grade_id, source in g.answers.items()
                },
            )
            _write_folder(destination, files, graded, notebook_names)
        outcome = Outcome(
            student=job.student,
            assignment=job.assignment,
            status="failed" if job.problems else "graded",
            reason="; ".join(job.problems[n] for n in sorted(job.problems)),
            score=saved.score,
            max_score=saved.max_score,
            seconds=round(sum(g.seconds for g in graded.values()), 2),
            digest=job.digest,
            notebooks=dict(job.problems),
            manual_points=saved.manual_points,
            auto_score=saved.auto_score,
            awaiting=saved.awaiting,
            second_kernel=round(job.second_kernel, 3),
        )
        write_atomically(destination / LEDGER, json.dumps(asdict(outcome), indent=1))
        return outcome

    def engine(self):
        """The run's engine (shared: see :func:`autograder.gradebook.shared_engines`)."""
        if self._engine is None:
            self._engine = engine_of(self.db_url, self.course_id)
        return self._engine

    def failed(self, job: Job, notebook_names: list[str]) -> Outcome:
        """Record a submission the grader could not grade (``job.failure`` says why):
        score 0 on every graded cell, a ledger, an outcome; never an exception."""
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
            with self.engine().begin() as connection:
                saved = self.writer.save(
                    connection, job.assignment, job.student, job.timestamp, {}, {}, zero_all=True
                )
            outcome.manual_points = saved.manual_points
            outcome.max_score = saved.max_score
        except Exception:
            log.debug("recording %s/%s as failed", job.student, job.assignment, exc_info=True)
        destination = self.root / "autograded" / job.student / job.assignment
        try:
            write_atomically(destination / LEDGER, json.dumps(asdict(outcome), indent=1))
        except Exception:
            log.debug("writing the ledger of %s/%s", job.student, job.assignment, exc_info=True)
        return outcome


def _write_folder(destination: Path, files: dict, graded: dict, notebook_names: list[str]) -> None:
    """The autograded folder: the assignment's files and the autograded notebooks, and
    nothing else (what an earlier grading left is removed; the rest is overwritten)."""
    keep = {destination / LEDGER} | {destination / relative for relative in files}
    keep |= {destination / f"{name}.ipynb" for name in notebook_names if _text(graded, name)}
    if destination.is_dir():
        for path in sorted(destination.rglob("*"), reverse=True):
            if path not in keep and not (path.is_dir() and not path.is_symlink()):
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    destination.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for name in notebook_names:
        text = _text(graded, name)
        if text is not None:
            (destination / f"{name}.ipynb").write_text(text, encoding="utf-8")


def _text(graded: dict, name: str) -> str | None:
    found = graded.get(name)
    return found.text if found is not None else None


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

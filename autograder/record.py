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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.corpus.words import generate_corpus_id

from autograder.course import write_atomically
from autograder.discover import LEDGER, read_ledger
from autograder.gradebook import engine_of, open_gradebook
from autograder.inert import make_inert
from autograder.late import assign_penalties, check_plugin, describe, effective_due
from autograder.prepare import Job, run_steps
from autograder.rebuild import Kept
from autograder.writer import NO_TIME, SubmissionWriter

log = logging.getLogger("autograder")

# The second half of nbgrader's autograde pipeline (the first is prepare.SANITIZE), where
# the notebook was executed. Order matters: the scores (SaveAutoGrades' rule) are taken
# from the outputs after IgnorePattern and LimitOutput have cleaned them; CheckCellMetadata
# comes last, as in nbgrader. nbgrader's SaveAutoGrades and AssignLatePenalties are the
# coordinator's (writer.SubmissionWriter).
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
    late_penalty: float = 0.0  # points nbgrader's late-submission plugin took off
    late: str = ""  # lateness in words, or why the timestamp could not be used
    due: str = ""  # the due date (with extension) the penalty was worked out for, ISO
    second_kernel: float = 0.0  # seconds of the trusted kernel's own (start, its cells)

    @classmethod
    def from_ledger(cls, ledger: dict, **changes) -> Outcome:
        """The outcome a ledger recorded; keys this version does not know (a ledger
        written by a newer or older grader) are left out, never an error."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in {**ledger, **changes}.items() if k in known})


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
        check_plugin(config, root)
        self.writer = SubmissionWriter(config)
        #: Assignments with a due date (their submissions' lateness is looked up).
        self.due: dict[str, bool] = {}
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
                self.writer.ensure(connection, job.assignment, job.student, _time(job))
            with open_gradebook(self.db_url, self.course_id) as gb:
                kept.restore(gb, job.student)
            kept.save(self.root)
        with engine.begin() as connection:  # one transaction: all the grades, or none
            saved = self.writer.save(
                connection,
                job.assignment,
                job.student,
                _time(job),
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
            **self._late(job.assignment, job.student, job.timestamp_problem),
        )
        write_atomically(destination / LEDGER, json.dumps(asdict(outcome), indent=1))
        return outcome

    def _late(self, assignment: str, student: str, problem: str) -> dict:
        """The Outcome's late fields, from the gradebook; only where there can be any (an
        assignment with a due date, or a timestamp that could not be read)."""
        if assignment not in self.due:
            with open_gradebook(self.db_url, self.course_id) as gb:
                self.due[assignment] = gb.find_assignment(assignment).duedate is not None
        if not (self.due[assignment] or problem):
            return {}
        with open_gradebook(self.db_url, self.course_id) as gb:
            return _late(gb.find_submission(assignment, student), problem)

    def reassess_late(self, outcome: Outcome) -> None:
        """Work out the late penalty of an unchanged submission again if its due date
        (or extension) changed since it was graded; its notebooks need not run again."""
        with open_gradebook(self.db_url, self.course_id) as gb:
            try:
                submission = gb.find_submission(outcome.assignment, outcome.student)
            except Exception:
                return
            due = effective_due(submission)
            if (due.isoformat() if due is not None else "") == outcome.due:
                return
        assign_penalties(
            [self.writer.late], outcome.student, outcome.assignment, self.db_url, self.course_id
        )
        with open_gradebook(self.db_url, self.course_id) as gb:
            submission = gb.find_submission(outcome.assignment, outcome.student)
            problem = outcome.late if outcome.late.startswith("timestamp.txt") else ""
            late = _late(submission, problem.removesuffix(": graded as on time"))
        for key, value in late.items():
            setattr(outcome, key, value)
        path = self.root / "autograded" / outcome.student / outcome.assignment / LEDGER
        ledger = read_ledger(path)
        if ledger:
            write_atomically(path, json.dumps({**ledger, **late}, indent=1))

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
                    connection, job.assignment, job.student, _time(job), {}, {}, zero_all=True
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


def _time(job: Job):
    """What to record as the submission's time (see SubmissionWriter.ensure)."""
    return NO_TIME if job.timestamp_problem else job.timestamp


def _late(submission, problem: str) -> dict:
    """The Outcome's late fields, from the gradebook's record of the submission."""
    due = effective_due(submission)
    return {
        "late_penalty": round(float(submission.late_submission_penalty or 0.0), 6),
        "late": describe(submission, problem),
        "due": due.isoformat() if due is not None else "",
    }


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

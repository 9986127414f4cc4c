"""``autograder grade``: autograde every submission, in parallel, each kernel sandboxed.

The grader keeps nbgrader's model (its gradebook, its cell metadata, its preprocessors,
``autograded/<student>/<assignment>/``) and changes how notebooks are executed. The data
flow one way through five stages, one module each:

1. :mod:`~autograder.discover` finds ``<submissions>/<student>/<assignment>/`` folders
   and skips those unchanged since they were graded (their ledger's digest);
2. :mod:`~autograder.prepare` (main thread) enters the submission in the gradebook and
   sanitizes each notebook with nbgrader's own preprocessors;
3. :mod:`~autograder.execute` (worker threads, ``workers`` at once) runs each notebook
   in sandboxed, time- and resource-limited kernels;
4. :mod:`~autograder.record` (main thread) saves the autogrades with nbgrader's
   preprocessors, writes the autograded notebook, then the ledger;
5. :mod:`~autograder.summary` draws the progress bar and the final table.

Only the main thread writes the gradebook, so SQLite never sees two writers. A
submission that cannot be graded (malformed notebook, missing notebook, dead kernel) is
recorded with score 0 on the cells it lost and a one-line reason; it never vanishes.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import math
import os
import shutil
import signal
import sqlite3
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
from sqlalchemy.exc import SAWarning

from autograder import backup
from autograder import sandbox as sandboxing
from autograder.course import (
    CourseError,
    assignments,
    check_assignments,
    check_gradebook,
    course_id,
    find_root,
    gradebook_url,
    load_config,
    sqlite_path,
)
from autograder.discover import LEDGER, digest_folder, discover, linked, read_ledger, unrecognized
from autograder.execute import (
    NOTEBOOK_TIMEOUT_FACTOR,
    Executor,
    Task,
    assignment_files,
    package_course_root,
)
from autograder.gradebook import (
    Kept,
    awaiting_grades,
    ensure_assignments,
    has_submission,
    kept_path,
    open_gradebook,
    release_gradebooks,
    restore_duedate,
    shared_engines,
    submitted_students,
    take_apart,
)
from autograder.plan import Plan
from autograder.prepare import Job, Preparer, compiled_metadata_schemas
from autograder.record import Outcome, Recorder
from autograder.recovery import DEATHS, DIED_TWICE, InProgress, StopRequest
from autograder.summary import Outcomes, ProgressBar, Quiet

__all__ = ["LEDGER", "Grader", "Outcome", "Outcomes", "grade"]
log = logging.getLogger("autograder")


@dataclass
class Shared:
    """What every notebook of one assignment shares in a run (read once)."""

    plans: dict[str, Plan]  # notebook -> what the trusted kernel runs
    files: dict[str, bytes]  # the assignment's files beside its notebooks

    @classmethod
    def of(cls, folder: Path, notebooks: list[str]) -> Shared:
        plans = {
            name: Plan.from_source(nbformat.read(folder / f"{name}.ipynb", as_version=4))
            for name in notebooks
        }
        return cls(plans=plans, files=assignment_files(folder))


class Grader:
    """One grading run over a course. See :func:`grade` for the parameters."""

    def __init__(
        self,
        *,
        root: Path,
        submissions: Path,
        workers: int,
        timeout: float | None,
        force: bool,
        isolate: bool,
        memory_bytes: int,
        progress,
        warm: bool = True,
        rebuild: tuple[str, ...] = (),
    ):
        self.root = root
        self.rebuild = tuple(rebuild)
        self.submissions = submissions
        self.workers = max(1, int(workers))
        self.force = force
        self.progress = progress
        self.isolate = isolate
        self.marks = InProgress(root)  # what is being graded, for a rerun after a death
        self.stop = StopRequest()  # Ctrl+C and SIGTERM, answered between two steps
        self._futures: list[concurrent.futures.Future] = []  # every submission executing
        # nbgrader's gradebook code trips SQLAlchemy's autoflush warnings; they are noise.
        self.shared: dict[str, Shared] = {}  # assignment -> what its notebooks share
        warnings.filterwarnings("ignore", category=SAWarning)
        self.config = load_config(root)
        self.config.NbGraderAPI.log_level = logging.ERROR
        self.db_url = gradebook_url(self.config, root)
        self.config.CourseDirectory.db_url = self.db_url
        self.course_id = course_id(self.config)
        check_gradebook(self.db_url, must_exist=False)
        cell_timeout = _cell_timeout(
            timeout if timeout is not None else self.config.Execute.get("timeout", 30)
        )
        self.prepare = Preparer(self.config, db_url=self.db_url, course_id=self.course_id)
        self.record = Recorder(self.config, root=root, db_url=self.db_url, course_id=self.course_id)
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-grade-"))
        os.chmod(self.scratch, 0o711)  # kernels may pass through, not list
        # Hidden from kernels: the course (hidden tests, gradebook), the submissions, other
        # kernels' scratch folders, and the course the `course` package was installed from
        # (it has hidden tests too when grading a copy of the course).
        package = package_course_root()
        hidden = {root, submissions.resolve(), self.scratch} | ({package} if package else set())
        hide = tuple(sorted(p for p in hidden if p.exists()))
        self.executor = Executor(
            self.config,
            cell_timeout=cell_timeout,
            package_dir=(package or root) / "course",
            scratch=self.scratch,
            hide=hide,
            isolate=isolate,
            limits=sandboxing.Limits(
                memory_bytes=memory_bytes, cpu_seconds=cell_timeout * NOTEBOOK_TIMEOUT_FACTOR
            ),
            warm=warm,
        )

    def gradebook(self):
        return open_gradebook(self.db_url, self.course_id)

    def execute(self, job: Job) -> Job:
        job.started = time.monotonic()
        if job.failure:
            return job
        shared = self.shared[job.assignment]
        try:
            self.marks.begin(job.student, job.assignment, job.digest)  # before any kernel
            for name, notebook in job.notebooks.items():
                if self.stop:
                    break  # the run is stopping: this submission is left for the next
                task = Task(
                    label=f"{job.student}/{job.assignment}/{name}",
                    notebook=notebook,
                    plan=shared.plans[name],
                    files=shared.files,
                )
                executed = self.executor.execute(task)
                job.second_kernel += executed.second_kernel
                if executed.problem:
                    job.problems[name] = f"{name}.ipynb: {executed.problem}"
        except Exception as error:  # the grader's fault, not the student's: say so, go on
            job.failure = _failure("executing", job, error)
        return job

    def _prepare(self, job: Job, notebooks: list[str]) -> None:
        try:
            self.prepare(job, notebooks)
        except Exception as error:
            release_gradebooks(self.prepare.sanitize)
            job.failure = _failure("preparing", job, error)

    def _record(self, job: Job, notebooks: list[str]) -> Outcome:
        if not job.failure:
            try:
                return self.record(job, notebooks)
            except Exception as error:
                job.failure = _failure("recording", job, error)
        return self.record.failed(job, notebooks)

    def run(self, names: list[str]) -> Outcomes:
        try:
            with self.stop, shared_engines(), compiled_metadata_schemas():
                self._back_up()
                return self._run(names)
        finally:
            self.marks.release_all()  # what this run began and did not record: no death
            self.executor.close()
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _back_up(self) -> None:
        """Copy an SQLite gradebook before the run changes it (the newest three are kept)."""
        path = sqlite_path(self.db_url)
        if path is None:
            return  # a database server's gradebook is its administrator's to back up
        try:
            backup.back_up(path)
        except (OSError, sqlite3.Error) as error:
            raise CourseError(
                f"cannot back up the gradebook {path} into {backup.folder(path)} before "
                f"grading ({error}); nothing was changed"
            ) from None

    def _run(self, names: list[str]) -> Outcomes:
        found = discover(self.submissions, names)
        for name in self.rebuild:  # before the records are made again from source/
            present = {student for student, assignment, _ in found if assignment == name}
            take_apart(self.root, self.db_url, self.course_id, name, present)
        records = ensure_assignments(
            self.root,
            self.db_url,
            self.course_id,
            sorted({a for _, a, _ in found} | set(self.rebuild)),
        )
        # What every notebook of an assignment shares: what the trusted kernel runs (from
        # the instructor's notebooks) and the files beside the notebooks.
        self.shared = {
            name: Shared.of(self.root / "source" / name, records.notebooks[name])
            for name in records.notebooks
        }
        # Hand grades waiting to go back: this run's rebuilds, or one a killed run left.
        for name in names:
            kept = Kept.load(self.root, name)
            if kept is not None:
                restore_duedate(self.db_url, self.course_id, kept)
                self.record.kept[name] = kept
        outcomes, jobs = [], []
        for student, assignment, folder in found:
            # The submission and the tests it is graded with: a fixed test regrades it.
            link = linked(folder)
            content = f"link:{os.readlink(link)}" if link is not None else digest_folder(folder)
            digest = hashlib.sha256(f"{content} {records.sources[assignment]}".encode()).hexdigest()
            ledger = read_ledger(self.root / "autograded" / student / assignment / LEDGER)
            kept = self.record.kept.get(assignment)
            if (
                not self.force
                and ledger.get("digest") == digest
                and ledger.get("status") in ("graded", "failed")
                and not (kept is not None and student in kept.pending)
                and self._has_submission(student, assignment)
            ):
                outcome = Outcome(**{**ledger, "status": "unchanged"})
                outcome.awaiting = self._awaiting(student, assignment)  # formgrader moved on
                outcomes.append(outcome)
                continue
            jobs.append(Job(student, assignment, folder, digest))
        self.progress.start(len(jobs), len(outcomes))
        # A submission an earlier run died while grading is graded alone, after the rest,
        # so that a second death is its own; after two it is not graded again.
        deaths = {id(job): self._deaths(job) for job in jobs}
        given_up = [job for job in jobs if deaths[id(job)] >= DEATHS]
        suspects = [job for job in jobs if 0 < deaths[id(job)] < DEATHS]
        batches = [[job for job in jobs if not deaths[id(job)]], *([job] for job in suspects)]
        for job in given_up:
            job.failure = DIED_TWICE
            outcomes.append(self._finish(job, records.notebooks[job.assignment]))
            self.progress.update(outcomes[-1])
        left: list[Job] = []  # not graded: the run was stopped first
        if any(batches) and self.executor.zygote is not None and not self.stop:
            self.executor.zygote.ensure()  # from the main thread, which outlives it
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            try:
                for batch in batches:
                    done, unfinished = self._grade(pool, batch, records)
                    outcomes += done
                    left += unfinished
            except BaseException:  # a second Ctrl+C, or the grader's own bug
                self.stop.signum = self.stop.signum or signal.SIGINT
                self._wind_down(self._futures)  # rather than grade the rest on the way out
                raise
        self.progress.finish()
        notes = [
            f"source/{name} changed since it was last graded: its gradebook records were "
            "remade and its submissions regraded"
            + self._left_stale(name, {s for s, a, _ in found if a == name})
            for name in records.resynced
            if name not in self.rebuild
        ]
        notes += [self._rebuilt(name) for name in sorted(self.record.kept)]
        skipped = unrecognized(self.submissions, assignments(self.root))
        if skipped:
            where = (
                f"{self.submissions.relative_to(self.root)}/"
                if self.submissions.is_relative_to(self.root)
                else str(self.submissions)
            )
            notes.append(
                f"not graded: {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} of "
                f"{where} that {'is' if len(skipped) == 1 else 'are'} not a "
                "<student_id>/<assignment>/ folder of this course:"
            )
            notes += [f"  {entry}" for entry in skipped]
        if suspects:
            notes.append(
                f"{len(suspects)} submission(s) were being graded when an earlier run died: "
                "graded one at a time, after the others"
            )
        if self.stop:
            shown = ", ".join(f"{j.student}/{j.assignment}" for j in left[:5])
            notes.append(
                f"stopped by {self.stop.name}: {len(left)} submission(s) not graded yet"
                + (f" ({shown}{', ...' if len(left) > 5 else ''})" if left else "")
                + "; what is above is recorded, and the same command grades the rest"
            )
        return Outcomes(
            sorted(outcomes, key=lambda o: (o.assignment, o.student)),
            self._kernels(),
            notes,
            skipped=skipped,
            sandbox=sandboxing.describe(self.isolate, expose=(self.executor.package_dir,)),
            interrupted=self.stop.signum,
        )

    def _deaths(self, job: Job) -> int:
        """How many runs died while grading ``job`` (``--force`` forgives them)."""
        if self.force:
            return 0
        return self.marks.deaths(job.student, job.assignment, job.digest)

    def _grade(self, pool, jobs: list[Job], records) -> tuple[list[Outcome], list[Job]]:
        """Prepare, execute and record ``jobs``; the outcomes, and the jobs a stop left.

        The main thread prepares and records (it alone writes the gradebook) and looks
        for a stop request between two steps, never in the middle of one.
        """
        running: dict[concurrent.futures.Future, Job] = {}
        for job in jobs:
            if self.stop:
                break
            self._prepare(job, records.notebooks[job.assignment])
            future = pool.submit(self.execute, job)
            running[future] = job
            self._futures.append(future)
        outcomes, pending = [], set(running)
        while pending and not self.stop:
            done, pending = concurrent.futures.wait(
                pending, timeout=0.25, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                if self.stop:
                    pending.add(future)  # its kernels may have been killed by the signal
                    continue
                job = future.result()
                outcome = self._finish(job, records.notebooks[job.assignment])
                outcomes.append(outcome)
                self.progress.update(outcome)
        if not self.stop:
            return outcomes, []
        self._wind_down(pending)
        started = {id(job) for job in running.values()}
        left = [running[f] for f in pending] + [j for j in jobs if id(j) not in started]
        for job in left:
            self.marks.release(job.student, job.assignment)
        return outcomes, left

    def _wind_down(self, futures) -> None:
        """Stopping: nothing new starts, and the kernels running are killed (again and
        again, for those still starting) until every worker has returned."""
        for future in futures:
            future.cancel()
        while not all(future.done() for future in futures):
            self.executor.kill_running()
            concurrent.futures.wait(futures, timeout=0.25)

    def _finish(self, job: Job, notebooks: list[str]) -> Outcome:
        """Record ``job`` (its ledger last), then take its in-progress mark away."""
        outcome = self._record(job, notebooks)
        self.marks.finish(job.student, job.assignment)
        return outcome

    def _rebuilt(self, name: str) -> str:
        """What a rebuild kept and dropped; the kept file goes once all is restored."""
        kept = self.record.kept[name]
        done = (
            f"rebuilt the gradebook records of {name} from source/ and regraded it"
            if name in self.rebuild
            else f"finished rebuilding {name}"  # a rebuild a killed run left halfway
        )
        line = (
            f"{done}: kept {kept.restored_grades} hand grade(s) and "
            f"{kept.restored_comments} comment(s)"
        )
        if kept.dropped:
            shown = "; ".join(kept.dropped)
            line += f"; dropped {len(kept.dropped)}, their cell is gone from source/: {shown}"
        if kept.pending:
            shown = ", ".join(kept.pending[:5]) + (", ..." if len(kept.pending) > 5 else "")
            line += (
                f"; {len(kept.pending)} submission(s) not regraded yet ({shown}): their hand "
                f"grades wait in {kept_path(self.root, name)} for the next run"
            )
        else:
            kept_path(self.root, name).unlink(missing_ok=True)
        return line

    def _kernels(self) -> str:
        """Two lines: how kernels were started, and which limits were enforced."""
        zygote = self.executor.zygote
        two = "two kernels per notebook (the student's cells; the tests)"
        if zygote is None:
            started = f"{two}, started from scratch"
        elif zygote.failure:
            started = (
                f"WARNING: the warm kernel parent failed ({zygote.failure}); {two}, "
                "started from scratch from then on"
            )
        else:
            started = f"{two}, forked from a warm parent"
            if not zygote.namespaces:
                started += " (WARNING: without a pid and mount namespace each)"
        return f"{started}\n{self.executor.describe_limits()}"

    def _left_stale(self, assignment: str, graded: set[str]) -> str:
        """ ", except 2 not in this run (ann, bob), still scored with the old tests: grade
        their folder", or "" when every submission of ``assignment`` was regraded."""
        with self.gradebook() as gb:
            students = submitted_students(gb, assignment)
        stale = [student for student in students if student not in graded]
        if not stale:
            return ""
        shown = ", ".join(stale[:5]) + (", ..." if len(stale) > 5 else "")
        return (
            f", except {len(stale)} not in this run ({shown}), still scored with the old "
            "tests: grade their folder too"
        )

    def _has_submission(self, student: str, assignment: str) -> bool:
        with self.gradebook() as gb:
            return has_submission(gb, student, assignment)

    def _awaiting(self, student: str, assignment: str) -> int:
        with self.gradebook() as gb:
            if not has_submission(gb, student, assignment):
                return 0
            return awaiting_grades(gb.find_submission(assignment, student))


def _failure(stage: str, job: Job, error: Exception) -> str:
    """One line for a submission whose grading raised: the grader's own fault, logged in
    full, said in one line, and the rest of the class goes on."""
    log.debug("%s %s/%s failed", stage, job.student, job.assignment, exc_info=True)
    lines = str(error).strip().splitlines()
    detail = f"{type(error).__name__}: {lines[0][:160]}" if lines else type(error).__name__
    return f"the grader failed while {stage} {job.student}/{job.assignment} ({detail})"


#: The longest --timeout accepted, per cell: a day. A notebook gets ten times it.
MAX_CELL_TIMEOUT = 24 * 3600


def _cell_timeout(seconds) -> int:
    """Whole seconds per cell, rounded up; one line naming the problem when unusable."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if not (1 <= value <= MAX_CELL_TIMEOUT):  # also refuses nan
        raise CourseError(
            f"--timeout must be between 1 and {MAX_CELL_TIMEOUT} seconds per cell, got {seconds}"
        )
    return math.ceil(value)


def grade(
    assignments: list[str] | None = None,
    *,
    root: Path | None = None,
    submissions: Path | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    force: bool = False,
    isolate: bool = True,
    memory_bytes: int = 2 * 1024**3,
    progress: bool = False,
    warm: bool = True,
    rebuild: bool = False,
) -> Outcomes:
    """Autograde every submission under ``submissions/<student>/<assignment>/``.

    Parameters
    ----------
    assignments : list of str, optional
        Which assignments to grade (default: all of the course's).
    root : path, optional
        The course root (default: found from the working directory).
    submissions : path, optional
        The submissions folder (default ``<root>/submitted``); it may be anywhere.
    workers : int, optional
        Notebooks executed at once (default: the number of cores).
    timeout : float, optional
        Seconds per cell (default: ``Execute.timeout`` from ``nbgrader_config.py``); a
        notebook gets ten times that in all.
    force : bool
        Regrade submissions whose content has not changed since they were graded.
    isolate : bool
        Sandbox kernels with bubblewrap where available (resource limits apply always).
    memory_bytes : int
        Address-space limit per kernel (default 2 GiB).
    progress : bool
        Draw a progress bar on stderr.
    warm : bool
        Fork kernels from a parent that has already imported the course's libraries,
        where the sandbox allows it (root with bubblewrap); otherwise, or if False, each
        kernel starts from scratch. Scores are the same either way.
    rebuild : bool
        Remake the gradebook records of ``assignments`` (which must be named) from
        ``source/`` and regrade every submission of them: the way forward after adding or
        removing graded cells or notebooks. Hand grades, comments, extensions and the
        due date are kept wherever their cell still exists; the summary names the rest.
        Refused when the gradebook holds a submission the submissions folder lacks.

    Returns
    -------
    Outcomes
        A list with one Outcome per student and assignment found, sorted by assignment
        then student; its ``kernels`` says how the run started its kernels.
    """
    root = find_root(root) if root is None else Path(root).resolve()
    if rebuild and not assignments:
        raise CourseError(
            "--rebuild remakes the records of the assignments named: name them "
            "(autograder grade ASSIGNMENT --rebuild)"
        )
    names = check_assignments(root, assignments)
    submissions = Path(submissions).resolve() if submissions else root / "submitted"
    if not submissions.is_dir():
        what = "is not a folder" if submissions.exists() else "does not exist"
        raise CourseError(f"no submissions folder: {submissions} {what}")
    grader = Grader(
        root=root,
        submissions=submissions,
        workers=workers or os.cpu_count() or 1,
        timeout=timeout,
        force=force,
        isolate=isolate,
        memory_bytes=memory_bytes,
        progress=ProgressBar() if progress else Quiet(),
        warm=warm,
        rebuild=tuple(names) if rebuild else (),
    )
    return grader.run(names)

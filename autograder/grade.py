"""``autograder grade``: autograde every submission, in parallel, each kernel sandboxed.

The grader keeps nbgrader's model (its gradebook, its cell metadata, its preprocessors,
``autograded/<student>/<assignment>/``) and changes how notebooks are executed. The data
flow one way through five stages, one module each:

1. :mod:`~autograder.discover` finds ``<submissions>/<student>/<assignment>/`` folders
   and skips those unchanged since they were graded (their ledger's digest);
2. :mod:`~autograder.prepare` reads each notebook (main thread), then sanitizes it with
   nbgrader's own preprocessors, given the gradebook's records as data;
3. :mod:`~autograder.execute` runs each notebook in sandboxed, time- and
   resource-limited kernels;
4. :mod:`~autograder.record` post-processes the notebook and computes its scores with
   nbgrader's preprocessors and rules, then (main thread) writes the submission's grades
   in one transaction, the autograded notebook, then the ledger;
5. :mod:`~autograder.summary` draws the progress bar and the final table.

The middle of it, from sanitizing to the scores (:mod:`autograder.worker`), is data in,
data out, and runs on a backend: :class:`LocalBackend` (``workers`` threads on this
machine) or a Dask cluster's workers (:mod:`autograder.cluster`, ``--cluster``). The
main thread, the coordinator, streams: it prepares only as many submissions as the
backend can work on, and records each as its notebooks come back. Only the main thread
writes the gradebook. A submission that cannot be graded (malformed notebook, missing
notebook, dead kernel) is recorded with score 0 on the cells it lost and a one-line
reason; it never vanishes.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import logging
import math
import os
import queue
import shutil
import sqlite3
import tempfile
import time
import warnings
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
    assignment_files,
    package_course_root,
)
from autograder.gradebook import (
    awaiting_grades,
    ensure_assignments,
    grading_lock,
    has_submission,
    open_gradebook,
    shared_engines,
    submitted_students,
)
from autograder.late import late_notes, parse_due, set_due
from autograder.plan import Plan
from autograder.prepare import Job, Preparer, compiled_metadata_schemas
from autograder.rebuild import Kept, kept_path, restore_duedate, take_apart
from autograder.record import Outcome, Recorder
from autograder.recovery import DEATHS, DIED_TWICE, InProgress, StopRequest
from autograder.snapshot import notebook_records
from autograder.summary import Outcomes, ProgressBar, Quiet
from autograder.worker import Graded, Shared, Work, failure, grade_notebook

__all__ = ["LEDGER", "Grader", "Outcome", "Outcomes", "grade"]
log = logging.getLogger("autograder")


def read_shared(root: Path, assignment: str, notebooks: list[str], gb) -> Shared:
    """What every notebook of ``assignment`` shares in a run: what the trusted kernel
    runs (from the instructor's notebooks), the files beside the notebooks, and the
    gradebook's records of its cells."""
    folder = root / "source" / assignment
    plans = {
        name: Plan.from_source(nbformat.read(folder / f"{name}.ipynb", as_version=4))
        for name in notebooks
    }
    return Shared(
        assignment=assignment,
        plans=plans,
        files=assignment_files(folder),
        records=notebook_records(gb, assignment, notebooks),
    )


class LocalBackend:
    """Notebooks graded on this machine, ``workers`` at once, in threads."""

    def __init__(self, executor: Executor, workers: int, config):
        self.executor, self.config = executor, config
        self.capacity = 2 * workers  # enough prepared to keep every thread busy
        self.pool = concurrent.futures.ThreadPoolExecutor(workers)
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.shared: dict[str, Shared] = {}
        self.futures: list[concurrent.futures.Future] = []

    def start(self, shared: dict[str, Shared]) -> None:
        self.shared = shared
        if self.executor.zygote is not None:
            self.executor.zygote.ensure()  # from the main thread, which outlives it

    def submit(self, key, work: Work) -> None:
        self.futures.append(self.pool.submit(self._grade, key, work))

    def _grade(self, key, work: Work) -> None:
        try:
            graded = grade_notebook(work, self.shared[work.assignment], self.config, self.executor)
        except BaseException as error:  # never lose a notebook, whatever happened
            graded = Graded(work.notebook, failure=failure("executing", work.label, error))
        self.done.put((key, graded))

    def next_done(self, timeout: float):
        """The next notebook graded, ``(key, Graded)``; None after ``timeout`` seconds."""
        try:
            return self.done.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        """Stopping: nothing new starts, and the kernels running are killed (again, for
        those still starting) until every thread has given up its notebook."""
        for future in self.futures:
            future.cancel()
        while not all(future.done() for future in self.futures):
            self.executor.kill_running()
            concurrent.futures.wait(self.futures, timeout=0.25)

    def describe(self) -> str:
        return ""

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.executor.close()


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
        db_url: str | None = None,
        cluster: str | None = None,
        due=None,
    ):
        self.root = root
        self.due = due  # a naive UTC datetime for every assignment of the run, or None
        self.rebuild = tuple(rebuild)
        self.submissions = submissions
        self.workers = max(1, int(workers))
        self.force = force
        self.progress = progress
        #: Seconds the coordinator spent on its own share (reading, recording), and on
        #: how many notebooks: what one coordinator costs per notebook (``make bench``).
        self.coordinator_seconds = 0.0
        self.coordinator_cpu_seconds = 0.0
        self.isolate = isolate
        self.package_dir = (package_course_root() or root) / "course"
        self.marks = InProgress(root)  # what is being graded, for a rerun after a death
        self.stop = StopRequest()  # Ctrl+C and SIGTERM, answered between two steps
        # nbgrader's gradebook code trips SQLAlchemy's autoflush warnings; they are noise.
        self.shared: dict[str, Shared] = {}  # assignment -> what its notebooks share
        warnings.filterwarnings("ignore", category=SAWarning)
        self.config = load_config(root)
        self.config.NbGraderAPI.log_level = logging.ERROR
        self.db_url = gradebook_url(self.config, root, db_url)
        self.config.CourseDirectory.db_url = self.db_url
        self.course_id = course_id(self.config)
        check_gradebook(self.db_url, must_exist=False)
        cell_timeout = _cell_timeout(
            timeout if timeout is not None else self.config.Execute.get("timeout", 30)
        )
        self.prepare = Preparer()
        self.record = Recorder(self.config, root=root, db_url=self.db_url, course_id=self.course_id)
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-grade-"))
        os.chmod(self.scratch, 0o711)  # kernels may pass through, not list
        # Hidden from kernels: the course (hidden tests, gradebook), the submissions, other
        # kernels' scratch folders, and the course the `course` package was installed from
        # (it has hidden tests too when grading a copy of the course).
        package = package_course_root()
        hidden = {root, submissions.resolve(), self.scratch} | ({package} if package else set())
        hide = tuple(sorted(p for p in hidden if p.exists()))
        limits = sandboxing.Limits(
            memory_bytes=memory_bytes, cpu_seconds=cell_timeout * NOTEBOOK_TIMEOUT_FACTOR
        )
        self.executor = None
        if cluster:
            from autograder.cluster import ClusterBackend, Settings, environment

            settings = Settings(
                config=self.config,
                cell_timeout=cell_timeout,
                memory_bytes=memory_bytes,
                isolate=isolate and bool(sandboxing.bubblewrap()),
                warm=warm,
                hide=tuple(str(p) for p in hide),
                fingerprint=environment(isolate and bool(sandboxing.bubblewrap())),
            )
            self.backend = ClusterBackend(cluster, settings)
            return
        self.executor = Executor(
            self.config,
            cell_timeout=cell_timeout,
            package_dir=(package or root) / "course",
            scratch=self.scratch,
            hide=hide,
            isolate=isolate,
            limits=limits,
            warm=warm,
        )
        self.backend = LocalBackend(self.executor, self.workers, self.config)

    def gradebook(self):
        return open_gradebook(self.db_url, self.course_id)

    def _record(self, job: Job, notebooks: list[str]) -> Outcome:
        if not job.failure:
            try:
                return self.record(job, job.graded, notebooks, self.shared[job.assignment].files)
            except Exception as error:
                job.failure = failure("recording", f"{job.student}/{job.assignment}", error)
        return self.record.failed(job, notebooks)

    def run(self, names: list[str]) -> Outcomes:
        try:
            with (
                self.stop,
                grading_lock(self.db_url, self.course_id, names) as setting_up,
                shared_engines(),
                compiled_metadata_schemas(),
            ):
                self.setting_up = setting_up
                self._back_up()
                return self._run(names)
        finally:
            self.marks.release_all()  # what this run began and did not record: no death
            self.backend.close()
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _deaths(self, job: Job) -> int:
        """How many runs died while grading ``job`` (``--force`` forgives them)."""
        if self.force:
            return 0
        return self.marks.deaths(job.student, job.assignment, job.digest)

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
        with self.setting_up():  # one run at a time makes tables and records
            for name in self.rebuild:  # before the records are made again from source/
                present = {student for student, assignment, _ in found if assignment == name}
                take_apart(self.root, self.db_url, self.course_id, name, present)
            records = ensure_assignments(
                self.root,
                self.db_url,
                self.course_id,
                sorted(
                    {a for _, a, _ in found} | set(self.rebuild) | set(names if self.due else ())
                ),
            )
            with self.gradebook() as gb:
                self.shared = {
                    name: read_shared(self.root, name, records.notebooks[name], gb)
                    for name in records.notebooks
                }
        # Hand grades waiting to go back: this run's rebuilds, or one a killed run left.
        for name in names:
            kept = Kept.load(self.root, name)
            if kept is not None:
                restore_duedate(self.db_url, self.course_id, kept)
                self.record.kept[name] = kept
        # Before recording: nbgrader's late penalty is worked out when a submission is
        # recorded, against the due date in the gradebook.
        due_notes = set_due(self.db_url, self.course_id, names, self.due) if self.due else []
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
                outcome = Outcome.from_ledger(ledger, status="unchanged")
                outcome.awaiting = self._awaiting(student, assignment)  # formgrader moved on
                self.record.reassess_late(outcome)  # a due date or extension given since
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
            outcome = self._record(job, records.notebooks[job.assignment])
            self.marks.finish(job.student, job.assignment)
            outcomes.append(outcome)
            self.progress.update(outcome)
        left: list[Job] = []  # not graded: the run was stopped first
        if any(batches) and not self.stop:
            self.backend.start(self.shared)
        for batch in batches:
            done, unfinished = self._stream(batch, records.notebooks)
            outcomes += done
            left += unfinished
        self.progress.finish()
        notes = [
            f"source/{name} changed since it was last graded: its gradebook records were "
            "remade and its submissions regraded"
            + self._left_stale(name, {s for s, a, _ in found if a == name})
            for name in records.resynced
            if name not in self.rebuild
        ]
        notes += [self._rebuilt(name) for name in sorted(self.record.kept)]
        notes += due_notes + late_notes(outcomes, self.config)
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
            sandbox=sandboxing.describe(self.isolate, expose=(self.package_dir,)),
            interrupted=self.stop.signum,
        )

    def _stream(
        self, jobs: list[Job], notebooks: dict[str, list[str]]
    ) -> tuple[list[Outcome], list[Job]]:
        """Grade ``jobs``, keeping only as many prepared at once as the backend can work
        on: the coordinator's memory follows the work in flight, not the class. The
        outcomes, and the jobs a stop request left (the main thread looks for one between
        two steps, never in the middle of a gradebook write)."""
        outcomes = []
        waiting = iter(jobs)
        clock = time.perf_counter
        in_flight: dict[int, Job] = {}  # key -> job, one key per notebook
        keys = itertools.count()

        def record(job: Job) -> None:
            began, cpu = clock(), time.thread_time()
            outcome = self._record(job, notebooks[job.assignment])
            self.coordinator_seconds += clock() - began
            self.coordinator_cpu_seconds += time.thread_time() - cpu
            self.marks.finish(job.student, job.assignment)
            job.graded = {}  # the notebooks' text is no longer needed
            outcomes.append(outcome)
            self.progress.update(outcome)

        while True:
            while len(in_flight) < self.backend.capacity and not self.stop:
                job = next(waiting, None)
                if job is None:
                    break
                job.started = time.monotonic()
                began, cpu = clock(), time.thread_time()
                try:
                    found = self.prepare(job, notebooks[job.assignment])
                except Exception as error:
                    job.failure = failure("preparing", f"{job.student}/{job.assignment}", error)
                    found = {}
                self.coordinator_seconds += clock() - began
                self.coordinator_cpu_seconds += time.thread_time() - cpu
                job.pending = len(found)
                if not found:
                    record(job)
                else:
                    self.marks.begin(job.student, job.assignment, job.digest)  # before kernels
                for name, data in found.items():
                    key = next(keys)
                    in_flight[key] = job
                    self.backend.submit(key, Work(job.student, job.assignment, name, data))
            if self.stop:
                self.backend.stop()  # nothing new starts; the kernels running are killed
                left = list({id(job): job for job in in_flight.values()}.values())
                left += list(waiting)
                for job in left:
                    self.marks.release(job.student, job.assignment)
                return outcomes, left
            if not in_flight:
                return outcomes, []
            done = self.backend.next_done(timeout=0.25)
            if done is None:
                continue  # nothing finished yet: look for a stop request again
            key, graded = done
            job = in_flight.pop(key)
            job.graded[graded.notebook] = graded
            job.second_kernel += graded.second_kernel
            if graded.problem:
                job.problems[graded.notebook] = graded.problem
            if graded.failure and not job.failure:
                job.failure = graded.failure
            job.pending -= 1
            if job.pending == 0:
                record(job)

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
        """How the run started its kernels, and which limits were enforced."""
        return self.backend.describe() or describe_kernels(self.executor)

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


def describe_kernels(executor: Executor) -> str:
    """Two lines: how ``executor`` started its kernels, and which limits were enforced."""
    zygote = executor.zygote
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
    return f"{started}\n{executor.describe_limits()}"


#: The longest --timeout accepted, per cell: a day. A notebook gets ten times it.
MAX_CELL_TIMEOUT = 24 * 3600


def default_workers() -> int:
    """Notebooks graded at once by default: one more than the cores (measured on 2 cores:
    3 workers grade a class 15-20% faster than 2, as a notebook's two kernels run in
    turn and one notebook keeps part of a core idle)."""
    return (os.cpu_count() or 1) + 1


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
    due: str | None = None,
    db_url: str | None = None,
    cluster: str | None = None,
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
        Notebooks executed at once (default: one more than the number of cores: a
        notebook's two kernels take turns, so one notebook leaves part of a core idle).
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
    due : str, optional
        The due date of ``assignments`` (which must be named), with its time zone:
        ``"2026-12-15 23:59 Europe/Berlin"``. It is stored as nbgrader's ``duedate`` in
        the gradebook and stays for later runs; without it, the gradebook's own is used.
        Each submission's ``timestamp.txt`` against it gives nbgrader's late penalty
        (:mod:`autograder.late`).
    db_url : str, optional
        The gradebook's database URL (default: ``CourseDirectory.db_url`` from
        ``nbgrader_config.py``, else ``gradebook.db`` at the root): ``sqlite:///...`` or
        ``postgresql+psycopg://user@host/database``.
    cluster : str, optional
        A Dask scheduler's address (``tcp://host:8786``, ``tls://...``): the notebooks
        are graded on its workers (:mod:`autograder.cluster`), ``workers`` is not used.

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
    if due is not None and not assignments:
        raise CourseError(
            "--due sets the due date of the assignments named: name them "
            '(autograder grade ASSIGNMENT --due "2026-12-15 23:59 Europe/Berlin")'
        )
    due_date = parse_due(due) if due is not None else None
    names = check_assignments(root, assignments)
    submissions = Path(submissions).resolve() if submissions else root / "submitted"
    if not submissions.is_dir():
        what = "is not a folder" if submissions.exists() else "does not exist"
        raise CourseError(f"no submissions folder: {submissions} {what}")
    grader = Grader(
        root=root,
        submissions=submissions,
        workers=workers or default_workers(),
        timeout=timeout,
        force=force,
        isolate=isolate,
        memory_bytes=memory_bytes,
        progress=ProgressBar() if progress else Quiet(),
        warm=warm,
        rebuild=tuple(names) if rebuild else (),
        due=due_date,
        db_url=db_url,
        cluster=cluster,
    )
    return grader.run(names)

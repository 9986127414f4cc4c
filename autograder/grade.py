"""``autograder grade``: autograde every submission, in parallel, each kernel sandboxed.

The grader keeps nbgrader's model (its gradebook, its cell metadata, its preprocessors,
``autograded/<student>/<assignment>/``) and changes how notebooks are executed. Each
submission goes through three stages:

1. **prepare** (main thread): record the student and submission in the gradebook, read
   the notebook and sanitize it with nbgrader's own preprocessors (restoring the
   instructor's test cells, deleted ones included);
2. **execute** (worker threads, ``workers`` at once): run the notebook in a sandboxed,
   time- and resource-limited kernel (:mod:`autograder.sandbox`), with an integrity
   tripwire armed before any learner code (:mod:`course.integrity`);
3. **record** (main thread): nbgrader's post-processing (ignore warnings, limit output,
   save the autogrades) and the autograded notebook.

Only the main thread writes the gradebook, so SQLite never sees two writers. Each
submission's content digest is stored in ``autograded/<student>/<assignment>/
.autograder.json`` after its grades are committed: a rerun skips what is unchanged
(unless ``force``), and a run killed midway regrades only what it had not finished.
A submission that cannot be graded (malformed notebook, missing notebook, dead kernel)
is recorded with score 0 on the cells it lost and a one-line reason; it never vanishes.
"""

from __future__ import annotations

import concurrent.futures
import copy
import functools
import hashlib
import importlib.util
import json
import logging
import math
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.corpus.words import generate_corpus_id
from sqlalchemy.exc import SAWarning

from autograder import sandbox as sandboxing
from autograder.course import (
    CourseError,
    assignments,
    check_assignments,
    check_gradebook,
    find_root,
    gradebook_url,
    load_config,
    write_atomically,
)

log = logging.getLogger("autograder")
LEDGER = ".autograder.json"
#: The line the grader puts in front of every test cell while it runs (removed after).
GUARD_LINE = "__import__('course.integrity').integrity.verify()\n"
# The first cell the grader runs: arm the tripwire, and skip drawing figures as PNG (no
# test reads them, and rendering is a large share of a notebook's time).
ARM_SOURCE = (
    "__import__('course.integrity').integrity.arm()\n"
    "get_ipython().display_formatter.formatters['image/png'].enabled = False"
)
#: Output kept per cell before the rest is dropped (a flood must not fill the grader's memory).
MAX_OUTPUT_BYTES = 1_000_000
NOTEBOOK_TIMEOUT_FACTOR = 10

# nbgrader's autograde pipeline, split where execution happens (nbgrader's
# converters/autograde.py keeps it as sanitize_preprocessors + autograde_preprocessors).
# Order matters: OverwriteCells must run before CheckCellMetadata, and SaveAutoGrades
# must see the outputs after IgnorePattern and LimitOutput have cleaned them.
SANITIZE = (
    "ClearOutput",
    "DeduplicateIds",
    "OverwriteKernelspec",
    "OverwriteCells",
    "CheckCellMetadata",
)
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


@dataclass
class _Job:
    student: str
    assignment: str
    folder: Path
    digest: str
    notebooks: dict[str, NotebookNode] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    started: float = 0.0


def digest_folder(folder: Path) -> str:
    """A digest of every file under ``folder`` (names and contents; a symbolic link by
    where it points, never by what it points at)."""
    hasher = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_symlink() or p.is_file()):
        hasher.update(str(path.relative_to(folder)).encode() + b"\0")
        if path.is_symlink():
            hasher.update(b"link:" + os.readlink(path).encode(errors="surrogateescape"))
        else:
            hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()


def _sources_table():
    import sqlalchemy

    metadata = sqlalchemy.MetaData()
    return sqlalchemy.Table(
        "autograder_sources",
        metadata,
        sqlalchemy.Column("assignment", sqlalchemy.String(128), primary_key=True),
        sqlalchemy.Column("digest", sqlalchemy.String(64), nullable=False),
    )


def _recorded_sources(engine) -> dict[str, str]:
    """Each assignment's source digest when its gradebook records were last made."""
    import sqlalchemy

    table = _sources_table()
    table.create(engine, checkfirst=True)
    with engine.begin() as connection:
        rows = connection.execute(sqlalchemy.select(table.c.assignment, table.c.digest))
        return {assignment: digest for assignment, digest in rows}


def _record_source(engine, assignment: str, digest: str) -> None:
    table = _sources_table()
    with engine.begin() as connection:
        connection.execute(table.delete().where(table.c.assignment == assignment))
        connection.execute(table.insert().values(assignment=assignment, digest=digest))


def _read_ledger(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _linked(folder: Path) -> Path | None:
    """The student's or the assignment's folder, if either is a symbolic link.

    The grader runs as root: following a link would let a submission point at source/
    (the solutions) or at another student's work.
    """
    for path in (folder.parent, folder):
        if path.is_symlink():
            return path
    return None


def _found(folder: Path) -> str:
    """ " (found: a.ipynb, b.ipynb)", the notebooks a submission does hold, if any."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.suffix == ".ipynb")
    except OSError:
        return ""
    if not names:
        return ""
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f" (found: {shown})"


def unrecognized(submissions: Path, known: list[str]) -> list[str]:
    """Entries of the submissions folder that are not ``<student_id>/<assignment>/``
    folders of this course, each with why ("grace (03_minus_sign is a file)")."""
    skipped = []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            skipped.append(f"{entry.name} (a file)")
            continue
        if entry.name in known:
            skipped.append(f"{entry.name} (an assignment name where a student id belongs)")
            continue
        files = [name for name in known if (entry / name).exists() and not (entry / name).is_dir()]
        if files:
            skipped.append(f"{entry.name} ({files[0]} is a file)")
        elif not any((entry / name).is_dir() for name in known):
            skipped.append(f"{entry.name} (holds no assignment folder)")
    return skipped


def discover(submissions: Path, names: list[str]) -> list[tuple[str, str, Path]]:
    """Every ``submissions/<student>/<assignment>/`` folder for the given assignments."""
    found = []
    for student in sorted(p for p in submissions.iterdir() if p.is_dir()):
        if student.name.startswith("."):
            continue
        for name in names:
            if (student / name).is_dir():
                found.append((student.name, name, student / name))
    return found


class _Pipeline:
    """nbgrader's preprocessors, configured once for the course."""

    def __init__(self, config):
        from nbconvert.preprocessors import ClearMetadataPreprocessor
        from nbgrader import preprocessors

        def build(name):
            cls = (
                ClearMetadataPreprocessor
                if name == "ClearMetadataPreprocessor"
                else getattr(preprocessors, name)
            )
            return cls(config=config)

        self.sanitize = [build(name) for name in SANITIZE]
        self.record = [build(name) for name in RECORD]

    @staticmethod
    def run(steps, notebook, resources):
        for step in steps:
            notebook, resources = step(notebook, resources)
        return notebook, resources


class _Executor:
    """Runs one notebook in a sandboxed kernel; used from worker threads."""

    def __init__(
        self,
        config,
        *,
        cell_timeout: int,
        package_dir: Path,
        scratch: Path,
        hide: tuple[Path, ...],
        isolate: bool,
        limits: sandboxing.Limits,
        workers: int,
        warm: bool,
    ):
        self.config = config
        self.cell_timeout = cell_timeout
        self.notebook_timeout = cell_timeout * NOTEBOOK_TIMEOUT_FACTOR
        self.package_dir = package_dir
        self.scratch = scratch
        self.hide = hide
        self.isolate = isolate
        self.limits = limits
        # Kernels forked from a warm parent that has imported the course's libraries
        # (see autograder/zygote.py), where the sandbox gives each kernel its own user.
        self.zygote = (
            sandboxing.Zygote(
                scratch=scratch, hide=hide, expose=(*sandboxing.python_paths(), package_dir)
            )
            if warm and sandboxing.warm_kernels_available(isolate)
            else None
        )
        # More ids than workers, reused least recently first, so a kernel's leftovers
        # (children still dying after a fork bomb) never count against the next kernel.
        self.uids = queue.Queue()
        for uid in sandboxing.uid_block(min(4 * workers, sandboxing.UID_BLOCK)):
            self.uids.put(uid)

    def execute(self, notebook: NotebookNode, job: _Job, name: str, assignment_files: Path) -> str:
        """Execute ``notebook`` in place; return a one-line problem, or "" if none."""
        uid = self.uids.get()  # one user id per running kernel (see sandbox.UID_RANGE)
        try:
            return self._execute(notebook, job, name, assignment_files, uid)
        finally:
            sandboxing.wait_for_user_processes(uid, seconds=10)
            self.uids.put(uid)

    def _execute(self, notebook, job, name, assignment_files, uid) -> str:
        # Flat names: the sandbox hides the scratch folder and binds these two back in,
        # and a bound folder must sit directly in it to be reachable by the kernel user.
        key = hashlib.sha256(f"{job.student}/{job.assignment}/{name}".encode()).hexdigest()[:16]
        workdir, rundir = self.scratch / f"{key}-work", self.scratch / f"{key}-run"
        for folder in (workdir, rundir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        for path in assignment_files.rglob("*"):
            if path.is_file() and path.suffix != ".ipynb":
                target = workdir / path.relative_to(assignment_files)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
        box = sandboxing.Sandbox(
            workdir=workdir,
            rundir=rundir,
            hide=self.hide,
            expose=(*sandboxing.python_paths(), self.package_dir),
            limits=self.limits,
            isolate=self.isolate,
            uid=uid,
        )
        sandboxing.prepare(box)
        # The warm parent if it runs (it is restarted if it died: never by a kernel's
        # hand, kernels cannot signal it); a kernel from scratch if it cannot start.
        zygote = self.zygote if self.zygote is not None and self.zygote.ensure() else None
        manager = sandboxing.kernel_manager(box, zygote=zygote)
        # Through the config: nbconvert re-initialises the client from its config per run.
        config = copy.deepcopy(self.config)
        config.Execute.timeout = self.cell_timeout
        executor = _execute_class()(config=config)
        deadline = threading.Timer(self.notebook_timeout, _kill, args=(manager,))
        deadline.daemon = True
        deadline.start()
        started = time.monotonic()
        try:
            executor.preprocess(notebook, {"metadata": {"path": str(workdir)}}, km=manager)
            problem = ""
        except Exception as error:  # the kernel died, was killed, or never started
            log.debug(
                "execution of %s/%s/%s stopped", job.student, job.assignment, name, exc_info=True
            )
            if time.monotonic() - started >= self.notebook_timeout - 1:
                problem = f"ran past the notebook time limit of {self.notebook_timeout} s"
            elif type(error).__name__ == "CellTimeoutError":
                problem = (
                    f"a cell ran past its {self.cell_timeout} s limit and ignored the interrupt"
                )
            else:
                last = _last_line(rundir / "kernel.log") or type(error).__name__
                problem = f"the kernel stopped ({last[:160]})"
            problem = f"{name}.ipynb: {problem}"
        finally:
            deadline.cancel()
            _kill(manager)
            _release(manager, executor.kc)
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(rundir, ignore_errors=True)
        return problem


def _package_course_root() -> Path | None:
    """The folder holding the importable ``course`` package, when it is a course root."""
    spec = importlib.util.find_spec("course")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).resolve().parent.parent
    return folder if (folder / "source").is_dir() else None


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    return next((line for line in reversed(lines) if line), "")


def _kill(manager) -> None:
    """Kill the kernel's process (the deadline's timer thread does it too) and reap it."""
    try:
        if manager.has_kernel and manager.provisioner:
            process = manager.provisioner.process
            process.kill()
            process.wait(timeout=10)
    except Exception:
        pass


def _release(manager, client) -> None:
    """Stop the client's channels, close the manager's sockets and ZeroMQ context.

    nbclient leaves both open when it did not create the manager: a heartbeat thread and
    about 20 file descriptors per notebook, which a whole class runs out of.
    """
    from jupyter_core.utils import ensure_event_loop, run_sync

    try:
        if client is not None:
            client.stop_channels()
        run_sync(manager.cleanup_resources)()
        # And the event loop jupyter_core made for this worker thread (the next notebook
        # gets a new one): left open, each is a socket pair until the end of the run.
        loop = ensure_event_loop()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    except Exception:
        log.debug("cleaning up a kernel manager failed", exc_info=True)


@functools.cache
def _execute_class():
    from jupyter_core.utils import run_sync
    from nbgrader.preprocessors import Execute

    class LimitedExecute(Execute):
        """nbgrader's Execute, keeping at most MAX_OUTPUT_BYTES of output per cell and
        dropping messages that fail their signature (forked or hostile learner code can
        write to the kernel's sockets) instead of abandoning the notebook."""

        async def async_start_new_kernel_client(self):
            client = await super().async_start_new_kernel_client()
            for channel in (client.iopub_channel, client.shell_channel):
                channel.get_msg = _tolerant(channel.get_msg)
            return client

        def on_cell_executed(self, **kwargs):
            super().on_cell_executed(**kwargs)
            kwargs["cell"].metadata["autograder_completed"] = True

        # nbclient binds the synchronous twin to the base coroutine: rebind it.
        start_new_kernel_client = run_sync(async_start_new_kernel_client)

        def output(self, outs, msg, display_id, cell_index):
            size = sum(len(json.dumps(out)) for out in outs)
            if size > MAX_OUTPUT_BYTES:
                if not any(out.get("name") == "autograder" for out in outs):
                    outs.append(
                        nbformat.v4.new_output(
                            "stream",
                            name="stdout",
                            text="\n[autograder: output beyond 1 MB dropped]\n",
                        )
                    )
                    outs[-1]["name"] = "stdout"
                return None
            return super().output(outs, msg, display_id, cell_index)

    return LimitedExecute


def _tolerant(get_msg):
    async def get_valid_msg(*args, **kwargs):
        while True:
            try:
                return await get_msg(*args, **kwargs)
            except ValueError:  # "Invalid Signature" and other undecodable messages
                continue

    return get_valid_msg


def _prepare_notebook(notebook: NotebookNode) -> NotebookNode:
    """Arm the integrity tripwire first and put the guard in front of every test cell."""
    arm = nbformat.v4.new_code_cell(ARM_SOURCE)
    arm.metadata = {"autograder": "arm"}
    arm.id = "autograder-arm"
    for cell in notebook.cells:
        if (
            cell.cell_type == "code"
            and cell.metadata.get("nbgrader", {}).get("grade")
            and not cell.metadata.get("nbgrader", {}).get("solution")
        ):
            cell.source = GUARD_LINE + cell.source
    notebook.cells.insert(0, arm)
    return notebook


def _give_cells_ids(notebook: NotebookNode) -> None:
    """Give an id to each cell without one: the test cells nbgrader puts back in place of
    deleted ones have none, which nbformat warns about (and will refuse)."""
    taken = {cell.get("id") for cell in notebook.cells}
    for cell in notebook.cells:
        if "id" not in cell:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            valid = re.fullmatch(r"[A-Za-z0-9_-]{1,64}", grade_id) and grade_id not in taken
            cell.id = grade_id if valid else generate_corpus_id()
            taken.add(cell.id)


def _restore_notebook(notebook: NotebookNode) -> NotebookNode:
    """Undo :func:`_prepare_notebook`; mark test cells that never ran as failed."""
    notebook.cells = [c for c in notebook.cells if c.metadata.get("autograder") != "arm"]
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.startswith(GUARD_LINE):
            cell.source = cell.source[len(GUARD_LINE) :]
        nbgrader = cell.metadata.get("nbgrader", {})
        completed = cell.metadata.pop("autograder_completed", False)
        if (
            nbgrader.get("grade")
            and not nbgrader.get("solution")
            and not completed
            and not any(out.output_type == "error" for out in cell.outputs)
        ):
            # A cell with no output would earn full marks in nbgrader: never for one that
            # did not finish because the kernel died or ran out of time.
            cell.outputs.append(
                nbformat.v4.new_output(
                    "error",
                    ename="NotRun",
                    evalue="this test did not run (the kernel stopped first)",
                    traceback=["NotRun: this test did not run (the kernel stopped first)"],
                )
            )
    return notebook


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
    ):
        self.root = root
        self.submissions = submissions
        self.sources: dict[str, str] = {}  # assignment -> digest of its source folder
        self.resynced: list[str] = []  # assignments whose source changed since last run
        self.workers = max(1, int(workers))
        self.force = force
        self.progress = progress
        # nbgrader's gradebook code trips SQLAlchemy's autoflush warnings; they are noise.
        warnings.filterwarnings("ignore", category=SAWarning)
        self.config = load_config(root)
        self.config.NbGraderAPI.log_level = logging.ERROR
        self.db_url = gradebook_url(self.config, root)
        self.config.CourseDirectory.db_url = self.db_url
        check_gradebook(self.db_url, must_exist=False)
        cell_timeout = _cell_timeout(
            timeout if timeout is not None else self.config.Execute.get("timeout", 30)
        )
        self.pipeline = _Pipeline(self.config)
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-grade-"))
        os.chmod(self.scratch, 0o711)  # kernels may pass through, not list
        # Hidden from kernels: the course (hidden tests, gradebook), the submissions, other
        # kernels' scratch folders, and the course the `course` package was installed from
        # (it has hidden tests too when grading a copy of the course).
        package = _package_course_root()
        hidden = {root, submissions.resolve(), self.scratch} | ({package} if package else set())
        hide = tuple(sorted(p for p in hidden if p.exists()))
        self.executor = _Executor(
            self.config,
            cell_timeout=cell_timeout,
            package_dir=(package or root) / "course",
            scratch=self.scratch,
            hide=hide,
            isolate=isolate,
            limits=sandboxing.Limits(
                memory_bytes=memory_bytes, cpu_seconds=cell_timeout * NOTEBOOK_TIMEOUT_FACTOR
            ),
            workers=self.workers,
            warm=warm,
        )

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.db_url, self.config.CourseDirectory.course_id)

    # -- the gradebook's assignment records -----------------------------------------
    def ensure_assignments(self, names: list[str]) -> dict[str, list[str]]:
        """Bring the gradebook's assignment records in line with source/; return each
        assignment's notebooks.

        Records are made from source/ when missing, and remade when source/ changed
        since they were made (a fixed test, new points), as ``nbgrader generate_assignment``
        would: nbgrader's test cells come back from these records, so stale ones would
        grade with the old tests. Each assignment's source digest is kept in a table of
        the gradebook's own database (``autograder_sources``).
        """
        from nbgrader.api import MissingEntry

        from autograder.release import generate_student_versions

        self.sources = {name: digest_folder(self.root / "source" / name) for name in names}
        missing, changed = [], []
        with self.gradebook() as gb:
            recorded = _recorded_sources(gb.engine)
            for name in names:
                try:
                    gb.find_assignment(name)
                except MissingEntry:
                    missing.append(name)
                    continue
                if recorded.get(name) != self.sources[name]:
                    changed.append(name)
        for name in missing + changed:
            with tempfile.TemporaryDirectory(prefix="autograder-sync-") as scratch:
                try:
                    generate_student_versions(self.root, [name], Path(scratch), db_url=self.db_url)
                except CourseError as error:
                    if "Cannot add or remove cells" not in str(error):
                        raise
                    raise CourseError(
                        f"source/{name} adds or removes graded cells, but submissions of it "
                        "are already in the gradebook; nbgrader can change a cell's code or "
                        "points, not the set of cells (put the cells back, or release the "
                        "change as a new assignment)"
                    ) from None
            with self.gradebook() as gb:
                _record_source(gb.engine, name, self.sources[name])
        self.resynced = [name for name in changed if recorded.get(name) is not None]
        with self.gradebook() as gb:
            return {
                name: sorted(nb.name for nb in gb.find_assignment(name).notebooks) for name in names
            }

    # -- stage 1 ----------------------------------------------------------------------
    def prepare(self, job: _Job, notebook_names: list[str]) -> None:
        with self.gradebook() as gb:
            gb.update_or_create_student(job.student)
            timestamp = _timestamp(job.folder)
            if timestamp:
                try:
                    gb.update_or_create_submission(job.assignment, job.student, timestamp=timestamp)
                except Exception:  # not a date nbgrader can parse: graded without one
                    gb.db.rollback()
                    gb.update_or_create_submission(job.assignment, job.student)
            else:
                gb.update_or_create_submission(job.assignment, job.student)
        link = _linked(job.folder)
        for name in notebook_names:
            path = job.folder / f"{name}.ipynb"
            if link is not None or path.is_symlink():
                what = f"{name}.ipynb" if link is None else f"the folder {link.name}/"
                job.problems[name] = f"{what} is a symbolic link, not submitted work (not followed)"
                continue
            if not path.is_file():
                job.problems[name] = f"{name}.ipynb is missing from the submission" + _found(
                    job.folder
                )
                continue
            try:
                notebook = _demote_duplicates(nbformat.reads(_notebook_text(path), as_version=4))
                notebook, _ = self.pipeline.run(
                    self.pipeline.sanitize, notebook, self._resources(job, name)
                )
            except _Unreadable as error:
                job.problems[name] = f"{name}.ipynb is not a readable notebook ({error})"
                continue
            except KeyError as error:  # nbgrader cannot place a missing test cell
                job.problems[name] = (
                    f"{name}.ipynb has lost the nbgrader cells around {error.args[0]!r} "
                    "(deleted, or pasted into a new notebook): copy the answers into a fresh "
                    "copy of the released notebook"
                )
                continue
            except Exception as error:
                detail = str(error).strip().splitlines()
                job.problems[name] = (
                    f"{name}.ipynb is not a readable notebook "
                    f"({type(error).__name__}: {detail[0][:120] if detail else ''})"
                )
                continue
            job.notebooks[name] = _prepare_notebook(notebook)

    def _resources(self, job: _Job, name: str) -> dict:
        return {
            "unique_key": name,
            "output_files_dir": f"{name}_files",
            "nbgrader": {
                "student": job.student,
                "assignment": job.assignment,
                "notebook": name,
                "db_url": self.db_url,
            },
        }

    # -- stage 2 ----------------------------------------------------------------------
    def execute(self, job: _Job) -> _Job:
        job.started = time.monotonic()
        source = self.root / "source" / job.assignment
        for name, notebook in job.notebooks.items():
            problem = self.executor.execute(notebook, job, name, source)
            if problem:
                job.problems[name] = problem
        return job

    # -- stage 3 ----------------------------------------------------------------------
    def record(self, job: _Job, notebook_names: list[str]) -> Outcome:
        destination = self.root / "autograded" / job.student / job.assignment
        shutil.rmtree(destination, ignore_errors=True)
        destination.mkdir(parents=True)
        source = self.root / "source" / job.assignment
        for path in source.rglob("*"):
            if path.is_file() and path.suffix != ".ipynb":
                target = destination / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
        for name in notebook_names:
            notebook = job.notebooks.get(name)
            if notebook is None:
                self._zero(job, name)
                continue
            notebook = _restore_notebook(notebook)
            notebook, _ = self.pipeline.run(
                self.pipeline.record, notebook, self._resources(job, name)
            )
            _give_cells_ids(notebook)
            nbformat.write(notebook, destination / f"{name}.ipynb")
        with self.gradebook() as gb:
            submission = gb.find_submission(job.assignment, job.student)
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
        )
        write_atomically(destination / LEDGER, json.dumps(asdict(outcome), indent=1))
        return outcome

    def _zero(self, job: _Job, name: str) -> None:
        """Score 0 on every graded cell of a notebook that could not be run."""
        with self.gradebook() as gb:
            submission = gb.find_submission_notebook(name, job.assignment, job.student)
            for grade in submission.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            gb.db.commit()

    # -- the run ----------------------------------------------------------------------
    def run(self, names: list[str]) -> list[Outcome]:
        try:
            return self._run(names)
        finally:
            if self.executor.zygote is not None:
                self.executor.zygote.close()
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _run(self, names: list[str]) -> list[Outcome]:
        found = discover(self.submissions, names)
        notebooks = self.ensure_assignments(sorted({a for _, a, _ in found})) if found else {}
        outcomes, jobs = [], []
        for student, assignment, folder in found:
            # The submission and the tests it is graded with: a fixed test regrades it.
            link = _linked(folder)
            content = f"link:{os.readlink(link)}" if link is not None else digest_folder(folder)
            digest = hashlib.sha256(f"{content} {self.sources[assignment]}".encode()).hexdigest()
            ledger = _read_ledger(self.root / "autograded" / student / assignment / LEDGER)
            if (
                not self.force
                and ledger.get("digest") == digest
                and ledger.get("status") in ("graded", "failed")
                and self._has_submission(student, assignment)
            ):
                outcomes.append(Outcome(**{**ledger, "status": "unchanged"}))
                continue
            jobs.append(_Job(student, assignment, folder, digest))
        self.progress.start(len(jobs), len(outcomes))
        if jobs and self.executor.zygote is not None:
            self.executor.zygote.ensure()  # from the main thread, which outlives it
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            running = {}
            for job in jobs:
                self.prepare(job, notebooks[job.assignment])
                running[pool.submit(self.execute, job)] = job
            for future in concurrent.futures.as_completed(running):
                job = future.result()
                outcome = self.record(job, notebooks[job.assignment])
                outcomes.append(outcome)
                self.progress.update(outcome)
        self.progress.finish()
        notes = [
            f"source/{name} changed since it was last graded: its gradebook records were "
            "remade and its submissions regraded"
            + self._left_stale(name, {s for s, a, _ in found if a == name})
            for name in self.resynced
        ]
        skipped = unrecognized(self.submissions, assignments(self.root))
        if skipped:
            shown = "; ".join(skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
            notes.append(
                f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} of "
                f"{self.submissions} that are not <student_id>/<assignment>/ folders: {shown}"
            )
        return Outcomes(
            sorted(outcomes, key=lambda o: (o.assignment, o.student)), self._kernels(), notes
        )

    def _kernels(self) -> str:
        zygote = self.executor.zygote
        if zygote is None:
            return "kernels started from scratch"
        if zygote.failure:
            return (
                f"WARNING: the warm kernel parent failed ({zygote.failure}); kernels "
                "started from scratch from then on"
            )
        return "kernels forked from a warm parent"

    def _left_stale(self, assignment: str, graded: set[str]) -> str:
        """ ", except 2 not in this run (ann, bob), still scored with the old tests: grade
        their folder", or "" when every submission of ``assignment`` was regraded."""
        with self.gradebook() as gb:
            students = sorted(s.student.id for s in gb.find_assignment(assignment).submissions)
        stale = [student for student in students if student not in graded]
        if not stale:
            return ""
        shown = ", ".join(stale[:5]) + (", ..." if len(stale) > 5 else "")
        return (
            f", except {len(stale)} not in this run ({shown}), still scored with the old "
            "tests: grade their folder too"
        )

    def _has_submission(self, student: str, assignment: str) -> bool:
        from nbgrader.api import MissingEntry

        with self.gradebook() as gb:
            try:
                gb.find_submission(assignment, student)
                return True
            except MissingEntry:
                return False


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


def _timestamp(folder: Path) -> str:
    """The submission's ``timestamp.txt``, or "" when absent, unreadable or a link."""
    path = folder / "timestamp.txt"
    if path.is_symlink() or not path.is_file():
        return ""
    try:
        data = path.read_bytes()[:200]
    except OSError:
        return ""
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"  # Notepad
    try:
        return data.decode(encoding).strip()
    except UnicodeDecodeError:
        return ""


def _demote_duplicates(notebook: NotebookNode) -> NotebookNode:
    """Make every repeat of a graded cell a plain cell.

    Copying a cell in JupyterLab copies its nbgrader metadata, and nbgrader refuses a
    notebook in which two cells share a grade_id. The first cell keeps the id; later
    copies still run, in order, but are not graded (test cells are put back from the
    gradebook anyway, so a copied test cannot change a score).
    """
    seen = set()
    for cell in notebook.cells:
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if grade_id is None or grade_id in seen:  # a copy, or metadata mangled by hand
            del cell.metadata["nbgrader"]
        seen.add(grade_id)
    return notebook


class _Unreadable(ValueError):
    """A submitted file that is not text or not JSON; the message says where it breaks."""


def _notebook_text(path: Path) -> str:
    """The notebook's text, checked to be UTF-8 JSON, so that a truncated or mangled file
    is reported by where it breaks rather than by its first characters."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Unreadable(f"not UTF-8 text: byte {error.start} of {len(data)}") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        at = f"line {error.lineno}, column {error.colno}"
        if not text.strip():
            problem = "the file is empty"
        elif error.msg.startswith("Unterminated string"):  # only the end of the file does that
            problem = f"the file ends inside a string that starts at {at}; it looks cut off"
        elif error.pos >= len(text.rstrip()) or _cut_word(text[error.pos :]):
            problem = f"the file ends early, at {at}; it looks cut off"
        else:
            problem = f"{error.msg[0].lower()}{error.msg[1:]} at {at}"
        raise _Unreadable(f"not valid JSON: {problem}") from None
    return text


def _cut_word(rest: str) -> bool:
    """Whether ``rest``, the text from a JSON error to the end, is the start of a JSON
    word cut off by the end of the file (``nu`` of ``null``)."""
    rest = rest.rstrip()
    return bool(rest) and any(word.startswith(rest) for word in ("null", "true", "false"))


class Outcomes(list):
    """What :func:`grade` returns: one :class:`Outcome` per submission, ``kernels``, how
    this run started its kernels, and ``notes`` for the instructor (for the summary)."""

    def __init__(self, outcomes=(), kernels: str = "", notes: list[str] | None = None):
        super().__init__(outcomes)
        self.kernels = kernels
        self.notes = list(notes or [])


class _Quiet:
    def start(self, total, skipped): ...
    def update(self, outcome): ...
    def finish(self): ...


class ProgressBar:
    """A one-line progress bar on stderr (one line per submission when not a terminal)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def start(self, total: int, skipped: int) -> None:
        self.total, self.done, self.failed, self.began = total, 0, 0, time.monotonic()
        if skipped:
            print(
                f"{skipped} submission(s) unchanged since they were graded: skipped "
                "(use --force to regrade)",
                file=self.stream,
            )
        self._draw(None)

    def update(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += outcome.status == "failed"
        self._draw(outcome)

    def _draw(self, outcome: Outcome | None) -> None:
        if not self.total:
            return
        width = 30
        filled = int(width * self.done / self.total)
        elapsed = time.monotonic() - self.began
        line = (
            f"grading [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
            f"  {self.failed} failed  {elapsed:5.1f}s"
        )
        if self.tty:
            print("\r" + line, end="", file=self.stream, flush=True)
        elif outcome is not None:
            print(f"{line}  {outcome.student}/{outcome.assignment}", file=self.stream)

    def finish(self) -> None:
        if self.tty and self.total:
            print(file=self.stream)


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

    Returns
    -------
    Outcomes
        A list with one Outcome per student and assignment found, sorted by assignment
        then student; its ``kernels`` says how the run started its kernels.
    """
    root = find_root(root) if root is None else Path(root).resolve()
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
        progress=ProgressBar() if progress else _Quiet(),
        warm=warm,
    )
    return grader.run(names)


def summary(outcomes: list[Outcome], *, isolate: bool = True) -> str:
    """The table printed at the end of a run.

    The score is what the tests awarded out of what they can award; points for written
    answers, which wait for a person in formgrader, are shown apart.
    """
    lines = [sandboxing.describe(isolate)]
    if getattr(outcomes, "kernels", ""):
        lines.append(outcomes.kernels)
    lines.extend(getattr(outcomes, "notes", []))
    lines.append("")
    header = (
        f"{'student':<20} {'assignment':<20} {'autograded':>13} {'by hand':>8} {'time':>7}  status"
    )
    lines += [header, "-" * len(header)]
    for o in outcomes:
        status = o.status + (f": {o.reason}" if o.reason else "")
        automatic = o.max_score - o.manual_points
        auto_score = o.auto_score if o.auto_score is not None else min(o.score, automatic)
        lines.append(
            f"{o.student:<20} {o.assignment:<20} {auto_score:>6.1f}/{automatic:<6.1f}"
            f" {o.manual_points:>8g} {o.seconds:>6.1f}s  {status}"
        )
    counts = {s: sum(o.status == s for o in outcomes) for s in ("graded", "failed", "unchanged")}
    failed_before = sum(o.status == "unchanged" and bool(o.reason) for o in outcomes)
    lines += [
        "",
        f"{counts['graded']} graded, {counts['failed']} failed (recorded with score 0 "
        f"where they broke), {counts['unchanged']} unchanged"
        + (f" ({failed_before} of them failed when graded)" if failed_before else ""),
    ]
    return "\n".join(lines)

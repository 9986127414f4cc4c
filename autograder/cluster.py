"""Grading on a Dask cluster (``autograder grade --cluster ADDRESS``).

The coordinator (the machine that runs ``autograder grade``, with the course and the
gradebook) keeps what it does locally: it reads each submitted notebook, and records its
grades and autograded notebook. What happens in between (:mod:`autograder.worker`:
sanitizing, two sandboxed kernels, post-processing, the scores) runs on the cluster's
workers. Only data crosses: a task carries one notebook's bytes and comes back with its
text and scores; what every notebook of an assignment shares (the trusted kernel's
plans, the assignment's files, the gradebook's records of its cells) is one task per
assignment whose result each worker fetches once, and which the scheduler can make
again if the worker holding it dies. No filesystem is shared.

Each worker sandboxes kernels exactly as local grading does: its own
:class:`~autograder.execute.Executor` and warm parent, made on first use and stopped
with the worker (:class:`GradingPlugin`). Before any grading, every worker's
environment is compared with the coordinator's (:func:`environment`: the autograder and
course code, the libraries a verdict depends on, the sandbox); a worker that differs is
refused with one line naming it and the difference.

A worker that dies mid-notebook (SIGKILL, out of memory, machine lost) loses nothing:
the scheduler gives its tasks to other workers. A notebook whose grading kills every
worker it is given (``distributed.scheduler.allowed-failures`` + 1 of them) is recorded
``failed``: "killed its grading worker N times". The dashboard shows the run: each task
is named ``grade <assignment>`` (and ``assignment <name>`` for the shared part).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import pickle
import platform
import queue
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from distributed import WorkerPlugin

from autograder.course import CourseError
from autograder.worker import Graded, Shared, Work, failure, grade_notebook

log = logging.getLogger("autograder")

#: The plugin's name on the workers.
PLUGIN = "autograder"
#: The libraries whose version can change a verdict or a notebook's processing.
LIBRARIES = (
    "nbgrader", "nbconvert", "nbformat", "nbclient", "jupyter_client", "ipykernel",
    "ipython", "numpy", "scipy", "matplotlib", "cloudpickle", "bleach", "tinycss2",
    "jsonschema", "traitlets", "dask", "distributed",
)  # fmt: skip


def _digest_package(name: str) -> str:
    """A digest of an importable package's Python files (names and contents)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return "not installed"
    folder = Path(spec.origin).parent
    hasher = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        hasher.update(str(path.relative_to(folder)).encode() + b"\0")
        hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()[:16]


def environment(isolate: bool = True) -> dict[str, str]:
    """What must be the same on the coordinator and every worker: the autograder's and
    the ``course`` package's code, Python and the libraries in :data:`LIBRARIES`, and
    whether kernels can be sandboxed."""
    from autograder import sandbox as sandboxing

    found = {
        "autograder code": _digest_package("autograder"),
        "course code": _digest_package("course"),
        "Python": platform.python_version(),
    }
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    if isolate:
        found["sandbox"] = (
            "bubblewrap" if sandboxing.bubblewrap() else "cannot sandbox kernels (no bubblewrap)"
        )
    return found


def worker_environment(isolate: bool = True) -> dict[str, str]:
    """:func:`environment`, as the worker it runs on has it (sent by reference, so that
    the worker runs its own code)."""
    return environment(isolate)


def difference(here: dict[str, str], there: dict[str, str]) -> str:
    """ "numpy 2.4.6 here, 2.3.0 there", the first thing that differs, or ""."""
    for name, value in here.items():
        other = there.get(name, "missing")
        if other != value:
            if name == "sandbox":
                return other
            return f"{name} {value} here, {other} there"
    return ""


@dataclass
class Settings:
    """How a run's kernels are set up, the same on every worker."""

    config: object  # the course's nbgrader configuration (traitlets Config)
    cell_timeout: int
    memory_bytes: int
    isolate: bool
    warm: bool
    #: Paths the coordinator hides from kernels: hidden on a worker too where it has
    #: them (a worker on the coordinator's own machine).
    hide: tuple[str, ...] = ()
    fingerprint: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        state = (self.config, self.cell_timeout, self.memory_bytes, self.isolate, self.warm)
        return hashlib.sha256(pickle.dumps((state, self.hide))).hexdigest()[:16]


class EnvironmentMismatch(Exception):
    """A worker whose environment differs from the coordinator's (one line)."""


class GradingPlugin(WorkerPlugin):
    """The autograder's part of each Dask worker: an :class:`~autograder.execute.Executor`
    (and its warm parent) per run settings, made on first use, stopped with the worker.

    ``idempotent``: a second run on the same cluster does not stop the first's kernels
    by registering it again.
    """

    name = PLUGIN
    idempotent = True

    def setup(self, worker=None) -> None:
        from nbgrader.nbgraderformat import common

        from autograder.prepare import _CompiledSchemas

        self.worker = worker
        self.lock = threading.Lock()
        self.executors: dict[str, object] = {}
        self.scratch: list[Path] = []
        self.checked: dict[str, str] = {}  # fingerprint digest -> difference
        # nbgrader's metadata checks compile their schema once, for the worker's life.
        if not isinstance(common.jsonschema, _CompiledSchemas):
            common.jsonschema = _CompiledSchemas(common.jsonschema)

    def teardown(self, worker=None) -> None:
        with self.lock:
            for executor in self.executors.values():
                with contextlib.suppress(Exception):
                    executor.close()
            self.executors.clear()
            for folder in self.scratch:
                shutil.rmtree(folder, ignore_errors=True)

    def executor(self, settings: Settings):
        """The executor for ``settings``, made (and its warm parent started) on first use."""
        from autograder import sandbox as sandboxing
        from autograder.execute import NOTEBOOK_TIMEOUT_FACTOR, Executor, package_course_root

        with self.lock:
            key = hashlib.sha256(repr(sorted(settings.fingerprint.items())).encode()).hexdigest()
            if key not in self.checked:
                self.checked[key] = difference(settings.fingerprint, environment(settings.isolate))
            if self.checked[key]:
                where = getattr(self.worker, "address", "(unknown)")
                raise EnvironmentMismatch(f"{where}: {self.checked[key]}")
            executor = self.executors.get(settings.key)
            if executor is not None:
                return executor
            scratch = Path(tempfile.mkdtemp(prefix="autograder-worker-"))
            os.chmod(scratch, 0o711)  # kernels may pass through, not list
            self.scratch.append(scratch)
            package = package_course_root()
            spec = importlib.util.find_spec("course")
            package_dir = Path(spec.origin).parent if spec and spec.origin else scratch
            hidden = {scratch} | ({package} if package else set())
            hidden |= {Path(p) for p in settings.hide}
            executor = Executor(
                settings.config,
                cell_timeout=settings.cell_timeout,
                package_dir=package_dir,
                scratch=scratch,
                hide=tuple(sorted(p for p in hidden if p.exists())),
                isolate=settings.isolate,
                limits=sandboxing.Limits(
                    memory_bytes=settings.memory_bytes,
                    cpu_seconds=settings.cell_timeout * NOTEBOOK_TIMEOUT_FACTOR,
                ),
                warm=settings.warm,
            )
            # Started here, by one of the worker's task threads: they live as long as
            # the worker (the warm parent dies with the thread that started it).
            if executor.zygote is not None:
                executor.zygote.ensure()
            self.executors[settings.key] = executor
            return executor


def _plugin():
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN)
    if plugin is None:  # a worker that joined before the plugin reached it
        plugin = GradingPlugin()
        plugin.setup(worker)
        worker.plugins[PLUGIN] = plugin
    return plugin


def hold(shared: Shared) -> Shared:
    """The task whose result is an assignment's :class:`Shared` (fetched once per worker)."""
    return shared


def grade_task(work: Work, shared: Shared, settings: Settings) -> Graded:
    """The task run on a worker for one notebook."""
    from distributed import get_worker

    executor = _plugin().executor(settings)
    graded = grade_notebook(work, shared, settings.config, executor)
    graded.worker = get_worker().address
    return graded


def describe_worker(dask_worker=None) -> str:
    """How the worker this runs on started its kernels, and their limits (for the summary)."""
    from autograder.grade import describe_kernels

    plugin = dask_worker.plugins.get(PLUGIN)
    if plugin is None:
        return ""
    with plugin.lock:
        executors = list(plugin.executors.values())
    return "\n".join(describe_kernels(executor) for executor in executors)


def _refused(address: str) -> str | None:
    """Why a ``tcp://host:port`` address refuses connections outright (nothing listens
    there, or the host is unknown), or None: Dask would retry until its timeout."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme != "tcp" or not host or port is None:
        return None
    try:
        with socket.create_connection((host, port), timeout=5):
            return None
    except ConnectionRefusedError:
        return "nothing listens there: is `dask scheduler` running?"
    except socket.gaierror as error:
        return f"unknown host: {error.strerror}"
    except OSError:
        return None  # slow or filtered: Dask's own timeout decides


def _connect(address: str, timeout: float = 30):
    from distributed import Client

    refused = _refused(address)
    if refused:
        raise CourseError(f"cannot reach the Dask scheduler at {address} ({refused})")
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except OSError as error:
        raise CourseError(
            f"cannot reach the Dask scheduler at {address} ({str(error).splitlines()[0][:160]})"
        ) from None
    except Exception as error:
        detail = str(error).strip().splitlines()
        raise CourseError(
            f"cannot use the Dask scheduler at {address} ({type(error).__name__}"
            + (f": {detail[0][:160]}" if detail else "")
            + ")"
        ) from None


class ClusterBackend:
    """Notebooks graded on a Dask cluster's workers (see the module docstring)."""

    def __init__(self, address: str, settings: Settings):
        for name in ("distributed", "distributed.client", "distributed.worker"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self.address = address
        self.settings = settings
        self.client = _connect(address)
        try:
            self.check()
            self.allowed_failures = self.client.run_on_scheduler(_allowed_failures)
            self.client.register_plugin(GradingPlugin(), name=PLUGIN)
        except BaseException:
            self.client.close()
            raise
        self.run = secrets.token_hex(4)  # keys of this run, apart from another's
        # The keys of finished tasks, in the order they finish (put there by the client's
        # own thread, which Dask runs a future's done-callbacks in).
        self.finished: queue.SimpleQueue = queue.SimpleQueue()
        self.futures: dict[str, tuple[object, Work, object]] = {}  # task key -> key, work, future
        self.held: dict[str, object] = {}  # assignment -> its Shared's future
        self.shared: dict[str, Shared] = {}
        self.workers: set[str] = set()
        threads = sum(self.client.nthreads().values())
        self.capacity = max(2, 2 * threads)

    def check(self) -> None:
        """Refuse, in one line, a cluster without workers or with a worker whose
        environment differs from this machine's."""
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        if not workers:
            raise CourseError(
                f"the Dask cluster at {self.address} has no workers: start some "
                "(`dask worker ADDRESS`, see docs/scaling.md)"
            )
        found = self.client.run(worker_environment, self.settings.isolate, on_error="return")
        for address in sorted(found):
            there = found[address]
            if isinstance(there, BaseException):
                detail = str(there).splitlines()[0][:120] if str(there) else ""
                raise CourseError(
                    f"refusing the Dask worker {address}: it cannot run the autograder "
                    f"({type(there).__name__}: {detail})"
                )
            different = difference(self.settings.fingerprint, there)
            if different:
                raise CourseError(f"refusing the Dask worker {address}: {different}")

    def start(self, shared: dict[str, Shared]) -> None:
        self.shared = shared

    def _held(self, assignment: str):
        future = self.held.get(assignment)
        if future is None:
            future = self.held[assignment] = self.client.submit(
                hold,
                self.shared[assignment],
                key=f"assignment {assignment}-{self.run}",
                pure=False,
            )
        return future

    def submit(self, key, work: Work) -> None:
        # "grade 01_likelihood" groups the dashboard's tasks by assignment; the run's
        # token and a counter keep every key unique.
        name = f"grade {work.assignment}-{self.run}-{key}"
        future = self.client.submit(
            grade_task,
            work,
            self._held(work.assignment),
            self.settings,
            key=name,
            pure=False,
        )
        self.futures[future.key] = (key, work, future)
        future.add_done_callback(lambda done: self.finished.put(done.key))

    def next_done(self, timeout: float):
        """The next notebook graded, ``(key, Graded)``; None after ``timeout`` seconds."""
        from distributed import KilledWorker

        try:
            task = self.finished.get(timeout=timeout)
        except queue.Empty:
            return None
        key, work, future = self.futures.pop(task)
        try:
            graded = future.result()
        except KilledWorker:
            times = self.allowed_failures + 1
            graded = Graded(
                work.notebook,
                problem=f"{work.notebook}.ipynb killed its grading worker {times} times "
                "(every worker that ran it died)",
            )
        except EnvironmentMismatch as error:  # a worker that joined during the run
            raise CourseError(f"refusing the Dask worker {error}") from None
        except Exception as error:
            graded = Graded(work.notebook, failure=failure("executing", work.label, error))
        finally:
            future.release()
        if graded.worker:
            self.workers.add(graded.worker)
        return key, graded

    def stop(self) -> None:
        """Stopping: the notebooks not yet graded are cancelled on the workers (their
        kernels killed with the tasks' threads' notebooks as each worker gives them up)."""
        with contextlib.suppress(Exception):
            self.client.cancel([future for _, _, future in self.futures.values()])

    def describe(self) -> str:
        """One line naming the cluster and how many workers took part, then how they
        started their kernels."""
        count = len(self.workers)
        lines = [
            f"graded on the Dask cluster at {self.address}: {count} worker"
            f"{'' if count == 1 else 's'} took part"
        ]
        with contextlib.suppress(Exception):
            described = self.client.run(describe_worker, workers=sorted(self.workers))
            lines += sorted({text for text in described.values() if text})
        return "\n".join(lines)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel([future for _, _, future in self.futures.values()])
        self.client.close()


def _allowed_failures(dask_scheduler=None) -> int:
    return int(dask_scheduler.allowed_failures)

"""Grading, stage 3 of 5: execute a notebook (discover → prepare → execute → record → summarize).

Each notebook runs in a sandboxed, time- and resource-limited kernel
(:mod:`autograder.sandbox`), on a worker thread (``workers`` at once), with an integrity
tripwire armed before any learner code (:mod:`course.integrity`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import json
import logging
import queue
import shutil
import threading
import time
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder import sandbox as sandboxing
from autograder.prepare import Job

log = logging.getLogger("autograder")
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


class Executor:
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

    def execute(self, notebook: NotebookNode, job: Job, name: str, assignment_files: Path) -> str:
        """Execute ``notebook`` in place; return a one-line problem, or "" if none."""
        uid = self.uids.get()  # one user id per running kernel (see sandbox.UID_RANGE)
        instrument(notebook)
        try:
            return self._execute(notebook, job, name, assignment_files, uid)
        finally:
            uninstrument(notebook)
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


def package_course_root() -> Path | None:
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


def instrument(notebook: NotebookNode) -> None:
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


def uninstrument(notebook: NotebookNode) -> None:
    """Undo :func:`instrument`; mark test cells that never ran as failed."""
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

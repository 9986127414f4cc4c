"""Grading, stage 3 of 5: execute a notebook (discover → prepare → execute → record → summarize).

Each notebook is executed by two kernels, both sandboxed, time- and resource-limited
(:mod:`autograder.sandbox`), both forked from the warm parent or both started from
scratch, each under a user id of its own:

* the **student kernel** runs the submission's own cells in order, never a test cell;
* the **trusted kernel** runs the instructor's ordinary cells from ``source/`` and every
  test cell; each name the instructor's answer cells define is bound there to a proxy
  whose calls run in the student kernel and come back as plain data
  (:mod:`autograder.bridge`, which plan a cell to which kernel: :mod:`autograder.plan`).

The two run in lock-step, in the submission's cell order, so a test sees the student's
state as of that cell. The grader is the client of both kernels: a proxy call reaches it
on the trusted kernel's stdin channel (``input_request``), it runs the call in the
student kernel (an ``execute_request`` whose user expression calls the bridge) and
answers with the reply (``input_reply``). The trusted kernel runs no student code and
decodes only data; the student kernel sees no test, only the arguments of the calls.
A verdict is therefore computed where no student code runs: hooks, displayhooks,
monkeypatching and faked equality in the student kernel change nothing there.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import hashlib
import importlib.util
import itertools
import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder import bridge
from autograder import sandbox as sandboxing
from autograder.cgroups import MemoryCgroups
from autograder.plan import Plan, is_test

log = logging.getLogger("autograder")
#: Output kept per cell before the rest is dropped (a flood must not fill the grader's memory).
MAX_OUTPUT_BYTES = 1_000_000
#: The largest answer a student's function may send back in one call.
MAX_REPLY_BYTES = 64 * 1024**2
NOTEBOOK_TIMEOUT_FACTOR = 10
#: Seconds a kernel gets to answer an interrupt before it is killed.
INTERRUPT_GRACE = 5

# Run silently in each kernel before any cell: the bridge as a module of its own (no name
# is added to the notebook's namespace), and no figure drawn: nothing a person or a test
# reads while grading, and most of a notebook's time. PNGs are not rendered, and
# tight_layout, which renders the text of a figure to place its axes, does nothing.
_SETUP = (
    "exec({code!r}, {{}})\n"
    "get_ipython().display_formatter.formatters['image/png'].enabled = False\n"
    "exec({layout!r}, {{}})\n"
)
_NO_LAYOUT = """
try:
    import matplotlib.figure
except ImportError:
    pass
else:
    matplotlib.figure.Figure.tight_layout = lambda self, *args, **kwargs: None
"""
_INSTALL = """
import sys, types
module = types.ModuleType({module!r})
exec(compile({source!r}, "<autograder bridge>", "exec"), module.__dict__)
sys.modules[{module!r}] = module
"""


@functools.cache
def _setup_code() -> str:
    source = Path(bridge.__file__).read_text()
    install = _INSTALL.format(module=bridge.MODULE, source=source)
    return _SETUP.format(code=install, layout=_NO_LAYOUT)


class Executor:
    """Runs notebooks, each with a student and a trusted kernel; used from worker threads."""

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
        # A memory cgroup per kernel where the machine has them: the limit then counts
        # memfd and tmpfs pages, which the address-space limit does not.
        self.cgroups = MemoryCgroups.create(limits.memory_bytes)
        # Kernels forked from a warm parent that has imported the course's libraries
        # (see autograder/zygote.py), where the sandbox gives each kernel its own user.
        self.zygote = (
            sandboxing.Zygote(
                scratch=scratch,
                hide=hide,
                expose=(*sandboxing.python_paths(), package_dir),
                cgroups=self.cgroups.folder,
            )
            if warm and sandboxing.warm_kernels_available(isolate)
            else None
        )
        # A new user id for every kernel of the run, never one used before: whatever a
        # kernel leaves behind can never act as (or on) a later kernel.
        self._uids = sandboxing.uid_sequence()
        self._lock = threading.Lock()
        self._run = itertools.count()
        self._running: set[_NotebookRun] = set()  # for kill_running

    def close(self) -> None:
        """Stop the warm parent and remove the run's cgroups (after the last notebook)."""
        if self.zygote is not None:
            self.zygote.close()
        self.cgroups.close()

    def describe_limits(self) -> str:
        """One line: the limits each kernel ran under on this machine."""
        limits = self.limits
        return (
            f"limits per kernel: memory {limits.memory_bytes / 1024**3:g} GiB, "
            f"{self.cgroups.describe()}; CPU {limits.cpu_seconds} s; "
            f"{limits.processes} processes; files {limits.file_bytes // 1024**2} MiB; "
            f"{self.cell_timeout} s per cell"
        )

    def kill_running(self) -> None:
        """Kill the kernels of every notebook running now (a run told to stop): each
        returns as if its kernels had died. Kernels still starting are missed: call it
        again until the notebooks have returned."""
        with self._lock:
            running = list(self._running)
        for run in running:
            run._kill_all()

    def uid(self) -> int:
        with self._lock:
            return next(self._uids)

    def execute(self, task: Task) -> Executed:
        """Execute ``task.notebook`` in place (thread-safe: one call per worker thread)."""
        run = _NotebookRun(self, task)
        with self._lock:
            self._running.add(run)
        try:
            problem = run.run()
        finally:
            with self._lock:
                self._running.discard(run)
            mark_unfinished_tests(task.notebook)
        return Executed(problem=problem, second_kernel=run.second_kernel)


@dataclass
class Task:
    """One notebook to execute, and everything that takes, as data: nothing is read from
    the course on disk, so the same task runs on a cluster's worker."""

    label: str  # "student/assignment/notebook", for logs and scratch folder names
    notebook: NotebookNode  # sanitized by nbgrader; executed in place
    plan: Plan  # what the trusted kernel runs (from the instructor's notebook)
    files: dict[str, bytes] = field(default_factory=dict)  # the assignment's other files


@dataclass
class Executed:
    """What became of a :class:`Task` besides its notebook's outputs."""

    problem: str = ""  # one line, or "" when the notebook ran to its end
    second_kernel: float = 0.0  # seconds of the trusted kernel's own work


def assignment_files(folder: Path) -> dict[str, bytes]:
    """The files of an assignment's folder other than notebooks, by relative path."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in path.parts
    }


@dataclass
class _Side:
    """One of the two kernels of a notebook."""

    role: str  # "student" or "trusted"
    box: sandboxing.Sandbox
    manager: object
    client: object  # the nbgrader Execute (nbclient) driving this kernel

    @property
    def kc(self):
        return self.client.kc


class _StudentStopped(Exception):
    """The student kernel died or was killed; the rest of its tests cannot run."""


class _NotebookRun:
    """One notebook's execution: two kernels, the submission's cells in order."""

    def __init__(self, executor: Executor, task: Task):
        self.executor = executor
        self.notebook = task.notebook
        self.label = task.label
        self.files = task.files
        self.plan = task.plan
        self.cell_timeout = executor.cell_timeout
        self.second_kernel = 0.0  # seconds of the trusted kernel's own work
        self.student: _Side | None = None
        self.trusted: _Side | None = None
        self.deadline = 0.0  # for the student's side of the call in progress
        self.calls = 0
        self.call_seconds = 0.0  # spent in the student kernel answering the tests' calls
        self.student_stopped = ""
        self.active: _Side | None = None  # the kernel executing a cell right now
        self.folders: list[Path] = []

    # -- set-up and tear-down ----------------------------------------------------------
    def _side(self, role: str) -> _Side:
        key = hashlib.sha256(
            f"{next(self.executor._run)}/{self.label}/{role}".encode()
        ).hexdigest()[:16]
        # Flat names: the sandbox hides the scratch folder and binds these two back in.
        workdir, rundir = (
            self.executor.scratch / f"{key}-work",
            self.executor.scratch / f"{key}-run",
        )
        for folder in (workdir, rundir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            self.folders.append(folder)
        # The assignment's files (data, images) beside the notebook, as the instructor
        # has them, on both sides.
        for relative, content in self.files.items():
            target = workdir / relative
            if workdir not in target.resolve().parents:
                continue  # not inside the folder: never from the grader, but never written
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        box = sandboxing.Sandbox(
            workdir=workdir,
            rundir=rundir,
            hide=self.executor.hide,
            expose=(*sandboxing.python_paths(), self.executor.package_dir),
            limits=self.executor.limits,
            isolate=self.executor.isolate,
            uid=self.executor.uid(),
            cgroup=self.executor.cgroups.make(key),
        )
        sandboxing.prepare(box)
        zygote = self.executor.zygote
        # The warm parent if it runs (restarted if it died: never by a kernel's hand,
        # kernels cannot signal it); a kernel from scratch if it cannot start.
        zygote = zygote if zygote is not None and zygote.ensure() else None
        manager = sandboxing.kernel_manager(box, zygote=zygote)
        # Through the config: nbconvert re-initialises the client from its config.
        config = copy.deepcopy(self.executor.config)
        # The trusted side's own limit is looser: the student's part of a test's time is
        # cut at the cell limit by the relay, which then answers the test with an error.
        config.Execute.timeout = self.cell_timeout + (
            0 if role == "student" else 2 * INTERRUPT_GRACE
        )
        client = _execute_class()(config=config)
        from nbclient import NotebookClient

        NotebookClient.__init__(client, self.notebook, manager)
        client.reset_execution_trackers()
        return _Side(role, box, manager, client)

    def run(self) -> str:
        loop = asyncio.new_event_loop()
        timer = threading.Timer(self.executor.notebook_timeout, self._kill_all)
        timer.daemon = True
        started = time.monotonic()
        try:
            self.student, self.trusted = self._side("student"), self._side("trusted")
            timer.start()
            return loop.run_until_complete(self._run())
        except Exception as error:  # a kernel died, was killed, or never started
            log.debug("execution of %s stopped", self.label, exc_info=True)
            if time.monotonic() - started >= self.executor.notebook_timeout - 1:
                return f"ran past the notebook time limit of {self.executor.notebook_timeout} s"
            if type(error).__name__ == "CellTimeoutError":
                return f"a cell ran past its {self.cell_timeout} s limit and ignored the interrupt"
            if self.student_stopped:
                return self.student_stopped
            if isinstance(error, _TrustedFailure) or self.active is self.trusted:
                # Not the student's doing: the trusted kernel runs only the instructor's code.
                detail = str(error) or _stopped(self.trusted)
                return f"the grader's test kernel failed ({detail[:160]})"
            return _stopped(self.student) if self.student else type(error).__name__
        finally:
            timer.cancel()
            self._kill_all()
            for side in (self.student, self.trusted):
                if side is not None:
                    _release(loop, side.manager, side.client.kc)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            for side in (self.student, self.trusted):
                if side is not None:
                    MemoryCgroups.remove(side.box.cgroup)
            for folder in self.folders:
                shutil.rmtree(folder, ignore_errors=True)

    def _kill_all(self) -> None:
        for side in (self.student, self.trusted):
            if side is not None:
                _kill(side.manager)

    async def _start(self, side: _Side) -> None:
        began = time.monotonic()
        await side.client.async_start_new_kernel(cwd=str(side.box.workdir))
        await side.client.async_start_new_kernel_client()
        if side.role == "trusted":
            side.kc.allow_stdin = True  # the proxies' channel to the grader
        reply = await self._silent(side, _setup_code(), timeout=60)
        if reply.get("status") != "ok":
            raise _TrustedFailure(f"setting up the {side.role} kernel failed")
        if side.role == "trusted":
            self.second_kernel += time.monotonic() - began

    # -- the walk ------------------------------------------------------------------------
    async def _run(self) -> str:
        await asyncio.gather(self._start(self.student), self._start(self.trusted))
        relay = asyncio.ensure_future(self._relay())
        try:
            return await self._walk()
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay

    async def _walk(self) -> str:
        ran = 0  # how many of the instructor's ordinary cells the trusted kernel has run
        count = 0
        for index, cell in enumerate(self.notebook.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            count += 1
            if not is_test(cell):
                self.active = self.student
                await self.student.client.async_execute_cell(cell, index, execution_count=count)
                continue
            self.active = self.trusted
            began, calls_before = time.monotonic(), self.call_seconds
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            pending, ran = self.plan.before(grade_id, ran)
            for source in pending:
                self.deadline = time.monotonic() + self.cell_timeout
                await self._silent(self.trusted, source, timeout=self.cell_timeout * 2)
            if self.plan.answer_names:
                self.deadline = time.monotonic() + self.cell_timeout
                sync = f"__import__({bridge.MODULE!r}).sync({self.plan.answer_names!r})"
                reply = await self._silent(self.trusted, sync, timeout=self.cell_timeout * 2)
                if reply.get("status") != "ok":
                    log.debug("sync failed: %s", reply)
            self.deadline = time.monotonic() + self.cell_timeout
            await self.trusted.client.async_execute_cell(cell, index, execution_count=count)
            cell.metadata["autograder_completed"] = True
            # What the second kernel costs: its own work, not the student's part of it.
            spent = time.monotonic() - began - (self.call_seconds - calls_before)
            self.second_kernel += spent
        return self.student_stopped

    async def _silent(self, side: _Side, code: str, *, timeout: float) -> dict:
        """Run ``code`` in ``side``'s kernel without output or history; its reply content."""
        kc = side.kc
        msg_id = kc.execute(
            code,
            silent=True,
            store_history=False,
            allow_stdin=side.role == "trusted",
            stop_on_error=False,
        )
        # A kernel killed meanwhile (the notebook's deadline, a stop request) ends the
        # wait at once, not after ``timeout``.
        return await _reply(kc, msg_id, timeout, alive=side.manager)

    # -- the relay: proxy calls from the trusted kernel, run in the student kernel ---------
    async def _relay(self) -> None:
        kc = self.trusted.kc
        while True:
            msg = await kc.stdin_channel.get_msg()
            if msg["header"]["msg_type"] != "input_request":
                continue
            prompt = msg["content"].get("prompt", "")
            if not prompt.startswith(bridge.MARK):
                kc.input("")  # a test asking for input: there is nobody to answer
                continue
            began = time.monotonic()
            answer = await self._call_student(prompt[len(bridge.MARK) :])
            self.call_seconds += time.monotonic() - began
            kc.input(answer)

    async def _call_student(self, request: str) -> str:
        """Run one request in the student kernel; the JSON text the trusted side reads."""
        if self.student_stopped:
            return json.dumps({"bridge_error": "the submission's kernel has stopped"})
        self.calls += 1
        expression = f"__import__({bridge.MODULE!r}).serve({request!r})"
        kc = self.student.kc
        msg_id = kc.execute(
            "",
            silent=True,
            store_history=False,
            user_expressions={"reply": expression},
            allow_stdin=False,
            stop_on_error=False,
        )
        remaining = self.deadline - time.monotonic()
        try:
            reply = await _reply(kc, msg_id, max(remaining, 0.01), alive=self.student.manager)
        except TimeoutError:
            return await self._cut_off(msg_id)
        except _Dead:
            self.student_stopped = _stopped(self.student)
            return json.dumps({"bridge_error": "the submission's kernel stopped"})
        return _answer(reply)

    async def _cut_off(self, msg_id: str) -> str:
        """The student's function ran past the cell's limit: interrupt it (kill it if it
        will not stop) and tell the test."""
        timeout = {
            "error": {
                "type": "TimeoutError",
                "class": "TimeoutError",
                "message": f"took longer than {self.cell_timeout} s (cut off)",
            }
        }
        await self.student.manager.interrupt_kernel()
        try:
            await _reply(self.student.kc, msg_id, INTERRUPT_GRACE, alive=self.student.manager)
        except (TimeoutError, _Dead):
            _kill(self.student.manager)
            self.student_stopped = (
                f"a cell ran past its {self.cell_timeout} s limit and ignored the interrupt"
            )
        return json.dumps(timeout)


class _TrustedFailure(Exception):
    """The grader's own side failed (the trusted kernel, or the bridge's set-up)."""


class _Dead(Exception):
    """The kernel died while the grader waited for its reply."""


def _stopped(side: _Side) -> str:
    if MemoryCgroups.out_of_memory(side.box.cgroup):
        limit = side.box.limits.memory_bytes / 1024**3
        return f"the kernel ran out of memory (limit {limit:g} GiB) and was stopped"
    last = _last_line(side.box.rundir / "kernel.log")
    return f"the kernel stopped ({(last or 'it died')[:160]})"


async def _reply(kc, msg_id: str, timeout: float, alive=None) -> dict:
    """The content of the shell reply to ``msg_id``; :class:`TimeoutError` after
    ``timeout`` seconds, :class:`_Dead` if ``alive`` (a kernel manager) dies meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            msg = await kc.shell_channel.get_msg(timeout=min(remaining, 1.0))
        except Exception as error:  # queue.Empty: nothing yet
            if type(error).__name__ != "Empty":
                raise
            if alive is not None and not await alive.is_alive():
                raise _Dead from None
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]


def _answer(reply: dict) -> str:
    """The bridge's JSON answer from a student kernel's execute reply, or a bridge error."""
    if reply.get("status") != "ok":
        return json.dumps({"bridge_error": "the submission's kernel could not run the call"})
    expression = reply.get("user_expressions", {}).get("reply", {})
    text = (
        expression.get("data", {}).get("text/plain") if expression.get("status") == "ok" else None
    )
    if not isinstance(text, str):
        return json.dumps({"bridge_error": "the submission's kernel gave no answer"})
    if len(text) > MAX_REPLY_BYTES:
        return json.dumps(
            {"bridge_error": f"the answer is larger than {MAX_REPLY_BYTES // 1024**2} MB"}
        )
    return text


def mark_unfinished_tests(notebook: NotebookNode) -> None:
    """Give every test cell that did not finish an error: nbgrader gives full marks to
    an empty test cell, never right for one the kernel did not get to."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        completed = cell.metadata.pop("autograder_completed", False)
        if (
            is_test(cell)
            and not completed
            and not any(out.output_type == "error" for out in cell.outputs)
        ):
            cell.outputs.append(
                nbformat.v4.new_output(
                    "error",
                    ename="NotRun",
                    evalue="this test did not run (the kernel stopped first)",
                    traceback=["NotRun: this test did not run (the kernel stopped first)"],
                )
            )


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


def _release(loop, manager, client) -> None:
    """Stop the client's channels, close the manager's sockets and ZeroMQ context.

    nbclient leaves both open when it did not create the manager: a heartbeat thread and
    about 20 file descriptors per kernel, which a whole class runs out of.
    """
    try:
        if client is not None:
            client.stop_channels()
        loop.run_until_complete(manager.cleanup_resources())
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
            for channel in (client.iopub_channel, client.shell_channel, client.stdin_channel):
                channel.get_msg = _tolerant(channel.get_msg)
            return client

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

"""Run the ``autograder`` command line and kill it with SIGKILL at a chosen point.

    python -m tests.crashing STAGE N -- grade --workers 2 ...

kills the process with SIGKILL (what the OOM killer or ``kill -9`` does: no handler, no
clean-up) at the N-th event of STAGE, counted from 1:

``preparing``  a submission read and marked in progress, before its kernels start (the
               coordinator reads files there; the gradebook is written when recording);
``executing``  a silent request to a kernel (set-up, the trusted kernel's ordinary
               cells, the sync before a test), with both kernels of a notebook running;
``recording``  a gradebook write while a submission is recorded, as for ``preparing``;
``exporting``  a file of ``export`` put in place (``os.replace``): 1 kills it before
               either CSV file is replaced, 2 between the two;
``student:ID`` the start of a kernel for student ID (a submission that kills the grader).

Events of a submission that an earlier run died while grading are not counted: the
grader grades such a submission alone, and a second death would (rightly) give up on it.
Exits as the command does when the N-th event never comes. Every run prints how many
events of each stage it counted, as its last line on stderr (``crashing: {...}``), so
a test can draw its kill points from a run that was not killed (STAGE ``count``).
"""

from __future__ import annotations

import atexit
import collections
import functools
import json
import os
import signal
import sys
import threading

from autograder import cli, execute, record, recovery

_counts: collections.Counter = collections.Counter()
_kill_at: tuple[str, int] = ("", 0)
_lock = threading.Lock()
_stage = ""  # the stage the main thread is in: "preparing" or "recording"
_suspects: set[tuple[str, str]] = set()
_in_flight: set[tuple[str, str]] = set()


def _kill() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _event(stage: str) -> None:
    with _lock:
        if _suspects & _in_flight:
            return
        _counts[stage] += 1
        if (stage, _counts[stage]) == _kill_at:
            _kill()


def _within(cls, method: str, stage: str) -> None:
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        global _stage
        _stage = stage
        try:
            return original(*args, **kwargs)
        finally:
            _stage = ""

    setattr(cls, method, wrapped)


def _track_marks() -> None:
    deaths, begin, finish, release = (
        recovery.InProgress.deaths,
        recovery.InProgress.begin,
        recovery.InProgress.finish,
        recovery.InProgress.release,
    )

    def counted(self, student, assignment, digest):
        found = deaths(self, student, assignment, digest)
        if found:
            _suspects.add((student, assignment))
        return found

    def begun(self, student, assignment, digest):
        with _lock:
            _in_flight.add((student, assignment))
        begin(self, student, assignment, digest)
        _event("preparing")

    def ended(method):
        def end(self, student, assignment):
            method(self, student, assignment)
            with _lock:
                _in_flight.discard((student, assignment))

        return end

    recovery.InProgress.deaths = counted
    recovery.InProgress.begin = begun
    recovery.InProgress.finish = ended(finish)
    recovery.InProgress.release = ended(release)


def _gradebook_writes() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _within(record.Recorder, "__call__", "recording")
    _within(record.Recorder, "failed", "recording")

    @event.listens_for(Engine, "after_cursor_execute")
    def written(connection, cursor, statement, parameters, context, executemany):
        if (
            _stage
            and threading.current_thread() is threading.main_thread()
            and statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
            and cursor.rowcount > 0
        ):
            _event(_stage)


def _kernel_requests() -> None:
    silent = execute._NotebookRun._silent

    async def counted(self, side, code, *, timeout):
        _event("executing")
        return await silent(self, side, code, timeout=timeout)

    execute._NotebookRun._silent = counted


def _export_files() -> None:
    import autograder.course as course

    class Os:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def replace(source, target):
            _event("exporting")
            return os.replace(source, target)

    course.os = Os()


def _killing_student(student: str) -> None:
    start = execute._NotebookRun._start

    async def killing(self, side):
        if self.label.split("/")[0] == student:
            _kill()
        return await start(self, side)

    execute._NotebookRun._start = killing


def install(stage: str, n: int) -> None:
    global _kill_at
    if stage.startswith("student:"):
        _killing_student(stage.removeprefix("student:"))
    elif stage not in ("count", "preparing", "executing", "recording", "exporting"):
        raise SystemExit(f"unknown stage {stage}")
    _kill_at = (stage, n)
    _track_marks()
    _gradebook_writes()
    _kernel_requests()
    _export_files()
    atexit.register(lambda: print(f"crashing: {json.dumps(_counts)}", file=sys.stderr))


def counts(stderr: str) -> dict[str, int]:
    """The events a run counted, from its stderr."""
    last = [line for line in stderr.splitlines() if line.startswith("crashing: ")][-1]
    return json.loads(last.removeprefix("crashing: "))


def main(argv: list[str]) -> int:
    stage, n, separator, *arguments = argv
    assert separator == "--"
    install(stage, int(n))
    return cli.main(arguments)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

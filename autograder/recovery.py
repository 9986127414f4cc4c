"""How a grading run survives its own death, and how it stops when asked.

A run can die at any moment: ``kill -9``, the OOM killer, a laptop whose battery dies, a
lost SSH session. Nothing it had recorded is lost (each submission's ledger is written
last, and SQLite undoes a write left half-done), so the same command run again resumes.
Two things here make that hold for the run's own failures too:

* :class:`InProgress` marks each submission before its kernels start and unmarks it
  once it is recorded. A mark whose run is gone means that run died while grading it.
  The next run grades such a submission alone, after the rest of the class, so that a
  second death is its own; after two, it is recorded ``failed`` ("the grading process
  died twice while grading it") and the class goes on. ``--force`` tries it again.
* :class:`StopRequest` turns Ctrl+C (SIGINT) and SIGTERM into a request the run answers
  between two steps: no new notebook starts, the kernels running are killed, what they
  were grading is left for the next run (unmarked: stopping is no death), and what was
  graded is summed up. A second signal stops at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from pathlib import Path

from autograder.course import write_atomically

#: Where the marks live, under the course root (beside the rebuild files).
MARKS = Path(".autograder") / "in-progress"
#: Deaths after which a submission is recorded failed rather than graded again.
DEATHS = 2
DIED_TWICE = "the grading process died twice while grading it"


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot), where /proc says; it tells a
    process from a later one that reuses its id."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    return started is None or _start_time(pid) in (None, started)


class InProgress:
    """The marks of one run: ``<root>/.autograder/in-progress/<student>/<assignment>.json``.

    A mark holds the submission's digest, how many earlier runs died while grading it,
    and the process grading it now (``pid`` and its start time), None when nobody is.
    """

    def __init__(self, root: Path):
        self.folder = Path(root) / MARKS
        self.pid, self.started = os.getpid(), _start_time(os.getpid())
        self._deaths: dict[tuple[str, str], int] = {}
        self._mine: dict[tuple[str, str], str] = {}  # marked by this run, not yet recorded
        self._lock = threading.Lock()

    def path(self, student: str, assignment: str) -> Path:
        return self.folder / student / f"{assignment}.json"

    def deaths(self, student: str, assignment: str, digest: str) -> int:
        """How many runs died while grading this version of the submission."""
        try:
            mark = json.loads(self.path(student, assignment).read_text())
            if mark.get("digest") != digest:
                deaths = 0  # handed in again since: a new submission
            else:
                deaths = int(mark.get("deaths", 0))
                pid = mark.get("pid")
                if pid and not _alive(int(pid), mark.get("started")):
                    deaths += 1
        except (OSError, ValueError, TypeError, AttributeError):
            deaths = 0
        self._deaths[student, assignment] = deaths
        return deaths

    def begin(self, student: str, assignment: str, digest: str) -> None:
        """Mark the submission as being graded by this process (before its kernels start)."""
        key = (student, assignment)
        with self._lock:
            self._mine[key] = digest
        self._write(key, digest, self._deaths.get(key, 0), owned=True)

    def finish(self, student: str, assignment: str) -> None:
        """The submission is recorded (its ledger written): nothing is in progress."""
        with self._lock:
            self._mine.pop((student, assignment), None)
        with contextlib.suppress(OSError):
            self.path(student, assignment).unlink()
        for folder in (self.path(student, assignment).parent, self.folder):
            with contextlib.suppress(OSError):
                folder.rmdir()  # once empty

    def release(self, student: str, assignment: str) -> None:
        """This run stops grading the submission without dying (asked to stop, or its
        own exception): the next run grades it as if this one had not begun."""
        key = (student, assignment)
        with self._lock:
            digest = self._mine.pop(key, None)
        if digest is None:
            return
        if self._deaths.get(key, 0):
            self._write(key, digest, self._deaths[key], owned=False)
        else:
            self.finish(student, assignment)

    def release_all(self) -> None:
        with self._lock:
            keys = list(self._mine)
        for student, assignment in keys:
            self.release(student, assignment)

    def _write(self, key, digest: str, deaths: int, *, owned: bool) -> None:
        mark = {
            "digest": digest,
            "deaths": deaths,
            "pid": self.pid if owned else None,
            "started": self.started if owned else None,
        }
        write_atomically(self.path(*key), json.dumps(mark))


#: The exit status of a run stopped by a signal, as a shell reports it: 128 + its number.
SIGNAL_NAMES = {signal.SIGINT: "Ctrl+C (SIGINT)", signal.SIGTERM: "SIGTERM"}


class StopRequest:
    """Ctrl+C and SIGTERM, caught while a run lasts (``with StopRequest() as stop``).

    The first signal only sets :attr:`signum`; the run looks at it between two steps
    (never in the middle of a gradebook write) and winds down. A second signal is not
    caught: Ctrl+C raises :class:`KeyboardInterrupt`, SIGTERM ends the process. Outside
    the main thread (where Python delivers signals) nothing is caught.
    """

    def __init__(self):
        self.signum = 0
        self._previous: dict[int, object] = {}

    def __bool__(self) -> bool:
        return bool(self.signum)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNAL_NAMES:
                self._previous[signum] = signal.signal(signum, self._caught)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _caught(self, signum, frame) -> None:
        self.signum = self.signum or signum
        # The next one is not caught.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    @property
    def name(self) -> str:
        return SIGNAL_NAMES.get(self.signum, f"signal {self.signum}")

"""Grading, stage 5 of 5: summarize the run (discover → prepare → execute → record → summarize).

A progress bar while the class is graded, and the table printed at the end.
"""

from __future__ import annotations

import sys
import time

from autograder import sandbox as sandboxing
from autograder.record import Outcome


class Outcomes(list):
    """What :func:`grade` returns: one :class:`Outcome` per submission, ``kernels``, how
    this run started its kernels, ``notes`` for the instructor (for the summary),
    ``skipped``, the entries of the submissions folder that are not submissions,
    ``sandbox``, what the sandbox protected on this machine (the summary's first line),
    and ``interrupted``, the signal that stopped the run early (0 if none)."""

    def __init__(
        self,
        outcomes=(),
        kernels: str = "",
        notes: list[str] | None = None,
        skipped: list[str] | None = None,
        sandbox: str = "",
        interrupted: int = 0,
    ):
        super().__init__(outcomes)
        self.kernels = kernels
        self.notes = list(notes or [])
        self.skipped = list(skipped or [])
        self.sandbox = sandbox
        self.interrupted = interrupted

    @property
    def complete(self) -> bool:
        """Whether everything handed in was graded: no submission failed (now or when it
        was last graded), no entry of the submissions folder was left out, and the run
        was not stopped early."""
        return (
            not self.interrupted
            and not self.skipped
            and not any(
                o.status == "failed" or (o.status == "unchanged" and o.reason) for o in self
            )
        )


class Quiet:
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


def summary(outcomes: list[Outcome], *, isolate: bool = True) -> str:
    """The table printed at the end of a run.

    The score is what the tests awarded out of what they can award; the "by hand" column
    counts the answers waiting for a person in formgrader ("-" when none), since a total
    that includes the points of an ungraded answer would read as final.
    """
    lines = [getattr(outcomes, "sandbox", "") or sandboxing.describe(isolate)]
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
        if o.late:
            status += f"; {o.late}"
        automatic = o.max_score - o.manual_points
        auto_score = o.auto_score if o.auto_score is not None else min(o.score, automatic)
        waiting = str(o.awaiting) if o.awaiting else "-"
        lines.append(
            f"{o.student:<20} {o.assignment:<20} {auto_score:>6.1f}/{automatic:<6.1f}"
            f" {waiting:>8} {o.seconds:>6.1f}s  {status}"
        )
    counts = {s: sum(o.status == s for o in outcomes) for s in ("graded", "failed", "unchanged")}
    failed_before = sum(o.status == "unchanged" and bool(o.reason) for o in outcomes)
    lines.append("")
    late = [o for o in outcomes if o.late.startswith("late by")]
    if late:
        off = sum(o.late_penalty for o in late)
        lines.append(
            f"{len(late)} submission(s) late: {off:g} point(s) taken off by nbgrader's "
            "late-submission plugin (scores.csv, the feedback pages and export --lms show it)"
        )
    unreadable = sum(o.late.startswith("timestamp.txt") for o in outcomes)
    if unreadable:
        lines.append(
            f"{unreadable} timestamp.txt file(s) could not be read: those submissions are "
            "graded as on time (fix the file and grade again)"
        )
    lines += [
        f"{counts['graded']} graded, {counts['failed']} failed (recorded with score 0 "
        f"where they broke), {counts['unchanged']} unchanged"
        + (f" ({failed_before} of them failed when graded)" if failed_before else ""),
    ]
    waiting = sum(o.awaiting for o in outcomes)
    if waiting:
        students = sum(bool(o.awaiting) for o in outcomes)
        lines.append(
            f"{waiting} answer(s) of {students} submission(s) wait for a person: grade them "
            "in formgrader (the feedback pages say 'awaiting grading' until then)"
        )
    return "\n".join(lines)

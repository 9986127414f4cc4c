"""Copies of an SQLite gradebook, taken before a grading run changes it.

``autograder grade`` copies the gradebook with SQLite's online backup API (a consistent
copy, even of a gradebook that formgrader has open) into ``.autograder/backups/`` beside
it, named by the time it was taken (``gradebook-20250314-093015-123456.db``), and keeps
the newest :data:`KEEP`. A copy identical to the newest one is not kept twice, so a run
that changes nothing does not push an older copy out.

A gradebook on a database server (PostgreSQL, MySQL) is not copied: backing it up is
its database administrator's job, with the server's own tools.

This module uses the standard library only: :mod:`autograder.course` reads it to say
where the newest copy is whenever it refuses a damaged gradebook.
"""

from __future__ import annotations

import contextlib
import datetime
import filecmp
import os
import shutil
import sqlite3
from pathlib import Path

#: How many copies are kept.
KEEP = 3
#: Where the copies go, relative to the gradebook's folder.
FOLDER = Path(".autograder") / "backups"


def folder(gradebook: Path) -> Path:
    return Path(gradebook).parent / FOLDER


def backups(gradebook: Path) -> list[Path]:
    """The copies of ``gradebook``, oldest first."""
    gradebook = Path(gradebook)
    try:
        found = folder(gradebook).glob(f"{gradebook.stem}-*{gradebook.suffix}")
        return sorted(path for path in found if path.is_file())
    except OSError:
        return []


def newest(gradebook: Path) -> Path | None:
    """The newest copy of ``gradebook``, or None."""
    found = backups(gradebook)
    return found[-1] if found else None


def back_up(gradebook: Path, *, keep: int = KEEP) -> Path | None:
    """Copy ``gradebook`` into :func:`folder` and keep the newest ``keep`` copies.

    Returns the copy (the newest earlier one when nothing changed since it was taken),
    or None when there is no gradebook yet. A hot journal left by a killed run is rolled
    back first (SQLite does it when the gradebook is read), so the copy is consistent.
    Raises :class:`OSError` or :class:`sqlite3.Error` when the copy cannot be made; the
    caller refuses to change the gradebook then.
    """
    gradebook = Path(gradebook)
    if not gradebook.is_file():
        return None
    target_folder = folder(gradebook)
    target_folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S-%f")
    target = target_folder / f"{gradebook.stem}-{stamp}{gradebook.suffix}"
    partial = target.with_name(target.name + ".partial")
    try:
        source = sqlite3.connect(f"{gradebook.resolve().as_uri()}?mode=rw", uri=True)
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
        previous = newest(gradebook)
        if previous is not None and filecmp.cmp(previous, partial, shallow=False):
            return previous
        shutil.copymode(gradebook, partial)  # student data: as private as the gradebook
        os.replace(partial, target)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    for old in backups(gradebook)[:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()
    return target

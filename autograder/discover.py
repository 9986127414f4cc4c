"""Grading, stage 1 of 5: find the submissions (discover → prepare → execute → record → summarize).

A submission is a folder ``<submissions>/<student_id>/<assignment>/``. Anything else in
the submissions folder is named by :func:`unrecognized`, never skipped in silence. Each
submission's content digest decides whether a rerun must grade it again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

#: Each graded submission's record of how it was graded, beside its autograded notebooks.
LEDGER = ".autograder.json"


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


def read_ledger(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def linked(folder: Path) -> Path | None:
    """The student's or the assignment's folder, if either is a symbolic link.

    The grader runs as root: following a link would let a submission point at source/
    (the solutions) or at another student's work.
    """
    for path in (folder.parent, folder):
        if path.is_symlink():
            return path
    return None


def found_notebooks(folder: Path) -> str:
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

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

from autograder.course import did_you_mean

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
    """Every entry of the submissions folder that is not a ``<student_id>/<assignment>/``
    folder of this course, each with why: ``"bob/03_minus_sgn (no such assignment: did
    you mean 03_minus_sign?)"``, ``"class.zip (a file where a student folder belongs)"``.

    Hidden entries (``.DS_Store``, ``.ipynb_checkpoints``) are left out: they are made by
    tools, not handed in.
    """
    skipped = []
    for entry in _entries(submissions):
        if entry.is_symlink() or not entry.is_dir():
            if entry.is_dir():  # a linked student folder is graded (and refused) per folder
                continue
            skipped.append(f"{entry.name} (a file where a student folder belongs)")
            continue
        if entry.name in known:
            skipped.append(f"{entry.name} (an assignment name where a student id belongs)")
            continue
        inside = _entries(entry)
        if not inside:
            skipped.append(f"{entry.name} (an empty student folder)")
        for item in inside:
            where = f"{entry.name}/{item.name}"
            if item.name in known:
                if not item.is_dir():
                    skipped.append(f"{where} (a file, not an assignment folder)")
            elif item.is_dir():
                skipped.append(f"{where} (no such assignment{did_you_mean(item.name, known)})")
            elif item.suffix == ".ipynb" and item.stem in known:
                skipped.append(
                    f"{where} (a notebook outside its folder: it belongs in "
                    f"{entry.name}/{item.stem}/{item.name})"
                )
            else:
                skipped.append(f"{where} (a file beside the assignment folders)")
    return skipped


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError:
        return []


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

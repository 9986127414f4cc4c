"""The nbgrader course on disk: where it is, its configuration, its assignments."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_FILE = "nbgrader_config.py"
ASSIGNMENT_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+$")


class CourseError(Exception):
    """The instructor's own input is unusable. The message is one line, shown as is."""


def find_root(start: Path | str | None = None) -> Path:
    """Return the course root: the nearest folder at or above ``start`` with ``nbgrader_config.py``.

    ``start`` defaults to the working directory; when no such folder is found there,
    the folder this package was installed from is used (an editable install).
    """
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file() and (folder / "source").is_dir():
            return folder
    installed = Path(__file__).resolve().parent.parent
    if start is None and (installed / CONFIG_FILE).is_file():
        return installed
    raise CourseError(
        f"no nbgrader course (a folder with {CONFIG_FILE} and source/) at or above {here}"
    )


def _put_environment_on_path() -> None:
    # nbgrader runs the `alembic` command when it creates a gradebook, and Jupyter finds
    # kernels through PATH: both must come from this environment even when it is not
    # activated (`.venv/bin/autograder ...`).
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def load_config(root: Path) -> Config:
    """Load the course's ``nbgrader_config.py`` with the root pinned to ``root``."""
    _put_environment_on_path()
    root = Path(root).resolve()
    if not (root / CONFIG_FILE).is_file():
        raise CourseError(f"{root} has no {CONFIG_FILE}: is it the course root?")
    try:
        config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    except Exception as error:  # a syntax error in the instructor's config, for one
        raise CourseError(f"cannot read {root / CONFIG_FILE}: {error}") from None
    config.CourseDirectory.root = str(root)
    return config


def assignments(root: Path) -> list[str]:
    """The assignments of the course: folders ``source/NN_name`` holding a notebook, sorted."""
    source = Path(root) / "source"
    if not source.is_dir():
        raise CourseError(f"{source} does not exist: is {root} the course root?")
    return sorted(
        entry.name
        for entry in source.iterdir()
        if entry.is_dir() and ASSIGNMENT_PATTERN.match(entry.name) and any(entry.glob("*.ipynb"))
    )


def check_assignments(root: Path, requested: list[str] | None) -> list[str]:
    """Return ``requested`` (default: all), failing with one line on an unknown name."""
    known = assignments(root)
    if not requested:
        return known
    unknown = [name for name in requested if name not in known]
    if unknown:
        available = ", ".join(known) or "none"
        raise CourseError(f"no such assignment: {', '.join(unknown)} (the course has: {available})")
    return list(dict.fromkeys(requested))


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new, never half.

    Creates the parent folder if needed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)

"""Shared fixtures: the repository, notebooks, and throwaway copies of the course."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `tests.contract`, `tests.submissions` as modules

# Matplotlib's font list for this session alone (the kernels the tests start inherit it):
# the one in ~/.cache can name the fonts of an environment deleted since, and every
# figure would then warn on stderr ("findfont: Font family ... not found").
_MPLCONFIG = tempfile.mkdtemp(prefix="tests-matplotlib-")
os.environ["MPLCONFIGDIR"] = _MPLCONFIG
atexit.register(shutil.rmtree, _MPLCONFIG, ignore_errors=True)


def source_notebooks() -> list[Path]:
    return sorted((ROOT / "source").glob("[0-9][0-9]_*/*.ipynb"))


def release_notebooks() -> list[Path]:
    return sorted((ROOT / "release").glob("[0-9][0-9]_*/*.ipynb"))


def assignment_names() -> list[str]:
    return sorted(p.name for p in (ROOT / "source").glob("[0-9][0-9]_*") if p.is_dir())


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """A private copy of the course (source, release, config) to grade and release in."""
    root = tmp_path / "course"
    root.mkdir()
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    return root


# Real services (a PostgreSQL server, a Dask cluster), started once for the tests that ask.
from tests.services import dask_cluster, postgres  # noqa: E402, F401

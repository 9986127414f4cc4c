"""Is a gradebook the grader makes the one nbgrader makes?"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from autograder.gradebook import open_gradebook


def test_a_new_gradebook_carries_the_revision_nbgraders_alembic_gives(tmp_path, monkeypatch):
    """nbgrader stamps a new gradebook with ``alembic heads`` (a program it runs); the
    grader reads the same revision in-process. Is the stamp the one the program prints?"""
    path = tmp_path / "gradebook.db"
    with open_gradebook(f"sqlite:///{path}", "course"):
        pass
    with sqlite3.connect(path) as connection:
        (stamped,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    bin_folder = str(Path(sys.executable).parent)
    environment = {**os.environ, "PATH": bin_folder + os.pathsep + os.environ.get("PATH", "")}
    printed = subprocess.run(
        [sys.executable, "-c", "from nbgrader.api import get_alembic_version as v; print(v())"],
        env=environment, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert stamped == printed and len(stamped) == 12

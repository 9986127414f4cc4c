"""``autograder release``: regenerate ``release/`` (the student notebooks) from ``source/``.

The student versions are made by nbgrader's own ``generate_assignment`` pipeline (clear
solutions, clear hidden tests, clear outputs, lock cells, checksums). The pipeline runs
into a scratch folder with a throwaway gradebook, so releasing never touches the course's
``gradebook.db``, and the result is deterministic: the same source gives the same bytes,
which lets a test assert that the committed ``release/`` is exactly what this regenerates.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from autograder.course import CourseError, check_assignments, find_root, load_config


def generate_student_versions(root: Path, names: list[str], out: Path, *, db_url: str) -> None:
    """Run nbgrader's generate_assignment for ``names`` into ``out/<name>/``.

    ``db_url`` is the gradebook that receives the assignments' cell definitions (the
    grader uses the course gradebook; :func:`release` a throwaway one).
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = load_config(root)
    config.CourseDirectory.release_directory = str(out)
    config.CourseDirectory.db_url = db_url
    config.NbGraderAPI.log_level = logging.ERROR
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise CourseError(f"cannot generate {name}: {_reason(result)}")


def _reason(result: dict) -> str:
    """The line of nbgrader's log that names the problem: the innermost exception's
    message rather than nbgrader's closing "see the above traceback"."""
    lines = f"{result.get('log') or ''}\n{result.get('error') or ''}".strip().splitlines()
    errors = [
        line.strip()
        for line in lines
        if re.match(r"\s*[\w.]*(Error|Exception): ", line) and "NbGraderException" not in line
    ]
    return (errors or lines or ["unknown error"])[-1]


def _normalise(path: Path) -> None:
    """Rewrite a notebook in nbformat's canonical form, so equal content means equal bytes."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(notebook, path)


def release(
    assignments: list[str] | None = None, *, root: Path | None = None, out: Path | None = None
) -> list[Path]:
    """Regenerate the student version of ``assignments`` (default: all) into ``out``.

    Parameters
    ----------
    assignments : list of str, optional
        Assignment names under ``source/``; default every one.
    root : path, optional
        The course root (default: found from the working directory).
    out : path, optional
        Where the student tree goes (default ``<root>/release``). Each assignment's
        folder is replaced whole, so files deleted from ``source/`` disappear too.

    Returns
    -------
    list of pathlib.Path
        The notebooks written, sorted.
    """
    root = find_root(root) if root is None else Path(root).resolve()
    names = check_assignments(root, assignments)
    out = Path(out).resolve() if out is not None else root / "release"
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as scratch:
        scratch = Path(scratch)
        generate_student_versions(
            root, names, scratch / "release", db_url=f"sqlite:///{scratch / 'gradebook.db'}"
        )
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            generated = scratch / "release" / name
            for notebook in generated.rglob("*.ipynb"):
                _normalise(notebook)
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(generated, target)
    return sorted(path for name in names for path in (out / name).rglob("*.ipynb"))

"""``autograder release``: regenerate ``release/`` (the student notebooks) from ``source/``.

The student versions are made by nbgrader's own ``generate_assignment`` pipeline (clear
solutions, clear hidden tests, clear outputs, lock cells, checksums), then finished for
the learner by :data:`LEARNER_STEPS`. The pipeline runs into a scratch folder with a
throwaway gradebook, so releasing never touches the course's ``gradebook.db``, and the
result is deterministic: the same source gives the same bytes, which lets a test assert
that the committed ``release/`` is exactly what this regenerates.
"""

from __future__ import annotations

import ast
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


#: The tag JupyterLab and nbclient read as "this cell may fail": Run All goes on past it.
RAISES_EXCEPTION = "raises-exception"
#: What a hidden-test cell says in the student version, where its checks are cleared.
HIDDEN_NOTE = "# (hidden tests: they run only when your instructor grades the notebook)"


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _is_test(cell) -> bool:
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _is_answer(cell) -> bool:
    return cell.cell_type == "code" and bool(_nbgrader(cell).get("solution"))


def _docstring_only(source: str) -> str | None:
    """The text of a cell that is one docstring and nothing else, else None."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    if len(body) == 1 and isinstance(body[0], ast.Expr):
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return None


def _silence_hidden_tests(notebook) -> None:
    """A test cell left with only its docstring (its hidden checks cleared) would echo the
    docstring as ``Out[8]: '...'``, which looks like a result: make it a comment that says
    where the checks went. The checksum follows, so Validate does not call the cell changed."""
    from nbgrader.utils import compute_checksum

    for cell in filter(_is_test, notebook.cells):
        text = _docstring_only(cell.source)
        if text is not None:
            cell.source = "\n".join(
                [*(f"# {line}".rstrip() for line in text.strip().splitlines()), HIDDEN_NOTE]
            )
            cell.metadata.nbgrader["checksum"] = compute_checksum(cell)


def _keep_running_after_errors(notebook) -> None:
    """Tag every test cell and answer cell ``raises-exception``: JupyterLab's Run All and
    nbclient then run every cell of a notebook that is untouched or half done, showing
    each failing test and every figure, instead of stopping at the first failure. A
    failing test is still an error output, so Validate and grading count it as failed."""
    for cell in notebook.cells:
        if _is_test(cell) or _is_answer(cell):
            tags = list(cell.metadata.get("tags", []))
            if RAISES_EXCEPTION not in tags:
                cell.metadata["tags"] = [*tags, RAISES_EXCEPTION]


#: What ipykernel reports as ``language_info``, which JupyterLab writes into a notebook it
#: opens, less the Python version, which depends on the learner's environment (the course's
#: Jupyter server fills it in: ``course.lab.ContentsManager``). Without it JupyterLab shows
#: a release notebook as changed the moment it opens.
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


def _language_info(notebook) -> None:
    """The language_info JupyterLab would save, so an unchanged notebook opens unchanged."""
    notebook.metadata["language_info"] = dict(LANGUAGE_INFO)


def _clear_outputs(notebook) -> None:
    """No outputs or execution counts: nbformat's canonical form, so equal content means
    equal bytes."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


#: What release does to nbgrader's student version of each notebook, in order.
LEARNER_STEPS = [
    _silence_hidden_tests,
    _keep_running_after_errors,
    _language_info,
    _clear_outputs,
]


def _finish_for_learners(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for step in LEARNER_STEPS:
        step(notebook)
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
                _finish_for_learners(notebook)
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(generated, target)
    return sorted(path for name in names for path in (out / name).rglob("*.ipynb"))

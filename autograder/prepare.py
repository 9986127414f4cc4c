"""Grading, stage 2 of 5: prepare a submission (discover → prepare → execute → record → summarize).

The student and the submission are entered in the gradebook, and each notebook is read
and sanitized with nbgrader's own preprocessors, which put the instructor's test cells
back (deleted ones included) from the gradebook's records. A notebook that cannot be
read gets a one-line reason that says where it breaks; it is graded 0, never dropped.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.discover import found_notebooks, linked
from autograder.gradebook import open_gradebook, release_gradebooks

# nbgrader's autograde pipeline, split where execution happens (nbgrader's
# converters/autograde.py keeps it as sanitize_preprocessors + autograde_preprocessors;
# the second half is record.RECORD). Order matters: OverwriteCells must run before
# CheckCellMetadata.
SANITIZE = (
    "ClearOutput",
    "DeduplicateIds",
    "OverwriteKernelspec",
    "OverwriteCells",
    "CheckCellMetadata",
)


@dataclass
class Job:
    """One student's assignment on its way through the stages."""

    student: str
    assignment: str
    folder: Path
    digest: str
    notebooks: dict[str, NotebookNode] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # notebook -> one-line reason
    started: float = 0.0
    failure: str = ""  # the grader itself failed on this submission: why, in one line
    second_kernel: float = 0.0  # seconds the trusted kernel took: its start and its cells


class _CompiledSchemas:
    """``jsonschema`` for nbgrader's metadata checks, with each schema checked and
    compiled once: ``jsonschema.validate`` does both for every cell of every notebook
    (twice per notebook: CheckCellMetadata runs before and after execution)."""

    def __init__(self, jsonschema):
        self._jsonschema = jsonschema
        self._validators: dict[int, object] = {}
        self.ValidationError = jsonschema.ValidationError

    def validate(self, instance, schema):
        validator = self._validators.get(id(schema))
        if validator is None:
            cls = self._jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = self._validators[id(schema)] = (cls(schema), schema)
        error = self._jsonschema.exceptions.best_match(validator[0].iter_errors(instance))
        if error is not None:
            raise error

    def __getattr__(self, name):
        return getattr(self._jsonschema, name)


@contextlib.contextmanager
def compiled_metadata_schemas():
    """For the length of a grading run, nbgrader's metadata checks compile their schema once."""
    from nbgrader.nbgraderformat import common

    original = common.jsonschema
    common.jsonschema = _CompiledSchemas(original)
    try:
        yield
    finally:
        common.jsonschema = original


def nbgrader_steps(names, config) -> list:
    """nbgrader's preprocessors ``names``, configured for the course (with the grader's
    own version of a step where :data:`autograder.gradebook.OWN_STEPS` has one)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader import preprocessors

    from autograder.gradebook import OWN_STEPS

    def build(name):
        cls = OWN_STEPS.get(name) or (
            ClearMetadataPreprocessor
            if name == "ClearMetadataPreprocessor"
            else getattr(preprocessors, name)
        )
        return cls(config=config)

    return [build(name) for name in names]


def run_steps(steps, notebook: NotebookNode, resources: dict):
    for step in steps:
        notebook, resources = step(notebook, resources)
    return notebook, resources


def resources(job: Job, name: str, db_url: str) -> dict:
    """What nbgrader's preprocessors expect to be told about the notebook at hand."""
    return {
        "unique_key": name,
        "output_files_dir": f"{name}_files",
        "nbgrader": {
            "student": job.student,
            "assignment": job.assignment,
            "notebook": name,
            "db_url": db_url,
        },
    }


class Preparer:
    """Stage 2, run on the main thread (the only one that writes the gradebook)."""

    def __init__(self, config, *, db_url: str, course_id: str):
        self.db_url, self.course_id = db_url, course_id
        self.sanitize = nbgrader_steps(SANITIZE, config)

    def __call__(self, job: Job, notebook_names: list[str]) -> None:
        with open_gradebook(self.db_url, self.course_id) as gb:
            recorded = {
                name: {cell.name for cell in gb.find_notebook(name, job.assignment).source_cells}
                for name in notebook_names
            }
            gb.update_or_create_student(job.student)
            stamp = timestamp(job.folder)
            if stamp:
                try:
                    gb.update_or_create_submission(job.assignment, job.student, timestamp=stamp)
                except Exception:  # not a date nbgrader can parse: graded without one
                    gb.db.rollback()
                    gb.update_or_create_submission(job.assignment, job.student)
            else:
                gb.update_or_create_submission(job.assignment, job.student)
        link = linked(job.folder)
        for name in notebook_names:
            path = job.folder / f"{name}.ipynb"
            if link is not None or path.is_symlink():
                what = f"{name}.ipynb" if link is None else f"the folder {link.name}/"
                job.problems[name] = f"{what} is a symbolic link, not submitted work (not followed)"
                continue
            if not path.is_file():
                job.problems[name] = f"{name}.ipynb is missing from the submission" + (
                    found_notebooks(job.folder)
                )
                continue
            try:
                notebook = nbformat.reads(notebook_text(path), as_version=4)
                notebook = demote_duplicates(notebook, recorded[name])
                try:
                    notebook, _ = run_steps(
                        self.sanitize, notebook, resources(job, name, self.db_url)
                    )
                except Exception:
                    release_gradebooks(self.sanitize)
                    raise
            except Unreadable as error:
                job.problems[name] = f"{name}.ipynb is not a readable notebook ({error})"
                continue
            except KeyError as error:  # nbgrader cannot place a missing test cell
                job.problems[name] = (
                    f"{name}.ipynb has lost the nbgrader cells around {error.args[0]!r} "
                    "(deleted, or pasted into a new notebook): copy the answers into a fresh "
                    "copy of the released notebook"
                )
                continue
            except Exception as error:
                detail = str(error).strip().splitlines()
                job.problems[name] = (
                    f"{name}.ipynb is not a readable notebook "
                    f"({type(error).__name__}: {detail[0][:120] if detail else ''})"
                )
                continue
            job.notebooks[name] = notebook


def timestamp(folder: Path) -> str:
    """The submission's ``timestamp.txt``, or "" when absent, unreadable or a link."""
    path = folder / "timestamp.txt"
    if path.is_symlink() or not path.is_file():
        return ""
    try:
        data = path.read_bytes()[:200]
    except OSError:
        return ""
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"  # Notepad
    try:
        return data.decode(encoding).strip()
    except UnicodeDecodeError:
        return ""


def demote_duplicates(notebook: NotebookNode, recorded: set[str] | None = None) -> NotebookNode:
    """Make every repeat of a graded cell, and every cell the gradebook does not know, a
    plain cell.

    Copying a cell in JupyterLab copies its nbgrader metadata, and nbgrader refuses a
    notebook in which two cells share a grade_id. The first cell keeps the id; later
    copies still run, in order, but are not graded (test cells are put back from the
    gradebook anyway, so a copied test cannot change a score). A cell whose grade_id is
    not among ``recorded`` (one the instructor removed from ``source/`` after the
    notebook was released) runs as a plain cell too: nbgrader would stop on it.
    """
    seen = set()
    for cell in notebook.cells:
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if (
            grade_id is None  # metadata mangled by hand
            or grade_id in seen  # a copy
            or (recorded is not None and grade_id not in recorded)
        ):
            del cell.metadata["nbgrader"]
        seen.add(grade_id)
    return notebook


class Unreadable(ValueError):
    """A submitted file that is not text or not JSON; the message says where it breaks."""


def notebook_text(path: Path) -> str:
    """The notebook's text, checked to be UTF-8 JSON, so that a truncated or mangled file
    is reported by where it breaks rather than by its first characters."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Unreadable(f"not UTF-8 text: byte {error.start} of {len(data)}") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        at = f"line {error.lineno}, column {error.colno}"
        if not text.strip():
            problem = "the file is empty"
        elif error.msg.startswith("Unterminated string"):  # only the end of the file does that
            problem = f"the file ends inside a string that starts at {at}; it looks cut off"
        elif error.pos >= len(text.rstrip()) or _cut_word(text[error.pos :]):
            problem = f"the file ends early, at {at}; it looks cut off"
        else:
            problem = f"{error.msg[0].lower()}{error.msg[1:]} at {at}"
        raise Unreadable(f"not valid JSON: {problem}") from None
    return text


def _cut_word(rest: str) -> bool:
    """Whether ``rest``, the text from a JSON error to the end, is the start of a JSON
    word cut off by the end of the file (``nu`` of ``null``)."""
    rest = rest.rstrip()
    return bool(rest) and any(word.startswith(rest) for word in ("null", "true", "false"))

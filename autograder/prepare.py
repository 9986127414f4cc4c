"""Grading, stage 2 of 5: prepare a submission (discover → prepare → execute → record → summarize).

The coordinator reads each notebook of the submission as bytes (:class:`Preparer`);
where the notebook is graded (a grader thread, a cluster's worker) it is parsed and
sanitized with nbgrader's own preprocessors (:func:`sanitize`), which put the
instructor's test cells back (deleted ones included) from the gradebook's records, given
to them as data. A notebook that cannot be read gets a one-line reason that says where
it breaks; it is graded 0, never dropped.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader.preprocessors import OverwriteCells, OverwriteKernelspec

from autograder.discover import found_notebooks, linked
from autograder.late import read_timestamp

# nbgrader's autograde pipeline, split where execution happens (nbgrader's
# converters/autograde.py keeps it as sanitize_preprocessors + autograde_preprocessors;
# the second half is record.POSTPROCESS). Order matters: OverwriteCells must run before
# CheckCellMetadata.
# OverwriteKernelspec and OverwriteCells read the gradebook's records as data
# (:class:`~autograder.snapshot.RecordsGradebook`), so that sanitizing runs wherever the
# notebook is graded.
SANITIZE = (
    "ClearOutput",
    "DeduplicateIds",
    "OverwriteKernelspecFromRecords",
    "OverwriteCellsFromRecords",
    "CheckCellMetadata",
)


@dataclass
class Job:
    """One student's assignment on its way through the stages."""

    student: str
    assignment: str
    folder: Path
    digest: str
    problems: dict[str, str] = field(default_factory=dict)  # notebook -> one-line reason
    started: float = 0.0
    timestamp: object = None  # the time in its timestamp.txt (a datetime), if any
    timestamp_problem: str = ""  # why timestamp.txt could not be used, if it could not
    failure: str = ""  # the grader itself failed on this submission: why, in one line
    second_kernel: float = 0.0  # seconds the trusted kernel took: its start and its cells
    graded: dict = field(default_factory=dict)  # notebook -> worker.Graded, as they come
    pending: int = 0  # notebooks still being graded


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
    """nbgrader's preprocessors ``names``, configured for the course (or the grader's own
    version of one, named ``...FromRecords``)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader import preprocessors

    own = {
        "OverwriteCellsFromRecords": OverwriteCellsFromRecords,
        "OverwriteKernelspecFromRecords": OverwriteKernelspecFromRecords,
        "ClearMetadataPreprocessor": ClearMetadataPreprocessor,
    }

    def build(name):
        cls = own.get(name) or getattr(preprocessors, name)
        return cls(config=config)

    return [build(name) for name in names]


def run_steps(steps, notebook: NotebookNode, resources: dict):
    for step in steps:
        notebook, resources = step(notebook, resources)
    return notebook, resources


def resources(student: str, assignment: str, name: str, records=None) -> dict:
    """What nbgrader's preprocessors expect to be told about the notebook at hand
    (``records``: the gradebook's records as data, a
    :class:`~autograder.snapshot.RecordsGradebook`)."""
    return {
        "unique_key": name,
        "output_files_dir": f"{name}_files",
        "nbgrader": {
            "student": student,
            "assignment": assignment,
            "notebook": name,
            "db_url": None,  # nothing here opens the gradebook
            "records": records,
        },
    }


class Preparer:
    """Stage 2, the coordinator's part (main thread): which notebooks a submission holds,
    read as bytes. A notebook that is a link or missing gets its one-line reason here;
    everything else is decided where the notebook is graded (:func:`sanitize`)."""

    def __call__(self, job: Job, notebook_names: list[str]) -> dict[str, bytes]:
        # nbgrader's model of late work: the time in timestamp.txt, none if absent (a time
        # recorded earlier is kept, as nbgrader does); one that cannot be read is
        # reported and the submission graded as on time.
        job.timestamp, job.timestamp_problem = read_timestamp(job.folder)
        link = linked(job.folder)
        found = {}
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
            found[name] = path.read_bytes()
        return found


class OverwriteCellsFromRecords(OverwriteCells):
    """nbgrader's OverwriteCells, reading the gradebook's records as data."""

    def preprocess(self, nb, resources):
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.gradebook = resources["nbgrader"]["records"]
        nb, resources = super(OverwriteCells, self).preprocess(nb, resources)
        if self.add_missing_cells:
            nb, resources = self.add_missing_grade_cells(nb, resources)
            nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources


class OverwriteKernelspecFromRecords(OverwriteKernelspec):
    """nbgrader's OverwriteKernelspec, reading the gradebook's records as data."""

    def preprocess(self, nb, resources):
        records = resources["nbgrader"]["records"]
        kernelspec = records.find_notebook(
            resources["nbgrader"]["notebook"], resources["nbgrader"]["assignment"]
        ).kernelspec
        if kernelspec is not None:
            kernelspec = json.loads(kernelspec)
        if kernelspec:
            nb.metadata["kernelspec"] = kernelspec
        return nb, resources


def sanitize(
    data: bytes, name: str, steps, resources: dict, recorded: set[str]
) -> tuple[NotebookNode | None, str]:
    """The submitted notebook ``name`` read from ``data`` and sanitized by nbgrader's
    preprocessors ``steps`` (from :func:`nbgrader_steps`, with the records in
    ``resources``); or None and the one-line reason it cannot be graded."""
    try:
        notebook = nbformat.reads(decode_notebook(data), as_version=4)
        notebook = demote_duplicates(notebook, recorded)
        notebook, _ = run_steps(steps, notebook, resources)
    except Unreadable as error:
        return None, f"{name}.ipynb is not a readable notebook ({error})"
    except KeyError as error:  # nbgrader cannot place a missing test cell
        return None, (
            f"{name}.ipynb has lost the nbgrader cells around {error.args[0]!r} "
            "(deleted, or pasted into a new notebook): copy the answers into a fresh "
            "copy of the released notebook"
        )
    except Exception as error:
        detail = str(error).strip().splitlines()
        return None, (
            f"{name}.ipynb is not a readable notebook "
            f"({type(error).__name__}: {detail[0][:120] if detail else ''})"
        )
    return notebook, ""


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
    """The notebook's text, checked to be UTF-8 JSON (see :func:`decode_notebook`)."""
    return decode_notebook(path.read_bytes())


def decode_notebook(data: bytes) -> str:
    """A notebook file's text, checked to be UTF-8 JSON, so that a truncated or mangled
    file is reported by where it breaks rather than by its first characters."""
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

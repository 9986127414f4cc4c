"""What nbgrader's **Validate** button shows: a summary of the notebook first, then one short
entry per failing cell.

Validate runs the notebook in a fresh kernel and lists every graded cell that failed, each
with its whole source and its error. That is a long read for an untouched notebook, and it
never says how far along the notebook is. nbgrader's ``Validator`` runs the notebook with
its ``Execute`` preprocessor, an nbclient ``NotebookClient`` whose hooks a configuration
can set; :func:`configure` sets two of them, for Validate only (``c.Validator.Execute``;
grading runs nothing of this):

* ``on_notebook_start`` appends an empty graded cell, tagged ``skip-execution`` so the
  kernel never runs it;
* ``on_cell_start`` reaches that cell after every other cell has run. It fills it with a
  summary ("2 exercises not started, 1 test failing: test_nll_bernoulli_sign, 1 written
  answer missing") and an error, so Validate counts it as failed, and moves it to the
  top, where Validate lists it first. Each failing test cell, if the learner has not
  changed it, is shown by its name and docstring instead of its whole source (its
  checksum follows, so Validate does not call it changed; an edited test cell is left as
  it is, and Validate still reports the edit). A notebook with nothing left to do gets no
  summary, and Validate says *Success!* as before.

Why Validate and not a last "check my notebook" cell: Validate already runs every cell in
a fresh kernel, so its summary cannot be stale, and it is the button the notebooks tell
learners to press; a cell would only know the cells run since the kernel started.

The learner's Jupyter loads this from an ``nbgrader_config.py`` that postBuild writes
(Binder, ``make lab`` in the student course); the course root's own
``nbgrader_config.py`` does the same for instructors.
"""

from __future__ import annotations

import ast

__all__ = ["SUMMARY_ID", "configure", "summarize"]

#: The grade_id of the summary cell Validate lists first.
SUMMARY_ID = "notebook_summary"
_SKIP = "skip-execution"  # nbclient's default skip_cells_with_tag

# The notebook being validated: the hooks are called with one cell at a time.
_running: dict = {}


def configure(c) -> None:
    """Make nbgrader's Validate print a summary first (``c`` is the nbgrader config)."""
    c.Validator.Execute.on_notebook_start = _on_notebook_start
    c.Validator.Execute.on_cell_start = _on_cell_start


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _on_notebook_start(notebook, **_) -> None:
    import nbformat

    if any(_meta(cell).get("grade_id") == SUMMARY_ID for cell in notebook.cells):
        return  # nbgrader retries a failed run with the same notebook
    summary = nbformat.v4.new_code_cell("")
    summary.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": SUMMARY_ID,
        "locked": True,
        "points": 0,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    summary.metadata["tags"] = [_SKIP]
    notebook.cells.append(summary)
    _running["notebook"] = notebook


def _on_cell_start(cell, **_) -> None:
    notebook = _running.get("notebook")
    if notebook is None or _meta(cell).get("grade_id") != SUMMARY_ID:
        return
    del _running["notebook"]
    notebook.cells.remove(cell)
    try:
        heading, details = summarize(notebook)
    except Exception:  # a notebook shaped unlike the course's: Validate as nbgrader does
        return
    if not heading:
        return  # nothing left to do: no summary, and Validate says Success
    import nbformat
    from nbgrader.utils import compute_checksum

    cell.source = heading
    cell.outputs = [
        nbformat.v4.new_output("error", ename="Summary", evalue=heading, traceback=details)
    ]
    cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    # Removed above and put back first: this is the last cell the run visits, so the
    # run is not disturbed, and Validate lists failed cells in notebook order.
    notebook.cells.insert(0, cell)


def _docstring(source: str) -> str:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return ""
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        value = body[0].value.value
        return value.strip().splitlines()[0] if isinstance(value, str) and value.strip() else ""
    return ""


def _errors(cell) -> list:
    return [
        output
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
        or (output.get("output_type") == "stream" and output.get("name") == "stderr")
    ]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summarize(notebook) -> tuple[str, list[str]]:
    """The summary of an executed notebook: a one-line heading (empty when nothing is left
    to do) and the lines that detail it. Failing test cells the learner has not edited are
    shortened to their name and docstring along the way."""
    from nbgrader.utils import compute_checksum

    not_started, failing, written = [], [], []
    for cell in notebook.cells:
        meta = _meta(cell)
        name = meta.get("grade_id", "")
        if not name:
            continue
        unchanged = meta.get("checksum") == compute_checksum(cell)
        if meta.get("solution") and cell.cell_type == "code" and unchanged:
            not_started.append(name)
        elif meta.get("solution") and meta.get("grade") and unchanged:
            written.append(name)
        elif meta.get("grade") and cell.cell_type == "code" and _errors(cell):
            # A test of an exercise not started fails with NotImplementedError: that
            # exercise is counted once, as not started, rather than once per test.
            unanswered = all(o.get("ename") == "NotImplementedError" for o in _errors(cell))
            if not (unanswered and any(name.startswith(f"test_{f}") for f in not_started)):
                failing.append(name)
            if unchanged:
                label = _docstring(cell.source)
                cell.source = f"{name}: {label}" if label else name
                cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    # (names, in the heading, its label in the details) for each kind of problem
    kinds = [
        (not_started, f"{_plural(len(not_started), 'exercise')} not started", "not started:    "),
        (
            failing,
            f"{_plural(len(failing), 'test')} failing: {', '.join(failing)}",
            "failing tests:  ",
        ),
        (written, f"{_plural(len(written), 'written answer')} missing", "written answers:"),
    ]
    found = [(names, said, label) for names, said, label in kinds if names]
    if not found:
        return "", []
    heading = "This notebook: " + ", ".join(said for _, said, _ in found) + "."
    details = [f"{label} {', '.join(names)}" for names, _, label in found]
    details.append("Each cell that failed follows, with what its test said.")
    return heading, details

"""Is release/ exactly the student version of source/, with nothing a student must not see?"""

from __future__ import annotations

import filecmp

import pytest

from autograder.release import release
from tests.conftest import ROOT, assignment_names, read, release_notebooks, source_notebooks
from tests.submissions import solutions

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def _split_lines(assignment: str) -> tuple[set[str], list[str]]:
    """An assignment's source lines: those a student may see, and the secret ones
    (inside solution or hidden-test markers) that appear nowhere public."""
    notebook = read(ROOT / "source" / assignment / f"{assignment}.ipynb")
    public, secret, inside = set(), [], False
    for cell in notebook.cells:
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                inside = False
            elif inside:
                secret.append(line.strip())
            else:
                public.add(line.strip())
    return public, [line for line in secret if len(line) > 12 and line not in public]


def test_every_assignment_is_released():
    """Does every assignment in source/ have its student version in release/, and nothing more?"""
    released = sorted(p.name for p in (ROOT / "release").iterdir() if p.is_dir())
    assert released == assignment_names()


def test_release_is_what_the_release_command_generates(tmp_path):
    """Is the committed release/ byte for byte what `autograder release` regenerates?"""
    release(root=ROOT, out=tmp_path)
    comparison = filecmp.dircmp(ROOT / "release", tmp_path)
    differences = []

    def walk(node, prefix=""):
        differences.extend(prefix + n for n in node.left_only + node.right_only)
        _, mismatch, errors = filecmp.cmpfiles(
            node.left, node.right, node.common_files, shallow=False
        )
        differences.extend(prefix + n for n in mismatch + errors)
        for name, child in node.subdirs.items():
            walk(child, prefix + name + "/")

    walk(comparison)
    assert differences == [], "release/ is stale: run `make release` and commit the result"


@pytest.mark.parametrize("assignment", assignment_names())
def test_release_holds_no_solution_and_no_hidden_test(assignment):
    """Does the student version hide every solution line and every hidden test line?"""
    files = [p for p in (ROOT / "release" / assignment).rglob("*") if p.is_file()]
    text = "\n".join(p.read_text() for p in files)
    assert not [m for m in MARKERS if m in text]
    released_lines = {
        line.strip()
        for path in files
        if path.suffix == ".ipynb"
        for cell in read(path).cells
        for line in cell.source.splitlines()
    }
    _, secret = _split_lines(assignment)
    assert [line for line in secret if line in released_lines] == []


@pytest.mark.parametrize("assignment", assignment_names())
def test_answer_cells_are_stubs_in_the_release(assignment):
    """Does every code answer cell of the student version raise NotImplementedError?"""
    notebook = read(ROOT / "release" / assignment / f"{assignment}.ipynb")
    answers = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]
    assert answers, "no answer cells"
    assert all("raise NotImplementedError()" in c.source for c in answers)
    assert set(solutions(assignment)) >= {c.metadata["nbgrader"]["grade_id"] for c in answers}


@pytest.mark.parametrize(
    "path",
    source_notebooks() + release_notebooks(),
    ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}",
)
def test_notebook_carries_no_outputs_or_personal_metadata(path):
    """Is the notebook committed clean: no outputs, no execution counts, no personal metadata?"""
    notebook = read(path)
    assert set(notebook.metadata) <= {"kernelspec", "language_info"}
    dirty = [
        i
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
    ]
    assert dirty == []
    cell_metadata = {key for c in notebook.cells for key in c.metadata}
    assert cell_metadata <= {"nbgrader", "tags", "editable", "deletable"}


@pytest.mark.parametrize("assignment", assignment_names())
def test_run_all_goes_on_past_failing_tests_and_answers(assignment):
    """Is every test cell and answer cell of the student version tagged raises-exception, so
    Run All shows every failing test and every figure instead of stopping at the first?"""
    notebook = read(ROOT / "release" / assignment / f"{assignment}.ipynb")
    untagged = [
        c.metadata["nbgrader"]["grade_id"]
        for c in notebook.cells
        if c.cell_type == "code"
        and "nbgrader" in c.metadata
        and (c.metadata["nbgrader"].get("grade") or c.metadata["nbgrader"].get("solution"))
        and "raises-exception" not in c.metadata.get("tags", [])
    ]
    assert untagged == []


@pytest.mark.parametrize("assignment", assignment_names())
def test_hidden_test_cells_keep_a_valid_checksum(assignment):
    """Does each hidden-test cell, rewritten to print nothing, keep a checksum that matches,
    so Validate does not report it as changed?"""
    from nbgrader.utils import compute_checksum

    notebook = read(ROOT / "release" / assignment / f"{assignment}.ipynb")
    stale = [
        c.metadata["nbgrader"]["grade_id"]
        for c in notebook.cells
        if "checksum" in c.metadata.get("nbgrader", {})
        and c.metadata["nbgrader"]["checksum"] != compute_checksum(c)
    ]
    assert stale == []


@pytest.mark.parametrize("assignment", assignment_names())
def test_release_carries_the_language_info_jupyterlab_writes(assignment):
    """Does the student version carry the language_info ipykernel reports (all but the Python
    version, which the course's server fills in), so JupyterLab has nothing to change when it
    opens it and shows no unsaved-changes dot?"""
    from ipykernel.ipkernel import IPythonKernel

    notebook = read(ROOT / "release" / assignment / f"{assignment}.ipynb")
    reported = {k: v for k, v in IPythonKernel.language_info.items() if k != "version"}
    assert notebook.metadata["language_info"] == reported

"""Does Validate, configured by course.validate, list a summary of the notebook first and each
failing test in a few lines, and still catch every failure and every edited test?"""

from __future__ import annotations

import re

import nbformat
import pytest
from nbgrader.validator import Validator
from traitlets.config import Config

from course import validate
from course.checks import MAX_LINES
from tests.conftest import ROOT
from tests.submissions import fixture_answers, set_answer, solved

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _validate(notebook, folder) -> dict:
    """What the Validate button gets back for ``notebook`` (nbgrader's Validator, as its
    server extension runs it, with the course's configuration)."""
    config = Config()
    validate.configure(config)
    path = folder / "notebook.ipynb"
    nbformat.write(notebook, path)
    return Validator(config=config).validate(str(path))


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _release(assignment: str):
    return nbformat.read(ROOT / "release" / assignment / f"{assignment}.ipynb", as_version=4)


def test_an_untouched_notebook_gets_a_summary_first_and_short_entries(tmp_path):
    """Does an untouched notebook get "2 exercises not started, 1 written answer missing" first,
    then each failing test by its name and docstring, with a one-line error?"""
    results = _validate(_release("01_likelihood"), tmp_path)
    summary, *cells = results["failed"]
    assert summary["source"] == (
        "This notebook: 2 exercises not started, 1 written answer missing."
    )
    assert "likelihood_bernoulli, likelihood_gaussian" in summary["raw_error"]
    tests = [c for c in cells if c["source"].startswith("test_")]
    assert [c["source"].split(":")[0] for c in tests] == [
        "test_likelihood_bernoulli_values",
        "test_likelihood_bernoulli_independence",
        "test_likelihood_gaussian_standard",
        "test_likelihood_gaussian_sigma",
    ]
    assert all("\n" not in c["source"] for c in tests)
    assert all(len(c["raw_error"].splitlines()) <= MAX_LINES for c in cells)
    assert all("NotImplementedError: likelihood_" in _plain(c["raw_error"]) for c in tests)
    assert [c["raw_error"] for c in cells if not c["source"].startswith("test_")] == [
        "You did not provide a response."
    ]


def test_a_mistake_is_named_in_the_summary_and_its_message_is_listed(tmp_path):
    """Does a notebook with one wrong answer get "1 test failing: <its test>" first, and the
    test's learner message (expected, got, hint) as the entry's error?"""
    mistake = fixture_answers("01_likelihood")["likelihood_bernoulli"]["mistake_swapped_theta"]
    notebook = solved("01_likelihood", {"likelihood_bernoulli": mistake})
    set_answer(notebook, "written_likelihood_not_a_distribution", "It is a function of theta.")
    summary, failure = _validate(notebook, tmp_path)["failed"]
    assert summary["source"] == ("This notebook: 1 test failing: test_likelihood_bernoulli_values.")
    assert failure["source"].startswith("test_likelihood_bernoulli_values: likelihood_bernoulli")
    assert "Did you swap theta and 1 - theta?" in failure["raw_error"]
    assert len(failure["raw_error"].splitlines()) <= MAX_LINES


def test_a_finished_notebook_still_passes(tmp_path):
    """Does a notebook with every answer right and given get Validate's plain success?"""
    notebook = solved("01_likelihood")
    set_answer(notebook, "written_likelihood_not_a_distribution", "It is a function of theta.")
    assert _validate(notebook, tmp_path) == {}


def test_an_edited_test_cell_is_still_reported(tmp_path):
    """Does shortening the failing tests leave Validate's guard alone: an edited test cell is
    still reported as changed?"""
    notebook = _release("01_likelihood")
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_likelihood_bernoulli_values":
            cell.source += "\npass"
    results = _validate(notebook, tmp_path)
    assert [c["source"].splitlines()[-1] for c in results["changed"]] == ["pass"]


def test_the_untouched_05_fits_on_a_few_screens(tmp_path):
    """Does Validate on the untouched 05 (13 visible tests) come back short, not 30,000
    characters?"""
    results = _validate(_release("05_kl_divergence"), tmp_path)
    text = "".join(c["source"] + c["raw_error"] for c in results["failed"])
    assert results["failed"][0]["source"].startswith("This notebook: 5 exercises not started")
    assert len(text) < 6_000

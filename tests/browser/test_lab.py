"""Does the course work in JupyterLab as a learner meets it: Run All runs every notebook with
its figures drawn and each failure in a few lines, a release notebook opens with nothing to
save, the slider redraws, and Validate gives a truthful verdict, its summary first?"""

from __future__ import annotations

import re

import nbformat
import pytest

from course.checks import MAX_LINES
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import assignment_names
from tests.submissions import fixture_answers, solved

pytestmark = pytest.mark.slow

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CELLS = f"{PANEL} .jp-Notebook .jp-Cell"
KERNEL_IDLE = re.compile(r"\(ipykernel\) \| Idle")

# Per cell: its kind, execution prompt, error and stderr texts, figures (and how many the
# browser could decode), matplotlib's text stand-in for a figure, sliders.
_CELL_REPORT = """
cells => cells.map(cell => ({
  code: cell.classList.contains('jp-CodeCell'),
  prompt: (cell.querySelector('.jp-InputPrompt') || {innerText: ''}).innerText.trim(),
  errors: [...cell.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(output => output.innerText),
  figures: cell.querySelectorAll('.jp-OutputArea-output[data-mime-type^="image/"] img').length,
  drawn: [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type^="image/"] img')]
    .filter(img => img.complete && img.naturalWidth > 0).length,
  placeholders: [...cell.querySelectorAll('.jp-OutputArea-output')]
    .filter(output => /^<Figure size \\d/.test(output.innerText.trim())).length,
  sliders: cell.querySelectorAll('.widget-slider').length,
}))
"""


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def _scratch_copy(lab, notebook: nbformat.NotebookNode, assignment: str, label: str) -> str:
    """Write ``notebook`` beside the assignment's own; return its path in the tree."""
    path = f"release/{assignment}/{assignment}-{label}.ipynb"
    nbformat.write(notebook, lab.tree / path)
    return path


def _open(page, lab, path: str) -> None:
    """Open a notebook and wait until its kernel has started and is idle."""
    page.goto(lab.address(path))
    page.locator(CELLS).first.wait_for()
    page.locator(".jp-StatusBar-Widget", has_text=KERNEL_IDLE).wait_for(timeout=120_000)


def _run_all(page) -> list[dict]:
    """Press Run > Run All Cells and wait until every code cell has run and its figures drawn.

    The release tags its test and answer cells ``raises-exception``, so Run All goes on past
    a failing test; were it to stop, the cells after it would never get a number and this
    would time out.
    """
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    page.wait_for_function(
        """selector => [...document.querySelectorAll(selector)]
          .filter(cell => cell.classList.contains('jp-CodeCell'))
          .every(cell => /^\\[\\d+\\]:$/.test(
            (cell.querySelector('.jp-InputPrompt') || {innerText: ''}).innerText.trim()))""",
        arg=CELLS,
        timeout=300_000,
    )
    page.locator(".jp-StatusBar-Widget", has_text=KERNEL_IDLE).wait_for(timeout=120_000)
    page.wait_for_function(
        """selector => [...document.querySelectorAll(selector + ' .jp-OutputArea-output img')]
          .every(img => img.complete)""",
        arg=CELLS,
        timeout=60_000,
    )
    return page.locator(CELLS).evaluate_all(_CELL_REPORT)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _validate(page) -> tuple[list[str], list[tuple[str, str]], str]:
    """Press Validate; return the verdict's classes, its (cell source, error) pairs, its text."""
    page.locator(f"{PANEL} .jp-Toolbar").get_by_role("button", name="Validate").click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=180_000)
    classes = (message.get_attribute("class") or "").split()
    blocks = message.locator(":scope > .jp-RenderedText > pre").all_inner_texts()
    return classes, list(zip(blocks[::2], blocks[1::2], strict=True)), message.inner_text()


def _docstring(source: str) -> str:
    return source.strip().splitlines()[0].strip().strip('"')


def test_learner_sees_validate_and_no_instructor_tools(page, lab):
    """Does the learner's JupyterLab offer Validate and none of nbgrader's instructor tools?"""
    _open(page, lab, "release/01_likelihood/01_likelihood.ipynb")
    toolbar = page.locator(f"{PANEL} .jp-Toolbar")
    assert toolbar.get_by_role("button", name="Validate").is_visible()
    menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
    assert "File" in menus and "Nbgrader" not in menus
    for tool in ("Create Assignment", "Formgrader", "Manage Assignments", "Assignments"):
        assert page.get_by_text(tool, exact=True).count() == 0, f"{tool} is visible"


@pytest.mark.parametrize("assignment", assignment_names())
def test_run_all_runs_every_cell_with_figures_and_only_stub_errors(page, lab, assignment):
    """Does Run All on an untouched notebook run every cell, past its failing tests, render
    every figure, and show each failure, all from stubs, in a few lines?"""
    _open(page, lab, f"release/{assignment}/{assignment}.ipynb")
    cells = _run_all(page)

    code = [cell for cell in cells if cell["code"]]
    assert [c["prompt"] for c in code if not re.fullmatch(r"\[\d+\]:", c["prompt"])] == []
    errors = [text for cell in cells for text in cell["errors"]]
    assert errors, "no stub raised NotImplementedError: did the exercises run?"
    assert [e for e in errors if not _last_line(e).startswith("NotImplementedError")] == []
    assert [e for e in errors if len(_lines(e)) > MAX_LINES] == []
    assert sum(c["figures"] for c in cells) > 0, "no figure at all"
    assert [c["figures"] - c["drawn"] for c in cells if c["drawn"] < c["figures"]] == []
    assert sum(c["placeholders"] for c in cells) == 0, "a figure came out as text"
    assert page.locator(f"{PANEL} .jp-RenderedMarkdown mjx-container").count() > 0

    # The screenshot shows the first slider with its figure whole, if the notebook has one
    # (01's is the README's picture, docs/jupyterlab.png), else the first figure.
    sliders = page.locator(CELLS).filter(has=page.locator(".widget-slider"))
    if sliders.count():
        sliders.first.evaluate("node => node.scrollIntoView({block: 'end'})")
    else:
        figure = page.locator(f"{CELLS} .jp-OutputArea-output img").first
        figure.evaluate("node => node.scrollIntoView({block: 'center'})")
    _screenshot(page, assignment)


def test_a_failing_check_shows_its_short_message(page, lab):
    """Does a wrong answer's failing test show the learner message alone, in a few lines:
    what was called, expected, got, the hint naming the mistake, and no traceback?"""
    mistake = fixture_answers("01_likelihood")["likelihood_bernoulli"]["mistake_swapped_theta"]
    notebook = solved("01_likelihood", {"likelihood_bernoulli": mistake})
    _open(page, lab, _scratch_copy(lab, notebook, "01_likelihood", "mistake"))
    cells = _run_all(page)

    (error,) = [text for cell in cells for text in cell["errors"]]
    lines = _lines(error)
    assert len(lines) <= MAX_LINES, error
    assert lines[0].startswith("CheckFailure: likelihood_bernoulli([1, 0, 1, 1], 0.6) returned")
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["expected", "got", "hint"]
    assert "Did you swap theta and 1 - theta?" in lines[-1]
    assert "Traceback" not in error and "checks.py" not in error
    failing = page.locator(CELLS).filter(
        has=page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    )
    failing.first.evaluate("node => node.scrollIntoView({block: 'center'})")
    _screenshot(page, "short-message")


def test_a_release_notebook_opens_with_nothing_to_save(page, lab):
    """Does a release notebook open, its kernel started, without the unsaved-changes dot?"""
    _open(page, lab, "release/05_kl_divergence/05_kl_divergence.ipynb")
    page.wait_for_timeout(2_000)  # JupyterLab writes the kernel's details in as they arrive
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert "05_kl_divergence" in tab.inner_text()
    assert "jp-mod-dirty" not in (tab.get_attribute("class") or "").split()


def test_slider_redraws_the_figure(page, lab):
    """Does moving the slider of the solved first notebook redraw its figure?"""
    path = _scratch_copy(lab, solved("01_likelihood"), "01_likelihood", "solved")
    _open(page, lab, path)
    cells = _run_all(page)
    assert [text for cell in cells for text in cell["errors"]] == [], "the solution raised"

    cell = page.locator(CELLS).filter(has=page.locator(".widget-slider")).first
    cell.evaluate("node => node.scrollIntoView({block: 'center'})")
    figure = cell.locator(".jp-OutputArea-output img").first
    readout, before = cell.locator(".widget-readout").inner_text(), figure.get_attribute("src")
    _screenshot(page, "slider-before")

    cell.locator(".noUi-handle").first.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([cell, before]) => {"
        "  const img = cell.querySelector('.jp-OutputArea-output img');"
        "  return img && img.complete && img.naturalWidth > 0 && img.src !== before; }",
        arg=[cell.element_handle(), before],
        timeout=60_000,
    )
    assert cell.locator(".widget-readout").inner_text() != readout
    assert cell.locator(".jp-OutputArea-output img").count() == 1, "old figure left behind"
    _screenshot(page, "slider-after")


def test_validate_passes_a_solved_notebook(page, lab):
    """Does Validate tell a learner with every answer right that the notebook passes?"""
    path = _scratch_copy(lab, solved("01_likelihood"), "01_likelihood", "validate-solved")
    _open(page, lab, path)
    classes, failures, text = _validate(page)
    _screenshot(page, "validate-solved")
    assert "validation-success" in classes and failures == []
    assert "Success! Your notebook passes all the tests." in text


def test_validate_lists_every_unanswered_test(page, lab):
    """Does Validate on an untouched notebook say first what is left to do, then list each
    visible test by its name and docstring, and the written answer?"""
    release = lab.tree / "release" / "01_likelihood" / "01_likelihood.ipynb"
    notebook = nbformat.read(release, as_version=4)
    path = _scratch_copy(lab, notebook, "01_likelihood", "validate-unsolved")
    _open(page, lab, path)
    classes, failures, _ = _validate(page)
    _screenshot(page, "validate-unsolved")

    graded = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
    visible_tests = [
        f"{c.metadata['nbgrader']['grade_id']}: {_docstring(c.source)}"
        for c in graded
        if c.cell_type == "code" and c.source.startswith('"""')
    ]
    written = [c.source.strip() for c in graded if c.cell_type == "markdown"]
    assert "validation-failed" in classes
    (summary, summary_error), *cells = failures
    assert summary == "This notebook: 2 exercises not started, 1 written answer missing."
    assert "likelihood_bernoulli, likelihood_gaussian" in summary_error
    assert sorted(source for source, _ in cells) == sorted(visible_tests + written)
    for source, error in cells:
        expected = "NotImplementedError" if source.startswith("test_") else "You did not provide"
        assert _last_line(error).startswith(expected), (source, error)
        assert len(_lines(error)) <= MAX_LINES


def test_validate_shows_a_wrong_answers_learner_message(page, lab):
    """Does Validate name the failing test in its summary, then show the test's learner
    message (expected, got, the hint naming the mistake) in a few lines?"""
    mistake = fixture_answers("01_likelihood")["likelihood_bernoulli"]["mistake_swapped_theta"]
    notebook = solved("01_likelihood", {"likelihood_bernoulli": mistake})
    path = _scratch_copy(lab, notebook, "01_likelihood", "validate-mistake")
    _open(page, lab, path)
    classes, failures, _ = _validate(page)
    _screenshot(page, "validate-mistake")

    assert "validation-failed" in classes
    (summary, _), (source, error) = failures
    assert summary == "This notebook: 1 test failing: test_likelihood_bernoulli_values."
    assert source.startswith("test_likelihood_bernoulli_values: likelihood_bernoulli"), source
    assert "CheckFailure" in error and "NotImplementedError" not in error
    assert all(word in error for word in ("expected:", "got:", "hint:")), error
    assert "Did you swap theta and 1 - theta?" in error
    assert len(_lines(error)) <= MAX_LINES

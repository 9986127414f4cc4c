"""Does the course work in JupyterLab as a learner meets it: every notebook runs with its
figures drawn, the slider redraws, and Validate gives a truthful verdict?"""

from __future__ import annotations

import re

import nbformat
import pytest

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


def _run_every_cell(page) -> list[dict]:
    """Run the cells one at a time, from the top, waiting for each to finish.

    JupyterLab's Run All stops at the first error, and the stubs raise
    NotImplementedError, so each cell is run on its own (Shift+Enter runs it and moves
    on; the last one runs with Ctrl+Enter, so no empty cell is added).
    """
    cells = page.locator(CELLS)
    count = cells.count()
    cells.first.click()
    page.keyboard.press("Escape")  # command mode: the keys act on cells
    for index in range(count):
        is_code = "jp-CodeCell" in (cells.nth(index).get_attribute("class") or "")
        page.keyboard.press("Shift+Enter" if index < count - 1 else "Control+Enter")
        if is_code:
            cells.nth(index).locator(".jp-InputPrompt", has_text=re.compile(r"\[\d+\]")).wait_for(
                timeout=120_000
            )
    return cells.evaluate_all(_CELL_REPORT)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


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
def test_notebook_runs_with_figures_and_only_stub_errors(page, lab, assignment):
    """Does every cell run, every figure render, and every error come from a stub?"""
    _open(page, lab, f"release/{assignment}/{assignment}.ipynb")
    cells = _run_every_cell(page)

    code = [cell for cell in cells if cell["code"]]
    assert [c["prompt"] for c in code if not re.fullmatch(r"\[\d+\]:", c["prompt"])] == []
    errors = [_last_line(text) for cell in cells for text in cell["errors"]]
    assert errors, "no stub raised NotImplementedError: did the exercises run?"
    assert [e for e in errors if not e.startswith("NotImplementedError")] == []
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


def test_slider_redraws_the_figure(page, lab):
    """Does moving the slider of the solved first notebook redraw its figure?"""
    path = _scratch_copy(lab, solved("01_likelihood"), "01_likelihood", "solved")
    _open(page, lab, path)
    cells = _run_every_cell(page)
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
    """Does Validate on an untouched notebook list each visible test and the written answer?"""
    release = lab.tree / "release" / "01_likelihood" / "01_likelihood.ipynb"
    notebook = nbformat.read(release, as_version=4)
    path = _scratch_copy(lab, notebook, "01_likelihood", "validate-unsolved")
    _open(page, lab, path)
    classes, failures, _ = _validate(page)
    _screenshot(page, "validate-unsolved")

    graded = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
    visible_tests = [
        _docstring(c.source)
        for c in graded
        if c.cell_type == "code" and len(c.source.strip().splitlines()) > 1
    ]
    written = [c.source.strip() for c in graded if c.cell_type == "markdown"]
    assert "validation-failed" in classes
    assert sorted(_docstring(source) for source, _ in failures) == sorted(visible_tests + written)
    for source, error in failures:
        expected = "NotImplementedError" if source.startswith('"""') else "You did not provide"
        assert _last_line(error).startswith(expected), (source, error)


def test_validate_shows_a_wrong_answers_learner_message(page, lab):
    """Does Validate show a wrong answer's learner-worded message: expected, got and a hint?"""
    mistake = fixture_answers("01_likelihood")["likelihood_bernoulli"]["mistake_swapped_theta"]
    notebook = solved("01_likelihood", {"likelihood_bernoulli": mistake})
    path = _scratch_copy(lab, notebook, "01_likelihood", "validate-mistake")
    _open(page, lab, path)
    classes, failures, _ = _validate(page)
    _screenshot(page, "validate-mistake")

    assert "validation-failed" in classes and failures
    for source, error in failures:
        assert _docstring(source).startswith("likelihood_bernoulli"), source
        assert "CheckFailure" in error and "NotImplementedError" not in error
        assert all(word in error for word in ("expected:", "got:", "hint:")), error

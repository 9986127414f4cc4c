"""Does `autograder report` say which test cells a class missed, and with which mistake?

One class of ten is graded once by the real pipeline: four forget the minus sign in
``nll_bernoulli``, one hands in a notebook that is not JSON, five hand in the instructor's
solution. Every statistic the report gives is therefore known before it runs. A second
course holds a class of one student, and ``01_likelihood`` is in the course but nobody
submitted it.
"""

from __future__ import annotations

import base64
import csv
import re
import shutil
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from autograder.course import CourseError
from autograder.export import cell_rows
from autograder.grade import grade
from autograder.report import (
    ITEM_FIELDS,
    discrimination,
    function_of,
    group_failures,
    normalise_message,
    report,
    summary,
)
from tests.conftest import ROOT
from tests.contract import ASSIGNMENTS as CONTRACT
from tests.submissions import fixture_answers, solved, write_submission

ASSIGNMENT = "03_minus_sign"
NOBODY = "01_likelihood"  # in the course, submitted by nobody
FORGOT_MINUS = ["s01", "s02", "s03", "s04"]
BROKEN = "s05"  # its notebook is not JSON: it cannot be graded
CORRECT = ["s06", "s07", "s08", "s09", "s10"]
# The cells a forgotten minus sign fails: a log-likelihood is negative (values, sign,
# hidden) and -inf where the NLL is +inf (edges), but it still doubles with the data (sum).
MINUS_SIGN_FAILS = {
    "test_nll_bernoulli_values",
    "test_nll_bernoulli_sign",
    "test_nll_bernoulli_edges",
    "test_nll_bernoulli_hidden",
}
TEST_CELLS = [  # in notebook order
    "test_nll_bernoulli_values", "test_nll_bernoulli_sign", "test_nll_bernoulli_sum",
    "test_nll_bernoulli_edges", "test_nll_bernoulli_hidden", "test_nll_gaussian_values",
    "test_nll_gaussian_sigma", "test_nll_gaussian_hidden", "test_fit_bernoulli_numeric_values",
    "test_fit_bernoulli_numeric_few_heads", "test_fit_bernoulli_numeric_hidden",
]  # fmt: skip
# What test_nll_bernoulli_sign says to each of the four, once its numbers are '#'.
SIGN_MESSAGE = (
    "nll_bernoulli(# mixed flips, theta=#) is not positive. expected: a positive number "
    "(each flip costs -log p >= #) got: # hint: Did you forget the minus sign? The NLL is "
    "minus the log-likelihood."
)
NOT_JSON = (
    "not graded: 03_minus_sign.ipynb is not a readable notebook (not valid JSON: expecting "
    "property name enclosed in double quotes at line #, column #)"
)


def make_course(base: Path, students: dict[str, object]) -> Path:
    """A course with 03_minus_sign and 01_likelihood; ``students`` maps an id to its
    notebook (or to raw text, for a broken file)."""
    root = base / "course"
    for name in ("source", "release"):
        for assignment in (ASSIGNMENT, NOBODY):
            shutil.copytree(ROOT / name / assignment, root / name / assignment)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for student, notebook in students.items():
        if isinstance(notebook, str):
            path = root / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            path.parent.mkdir(parents=True)
            path.write_text(notebook)
        else:
            write_submission(root / "submitted", student, ASSIGNMENT, notebook)
    return root


def forgot_minus_sign():
    mistake = fixture_answers(ASSIGNMENT)["nll_bernoulli"]["mistake_forgot_minus_sign"]
    return solved(ASSIGNMENT, {"nll_bernoulli": mistake})


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    students = {s: forgot_minus_sign() for s in FORGOT_MINUS}
    students[BROKEN] = "{not json"
    students.update({s: solved(ASSIGNMENT) for s in CORRECT})
    root = make_course(tmp_path_factory.mktemp("class"), students)
    outcomes = grade(root=root, workers=2)
    # The statistics below are only as known as the grading: say so if it deviated
    # (a kernel that died on a loaded machine, say) rather than fail on a facility.
    expected = {s: ("graded", 9.0) for s in FORGOT_MINUS} | {BROKEN: ("failed", 0.0)}
    expected |= {s: ("graded", 14.0) for s in CORRECT}
    got = {o.student: (o.status, o.score) for o in outcomes}
    assert got == expected, [(o.student, o.status, o.reason) for o in outcomes]
    return root, report(root=root)  # into the default grades/


@pytest.fixture(scope="module")
def one_student(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("one"), {"solo": forgot_minus_sign()})
    grade(root=root, workers=1)
    return root, report(root=root, out=root / "elsewhere")


def items_of(result, assignment=ASSIGNMENT) -> dict:
    return {item.grade_id: item for item in result.items if item.assignment == assignment}


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


class PageParser(HTMLParser):
    """Collects tags and checks every element is closed in order (void ones aside)."""

    VOID = frozenset({"img", "meta", "br", "hr", "link", "input", "source", "wbr"})

    def __init__(self):
        super().__init__()
        self.open, self.problems, self.tags, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


# -- without grading -------------------------------------------------------------------
def test_the_same_hint_with_other_numbers_groups_together():
    """Do failures of one check with different numbers count as one message, keeping the
    numbers every student in the group saw?"""
    raised = [
        "f(10 flips, theta=0.1) is not positive.\n  expected: a positive number\n"
        "  got:      -9.8425\n  hint: Did you forget the minus sign?",
        "f(10 flips, theta=0.5) is not positive.\n  expected: a positive number\n"
        "  got:      -6.93147\n  hint: Did you forget the minus sign?",
        "f(10 flips, theta=0.1) is not positive.\n  expected: a positive number\n"
        "  got:      nan\n  hint: Did you forget the minus sign?",
        "f([1, 0, 1], 0.6) returned the wrong value.\n  expected: inf\n  got:      -inf",
    ]
    first, second = group_failures(raised)
    assert first.count == 3 and second.count == 1
    assert first.message == (
        "f(# flips, theta=#) is not positive. expected: a positive number got: # "
        "hint: Did you forget the minus sign?"
    )
    assert first.readable == (
        "f(10 flips, theta=#) is not positive. expected: a positive number got: # "
        "hint: Did you forget the minus sign?"
    )
    assert second.message == "f(#, #) returned the wrong value. expected: # got: #"
    assert second.readable == "f([1, 0, 1], 0.6) returned the wrong value. expected: inf got: -inf"


def test_normalising_spares_names_and_sentences():
    """Does normalizing replace numbers, lists and inf/nan but leave names and full stops?"""
    assert normalise_message("np.float64 in 03_minus_sign is 1. Next") == (
        "np.float64 in 03_minus_sign is #. Next"
    )
    assert normalise_message("got array([1., 0.]) and [[1, 2], [3, 4]], 1e-4, +inf") == (
        "got array(#) and #, #, #"
    )
    assert normalise_message("<array of 500 values: [0, 1, 1, ...]>") == "<array of # values: #>"
    assert normalise_message("x" * 5000).endswith("…") and len(normalise_message("x" * 5000)) == 300


def test_discrimination_is_missing_rather_than_meaningless():
    """Is discrimination None (never nan, never a division by zero) for fewer than three
    students or a side that does not vary, and Pearson's r otherwise?"""
    assert discrimination([], []) is None
    assert discrimination([1, 0], [5, 2]) is None
    assert discrimination([1, 1, 1, 1], [3, 5, 2, 6]) is None
    assert discrimination([1, 0, 1, 0], [4, 4, 4, 4]) is None
    item, rest = [1, 0, 1, 1, 0, 2], [9, 3, 7, 4, 4, 10]
    assert discrimination(item, rest) == pytest.approx(np.corrcoef(item, rest)[0, 1], abs=1e-12)


def test_a_test_cell_belongs_to_the_longest_matching_function():
    """Does test_mean_nll_x belong to mean_nll rather than mean, and an unmatched cell to none?"""
    functions = ["mean", "mean_nll", "nll"]
    assert function_of("test_mean_nll_repeated", functions) == "mean_nll"
    assert function_of("test_mean", functions) == "mean"
    assert function_of("test_meanie", functions) == ""


def test_unknown_assignment_and_missing_gradebook_are_course_errors(course_copy):
    """Do a misspelt assignment and a course never graded fail with one clear line?"""
    with pytest.raises(CourseError, match="no such assignment: 99_nope"):
        report(["99_nope"], root=course_copy)
    with pytest.raises(CourseError, match="run `autograder grade` first"):
        report(root=course_copy)


# -- a class graded by the real pipeline -----------------------------------------------
@pytest.mark.slow
def test_facility_and_failures_are_as_constructed(graded_class):
    """Do facility, failure counts and the grouped messages come out exactly as the class
    was built: four forgot the minus sign, one could not be graded, five are right?"""
    _, result = graded_class
    items = items_of(result)
    assert list(items) == TEST_CELLS
    for grade_id, item in items.items():
        assert item.submissions == 10
        minus = grade_id in MINUS_SIGN_FAILS
        assert item.facility == pytest.approx(0.5 if minus else 0.9, abs=1e-12), grade_id
        assert item.failed == (5 if minus else 1)
        counted = [(f.message, f.count) for f in item.messages]
        assert counted[-1] == (NOT_JSON, 1), grade_id
        assert len(counted) == (2 if minus else 1)
        assert item.function == function_of(grade_id, CONTRACT[ASSIGNMENT]), grade_id
    sign = items["test_nll_bernoulli_sign"].messages[0]
    assert (sign.message, sign.count) == (SIGN_MESSAGE, 4)
    assert sign.readable.startswith("nll_bernoulli(10 mixed flips, theta=0.1) is not positive.")
    assert items["test_nll_bernoulli_hidden"].mean_score == pytest.approx(1.0)


@pytest.mark.slow
def test_discrimination_matches_a_direct_computation(graded_class):
    """Is each cell's discrimination Pearson's r of its score against the rest of the
    student's test score, computed here from the gradebook?"""
    root, result = graded_class
    rows = [r for r in cell_rows(root) if r["grade_id"].startswith("test_")]
    students = sorted({r["student_id"] for r in rows})
    score = {(r["student_id"], r["grade_id"]): r["score"] for r in rows}
    total = {s: sum(v for (who, _), v in score.items() if who == s) for s in students}
    csv_rows = {r["grade_id"]: r for r in read_csv(root / "grades" / "items.csv")}
    for grade_id, item in items_of(result).items():
        x = np.array([score[s, grade_id] for s in students])
        y = np.array([total[s] - score[s, grade_id] for s in students])
        expected = np.corrcoef(x, y)[0, 1]
        assert item.discrimination == pytest.approx(expected, abs=1e-12), grade_id
        assert float(csv_rows[grade_id]["discrimination"]) == pytest.approx(expected, abs=1e-4)


@pytest.mark.slow
def test_items_csv_has_one_row_per_test_cell(graded_class):
    """Does items.csv hold one row per test cell, with empty statistics (not nan) for the
    assignment nobody submitted, and nothing left half-written?"""
    root, _ = graded_class
    path = root / "grades" / "items.csv"
    assert path.read_text().splitlines()[0] == ",".join(ITEM_FIELDS)
    rows = read_csv(path)
    graded = [r for r in rows if r["assignment"] == ASSIGNMENT]
    assert [r["grade_id"] for r in graded] == TEST_CELLS
    sign = next(r for r in graded if r["grade_id"] == "test_nll_bernoulli_sign")
    assert (sign["submissions"], sign["facility"], sign["failed"]) == ("10", "0.5", "5")
    assert (sign["message_1"], sign["count_1"]) == (SIGN_MESSAGE, "4")
    assert (sign["message_2"], sign["count_2"], sign["message_3"]) == (NOT_JSON, "1", "")
    nobody = [r for r in rows if r["assignment"] == NOBODY]
    assert nobody and all(r["submissions"] == "0" and r["facility"] == "" for r in nobody)
    statistics = ("mean_score", "max_score", "facility", "discrimination")
    assert not [row for row in rows if any("nan" in row[c].lower() for c in statistics)]
    assert not list((root / "grades").glob("*.partial"))


@pytest.mark.slow
def test_html_is_self_contained_and_embeds_its_figures(graded_class):
    """Does report.html parse with every element closed, embed both figures as data URIs
    of real SVG, reference nothing on the network, and name the ungraded student?"""
    root, _ = graded_class
    page = (root / "grades" / "report.html").read_text()
    parsed = parse(page)
    assert not parsed.problems and not parsed.open
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 2  # histogram and facility chart of the one assignment submitted
    for attrs in images:
        head, _, data = attrs["src"].partition(",")
        assert head == "data:image/svg+xml;base64" and attrs.get("alt")
        assert ElementTree.fromstring(base64.b64decode(data)).tag.endswith("svg")
    for tag, attrs in parsed.tags:
        assert tag not in ("script", "link", "iframe")
        for name in ("src", "href"):
            assert not attrs.get(name, "").startswith(("http:", "https:", "//")), (tag, attrs)
    text = " ".join(" ".join(parsed.text).split())
    assert f"No submissions: nobody has submitted {NOBODY}" in text
    assert BROKEN in text and "is not a readable notebook" in text
    assert "Did you forget the minus sign?" in text
    assert "&lt;array of 500 values" in page  # escaped, not a tag


@pytest.mark.slow
def test_summary_names_the_hardest_cells_and_their_mistake(graded_class):
    """Does the terminal summary list the five hardest cells, the minus-sign mistake among
    them, and say what could not be analysed?"""
    _, result = graded_class
    text = summary(result)
    ranked = [line for line in text.splitlines() if re.match(r"\s*\d+\. ", line)]
    assert len(ranked) == 5
    assert all(line.endswith(": facility 0.50, failed by 5 of 10") for line in ranked[:4])
    assert {line.split()[2].rstrip(":") for line in ranked[:4]} == MINUS_SIGN_FAILS
    flowing = " ".join(text.split())  # the summary wraps long messages
    assert "4x nll_bernoulli(10 mixed flips, theta=0.1) is not positive." in flowing
    assert "hint: Did you forget the minus sign?" in flowing
    assert f"No submissions for: {NOBODY}." in text
    assert "1 submission(s) could not be graded" in text


@pytest.mark.slow
def test_an_assignment_nobody_submitted_gets_a_clear_report(graded_class, tmp_path):
    """Does a report of only the assignment nobody submitted say so, without figures or
    errors?"""
    root, _ = graded_class
    result = report([NOBODY], root=root, out=tmp_path)
    (assignment,) = result.assignments
    assert assignment.submissions == 0 and assignment.items
    assert all(item.facility is None and not item.messages for item in assignment.items)
    page = (tmp_path / "report.html").read_text()
    assert "No submissions" in page and "<img" not in page and not parse(page).problems
    assert summary(result).splitlines() == [
        "0 of 1 assignment(s) have submissions; 0 submission(s) analysed.",
        f"No submissions for: {NOBODY}.",
    ]


@pytest.mark.slow
def test_a_class_of_one_gets_a_report_without_correlations(one_student):
    """Does a class of one student get facilities of 0 or 1, no discrimination anywhere
    (the CSV leaves it empty, the page says why), and no nan?"""
    root, result = one_student
    items = items_of(result)
    assert {g: i.facility for g, i in items.items()} == {
        g: 0.0 if g in MINUS_SIGN_FAILS else 1.0 for g in TEST_CELLS
    }
    assert all(item.discrimination is None for item in items.values())
    rows = read_csv(root / "elsewhere" / "items.csv")
    assert {r["discrimination"] for r in rows} == {""}
    for row in rows:  # every statistic is a finite number or empty, never nan
        for column in ("mean_score", "facility", "discrimination"):
            assert row[column] == "" or np.isfinite(float(row[column])), (row, column)
    page = (root / "elsewhere" / "report.html").read_text()
    assert "there is no discrimination index" in page and page.count("<img") == 2
    assert not parse(page).problems
    ranked = [line for line in summary(result).splitlines() if re.match(r"\s*\d+\. ", line)]
    assert len(ranked) == len(MINUS_SIGN_FAILS)
    assert all(line.endswith(": facility 0.00, failed by 1 of 1") for line in ranked)

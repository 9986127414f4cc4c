"""Does a whole term hold together for an instructor: nothing handed in is skipped in
silence, hand grading reaches the students, exports are what an LMS wants, releases go
out week by week, and a test added after grading has a way forward?

One class is built the way a term goes wrong, graded once by the real pipeline (the
command line, a real gradebook), and each later stage works on a copy of the course:

* ``03_minus_sign`` from this course, and the instructor's own ``hw1`` (a plain
  ``assert`` with a message as its test) and ``08_bayes`` (a draft nobody has seen);
* awkward student ids (``o'brien``, ``d.lee@uni.edu``, ``Zoë``), a notebook that is not
  JSON (carol), folders handed in under a misspelt assignment name (bob's
  ``03_minus_sgn``, gus's ``HW1``), and frank, entered with nbgrader's API (as ``nbgrader
  db student add`` does) but who handed in nothing;
* formgrader's work done through nbgrader's API exactly as formgrader's handlers do it:
  a hand score and comments for alice, an override of one of her test cells.
"""

from __future__ import annotations

import csv
import datetime
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import CourseError, load_config
from autograder.export import export
from autograder.feedback import feedback
from autograder.grade import grade
from autograder.rebuild import kept_path
from autograder.release import release
from autograder.report import report
from tests.conftest import ROOT
from tests.submissions import fixture_answers, solved, write_submission

MINUS = "03_minus_sign"
HW = "hw1"
DRAFT = "08_bayes"
WRITTEN = "written_why_minimise"
OVERRIDDEN = "test_fit_bernoulli_numeric_hidden"  # alice's override; removed in the rebuild
ADDED = "test_nll_bernoulli_positive_again"  # added after grading
ASSERT_MESSAGE = "double(2) should be 4: multiply by 2, do not add"
COMMENT = "Right idea; say why the optimizer wants a loss to go down."
CODE_COMMENT = "Neat use of np.where."
DAY = datetime.date(2026, 11, 20)


def run(root: Path, *arguments):
    # From beside the course: `python -m` puts the working directory first on sys.path,
    # where the copy's own course/ package would stand in for the installed one.
    return subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(root), *arguments],
        cwd=root.parent,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _cell(source: str, cell_type: str = "code", **nbgrader):
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    if nbgrader:
        cell.metadata.nbgrader = {"schema_version": 3, "locked": False, **nbgrader}
    return cell


def instructor_homework() -> nbformat.NotebookNode:
    """The instructor's own hw1: one function, tested by a plain assert with a message."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        _cell("# Homework 1", "markdown"),
        _cell("## Exercise: `double`", "markdown"),
        _cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            grade_id="double", solution=True, grade=False,
        ),
        _cell(
            f'assert double(2) == 4, "{ASSERT_MESSAGE}"',
            grade_id="test_double", solution=False, grade=True, locked=True, points=1,
        ),
    ]  # fmt: skip
    return notebook


def with_answer(root: Path, assignment: str, answers: dict[str, str]):
    """The released notebook of ``assignment`` with ``answers`` by grade_id."""
    notebook = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", 4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def make_term(base: Path) -> Path:
    root = base / "nll-term"  # not "course": that would be importable from beside it
    for name in ("source", "release"):
        shutil.copytree(ROOT / name / MINUS, root / name / MINUS)
    for name in ("nbgrader_config.py", "environment.yml", "postBuild", "pyproject.toml"):
        shutil.copy(ROOT / name, root)
    shutil.copytree(ROOT / "course", root / "course", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "source" / HW).mkdir(parents=True)
    nbformat.write(instructor_homework(), root / "source" / HW / f"{HW}.ipynb")
    (root / "source" / DRAFT).mkdir()
    draft = nbformat.v4.new_notebook(cells=[_cell("# Bayes (draft: not ready)", "markdown")])
    nbformat.write(draft, root / "source" / DRAFT / f"{DRAFT}.ipynb")
    release([HW], root=root)

    submitted = root / "submitted"
    answers = fixture_answers(MINUS)["nll_bernoulli"]
    write_submission(submitted, "alice", MINUS, solved(MINUS))
    for student, mistake in (
        ("o'brien", "mistake_forgot_minus_sign"),
        ("d.lee@uni.edu", "mistake_mean_not_sum"),
    ):
        notebook = solved(MINUS, {"nll_bernoulli": answers[mistake]})
        write_submission(submitted, student, MINUS, notebook)
    wrong = "def double(x):\n    return x + 3"
    write_submission(submitted, "o'brien", HW, with_answer(root, HW, {"double": wrong}))
    right = "def double(x):\n    return x * 2"
    write_submission(submitted, "Zoë", HW, with_answer(root, HW, {"double": right}))
    broken = submitted / "carol" / MINUS / f"{MINUS}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"cells": [')
    write_submission(submitted, "bob", "03_minus_sgn", solved(MINUS))  # misspelt folder
    write_submission(submitted, "gus", "HW1", with_answer(root, HW, {"double": right}))
    return root


def gradebook(root: Path):
    from nbgrader.api import Gradebook

    config = load_config(root)
    return Gradebook(f"sqlite:///{root / 'gradebook.db'}", config.CourseDirectory.course_id)


def formgrader_grade(gb, grade_id: str, manual_score, extra_credit=None) -> None:
    """What formgrader's ``PUT /formgrader/api/grade/<id>`` does
    (nbgrader/server_extensions/formgrader/apihandlers.py, GradeHandler.put)."""
    grade = gb.find_grade_by_id(grade_id)
    grade.manual_score = manual_score
    grade.extra_credit = extra_credit
    grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
    gb.db.commit()


def formgrader_comment(gb, comment_id: str, text: str) -> None:
    """What formgrader's ``PUT /formgrader/api/comment/<id>`` does (CommentHandler.put)."""
    comment = gb.find_comment_by_id(comment_id)
    comment.manual_comment = text
    gb.db.commit()


def copy_of(root: Path, base: Path) -> Path:
    target = base / "nll-term"
    shutil.copytree(root, target, symlinks=True)
    return target


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- the stages of the term ------------------------------------------------------------
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded once from the command line: ``(root, result)``."""
    root = make_term(tmp_path_factory.mktemp("term"))
    with gradebook(root) as gb:
        gb.add_student("frank", first_name="Frank")  # as `nbgrader db student add frank`
    result = run(root, "grade", "--workers", "2")
    return root, result


@pytest.fixture(scope="module")
def hand_graded(graded, tmp_path_factory):
    """A copy after formgrader: alice's written answer scored 1.5 of 2 with a comment,
    her code answer commented on, one of her test cells overridden to 0."""
    root = copy_of(graded[0], tmp_path_factory.mktemp("formgrader"))
    with gradebook(root) as gb:
        notebook = gb.find_submission_notebook(MINUS, MINUS, "alice")
        grades = {grade.name: grade.id for grade in notebook.grades}
        comments = {comment.name: comment.id for comment in notebook.comments}
        formgrader_grade(gb, grades[WRITTEN], 1.5)
        formgrader_grade(gb, grades[OVERRIDDEN], 0.0)
        formgrader_comment(gb, comments[WRITTEN], COMMENT)
        formgrader_comment(gb, comments["nll_bernoulli"], CODE_COMMENT)
    return root


@pytest.fixture(scope="module")
def rebuilt(hand_graded, tmp_path_factory):
    """A copy in which the instructor, after hand grading, added a test cell to
    03_minus_sign and removed the one alice's override was on; ``(root, refusal,
    outcomes)``, the refusal being what a plain `grade` said first."""
    root = copy_of(hand_graded, tmp_path_factory.mktemp("rebuild"))
    path = root / "source" / MINUS / f"{MINUS}.ipynb"
    notebook = nbformat.read(path, 4)
    index = next(
        i for i, c in enumerate(notebook.cells) if _grade_id(c) == "test_nll_bernoulli_sign"
    )
    notebook.cells.insert(
        index + 1,
        _cell(
            '"""nll_bernoulli of one head under a fair coin is log 2"""\n'
            "assert nll_bernoulli(np.array([1]), 0.5) > 0, 'an NLL of coin flips is positive'",
            grade_id=ADDED, solution=False, grade=True, locked=True, points=1,
        ),
    )  # fmt: skip
    notebook.cells = [c for c in notebook.cells if _grade_id(c) != OVERRIDDEN]
    nbformat.write(notebook, path)
    with pytest.raises(CourseError) as refusal:
        grade([MINUS], root=root, workers=2)
    outcomes = grade([MINUS], root=root, workers=2, rebuild=True)
    return root, str(refusal.value), outcomes


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _section(page: str, start: str, end: str) -> str:
    return page[page.index(start) : page.index(end, page.index(start))]


# -- 1. every entry under submitted/ is accounted for ----------------------------------
@pytest.mark.slow
def test_misnamed_folders_are_listed_with_the_closest_assignment(graded):
    """Are bob's 03_minus_sgn and gus's HW1 named with the assignment they most likely
    meant, and does the run exit 3 (documented) since not everything was graded?"""
    _, result = graded
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert "not graded: 2 entries of" in result.stdout
    assert "  bob/03_minus_sgn (no such assignment: did you mean 03_minus_sign?)" in lines
    assert "  gus/HW1 (no such assignment: did you mean hw1?)" in lines
    rows = {line.split()[0]: line for line in lines if line.split()[:1] and "/" in line}
    assert {"alice", "o'brien", "d.lee@uni.edu", "Zoë", "carol"} <= set(rows)
    assert "failed: 03_minus_sign.ipynb is not a readable notebook" in rows["carol"]


# -- 2. hand grading flows through -----------------------------------------------------
@pytest.mark.slow
def test_before_hand_grading_answers_say_awaiting_and_feedback_warns(graded, tmp_path):
    """Before anyone grades the written answers, does the summary count them, the page
    say "awaiting grading" (not "0 / 2"), and feedback count them per assignment?"""
    root, result = graded
    alice = next(line for line in result.stdout.splitlines() if line.startswith("alice "))
    assert alice.split()[2:4] == ["14.0/14.0", "1"]  # all tests passed; one answer awaits
    pages = feedback(root=root, out=tmp_path, date=DAY)
    assert pages.awaiting == {MINUS: (3, 3)}  # alice, o'brien, d.lee: carol's never ran
    page = (tmp_path / "alice" / MINUS / f"{MINUS}.html").read_text()
    row = _section(page, f"<code>{WRITTEN}</code></td>", "</tr>")
    assert "awaiting grading" in row and "– / 2" in row and "0 / 2" not in row
    assert "not final: 1 answer(s) awaiting grading" in page
    warning = run(root, "feedback", MINUS, "--student", "alice")
    assert warning.returncode == 0
    assert f"warning: {MINUS}: 1 answer(s) of 1 student(s) not graded yet" in warning.stderr


@pytest.mark.slow
def test_feedback_shows_formgraders_comments_and_hand_scores(hand_graded, tmp_path):
    """Does alice's page show formgrader's comments (on the written and the code answer)
    and hand scores, her total count them, and nothing say "awaiting" any more?"""
    pages = feedback(students=["alice"], root=hand_graded, out=tmp_path, date=DAY)
    assert [p.relative_to(tmp_path).as_posix() for p in pages] == [f"alice/{MINUS}/{MINUS}.html"]
    assert pages.awaiting == {}
    page = pages[0].read_text()
    assert COMMENT in page and CODE_COMMENT in page
    row = _section(page, f"<code>{WRITTEN}</code></td>", "</tr>")
    assert "1.5 / 2" in row and "graded by your instructor" in row
    assert "score set by your instructor" in _section(
        page, f"<code>{OVERRIDDEN}</code></td>", "</tr>"
    )
    assert "awaiting grading" not in page
    # 14 from the tests, minus the overridden 2, plus 1.5 by hand.
    assert "Score: 13.5 / 16" in page


@pytest.mark.slow
def test_export_marks_answers_awaiting_a_person(graded, hand_graded, tmp_path):
    """Is needs_manual_grade true while an answer waits for a person, and false once
    formgrader has scored it?"""
    before = {
        r["student_id"]: r for r in read_csv(export([MINUS], root=graded[0], out=tmp_path / "a")[0])
    }
    after = {
        r["student_id"]: r
        for r in read_csv(export([MINUS], root=hand_graded, out=tmp_path / "b")[0])
    }
    assert before["alice"]["needs_manual_grade"] == "true"
    assert after["alice"]["needs_manual_grade"] == "false"
    assert after["alice"]["score"] == "13.5" and after["o'brien"]["needs_manual_grade"] == "true"


# -- 4. exports an instructor uploads --------------------------------------------------
@pytest.mark.slow
def test_scores_csv_has_the_whole_roster(graded, tmp_path):
    """Does scores.csv have a row for every student in the gradebook for every assignment,
    0 and submitted=false where nothing came (frank, who handed in nothing), with the
    contract's columns first?"""
    root, _ = graded
    scores_csv, _ = export(root=root, out=tmp_path)
    header = scores_csv.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("student_id,assignment,score,max_score,")
    assert {"submitted", "timestamp", "late_penalty", "needs_manual_grade"} <= set(
        header.split(",")
    )
    rows = read_csv(scores_csv)
    students = {"alice", "carol", "d.lee@uni.edu", "frank", "o'brien", "Zoë"}
    assert {(r["student_id"], r["assignment"]) for r in rows} == {
        (s, a) for s in students for a in (MINUS, HW)
    }
    by = {(r["student_id"], r["assignment"]): r for r in rows}
    assert by["frank", MINUS] | {"max_score": ""} == {
        "student_id": "frank", "assignment": MINUS, "score": "0.0", "max_score": "",
        "submitted": "false", "timestamp": "", "raw_score": "0.0", "late_penalty": "0.0",
        "needs_manual_grade": "false",
    }  # fmt: skip
    assert by["frank", MINUS]["max_score"] == by["alice", MINUS]["max_score"] == "16.0"
    assert by["Zoë", HW]["score"] == "1.0" and by["o'brien", HW]["score"] == "0.0"
    assert by["carol", MINUS]["submitted"] == "true" and by["carol", MINUS]["score"] == "0.0"


@pytest.mark.slow
def test_export_feedback_and_report_take_assignments_and_students(graded, tmp_path):
    """Do export, feedback and report take ASSIGNMENT ... and --student ID ..., refuse an
    unknown student in one line, and does `report ASSIGNMENT` leave the course's report
    alone?"""
    root, _ = graded
    result = run(root, "export", HW, "--student", "Zoë", "frank", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = read_csv(tmp_path / "scores.csv")
    assert sorted((r["student_id"], r["assignment"]) for r in rows) == [("Zoë", HW), ("frank", HW)]
    unknown = run(root, "feedback", "--student", "zoe")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert "no such student in the gradebook: zoe: did you mean Zoë?" in unknown.stderr
    whole = report(root=root)
    one = report([HW], root=root)
    assert whole.html == root / "grades" / "report.html"
    assert one.html == root / "grades" / f"report-{HW}.html"
    assert one.items_csv == root / "grades" / f"items-{HW}.csv"
    assert MINUS in whole.html.read_text() and MINUS not in one.html.read_text()


# -- 5. weekly releases ----------------------------------------------------------------
@pytest.mark.slow
def test_publish_only_the_released_and_keep_the_binder_repo(graded, tmp_path):
    """Does `publish --only` publish just those assignments (never the draft), does a
    republish without --repo keep the Binder repository it was given, and does
    released.txt choose what goes out?"""
    root, _ = graded
    dest = tmp_path / "student"
    first = run(root, "publish", str(dest), "--only", MINUS, "--repo", "me/nll-student")
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in (dest / "release").iterdir()) == [MINUS]
    assert "mybinder.org/v2/gh/me/nll-student/HEAD" in (dest / "README.md").read_text()
    (root / "released.txt").write_text(f"# week by week\n{MINUS}\n{HW}  # out on Monday\n")
    again = run(root, "publish", str(dest), "--force")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (dest / "release").iterdir()) == [MINUS, HW]
    assert "mybinder.org/v2/gh/me/nll-student/HEAD" in (dest / "README.md").read_text()
    assert "kept" in again.stdout or "earlier publish" in again.stdout
    assert DRAFT not in {p.name for p in dest.rglob("*")}


# -- 6. a way forward after changing the set of test cells -----------------------------
@pytest.mark.slow
def test_rebuild_keeps_hand_grades_and_says_what_it_dropped(rebuilt):
    """After a test cell is added and another removed, does a plain grade point at
    --rebuild, and does the rebuild regrade everybody with the new tests, keep alice's
    hand score and comments, drop the override whose cell is gone, and say so?"""
    root, refusal, outcomes = rebuilt
    assert f"autograder grade {MINUS} --rebuild" in refusal
    assert {o.student: o.status for o in outcomes} == {
        "alice": "graded", "carol": "failed", "d.lee@uni.edu": "graded", "o'brien": "graded",
    }  # fmt: skip
    note = next(n for n in outcomes.notes if n.startswith("rebuilt"))
    assert "kept 2 hand grade(s) and 2 comment(s)" not in note  # the override is dropped
    assert "kept 1 hand grade(s) and 2 comment(s)" in note
    assert (
        f"dropped 1, their cell is gone from source/: alice: the hand grade of {MINUS}/{OVERRIDDEN}"
        in note
    )
    assert not kept_path(root, MINUS).exists()
    with gradebook(root) as gb:
        notebook = gb.find_submission_notebook(MINUS, MINUS, "alice")
        grades = {g.name: g for g in notebook.grades}
        comments = {c.name: c.manual_comment for c in notebook.comments}
        assert OVERRIDDEN not in grades and grades[ADDED].score == 1.0
        assert grades[WRITTEN].manual_score == 1.5
        assert not grades[WRITTEN].needs_manual_grade  # her answer did not change
        assert comments[WRITTEN] == COMMENT and comments["nll_bernoulli"] == CODE_COMMENT
        assert gb.find_grade(ADDED, MINUS, MINUS, "o'brien").score == 0.0  # minus sign
    assert next(o for o in outcomes if o.student == "alice").awaiting == 0


# -- 7. feedback ordered and owned -----------------------------------------------------
@pytest.mark.slow
def test_feedback_follows_the_notebook_and_names_course_and_date(hand_graded, tmp_path):
    """Are rows in notebook order under each exercise's heading, with the course name and
    the date on the page, and a notebook that could not be graded said once?"""
    pages = feedback([MINUS], root=hand_graded, out=tmp_path, date=DAY)
    page = (tmp_path / "alice" / MINUS / f"{MINUS}.html").read_text()
    assert "nll-first-principles · feedback of 2026-11-20" in page
    order = [
        "Exercise 1 (graded): <code>nll_bernoulli</code>", "test_nll_bernoulli_values",
        "test_nll_bernoulli_sign", "test_nll_bernoulli_hidden",
        "Exercise 2 (graded): <code>nll_gaussian</code>", "test_nll_gaussian_values",
        "Exercise 3 (graded): <code>fit_bernoulli_numeric</code>", OVERRIDDEN,
        "Question (manually graded)", WRITTEN,
    ]  # fmt: skip
    positions = [page.index(text) for text in order]
    assert positions == sorted(positions)
    carol = (tmp_path / "carol" / MINUS / f"{MINUS}.html").read_text()
    assert carol.count("is not a readable notebook") == 1
    assert carol.count("not run: see the note at the top") == 11
    assert len(pages) == 4


@pytest.mark.slow
def test_feedback_says_which_nbgrader_pages_it_replaced(graded, tmp_path):
    """When `nbgrader generate_feedback` wrote a page first, is its replacement said?"""
    root, _ = graded
    theirs = tmp_path / "alice" / MINUS / f"{MINUS}.html"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("<html><body>nbgrader's feedback</body></html>")
    pages = feedback([MINUS], students=["alice"], root=root, out=tmp_path)
    assert pages.replaced == [theirs]
    assert feedback([MINUS], students=["alice"], root=root, out=tmp_path).replaced == []


# -- 8. the report groups by the mistake recognized ------------------------------------
@pytest.mark.slow
def test_report_groups_by_hint_and_keeps_the_hints_words(graded, tmp_path):
    """Does the report keep a hint's own words ("the NLL is minus it"), group by the hint
    (each recognized mistake its own row), and show the instructor's own assert message?"""
    root, _ = graded
    result = report(root=root, out=tmp_path)
    items = {(i.assignment, i.grade_id): i for i in result.items}
    values = items[MINUS, "test_nll_bernoulli_values"].messages
    hints = [f.message.partition("hint: ")[2] for f in values if "hint: " in f.message]
    assert sorted(hints) == [
        "Did you forget the minus sign? That is the log-likelihood; the NLL is minus it.",
        "that is the mean of the four costs: nll_bernoulli is their sum "
        "(notebook 04 divides by n).",
    ]
    summed = items[MINUS, "test_nll_bernoulli_sum"].messages
    assert [f.count for f in summed if "did you divide by n?" in f.message] == [1]  # d.lee
    (double,) = items[HW, "test_double"].messages
    assert double.readable == ASSERT_MESSAGE and double.count == 1

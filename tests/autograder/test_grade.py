"""Does `autograder grade` grade a class correctly when some submissions are broken or hostile?

One grading run covers every scenario under tests/fixtures/submissions/ beside two honest
students; each scenario states what it deserves (EXPECTED in its scenario.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import socket
import types
import warnings
from pathlib import Path

import nbformat
import pytest

from autograder import sandbox as sandboxing
from autograder.export import cell_rows, score_rows
from autograder.grade import grade
from tests.conftest import ROOT
from tests.submissions import grade_cells, set_answer, solved, write_submission

SCENARIOS = sorted(
    p.name for p in (ROOT / "tests/fixtures/submissions").iterdir() if (p / "scenario.py").is_file()
)
ASSIGNMENT = "01_likelihood"
WRONG_BERNOULLI = "def likelihood_bernoulli(x, theta):\n    return 0.5"


def load_scenario(name: str) -> types.ModuleType:
    path = ROOT / "tests/fixtures/submissions" / name / "scenario.py"
    spec = importlib.util.spec_from_file_location(f"scenario_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_class(root: Path, submissions: Path, port: int) -> None:
    write_submission(submissions, "honest_student", ASSIGNMENT, solved(ASSIGNMENT))
    mistaken = solved(ASSIGNMENT, {"likelihood_bernoulli": WRONG_BERNOULLI})
    write_submission(submissions, "mistaken_student", ASSIGNMENT, mistaken)
    context = types.SimpleNamespace(
        set_answer=set_answer,
        test_cells=grade_cells,
        nbformat=nbformat,
        root=root,
        submissions=submissions,
        port=port,
    )
    for name in SCENARIOS:
        scenario = load_scenario(name)
        built = scenario.build(solved(ASSIGNMENT), context)
        path = (
            submissions / name / ASSIGNMENT / getattr(scenario, "FILENAME", f"{ASSIGNMENT}.ipynb")
        )
        path.parent.mkdir(parents=True)
        if isinstance(built, bytes):
            path.write_bytes(built)
        elif isinstance(built, str):
            path.write_text(built)
        else:
            nbformat.write(built, path)


@pytest.fixture(scope="module", params=["warm", "cold"])
def graded_class(request, tmp_path_factory):
    """The class graded once with kernels forked from the warm parent, once with kernels
    started from scratch (the two ways the grader runs kernels)."""
    import shutil

    from tests.conftest import ROOT as repo

    if request.param == "warm" and not sandboxing.warm_kernels_available(isolate=True):
        pytest.skip("warm kernels need root and bubblewrap")
    root = tmp_path_factory.mktemp(f"hostile-{request.param}") / "course"
    root.mkdir()
    for name in ("source", "release"):
        shutil.copytree(repo / name / ASSIGNMENT, root / name / ASSIGNMENT)
    shutil.copy(repo / "nbgrader_config.py", root)
    submissions = root.parent / "submissions"  # outside the course, as --submissions allows
    with socket.socket() as listener:  # something to reach, were the network open
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        build_class(root, submissions, listener.getsockname()[1])
        before = {p: digest(p) for p in (root / "source").rglob("*") if p.is_file()}
        honest = submissions / "honest_student" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        honest_before = digest(honest)
        # 8 s per cell: far above what an honest cell needs even on a loaded machine, short
        # enough that the looping scenarios stay cheap.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcomes = grade(
                [ASSIGNMENT],
                root=root,
                submissions=submissions,
                workers=2,
                timeout=8,
                warm=request.param == "warm",
            )
    return types.SimpleNamespace(
        root=root,
        outcomes={o.student: o for o in outcomes},
        source_before=before,
        honest=honest,
        honest_before=honest_before,
        warnings=[f"{w.category.__name__}: {w.message}" for w in caught],
    )


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_earns_what_it_deserves(graded_class, scenario):
    """Does each broken or hostile submission get exactly the score and status it deserves?"""
    expected = load_scenario(scenario).EXPECTED
    outcome = graded_class.outcomes[scenario]
    assert (outcome.status, outcome.score) == (expected["status"], expected["score"]), outcome
    if "reason" in expected:
        assert expected["reason"] in outcome.reason
        assert "\n" not in outcome.reason


@pytest.mark.slow
def test_honest_students_are_untouched(graded_class):
    """Do the honest students in the same run keep exactly their own scores?"""
    assert graded_class.outcomes["honest_student"].score == 8.0
    assert graded_class.outcomes["mistaken_student"].score == 4.0
    assert digest(graded_class.honest) == graded_class.honest_before


@pytest.mark.slow
def test_course_files_survive_the_run(graded_class):
    """Are source/ and the gradebook intact after hostile code ran?"""
    after = {p: digest(p) for p in (graded_class.root / "source").rglob("*") if p.is_file()}
    assert after == graded_class.source_before
    assert (graded_class.root / "gradebook.db").read_bytes()[:15] == b"SQLite format 3"


@pytest.mark.slow
def test_nobody_goes_missing_from_the_export(graded_class):
    """Does every student, broken or not, have a row in the export and in the outcomes?"""
    students = {"honest_student", "mistaken_student", *SCENARIOS}
    assert set(graded_class.outcomes) == students
    assert {r["student_id"] for r in score_rows(graded_class.root)} == students
    per_student = {}
    for row in cell_rows(graded_class.root):
        per_student[row["student_id"]] = per_student.get(row["student_id"], 0) + 1
    assert set(per_student.values()) == {7}  # every graded cell of the notebook, for everyone


@pytest.mark.slow
def test_the_run_raises_no_warnings(graded_class):
    """Does grading a hostile class print nothing alarming on the instructor's terminal?
    (nbgrader puts deleted test cells back without cell ids, which nbformat warns about
    and will one day refuse; the grader gives them ids.)"""
    assert graded_class.warnings == [], "\n".join(graded_class.warnings)


@pytest.mark.slow
def test_nothing_of_a_test_reaches_the_feedback(graded_class):
    """Does a submission that tries to quote the running test (its In[-1], an exception class
    named after it, a function whose name is it) get a feedback page with no test code?"""
    from autograder.feedback import feedback

    (page,) = [p for p in feedback(root=graded_class.root) if "quotes_the_tests" in p.parts]
    text = page.read_text()
    for quoted in ("expect_value", "HIDDEN TESTS", "hidden_x", "checks."):
        assert quoted not in text, quoted
    assert "likelihood_bernoulli is not answered yet" in text


@pytest.mark.slow
def test_no_exported_cell_reads_as_a_formula(graded_class):
    """Do the CSV files an instructor opens in a spreadsheet hold no cell that starts a
    formula, whatever the submissions raised?"""
    import csv

    from autograder.export import export
    from autograder.report import report

    written = [*export(root=graded_class.root), report(root=graded_class.root).items_csv]
    for path in written:
        with open(path, newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    if cell.startswith(("=", "+", "-", "@")):
                        float(cell)  # only a number may start so

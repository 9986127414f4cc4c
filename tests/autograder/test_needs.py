"""Does the trusted kernel leave out only the instructor's cells no test can depend on?

Each case is a small notebook: ordinary cells ("ordinary"), answer cells ("answer",
whose names are proxies in the trusted kernel) and test cells ("test"), in order. The
question is always which ordinary cells the trusted kernel must run.
"""

from __future__ import annotations

import pytest

from autograder.needs import needed

IMPORTS = "%matplotlib inline\nimport numpy as np\nimport matplotlib.pyplot as plt\n"


def kept(*cells: tuple[str, str], answers=("f",)) -> list[str]:
    """The sources of the ordinary cells the trusted kernel runs."""
    decisions = needed(list(cells), set(answers))
    return [
        source
        for (kind, source), keep in zip(cells, decisions, strict=True)
        if kind == "ordinary" and keep
    ]


def test_a_figure_the_tests_do_not_read_is_left_out():
    """Is a cell that only draws from data the tests never read left out, while the
    imports the tests use are kept?"""
    draw = "x = np.linspace(0, 1, 5)\nfig, ax = plt.subplots()\nax.plot(x, x**2)\nplt.show()"
    assert kept(
        ("ordinary", IMPORTS),
        ("ordinary", draw),
        ("answer", "def f(a):\n    return a"),
        ("test", "assert np.isclose(f(1.0), 1.0)"),
    ) == [IMPORTS]


def test_data_a_test_reads_is_kept_with_what_it_needs():
    """Is a cell binding a name a test reads kept, and the cell binding the names it reads
    in turn, down to a function the test calls and the globals its body reads?"""
    scale = "scale = 2.0"
    helper = "def expected(v):\n    return v * scale"
    data = "x = np.arange(3.0)"
    assert kept(
        ("ordinary", IMPORTS),
        ("ordinary", scale),
        ("ordinary", helper),
        ("ordinary", data),
        ("ordinary", "y = x + 1  # never read by a test"),
        ("test", "assert np.allclose(f(x), expected(x))"),
    ) == [IMPORTS, scale, helper, data]


@pytest.mark.parametrize(
    "change",
    [
        "x.sort()",
        "x[0] = 99.0",
        "np.random.shuffle(x)",
        "np.add(x, 1, out=x)",
        "x.fill(0.0)",
    ],
)
def test_a_cell_that_may_change_data_a_test_reads_is_kept(change):
    """Is a cell kept when it changes, in place, an object a later test reads?"""
    data = "x = np.array([3.0, 1.0, 2.0])"
    assert kept(
        ("ordinary", IMPORTS),
        ("ordinary", data),
        ("ordinary", change),
        ("test", "assert f(x)[0] == 1.0"),
    ) == [IMPORTS, data, change]


def test_a_change_through_another_name_is_kept():
    """Is a change made through an alias (a view, or the same object under another name)
    kept, with the cell that made the alias?"""
    data = "x = np.array([3.0, 1.0, 2.0])"
    alias = "y = x[:]"
    change = "y.sort()"
    assert kept(
        ("ordinary", IMPORTS),
        ("ordinary", data),
        ("ordinary", alias),
        ("ordinary", change),
        ("test", "assert f(x)[0] == 1.0"),
    ) == [IMPORTS, data, alias, change]


@pytest.mark.parametrize(
    "risky",
    [
        "np.random.seed(0)",
        "import warnings\nwarnings.filterwarnings('ignore')",
        "np.seterr(all='ignore')",
        "plt.rcParams['figure.dpi'] = 50",
        "%load_ext autoreload",
        "exec('z = 1')",
        "globals()['z'] = 1",
        "def g():\n    global z\n    z = 1",
        "def broken(:",
    ],
)
def test_a_cell_that_may_change_state_names_do_not_show_is_kept(risky):
    """Is a cell kept when it changes a library's state (a random generator's seed,
    warnings, NumPy's error handling, Matplotlib's settings), uses a magic, reflection,
    a global statement, or does not parse?"""
    assert kept(
        ("ordinary", IMPORTS),
        ("ordinary", risky),
        ("test", "assert f(np.random.rand()) >= 0"),
    ) == [IMPORTS, risky]


@pytest.mark.parametrize("reflective", ["assert f(1) == globals()['x']", "assert _ == 1"])
def test_a_test_that_reads_names_indirectly_keeps_every_cell(reflective):
    """Does a test that reads names through globals() or IPython's history keep every
    ordinary cell?"""
    cells = [("ordinary", IMPORTS), ("ordinary", "x = 1"), ("ordinary", "plt.plot([1])")]
    assert kept(*cells, ("test", reflective)) == [c for _, c in cells]


def test_calls_to_the_students_functions_are_left_out():
    """Is an instructor cell that only calls an answer (nbgrader's `squares(10)`) left
    out, so the student's function is not run a second time for nothing?"""
    assert (
        kept(
            ("answer", "def squares(n):\n    return [i * i for i in range(1, n + 1)]"),
            ("ordinary", "squares(10)"),
            ("test", "assert squares(1) == [1]"),
            answers=("squares",),
        )
        == []
    )


def test_a_name_bound_from_an_answer_is_kept_when_read():
    """Is an instructor cell that stores what an answer returns kept when a test reads it?"""
    store = "result = f(3)"
    assert kept(("ordinary", store), ("test", "assert result == 3")) == [store]

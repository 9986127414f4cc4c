"""Do the test helpers pass right answers, fail wrong ones, and explain why in a learner's words?"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell

from course import checks


def square(x):
    return x**2


def test_right_value_passes():
    """Does a correct result pass silently (and return None, so no partial score leaks)?"""
    assert checks.expect_value(square, 3.0, expected=9.0) is None


def test_wrong_value_fails_with_expected_got_and_hint():
    """Does a wrong result fail with what was called, expected, got, and the hint?"""
    with pytest.raises(AssertionError) as failure:
        checks.expect_value(square, 3.0, expected=10.0, hint="did you square it?")
    message = str(failure.value)
    assert "square(3.0)" in message
    assert "expected: 10.0" in message and "got:      9.0" in message
    assert "hint: did you square it?" in message


def test_forgotten_return_is_named():
    """Does a function that returns None get told it forgot to return?"""
    with pytest.raises(AssertionError, match="forget to `return`"):
        checks.expect_value(lambda x: None, 1.0, expected=1.0)


def test_array_instead_of_number_is_named():
    """Does a per-sample array, where one number is expected, get a message about combining?"""
    with pytest.raises(AssertionError, match="3 values instead of one number"):
        checks.expect_value(lambda x: x, np.ones(3), expected=1.0)


class FakesEquality:
    def __eq__(self, other):
        return True

    def __lt__(self, other):
        return True

    def __float__(self):
        return 12345.0


def test_object_faking_equality_cannot_pass():
    """Does an object whose == always says True still fail a value check?"""
    with pytest.raises(AssertionError):
        checks.expect_value(lambda: FakesEquality(), expected=1.0)
    with pytest.raises(AssertionError):
        checks.expect(FakesEquality(), what="w", expected="e", got="g")


@pytest.mark.parametrize(
    ("got", "expected"),
    [(1e308, math.inf), (math.nan, math.inf), (math.nan, 0.0), (-math.inf, 0.0)],
)
def test_infinities_and_nan_must_match_exactly(got, expected):
    """Is inf only matched by inf, and nan never accepted for a number?"""
    with pytest.raises(AssertionError):
        checks.expect_value(lambda: got, expected=expected)


def test_expected_infinity_and_nan_pass_when_matched():
    """Do -inf and inf results pass when they are what the contract asks for?"""
    checks.expect_value(lambda: -math.inf, expected=-math.inf)
    checks.expect_array(lambda: np.array([math.inf, 0.0]), expected=[math.inf, 0.0])


def test_array_shape_must_match():
    """Does an array of the wrong shape fail with both shapes in the message?"""
    with pytest.raises(AssertionError, match=r"shape \(3,\)"):
        checks.expect_array(lambda: np.zeros(2), expected=np.zeros(3))


def test_learner_function_cannot_change_the_test_data():
    """Does a function that modifies its input in place leave the caller's array intact?"""
    data = np.array([1.0, 2.0])

    def vandal(x):
        x[:] = 0
        return float(x.sum())

    checks.call(vandal, data)
    assert data.tolist() == [1.0, 2.0]


def test_numpy_warnings_from_learner_code_are_silenced(capfd):
    """Does a correct answer that evaluates 0 * log(0) along the way print nothing to stderr?"""

    def xlogx(p):
        return float(np.nansum(p * np.log(p)))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning escaping call() would raise here
        checks.expect_value(xlogx, np.array([0.0, 1.0]), expected=0.0)
    assert capfd.readouterr().err == ""


def test_checks_keep_trusted_references(monkeypatch):
    """Does replacing math.isclose and numpy.asarray after import leave the verdict honest?"""
    monkeypatch.setattr(math, "isclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "asarray", lambda *a, **k: np.array(1.0))
    with pytest.raises(AssertionError):
        checks.expect_value(square, 3.0, expected=10.0)


def test_long_arrays_are_described_briefly():
    """Does a failure message about a million samples stay short?"""
    text = checks.describe(np.zeros(10**6))
    assert "1000000 values" in text and len(text) < 80


def one_argument_log_pdf(x):
    return -0.5 * x**2


def mean_nll_passing_a_tuple(log_pdf, x, *params):
    return -float(np.mean(log_pdf(x, params)))  # the mistake: params as one tuple


def test_an_error_in_learner_code_fails_with_the_hint():
    """Does a function that raises get the test's hint, its error, and its own traceback?"""
    with pytest.raises(checks.CheckFailure) as failure:
        checks.expect_value(
            mean_nll_passing_a_tuple,
            one_argument_log_pdf,
            np.zeros(2),
            expected=0.0,
            hint="pass the parameters on with *params.",
        )
    message = str(failure.value)
    assert message.startswith("mean_nll_passing_a_tuple(one_argument_log_pdf, [0.0, 0.0])")
    assert "raised an error instead of returning" in message
    assert "expected: 0.0" in message
    assert "got:      TypeError: one_argument_log_pdf() takes 1 positional argument" in message
    assert "hint: pass the parameters on with *params." in message
    assert isinstance(failure.value.__cause__, TypeError)  # the learner's line stays visible


def test_an_error_in_a_property_check_is_named():
    """Does checks.call turn an error into a learner-worded failure too?"""
    with pytest.raises(checks.CheckFailure, match="ValueError: math domain error"):
        checks.call(math.log, 0.0)


def test_an_unanswered_exercise_still_raises_not_implemented():
    """Does NotImplementedError pass through, so an unanswered release notebook fails plainly?"""

    def unanswered(x):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.expect_value(unanswered, 1.0, expected=1.0)
    with pytest.raises(NotImplementedError):
        checks.call(unanswered, 1.0)


class UnprintableError(Exception):
    def __str__(self):
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (UnprintableError(), "got:      UnprintableError\n"),
        (ValueError("first line\n" + "x" * 500), "got:      ValueError: first line\n"),
        (ValueError("y" * 500), "got:      ValueError: " + "y" * 185 + "...\n"),
    ],
)
def test_an_error_is_shown_on_one_short_line(error, shown):
    """Does an error with a broken, multi-line or very long message still give one line?"""

    def raises():
        raise error

    with pytest.raises(checks.CheckFailure) as failure:
        checks.expect_value(raises, expected=1.0)
    assert shown in str(failure.value) + "\n"


@pytest.mark.parametrize("shape", ["number", "array"])
def test_returning_scipys_optimizer_result_is_named(shape):
    """Does returning minimize's whole result, not its .x, get a hint saying so?"""
    from scipy import optimize

    def fit():
        return optimize.minimize_scalar(lambda t: (t - 0.3) ** 2, bounds=(0, 1), method="bounded")

    check = checks.expect_value if shape == "number" else checks.expect_array
    with pytest.raises(checks.CheckFailure, match=r"return its `\.x`"):
        check(fit, expected=0.3 if shape == "number" else [0.3])


def test_a_tuple_result_is_split_into_its_parts():
    """Does to_tuple hand back the parts of a (w, sigma) result, tuple or list alike?"""
    w, sigma = checks.to_tuple((np.array([1.0, 2.0]), 0.5), ("w", "sigma"))
    assert np.array_equal(w, [1.0, 2.0]) and sigma == 0.5
    assert checks.to_tuple([1, 2], ("mu", "b")) == (1, 2)


@pytest.mark.parametrize("value", [None, 3.0, (1.0, 2.0, 3.0), np.array([1.0, 2.0]), "ab"])
def test_a_result_that_is_not_the_promised_tuple_is_named(value):
    """Does a result of the wrong shape fail with the tuple it should have been?"""
    with pytest.raises(checks.CheckFailure, match=r"\(w, sigma\)"):
        checks.to_tuple(value, ("w", "sigma"), what="fit(X, y)")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (-0.7316649689147774, "-0.731665"),
        (np.float64(1 / 3), "0.333333"),
        (2.0, "2.0"),
        (1e-300, "1e-300"),
        (math.inf, "inf"),
        (np.array([-0.7316649689147774, 1.0, math.nan]), "[-0.731665, 1.0, nan]"),
        (np.array([1, 0, 1]), "[1, 0, 1]"),
        (np.array([[0.123456789, 1.0], [2.0, 3.0]]), "[[0.123457, 1.0], [2.0, 3.0]]"),
        ((0.1234567891, 2.5), "(0.123457, 2.5)"),
        (np.arange(20) / 3, "<array of 20 values: [0.0, 0.333333, 0.666667, ...]>"),
        (np.array(0.123456789), "0.123457"),
    ],
)
def test_numbers_show_six_significant_digits(value, shown):
    """Does every number in a message, inside arrays and tuples too, show 6 significant digits?"""
    assert checks.describe(value) == shown


def _rendered(failure: BaseException) -> list[str]:
    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in failure._render_traceback_()]


def test_a_failure_renders_as_its_message_alone():
    """Does IPython show a failed check as its message (called, expected, got, hint), no frames?"""
    with pytest.raises(checks.CheckFailure) as failure:
        checks.expect_value(square, 3.0, expected=10.0, hint="did you square it?")
    lines = _rendered(failure.value)
    assert lines == [
        "CheckFailure: square(3.0) returned the wrong value.",
        "  expected: 10.0",
        "  got:      9.0",
        "  hint: did you square it?",
    ]


def test_returning_an_optimizer_result_renders_without_a_chained_error():
    """Does a result that is not a number render in a few lines, with no "During handling"?"""
    from scipy import optimize

    def fit():
        return optimize.minimize_scalar(lambda t: (t - 0.3) ** 2, bounds=(0, 1), method="bounded")

    with pytest.raises(checks.CheckFailure) as failure:
        checks.expect_value(fit, expected=0.3)
    assert failure.value.__suppress_context__
    lines = _rendered(failure.value)
    assert len(lines) <= checks.MAX_LINES and "return its `.x`" in lines[-1]


def test_a_long_message_is_cut_to_the_most_lines_a_failure_shows():
    """Does a check whose message runs long still render in at most MAX_LINES lines?"""
    failure = checks.CheckFailure("\n".join(f"line {i}" for i in range(20)))
    assert len(failure._render_traceback_()) == checks.MAX_LINES


@pytest.fixture
def shell():
    """An IPython shell, as in a notebook's kernel: cells are files IPython knows."""
    shell = InteractiveShell.instance()
    shell.run_cell("import numpy as np\nfrom course import checks", store_history=True)
    yield shell
    InteractiveShell.clear_instance()


def _run(shell, source: str) -> BaseException | None:
    result = shell.run_cell(source, store_history=True)
    return result.error_in_exec


def test_the_learners_own_line_is_shown_when_their_code_raised(shell, capsys):
    """Does a failure caused by an error in the learner's cell show that cell's line, and no
    line of the test cell or of NumPy?"""
    _run(
        shell,
        "def mean_nll(log_pdf, x, *params):\n"
        '    """the mistake: params as one tuple"""\n'
        "    return -np.mean(log_pdf(x, params))\n",
    )
    error = _run(
        shell,
        "def normal_log_pdf(x, mu, sigma):\n"
        "    return -0.5 * ((x - mu) / sigma) ** 2\n"
        "checks.expect_value(mean_nll, normal_log_pdf, np.zeros(2), 0.0, 1.0, expected=0.5,\n"
        "                    hint='pass the parameters on with *params.')\n",
    )
    capsys.readouterr()
    assert isinstance(error, checks.CheckFailure)
    lines = _rendered(error)
    assert len(lines) <= checks.MAX_LINES
    assert lines[-2].startswith("  your code, Cell In[") and lines[-2].endswith("in mean_nll:")
    assert lines[-1] == "    return -np.mean(log_pdf(x, params))"
    assert "TypeError: normal_log_pdf() missing 1 required positional argument" in lines[2]


def test_an_unanswered_exercise_renders_as_one_line_naming_it(shell, capsys):
    """Does NotImplementedError stay itself (the mark of an unanswered exercise) but show one
    line naming the function to write, even when another function calls it?"""
    _run(shell, "def nll(x, theta):\n    raise NotImplementedError()\n")
    _run(shell, "def fit(x):\n    return nll(x, 0.5)\n")
    error = _run(shell, "checks.expect_value(fit, np.zeros(2), expected=0.5)\n")
    capsys.readouterr()
    assert type(error) is NotImplementedError
    (line,) = _rendered(error)
    assert line.startswith("NotImplementedError: nll is not written yet")


def test_the_graders_note_stays_the_last_line():
    """Does an error the grader rebuilt keep its note last, where the feedback page reads it?"""

    def proxied(x):
        error = NotImplementedError()
        error.add_note("(raised by the submission's code, in proxied)")
        raise error

    with pytest.raises(NotImplementedError) as failure:
        checks.expect_value(proxied, 1.0, expected=1.0)
    lines = _rendered(failure.value)
    assert lines[0].startswith("NotImplementedError: proxied is not written yet")
    assert lines[-1] == "(raised by the submission's code, in proxied)"


def test_a_known_mistake_gets_the_hint_that_names_it():
    """Does a result equal to a listed mistake's value get that mistake's hint, and any other
    wrong result (or an error) the general hint?"""

    def halves(x):
        return x / 2

    mistakes = [(4.5, "you halved it"), (-9.0, "Did you forget the minus sign?")]
    with pytest.raises(checks.CheckFailure, match="hint: you halved it"):
        checks.expect_value(halves, 9.0, expected=81.0, hint="square it", mistakes=mistakes)
    with pytest.raises(checks.CheckFailure, match="hint: square it"):
        checks.expect_value(halves, 10.0, expected=100.0, hint="square it", mistakes=mistakes)
    with pytest.raises(checks.CheckFailure, match="hint: you halved it"):
        checks.expect_array(
            halves,
            np.array([1.0, 3.0]),
            expected=[1.0, 9.0],
            mistakes=[([0.5, 1.5], "you halved it")],
        )
    with pytest.raises(checks.CheckFailure, match="hint: square it"):
        checks.expect_value(math.log, -1.0, expected=1.0, hint="square it", mistakes=mistakes)


def test_a_multi_line_result_is_described_by_its_type():
    """Does a result whose repr spans lines (SciPy's optimizer result) stay on one line?"""
    from scipy import optimize

    result = optimize.minimize_scalar(lambda t: (t - 0.3) ** 2, bounds=(0, 1), method="bounded")
    assert checks.describe(result) == "<an object of type OptimizeResult>"

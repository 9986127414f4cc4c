"""Do the test helpers pass right answers, fail wrong ones, and explain why in a learner's words?"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

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
    assert "square(3)" in message
    assert "expected: 10" in message and "got:      9" in message
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
    assert "expected: 0" in message
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

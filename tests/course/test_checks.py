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

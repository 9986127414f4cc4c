"""Does the grader's tripwire notice a tampered environment, and only a tampered one?"""

import math

import numpy as np
import pytest

from course import checks, integrity


@pytest.fixture
def armed():
    integrity.arm()
    yield
    integrity.arm()


def test_untouched_environment_passes(armed):
    """Does an environment nobody modified pass, even after new names appear in a module?"""
    np.course_test_marker = 1
    try:
        integrity.verify()
    finally:
        del np.course_test_marker


@pytest.mark.parametrize(
    ("module", "name"), [(np, "allclose"), (math, "isclose"), (checks, "expect_value"), (np, "sum")]
)
def test_replaced_function_is_detected(armed, monkeypatch, module, name):
    """Does replacing a library function or a check helper fail verification, naming it?"""
    monkeypatch.setattr(module, name, lambda *a, **k: True)
    with pytest.raises(AssertionError, match=name):
        integrity.verify()


def test_replaced_builtin_is_detected(armed, monkeypatch):
    """Does replacing a builtin such as float fail verification?"""
    import builtins

    monkeypatch.setattr(builtins, "float", lambda x: 0.0)
    with pytest.raises(AssertionError, match=r"builtins\.float"):
        integrity.verify()

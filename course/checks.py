"""Checks that test cells use to fail with a message written for a learner.

A failing check raises :class:`CheckFailure` (an ``AssertionError``) whose message says
what was called, what was expected, what came back, and a hint::

    likelihood_bernoulli(x=[1, 0, 1, 1], theta=0.6) returned the wrong value.
      expected: 0.0864
      got:      0.216
      hint: a flip of 0 contributes (1 - theta), not theta.

Design notes
------------
* Every comparison converts the learner's result to plain floats first (``float`` or
  ``numpy.asarray(..., dtype=float)``), so an object that fakes ``==`` or ``<`` cannot
  pass a check.
* The functions the checks rely on (``float``, ``math.isclose``, ``numpy.asarray``, ...)
  are captured when this module is imported, which happens in a notebook's first cell,
  before any learner code runs. Replacing ``numpy.isclose`` later changes nothing here.
* The learner's function is called with NumPy floating-point warnings silenced: a
  correct answer that evaluates ``0 * log(0)`` along the way must not be marked wrong
  because a warning reached stderr (nbgrader scores any stderr output as a failure).
* An error raised by the learner's function fails the check with the same kind of
  message (what was called, what was expected, the error, the hint), chained to the
  original error so the traceback still points at the learner's line.
  ``NotImplementedError``, the mark of an unanswered exercise, passes through unchanged.
"""

from __future__ import annotations

import builtins
import math
import warnings

import numpy as np

__all__ = [
    "CheckFailure",
    "call",
    "describe",
    "expect",
    "expect_array",
    "expect_value",
    "to_array",
    "to_float",
    "to_tuple",
]

# Trusted references, taken before any learner code runs (see the module docstring).
_float = builtins.float
_isinstance = builtins.isinstance
_len = builtins.len
_repr = builtins.repr
_zip = builtins.zip
_all = builtins.all
_bool = builtins.bool
_getattr = builtins.getattr
_callable = builtins.callable
_isclose = math.isclose
_isnan = math.isnan
_isinf = math.isinf
_asarray = np.asarray
_errstate = np.errstate
_array_isnan = np.isnan
_array_equal = np.array_equal
_abs = np.abs
_catch_warnings = warnings.catch_warnings
_simplefilter = warnings.simplefilter
_ndarray = np.ndarray
_tuple = builtins.tuple
_list = builtins.list
_type = builtins.type
_str = builtins.str
_Exception = builtins.Exception
_NotImplementedError = builtins.NotImplementedError


class CheckFailure(AssertionError):
    """A check failed; the message is written for the learner."""


def describe(value) -> str:
    """Return a short, readable description of an argument or a result.

    Small arrays are shown in full, long ones by their length and first values, so a
    failure message stays one screen long even for ``n = 10**6``.
    """
    if _isinstance(value, _ndarray):
        if value.ndim == 1 and value.size <= 8:
            return _repr(value.tolist())
        if value.ndim == 1:
            head = ", ".join(_repr(v) for v in value[:3].tolist())
            return f"<array of {value.size} values: [{head}, ...]>"
        return f"<array of shape {value.shape}>"
    if _isinstance(value, _float):
        return f"{value:.6g}"
    name = _getattr(value, "__qualname__", None) or _getattr(value, "__name__", None)
    if _callable(value) and _isinstance(name, str):
        owner = _getattr(_getattr(value, "__self__", None), "name", None)  # scipy.stats.norm.logpdf
        return f"{owner}.{name.rsplit('.', 1)[-1]}" if _isinstance(owner, str) else name
    text = _repr(value)
    return text if _len(text) <= 60 else text[:57] + "..."


def _signature(function, args, kwargs) -> str:
    name = _getattr(function, "__name__", "your function")
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def call(function, *args, **kwargs):
    """Call the learner's ``function(*args, **kwargs)`` with NumPy warnings silenced.

    Arrays are copied first, so a function that modifies its input in place cannot
    change the data the next check uses. An error the function raises becomes a
    :class:`CheckFailure` that names it; ``NotImplementedError`` (an unanswered
    exercise) propagates unchanged.
    """
    return _call(function, args, kwargs, expected="a result", hint="")


def _call(function, args, kwargs, *, expected: str, hint: str):
    args = tuple(a.copy() if _isinstance(a, _ndarray) else a for a in args)
    try:
        with _catch_warnings():
            _simplefilter("ignore")
            with _errstate(all="ignore"):
                return function(*args, **kwargs)
    except _NotImplementedError:
        raise
    except _Exception as error:
        what = f"{_signature(function, args, kwargs)} raised an error instead of returning."
        raise _failure(what, expected, _error_text(error), hint) from error


def _error_text(error: BaseException) -> str:
    """``"TypeError: f() takes 1 positional argument but 2 were given"``, on one line."""
    name = _getattr(_type(error), "__name__", None)
    name = name if _isinstance(name, _str) else "an error"
    try:
        detail = _str(error)
    except _Exception:  # a learner's exception class whose __str__ itself fails
        detail = ""
    lines = detail.strip().splitlines() if _isinstance(detail, _str) else []
    text = f"{name}: {lines[0]}" if lines else name
    return text if _len(text) <= 200 else text[:197] + "..."


def _failure(what: str, expected: str, got: str, hint: str) -> CheckFailure:
    lines = [what, f"  expected: {expected}", f"  got:      {got}"]
    if hint:
        lines.append(f"  hint: {hint}")
    return CheckFailure("\n".join(lines))


def _fail(what: str, expected: str, got: str, hint: str):
    raise _failure(what, expected, got, hint)


def _not_numbers(value) -> str:
    """A hint for a result that is not numbers: SciPy's optimizer result is the usual one."""
    if _getattr(value, "x", None) is not None and _getattr(value, "fun", None) is not None:
        return "that is SciPy's whole optimizer result; return its `.x`, the minimizer."
    return ""


def to_float(value, *, what: str = "your function") -> float:
    """Convert a learner's result to a Python float, or fail with a learner-worded message."""
    if value is None:
        _fail(f"{what} returned None.", "a number", "None", "did you forget to `return` it?")
    try:
        with _catch_warnings():
            _simplefilter("ignore")
            array = _asarray(value, dtype=_float)
    except (TypeError, ValueError):
        _fail(f"{what} did not return a number.", "a number", describe(value), _not_numbers(value))
    if array.size != 1:
        _fail(
            f"{what} returned {array.size} values instead of one number.",
            "a single number",
            describe(array),
            "combine the per-sample values into one number (a product or a sum).",
        )
    return _float(array.reshape(-1)[0])


def to_array(value, *, what: str = "your function") -> np.ndarray:
    """Convert a learner's result to a float array, or fail with a learner-worded message."""
    if value is None:
        _fail(f"{what} returned None.", "an array", "None", "did you forget to `return` it?")
    try:
        with _catch_warnings():
            _simplefilter("ignore")
            return _asarray(value, dtype=_float)
    except (TypeError, ValueError):
        hint = _not_numbers(value)
        _fail(f"{what} did not return an array of numbers.", "an array", describe(value), hint)


def to_tuple(value, names, *, what: str = "your function") -> tuple:
    """Split a learner's result into the parts ``names`` promises, or fail for a learner.

    For a function that returns several things, ``return w, sigma``: ``names`` is
    ``("w", "sigma")``. A tuple or a list of that length passes, its parts unchanged
    (convert each with :func:`to_float` or :func:`to_array`); anything else fails with a
    message that says what shape of result was expected.
    """
    names = _tuple(names)
    shape = f"({', '.join(names)})"
    if value is None:
        hint = "did you forget to `return` it?"
        _fail(f"{what} returned None.", f"a tuple {shape}", "None", hint)
    if not _isinstance(value, (_tuple, _list)) or _len(value) != _len(names):
        _fail(
            f"{what} did not return a tuple {shape}.",
            f"a tuple of {_len(names)} values, {shape}",
            describe(value),
            f"end your function with `return {', '.join(names)}`.",
        )
    return _tuple(value)


def _same_float(got: float, expected: float, rtol: float, atol: float) -> bool:
    if _isnan(expected):
        return _isnan(got)
    if _isinf(expected) or _isinf(got):
        return got == expected
    return _isclose(got, expected, rel_tol=rtol, abs_tol=atol)


def expect_value(
    function, *args, expected, hint: str = "", rtol: float = 1e-7, atol: float = 1e-12, **kwargs
) -> None:
    """Call ``function(*args, **kwargs)`` and check that it returns the number ``expected``.

    Infinite expectations must be matched exactly (``-inf`` is not ``0.0``), and ``nan``
    is never accepted for a finite or infinite expectation. Returns None, so a check left
    last in a test cell gives nbgrader no number to read as a partial score.
    """
    what = _signature(function, args, kwargs)
    expected = _float(expected)
    result = _call(function, args, kwargs, expected=describe(expected), hint=hint)
    got = to_float(result, what=what)
    if not _same_float(got, expected, rtol, atol):
        _fail(f"{what} returned the wrong value.", describe(expected), describe(got), hint)


def expect_array(
    function, *args, expected, hint: str = "", rtol: float = 1e-7, atol: float = 1e-12, **kwargs
) -> None:
    """Call ``function(*args, **kwargs)`` and check that it returns the array ``expected``.

    The shape must match exactly; values are compared elementwise as in
    :func:`expect_value`. Returns None, like :func:`expect_value`.
    """
    what = _signature(function, args, kwargs)
    expected = _asarray(expected, dtype=_float)
    result = _call(function, args, kwargs, expected=describe(expected), hint=hint)
    got = to_array(result, what=what)
    if got.shape != expected.shape:
        _fail(
            f"{what} returned an array of the wrong shape.",
            f"shape {expected.shape}",
            f"shape {got.shape}",
            hint,
        )
    pairs = _zip(got.reshape(-1).tolist(), expected.reshape(-1).tolist(), strict=True)
    if not _all(_same_float(g, e, rtol, atol) for g, e in pairs):
        _fail(f"{what} returned the wrong values.", describe(expected), describe(got), hint)


def expect(condition, *, what: str, expected: str, got, hint: str = "") -> None:
    """Fail with a learner-worded message unless ``condition`` is exactly ``True``.

    Use it for properties ("the likelihood doubles ..."); ``condition`` must be a real
    ``bool`` (or NumPy bool), so an object that fakes truthiness cannot pass.
    """
    if not (_isinstance(condition, (_bool, np.bool_)) and _bool(condition)):
        _fail(what, expected, got if _isinstance(got, str) else describe(got), hint)

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
  original error. ``NotImplementedError``, the mark of an unanswered exercise, passes
  through as itself, so an untouched notebook fails with it and nothing else.
* A failure is shown as its message alone. IPython (JupyterLab, Validate, the grader's
  kernel) asks an exception for ``_render_traceback_()`` before formatting a traceback;
  :class:`CheckFailure` answers with the message, plus the learner's own line when their
  code raised, and nothing of this module's frames or of the chained error: at most
  :data:`MAX_LINES` lines. An unanswered exercise's ``NotImplementedError`` gets one line
  saying which function to write. It is still an error: nbgrader and the grader count
  the test as failed exactly as before; only what is printed changes.
* Numbers in messages have 6 significant digits, inside arrays too.
"""

from __future__ import annotations

import builtins
import linecache
import math
import sys
import warnings

import numpy as np

__all__ = [
    "MAX_LINES",
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
_any = builtins.any
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
_int = builtins.int
_getframe = sys._getframe
_getline = linecache.getline

#: The most lines a failure shows (IPython's rendering, Validate, the grader's output).
MAX_LINES = 8
_RED, _RESET = "\x1b[0;31m", "\x1b[0m"
#: Items of an array or list shown in full; longer ones show their first few.
_SHOWN_ITEMS = 8


class CheckFailure(AssertionError):
    """A check failed; the message is written for the learner.

    IPython renders it as the message alone (see the module docstring): what was called,
    expected, got, the hint, and the learner's own line when their code raised.
    """

    #: ``(cell, line number, function, source line)`` of the learner's code that raised,
    #: found when the failure is made (the frames are gone by the time it is shown).
    learner_line: tuple | None = None

    def _render_traceback_(self) -> list[str]:
        lines = _str(self).splitlines() or [""]
        lines[0] = f"{_RED}{_type(self).__name__}{_RESET}: {lines[0]}"
        if self.learner_line is not None:
            cell, number, function, text = self.learner_line
            lines.append(f"  your code, {cell}, line {number}, in {function}:")
            lines.append(f"    {text}")
        return _clip(lines + _notes(self))


def _clip(lines: list[str]) -> list[str]:
    if _len(lines) <= MAX_LINES:
        return lines
    return lines[: MAX_LINES - 1] + ["  ..."]


def _notes(error: BaseException) -> list[str]:
    """``add_note`` texts (the grader notes which submission function raised an error);
    kept last, where the grader's feedback looks for them."""
    notes = _getattr(error, "__notes__", None)
    if not _isinstance(notes, _list):
        return []
    return [note for note in notes if _isinstance(note, _str)]


def _format_number(value) -> str:
    if _isinstance(value, (_bool, np.bool_)):
        return _repr(_bool(value))
    if _isinstance(value, (_int, np.integer)):
        return _repr(_int(value))
    if _isinstance(value, (_float, np.floating)):
        text = f"{_float(value):.6g}"
        # A whole float keeps its ".0", so float data read as floats, int data as ints.
        return text if _any(c in text for c in ".ein") else text + ".0"
    return describe(value)


def _describe_items(items, opening: str, closing: str, depth: int) -> str:
    if _len(items) > _SHOWN_ITEMS:
        head = ", ".join(_describe(v, depth + 1) for v in items[:3])
        return f"{opening}{head}, ... ({_len(items)} values){closing}"
    text = ", ".join(_describe(v, depth + 1) for v in items)
    return f"{opening}{text}{',' if _len(items) == 1 and opening == '(' else ''}{closing}"


def _describe(value, depth: int) -> str:
    if depth > 2:
        return "..."
    if _isinstance(value, _ndarray) and value.ndim == 0:
        return _format_number(value[()])
    if _isinstance(value, _ndarray) and value.ndim == 1:
        if value.size > _SHOWN_ITEMS:
            head = ", ".join(_format_number(v) for v in value[:3].tolist())
            return f"<array of {value.size} values: [{head}, ...]>"
        return _describe_items(value.tolist(), "[", "]", depth)
    if _isinstance(value, _ndarray):
        if value.ndim == 2 and value.size <= 2 * _SHOWN_ITEMS and value.shape[1] <= _SHOWN_ITEMS:
            rows = ", ".join(_describe_items(row, "[", "]", depth + 1) for row in value.tolist())
            return f"[{rows}]"
        return f"<array of shape {value.shape}>"
    if _type(value) in (_list, _tuple):
        opening, closing = ("[", "]") if _type(value) is _list else ("(", ")")
        return _describe_items(value, opening, closing, depth)
    if _isinstance(value, (_bool, np.bool_, _int, np.integer, _float, np.floating)):
        return _format_number(value)
    return _describe_other(value)


def describe(value) -> str:
    """Return a short, readable description of an argument or a result.

    Numbers have 6 significant digits, inside arrays and lists too. Small arrays are
    shown in full, long ones by their length and first values, so a failure message stays
    one screen long even for ``n = 10**6``.
    """
    return _describe(value, 0)


def _describe_other(value) -> str:
    name = _getattr(value, "__qualname__", None) or _getattr(value, "__name__", None)
    if _callable(value) and _isinstance(name, str):
        owner = _getattr(_getattr(value, "__self__", None), "name", None)  # scipy.stats.norm.logpdf
        return f"{owner}.{name.rsplit('.', 1)[-1]}" if _isinstance(owner, str) else name
    text = _repr(value)
    if "\n" in text:  # SciPy's optimizer result, a DataFrame: its type says enough
        return f"<an object of type {_getattr(_type(value), '__name__', 'object')}>"
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
    except _NotImplementedError as error:
        _shown_as_unanswered(error, function)
        raise
    except _Exception as error:
        what = f"{_signature(function, args, kwargs)} raised an error instead of returning."
        failure = _failure(what, expected, _error_text(error), hint)
        failure.learner_line = _learner_line(error)
        raise failure from error


def _cells() -> dict:
    """IPython's map from the file name of each cell run so far to its execution count
    (empty outside IPython): the learner's code lives in those files."""
    shell = _getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    names = _getattr(_getattr(shell, "compile", None), "_filename_map", None)
    return names if _isinstance(names, dict) else {}


def _running_cell(cells: dict) -> str | None:
    """The file of the cell running now: the test cell, when a check is failing."""
    frame = _getframe(1)
    while frame is not None:
        if frame.f_code.co_filename in cells:
            return frame.f_code.co_filename
        frame = frame.f_back
    return None


def _learner_frames(error: BaseException) -> list:
    """Frames of the error's traceback that run code from a cell other than the running
    (test) cell, outermost first: the learner's function and whatever of theirs it called.
    In the grader's kernel the learner's code runs elsewhere, so there are none."""
    cells = _cells()
    if not cells:
        return []
    test_cell = _running_cell(cells)
    frames, tb = [], error.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in cells and filename != test_cell:
            frames.append((filename, tb.tb_lineno, tb.tb_frame.f_code.co_name, cells[filename]))
        tb = tb.tb_next
    return frames


def _learner_line(error: BaseException) -> tuple | None:
    """``(cell, line number, function, source line)`` where the learner's code raised."""
    try:
        frames = _learner_frames(error)
        if not frames:
            return None
        filename, number, function, count = frames[-1]
        text = _getline(filename, number).strip()
        return (f"Cell In[{count}]", number, function, text[:160])
    except _Exception:  # never let locating the line hide the failure itself
        return None


def _shown_as_unanswered(error: BaseException, function) -> None:
    """Give an unanswered exercise's NotImplementedError a one-line rendering that names
    the function still to write (the deepest of the learner's functions that raised it:
    a fit that calls an unanswered nll names the nll)."""
    try:
        frames = _learner_frames(error)
        name = frames[-1][2] if frames else _getattr(function, "__name__", "this function")
        text = (
            f"{_RED}NotImplementedError{_RESET}: {name} is not written yet: "
            "replace its `raise NotImplementedError()` with your code."
        )
        lines = [text, *_notes(error)]
        error._render_traceback_ = lambda: _clip(lines)
    except _Exception:  # an exception object that takes no attributes: show it as it is
        pass


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
    """A hint for a result that is not numbers: SciPy's optimizer result is the usual one
    (itself in the learner's kernel; named by its type when the grader's tests call the
    function from another kernel, where only plain data arrives)."""
    optimizer_result = _getattr(value, "type_name", None) == "OptimizeResult" or (
        _getattr(value, "x", None) is not None and _getattr(value, "fun", None) is not None
    )
    if optimizer_result:
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
        hint = _not_numbers(value)
        raise _failure(
            f"{what} did not return a number.", "a number", describe(value), hint
        ) from None
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
        what = f"{what} did not return an array of numbers."
        raise _failure(what, "an array", describe(value), hint) from None


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


def _same_values(got, expected, rtol: float, atol: float) -> bool:
    """Same shape and every value the same (in the sense of :func:`_same_float`)."""
    if got.shape != expected.shape:
        return False
    pairs = _zip(got.reshape(-1).tolist(), expected.reshape(-1).tolist(), strict=True)
    return _all(_same_float(g, e, rtol, atol) for g, e in pairs)


def _named_mistake(got, mistakes, hint: str, rtol: float, atol: float) -> str:
    """The hint of the first known mistake whose value ``got`` is, else ``hint``.

    Mistake values are usually computed another way than the learner's code computed
    them, so they are matched to at least 6 significant digits.
    """
    rtol = rtol if rtol > 1e-6 else 1e-6
    for value, text in mistakes:
        try:
            value = _asarray(value, dtype=_float)
        except (TypeError, ValueError):
            continue
        if _same_values(_asarray(got, dtype=_float), value, rtol, atol):
            return text
    return hint


def expect_value(
    function,
    *args,
    expected,
    hint: str = "",
    mistakes=(),
    rtol: float = 1e-7,
    atol: float = 1e-12,
    **kwargs,
) -> None:
    """Call ``function(*args, **kwargs)`` and check that it returns the number ``expected``.

    Infinite expectations must be matched exactly (``-inf`` is not ``0.0``), and ``nan``
    is never accepted for a finite or infinite expectation. Returns None, so a check left
    last in a test cell gives nbgrader no number to read as a partial score.

    Parameters
    ----------
    hint : str
        Shown when the result is wrong, or the function raised an error.
    mistakes : sequence of (value, hint)
        The values common mistakes return here, each with the hint that names it: a
        result equal to one of them gets that hint instead of ``hint``, so the first
        failing check tells the learner which mistake they made.
    """
    what = _signature(function, args, kwargs)
    expected = _float(expected)
    result = _call(function, args, kwargs, expected=describe(expected), hint=hint)
    got = to_float(result, what=what)
    if not _same_float(got, expected, rtol, atol):
        hint = _named_mistake(got, mistakes, hint, rtol, atol)
        _fail(f"{what} returned the wrong value.", describe(expected), describe(got), hint)


def expect_array(
    function,
    *args,
    expected,
    hint: str = "",
    mistakes=(),
    rtol: float = 1e-7,
    atol: float = 1e-12,
    **kwargs,
) -> None:
    """Call ``function(*args, **kwargs)`` and check that it returns the array ``expected``.

    The shape must match exactly; values are compared elementwise as in
    :func:`expect_value`, and ``mistakes`` works as there. Returns None, like
    :func:`expect_value`.
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
            _named_mistake(got, mistakes, hint, rtol, atol),
        )
    if not _same_values(got, expected, rtol, atol):
        hint = _named_mistake(got, mistakes, hint, rtol, atol)
        _fail(f"{what} returned the wrong values.", describe(expected), describe(got), hint)


def expect(condition, *, what: str, expected: str, got, hint: str = "") -> None:
    """Fail with a learner-worded message unless ``condition`` is exactly ``True``.

    Use it for properties ("the likelihood doubles ..."); ``condition`` must be a real
    ``bool`` (or NumPy bool), so an object that fakes truthiness cannot pass.
    """
    if not (_isinstance(condition, (_bool, np.bool_)) and _bool(condition)):
        _fail(what, expected, got if _isinstance(got, str) else describe(got), hint)

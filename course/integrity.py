"""Detect a grading environment that learner code has modified (used by the grader).

The grader runs :func:`arm` in a cell of its own before any learner code, and
:func:`verify` at the start of every test cell. ``arm`` records the identity of every
public attribute of the modules tests rely on (``builtins``, ``math``, NumPy, SciPy's
``special`` and ``stats``, ``course.checks``) and of the interpreter hooks that decide what
a cell's output looks like (IPython's AST and input transformers, ``sys.displayhook``,
the shell's ``showtraceback``, trace and profile functions).
``verify`` fails the test cell when any of them has been replaced since: a test cannot
trust a comparison made with a monkeypatched ``numpy.isclose``, so it earns no points.

This is a tripwire, not a wall: code determined to defeat it can, since it runs in the
same interpreter. It turns the common tampering (replacing a library function, a check
helper or an output hook) into a zero with a clear message instead of stolen points.
"""

from __future__ import annotations

import builtins
import importlib
import sys
from types import ModuleType as _ModuleType

_WATCHED_MODULES = (
    "builtins",
    "math",
    "numpy",
    "numpy.linalg",
    "numpy.testing",
    "scipy.special",
    "scipy.stats",
    "scipy.optimize",
    "course.checks",
    "course.integrity",
)
# This module's own state, which arm() sets: watched by what it holds, not by identity.
_OWN_STATE = frozenset({"_snapshot", "_hooks", "_modules"})
# The names test cells call watched modules by (the notebooks' import cell binds them).
_TEST_NAMES = {
    "checks": "course.checks",
    "np": "numpy",
    "math": "math",
    "stats": "scipy.stats",
    "special": "scipy.special",
    "optimize": "scipy.optimize",
}
# The kernel itself swaps these per request (input() is forwarded to the front end;
# `_` holds the last result).
_VOLATILE_BUILTINS = frozenset({"input", "raw_input", "_", "__", "___"})
_id = id
_getattr = getattr
_dir = dir
_sorted = sorted
_isinstance = isinstance
_snapshot: dict[str, dict[str, int]] | None = None
_hooks: dict[str, tuple[int, ...]] | None = None
_modules: dict[str, _ModuleType] = {}


class EnvironmentModified(AssertionError):
    """Learner code replaced something the tests rely on."""


def _module_identities(name: str) -> dict[str, int]:
    # Submodules are skipped: SciPy creates some lazily, and their own functions are
    # watched through their own entry.
    module = _modules.get(name) or sys.modules.get(name) or importlib.import_module(name)
    identities = {}
    for attribute in _dir(module):
        if attribute.startswith("__") and name != "builtins":
            continue
        if name == "builtins" and attribute in _VOLATILE_BUILTINS:
            continue
        if name == "course.integrity" and attribute in _OWN_STATE:
            continue
        value = _getattr(module, attribute, None)
        if not _isinstance(value, _ModuleType):
            identities[attribute] = _id(value)
    return identities


def _hook_identities() -> dict[str, tuple[int, ...]]:
    hooks = {
        "sys.displayhook": (_id(sys.displayhook),),
        "sys.settrace": (_id(sys.gettrace()),),
        "sys.setprofile": (_id(sys.getprofile()),),
    }
    shell = _getattr(builtins, "get_ipython", lambda: None)()
    if shell is not None:
        hooks["IPython ast_transformers"] = tuple(_id(t) for t in shell.ast_transformers)
        hooks["IPython input_transformers_post"] = tuple(
            _id(t) for t in shell.input_transformers_post
        )
        hooks["IPython input_transformers_cleanup"] = tuple(
            _id(t) for t in shell.input_transformers_cleanup
        )
        hooks["IPython input_transformer_manager"] = (_id(shell.input_transformer_manager),)
        hooks["IPython showtraceback"] = (_id(shell.__dict__.get("showtraceback")),)
        hooks["IPython run_cell"] = (_id(shell.__dict__.get("run_cell")),)
    return hooks


def _user_namespace() -> dict:
    shell = _getattr(builtins, "get_ipython", lambda: None)()
    return shell.user_ns if shell is not None else {}


def arm() -> None:
    """Record the trusted state, once, before any learner code runs; later calls (from
    learner code, to take tampering into the snapshot) change nothing."""
    global _snapshot, _hooks, _modules
    if _snapshot is not None:
        return
    _modules = {name: importlib.import_module(name) for name in _WATCHED_MODULES}
    _snapshot = {name: _module_identities(name) for name in _WATCHED_MODULES}
    _hooks = _hook_identities()


def changes() -> list[str]:
    """What has been replaced or removed since :func:`arm`, as readable names."""
    if _snapshot is None or _hooks is None:
        return ["the integrity snapshot was never taken"]
    found = []
    for name, before in _snapshot.items():
        now = _module_identities(name)
        # Names added since are harmless; a replaced or deleted one is not.
        for attribute in _sorted(before):
            if before[attribute] != now.get(attribute):
                found.append(f"{name}.{attribute}")
    now_hooks = _hook_identities()
    found += [hook for hook, identity in _hooks.items() if now_hooks.get(hook) != identity]
    return found


def verify() -> None:
    """Fail with a clear message if the watched environment has changed since :func:`arm`.

    Module names the notebook imported that learner code has rebound (``checks = Fake()``)
    are put back first: a learner's variable may shadow a module name by accident, and
    the test must run with the real module either way.
    """
    namespace = _user_namespace()
    for name, module in _TEST_NAMES.items():
        if name in namespace and _modules and namespace[name] is not _modules[module]:
            namespace[name] = _modules[module]
    modified = changes()
    if modified:
        shown = ", ".join(modified[:5]) + (" ..." if len(modified) > 5 else "")
        raise EnvironmentModified(
            f"the grading environment was modified before this test ({shown}); "
            "a test cannot trust its tools after that, so it earns no points."
        )

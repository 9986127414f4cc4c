"""The code the grader installs in both kernels of a notebook, so tests can call answers.

A notebook is graded with two kernels (see :mod:`autograder.execute`): the **student
kernel** runs the submission's own cells, the **trusted kernel** runs the instructor's
cells and every test cell. In the trusted kernel each name an answer cell defines is
bound to an :class:`Answer`. Calling one asks the grader, over the kernel's stdin channel
(``input_request``), to call the student's function in the student kernel; the result
comes back as plain data and is decoded here.

What crosses, and how (the module is the same file on both sides):

* trusted → student: the arguments, as JSON with tagged NumPy arrays (``.npy`` bytes);
  callables a test passes in (a ``log_pdf``) travel by value with cloudpickle, which is
  safe in this direction: the untrusted side unpickles trusted data.
* student → trusted: only plain data (numbers, strings, booleans, None, NumPy arrays of
  numbers, lists, tuples, dicts and sets of those), JSON and ``numpy.load(...,
  allow_pickle=False)``, never pickle. Anything else arrives as a :class:`Foreign`
  placeholder naming its type; an error as the same built-in exception type with a
  capped message.

The student kernel's copy of this module can be changed by the student's code: that
only changes what comes back for that student's own functions, and what comes back is
only ever decoded as data.

This file is sent to each kernel as source text (the kernels cannot import the
``autograder`` package, which the sandbox hides); it needs only the standard library,
NumPy where arrays travel, and cloudpickle for callables.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import io
import json
import sys
import warnings

#: Marks a prompt on the stdin channel as a call for the grader, not a question for a person.
MARK = "\x00autograder-call\x00"
#: The module name both kernels register this file under.
MODULE = "_autograder_bridge"
#: Longest error message or type name carried from the student's side.
MAX_MESSAGE = 300
MAX_TYPE_NAME = 60
#: Output a call may print before the rest is dropped.
MAX_STREAM = 100_000
#: The largest array (as .npy bytes) carried either way.
MAX_ARRAY_BYTES = 512 * 1024**2
#: Deepest nesting of containers carried either way.
MAX_DEPTH = 50
#: The note added to an error that the student's code raised (feedback looks for it).
RAISED_BY = "raised by the submission's code, in "


class Unsupported(TypeError):
    """A value that is not plain data."""


class Foreign:
    """What the student's code returned when it was not plain data: only its type name.

    It has no numeric, sequence or comparison behaviour of its own, so ``float()``,
    ``numpy.asarray(..., dtype=float)`` and ``==`` treat it as the wrong answer it is.
    """

    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<an object of type {self.type_name}>"

    __str__ = __repr__


# -- encoding ---------------------------------------------------------------------------


def _numpy():
    return sys.modules.get("numpy")


#: Arrays larger than this travel compressed when that makes them smaller (a million
#: coin flips: 8 MB as .npy, 20 kB compressed).
COMPRESS_FROM = 64 * 1024


def _array_bytes(array) -> tuple[str, str]:
    """The array as base64 .npy bytes, compressed when large and compressible; and the
    tag suffix that says which."""
    np = _numpy()
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    data, suffix = buffer.getvalue(), ""
    if len(data) > COMPRESS_FROM:
        import zlib

        packed = zlib.compress(data, 1)
        if len(packed) < 0.9 * len(data):
            data, suffix = packed, ".z"
    return base64.b64encode(data).decode("ascii"), suffix


def _type_name(value) -> str:
    name = getattr(type(value), "__name__", "object")
    name = name if isinstance(name, str) else "object"
    name = "".join(c for c in name if c.isalnum() or c in "_.")[:MAX_TYPE_NAME]
    return name or "object"


def encode(value, *, callables: bool = False, foreign: bool = False, depth: int = 0):
    """``value`` as JSON-ready data; :class:`Unsupported` for anything else.

    ``callables``: pickle functions by value (trusted → student only). ``foreign``:
    put a ``{"$foreign": type}`` in place of what cannot travel instead of failing.
    """
    if depth > MAX_DEPTH:
        raise Unsupported("nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        return value if abs(value) < 2**63 else {"$int": str(value)}
    if kind is float:
        return value
    if kind is complex:
        return {"$complex": [value.real, value.imag]}
    np = _numpy()
    if np is not None and isinstance(value, np.ndarray | np.generic):
        if value.dtype.kind not in "biufc" or value.dtype.hasobject:
            if foreign:
                return {"$foreign": f"ndarray of {value.dtype}"}
            raise Unsupported(f"an array of {value.dtype}")
        tag = "$array" if isinstance(value, np.ndarray) else "$scalar"
        text, suffix = _array_bytes(np.asarray(value))
        return {tag + suffix: text}
    inner = {"callables": callables, "foreign": foreign, "depth": depth + 1}
    if kind is list:
        return {"$list": [encode(v, **inner) for v in value]}
    if kind is tuple:
        return {"$tuple": [encode(v, **inner) for v in value]}
    if kind in (set, frozenset):
        tag = "$set" if kind is set else "$frozenset"
        return {tag: [encode(v, **inner) for v in value]}
    if kind is dict:
        return {"$dict": [[encode(k, **inner), encode(v, **inner)] for k, v in value.items()]}
    if isinstance(value, Answer):
        return {"$answer": value.__name__}
    if callables and callable(value):
        import cloudpickle

        return {"$pickle": base64.b64encode(cloudpickle.dumps(value)).decode("ascii")}
    if foreign:
        return {"$foreign": _type_name(value)}
    raise Unsupported(f"an object of type {_type_name(value)}")


def decode(data, *, unpickle: bool = False, lookup=None, depth: int = 0):
    """The value :func:`encode` encoded. ``unpickle`` (student side only) accepts pickled
    callables; ``lookup`` resolves a reference to one of the student's own answers."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is not dict or len(data) != 1:
        raise ValueError("not an encoded value")
    ((tag, body),) = data.items()
    inner = {"unpickle": unpickle, "lookup": lookup, "depth": depth + 1}
    if tag == "$int":
        return int(body)
    if tag == "$complex":
        return complex(float(body[0]), float(body[1]))
    if tag in ("$array", "$scalar", "$array.z", "$scalar.z"):
        import numpy as np

        data = base64.b64decode(body)
        if tag.endswith(".z"):
            import zlib

            unpacker = zlib.decompressobj()
            data = unpacker.decompress(data, MAX_ARRAY_BYTES)
            if unpacker.unconsumed_tail:
                raise ValueError("an array larger than the grader accepts")
        array = np.load(io.BytesIO(data), allow_pickle=False)
        return array if tag.startswith("$array") else array[()]
    if tag == "$list":
        return [decode(v, **inner) for v in body]
    if tag == "$tuple":
        return tuple(decode(v, **inner) for v in body)
    if tag == "$set":
        return {decode(v, **inner) for v in body}
    if tag == "$frozenset":
        return frozenset(decode(v, **inner) for v in body)
    if tag == "$dict":
        return {decode(k, **inner): decode(v, **inner) for k, v in body}
    if tag == "$foreign":
        return Foreign(str(body)[:MAX_TYPE_NAME])
    if tag == "$answer" and lookup is not None:
        return lookup(str(body))
    if tag == "$pickle" and unpickle:
        import pickle

        return pickle.loads(base64.b64decode(body))
    raise ValueError(f"unexpected {tag}")


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


# -- the student's side ------------------------------------------------------------------


class Reply:
    """What the grader reads back from the student kernel: its repr is the JSON answer."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _shell():
    from IPython import get_ipython

    return get_ipython()


def _namespace() -> dict:
    return _shell().user_ns


_MISSING = object()


def _builtin_exception_name(error: BaseException) -> str:
    """The nearest built-in exception class of ``error`` (``ValueError`` for a subclass)."""
    for cls in type(error).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "Exception"


def _error(error: BaseException) -> dict:
    try:
        message = str(error)
    except Exception:
        message = ""
    message = message if isinstance(message, str) else ""
    return {
        "type": _builtin_exception_name(error),
        "class": _type_name(error),
        "message": message[:MAX_MESSAGE],
    }


def serve(text: str) -> Reply:
    """Answer one request from the grader (student kernel)."""
    request = json.loads(text)
    if request["op"] == "describe":
        return Reply(_dumps({"names": {n: _describe(n) for n in request["names"]}}))
    return Reply(_dumps(_call_here(request)))


def _describe(name: str) -> dict:
    value = _namespace().get(name, _MISSING)
    if value is _MISSING:
        return {"kind": "missing"}
    if callable(value):
        return {"kind": "callable"}
    try:
        return {"kind": "value", "value": encode(value)}
    except Unsupported:
        return {"kind": "other", "type": _type_name(value)}
    except Exception as error:  # a hostile __eq__, __len__, ...: not plain data
        return {"kind": "other", "type": _type_name(value), "error": _error(error)}


def _call_here(request: dict) -> dict:
    namespace = _namespace()
    bindings = request.get("bindings", {})
    saved = {name: namespace.get(name, _MISSING) for name in bindings}
    stdout, stderr = io.StringIO(), io.StringIO()
    reply: dict = {}
    try:
        for name, spec in bindings.items():
            if spec is None:
                namespace.pop(name, None)
            else:
                namespace[name] = decode(spec, unpickle=True, lookup=saved.get)
        function = namespace.get(request["name"], _MISSING)
        if function is _MISSING:
            raise NameError(f"name {request['name']!r} is not defined")
        args = decode(request["args"], unpickle=True, lookup=namespace.__getitem__)
        kwargs = decode(request["kwargs"], unpickle=True, lookup=namespace.__getitem__)
        quiet = request.get("quiet", {})
        with contextlib.ExitStack() as stack:
            stack.enter_context(contextlib.redirect_stdout(stdout))
            stack.enter_context(contextlib.redirect_stderr(stderr))
            stack.enter_context(warnings.catch_warnings())
            if quiet.get("warnings"):
                warnings.simplefilter("ignore")
            np = _numpy()
            if np is not None and quiet.get("errstate"):
                stack.enter_context(np.errstate(**quiet["errstate"]))
            result = function(*args, **kwargs)
        reply["value"] = encode(result, foreign=True)
    except BaseException as error:  # whatever the student's code raised, as data
        reply = {"error": _error(error)}
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = value
    reply["stdout"] = stdout.getvalue()[:MAX_STREAM]
    reply["stderr"] = stderr.getvalue()[:MAX_STREAM]
    return reply


# -- the trusted side ---------------------------------------------------------------------


class Answer:
    """A name an answer cell defines, bound in the trusted kernel: calling it calls the
    student's function of that name in the student kernel, with plain data both ways."""

    def __init__(self, name: str):
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return _call_there(self.__name__, args, kwargs)

    def __repr__(self) -> str:
        return f"<the submission's {self.__name__}>"

    def __reduce__(self):  # inside a callable sent by value: the student's own object
        return (_own, (self.__name__,))


def _own(name: str):
    return _namespace()[name]


#: The answer names of the notebook and what each was bound to at the last sync.
_synced: dict[str, object] = {}


class BridgeError(RuntimeError):
    """The student's kernel could not answer (it stopped, or its answer was unreadable)."""


def _ask(request: dict) -> dict:
    text = _shell().kernel.raw_input(MARK + _dumps(request))
    reply = json.loads(text)
    if "bridge_error" in reply:
        raise BridgeError(reply["bridge_error"])
    return reply


def sync(names: list[str]) -> None:
    """Bind each answer name as the student kernel has it now (trusted kernel)."""
    namespace = _namespace()
    described = _ask({"op": "describe", "names": names})["names"]
    for name in names:
        info = described.get(name, {"kind": "missing"})
        kind = info.get("kind")
        current = namespace.get(name, _MISSING)
        if kind == "callable":
            value = current if isinstance(current, Answer) and current.__name__ == name else None
            value = value or Answer(name)
        elif kind == "value":
            try:
                value = decode(info["value"])
            except Exception:
                value = Foreign("unreadable")
        elif kind == "other":
            value = Foreign(str(info.get("type", "object"))[:MAX_TYPE_NAME])
        else:
            value = _MISSING
        if value is _MISSING:
            namespace.pop(name, None)
        else:
            namespace[name] = value
        _synced[name] = value


def _bindings() -> dict:
    """How the test has rebound answer names since the last sync (``del squares``,
    ``squares = other``): the student's function sees the same during the call."""
    namespace = _namespace()
    changed = {}
    for name, synced in _synced.items():
        current = namespace.get(name, _MISSING)
        if current is synced:
            continue
        if current is _MISSING:
            changed[name] = None
            continue
        try:
            changed[name] = encode(current, callables=True)
        except Unsupported:
            continue
    return changed


def _quiet() -> dict:
    """The warning and floating-point settings the test is calling under (``checks``
    silences both around the learner's function); the call runs under the same."""
    quiet: dict = {}
    filters = warnings.filters
    if filters:
        action, message, category, module, _ = filters[0]
        quiet["warnings"] = (
            action == "ignore" and category is Warning and not message and not module
        )
    np = _numpy()
    if np is not None:
        quiet["errstate"] = np.geterr()
    return quiet


_EXCEPTIONS = {
    name: cls
    for name, cls in vars(builtins).items()
    if isinstance(cls, type) and issubclass(cls, Exception)
}


class LearnerError(Exception):
    """An error of a kind that is not a built-in exception, raised by the student's code."""


def _rebuild(error: dict, name: str) -> Exception:
    cls = _EXCEPTIONS.get(str(error.get("type")), LearnerError)
    message = str(error.get("message", ""))[:MAX_MESSAGE]
    if cls is LearnerError:
        message = f"{str(error.get('class', 'Exception'))[:MAX_TYPE_NAME]}: {message}"
    try:
        rebuilt = cls(message)
    except Exception:  # a built-in whose constructor wants other arguments
        rebuilt = LearnerError(message)
    rebuilt.add_note(f"({RAISED_BY}{name})")
    return rebuilt


def _call_there(name: str, args: tuple, kwargs: dict):
    try:
        request = {
            "op": "call",
            "name": name,
            "args": encode(list(args), callables=True),
            "kwargs": {k: encode(v, callables=True) for k, v in kwargs.items()},
            "bindings": _bindings(),
            "quiet": _quiet(),
        }
    except Unsupported as error:
        raise TypeError(f"cannot pass {error} to the submission's {name}") from None
    request["kwargs"] = {"$dict": [[k, v] for k, v in request["kwargs"].items()]}
    reply = _ask(request)
    if reply.get("stdout"):
        sys.stdout.write(str(reply["stdout"]))
    if reply.get("stderr"):
        sys.stderr.write(str(reply["stderr"]))
    if "error" in reply:
        raise _rebuild(reply["error"], name)
    try:
        return decode(reply["value"])
    except Exception:
        return Foreign("unreadable")

"""Which of the instructor's ordinary cells a notebook's tests can depend on.

The trusted kernel runs the instructor's ordinary cells so that each test finds the
names it reads (imports, data, helper functions). Most ordinary cells only draw figures
and print; running them again in a second kernel doubled a notebook's cost. A cell is
left out of the trusted kernel only when the static rules below show that no test can
see the difference; any doubt keeps it.

A cell is **kept** when any of these holds:

1. it does not parse as Python once IPython's syntax is turned into Python, or uses
   IPython syntax other than ``%matplotlib`` (a magic can do anything);
2. it imports anything (an import can change a library's state), has a ``global`` or
   ``nonlocal`` statement or a star import, or calls ``exec``, ``eval``, ``compile``,
   ``globals``, ``locals``, ``vars``, ``setattr``, ``delattr``, ``__import__``, ``open``,
   ``input`` or ``breakpoint``;
3. it uses an attribute whose name says it changes a library's state (``seed``,
   ``random``, ``rvs``, ``shuffle``, ``seterr``, ``filterwarnings``, ``rcParams``, ...,
   see :data:`STATEFUL`), or assigns to an attribute or an item of a name it did not
   bind itself;
4. it binds a name that a later test, or a later kept cell, reads (in its code or in a
   function it defines, read when called);
5. it may change the object such a name refers to, or an object that may be the same
   (``y = x``, ``y = x[:5]``, ``y = np.asarray(x)``: any name bound from an expression
   that reads the name): by calling a method on it other than the ones that only read
   (:data:`READING_METHODS`: ``x.sum()``, ``ax.get_xlim()``), assigning to one of its
   items or attributes, passing it as ``out=``, or passing it to a function whose name
   says it changes its argument (:data:`CHANGING_FUNCTIONS`: ``shuffle``, ``copyto``).

The names the instructor's answer cells define are left out of 4 and 5: the trusted
kernel binds them to the student's functions before every test. A test cell that reads
names in ways the rules cannot follow (``globals()``, ``eval``, IPython's ``_``, ``In``
or ``Out``, ``get_ipython()``, magics) keeps every cell. The ordinary cells after the
last test never run in the trusted kernel: nothing can read them.

The rules assume two things they cannot check: that calling a library's functions does
not change what its other functions return later, except through the calls named in
:data:`STATEFUL` (a random generator's seed, NumPy's error handling, warnings,
Matplotlib's settings), and that a function changes an argument only where rule 5 says
(NumPy's, SciPy's and Matplotlib's functions return new objects). The course's corpus is
graded both ways (one kernel running everything, and two) in the tests.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

#: Attribute names that change a library's state (module-level random generators,
#: floating-point error handling, warnings, printing, plotting settings, the process).
STATEFUL = frozenset(
    {
        "seed", "random", "rand", "randn", "randint", "rvs", "shuffle", "permutation",
        "choice", "set_state", "seterr", "seterrcall", "set_printoptions", "setbufsize",
        "filterwarnings", "simplefilter", "resetwarnings", "setrecursionlimit", "chdir",
        "environ", "putenv", "rcParams", "rc", "rcdefaults", "use", "style", "register",
        "set_default_dtype", "setdefaulttimeout", "basicConfig", "disable",
    }
)  # fmt: skip
#: Methods that only read their object (arrays, lists, dicts, strings, Matplotlib's
#: getters): calling them on a name the tests read does not keep a cell.
READING_METHODS = frozenset(
    {
        "sum", "mean", "std", "var", "min", "max", "prod", "cumsum", "cumprod", "any",
        "all", "argmin", "argmax", "argsort", "nonzero", "copy", "astype", "reshape",
        "ravel", "flatten", "tolist", "item", "dot", "round", "clip", "squeeze",
        "transpose", "view", "searchsorted", "ptp", "count", "index", "keys", "values",
        "items", "get", "format", "startswith", "endswith", "split", "join", "strip",
        "lower", "upper", "replace", "get_xlim", "get_ylim", "get_lines", "get_title",
        "get_xlabel", "get_ylabel", "get_legend_handles_labels", "logpdf", "pdf", "cdf",
        "logpmf", "pmf", "ppf", "mean_", "isclose", "conjugate",
    }
)  # fmt: skip
#: Functions (and methods) named after changing their argument.
CHANGING_FUNCTIONS = frozenset(
    {
        "shuffle", "copyto", "put", "place", "putmask", "fill_diagonal", "sort", "fill",
        "resize", "setflags", "partition", "append", "extend", "insert", "pop", "remove",
        "clear", "update", "setdefault", "popitem", "add", "discard", "reverse",
    }
)  # fmt: skip
#: Calls that read or write names, files or the interpreter in ways names do not show.
REFLECTIVE = frozenset(
    {
        "exec", "eval", "compile", "globals", "locals", "vars", "setattr", "delattr",
        "__import__", "open", "input", "breakpoint",
    }
)  # fmt: skip
#: Names a test may read that only IPython's history and namespace hold.
IPYTHON_NAMES = frozenset({"_", "__", "___", "_i", "_ii", "_iii", "In", "Out", "get_ipython"})
#: Names IPython provides that read no state of the notebook's.
HARMLESS = frozenset({"get_ipython", "display"})
_BUILTINS = frozenset(dir(builtins))


@dataclass
class Cell:
    """What one cell does with names, as far as the rules need to know."""

    parsed: bool = True
    binds: set[str] = field(default_factory=set)  # at the top level
    reads: set[str] = field(default_factory=set)  # anywhere, function bodies included
    imports: set[str] = field(default_factory=set)  # names bound by import statements
    risky: bool = False  # rules 1-3
    reflective: bool = False  # reads names in ways the rules cannot follow
    changes: set[str] = field(default_factory=set)  # names whose objects it may change
    sources: dict[str, set[str]] = field(default_factory=dict)  # bound name -> names read


def analyse(source: str) -> Cell:
    """The names ``source`` binds and reads, what it may change, whether it is risky."""
    from autograder.plan import python_source

    stripped = [line.strip() for line in source.splitlines()]
    magics = [line for line in stripped if line.startswith(("%", "!"))]
    if any(not line.startswith("%matplotlib") for line in magics):
        return Cell(parsed=False, risky=True, reflective=True)
    try:
        tree = ast.parse(python_source(source))
    except (SyntaxError, ValueError):
        return Cell(parsed=False, risky=True, reflective=True)
    cell = Cell()
    bound: set[str] = set()  # bound for certain by the cell's earlier statements
    for statement in tree.body:
        _top_level_binds(statement, cell)
        _Walker(cell, bound).visit(statement)
        if isinstance(statement, _UNCONDITIONAL):
            bound |= _bound_by(statement)
    cell.reads -= _BUILTINS
    cell.reflective = cell.reflective or bool(cell.reads & IPYTHON_NAMES) or bool(magics)
    return cell


#: Statements whose bindings happen whenever the statement runs without an error.
_UNCONDITIONAL = (
    ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Import, ast.ImportFrom, ast.FunctionDef,
    ast.AsyncFunctionDef, ast.ClassDef,
)  # fmt: skip


def _bound_by(statement: ast.stmt) -> set[str]:
    probe = Cell()
    _top_level_binds(statement, probe)
    return probe.binds


def _top_level_binds(statement: ast.stmt, cell: Cell) -> None:
    if isinstance(statement, ast.Import | ast.ImportFrom):
        for alias in statement.names:
            if alias.name == "*":
                cell.risky = True
                continue
            name = alias.asname or alias.name.split(".")[0]
            cell.binds.add(name)
            cell.imports.add(name)
        cell.risky = True  # rule 2: an import can change a library's state
        return
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        cell.binds.add(statement.name)
        return

    class Stores(ast.NodeVisitor):
        def visit_Name(self, node):
            if isinstance(node.ctx, ast.Store | ast.Del):
                cell.binds.add(node.id)

        def visit_Lambda(self, node):  # its own scope
            pass

        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda
        visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda

        def visit_NamedExpr(self, node):  # a walrus binds in the enclosing scope
            cell.binds.add(node.target.id)
            self.visit(node.value)

    Stores().visit(statement)


def _names(node: ast.AST | None) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} if node else set()


class _Walker(ast.NodeVisitor):
    """Reads, changes and risks of one top-level statement. Inside a function or a
    lambda (``depth`` > 0) only reads count: the body runs when it is called, and a cell
    that calls it is kept only if the tests can see what it does."""

    def __init__(self, cell: Cell, bound: set[str]):
        self.cell, self.bound, self.depth = cell, bound, 0

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and (self.depth or node.id not in self.bound):
            self.cell.reads.add(node.id)

    def _scope(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scope

    def visit_Global(self, node):
        self.cell.risky = True

    visit_Nonlocal = visit_Global

    def visit_Attribute(self, node):
        if node.attr in STATEFUL:
            self.cell.risky = True
        self.generic_visit(node)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id in REFLECTIVE:
            self.cell.risky = self.cell.reflective = True
        if not self.depth:
            _changed_by_call(node, self.cell)
        self.generic_visit(node)

    def _assignment(self, node, targets, value):
        if not self.depth:
            for target in targets:
                if isinstance(target, ast.Attribute | ast.Subscript):
                    root = _root(target)
                    if root is None or root not in self.cell.binds:
                        self.cell.risky = True  # changes an object made before this cell
            for target in targets:
                for name in _names(target):
                    self.cell.sources.setdefault(name, set()).update(_names(value))
        self.generic_visit(node)

    def visit_Assign(self, node):
        self._assignment(node, node.targets, node.value)

    def visit_AugAssign(self, node):
        self._assignment(node, [node.target], node.value)

    def visit_AnnAssign(self, node):
        self._assignment(node, [node.target], node.value)

    def visit_Delete(self, node):
        self._assignment(node, node.targets, None)

    def visit_For(self, node):
        self._assignment(node, [node.target], node.iter)

    visit_AsyncFor = visit_For

    def visit_comprehension(self, node):
        self._assignment(node, [node.target], node.iter)

    def visit_withitem(self, node):
        if node.optional_vars is not None:
            self._assignment(node, [node.optional_vars], node.context_expr)
        else:
            self.generic_visit(node)


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _changed_by_call(call: ast.Call, cell: Cell) -> None:
    """The names whose objects ``call`` may change (rule 5)."""
    if isinstance(call.func, ast.Attribute) and call.func.attr not in READING_METHODS:
        root = _root(call.func.value)  # x.sort(), ax.plot(...), ax.xaxis.set_ticks(...)
        if root is not None:
            cell.changes.add(root)
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    arguments = [*call.args, *(k.value for k in call.keywords if k.arg is None)]
    if name in CHANGING_FUNCTIONS:
        cell.changes.update(r for r in map(_root, arguments) if r)
    for keyword in call.keywords:
        if keyword.arg == "out":
            cell.changes.update(n.id for n in ast.walk(keyword.value) if isinstance(n, ast.Name))


def needed(cells: list[tuple[str, str]], answers: set[str]) -> list[bool]:
    """For each ``(kind, source)`` in notebook order (kind: "test", "answer" or
    "ordinary"), whether the trusted kernel must run it. Tests are always run; answer
    cells never (they are the student's)."""
    analysed = [analyse(source) for _, source in cells]
    if any(a.reflective for (kind, _), a in zip(cells, analysed, strict=True) if kind == "test"):
        return [kind != "answer" for kind, _ in cells]
    rebound = set().union(*(a.binds - a.imports for a in analysed)) if analysed else set()
    modules = set().union(*(a.imports for a in analysed)) - rebound if analysed else set()
    # Which names may refer to the same object as which (rule 5): a name bound from an
    # expression that reads another may be it, or a view of it.
    sources: dict[str, set[str]] = {}
    for cell in analysed:
        for name, read in cell.sources.items():
            sources.setdefault(name, set()).update(read - modules)
    live: set[str] = set()
    keep = [False] * len(cells)
    for index in range(len(cells) - 1, -1, -1):
        kind, cell = cells[index][0], analysed[index]
        if kind == "answer":
            continue
        if kind == "test":
            keep[index] = True
        else:
            watched = _sharing(live - modules - answers, sources)
            keep[index] = cell.risky or bool(cell.binds & live) or bool(cell.changes & watched)
        if keep[index]:
            live |= cell.reads - answers - HARMLESS
    return keep


def _sharing(names: set[str], sources: dict[str, set[str]]) -> set[str]:
    """``names`` and every name that may refer to the same object as one of them."""
    found = set(names)
    grew = True
    while grew:
        grew = False
        for name, read in sources.items():
            if name not in found and read & found:
                found.add(name)
                grew = True
    return found

"""Which code of a learner's exercise cell the grader runs, and what it refuses to run.

Grading runs, in a fresh kernel, the course's own cells and the learner's
*exercise cells* only (see :mod:`.assemble`). Of an exercise cell, it runs the
definitions: ``def``, ``class``, ``import``, assignments of constants
(``alpha = 0.2``), docstrings, and the statements that the released cell itself
holds around the stub (e.g. ``x_train = prepare_images(x_train_raw)``). When the
exercise's solution is top-level code (``embedding_model = keras.Model(...)``),
every statement of the cell runs. Any other top-level statement (a ``print``, a
test call, a training loop, an IPython ``%magic``) is reported as *not run*.

Before anything runs, :func:`screen` reads the code (never executes it) and
*refuses* an exercise whose code reaches for the grading machinery instead of
solving the exercise:

- it rebinds a name that Python, IPython or the course's own cells define
  (``np``, ``checks``, ``abs``, ``print``, ``rng``...), or uses ``global`` /
  ``nonlocal``;
- it assigns to or deletes an attribute of anything but ``self``
  (``np.allclose = ...``, ``checks.check_triplet_loss = ...``), or stores into
  an item of a name that it did not create (``os.environ[...] = ...``);
- it names ``getattr``, ``setattr``, ``vars``, ``globals``, ``eval``, ``exec``,
  ``get_ipython``, ``In``/``Out``, any ``__dunder__`` name or attribute, a private
  ``_attribute``, or an attribute of :data:`DENIED_ATTRS` (``settrace``,
  ``modules``, ``f_globals``, ``ctypes``, ``ast_transformers``...);
- it imports a module that neither the course's notebook nor :data:`SAFE_MODULES`
  imports.

A refused exercise scores 0 with the reason and its line; the cell's released
stub runs instead, so the rest of the notebook is graded as usual.

This is a static screen of Python source: it closes the ways of tampering with
the checks that are written in plain sight, not every conceivable one. What it
cannot see still runs in the sandbox (:mod:`.sandbox`), and only inside the
learner's own exercise code.

Only the standard library.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Names that IPython puts into a kernel's namespace.
IPYTHON_NAMES = frozenset(
    {"get_ipython", "display", "In", "Out", "exit", "quit", "_ih", "_oh", "_dh", "_i", "_ii"}
    | {"_iii", "__", "___"}
)
#: Names that exercise code may not even mention.
DENIED_NAMES = frozenset(
    {"getattr", "setattr", "delattr", "vars", "globals", "locals", "eval", "exec", "compile"}
    | {"breakpoint", "memoryview", "get_ipython", "In", "Out", "_ih", "_oh", "_dh", "_i"}
    | {"_ii", "_iii"}
)
#: Attributes that reach into the interpreter, IPython or native memory.
DENIED_ATTRS = frozenset(
    {"settrace", "setprofile", "gettrace", "getprofile", "monitoring", "modules", "meta_path"}
    | {"path_hooks", "path_importer_cache", "excepthook", "displayhook", "addaudithook"}
    | {"exc_info", "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "f_lineno"}
    | {"f_trace", "tb_frame", "tb_next", "gi_frame", "gi_code", "cr_frame", "ag_frame"}
    | {"ctypes", "ctypeslib", "pythonapi", "inspect", "linecache", "traceback", "getsource"}
    | {"getsourcelines", "currentframe", "getframeinfo", "builtins", "user_ns", "user_global_ns"}
    | {"input_transformers_cleanup", "input_transformers_post", "ast_transformers", "run_cell"}
    | {"sys"}
    # str.format's fields look attributes up by name, out of the screen's sight:
    # "{0.__class__}".format(x) is getattr; string.Formatter does the same
    | {"format_map", "Formatter", "get_field", "get_value", "vformat", "format_field"}
    | {"attrgetter", "methodcaller"}
)
#: Names that exercise code may bind only as a method's first parameter: ``self.x = ...``
#: is allowed because ``self`` is the instance; ``self = module`` would make it anything.
SELF_NAMES = frozenset({"self", "cls"})
#: Attributes of the ``sys`` module that exercise code may not use (besides DENIED_ATTRS).
DENIED_SYS = frozenset({"path", "path_hooks", "meta_path", "modules", "setrecursionlimit"})
#: Standard-library modules that exercise code may import besides the notebook's own.
SAFE_MODULES = frozenset(
    {"math", "cmath", "itertools", "functools", "collections", "dataclasses", "typing"}
    | {"random", "statistics", "string", "numbers", "fractions", "decimal", "heapq", "bisect"}
    | {"copy", "enum", "abc", "textwrap", "time", "os", "__future__"}
)
_MAGIC = re.compile(r"^(\s*)([%!]|\?\w|\w+\?\s*$)")
#: Longest cell (in characters) that the screen reads; a longer exercise cell is refused.
MAX_SOURCE_CHARS = 200_000
#: Deepest syntax tree the screen walks (an exercise nests about 20 deep); deeper is refused.
MAX_AST_DEPTH = 100


@dataclass(frozen=True)
class Policy:
    """What the screen of one exercise allows.

    Attributes
    ----------
    protected : frozenset of str
        Names the exercise code must not rebind (builtins, IPython's, the course
        cells'), except by a statement of ``template`` or ``imports_as_source``.
    modules : frozenset of str
        Top-level modules that exercise code may import.
    template : frozenset of str
        ``ast.dump`` of each top-level statement of the released exercise cell.
    imports_as_source : frozenset of str
        ``ast.dump`` of each import statement of the course's notebook.
    top_level : bool
        The solution itself is top-level code: every statement runs.
    """

    protected: frozenset[str] = frozenset()
    modules: frozenset[str] = SAFE_MODULES
    template: frozenset[str] = frozenset()
    imports_as_source: frozenset[str] = frozenset()
    top_level: bool = False


@dataclass
class Screened:
    """What :func:`screen` decided about one exercise cell.

    Attributes
    ----------
    code : str
        What runs: the cell with every statement that does not run blanked out
        (line numbers are kept, for tracebacks).
    not_run : list of (int, str)
        Line number and first line of each top-level statement that does not run.
    refused : list of str
        Why the exercise is refused (``"line 4: assigns to np.allclose ..."``);
        empty when it is not.
    error : str or None
        The syntax error that stops the cell from being read at all.
    """

    code: str
    not_run: list[tuple[int, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def runs(self) -> bool:
        """True when the learner's code runs (it is readable and not refused)."""
        return self.error is None and not self.refused


def blank_magics(source: str) -> tuple[str, list[int]]:
    """Replace IPython syntax (``%magic``, ``!shell``, ``obj?``) by ``pass``; return the lines.

    Source that is already valid Python is returned as it is.
    """
    source = source.replace("\r\n", "\n")
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    else:
        return source, []
    lines = source.split("\n")
    found = []
    for number, line in enumerate(lines, start=1):
        match = _MAGIC.match(line)
        if match:
            lines[number - 1] = match.group(1) + "pass"
            found.append(number)
    return "\n".join(lines), found


def parse(source: str) -> ast.Module | None:
    """The module of ``source`` (IPython syntax blanked), or None if it cannot be read.

    None too when ``source`` is longer than :data:`MAX_SOURCE_CHARS` or its tree
    deeper than :data:`MAX_AST_DEPTH` (or too deep for Python's own parser).

    Examples
    --------
    >>> parse("x" + ".a" * 50_000) is None
    True
    """
    if len(source) > MAX_SOURCE_CHARS:
        return None
    try:
        tree = ast.parse(blank_magics(source)[0])
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return tree if tree_depth(tree) <= MAX_AST_DEPTH else None


def tree_depth(tree: ast.AST, limit: int = MAX_AST_DEPTH) -> int:
    """Depth of ``tree`` (1 for a lone node), found without recursion; stops past ``limit``.

    Examples
    --------
    >>> tree_depth(ast.parse("x.a.b"))  # Module, Expr, Attribute, Attribute, Name
    5
    """
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def dump(node: ast.AST) -> str:
    """A statement's identity, whatever its position and formatting."""
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def bound_names(statements: Iterable[ast.stmt]) -> set[str]:
    """Names that ``statements`` bind (or delete) at their own level."""
    names: set[str] = set()
    for statement in statements:
        names |= _binds(statement)
    return names


def _binds(statement: ast.stmt) -> set[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in statement.names if a.name != "*"}
    names = set()
    for node in _walk_scope(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= _binds(node)
    return names


def _walk_scope(node: ast.AST):
    """Nodes of ``node`` that belong to its scope (not inside nested functions or classes)."""
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        if current is not node and isinstance(
            current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
        ):
            continue
        todo.extend(ast.iter_child_nodes(current))


def imported_modules(tree: ast.Module | None) -> set[str]:
    """Top-level modules imported anywhere in ``tree``."""
    found: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def is_definition(statement: ast.stmt) -> bool:
    """A statement that only defines names: def, class, import, constant, docstring, pass."""
    if isinstance(
        statement,
        (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Pass),
    ):
        return True
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, ast.Constant)
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        if statement.value is None or not all(isinstance(t, ast.Name) for t in targets):
            return False
        try:
            ast.literal_eval(statement.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
        return True
    return False


def screen(source: str, policy: Policy) -> Screened:
    """Decide what of a learner's exercise cell runs; never executes it.

    Parameters
    ----------
    source : str
        The learner's exercise cell.
    policy : Policy
        What this exercise allows (see :func:`~siamese_grading.assemble.policy_for`).

    Returns
    -------
    Screened
        The code to run, the statements left out and, if any, why it is refused.

    Examples
    --------
    >>> done = screen("def add(a, b):\\n    return a + b\\nprint(add(1, 2))", Policy())
    >>> done.not_run
    [(3, 'print(add(1, 2))')]
    >>> screen("import numpy as np\\nnp.allclose = lambda *a, **k: True",
    ...        Policy(top_level=True, modules=frozenset({"numpy"}))).refused
    ['line 2: assigns to np.allclose; exercise code may only set attributes of self']

    A cell longer than :data:`MAX_SOURCE_CHARS`, nested deeper than
    :data:`MAX_AST_DEPTH` or too large to read (``RecursionError``,
    ``MemoryError``) is refused with a one-line reason, never a crash:

    >>> screen("x" + ".a" * 50_000, Policy()).refused[0]
    'is nested more than 100 levels deep (RecursionError), more than the grader reads; ...'
    """
    if len(source) > MAX_SOURCE_CHARS:
        return Screened(
            code="",
            refused=[
                f"is {len(source):,} characters long, more than the grader reads "
                f"({MAX_SOURCE_CHARS:,}); keep the exercise cell to your solution"
            ],
        )
    try:
        return _screen(source, policy)
    except (RecursionError, MemoryError) as error:
        return Screened(code="", refused=[_too_deep(f" ({type(error).__name__})")])


def _too_deep(detail: str = "") -> str:
    return (
        f"is nested more than {MAX_AST_DEPTH} levels deep{detail}, more than the grader "
        "reads; write it more simply"
    )


def _screen(source: str, policy: Policy) -> Screened:
    """:func:`screen` of a cell of bounded length (may raise RecursionError, MemoryError)."""
    text, magics = blank_magics(source)
    lines = text.split("\n")
    original = source.replace("\r\n", "\n").split("\n")
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        where = f" (line {line})" if line else ""
        message = getattr(error, "msg", None) or str(error)
        return Screened(code="", error=f"SyntaxError in the exercise cell{where}: {message}")
    if tree_depth(tree) > MAX_AST_DEPTH:
        return Screened(code="", refused=[_too_deep()])
    result = Screened(code="")
    result.not_run += [(n, original[n - 1].strip()) for n in magics]
    keep = [number not in magics for number in range(1, len(lines) + 1)]
    for statement in tree.body:
        first = min([statement.lineno] + [d.lineno for d in _decorators(statement)])
        last = statement.end_lineno or statement.lineno
        identical = dump(statement) in policy.template
        if identical:
            continue  # the released cell's own code (e.g. the stub, or x = f(data))
        if not policy.top_level and not is_definition(statement):
            result.not_run.append((first, original[first - 1].strip()))
            for number in range(first, last + 1):
                keep[number - 1] = False
            continue
        result.refused += _Checker(policy).statement(statement)
    result.not_run.sort()
    result.code = "\n".join(line if kept else "" for line, kept in zip(lines, keep, strict=True))
    return result


def _format_looks_up(template: str) -> bool:
    """Whether a str.format template has a field like ``{0.attr}`` or ``{x[key]}`` (or is bad)."""
    import string

    try:
        fields = [f for _, f, spec, _ in string.Formatter().parse(template) if f is not None]
        specs = [spec for _, f, spec, _ in string.Formatter().parse(template) if spec]
    except ValueError:
        return True
    return any("." in f or "[" in f for f in fields) or any("{" in spec for spec in specs)


def _decorators(statement: ast.stmt) -> list[ast.expr]:
    return list(getattr(statement, "decorator_list", []))


class _Checker(ast.NodeVisitor):
    """Finds what the screen refuses in one top-level statement (see the module docstring)."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.problems: list[str] = []
        self.scopes: list[set[str]] = []  # local names of the enclosing functions
        self.imported: set[str] = set()  # names bound by imports inside functions
        self.sys = {"sys"}  # names of the sys module

    def statement(self, statement: ast.stmt) -> list[str]:
        if not (
            isinstance(statement, (ast.Import, ast.ImportFrom))
            and dump(statement) in self.policy.imports_as_source
        ):
            for name in sorted(_binds(statement) & self.policy.protected):
                self.refuse(
                    statement,
                    f"redefines {name!r}, which Python or the notebook's own cells define; "
                    "give yours another name",
                )
        self.visit(statement)
        return self.problems

    def refuse(self, node: ast.AST, why: str) -> None:
        problem = f"line {getattr(node, 'lineno', '?')}: {why}"
        if problem not in self.problems:
            self.problems.append(problem)

    # --- scopes
    def _function(self, node) -> None:
        arguments = node.args
        params = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        params += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
        local = {a.arg for a in params}
        body = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            local |= _binds(statement) if isinstance(statement, ast.stmt) else set()
        for inner in ast.walk(node):  # a module imported in a function is no local object
            if isinstance(inner, (ast.Import, ast.ImportFrom)):
                self.imported |= _binds(inner)
        # defaults, decorators and annotations run in the enclosing scope
        for child in [*arguments.defaults, *arguments.kw_defaults, *_decorators(node)]:
            if child is not None:
                self.visit(child)
        for annotation in [getattr(node, "returns", None), *(a.annotation for a in params)]:
            if annotation is not None:
                self.visit(annotation)
        self.scopes.append(local)
        for statement in body:
            self.visit(statement)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for child in [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]:
            self.visit(child)
        self.scopes.append(bound_names(node.body))
        for statement in node.body:
            self.visit(statement)
        self.scopes.pop()

    def _local(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    # --- what is refused
    def visit_Global(self, node) -> None:
        self.refuse(node, "uses global/nonlocal; exercise code must not change outer names")

    visit_Nonlocal = visit_Global

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in DENIED_NAMES or _dunder(node.id):
            self.refuse(node, f"uses {node.id!r}, which exercise code may not use")
        if node.id in SELF_NAMES and isinstance(node.ctx, (ast.Store, ast.Del)):
            self.refuse(node, f"binds {node.id!r}, which may only name a method's own object")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name in SELF_NAMES:
            self.refuse(node, f"binds {node.name!r}, which may only name a method's own object")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            literal = func.value
            if not (isinstance(literal, ast.Constant) and isinstance(literal.value, str)):
                self.refuse(node, "calls .format on something other than a string literal")
            elif _format_looks_up(literal.value):
                self.refuse(node, "uses a format field with . or [...], which looks attributes up")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr in DENIED_SYS and isinstance(node.value, ast.Name) and node.value.id in self.sys:
            self.refuse(node, f"uses sys.{attr}, which exercise code may not use")
        allowed_init = attr == "__init__" and _is_super_call(node.value)
        if (attr.startswith("_") and not allowed_init) or attr in DENIED_ATTRS:
            self.refuse(node, f"uses the attribute .{attr}, which exercise code may not use")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and _root(node) != "self":
            verb = "assigns to" if isinstance(node.ctx, ast.Store) else "deletes"
            self.refuse(
                node,
                f"{verb} {_dotted(node)}; exercise code may only set attributes of self",
            )
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            root = _root(node)
            outer = root in self.policy.protected and not self._local(root)
            if root is None or outer or root in self.imported:
                self.refuse(
                    node,
                    f"changes an item of {root or 'an object'} that the exercise did not create",
                )
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname in SELF_NAMES:
                self.refuse(node, f"binds {alias.asname!r} to a module")
            self._module(node, alias.name)
            if alias.name == "sys":
                self.sys.add(alias.asname or "sys")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.refuse(node, "uses a relative import")
        elif any(alias.name == "*" for alias in node.names):
            self.refuse(node, f"uses 'from {node.module} import *'; import the names you need")
        else:
            self._module(node, node.module or "")
        for alias in node.names:
            denied = node.module == "sys" and alias.name in DENIED_SYS | DENIED_ATTRS
            if _dunder(alias.name) or alias.name in DENIED_NAMES or denied:
                self.refuse(node, f"imports {alias.name!r}, which exercise code may not use")

    def _module(self, node, name: str) -> None:
        root = name.split(".")[0]
        if root not in self.policy.modules:
            allowed = ", ".join(sorted(self.policy.modules - {"__future__"}))
            self.refuse(
                node,
                f"imports {name}; exercise code may import only what the notebook uses "
                f"and a few standard modules ({allowed})",
            )


def _dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _is_super_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def _root(node: ast.AST) -> str | None:
    """The name an attribute/item chain starts from (``np`` for ``np.a.b[0]``), or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every node it parsed
        return "an attribute"


#: Names of Python's builtins (protected from being redefined by exercise code).
BUILTIN_NAMES = frozenset(dir(builtins))

"""Notebook utilities shared by ``release`` and ``grade``.

What lives here: the nbgrader markers and how to strip them, source fingerprints,
reading a notebook that may not be one, and :class:`Exercise`, the description of
one auto-graded exercise (a solution cell followed by a locked self-check cell).

The markers are nbgrader's: any line that contains ``BEGIN SOLUTION`` /
``END SOLUTION`` or ``BEGIN HIDDEN TESTS`` / ``END HIDDEN TESTS`` (in the course they
are written ``### BEGIN SOLUTION`` etc.). Like nbgrader, we treat every such line as a
marker, so that a solution can never leak because of a stray space.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_notebook

from ._text import first_line

BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = "YOUR ANSWER HERE"
#: Key of the grading description in the released notebook's metadata.
METADATA_KEY = "siamese_grading"
#: Submissions larger than this are reported as invalid notebooks.
MAX_NOTEBOOK_BYTES = 100 * 2**20
#: Submissions with more cells than this are reported as invalid notebooks (the
#: course's notebooks have fewer than 200).
MAX_CELLS = 5_000
#: Most characters that a submission's code cells may hold in all (a course notebook
#: holds at most 30,000): the grader reads code cells as Python to find the exercises.
MAX_CODE_CHARS = 1_000_000
#: Deepest nesting of lists and objects in what a submission keeps of its JSON
#: (the notebook, its cells and their metadata; a course notebook nests 6 deep).
MAX_NESTING = 64
#: Most JSON objects and arrays (``{`` and ``[``, counted in the raw file, strings included:
#: an upper bound) a notebook may hold. A notebook of 5,000 cells with outputs holds a few
#: hundred thousand; a 99 MB file of ``[{},{},...]`` holds 33 million, which Python's parser
#: would turn into gigabytes of objects before any other check.
MAX_CONTAINERS = 2_000_000
#: Why a submitted file that is a symbolic link is not read.
SYMLINK_REASON = "the file is a symbolic link; submit the notebook file itself"
_SURROGATE = re.compile("[\ud800-\udfff]")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")
_EXERCISE_NUMBER = re.compile(r"^EXERCISE\s+(\d+(?:\.\d+)*)", re.IGNORECASE)


class MarkerError(ValueError):
    """A cell's BEGIN/END markers do not pair up."""


class InvalidNotebookError(ValueError):
    """A file is not a readable Jupyter notebook."""


@dataclass(frozen=True)
class Exercise:
    """One auto-graded exercise of a source (instructor) notebook.

    Attributes
    ----------
    name : str
        The exercise's id, e.g. ``"ex7_1_triplet_loss"`` (the solution cell's
        nbgrader ``grade_id``; the check cell's own id when it has no solution cell).
    check_grade_id : str
        nbgrader ``grade_id`` of the self-check cell, e.g. ``"check_ex7_1_triplet_loss"``.
    points : float
        Points for a passing self-check (nbgrader ``points``, default 1).
    check_index, solution_index : int or None
        Positions in the source notebook (``solution_index`` is None when the check
        cell has no solution cell).
    check_source : str
        The locked self-check source *with* its hidden tests: what grading runs.
    released_source : str or None
        The self-check as learners see it (hidden tests removed); None when the
        whole cell is hidden.
    solution_released_source : str or None
        The exercise cell as learners first see it (solution replaced by the stub).
    title : str
        First line of the exercise cell without ``#``, e.g. ``"EXERCISE 7.1 — ..."``.
    """

    name: str
    check_grade_id: str
    points: float
    check_index: int
    solution_index: int | None
    check_source: str
    released_source: str | None
    solution_released_source: str | None
    title: str

    @property
    def fingerprint(self) -> str | None:
        """sha256 of the released self-check source (None for an all-hidden cell)."""
        return None if self.released_source is None else fingerprint(self.released_source)


def cell_source(cell) -> str:
    """The source of a cell as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def nbgrader_meta(cell) -> dict:
    """The cell's nbgrader metadata, or ``{}`` when it has none (or it is malformed)."""
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def is_grade_cell(cell) -> bool:
    """True for an auto-graded code cell (nbgrader ``grade: true``, not a solution)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_solution_cell(cell) -> bool:
    """True for a cell that nbgrader marks ``solution: true``."""
    return bool(nbgrader_meta(cell).get("solution"))


def normalize_source(source: str) -> str:
    """Source with unified line endings, no trailing spaces and no blank edges.

    Examples
    --------
    >>> normalize_source("x = 1   \\r\\n\\n")
    'x = 1'
    """
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def fingerprint(source: str) -> str:
    """sha256 (hex) of :func:`normalize_source` of ``source``.

    Examples
    --------
    >>> fingerprint("assert f(1) == 2\\n") == fingerprint("assert f(1) == 2")
    True
    """
    return hashlib.sha256(normalize_source(source).encode("utf-8")).hexdigest()


def _strip_blocks(source: str, begin: str, end: str, stub) -> tuple[str, int]:
    """Replace every ``begin``..``end`` block by ``stub(indent)``; return (source, count)."""
    out: list[str] = []
    inside = False
    count = 0
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            if inside:
                raise MarkerError(f"line {number}: a second '{begin}' before '{end}'")
            inside = True
            count += 1
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(stub(indent))
        elif end in line:
            if not inside:
                raise MarkerError(f"line {number}: '{end}' without a '{begin}' before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"'{begin}' is never closed by '{end}'")
    return "\n".join(out), count


def strip_solutions(source: str, cell_type: str = "code") -> tuple[str, int]:
    """Replace each solution block by nbgrader's stub, keeping the code around it.

    Returns the new source and the number of blocks replaced.

    Examples
    --------
    >>> src = "def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION"
    >>> print(strip_solutions(src)[0])
    def f(x):
        # YOUR CODE HERE
        raise NotImplementedError()
    """
    if cell_type == "code":
        stub = [*CODE_STUB]
    else:
        stub = [TEXT_STUB]
    return _strip_blocks(source, BEGIN_SOLUTION, END_SOLUTION, lambda i: [i + s for s in stub])


def strip_hidden_tests(source: str) -> tuple[str, int]:
    """Remove each hidden-test block (markers included); return (source, count).

    Examples
    --------
    >>> src = "check(f)\\n### BEGIN HIDDEN TESTS\\nassert f(0) == 0\\n### END HIDDEN TESTS"
    >>> strip_hidden_tests(src)
    ('check(f)', 1)
    """
    return _strip_blocks(source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [])


def has_markers(source: str) -> bool:
    """True if any solution or hidden-test marker appears in ``source``."""
    return any(m in source for m in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN))


def points_of(cell) -> float:
    """nbgrader points of a grade cell (default 1), as int when integral."""
    points = nbgrader_meta(cell).get("points", 1)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
        return 1
    return int(points) if float(points).is_integer() else float(points)


def exercise_title(cell) -> str:
    """First line of a cell without the leading ``#`` (e.g. ``"EXERCISE 7.1 — ..."``)."""
    return first_line(cell_source(cell), limit=None).lstrip("#").strip()


def exercise_number(title: str) -> str | None:
    """``"7.1"`` for a title such as ``"EXERCISE 7.1 — implement the loss"``, else None.

    Examples
    --------
    >>> exercise_number("EXERCISE 7.1 — implement the loss")
    '7.1'
    """
    match = _EXERCISE_NUMBER.match(title.strip())
    return match.group(1) if match else None


def released_cell_source(cell) -> str | None:
    """What learners see of ``cell``: None when the whole cell is hidden tests."""
    source = cell_source(cell)
    stripped, n_hidden = strip_hidden_tests(source)
    if n_hidden and not stripped.strip():
        return None
    stripped, _ = strip_solutions(stripped, cell.get("cell_type", "code"))
    return stripped


def find_exercises(nb: NotebookNode) -> list[Exercise]:
    """The auto-graded exercises of a source notebook, in notebook order.

    Each nbgrader grade cell (code, ``grade: true``) is one exercise. It is paired
    with the solution cell whose ``grade_id`` is its own without the ``check_``
    prefix, or else with the nearest solution cell above it that no other grade
    cell sits between.

    Examples
    --------
    >>> [ex.name for ex in find_exercises(nbformat.read("notebooks/07_the_triplet_loss.ipynb", 4))]
    ['ex7_1_triplet_loss', ...]
    """
    cells = nb.cells
    solution_ids = {
        nbgrader_meta(c).get("grade_id"): i for i, c in enumerate(cells) if is_solution_cell(c)
    }
    exercises: list[Exercise] = []
    paired: set[int] = set()
    for index, cell in enumerate(cells):
        if not is_grade_cell(cell):
            continue
        grade_id = str(nbgrader_meta(cell).get("grade_id") or f"cell{index}")
        solution_index = solution_ids.get(grade_id.removeprefix("check_"))
        if solution_index is None or solution_index in paired or not grade_id.startswith("check_"):
            solution_index = _nearest_solution_above(cells, index, paired)
        if solution_index is not None:
            paired.add(solution_index)
        solution = cells[solution_index] if solution_index is not None else None
        name = nbgrader_meta(solution).get("grade_id") if solution is not None else None
        exercises.append(
            Exercise(
                name=str(name or grade_id),
                check_grade_id=grade_id,
                points=points_of(cell),
                check_index=index,
                solution_index=solution_index,
                check_source=cell_source(cell),
                released_source=released_cell_source(cell),
                solution_released_source=(
                    released_cell_source(solution) if solution is not None else None
                ),
                title=exercise_title(solution) if solution is not None else grade_id,
            )
        )
    return exercises


def _nearest_solution_above(cells, index: int, paired: set[int]) -> int | None:
    for above in range(index - 1, -1, -1):
        if is_grade_cell(cells[above]):
            return None
        if is_solution_cell(cells[above]) and above not in paired:
            return above
    return None


def nbgrader_problems(nb: NotebookNode) -> list[str]:
    """Ways in which ``nb``'s nbgrader metadata breaks nbgrader's schema version 3.

    Checks the keys (grade, grade_id, locked, points, schema_version, solution,
    task), unique grade_ids, solution cells unlocked, grade cells locked with
    points, and balanced markers. An empty list means nbgrader would accept it.

    Examples
    --------
    >>> nbgrader_problems(nbformat.read("notebooks/07_the_triplet_loss.ipynb", 4))
    []
    """
    problems: list[str] = []
    allowed = {"grade", "grade_id", "locked", "points", "schema_version", "solution", "task"}
    allowed |= {"checksum", "cell_type"}
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        where = f"cell {index}"
        source = cell_source(cell)
        for begin, end in ((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN)):
            try:
                _strip_blocks(source, begin, end, lambda indent: [])
            except MarkerError as error:
                problems.append(f"{where}: {error}")
        if "nbgrader" not in cell.get("metadata", {}):
            if BEGIN_SOLUTION in source:
                problems.append(f"{where}: has solution markers but no nbgrader metadata")
            continue
        meta = nbgrader_meta(cell)
        where = f"cell {index} ({meta.get('grade_id', 'no grade_id')})"
        problems += _meta_problems(meta, cell, where, allowed, source)
        grade_id = meta.get("grade_id")
        if isinstance(grade_id, str) and any(meta.get(k) for k in ("grade", "solution", "locked")):
            if grade_id in seen:
                problems.append(f"{where}: grade_id also used by cell {seen[grade_id]}")
            seen[grade_id] = index
    return problems


def _meta_problems(meta: dict, cell, where: str, allowed: set[str], source: str) -> list[str]:
    problems = [f"{where}: unknown nbgrader key {k!r}" for k in sorted(set(meta) - allowed)]
    for key in ("grade", "locked", "solution", "task"):
        if not isinstance(meta.get(key, False), bool):
            problems.append(f"{where}: '{key}' must be true or false, got {meta.get(key)!r}")
    for key in ("grade", "locked", "solution", "schema_version"):
        if key not in meta:
            problems.append(f"{where}: missing nbgrader key '{key}'")
    if meta.get("schema_version") != 3:
        problems.append(f"{where}: schema_version must be 3, got {meta.get('schema_version')!r}")
    grade_id = meta.get("grade_id")
    if any(meta.get(k) for k in ("grade", "solution", "locked")):
        if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
            problems.append(f"{where}: grade_id must match [A-Za-z0-9_-]+, got {grade_id!r}")
    if meta.get("grade"):
        points = meta.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            problems.append(f"{where}: a grade cell needs points >= 0, got {points!r}")
        if not meta.get("solution") and not meta.get("locked"):
            problems.append(f"{where}: a self-check (grade) cell must be locked")
    if meta.get("solution"):
        if meta.get("locked"):
            problems.append(f"{where}: a solution cell must not be locked")
        if cell.get("cell_type") == "code" and BEGIN_SOLUTION not in source:
            problems.append(f"{where}: a solution cell needs ### BEGIN/END SOLUTION markers")
    return problems


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of ``path``, which must be a regular file (not a link) of at most ``limit`` bytes.

    The file is opened without following a symbolic link (``O_NOFOLLOW``) and
    without waiting on a pipe (``O_NONBLOCK``), checked to be a regular file on
    the open descriptor (``fstat``), and read up to ``limit + 1`` bytes, so a link
    to ``/proc/self/mem``, another learner's notebook or a device is never read.

    Raises
    ------
    InvalidNotebookError
        With a one-line reason: a link, not a regular file, too large, unreadable.

    Examples
    --------
    >>> read_regular_file("submissions/alice/07_the_triplet_loss.ipynb", 2**20)[:1]
    b'{'
    """
    path = Path(path)
    try:
        info = os.lstat(path)
    except OSError as error:
        raise InvalidNotebookError(f"the file cannot be read ({error.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise InvalidNotebookError(SYMLINK_REASON)
    if not stat.S_ISREG(info.st_mode):
        raise InvalidNotebookError(
            "not a regular file (a folder, pipe or device), so not a notebook"
        )
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:  # ELOOP: it became a link after the lstat
        raise InvalidNotebookError(f"the file cannot be opened ({error.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidNotebookError("not a regular file, so not a notebook")
        if info.st_size > limit:
            raise InvalidNotebookError(_too_large(info.st_size, limit))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(2**20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise InvalidNotebookError(f"the file cannot be read ({error.strerror})") from None
    finally:
        os.close(fd)
    if size > limit:  # it grew while being read
        raise InvalidNotebookError(_too_large(size, limit))
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return f"the file is {size / 2**20:.0f} MB, more than the limit of {limit / 2**20:.0f} MB"


def read_notebook(path: str | Path) -> NotebookNode:
    """Read a notebook that may not be one, and return a clean nbformat-4 copy.

    Reading is bounded: the file must be a regular file (not a symbolic link) of
    at most :data:`MAX_NOTEBOOK_BYTES`, valid UTF-8 JSON of nbformat 4 with at most
    :data:`MAX_CELLS` cells and :data:`MAX_CODE_CHARS` characters of code, nested
    at most :data:`MAX_NESTING` deep in what is kept (cells and metadata), and its
    text must be valid Unicode (no lone surrogate). JSON nested too deep for
    Python's parser is refused, not a crash.
    Nothing is validated cell by cell with jsonschema: the copy is built from each
    cell's type, source and metadata only, so it is a valid notebook by construction.

    Raises
    ------
    InvalidNotebookError
        With a one-line reason: a link, too large, not UTF-8, not JSON, too deeply
        nested, too many cells, too much code, not a notebook.

    Examples
    --------
    >>> nb = read_notebook("submissions/alice/07_the_triplet_loss.ipynb")
    """
    data = read_regular_file(path, MAX_NOTEBOOK_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidNotebookError("not a text file (not UTF-8), so not a notebook") from None
    containers = data.count(b"{") + data.count(b"[")
    del data
    if containers > MAX_CONTAINERS:
        raise InvalidNotebookError(
            f"holds {containers:,} JSON objects and arrays, more than the limit of "
            f"{MAX_CONTAINERS:,}, so it is not read"
        )
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidNotebookError(f"not valid JSON ({error}), so not a notebook") from None
    except RecursionError:  # the C parser stops at Python's recursion limit: no crash
        raise InvalidNotebookError(_too_deep()) from None
    except MemoryError:
        raise InvalidNotebookError("too large to read as JSON, so not a notebook") from None
    if not isinstance(content, dict) or "nbformat" not in content:
        raise InvalidNotebookError("JSON but not a Jupyter notebook (no 'nbformat' key)")
    version = content.get("nbformat")
    if version != 4 or isinstance(version, bool):
        raise InvalidNotebookError(
            f"a notebook of format version {str(version)[:20]!r}, and the grader reads "
            "version 4; open it in Jupyter and save it again"
        )
    try:
        return clean_notebook(content)
    except RecursionError:  # pragma: no cover - the nesting is checked before copying
        raise InvalidNotebookError(_too_deep()) from None


def _too_deep() -> str:
    return f"nested more than {MAX_NESTING} levels deep (lists in lists...), so not a notebook"


def check_nesting(value, depth: int = 1, limit: int = MAX_NESTING, where: str = "") -> None:
    """Check, without recursion, that ``value`` nests at most ``limit`` deep, all valid text.

    ``depth`` is the nesting level of ``value`` itself (1 for the notebook).

    Raises
    ------
    InvalidNotebookError
        If a list or object sits deeper than ``limit``, or a string (key or
        value) holds a lone surrogate, which is not text.

    Examples
    --------
    >>> check_nesting({"a": [[1]]}, limit=2)
    Traceback (most recent call last):
    ...
    siamese_grading.nbtools.InvalidNotebookError: nested more than 2 levels deep ...
    """
    todo = [(value, depth)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise InvalidNotebookError(
                    f"{where}holds a lone surrogate (such as \\ud800), which is not text, "
                    "so not a notebook"
                )
            continue
        if not isinstance(item, (dict, list)):
            continue
        if level > limit:
            raise InvalidNotebookError(
                f"{where}nested more than {limit} levels deep (lists in lists...), "
                "so not a notebook"
            )
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        todo.extend((child, level + 1) for child in children)


def clean_notebook(raw) -> NotebookNode:
    """Rebuild a notebook from its cells' type, source and metadata only.

    Anything else (outputs, odd keys, attachments) is dropped, so the result is
    always a valid nbformat 4.5 notebook with unique cell ids. What is kept is
    checked first (:data:`MAX_CELLS`, :data:`MAX_CODE_CHARS`, :func:`check_nesting`),
    without recursion.

    Raises
    ------
    InvalidNotebookError
        If ``raw`` has no list of cells, too many, too much code, a malformed
        cell, or metadata nested too deeply.
    """
    cells = raw.get("cells") if isinstance(raw, dict) else None
    if not isinstance(cells, list):
        raise InvalidNotebookError("not a notebook: it has no list of cells")
    if len(cells) > MAX_CELLS:
        raise InvalidNotebookError(
            f"the notebook has {len(cells):,} cells, more than the limit of {MAX_CELLS:,}"
        )
    nb = new_notebook()
    # the submission's own notebook metadata is never used (the source's is): not kept
    seen_ids: set[str] = set()
    code_chars = 0
    for number, cell in enumerate(cells):
        new = _clean_cell(cell, number, seen_ids)
        code_chars += len(new.source) if new.cell_type == "code" else 0
        if code_chars > MAX_CODE_CHARS:
            raise InvalidNotebookError(
                f"the notebook's code cells hold more than {MAX_CODE_CHARS:,} characters "
                "(the limit); keep your code to the exercises"
            )
        nb.cells.append(new)
    return nb


def _clean_cell(cell, number: int, seen_ids: set[str]) -> NotebookNode:
    """One cell of :func:`clean_notebook` (depth 3: notebook, cells, cell)."""
    kind = cell.get("cell_type") if isinstance(cell, dict) else None
    if kind not in ("code", "markdown", "raw"):
        raise InvalidNotebookError(f"not a notebook: cell {number} is malformed")
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise InvalidNotebookError(f"not a notebook: cell {number} has no text")
    check_nesting(source, where=f"cell {number} ")
    new = NotebookNode(cell_type=kind, metadata=NotebookNode(), source=source)
    if kind == "code":
        new.execution_count = None
        new.outputs = []
    cell_metadata = cell.get("metadata")
    nbgrader = cell_metadata.get("nbgrader") if isinstance(cell_metadata, dict) else None
    if isinstance(nbgrader, dict):  # of a cell's metadata only nbgrader's is used (grade_id)
        check_nesting(nbgrader, depth=5, where=f"the metadata of cell {number}: ")
        new.metadata = nbformat.from_dict({"nbgrader": nbgrader})
    cell_id = cell.get("id")
    if not (isinstance(cell_id, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", cell_id)):
        cell_id = new_cell_id()
    while cell_id in seen_ids:
        cell_id = new_cell_id()
    seen_ids.add(cell_id)
    new.id = cell_id
    return new


def new_cell_id() -> str:
    """A fresh random cell id (nbformat 4.5 style)."""
    return uuid.uuid4().hex[:8]

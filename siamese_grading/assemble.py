"""Build the notebook that decides a learner's grades: the course's cells and their exercise code.

The grades are not decided by running the learner's notebook. :func:`assemble`
starts from the *source* (instructor) notebook and replaces each solution cell
by the learner's exercise cell, as screened by :func:`~siamese_grading.screen.screen`
(definitions only; refused code is replaced by the released stub). Every other
cell is the course's own: the setup cell, the cells that prepare data, and the
locked self-checks with their hidden tests. Cells the learner added, edited or
moved elsewhere never run, so nothing outside the exercise code can change a
grade: not a patched check, not an IPython input or AST transformer, not a
replaced ``np.allclose``.

The learner's exercise cell is found, in this order:

1. by nbgrader ``grade_id`` in the cell metadata;
2. by its ``# EXERCISE N.k`` first line;
3. by fingerprint: the cell still equals the released stub;
4. by what it defines: a code cell that defines every function and class that
   the released exercise cell defines.

An exercise whose cell cannot be found is ``missing``; its stub runs in its place.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .judges import JUDGES
from .nbtools import (
    BEGIN_SOLUTION,
    METADATA_KEY,
    cell_source,
    exercise_number,
    exercise_title,
    find_exercises,
    fingerprint,
    nbgrader_meta,
    released_cell_source,
    strip_hidden_tests,
)
from .screen import (
    BUILTIN_NAMES,
    IPYTHON_NAMES,
    SAFE_MODULES,
    Policy,
    Screened,
    bound_names,
    dump,
    imported_modules,
    parse,
    screen,
)

#: What the feedback shows in place of a self-check made of hidden tests only.
HIDDEN_CELL = "# (a self-check of hidden tests)"


@dataclass
class ExerciseCode:
    """What was put in place of one solution cell of the source notebook.

    Attributes
    ----------
    learner_source : str or None
        The learner's cell as submitted; None when it could not be found.
    screened : Screened or None
        What of it runs (None when not found: the released stub runs).
    """

    learner_source: str | None
    screened: Screened | None


@dataclass
class Assembled:
    """The grading notebook of one submission.

    Attributes
    ----------
    nb : NotebookNode
        What runs: the source's cells, hidden tests included, with the learner's
        screened exercise code in place of each solution. Never shown to learners.
    shown : list of str
        Per cell of ``nb``, the source the feedback page shows (released checks,
        the learner's exercise cells as submitted).
    check_cells : dict
        Exercise name -> index of its self-check cell in ``nb``.
    missing : dict
        Exercise name -> why its cell could not be found.
    code : dict
        Index of each solution cell in ``nb`` -> :class:`ExerciseCode`.
    secret : set of int
        Cells whose outputs are never shown (they hold hidden tests).
    judges : dict
        Index of each self-check cell whose exercise a judge decides -> its
        grade_id (:data:`~siamese_grading.judges.JUDGES`). Such a cell runs in the
        kernel without its hidden tests: they live in the judge.
    """

    nb: NotebookNode
    shown: list[str] = field(default_factory=list)
    check_cells: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    code: dict[int, ExerciseCode] = field(default_factory=dict)
    secret: set[int] = field(default_factory=set)
    judges: dict[int, str] = field(default_factory=dict)


def assemble(source: NotebookNode, submission: NotebookNode) -> Assembled:
    """Return the grading notebook of ``submission`` against ``source``.

    Neither argument is modified.

    Examples
    --------
    >>> ready = assemble(nbformat.read("notebooks/07_the_triplet_loss.ipynb", 4), learner_nb)
    >>> sorted(ready.check_cells)
    ['ex7_1_triplet_loss']
    """
    facts = _Facts(source)
    nb = new_notebook(metadata=copy.deepcopy(source.get("metadata", {})))
    nb.metadata.pop(METADATA_KEY, None)
    result = Assembled(nb)
    free = [c for c in submission.cells if c.get("cell_type") == "code"]
    for index, cell in enumerate(source.cells):
        full = cell_source(cell)
        released = released_cell_source(cell)
        if cell.get("cell_type") != "code":
            nb.cells.append(new_markdown_cell(released or ""))
            result.shown.append(released or "")
            continue
        if strip_hidden_tests(full)[1]:
            result.secret.add(index)
        if nbgrader_meta(cell).get("solution") and BEGIN_SOLUTION in full:
            code = _exercise_code(cell, free, facts)
            result.code[index] = code
            runs = code.screened.code if code.screened and code.screened.runs else released
            nb.cells.append(new_code_cell(runs or ""))
            learner = code.learner_source
            result.shown.append(learner if learner is not None else released or "")
            continue
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("grade") and grade_id in JUDGES:
            result.judges[index] = grade_id
            full = strip_hidden_tests(full)[0]  # the judge holds them
        nb.cells.append(new_code_cell(full))
        result.shown.append(released if released is not None else HIDDEN_CELL)
    for exercise in find_exercises(source):
        result.check_cells[exercise.name] = exercise.check_index
        code = result.code.get(exercise.solution_index)
        if code is not None and code.learner_source is None:
            result.missing[exercise.name] = (
                f"could not find the cells of {exercise.title} (deleted?); its self-check "
                "was not run"
            )
    return result


class _Facts:
    """What the source notebook binds and imports (for each exercise's :class:`Policy`)."""

    def __init__(self, source: NotebookNode):
        trees = [parse(cell_source(c)) for c in source.cells if c.get("cell_type") == "code"]
        self.bound = set().union(*(bound_names(t.body) for t in trees if t is not None))
        self.modules = set().union(*(imported_modules(t) for t in trees))
        self.imports = {
            dump(node)
            for tree in trees
            if tree is not None
            for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom))
        }

    def policy(self, cell: NotebookNode) -> Policy:
        """The screen's policy for the learner's version of solution ``cell``."""
        full = parse(cell_source(cell))
        released = parse(released_cell_source(cell) or "")
        template = released.body if released is not None else []
        own = bound_names(full.body) if full is not None else set()
        own -= bound_names(s for s in template if not _defines(s))
        top_level = any(
            BEGIN_SOLUTION in line and not line[: len(line) - len(line.lstrip())]
            for line in cell_source(cell).split("\n")
        )
        return Policy(
            protected=frozenset((BUILTIN_NAMES | IPYTHON_NAMES | self.bound) - own),
            modules=frozenset(self.modules | SAFE_MODULES),
            template=frozenset(dump(s) for s in template),
            imports_as_source=frozenset(self.imports),
            top_level=top_level,
        )


def _defines(statement: ast.stmt) -> bool:
    """A ``def`` or ``class`` statement."""
    return isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


def _exercise_code(wanted: NotebookNode, free: list, facts: _Facts) -> ExerciseCode:
    """Find the learner's version of solution cell ``wanted`` in ``free`` and screen it."""
    found = _find_solution(wanted, free)
    if found is None:
        return ExerciseCode(None, None)
    free.remove(found)
    source = cell_source(found)
    return ExerciseCode(source, screen(source, facts.policy(wanted)))


def _find_solution(wanted: NotebookNode, cells: list):
    grade_id = nbgrader_meta(wanted).get("grade_id")
    if grade_id:
        for cell in cells:
            if nbgrader_meta(cell).get("grade_id") == grade_id:
                return cell
    number = exercise_number(exercise_title(wanted))
    if number:
        for cell in cells:
            if exercise_number(exercise_title(cell)) == number:
                return cell
    released = released_cell_source(wanted)
    if released is not None:
        for cell in cells:
            if fingerprint(cell_source(cell)) == fingerprint(released):
                return cell
    template = parse(released or "")
    names = {s.name for s in template.body if _defines(s)} if template is not None else set()
    if names:
        for cell in cells:
            tree = parse(cell_source(cell))
            if tree is not None and names <= {s.name for s in tree.body if _defines(s)}:
                return cell
    return None

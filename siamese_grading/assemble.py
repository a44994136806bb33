"""Put the locked self-checks and hidden tests back into a learner's notebook.

A learner may have moved cells, deleted some, lost the cell metadata or edited a
self-check. :func:`assemble` finds each self-check cell of the source notebook in
the submission, in this order:

1. by nbgrader ``grade_id`` in the cell metadata;
2. by fingerprint: the cell's source equals the released self-check (sha256 of the
   normalised source, as stored by ``release``);
3. by source: the cell equals the instructor's self-check;
4. by its first statement (e.g. ``checks.check_triplet_loss(triplet_loss)``) in a
   cell that holds other code too.

The cell found is replaced by the *source* notebook's version (hidden tests
included), so editing a check away does not help; in case 4 the learner's cell is
kept and the locked check goes right after it. A self-check that cannot be found
is put back right after its exercise cell (found by ``grade_id``, by its
``# EXERCISE N.k`` first line, or by fingerprint). When neither can be found, the
exercise is ``missing``. A cell that held only hidden tests is put back after the
nearest cell above it that was found.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from .nbtools import (
    METADATA_KEY,
    Exercise,
    cell_source,
    exercise_number,
    exercise_title,
    find_exercises,
    fingerprint,
    is_grade_cell,
    is_solution_cell,
    nbgrader_meta,
    new_cell_id,
    normalize_source,
    released_cell_source,
    strip_hidden_tests,
)


@dataclass
class Assembled:
    """A submission ready to run.

    Attributes
    ----------
    nb : NotebookNode
        The learner's cells, outputs cleared, with the locked checks put back.
    check_cells : dict
        Exercise name -> index of its self-check cell in ``nb`` (absent if missing).
    missing : dict
        Exercise name -> why it could not be found.
    """

    nb: NotebookNode
    check_cells: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def assemble(source: NotebookNode, submission: NotebookNode) -> Assembled:
    """Return ``submission`` with ``source``'s locked self-checks and hidden tests in place.

    Neither argument is modified.

    Examples
    --------
    >>> ready = assemble(nbformat.read("notebooks/07_the_triplet_loss.ipynb", 4), learner_nb)
    >>> sorted(ready.check_cells)
    ['ex7_1_triplet_loss', ...]
    """
    nb = copy.deepcopy(submission)
    for cell in nb.cells:
        cell.metadata.pop(METADATA_KEY, None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    state = _State(nb.cells)
    exercises = {ex.check_index: ex for ex in find_exercises(source)}
    result = Assembled(nb)
    for index, cell in enumerate(source.cells):
        exercise = exercises.get(index)
        hidden = cell.cell_type == "code" and strip_hidden_tests(cell_source(cell))[1] > 0
        if exercise is None and not hidden:
            continue  # neither a self-check nor a code cell with hidden tests
        placed = state.place(source, index, exercise)
        if exercise is not None and placed is None:
            result.missing[exercise.name] = (
                f"could not find the cells of {exercise.title} (deleted?); "
                "its self-check was not run"
            )
    nb.cells = state.cells
    positions = {id(cell): k for k, cell in enumerate(nb.cells)}
    for index, exercise in exercises.items():
        placed = state.placed.get(index)
        if placed is not None:
            result.check_cells[exercise.name] = positions[id(placed)]
    return result


class _State:
    """The learner's cells while checks are being put back."""

    def __init__(self, cells: list):
        self.cells = list(cells)
        self.used: set[int] = set()  # id() of learner cells already matched
        self.placed: dict[int, NotebookNode] = {}  # source index -> cell in self.cells
        self.last_after: dict[int, NotebookNode] = {}  # anchor id -> last cell put after it

    def place(self, source: NotebookNode, index: int, exercise: Exercise | None):
        """Put source cell ``index`` in place; return the cell, or None when impossible."""
        wanted = source.cells[index]
        match, replace = self._find(wanted)
        if match is not None and replace:
            new = _locked_copy(wanted, keep_id=match.get("id"))
            self.cells[self._position(match)] = new
        else:
            anchor = match if match is not None else self._anchor(source, index, exercise)
            if anchor is None:
                return None
            self.used.add(id(anchor))
            after = self.last_after.get(id(anchor), anchor)
            new = _locked_copy(wanted, keep_id=None)
            self.cells.insert(self._position(after) + 1, new)
            self.last_after[id(anchor)] = new
        self.used.add(id(new))
        self.placed[index] = new
        return new

    def _position(self, cell) -> int:
        return next(i for i, c in enumerate(self.cells) if c is cell)

    def _free(self):
        return [cell for cell in self.cells if id(cell) not in self.used]

    def _find(self, wanted: NotebookNode):
        """(cell, True) for a cell to replace, (cell, False) for one to insert after."""
        grade_id = nbgrader_meta(wanted).get("grade_id")
        free = self._free()
        if grade_id:
            for cell in free:
                if nbgrader_meta(cell).get("grade_id") == grade_id:
                    return cell, True
        released = released_cell_source(wanted)
        targets = [fingerprint(cell_source(wanted))]
        if released is not None and released.strip():
            targets.insert(0, fingerprint(released))
        for target in targets:
            for cell in free:
                if cell.cell_type == "code" and fingerprint(cell_source(cell)) == target:
                    return cell, True
        key = _key_line(released) if is_grade_cell(wanted) else None
        if key is not None:  # a cell that also holds other code: keep it, add ours after it
            for cell in free:
                lines = normalize_source(cell_source(cell)).split("\n")
                if cell.cell_type == "code" and not is_solution_cell(cell) and key in lines:
                    return cell, False
        return None, False

    def _anchor(self, source: NotebookNode, index: int, exercise: Exercise | None):
        if exercise is not None and exercise.solution_index is not None:
            return self._find_solution(source.cells[exercise.solution_index])
        for above in range(index - 1, -1, -1):
            if above in self.placed:
                return self.placed[above]
            if is_solution_cell(source.cells[above]):
                found = self._find_solution(source.cells[above])
                if found is not None:
                    return found
        return None

    def _find_solution(self, wanted: NotebookNode):
        grade_id = nbgrader_meta(wanted).get("grade_id")
        for cell in self.cells:
            if grade_id and nbgrader_meta(cell).get("grade_id") == grade_id:
                return cell
        number = exercise_number(exercise_title(wanted))
        for cell in self.cells:
            if number and exercise_number(exercise_title(cell)) == number:
                return cell
        released = released_cell_source(wanted)
        for cell in self.cells:
            if released is not None and fingerprint(cell_source(cell)) == fingerprint(released):
                return cell
        return None


def _key_line(released: str | None) -> str | None:
    """First statement of a released self-check, if it is specific enough to search for."""
    for line in normalize_source(released or "").split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return line if len(stripped) >= 10 else None
    return None


def _locked_copy(cell: NotebookNode, keep_id: str | None) -> NotebookNode:
    new = new_code_cell(source=cell_source(cell), metadata=copy.deepcopy(cell.get("metadata", {})))
    new.metadata.pop(METADATA_KEY, None)
    new.metadata.pop("execution", None)
    new.id = keep_id or new_cell_id()
    return new

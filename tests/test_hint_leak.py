"""The student version must not hand out the answers: hints nudge, they do not dictate.

For each notebook with exercises, the instructor version is released with the
grader's own ``release_notebook`` (solutions replaced by stubs, hidden tests
removed), and its **leak** is measured: the share of the notebook's solution lines
that appear, word for word, anywhere in the student version (markdown included).

A solution line is a line inside a ``### BEGIN SOLUTION`` / ``### END SOLUTION``
block of the instructor version, stripped of white space at both ends and of a
trailing ``# comment``, that is longer than 12 characters and not a comment itself
(shorter lines such as ``plt.show()`` or ``return x`` say nothing about the answer).
Cutting the trailing comment makes the measure stricter: a hint that copies a line
but not its comment still counts as copying it.

Run ``pytest tests/test_hint_leak.py -s`` to print every notebook's figure.
"""

from __future__ import annotations

import io
import textwrap
import tokenize

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from notebook_tools import NOTEBOOK_DIR
from siamese_grading.release import release_notebook

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"

#: At most this share of a notebook's solution lines may appear in its student version.
MAX_LEAK = 0.25

#: Lines this short or shorter are not counted (``return x``, ``plt.show()``).
MIN_LENGTH = 12

#: Every notebook that has exercises (02-09 and any other, such as 01's warm-up).
NOTEBOOKS = sorted(
    path.name
    for path in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")
    if BEGIN_SOLUTION in path.read_text(encoding="utf-8")
)

# ----------------------------------------------------------------------------------------
# The measure
# ----------------------------------------------------------------------------------------


def _without_comments(block: list[str]) -> list[str]:
    """The lines of a solution block, dedented, each cut before its ``# comment``.

    Python's tokenizer finds the comments, so that a ``#`` inside a string is kept.
    """
    text = textwrap.dedent("\n".join(block))
    cuts: dict[int, int] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text + "\n").readline):
            if token.type == tokenize.COMMENT:
                cuts[token.start[0] - 1] = token.start[1]
    except (tokenize.TokenError, SyntaxError):  # not Python: keep the lines whole
        cuts = {}
    return [line[: cuts[i]] if i in cuts else line for i, line in enumerate(text.split("\n"))]


def solution_lines(nb) -> list[str]:
    """Every counted line of every solution block of ``nb``, in notebook order.

    Examples
    --------
    >>> cell = new_code_cell("def f(x):\\n    ### BEGIN SOLUTION\\n    y = 2 * x + 1  # odd\\n"
    ...                      "    return y\\n    ### END SOLUTION")
    >>> solution_lines(new_notebook(cells=[cell]))
    ['y = 2 * x + 1']
    """
    lines: list[str] = []
    for cell in nb.cells:
        block = None
        for line in cell.source.split("\n"):
            if line.strip() == BEGIN_SOLUTION:
                block = []
            elif line.strip() == END_SOLUTION and block is not None:
                for kept in _without_comments(block):
                    kept = kept.strip()
                    if len(kept) > MIN_LENGTH and not kept.startswith("#"):
                        lines.append(kept)
                block = None
            elif block is not None:
                block.append(line)
    return lines


def student_text(student) -> str:
    """Everything a learner can read in the student version: every cell and output."""
    parts = []
    for cell in student.cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts.extend(str(value) for value in output.get("data", {}).values())
    return "\n".join(parts)


def leak(source_nb, name: str = "notebook.ipynb") -> tuple[float, list[str], int]:
    """(share of solution lines in the student version, those lines, number of solution lines)."""
    lines = solution_lines(source_nb)
    text = student_text(release_notebook(source_nb, name))
    leaked = [line for line in lines if line in text]
    return (len(leaked) / len(lines) if lines else 0.0), leaked, len(lines)


def report(name: str, share: float, leaked: list[str], total: int) -> str:
    listed = "".join(f"\n    {line}" for line in leaked)
    return (
        f"{name}: {len(leaked)}/{total} solution lines in the student version = {share:.0%}{listed}"
    )


def assert_little_leak(source_nb, name: str) -> None:
    share, leaked, total = leak(source_nb, name)
    message = report(name, share, leaked, total)
    print(message)
    assert share <= MAX_LEAK, f"{message}\nat most {MAX_LEAK:.0%} may appear: make the hints nudge"


# ----------------------------------------------------------------------------------------
# The course's notebooks
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_version_leaks_at_most_a_quarter_of_the_solution(name):
    source_nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert solution_lines(source_nb), f"{name} has no solution lines to protect"
    assert_little_leak(source_nb, name)


def test_the_notebooks_with_exercises_are_all_measured():
    numbers = {name[:2] for name in NOTEBOOKS}
    assert {f"{n:02d}" for n in range(2, 10)} <= numbers, numbers


# ----------------------------------------------------------------------------------------
# The measure itself, on fabricated notebooks: it can fail
# ----------------------------------------------------------------------------------------

_SOLUTION = """\
# EXERCISE 1.1 — a tiny exercise
def scaled_total(values, factor=2):
    ### BEGIN SOLUTION
    # a comment line is not counted
    doubled = [v * factor for v in values]  # a trailing comment is cut
    total = sum(doubled)
    label = "# not a comment"
    result = round(total, 3)
    return result
    ### END SOLUTION"""

_LINES = [
    "doubled = [v * factor for v in values]",
    "total = sum(doubled)",
    'label = "# not a comment"',
    "result = round(total, 3)",
]


def fabricated(hint: str):
    """A one-exercise notebook in nbgrader's conventions, whose hint cell says ``hint``."""
    solution = new_code_cell(_SOLUTION)
    solution.metadata["nbgrader"] = {
        "grade": False,
        "grade_id": "ex1_1_scaled_total",
        "locked": False,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    check = new_code_cell("assert scaled_total([1, 2]) == 6")
    check.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "check_ex1_1_scaled_total",
        "locked": True,
        "points": 1,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    cells = [new_markdown_cell("# Task 1"), solution, new_markdown_cell(hint), check]
    return new_notebook(cells=cells)


def test_solution_lines_skip_comments_and_short_lines_and_cut_trailing_comments():
    # "return result" is 13 characters: counted; the comment line is not
    assert solution_lines(fabricated("")) == [*_LINES, "return result"]


def test_a_hint_that_copies_three_of_four_solution_lines_leaks_75_percent():
    nb = fabricated("")
    # four solution lines: "return 0" is too short to count
    nb.cells[1].source = _SOLUTION.replace("    return result", "    return 0")
    hint = "<details><summary>Hint</summary>\n\n```python\n" + "\n".join(_LINES[:3]) + "\n```"
    nb.cells[2].source = hint
    share, leaked, total = leak(nb)
    assert total == 4 and leaked == _LINES[:3]
    assert abs(share - 0.75) < 1e-12
    with pytest.raises(AssertionError, match="3/4 solution lines .* = 75%"):
        assert_little_leak(nb, "fabricated.ipynb")


def test_a_hint_with_blanks_leaks_nothing_and_passes():
    hint = "Hint 2: a skeleton\n```python\ndoubled = ...\ntotal = sum(...)\nreturn ...\n```"
    share, leaked, total = leak(fabricated(hint))
    assert (share, leaked, total) == (0.0, [], 5)
    assert_little_leak(fabricated(hint), "fabricated.ipynb")


def test_one_copied_line_in_four_is_exactly_the_limit():
    nb = fabricated(f"Indented, with a comment after it:   {_LINES[1]}   # see?")
    nb.cells[1].source = _SOLUTION.replace("    return result", "    return 0")
    share, leaked, _ = leak(nb)
    assert leaked == [_LINES[1]] and abs(share - MAX_LEAK) < 1e-12
    assert_little_leak(nb, "fabricated.ipynb")


def test_the_released_stub_replaces_the_solution_so_it_does_not_count_as_a_leak():
    nb = fabricated("no hint")
    student = release_notebook(nb, "fabricated.ipynb")
    assert "raise NotImplementedError()" in student_text(student)
    assert not any(line in student_text(student) for line in _LINES)
    assert all(line in nb.cells[1].source for line in _LINES)  # the measure sees the source

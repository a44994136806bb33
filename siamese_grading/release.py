"""Write the student version of the course notebooks (``siamese-grading release``).

For every notebook of the source (instructor) folder:

- each ``### BEGIN SOLUTION`` .. ``### END SOLUTION`` block becomes
  ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at the same indentation,
  and the code around it (the ``def`` line, the docstring) is kept;
- each ``### BEGIN HIDDEN TESTS`` .. ``### END HIDDEN TESTS`` block is removed, and a
  cell that held nothing but hidden tests is removed altogether;
- outputs and execution counts are cleared; locked cells become non-editable and
  non-deletable in Jupyter (like nbgrader does);
- the notebook metadata gets ``siamese_grading``: one entry per exercise with the
  sha256 fingerprint of its released self-check, so that grading finds it again.

The source folder is only read, never written.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ._validation import check_callable, check_flag, check_instance
from .nbtools import (
    METADATA_KEY,
    cell_source,
    find_exercises,
    has_markers,
    nbgrader_meta,
    nbgrader_problems,
    released_cell_source,
    strip_hidden_tests,
)

#: Non-notebook files that are copied along (pictures that notebooks may show).
ASSET_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")

LEARNER_README = """\
# Siamese Networks with Triplet Loss: your notebooks

Work through the notebooks in order, from `01_...` to the last one. Each one is a
short lesson that ends with exercises.

## How to work an exercise

1. Find the cell that starts with `# EXERCISE N.k`. Replace the two lines
   `# YOUR CODE HERE` and `raise NotImplementedError()` with your code. Keep the code
   around them, such as the function name and its arguments: the checks call it.
2. Stuck? Open the **Hint** just below the exercise.
3. Run the **self-check** cell after the hint. It prints one friendly line when
   your code is right. When it is wrong, it raises an `AssertionError` whose message
   names the likely mistake. Fix your code and run both cells again.

The self-check cells are locked: do not edit or delete them. Grading runs the
original self-checks, plus a few extra hidden tests of the same kind, so make your
code right in general, not just for the visible example.

## How your notebook is graded

Grading runs, in a fresh kernel, the notebook's own cells and **your exercise cells
only**: cells you added or changed elsewhere do not run. Of an exercise cell it runs
the definitions (`def`, `class`, `import`, constants such as `alpha = 0.2`) and the
lines that were already there around `# YOUR CODE HERE`; other statements, such as a
`print` or a test call of your own, are listed as "not run" in your feedback. So:

- put everything an exercise needs (helper functions, imports) in its exercise cell;
- keep the function names and arguments that the exercise cell gives you;
- use *Kernel > Restart Kernel and Run All Cells* and check that every self-check
  passes before you submit. There is a time limit (2 minutes per notebook unless
  your instructor says otherwise).

You may add cells of your own to experiment; they are simply not graded.

## How to submit

Hand in the `.ipynb` files with their names unchanged (for example
`07_the_triplet_loss.ipynb`), the way your instructor tells you. You get back one
web page per notebook: the notebook as it was graded, with your score and the
message of each failing check at the top.

## A note for instructors

`siamese-grading grade` treats every submission as untrusted code: on Linux it
runs each notebook in a bubblewrap sandbox (no network, none of your files, nothing
left running afterwards) and decides each grade outside it. `--no-sandbox` grades
without one, which is not a security sandbox: only for submissions you trust.
"""


class ReleaseError(ValueError):
    """The student version cannot be written (bad folders or a bad source notebook)."""


def release_notebook(nb: NotebookNode, name: str = "notebook.ipynb") -> NotebookNode:
    """Return the student version of a source notebook (``nb`` is not modified).

    Parameters
    ----------
    nb : NotebookNode
        An instructor notebook that follows nbgrader's conventions.
    name : str
        Its file name, used in messages and in the metadata.

    Returns
    -------
    NotebookNode
        Solutions replaced by stubs, hidden tests removed, outputs cleared, and
        ``metadata.siamese_grading`` describing each exercise.

    Raises
    ------
    TypeError
        If ``nb`` is not a NotebookNode.
    ReleaseError
        If the nbgrader metadata or the markers are inconsistent.

    Examples
    --------
    >>> student = release_notebook(nbformat.read("notebooks/07_the_triplet_loss.ipynb", 4))
    >>> [e["grade_id"] for e in student.metadata["siamese_grading"]["exercises"]]
    ['ex7_1_triplet_loss', ...]
    """
    check_instance(nb, NotebookNode, "nb", example='nbformat.read("07_....ipynb", as_version=4)')
    if not isinstance(nb.get("cells"), list):
        raise ReleaseError(f"{name}: the notebook has no list of cells")
    problems = nbgrader_problems(nb)
    if problems:
        raise ReleaseError(f"{name}: " + "; ".join(problems))
    student = copy.deepcopy(nb)
    cells = []
    for cell in student.cells:
        released = released_cell_source(cell)
        if released is None:
            continue
        cells.append(_student_cell(cell, released))
    student.cells = cells
    leaks = [i for i, cell in enumerate(cells) if has_markers(cell_source(cell))]
    if leaks:
        raise ReleaseError(f"{name}: markers left in student cells {leaks}; check their pairing")
    student.metadata[METADATA_KEY] = {
        "schema_version": 1,
        "notebook": name,
        "exercises": [
            {
                "grade_id": ex.name,
                "check_grade_id": ex.check_grade_id,
                "points": ex.points,
                "fingerprint": ex.fingerprint,
                "title": ex.title,
            }
            for ex in find_exercises(nb)
        ],
    }
    return student


def _student_cell(cell: NotebookNode, source: str) -> NotebookNode:
    cell.source = source
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    for key in ("execution", METADATA_KEY):
        cell.metadata.pop(key, None)
    meta = nbgrader_meta(cell)
    if meta.get("grade") or meta.get("locked"):
        cell.metadata["deletable"] = False
    if meta.get("locked") and not meta.get("solution"):
        cell.metadata["editable"] = False
    return cell


def check_folders(src_dir: Path, out_dir: Path, *, force: bool) -> None:
    """Refuse to write into (or around) the source folder, or over a non-empty folder.

    Raises
    ------
    ReleaseError
        With a message that says which folder is wrong and what to do.
    """
    if not src_dir.is_dir():
        raise ReleaseError(f"SRC_DIR {src_dir} is not a folder; pass the instructor notebooks")
    if out_dir == src_dir:
        raise ReleaseError(
            f"OUT_DIR is the same folder as SRC_DIR ({src_dir}); the student version must go "
            "to another folder, e.g. student/"
        )
    if src_dir in out_dir.parents:
        raise ReleaseError(
            f"OUT_DIR {out_dir} is inside SRC_DIR {src_dir}; choose a folder outside it, "
            "e.g. student/"
        )
    if out_dir in src_dir.parents:
        raise ReleaseError(f"OUT_DIR {out_dir} contains SRC_DIR {src_dir}; choose another folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise ReleaseError(f"OUT_DIR {out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise ReleaseError(
            f"OUT_DIR {out_dir} is not empty; pass --force to overwrite the files of the "
            "same name in it, or choose an empty folder"
        )


def release_directory(
    src_dir: str | Path,
    out_dir: str | Path,
    *,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Write the student version of every notebook of ``src_dir`` into ``out_dir``.

    Parameters
    ----------
    src_dir : path
        Folder of the instructor notebooks (``*.ipynb``); only read.
    out_dir : path
        Folder for the student notebooks and a README.md for learners. Created if
        needed; it must not be, contain or sit inside ``src_dir``.
    force : bool
        Allow a non-empty ``out_dir``: files of the same name are overwritten,
        other files are left alone.
    log : callable
        Receives one progress line per notebook.

    Returns
    -------
    list of Path
        The student notebooks written.

    Raises
    ------
    ReleaseError
        If a folder is wrong (see :func:`check_folders`) or a notebook cannot be
        released; nothing is written then.
    TypeError
        If ``force`` is not a bool or ``log`` is not callable.

    Examples
    --------
    >>> release_directory("notebooks", "student")
    released 07_the_triplet_loss.ipynb: 2 exercises (2 points), 1 hidden-test block removed
    """
    force = check_flag(force, "force")
    log = check_callable(log, "log", example="print")
    src, out = Path(src_dir).resolve(), Path(out_dir).resolve()
    check_folders(src, out, force=force)
    paths = sorted(p for p in src.glob("*.ipynb") if p.is_file())
    if not paths:
        raise ReleaseError(f"SRC_DIR {src} holds no .ipynb notebooks")
    released = [(path, _release_file(path)) for path in paths]  # all checked before writing
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, (student, n_hidden) in released:
        target = out / path.name
        nbformat.write(student, target)
        written.append(target)
        exercises = student.metadata[METADATA_KEY]["exercises"]
        points = sum(e["points"] for e in exercises)
        log(
            f"released {path.name}: {len(exercises)} exercise{'s' * (len(exercises) != 1)} "
            f"({points:g} point{'s' * (points != 1)}), "
            f"{n_hidden} hidden-test block{'s' * (n_hidden != 1)} removed"
        )
    _copy_assets(src, out)
    (out / "README.md").write_text(LEARNER_README, encoding="utf-8")
    log(f"wrote {len(written)} student notebooks and README.md to {out}")
    return written


def _release_file(path: Path) -> tuple[NotebookNode, int]:
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:
        raise ReleaseError(f"{path.name} cannot be read as a notebook: {error}") from None
    student = release_notebook(nb, path.name)
    n_hidden = sum(strip_hidden_tests(cell_source(cell))[1] for cell in nb.cells)
    return student, n_hidden


def _copy_assets(src: Path, out: Path) -> None:
    for path in sorted(src.rglob("*")):
        relative = path.relative_to(src)
        hidden = any(part.startswith(".") for part in relative.parts)
        if path.is_file() and not hidden and path.suffix.lower() in ASSET_SUFFIXES:
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out / relative)

"""Static checks of every committed notebook: format, hygiene and lesson structure.

``lint`` returns the problems of one notebook as strings; the tests run it on
every notebook (expecting none) and on broken copies (expecting each problem).
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest

from notebook_tools import TASK_NOTEBOOKS, all_notebooks, load, source

BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
MACHINE_PATH = re.compile(r"(/root/|/home/\w+|/tmp/[\w.-]+/|/Users/\w+|[A-Z]:\\\\Users)")


def nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def lint(nb: dict, filename: str) -> list[str]:
    """Every problem of one notebook, as short messages."""
    problems = []
    try:
        nbformat.validate(nbformat.from_dict(copy.deepcopy(nb)))
    except Exception as exc:  # noqa: BLE001 - any failure means "not a valid notebook"
        problems.append(f"invalid nbformat: {str(exc).splitlines()[0]}")
    if nb.get("nbformat") != 4:
        problems.append("not nbformat 4")
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec is not python3")

    cells = nb.get("cells", [])
    code = [c for c in cells if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        problems.append("execution counts are not 1..n: re-run top to bottom in a fresh kernel")
    for cell in code:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"stored error output ({output.get('ename')})")
            if output.get("name") == "stderr":
                problems.append("stored stderr output")
            if MACHINE_PATH.search(str(output)):
                problems.append("an output shows a machine path")

    title = cells[0] if cells else {}
    if title.get("cell_type") != "markdown" or not source(title).startswith("# Task "):
        problems.append("the first cell is not a '# Task N: ...' title")
    elif BADGE not in source(title) or f"notebooks/{filename}" not in source(title):
        problems.append("the title cell has no Colab badge linking to this notebook")

    setup = source(code[0]) if code else ""
    env = setup.find("TF_CPP_MIN_LOG_LEVEL")
    first_tf = min(
        (i for i in (setup.find("import keras"), setup.find("import tensorflow")) if i >= 0),
        default=-1,
    )
    if env < 0 or (first_tf >= 0 and env > first_tf):
        problems.append("the setup cell must set TF_CPP_MIN_LOG_LEVEL before importing Keras")
    if "keras.utils.set_random_seed" not in setup:
        problems.append("the setup cell does not seed with keras.utils.set_random_seed")
    if "google.colab" not in setup or "%pip install" not in setup:
        problems.append("the setup cell has no Colab-guarded %pip install")

    exercises = [i for i, c in enumerate(cells) if nbgrader(c).get("solution")]
    if not exercises:
        problems.append("no exercise cell")
    grade_ids = [nbgrader(c)["grade_id"] for c in cells if nbgrader(c).get("grade_id")]
    if len(grade_ids) != len(set(grade_ids)):
        problems.append("duplicate nbgrader grade_id")
    for i in exercises:
        text = source(cells[i])
        begin, end = text.find("### BEGIN SOLUTION"), text.find("### END SOLUTION")
        if not 0 <= begin < end:
            problems.append(f"exercise cell {i} lacks the BEGIN/END SOLUTION markers")
        if not text.startswith("# EXERCISE"):
            problems.append(f"exercise cell {i} does not start with '# EXERCISE'")
        hint = cells[i + 1] if i + 1 < len(cells) else {}
        if hint.get("cell_type") != "markdown" or "<summary>Hint" not in source(hint):
            problems.append(f"exercise cell {i} is not followed by a Hint cell")
        check = cells[i + 2] if i + 2 < len(cells) else {}
        if (
            check.get("cell_type") != "code"
            or not nbgrader(check).get("grade")
            or not re.search(r"\bcheck_\w+\(|\bassert\b", source(check))
        ):
            problems.append(f"exercise cell {i} is not followed by hint + self-check cell")
    for cell in cells:
        meta = nbgrader(cell)
        if meta and meta.get("schema_version") != 3:
            problems.append("nbgrader metadata is not schema_version 3")
        if meta.get("grade") and not meta.get("locked"):
            problems.append("a self-check (grade) cell is not locked")
    return problems


@pytest.mark.parametrize("name", TASK_NOTEBOOKS)
def test_the_eight_task_notebooks_exist(name):
    assert name in [path.name for path in all_notebooks()]


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda path: path.name)
def test_notebook_is_clean(path):
    assert lint(load(path), path.name) == []


@pytest.mark.parametrize("path", all_notebooks()[:-1], ids=lambda path: path.name)
def test_summary_links_to_the_next_notebook(path):
    following = all_notebooks()[all_notebooks().index(path) + 1].name
    assert f"]({following})" in source(load(path)["cells"][-1])


# ---- the linter itself must catch each problem -------------------------------------------

GOOD = "07_the_triplet_loss.ipynb"


def broken(change):
    nb = copy.deepcopy(load(GOOD))
    change(nb)
    return lint(nb, GOOD)


def exercise_index(nb):
    return next(i for i, c in enumerate(nb["cells"]) if nbgrader(c).get("solution"))


def drop_markers(nb):
    cell = nb["cells"][exercise_index(nb)]
    cell["source"] = source(cell).replace("### BEGIN SOLUTION", "")


def add_error(nb):
    nb["cells"][1]["outputs"].append(
        {"output_type": "error", "ename": "NameError", "evalue": "x", "traceback": []}
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda nb: nb["cells"][1].update(execution_count=7), "execution counts"),
        (add_error, "stored error output"),
        (lambda nb: nb["metadata"]["kernelspec"].update(name="ir"), "python3"),
        (lambda nb: nb["cells"][0].update(source="# Task 7\nno badge"), "Colab badge"),
        (lambda nb: nb["cells"].pop(0), "title"),
        (drop_markers, "markers"),
        (lambda nb: nb["cells"].pop(exercise_index(nb) + 1), "Hint cell"),
        (lambda nb: nb["cells"].pop(exercise_index(nb) + 2), "self-check"),
        (lambda nb: nb.update(nbformat=3), "nbformat"),
        (
            lambda nb: nb["cells"][1]["outputs"].append(
                {"output_type": "stream", "name": "stdout", "text": "saved to /home/alice/x\n"}
            ),
            "machine path",
        ),
    ],
)
def test_lint_catches(change, expected):
    assert any(expected in problem for problem in broken(change))


def test_the_reference_notebook_is_clean():
    assert lint(load(GOOD), GOOD) == []

"""Read the course notebooks from tests: their cells, exercises and solutions."""

from __future__ import annotations

import ast
import json
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
TASK_NOTEBOOKS = [
    "01_understanding_the_approach.ipynb",
    "02_importing_the_data.ipynb",
    "03_plotting_examples.ipynb",
    "04_a_batch_of_triplets.ipynb",
    "05_the_embedding_model.ipynb",
    "06_the_siamese_network.ipynb",
    "07_the_triplet_loss.ipynb",
    "08_model_training.ipynb",
]


def all_notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def load(name: str | Path) -> dict:
    path = Path(name) if Path(name).is_absolute() else NOTEBOOK_DIR / name
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def exercise_cell(nb: dict, grade_id: str) -> dict:
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise LookupError(f"no cell with grade_id {grade_id!r}")


def hidden_tests(notebook: str, grade_id: str) -> str:
    """The code between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` of a cell."""
    cell = source(exercise_cell(load(notebook), grade_id))
    begin, end = cell.index("### BEGIN HIDDEN TESTS"), cell.index("### END HIDDEN TESTS")
    return cell[begin:end]


def solution_namespace(notebook: str, grade_id: str, namespace: dict) -> dict:
    """Execute only the function definitions of an exercise cell, as the solution wrote them."""
    tree = ast.parse(source(exercise_cell(load(notebook), grade_id)))
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    exec(compile(tree, f"{notebook}:{grade_id}", "exec"), namespace)  # noqa: S102
    return namespace

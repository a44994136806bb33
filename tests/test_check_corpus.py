"""Every self-check of notebooks 02-07 tells the truth on a corpus of learner answers.

Each answer of ``answer_corpus.py`` is run the way a learner and the grader run it:
its code replaces the solution block of the real exercise cell of the instructor
notebook, and the real self-check cell runs after it in a namespace that holds what
the notebook's earlier cells define. Then:

* every right answer passes its self-check with one "✅" line, and its hidden tests;
* every wrong answer is rejected with a message that names its mistake;
* the self-check and the grader agree: the cell without its hidden tests (what the
  learner runs) passes exactly when the cell with them (what the grader runs) does,
  so a green tick is never followed by 0 points;
* weakening a part of a check lets a wrong answer through (or fails a right one), so
  these tests can fail.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import textwrap
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pytest

from answer_corpus import ANSWERS, BY_NAME, NOTEBOOKS, Answer
from backend_tools import only_on
from notebook_tools import exercise_cell, load, source

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

#: The exercise and self-check cells of each exercise, by nbgrader grade_id.
CELLS = {
    "2.1": ("ex2_1_prepare_images", "check_ex2_1_prepare_images"),
    "3.1": ("ex3_1_plot_triplets", "check_ex3_1_plot_triplets"),
    "4.1": ("ex4_1_create_batch", "check_ex4_1_create_batch"),
    "5.1": ("ex5_1_embedding_model", "check_ex5_1_embedding_model"),
    "6.1": ("ex6_1_siamese_network", "check_ex6_1_siamese_network"),
    "7.1": ("ex7_1_triplet_loss", "check_ex7_1_triplet_loss"),
    "7.2": ("ex7_2_margin_loss", "check_ex7_2_margin_loss"),
}

#: The fewest right and wrong answers an exercise needs; 7.2 was written with more in mind.
MINIMUM = {"7.2": (6, 8)}


def notebook_of(number: str) -> str:
    """``"07"`` for exercise ``"7.2"``."""
    return f"{int(number.split('.')[0]):02d}"


CORRECT = [answer for answer in ANSWERS if answer.correct]
WRONG = [answer for answer in ANSWERS if not answer.correct]


# ----------------------------------------------------------------------------------------
# Running an answer through the notebook's cells
# ----------------------------------------------------------------------------------------


@functools.cache
def notebook(key: str) -> dict:
    return load(NOTEBOOKS[key])


def cell_source(key: str, grade_id: str) -> str:
    return source(exercise_cell(notebook(key), grade_id))


def without_magics(code: str) -> str:
    """IPython's %magic lines become `pass`, keeping their indentation."""
    return re.sub(r"^(\s*)%.*$", r"\1pass", code, flags=re.MULTILINE)


def with_answer(exercise: str, answer: str) -> str:
    """The exercise cell with its solution block replaced by ``answer``, indented alike."""
    lines = exercise.split("\n")
    begin = next(i for i, line in enumerate(lines) if line.strip() == BEGIN_SOLUTION)
    end = next(i for i, line in enumerate(lines) if line.strip() == END_SOLUTION)
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    body = textwrap.indent(answer, indent, lambda line: True).split("\n")
    return "\n".join(lines[:begin] + body + lines[end + 1 :])


def split_hidden(check: str) -> tuple[str, str]:
    """(the cell without its hidden tests, the hidden tests), for a cell that ends with them."""
    lines = check.split("\n")
    begin = [i for i, line in enumerate(lines) if line.strip() == BEGIN_HIDDEN]
    end = [i for i, line in enumerate(lines) if line.strip() == END_HIDDEN]
    if not begin:
        return check, ""
    assert len(begin) == len(end) == 1 and end[0] == len(lines) - 1, "hidden tests must end it"
    return "\n".join(lines[: begin[0]]), "\n".join(lines[begin[0] + 1 : end[0]])


@functools.cache
def raw_images() -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 28, 28) images, as notebook 02's loading cell makes them offline."""
    from helpers.data import load_mnist

    (train, _), (test, _) = load_mnist("bundled", flatten=False)
    to_raw = lambda images: (images * 255).round().astype("uint8")  # noqa: E731 (cell 3's)
    return to_raw(train[:600]), to_raw(test[:200])


@functools.cache
def some_training_images() -> np.ndarray:
    from helpers.data import load_mnist

    return load_mnist("bundled")[0][0][:64]


def notebook_namespace(key: str, number: str = "") -> dict:
    """The setup cell's names, plus what the earlier cells define that the self-check uses.

    For exercise 7.2 that includes exercise 7.1's ``triplet_loss``, as the instructor wrote it.
    """
    namespace: dict = {"__name__": "__main__"}
    setup = next(c for c in notebook(key)["cells"] if "from helpers import checks" in source(c))
    exec(without_magics(source(setup)), namespace)  # noqa: S102
    if key == "02":  # cell 3: the raw uint8 images (here from the bundled subset)
        namespace["x_train_raw"], namespace["x_test_raw"] = raw_images()
    elif key == "05":  # cell 3: helpers.load_mnist(); the hidden tests embed x_train[:8]
        namespace["x_train"] = some_training_images()
    elif key == "06":  # cell 3: the course's embedding model
        namespace["embedding_model"] = namespace["helpers"].build_embedding_model(emb_size=64)
    elif key == "07":  # cell 3: the worked example that the hidden tests compare with
        worked = next(c for c in notebook(key)["cells"] if "y_pred_example = " in source(c))
        exec(source(worked), namespace)  # noqa: S102
        if number == "7.2":  # the learner's class calls their triplet_loss of exercise 7.1
            exec(cell_source(key, CELLS["7.1"][0]), namespace)  # noqa: S102
    return namespace


@dataclass
class Outcome:
    """What happened when the self-check cell ran after one answer."""

    check_error: BaseException | None
    printed: str
    hidden_error: BaseException | None
    has_hidden_tests: bool

    @property
    def check_passed(self) -> bool:
        return self.check_error is None

    @property
    def graded_passed(self) -> bool:
        """The grader's verdict: the whole cell, hidden tests included, ran without error."""
        return self.check_error is None and self.hidden_error is None


def run_answer(answer: Answer) -> Outcome:
    """Run the exercise cell with ``answer``, then the self-check cell and its hidden tests."""
    exercise_id, check_id = CELLS[answer.number]
    namespace = notebook_namespace(answer.notebook, answer.number)
    plt.close("all")
    try:
        if answer.extra_cell:
            exec(answer.extra_cell, namespace)  # noqa: S102
        code = with_answer(cell_source(answer.notebook, exercise_id), answer.source)
        exec(compile(code, f"{answer.name}:exercise", "exec"), namespace)  # noqa: S102
        visible, hidden = split_hidden(cell_source(answer.notebook, check_id))
        check_error = hidden_error = None
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(visible, f"{answer.name}:check", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # noqa: BLE001 - the verdict is what we record
            check_error = exc
        if check_error is None and hidden:
            try:
                exec(compile(hidden, f"{answer.name}:hidden", "exec"), namespace)  # noqa: S102
            except Exception as exc:  # noqa: BLE001
                hidden_error = exc
    finally:
        plt.close("all")
    return Outcome(check_error, printed.getvalue(), hidden_error, bool(hidden))


@functools.cache
def outcome(name: str) -> Outcome:
    return run_answer(BY_NAME[name])


def ids(answers):
    return [answer.name for answer in answers]


# ----------------------------------------------------------------------------------------
# The corpus itself
# ----------------------------------------------------------------------------------------


def test_corpus_covers_every_exercise_with_right_and_wrong_answers():
    assert len(CORRECT) >= 40 and len(WRONG) >= 40
    assert len(BY_NAME) == len(ANSWERS), "answer names must be unique"
    assert {a.number for a in ANSWERS} == set(CELLS)
    assert {notebook_of(number) for number in CELLS} == set(NOTEBOOKS)
    for number in CELLS:
        right, wrong = MINIMUM.get(number, (5, 5))
        assert sum(a.number == number for a in CORRECT) >= right, number
        assert sum(a.number == number for a in WRONG) >= wrong, number


def test_every_exercise_of_the_notebooks_is_in_the_corpus():
    for key in NOTEBOOKS:
        cells = notebook(key)["cells"]
        solutions = {
            c["metadata"]["nbgrader"]["grade_id"]
            for c in cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")
        }
        assert solutions == {CELLS[n][0] for n in CELLS if notebook_of(n) == key}, key


@pytest.mark.parametrize("number", list(CELLS))
def test_cells_have_the_shape_the_corpus_relies_on(number):
    key = notebook_of(number)
    exercise_id, check_id = CELLS[number]
    exercise = cell_source(key, exercise_id)
    assert source(exercise_cell(notebook(key), exercise_id)).startswith(f"# EXERCISE {number} ")
    assert exercise.count(BEGIN_SOLUTION) == exercise.count(END_SOLUTION) == 1
    check = cell_source(key, check_id)
    assert "checks.check_" in check
    visible, hidden = split_hidden(check)  # hidden tests, if any, end the cell
    assert BEGIN_HIDDEN not in visible and (BEGIN_HIDDEN in check) == bool(hidden)


def test_notebook_06_builds_the_embedding_model_this_namespace_uses():
    cells = [source(c) for c in notebook("06")["cells"]]
    assert any("embedding_model = helpers.build_embedding_model(emb_size=64)" in c for c in cells)


def test_with_answer_keeps_the_code_around_the_solution():
    exercise = (
        "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n    return y"
    )
    assert with_answer(exercise, "y = x\nif y:\n    y += 1") == (
        "def f(x):\n    y = 1\n    y = x\n    if y:\n        y += 1\n    return y"
    )


# ----------------------------------------------------------------------------------------
# Right answers pass, wrong answers are rejected with their message
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", CORRECT, ids=ids(CORRECT))
def test_correct_answer_passes_its_self_check(answer):
    result = outcome(answer.name)
    assert result.check_error is None, f"{type(result.check_error).__name__}: {result.check_error}"
    assert result.printed.count("\n") == 1 and result.printed.startswith("✅"), result.printed


@pytest.mark.parametrize("answer", WRONG, ids=ids(WRONG))
def test_wrong_answer_is_rejected_with_its_message(answer):
    error = outcome(answer.name).check_error
    assert isinstance(error, AssertionError), f"not rejected: {error!r}"
    assert answer.verdict in str(error), str(error)
    assert "✅" not in outcome(answer.name).printed


# ----------------------------------------------------------------------------------------
# The self-check and the grader agree
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ANSWERS, ids=ids(ANSWERS))
def test_self_check_agrees_with_the_grader(answer):
    result = outcome(answer.name)
    assert result.check_passed == result.graded_passed, (
        f"the self-check passed but the hidden tests failed: {result.hidden_error!r}"
    )
    assert result.check_passed == answer.correct


def test_hidden_tests_ran_for_the_exercises_that_have_them():
    with_hidden = {a.number for a in CORRECT if outcome(a.name).has_hidden_tests}
    assert with_hidden == {"5.1", "6.1", "7.1", "7.2"}


# ----------------------------------------------------------------------------------------
# These tests can fail: weaken one part of a check and the verdict changes
# ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _records_nothing(func):
    yield []


#: Only TensorFlow reaches the training step with these: JAX and PyTorch know len() of a
#: row, and refuse .numpy() earlier (JAX's arrays have none; PyTorch's gradient check).
_TENSORFLOW_GRAPHS = only_on("tensorflow", reason="only TensorFlow's graphs refuse this code")

WEAKENED = [
    pytest.param("loss", ["_check_training_step"], "loss_len_of_a_row", marks=_TENSORFLOW_GRAPHS),
    pytest.param("loss", ["_check_training_step"], "loss_numpy_shape", marks=_TENSORFLOW_GRAPHS),
    (
        "loss",
        ["_check_gradient_values", "_check_training_step"],
        "loss_stop_gradient_negative_distance",
    ),
    ("embedding", ["_check_exercise_architecture"], "embedding_original_sigmoid"),
    ("embedding", ["_check_exercise_architecture"], "embedding_course_convnet"),
    (
        "embedding",
        ["_check_per_example", "_check_exercise_architecture"],
        "embedding_normalised_across_batch",
    ),
    (
        "embedding",
        ["_check_nonlinear", "_check_exercise_architecture"],
        "embedding_no_nonlinearity",
    ),
    ("embedding", ["_check_trainable"], "embedding_frozen_layer"),
    ("siamese", ["_check_gradients"], "siamese_negative_cut_from_gradient"),
    ("siamese", ["_check_training_mode"], "siamese_dropout_after_concatenation"),
    ("siamese", ["_check_builder"], "siamese_uses_a_global_model"),
    ("batches", ["check_coverage"], "batch_negatives_from_first_rows"),
    ("batches", ["check_coverage"], "batch_last_member_never_positive"),
    ("plots", ["_recording_figures"], "plot_show_then_close"),
    ("plots", ["_recording_figures"], "plot_display_then_close"),
    ("loss", ["_check_save_and_reload"], "margin_no_get_config"),
    ("loss", ["_check_save_and_reload"], "margin_not_registered"),
    ("loss", ["_check_kwargs_passed_on"], "margin_kwargs_not_passed_on"),
    ("loss", ["_check_call"], "margin_wrong_default"),
]


@pytest.mark.parametrize(
    "module, functions, name",
    WEAKENED,
    ids=[(w.values if hasattr(w, "values") else w)[2] for w in WEAKENED],
)
def test_weakening_a_check_changes_its_verdict(monkeypatch, module, functions, name):
    import importlib

    checks_module = importlib.import_module(f"helpers.checks.{module}")
    for function in functions:
        weaker = _records_nothing if function == "_recording_figures" else lambda *a, **k: None
        monkeypatch.setattr(checks_module, function, weaker)
    answer = BY_NAME[name]
    weakened = run_answer(answer)
    assert weakened.check_passed != answer.correct  # the corpus test of this answer would fail
    if name in ("embedding_original_sigmoid", "embedding_course_convnet"):
        # the old check's lie: a green tick, then 0 points; the agreement test would fail
        assert weakened.check_passed and not weakened.graded_passed

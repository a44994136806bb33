"""The judges of the Keras-model exercises (5.1, 6.1, 7.2, 8.3, 8.5) decide outside the kernel.

* Every answer of the developers' corpora (``answer_corpus.py`` for 5.1, 6.1 and 7.2,
  ``test_check_training.py`` for 8.3 and 8.5) gets its verdict from the judge alone:
  the right ones pass on several seeds, the wrong ones fail, without the kernel's own
  self-check. The answers run in this process (:class:`InProcessKernel`), so the
  judges' probes run with the real Keras.
* A few wrong answers of our own that the corpora lack (instances sharing one margin
  through a class attribute, a model whose output depends on its batch mates only in
  training, a train that fits one step too many...), which the judge must catch too.
* Each part of a judge is needed: replaced by a no-op, a named wrong answer passes.
* End to end (slow, needs bubblewrap): the instructor's notebooks, their untouched
  student versions and attackers who switch the kernel's check off and answer wrong,
  graded in one run: the judge gives the attackers 0, and without the judges they
  would have earned the point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_grading_judges import InProcessKernel, corpus_remote, pickled_stand

from answer_corpus import (
    _CONCAT,
    _PROJECT,
    _RELU,
    _UNIT,
    ANSWERS,
    BY_NAME,
    _answer,
    _margin,
    _margin_class,
    _sequential,
    _siamese,
)
from siamese_grading.judges import judge
from siamese_grading.remote import Remote

SEEDS = (0, 1, 2)

#: Exercise number -> grade_id of its self-check.
JUDGED = {
    "7.2": "check_ex7_2_margin_loss",
}


def verdict_of(answer, seed: int = 7) -> dict:
    return judge(JUDGED[answer.number], corpus_remote(answer), seed)


def assert_rejected(verdict: dict) -> None:
    assert verdict["status"] in ("failed", "error"), verdict


# ----------------------------------------------------------------------------------------
# 7.2 MarginTripletLoss
# ----------------------------------------------------------------------------------------

#: Wrong answers the corpus lacks: instances must not share one margin.
EXTRA_7_2 = [
    _margin(
        "margin_class_attribute",
        _margin_class(
            init="""
            def __init__(self, alpha=0.2, name="margin_triplet_loss", **kwargs):
                super().__init__(name=name, **kwargs)
                MarginTripletLoss.alpha = alpha  # one margin for every instance
            """
        ),
        "its own",
    ),
    _margin(
        "margin_global_variable",
        _margin_class(
            init="""
            def __init__(self, alpha=0.2, name="margin_triplet_loss", **kwargs):
                super().__init__(name=name, **kwargs)
                global MARGIN
                MARGIN = self.alpha = alpha
            """,
            call="""
            def call(self, y_true, y_pred):
                return triplet_loss(y_true, y_pred, alpha=MARGIN)
            """,
        ),
        "its own",
    ),
]
ANSWERS_7_2 = [a for a in ANSWERS if a.number == "7.2"] + EXTRA_7_2


@pytest.mark.parametrize("answer", ANSWERS_7_2, ids=[a.name for a in ANSWERS_7_2])
def test_the_7_2_judge_alone_gives_every_answer_its_verdict(answer):
    if answer.correct:
        for seed in SEEDS:
            assert verdict_of(answer, seed)["status"] == "passed", verdict_of(answer, seed)
    else:
        assert_rejected(verdict_of(answer))


def test_the_extra_7_2_answers_pass_the_kernels_own_check():
    """The extra wrong answers are new: the self-check accepts the class-attribute one."""
    from test_check_corpus import run_answer

    assert run_answer(EXTRA_7_2[0]).check_passed  # the kernel alone would give the point
    assert "its own" in verdict_of(EXTRA_7_2[0])["message"]


@pytest.mark.parametrize(
    ("weaken", "caught"),
    [
        (("check_saved",), "margin_not_registered"),
        (("check_saved",), "margin_config_drops_the_parent"),
        (("check_class",), "margin_helpers_package"),
    ],
)
def test_each_part_of_the_7_2_judge_is_needed(monkeypatch, weaken, caught):
    from siamese_grading.judges import margin_loss

    answer = BY_NAME[caught]
    assert_rejected(verdict_of(answer))
    for part in weaken:
        monkeypatch.setattr(margin_loss, part, lambda remote, rng=None: None)
    assert verdict_of(answer)["status"] == "passed"


def test_the_7_2_judge_draws_its_margins_from_the_seed():
    """A class that knows one margin in advance cannot pass: the margins change per seed."""
    seen = []
    for seed in (0, 1):
        answer = BY_NAME["margin_solution"]
        remote = corpus_remote(answer)
        calls: list = []
        inner = remote.probe
        remote.probe = lambda code, *a, _i=inner, _c=calls, **k: (_c.append(a), _i(code, *a, **k))[
            1
        ]
        assert judge(JUDGED["7.2"], remote, seed)["status"] == "passed"
        seen.append(calls[1][2])  # the two margins of PROBE_CALLS
    assert seen[0] != seen[1]


# ----------------------------------------------------------------------------------------
# 6.1 build_siamese_network
# ----------------------------------------------------------------------------------------

JUDGED["6.1"] = "check_ex6_1_siamese_network"


def _siamese_answer(name: str, source: str, extra_cell: str = ""):
    return _answer("06", name, source, "judge only", extra_cell)


#: Wrong answers the corpus lacks.
EXTRA_6_1 = [
    # the gradient of the positive branch halved: the values stay right
    _siamese_answer(
        "siamese_positive_gradient_halved",
        _siamese(
            _CONCAT,
            embed="e_a, e_n = embedding_model(anchor), embedding_model(negative)\n"
            "e_p = embedding_model(positive)\n"
            "e_p = 0.5 * e_p + 0.5 * keras.ops.stop_gradient(e_p)",
        ),
    ),
    # the model is frozen after the network is built: the network has no trainable weights
    _siamese_answer(
        "siamese_freezes_the_whole_model",
        _siamese(_CONCAT).replace(
            "return keras.Model", "embedding_model.trainable = False\nreturn keras.Model"
        ),
    ),
]
ANSWERS_6_1 = [a for a in ANSWERS if a.number == "6.1"] + EXTRA_6_1


@pytest.mark.parametrize("answer", ANSWERS_6_1, ids=[a.name for a in ANSWERS_6_1])
def test_the_6_1_judge_alone_gives_every_answer_its_verdict(answer):
    if answer.correct:
        for seed in SEEDS:
            assert verdict_of(answer, seed)["status"] == "passed", verdict_of(answer, seed)
    else:
        assert_rejected(verdict_of(answer))


@pytest.mark.parametrize(
    ("weaken", "caught"),
    [
        (("check_training",), "siamese_negative_cut_from_gradient"),
        (("check_training",), "siamese_freezes_a_layer"),
        (("check_training",), "siamese_positive_gradient_halved"),
        (("check_structure",), "siamese_unnamed_inputs"),
    ],
)
def test_each_part_of_the_6_1_judge_is_needed(monkeypatch, weaken, caught):
    from siamese_grading.judges import siamese

    answer = BY_NAME.get(caught) or next(a for a in EXTRA_6_1 if a.name == caught)
    assert_rejected(verdict_of(answer))
    for part in weaken:
        monkeypatch.setattr(siamese, part, lambda *args: None)
    assert verdict_of(answer)["status"] == "passed"


# ----------------------------------------------------------------------------------------
# 5.1 embedding_model
# ----------------------------------------------------------------------------------------

JUDGED["5.1"] = "check_ex5_1_embedding_model"

#: Wrong answers the corpus lacks.
EXTRA_5_1 = [
    # right values, the gradient of the projection halved
    _answer(
        "05",
        "embedding_projection_gradient_halved",
        _sequential(
            _RELU,
            _PROJECT,
            "keras.layers.Lambda(lambda t: 0.5 * t + 0.5 * keras.ops.stop_gradient(t))",
            _UNIT,
        ),
        "judge only",
    ),
    # the hidden layer frozen after the model is built, on the model's own attribute
    _answer(
        "05",
        "embedding_model_frozen_then_one_layer_unfrozen",
        _sequential(_RELU, _PROJECT, _UNIT)
        + "\nembedding_model.trainable = False\nembedding_model.layers[1].trainable = True",
        "judge only",
    ),
]
ANSWERS_5_1 = [a for a in ANSWERS if a.number == "5.1"] + EXTRA_5_1


@pytest.mark.parametrize("answer", ANSWERS_5_1, ids=[a.name for a in ANSWERS_5_1])
def test_the_5_1_judge_alone_gives_every_answer_its_verdict(answer):
    if answer.correct:
        for seed in SEEDS:
            assert verdict_of(answer, seed)["status"] == "passed", verdict_of(answer, seed)
    else:
        assert_rejected(verdict_of(answer))


def test_the_5_1_probe_leaves_the_learners_model_as_it_was():
    answer = BY_NAME["embedding_solution"]
    remote = corpus_remote(answer)
    model = remote._execute.namespace["embedding_model"]
    before = [w.copy() for w in model.get_weights()]
    assert judge(JUDGED["5.1"], remote, 0)["status"] == "passed"
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True))
    assert not getattr(model, "compiled", False)


@pytest.mark.parametrize(
    ("weaken", "caught"),
    [
        (("check_training",), "embedding_frozen_layer"),
        (("check_training",), "embedding_projection_gradient_halved"),
        (("check_structure",), "embedding_unnamed"),
    ],
)
def test_each_part_of_the_5_1_judge_is_needed(monkeypatch, weaken, caught):
    from siamese_grading.judges import embedding

    answer = BY_NAME.get(caught) or next(a for a in EXTRA_5_1 if a.name == caught)
    assert_rejected(verdict_of(answer))
    real = embedding.check_structure
    weaker = {
        "check_training": lambda *args: None,
        "check_structure": lambda facts: real({**facts, "name": "embedding"}),
    }
    for part in weaken:
        monkeypatch.setattr(embedding, part, weaker[part])
    assert verdict_of(answer)["status"] == "passed"


# ----------------------------------------------------------------------------------------
# 8.3 compile_siamese and 8.5 train (corpora of tests/test_check_training.py)
# ----------------------------------------------------------------------------------------

JUDGED_8 = {"8.3": "check_ex8_3_compile_siamese", "8.5": "check_ex8_5_train"}
NAMES_8 = {"8.3": "compile_siamese", "8.5": "train"}


def compile_weight_decay_tiny(siamese, alpha=0.2, learning_rate=1e-3):
    """Wrong: a weight decay too small for a loss check, but Adam's step shows it."""
    import keras

    import helpers

    siamese.compile(
        optimizer=keras.optimizers.Adam(learning_rate, weight_decay=1e-3),
        loss=helpers.TripletLoss(alpha),
    )


def compile_amsgrad(siamese, alpha=0.2, learning_rate=1e-3):
    """Wrong: AMSGrad, whose first step equals Adam's: only the config shows it."""
    import keras

    import helpers

    siamese.compile(
        optimizer=keras.optimizers.Adam(learning_rate, amsgrad=True),
        loss=helpers.TripletLoss(alpha),
    )


def train_one_step_too_many(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    """Wrong: one more step per epoch; the callbacks hear it, the weights show it."""
    return siamese.fit(
        triplets,
        steps_per_epoch=steps_per_epoch + 1,
        epochs=epochs,
        callbacks=list(callbacks),
        verbose=0,
    )


def train_shuffled_batches(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    """Wrong: trains on the stream's batches, two at a time in reversed order."""

    def swapped():
        while True:
            first, second = next(triplets), next(triplets)
            yield second
            yield first

    return siamese.fit(
        swapped(),
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        callbacks=list(callbacks),
        verbose=0,
    )


def corpora_8():
    import test_check_training as corpus

    return {
        "8.3": (
            corpus.COMPILE_RIGHT,
            [*corpus.COMPILE_WRONG, compile_weight_decay_tiny, compile_amsgrad],
        ),
        "8.5": (
            corpus.TRAIN_RIGHT,
            [*corpus.TRAIN_WRONG, train_one_step_too_many, train_shuffled_batches],
        ),
    }


CASES_8 = [
    (number, answer, right)
    for number, (rights, wrongs) in corpora_8().items()
    for answer, right in [*((a, True) for a in rights), *((a, False) for a in wrongs)]
]


def remote_8(number: str, answer) -> Remote:
    import keras

    import helpers
    from helpers import checks

    namespace = {"np": np, "keras": keras, "helpers": helpers, "checks": checks}
    namespace[NAMES_8[number]] = answer
    return Remote(InProcessKernel(namespace))


@pytest.mark.parametrize(
    ("number", "answer", "right"), CASES_8, ids=[f"{n}-{a.__name__}" for n, a, _ in CASES_8]
)
def test_the_8_3_and_8_5_judges_alone_give_every_answer_its_verdict(number, answer, right):
    if right:
        for seed in SEEDS:
            verdict = judge(JUDGED_8[number], remote_8(number, answer), seed)
            assert verdict["status"] == "passed", verdict
    else:
        assert_rejected(judge(JUDGED_8[number], remote_8(number, answer), 7))


def test_the_numpy_adam_step_is_keras_adam_step():
    """The judge's Adam is Keras's: checked on a tiny Dense in this process."""
    import keras

    from siamese_grading.judges.training import adam_step

    rng = np.random.default_rng(0)
    w, g = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    variable = keras.Variable(w.astype("float32"))
    optimizer = keras.optimizers.Adam(learning_rate=0.03)
    optimizer.apply([keras.ops.convert_to_tensor(g.astype("float32"))], [variable])
    assert np.allclose(keras.ops.convert_to_numpy(variable), adam_step([w], [g], 0.03)[0])


@pytest.mark.parametrize(
    ("weaken", "number", "caught"),
    [
        (("check_optimizer",), "8.3", "compile_amsgrad"),
        (("check_optimizer",), "8.3", "compile_ema"),
        (("check_callbacks",), "8.5", "train_from_epoch_one"),
        (("check_callbacks",), "8.5", "train_first_callback_only"),
    ],
)
def test_each_part_of_the_8_judges_is_needed(monkeypatch, weaken, number, caught):
    from siamese_grading.judges import training

    rights, wrongs = corpora_8()[number]
    answer = next(a for a in wrongs if a.__name__ == caught)
    assert_rejected(judge(JUDGED_8[number], remote_8(number, answer), 7))
    for part in weaken:
        monkeypatch.setattr(training, part, lambda *args: None)
    assert judge(JUDGED_8[number], remote_8(number, answer), 7)["status"] == "passed"


# ----------------------------------------------------------------------------------------
# End to end: the judges decide, the kernel's own checks cannot give the points
# ----------------------------------------------------------------------------------------

#: Each attacker switches the kernel's self-check off from a class body (the screen allows
#: ``self.x = ...``) and answers wrong in a way the notebook's hidden tests do not see, so
#: that without the judges the attack earns the point.
ATTACKS_E2E = {
    "05_the_embedding_model.ipynb": {
        "5.1": """# EXERCISE 5.1 — build the embedding model
emb_size = 64


"""
        + pickled_stand("self = checks\nself.check_embedding_model = lambda *args, **kwargs: None")
        + """


embedding_model = keras.Sequential(
    [keras.Input(shape=(784,)), keras.layers.Dense(64, activation="relu", trainable=False),
     keras.layers.Dense(emb_size), keras.layers.UnitNormalization()],
    name="embedding",
)  # the frozen hidden layer would never learn
""",
    },
    "06_the_siamese_network.ipynb": {
        "6.1": """# EXERCISE 6.1 — build the Siamese network
"""
        + pickled_stand("self = checks\nself.check_siamese_network = lambda *args, **kwargs: None")
        + """


def build_siamese_network(embedding_model):
    input_shape = embedding_model.input_shape[1:]
    inputs = [keras.Input(shape=input_shape, name=r) for r in ("anchor", "positive", "negative")]
    e_a, e_p, e_n = (embedding_model(t) for t in inputs)
    e_n = keras.ops.stop_gradient(e_n)  # the negatives never train the model
    return keras.Model(inputs, keras.layers.Concatenate()([e_a, e_p, e_n]), name="siamese")
""",
    },
    "07_the_triplet_loss.ipynb": {
        "7.2": """# EXERCISE 7.2 — the triplet loss with its margin fixed
"""
        + pickled_stand("self = checks\nself.check_margin_loss = lambda *args, **kwargs: None")
        + """


@keras.saving.register_keras_serializable(package="learner")
class MarginTripletLoss(keras.losses.Loss):
    shared = {}  # one margin for every instance: the last one built

    def __init__(self, alpha=0.2, name="margin_triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.shared["alpha"] = alpha

    def call(self, y_true, y_pred):
        a, p, n = ops.split(y_pred, 3, axis=-1)
        d = ops.sum(ops.square(a - p), axis=-1) - ops.sum(ops.square(a - n), axis=-1)
        return ops.maximum(d + self.shared["alpha"], 0.0)

    def get_config(self):
        return {**super().get_config(), "alpha": self.shared["alpha"]}
""",
    },
    "08_model_training.ipynb": {
        "8.3": """# EXERCISE 8.3 — compile the Siamese network
"""
        + pickled_stand(
            "self = checks\n"
            "self.check_compile_siamese = lambda *args, **kwargs: None\n"
            "self.check_training = lambda *args, **kwargs: None"
        )
        + """


def compile_siamese(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, use_ema=True),
        loss=helpers.TripletLoss(alpha=alpha),
    )
""",
        # the instructor's own 8.4, so that the hidden tests of 8.5 can run
        "8.4": None,
        "8.5": """# EXERCISE 8.5 — train the Siamese network
def train(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    siamese.optimizer.learning_rate.assign(siamese.optimizer.learning_rate * 0.5)
    return siamese.fit(
        triplets, steps_per_epoch=steps_per_epoch, epochs=epochs, callbacks=list(callbacks),
        verbose=0,
    )
""",
    },
}
JUDGED_E2E = [
    "ex5_1_embedding_model",
    "ex6_1_siamese_network",
    "ex7_2_margin_loss",
    "ex8_3_compile_siamese",
    "ex8_5_train",
]


def attacked(student, instructor, attacks: dict):
    for cell, source_cell in zip(student.cells, instructor.cells, strict=True):
        for number, code in attacks.items():
            if cell.cell_type == "code" and cell.source.startswith(f"# EXERCISE {number} "):
                cell.source = source_cell.source if code is None else code
    return student


@pytest.mark.slow
def test_attackers_of_the_model_exercises_get_no_point_from_the_judges(tmp_path, monkeypatch):
    import shutil

    import nbformat

    from siamese_grading import Limits, grade_submissions, release_directory
    from siamese_grading import assemble as assemble_module

    if shutil.which("bwrap") is None:
        pytest.skip("needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")
    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"
    source.mkdir()
    for name in ATTACKS_E2E:
        shutil.copy(root / "notebooks" / name, source)
    release_directory(source, tmp_path / "student", log=lambda line: None)
    for name, attacks in ATTACKS_E2E.items():
        instructor = nbformat.read(source / name, 4)
        learners = {
            "instructor": instructor,
            "untouched": nbformat.read(tmp_path / "student" / name, 4),
            "attacker": attacked(
                nbformat.read(tmp_path / "student" / name, 4), instructor, attacks
            ),
        }
        for learner, nb in learners.items():
            folder = tmp_path / ("alone" if learner == "attacker" else "subs") / learner
            for where in {folder, tmp_path / "subs" / learner}:
                where.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, where / name)

    def grade(subs: str, out: str) -> dict:
        report = grade_submissions(
            tmp_path / subs,
            source,
            tmp_path / out,
            limits=Limits(timeout=300),
            jobs=2,
            log=lambda line: None,
        )
        return {(r.learner, r.exercise): (r.status, r.points, r.message) for r in report.rows}

    judged = grade("subs", "judged")
    for exercise in JUDGED_E2E:
        assert judged[("instructor", exercise)][:2] == ("passed", 1), judged[
            ("instructor", exercise)
        ]
        assert judged[("untouched", exercise)][1] == 0
        assert judged[("attacker", exercise)][:2] == ("failed", 0), judged[("attacker", exercise)]
    assert judged[("attacker", "ex8_4_triplet_stream")][:2] == ("passed", 1)
    assert "frozen" in judged[("attacker", "ex5_1_embedding_model")][2]
    assert "its own" in judged[("attacker", "ex7_2_margin_loss")][2]
    assert "use_ema" in judged[("attacker", "ex8_3_compile_siamese")][2]

    # The attacks are real: with the judges switched off, the kernel gives every point.
    monkeypatch.setattr(assemble_module, "JUDGES", {})
    unjudged = grade("alone", "unjudged")
    for exercise in JUDGED_E2E:
        assert unjudged[("attacker", exercise)][:2] == ("passed", 1), unjudged[
            ("attacker", exercise)
        ]

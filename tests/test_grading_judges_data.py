"""The judges of the data exercises (2.1, 4.1, 8.1, 8.2, 8.4, 9.1) decide alone, outside the kernel.

Every answer of the developers' corpora goes through its judge in this process (the
answer's function in a namespace, the real request code run by ``InProcessKernel``):
right answers pass on several seeds, wrong ones fail, even though the kernel's own
self-check never ran. Weakening one part of a judge (monkeypatch) lets a named wrong
answer through, so each part is needed. The slow test grades the real instructor
notebooks, their student versions and attackers who switch the kernel's check off, in
one run with ``jobs=2``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import test_check_retrieval as retrieval_corpus
import test_check_training as training_corpus
from test_grading_judges import InProcessKernel, corpus_remote, pickled_stand

import helpers
from answer_corpus import ANSWERS, BY_NAME
from siamese_grading.judges import batches, judge, mining, retrieval, training_data
from siamese_grading.remote import Remote
from siamese_grading.resident import ResidentRise

SEEDS = (0, 1, 2)


def remote_with(**functions) -> Remote:
    """A kernel whose globals are the course's usual names and ``functions``."""
    import keras

    namespace = {"np": np, "helpers": helpers, "keras": keras, "ops": keras.ops, **functions}
    return Remote(InProcessKernel(namespace))


def verdict(grade_id: str, name: str, function, seed: int = 0) -> dict:
    return judge(grade_id, remote_with(**{name: function}), seed)


# ======================================================================= 8.1 small test set

SMALL_ID = "check_ex8_1_small_test_set"
#: What the judge says to each wrong answer of the corpus.
SMALL_MESSAGES = {
    "small_window": "neighbouring rows",
    "small_rotation_by_seed": "neighbouring rows",
    "small_from_the_first_rows": "never picked",
    "small_first_of_each_digit": "never picked",
    "small_with_replacement": "same image more than once",
    "small_not_balanced": "exactly",
    "small_labels_shuffled_apart": "do not belong to their images",
    "small_global_rng": "two different sets for the same seed",
    "small_per_digit_in_all": "of EACH digit",
    "small_float_labels": "integer labels",
    "small_stub": "not implemented make_small_test_set yet",
}


@pytest.mark.parametrize("answer", training_corpus.SMALL_RIGHT, ids=lambda f: f.__name__)
def test_right_small_test_sets_pass_the_judge(answer):
    for seed in SEEDS:
        got = verdict(SMALL_ID, "make_small_test_set", answer, seed)
        assert got["status"] == "passed", got


@pytest.mark.parametrize("answer", list(training_corpus.SMALL_WRONG), ids=lambda f: f.__name__)
def test_wrong_small_test_sets_fail_the_judge(answer):
    got = verdict(SMALL_ID, "make_small_test_set", answer)
    assert got["status"] in ("failed", "error"), got
    assert SMALL_MESSAGES[answer.__name__] in got["message"]


def test_the_8_1_judge_asks_few_requests_and_draws_new_data_per_seed():
    seen = []
    for seed in (0, 1):
        remote = remote_with(make_small_test_set=training_corpus.small_loop)
        calls = []
        inner = remote.call
        remote.call = lambda name, *a, _c=calls, _i=inner, **k: (_c.append(a), _i(name, *a, **k))[1]
        assert judge(SMALL_ID, remote, seed)["status"] == "passed"
        assert remote.requests <= 4
        seen.append(calls[0][1])
    assert not np.array_equal(seen[0], seen[1])


@pytest.mark.parametrize(
    ("part", "weaker", "caught"),
    [
        ("every_row_picked", None, training_corpus.small_from_the_first_rows),
        ("not_neighbours", None, training_corpus.small_window),
        ("not_neighbours", None, training_corpus.small_rotation_by_seed),
    ],
)
def test_each_part_of_the_8_1_judge_is_needed(monkeypatch, part, weaker, caught):
    assert verdict(SMALL_ID, "make_small_test_set", caught)["status"] != "passed"
    monkeypatch.setattr(training_data, part, lambda *args: weaker)
    assert verdict(SMALL_ID, "make_small_test_set", caught)["status"] == "passed"


# ======================================================================= 4.1 create_batch

BATCH_ID = "check_ex4_1_create_batch"
BATCHES = [answer for answer in ANSWERS if answer.number == "4.1"]


@pytest.mark.parametrize("answer", BATCHES, ids=[a.name for a in BATCHES])
def test_the_4_1_judge_alone_gives_every_corpus_answer_its_verdict(answer):
    for seed in SEEDS if answer.correct else SEEDS[:1]:
        got = judge(BATCH_ID, corpus_remote(answer), seed)
        if answer.correct:
            assert got["status"] == "passed", got
        else:
            assert got["status"] in ("failed", "error"), got


@pytest.mark.parametrize(
    ("part", "caught"),
    [
        ("coverage", "batch_last_row_never_anchor"),
        ("coverage", "batch_negatives_from_first_rows"),
        ("labels", "batch_positive_may_be_anchor"),
    ],
)
def test_each_part_of_the_4_1_judge_is_needed(monkeypatch, part, caught):
    assert judge(BATCH_ID, corpus_remote(BY_NAME[caught]), 0)["status"] != "passed"
    monkeypatch.setattr(batches, part, lambda *args: None)
    assert judge(BATCH_ID, corpus_remote(BY_NAME[caught]), 0)["status"] == "passed"


# ======================================================================= 8.4 triplet stream

STREAM_ID = "check_ex8_4_triplet_stream"
#: What the judge says to each wrong answer of the corpus.
STREAM_MESSAGES = {
    "stream_class_iterator": "not a generator, which fit does not read",
    "stream_map_count": "not a generator, which fit does not read",
    "stream_cycle_of_ten": "repeats batches",
    "stream_next_digit_negative": "never got a negative of digit",
    "stream_fixed_partner": "always with the same positive",
    "stream_hundred_batches": "stopped",
    "stream_global_seeded_once": "same seed gave different batches",
    "stream_batch_capped": "with batch_size=256",
    "stream_rng_inside_loop": "repeats batches",
    "stream_one_batch": "not an endless stream",
    "stream_a_list": "needs a tuple",
    "stream_targets_per_row": "zeros of shape",
    "stream_ends": "stopped",
    "stream_global_rng": "same seed gave different batches",
    "stream_negatives_of_the_first_rows": "different examples",
    "stream_positive_is_anchor": "the positive is the anchor itself",
    "stream_wrong_order": "positives and negatives are swapped",
    "stream_stub": "not implemented triplet_stream yet",
}


@pytest.mark.parametrize("answer", training_corpus.STREAM_RIGHT, ids=lambda f: f.__name__)
def test_right_streams_pass_the_judge(answer):
    for seed in SEEDS:
        got = verdict(STREAM_ID, "triplet_stream", answer, seed)
        assert got["status"] == "passed", got
        assert got["requests"] <= 20


@pytest.mark.parametrize("answer", list(training_corpus.STREAM_WRONG), ids=lambda f: f.__name__)
def test_wrong_streams_fail_the_judge(answer):
    got = verdict(STREAM_ID, "triplet_stream", answer)
    assert got["status"] in ("failed", "error"), got
    assert STREAM_MESSAGES[answer.__name__] in got["message"]


def test_the_8_4_judge_sees_a_list_of_inputs_although_the_protocol_sends_tuples_as_lists():
    # the protocol itself cannot tell them apart: the draw probe marks tuples
    assert remote_with().probe("def probe(ns):\n    return (1, 2)\n").value == [1, 2]
    got = verdict(STREAM_ID, "triplet_stream", training_corpus.stream_a_list)
    assert "needs a tuple" in got["message"]


@pytest.mark.parametrize(
    ("part", "weaker", "caught"),
    [
        ("PROBE_IS_GENERATOR", "def probe(ns, s):\n    return True\n", "stream_class_iterator"),
        ("STREAM_BATCHES", 50, "stream_hundred_batches"),  # fewer batches than it yields
    ],
)
def test_each_part_of_the_8_4_judge_is_needed(monkeypatch, part, weaker, caught):
    answer = getattr(training_corpus, caught)
    assert verdict(STREAM_ID, "triplet_stream", answer)["status"] != "passed"
    monkeypatch.setattr(training_data, part, weaker)
    assert verdict(STREAM_ID, "triplet_stream", answer)["status"] == "passed"


# ======================================================================= 2.1 prepare_images

IMAGES_ID = "check_ex2_1_prepare_images"
IMAGES = [answer for answer in ANSWERS if answer.number == "2.1"]


@pytest.mark.parametrize("answer", IMAGES, ids=[a.name for a in IMAGES])
def test_the_2_1_judge_alone_gives_every_corpus_answer_its_verdict(answer):
    for seed in SEEDS if answer.correct else SEEDS[:1]:
        got = judge(IMAGES_ID, corpus_remote(answer), seed)
        if answer.correct:
            assert got["status"] == "passed", got
        else:
            assert got["status"] in ("failed", "error"), got


def test_the_2_1_judge_prepares_its_own_random_images_not_the_kernels():
    calls = []
    remote = corpus_remote(BY_NAME["images_solution"])
    inner = remote.call
    remote.call = lambda name, *a, _i=inner, **k: (calls.append(a), _i(name, *a, **k))[1]
    assert judge(IMAGES_ID, remote, 0)["status"] == "passed"
    images = calls[0][0]
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
    other = []
    remote.call = lambda name, *a, _i=inner, **k: (other.append(a), _i(name, *a, **k))[1]
    judge(IMAGES_ID, remote, 1)
    assert images.shape != other[0][0].shape or not np.array_equal(images, other[0][0])
    # an answer that prepares the kernel's own raw images whatever it is asked: 0
    cheat = 'return (x_train_raw[: len(images)].reshape(-1, 784) / 255).astype("float32")'
    assert judge(IMAGES_ID, remote_with_source("02", cheat), 0)["status"] == "failed"


def remote_with_source(notebook: str, body: str) -> Remote:
    """The exercise cell of ``notebook`` with ``body`` as its solution, run as a kernel."""
    from answer_corpus import Answer

    return corpus_remote(Answer(notebook, "custom", body))


def test_each_part_of_the_2_1_judge_is_needed(monkeypatch):
    from siamese_grading.judges import images

    answer = BY_NAME["images_transposed"]
    assert judge(IMAGES_ID, corpus_remote(answer), 0)["status"] == "failed"
    monkeypatch.setattr(images, "ATOL", np.inf)  # no comparison with raw / 255
    assert judge(IMAGES_ID, corpus_remote(answer), 0)["status"] == "passed"


# ======================================================================= 9.1 batch hard

HARD_ID = "check_ex9_1_batch_hard"
#: Lines shared by most answers below: the masks of positives and negatives.
_MASKS = """
same = ops.equal(labels[:, None], labels[None, :])
itself = ops.eye(ops.shape(dist)[0], dtype="bool")
is_positive = ops.logical_and(same, ops.logical_not(itself))
"""
#: Right answers to 9.1, in several styles.
HARD_RIGHT = {
    "solution": _MASKS
    + """
hardest_pos = ops.max(ops.where(is_positive, dist, 0.0), axis=1)
far = ops.max(dist) + 1.0
hardest_neg = ops.min(ops.where(same, far, dist), axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + margin))
""",
    "inf_masks": _MASKS
    + """
hardest_pos = ops.max(ops.where(is_positive, dist, -np.inf), axis=1)
hardest_neg = ops.min(ops.where(same, np.inf, dist), axis=1)
return ops.mean(ops.maximum(hardest_pos - hardest_neg + margin, 0.0))
""",
    "multiplied_masks": _MASKS
    + """
pos = ops.cast(is_positive, dist.dtype)
neg = 1.0 - ops.cast(same, dist.dtype)
hardest_pos = ops.max(dist * pos, axis=1)
hardest_neg = ops.min(dist + (1.0 - neg) * (ops.max(dist) + 1.0), axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + margin))
""",
    "own_distances": """
sq = ops.sum(ops.square(y_pred[:, None, :] - y_pred[None, :, :]), axis=-1)
same = ops.equal(labels[:, None], labels[None, :])
eye = ops.eye(ops.shape(sq)[0], dtype="bool")
hardest_pos = ops.max(ops.where(same & ~eye, sq, 0.0), axis=1)
hardest_neg = ops.min(ops.where(same, 1e9, sq), axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + margin))
""",
    "course_helper": "return helpers.batch_hard_triplet_loss(y_true, y_pred, margin=margin, "
    "squared=True)",
}
#: Wrong answers to 9.1: the self-check's _mistakes, and more.
HARD_WRONG = {
    "min_positive": _MASKS
    + """
hardest_pos = ops.min(ops.where(is_positive, dist, 1e9), axis=1)
hardest_neg = ops.min(ops.where(same, 1e9, dist), axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + margin))
""",
    "self_positive": _MASKS
    + """
hardest_pos = ops.min(ops.where(same, dist, 1e9), axis=1)
hardest_neg = ops.min(ops.where(same, 1e9, dist), axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + margin))
""",
    "unmasked_negative": _MASKS
    + """
hardest_pos = ops.max(ops.where(is_positive, dist, 0.0), axis=1)
hardest_neg = ops.min(ops.where(itself, 1e9, dist), axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + margin))
""",
    "negative_is_itself": _MASKS
    + """
hardest_pos = ops.max(ops.where(is_positive, dist, 0.0), axis=1)
hardest_neg = ops.min(dist, axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + margin))
""",
    "sum": _MASKS
    + """
hardest_pos = ops.max(ops.where(is_positive, dist, 0.0), axis=1)
hardest_neg = ops.min(ops.where(same, 1e9, dist), axis=1)
return ops.sum(ops.relu(hardest_pos - hardest_neg + margin))
""",
    "no_relu": _MASKS
    + """
hardest_pos = ops.max(ops.where(is_positive, dist, 0.0), axis=1)
hardest_neg = ops.min(ops.where(same, 1e9, dist), axis=1)
return ops.mean(hardest_pos - hardest_neg + margin)
""",
    "fixed_margin": _MASKS
    + """
hardest_pos = ops.max(ops.where(is_positive, dist, 0.0), axis=1)
hardest_neg = ops.min(ops.where(same, 1e9, dist), axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + 0.2))
""",
    "square_root": _MASKS
    + """
root = ops.sqrt(ops.maximum(dist, 1e-12))
hardest_pos = ops.max(ops.where(is_positive, root, 0.0), axis=1)
hardest_neg = ops.min(ops.where(same, 1e9, root), axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + margin))
""",
    "per_anchor": _MASKS
    + """
hardest_pos = ops.max(ops.where(is_positive, dist, 0.0), axis=1)
hardest_neg = ops.min(ops.where(same, 1e9, dist), axis=1)
return ops.relu(hardest_pos - hardest_neg + margin)
""",
    "numpy_only": """
d = np.asarray(dist)
lab = np.asarray(labels)
same = lab[:, None] == lab[None, :]
pos = np.where(same & ~np.eye(len(lab), dtype=bool), d, 0.0).max(axis=1)
neg = np.where(same, np.inf, d).min(axis=1)
return np.float32(np.maximum(pos - neg + margin, 0.0).mean())
""",
    "default_margin_one": None,  # filled in below: the signature's default is 1.0
    "stub": "raise NotImplementedError()",
}


def hard_remote(body: str, default: str = "0.2") -> Remote:
    """Notebook 09's exercise cell with ``body`` as its solution, in the notebook's names."""
    import keras
    from test_check_corpus import with_answer

    from notebook_tools import exercise_cell, load, source

    cell = source(exercise_cell(load("09_going_further.ipynb"), "ex9_1_batch_hard"))
    cell = cell.replace("margin=0.2):", f"margin={default}):")
    namespace = {"np": np, "helpers": helpers, "keras": keras, "ops": keras.ops}
    exec(with_answer(cell, body.strip("\n")), namespace)  # noqa: S102 - the test's own answers
    return Remote(InProcessKernel(namespace))


def hard_answer(name: str) -> Remote:
    if name == "default_margin_one":
        return hard_remote(HARD_RIGHT["solution"], default="1.0")
    return hard_remote(HARD_RIGHT.get(name) or HARD_WRONG[name])


@pytest.mark.parametrize("name", sorted(HARD_RIGHT))
def test_right_batch_hard_losses_pass_the_judge(name):
    for seed in SEEDS:
        got = judge(HARD_ID, hard_answer(name), seed)
        assert got["status"] == "passed", got


@pytest.mark.parametrize("name", sorted(HARD_WRONG))
def test_wrong_batch_hard_losses_fail_the_judge(name):
    for seed in SEEDS:
        got = judge(HARD_ID, hard_answer(name), seed)
        assert got["status"] in ("failed", "error"), got


def test_the_9_1_reference_agrees_with_the_course_and_the_hidden_tests():
    import keras

    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(10), 12).astype("float32")
    emb = rng.normal(size=(120, 64)).astype("float32")
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    course = float(keras.ops.convert_to_numpy(
        helpers.batch_hard_triplet_loss(labels, emb, margin=0.2, squared=True)
    ))  # fmt: skip
    assert mining.reference_batch_hard(labels, emb) == pytest.approx(course, abs=1e-5)
    d = np.sum((emb[:, None] - emb[None]) ** 2, axis=-1)
    same = labels[:, None] == labels[None, :]
    hidden = np.maximum(
        d.max(axis=1, where=same, initial=0) - d.min(axis=1, where=~same, initial=9) + 0.2, 0
    ).mean()
    assert mining.reference_batch_hard(labels, emb) == pytest.approx(hidden, abs=1e-5)


@pytest.mark.parametrize(
    ("part", "weaker", "caught"),
    [
        ("training_step", lambda remote, rng: None, "numpy_only"),  # right values, eagerly
        ("loss_of", lambda remote, labels, emb, **margin: 0.0, "min_positive"),
    ],
)
def test_each_part_of_the_9_1_judge_is_needed(monkeypatch, part, weaker, caught):
    assert judge(HARD_ID, hard_answer(caught), 0)["status"] != "passed"
    monkeypatch.setattr(mining, part, weaker)
    if part == "loss_of":  # no values compared: the reference is what it is asked
        monkeypatch.setattr(mining, "reference_batch_hard", lambda *a, **k: 0.0)
        monkeypatch.setattr(mining, "training_step", lambda remote, rng: None)
    assert judge(HARD_ID, hard_answer(caught), 0)["status"] == "passed"


# ======================================================================= 8.2 precision at 1

P_AT_1_ID = "check_ex8_2_precision_at_1"


class MeasuringKernel(InProcessKernel):
    """The in-process kernel that measures its own resident memory during a request."""

    def __call__(self, code: str, measure: bool = False):
        if not measure:
            return super().__call__(code)
        with ResidentRise(os.getpid()) as rise:
            shown = super().__call__(code)
        return shown, rise.bytes


def measuring_remote(**functions) -> Remote:
    import keras

    namespace = {"np": np, "helpers": helpers, "keras": keras, "ops": keras.ops, **functions}
    return Remote(MeasuringKernel(namespace))


def test_a_measured_request_reports_the_kernels_memory_rise_from_outside():
    def allocate(megabytes):
        block = np.ones(int(megabytes) * 2**20 // 8)
        return float(block.sum())

    remote = measuring_remote(allocate=allocate)
    big = remote.call("allocate", 200, measure=True)
    small = remote.call("allocate", 1, measure=True)
    assert big.value == pytest.approx(200 * 2**17) and big.memory > 150 * 2**20
    assert 0 <= small.memory < 30 * 2**20
    assert remote.call("allocate", 1).memory is None  # not measured unless asked
    # an execute that cannot measure: the value still comes, the memory is None
    assert remote_with(allocate=allocate).call("allocate", 1, measure=True).memory is None
    # the kernel cannot put a figure of its own into the reply
    liar = measuring_remote(allocate=lambda mb: {"memory": 0})
    assert liar.call("allocate", 200, measure=True).memory < 30 * 2**20


def test_the_rise_counts_from_the_lowest_sample_so_freeing_first_hides_nothing():
    import time

    hoard = [np.ones(300 * 2**20 // 8)]

    def free_then_allocate():
        hoard.clear()  # the kernel frees 300 MB at the start of the request ...
        time.sleep(0.05)
        block = np.ones(200 * 2**20 // 8)  # ... then takes 200 MB
        time.sleep(0.05)
        return float(block[0])

    got = measuring_remote(f=free_then_allocate).call("f", measure=True)
    assert got.memory > 150 * 2**20


@pytest.mark.parametrize("answer", retrieval_corpus.RIGHT, ids=lambda f: f.__name__)
def test_right_precisions_at_1_pass_the_judge(answer):
    for seed in SEEDS:
        got = judge(P_AT_1_ID, measuring_remote(precision_at_1=answer), seed)
        assert got["status"] == "passed", got


#: Run in a fresh process, as a grading kernel is: a backend's allocator that already holds
#: memory from earlier tests (TensorFlow keeps what it freed) can hide a whole matrix built
#: with keras.ops from a resident-memory rise, so this test's process is no fair kernel.
FRESH = """
import json, sys
sys.path.insert(0, {tests!r})
import test_check_retrieval as corpus
from test_grading_judges_data import P_AT_1_ID, measuring_remote
from siamese_grading.judges import judge, retrieval
if {weaken!r}:
    retrieval.check_memory = lambda *args: None
got = judge(P_AT_1_ID, measuring_remote(precision_at_1=getattr(corpus, {name!r})), 0)
print(json.dumps(got))
"""


def judged_in_a_fresh_process(name: str, weaken: bool = False) -> dict:
    import json
    import subprocess
    import sys
    from pathlib import Path

    tests = str(Path(__file__).resolve().parent)
    code = FRESH.format(tests=tests, name=name, weaken=weaken)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tests
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("answer", list(retrieval_corpus.WRONG), ids=lambda f: f.__name__)
def test_wrong_precisions_at_1_fail_the_judge(answer):
    if answer.__name__ == "keras_ops_whole_matrix":
        got = judged_in_a_fresh_process(answer.__name__)
    else:
        got = judge(P_AT_1_ID, measuring_remote(precision_at_1=answer), 0)
    assert got["status"] in ("failed", "error"), got
    if answer.__name__ in ("whole_matrix", "keras_ops_whole_matrix", "chunk_size_pieces"):
        assert "held" in got["message"] and "MiB at once" in got["message"], got


@pytest.mark.parametrize(
    "caught",
    [
        retrieval_corpus.whole_matrix,
        retrieval_corpus.keras_ops_whole_matrix,
        retrieval_corpus.chunk_size_pieces,
    ],
    ids=lambda f: f.__name__,
)
def test_the_memory_part_of_the_8_2_judge_is_needed(monkeypatch, caught):
    if caught.__name__ == "keras_ops_whole_matrix":  # see FRESH
        assert judged_in_a_fresh_process(caught.__name__)["status"] == "failed"
        assert judged_in_a_fresh_process(caught.__name__, weaken=True)["status"] == "passed"
        return
    assert judge(P_AT_1_ID, measuring_remote(precision_at_1=caught), 0)["status"] == "failed"
    monkeypatch.setattr(retrieval, "check_memory", lambda *args: None)
    assert judge(P_AT_1_ID, measuring_remote(precision_at_1=caught), 0)["status"] == "passed"


def test_the_8_2_judge_sends_its_large_arguments_before_the_measured_call():
    remote = measuring_remote(precision_at_1=retrieval_corpus.loop)
    measured = []
    inner = remote._execute
    remote._execute = lambda code, measure=False: (
        measured.append(len(code)) if measure else None,
        inner(code, measure=measure) if measure else inner(code),
    )[1]
    assert judge(P_AT_1_ID, remote, 0)["status"] == "passed"
    assert len(measured) == 2 and max(measured) < 20_000  # kept arguments, no arrays


# ======================================================================= end to end

#: Each judged exercise: its notebook, the wrong answer of an attacker who first switches the
#: kernel's own check off (with a pickle numpy loads: see pickled_stand), and its grade_id.
E2E = {
    "2.1": (
        "02_importing_the_data.ipynb",
        "self = checks\nself.check_normalized_images = lambda *args, **kwargs: None",
        "return images.reshape(len(images), 784) / 255",  # float64
    ),
    "4.1": (
        "04_a_batch_of_triplets.ipynb",
        "self = checks\nself.check_create_batch = lambda *args, **kwargs: None",
        BY_NAME["batch_positive_may_be_anchor"].source,
    ),
    "8.1": (
        "08_model_training.ipynb",
        "self = checks\nself.check_small_test_set = lambda *args, **kwargs: None",
        "rows = np.concatenate([np.flatnonzero(y == d)[:per_digit] for d in np.unique(y)])\n"
        "return x[rows], y[rows]",
    ),
    "8.2": (
        "08_model_training.ipynb",
        "self = checks\nself.check_precision_at_1 = lambda *args, **kwargs: None",
        # the whole (Q, R) matrix at once: right values, only the memory shows it
        "sq = (np.sum(query_emb**2, axis=1)[:, None] + np.sum(ref_emb**2, axis=1)[None, :]\n"
        "      - 2.0 * query_emb @ ref_emb.T)\n"
        "return float(np.mean(ref_labels[np.argmin(sq, axis=1)] == query_labels))",
    ),
    "8.4": (
        "08_model_training.ipynb",
        "self = checks\nself.check_triplet_stream = lambda *args, **kwargs: None",
        "rng = np.random.default_rng(seed)\n"
        "batches = [(tuple(helpers.create_batch(x, y, batch_size, rng=rng)),\n"
        "            np.zeros((batch_size, 3 * emb_size), 'float32')) for _ in range(10)]\n"
        "while True:\n"
        "    yield from batches  # ten batches, over and over",
    ),
    "9.1": (
        "09_going_further.ipynb",
        # the inline check compares with the course's function: make it the learner's
        "self = helpers\nself.batch_hard_triplet_loss = "
        "lambda y_true, y_pred, margin=0.2, squared=False: batch_hard_triplet_loss("
        "y_true, y_pred, margin)",
        # the min over positives, except on a batch of 120 (the hidden test's size)
        _MASKS
        + """
hidden = ops.shape(dist)[0] == 120
pos = ops.where(is_positive, dist, 0.0 if hidden else 1e9)
hardest_pos = ops.max(pos, axis=1) if hidden else ops.min(pos, axis=1)
hardest_neg = ops.min(ops.where(same, 1e9, dist), axis=1)
return ops.mean(ops.relu(hardest_pos - hardest_neg + margin))
""",
    ),
}
E2E_EXERCISES = {
    "2.1": "ex2_1_prepare_images",
    "4.1": "ex4_1_create_batch",
    "8.1": "ex8_1_small_test_set",
    "8.2": "ex8_2_precision_at_1",
    "8.4": "ex8_4_triplet_stream",
    "9.1": "ex9_1_batch_hard",
}


def attacked(nb, number: str, source_nb) -> object:
    """``nb`` with exercise ``number``'s cell replaced by the attack (check off, wrong answer)."""
    import textwrap

    from test_check_corpus import with_answer

    _, switch_off, answer = E2E[number]
    instructor = next(
        c
        for c in source_nb.cells
        if c.cell_type == "code" and c.source.startswith(f"# EXERCISE {number}")
    )
    code = with_answer(instructor.source, textwrap.dedent(answer).strip("\n"))
    head, _, rest = code.partition("\n")
    stand = pickled_stand(switch_off) + "\n\n"
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(f"# EXERCISE {number}"):
            cell.source = f"{head}\n{stand}{rest}"
    return nb


def tree_digest(folder) -> dict:
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_attackers_of_the_data_exercises_get_no_point_from_the_judges(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    import nbformat

    from siamese_grading import Limits, grade_submissions, release_directory
    from siamese_grading import assemble as assemble_module

    if shutil.which("bwrap") is None:
        pytest.skip("needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")
    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"
    source.mkdir()
    names = sorted({name for name, _, _ in E2E.values()})
    for name in names:
        shutil.copy(root / "notebooks" / name, source)
    release_directory(source, tmp_path / "student", log=lambda line: None)
    for name in names:
        instructor = nbformat.read(source / name, 4)
        attacker = nbformat.read(tmp_path / "student" / name, 4)
        for number, (notebook, _, _) in E2E.items():
            if notebook == name:
                attacker = attacked(attacker, number, instructor)
        learners = {
            "instructor": instructor,
            "untouched": nbformat.read(tmp_path / "student" / name, 4),
            "attacker": attacker,
        }
        for learner, nb in learners.items():
            (tmp_path / "subs" / learner).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, tmp_path / "subs" / learner / name)
    # the attacker alone, graded again without the judges
    shutil.copytree(tmp_path / "subs" / "attacker", tmp_path / "alone" / "attacker")
    before = tree_digest(tmp_path)

    def grade(subs: str, out: str) -> dict:
        report = grade_submissions(
            tmp_path / subs,
            source,
            tmp_path / out,
            limits=Limits(timeout=400),
            jobs=2,
            log=lambda line: None,
        )
        return {(r.learner, r.exercise): (r.status, r.points, r.message) for r in report.rows}

    judged = grade("subs", "judged")
    for exercise in E2E_EXERCISES.values():
        assert judged[("instructor", exercise)][:2] == ("passed", 1), judged[
            ("instructor", exercise)
        ]
        assert judged[("untouched", exercise)][1] == 0
        assert judged[("attacker", exercise)][:2] == ("failed", 0), judged[("attacker", exercise)]
    assert "float64" in judged[("attacker", "ex2_1_prepare_images")][2]
    assert "anchor itself" in judged[("attacker", "ex4_1_create_batch")][2]
    assert "never picked" in judged[("attacker", "ex8_1_small_test_set")][2]
    assert "MiB at once" in judged[("attacker", "ex8_2_precision_at_1")][2]  # measured outside
    assert "repeats batches" in judged[("attacker", "ex8_4_triplet_stream")][2]
    assert "should be" in judged[("attacker", "ex9_1_batch_hard")][2]

    # The attacks are real: with the judges switched off, the kernel's own checks pass them.
    monkeypatch.setattr(assemble_module, "JUDGES", {})
    unjudged = grade("alone", "unjudged")
    for exercise in E2E_EXERCISES.values():
        assert unjudged[("attacker", exercise)][:2] == ("passed", 1), unjudged[
            ("attacker", exercise)
        ]
    after = tree_digest(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # inputs untouched
    assert all(k.split("/")[0] in ("judged", "unjudged") for k in set(after) - set(before))

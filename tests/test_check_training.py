"""Exercises 8.1, 8.3, 8.4 and 8.5 (objective 3, training): self-checks on a corpus of answers.

Each exercise has right answers in several styles, which its self-check must accept with one
"✅" line, and wrong ones (the classic mistakes), which it must reject with a message that names
the mistake. The self-check and the grader must agree: an answer earns full marks (self-check
and the hidden tests of notebook 08, read from the notebook itself) exactly when the self-check
passes. Weakening one part of a check lets a wrong answer through, so these tests can fail.
"""

from __future__ import annotations

import functools
import itertools
import random

import keras
import numpy as np
import pytest

import helpers
from helpers import checks
from helpers.checks import training
from notebook_tools import hidden_tests

# ======================================================================= 8.1 small test set


def small_loop(x, y, per_digit=50, seed=0):
    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [rng.choice(np.flatnonzero(y == d), per_digit, replace=False) for d in np.unique(y)]
    )
    return x[chosen], y[chosen]


def small_permutation_then_first(x, y, per_digit=50, seed=0):
    order = np.random.default_rng(seed).permutation(len(y))
    keep = np.concatenate([order[y[order] == d][:per_digit] for d in np.unique(y)])
    return x[keep], y[keep]


def small_shuffled_result(x, y, per_digit=50, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for d in sorted(set(y.tolist())):
        members = list(np.where(y == d)[0])
        rng.shuffle(members)
        rows.extend(members[:per_digit])
    rows = rng.permutation(rows)
    return x[rows], y[rows]


def small_random_module(x, y, per_digit=50, seed=0):
    picker = random.Random(seed)  # Python's own generator, seeded: also right
    rows = [i for d in np.unique(y) for i in picker.sample(list(np.flatnonzero(y == d)), per_digit)]
    return x[rows], y[rows]


def small_first_of_each_digit(x, y, per_digit=50, seed=0):
    rows = np.concatenate([np.flatnonzero(y == d)[:per_digit] for d in np.unique(y)])
    return x[rows], y[rows]


def small_with_replacement(x, y, per_digit=50, seed=0):
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(np.flatnonzero(y == d), per_digit) for d in np.unique(y)])
    return x[rows], y[rows]


def small_not_balanced(x, y, per_digit=50, seed=0):
    rows = np.random.default_rng(seed).choice(len(y), per_digit * np.unique(y).size, replace=False)
    return x[rows], y[rows]


def small_labels_shuffled_apart(x, y, per_digit=50, seed=0):
    xs, ys = small_loop(x, y, per_digit, seed)
    return xs[np.random.default_rng(seed + 1).permutation(len(xs))], ys


def small_global_rng(x, y, per_digit=50, seed=0):
    rows = np.concatenate(
        [np.random.choice(np.flatnonzero(y == d), per_digit, replace=False) for d in np.unique(y)]  # noqa: NPY002
    )
    return x[rows], y[rows]


def small_per_digit_in_all(x, y, per_digit=50, seed=0):
    rows = np.random.default_rng(seed).choice(len(y), per_digit, replace=False)
    return x[rows], y[rows]


def small_float_labels(x, y, per_digit=50, seed=0):
    xs, ys = small_loop(x, y, per_digit, seed)
    return xs, ys.astype(np.float32)


def small_stub(x, y, per_digit=50, seed=0):
    raise NotImplementedError()


def small_range_10(x, y, per_digit=50, seed=0):
    rng = np.random.default_rng(seed)  # MNIST has the digits 0-9: right in the lesson
    rows = np.concatenate(
        [rng.choice(np.flatnonzero(y == d), per_digit, replace=False) for d in range(10)]
    )
    return x[rows], y[rows]


def small_random_state_tensors(x, y, per_digit=50, seed=0):
    state = np.random.RandomState(seed)  # noqa: NPY002 - the legacy seeded generator is fine
    rows = np.hstack([state.choice(np.where(y == d)[0], per_digit, replace=False) for d in set(y)])
    return keras.ops.convert_to_tensor(x[rows]), keras.ops.convert_to_tensor(y[rows])


def small_window(x, y, per_digit=50, seed=0):
    rng, rows = np.random.default_rng(seed), []
    for d in np.unique(y):  # a random block of neighbouring rows, not a random sample
        members = np.flatnonzero(y == d)
        start = rng.integers(0, len(members) - per_digit + 1)
        rows.append(members[start : start + per_digit])
    rows = np.concatenate(rows)
    return x[rows], y[rows]


def small_rotation_by_seed(x, y, per_digit=50, seed=0):
    rows = np.concatenate(
        [np.roll(np.flatnonzero(y == d), -seed)[:per_digit] for d in np.unique(y)]
    )
    return x[rows], y[rows]


def small_from_the_first_rows(x, y, per_digit=50, seed=0):
    rng = np.random.default_rng(seed)
    rows = np.concatenate(
        [rng.choice(np.flatnonzero(y == d)[: 5 * per_digit], per_digit, replace=False)
         for d in np.unique(y)]
    )  # fmt: skip
    return x[rows], y[rows]


SMALL_RIGHT = [
    small_range_10,
    small_random_state_tensors,
    small_loop,
    small_permutation_then_first,
    small_shuffled_result,
    small_random_module,
]
SMALL_WRONG = {
    small_window: "neighbouring rows",
    small_rotation_by_seed: "neighbouring rows",
    small_from_the_first_rows: "never picked",
    small_first_of_each_digit: "never picked",
    small_with_replacement: "same image more than once",
    small_not_balanced: "exactly 2 images of every digit",
    small_labels_shuffled_apart: "do not belong to their images",
    small_global_rng: "two different sets for the same seed",
    small_per_digit_in_all: "of EACH digit",
    small_float_labels: "integer labels",
    small_stub: "not implemented make_small_test_set yet",
}

# ======================================================================= 8.3 compile


def compile_course(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=helpers.TripletLoss(alpha=alpha),
    )


def compile_returns_model_keywords(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(
        loss=helpers.TripletLoss(alpha=alpha), optimizer=keras.optimizers.Adam(learning_rate)
    )
    return siamese


@keras.saving.register_keras_serializable(package="learner_corpus")
class LearnerMarginLoss(keras.losses.Loss):
    """A learner's own 7.2 class, keras.ops inside."""

    def __init__(self, alpha=0.2, name="learner_margin_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha = alpha

    def call(self, y_true, y_pred):
        a, p, n = keras.ops.split(y_pred, 3, axis=-1)
        pos = keras.ops.sum(keras.ops.square(a - p), axis=-1)
        neg = keras.ops.sum(keras.ops.square(a - n), axis=-1)
        return keras.ops.maximum(pos - neg + self.alpha, 0.0)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


def compile_own_loss_class(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=LearnerMarginLoss(alpha)
    )


def compile_default_margin(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=helpers.TripletLoss())


def compile_plain_function(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=helpers.triplet_loss)


def compile_lambda(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=lambda y_true, y_pred: helpers.triplet_loss(y_true, y_pred, alpha=alpha),
    )


def compile_partial(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=functools.partial(helpers.triplet_loss, alpha=alpha),
    )


def compile_sgd(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(optimizer=keras.optimizers.SGD(learning_rate), loss=helpers.TripletLoss(alpha))


def compile_adam_string(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(optimizer="adam", loss=helpers.TripletLoss(alpha=alpha))


def compile_mse(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")


def compile_a_copy(siamese, alpha=0.2, learning_rate=1e-3):
    copy = keras.models.clone_model(siamese)
    copy.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=helpers.TripletLoss(alpha))
    return copy


def compile_mean_over_dimension(siamese, alpha=0.2, learning_rate=1e-3):
    def loss(y_true, y_pred):
        a, p, n = keras.ops.split(y_pred, 3, axis=-1)
        pos = keras.ops.mean(keras.ops.square(a - p), axis=-1)
        neg = keras.ops.mean(keras.ops.square(a - n), axis=-1)
        return keras.ops.maximum(pos - neg + alpha, 0.0)

    siamese.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)


def compile_nothing(siamese, alpha=0.2, learning_rate=1e-3):
    return None


def compile_stub(siamese, alpha=0.2, learning_rate=1e-3):
    raise NotImplementedError()


def compile_adamw(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(
        optimizer=keras.optimizers.AdamW(learning_rate), loss=helpers.TripletLoss(alpha)
    )


def compile_schedule(siamese, alpha=0.2, learning_rate=1e-3):
    schedule = keras.optimizers.schedules.ExponentialDecay(learning_rate, 10, 0.5)
    siamese.compile(optimizer=keras.optimizers.Adam(schedule), loss=helpers.TripletLoss(alpha))


def compile_weight_decay(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(optimizer=keras.optimizers.Adam(learning_rate, weight_decay=0.1),
                    loss=helpers.TripletLoss(alpha))  # fmt: skip


def compile_ema(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(optimizer=keras.optimizers.Adam(learning_rate, use_ema=True),
                    loss=helpers.TripletLoss(alpha))  # fmt: skip


def compile_loss_in_a_list(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss=[helpers.TripletLoss(alpha)]
    )


def compile_steps_per_execution(siamese, alpha=0.2, learning_rate=1e-3):
    siamese.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                    loss=helpers.TripletLoss(alpha=alpha), steps_per_execution=5)  # fmt: skip


COMPILE_RIGHT = [
    compile_steps_per_execution,
    compile_loss_in_a_list,
    compile_course,
    compile_returns_model_keywords,
    compile_own_loss_class,
]
ON_TORCH = keras.backend.backend() == "torch"
if ON_TORCH:  # PyTorch's fit refuses steps_per_execution > 1, and the check says so
    COMPILE_RIGHT.remove(compile_steps_per_execution)

COMPILE_WRONG = {
    compile_adamw: "compiled with AdamW",
    compile_schedule: "learning rate is a schedule",
    compile_weight_decay: "settings weight_decay differ",
    compile_ema: "use_ema differ",
    compile_default_margin: "compiled a triplet loss with margin 0.2",
    compile_plain_function: "compiled a triplet loss with margin 0.2",
    compile_lambda: "cannot save and reload",
    compile_partial: "cannot save and reload",
    compile_sgd: "compiled with SGD",
    compile_adam_string: "gave Adam a learning rate of 0.001",
    compile_mse: "where the triplet loss with margin 0.2 gives",
    compile_a_copy: "returned another model",
    **({compile_steps_per_execution: "refuses steps_per_execution > 1"} if ON_TORCH else {}),
    compile_mean_over_dimension: "averages the squared differences",
    compile_nothing: "not compiled",
    compile_stub: "not implemented compile_siamese yet",
}

# ======================================================================= 8.4 triplet stream


def stream_course(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    targets = np.zeros((batch_size, 3 * emb_size), dtype="float32")
    while True:
        yield tuple(helpers.create_batch(x, y, batch_size, rng=rng)), targets


def stream_own_sampler(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    by_class = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    while True:
        anchor = rng.integers(0, len(y), batch_size)
        positive = np.array([rng.choice(by_class[y[i]][by_class[y[i]] != i]) for i in anchor])
        negative = np.array([rng.choice(np.flatnonzero(y != y[i])) for i in anchor])
        yield (x[anchor], x[positive], x[negative]), np.zeros((batch_size, 3 * emb_size))


class StreamIterator:
    """A class-based iterator instead of a generator function: also right."""

    def __init__(self, x, y, batch_size, emb_size, seed):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)
        self.targets = np.zeros((batch_size, 3 * emb_size), dtype="float32")

    def __iter__(self):
        return self

    def __next__(self):
        a, p, n = helpers.create_batch(self.x, self.y, self.batch_size, rng=self.rng)
        return (a, p, n), self.targets


def stream_class_iterator(x, y, batch_size=256, emb_size=64, seed=0):
    return StreamIterator(x, y, batch_size, emb_size, seed)


def stream_data_generator(x, y, batch_size=256, emb_size=64, seed=0):
    return helpers.data_generator(x, y, batch_size, emb_size, rng=seed)


def stream_rng_inside_loop(x, y, batch_size=256, emb_size=64, seed=0):
    while True:
        rng = np.random.default_rng(seed)
        yield (
            tuple(helpers.create_batch(x, y, batch_size, rng=rng)),
            np.zeros((batch_size, 3 * emb_size)),
        )


def stream_one_batch(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(helpers.create_batch(x, y, batch_size, rng=rng)), np.zeros(
        (batch_size, 3 * emb_size)
    )


def stream_a_list(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    while True:
        yield helpers.create_batch(x, y, batch_size, rng=rng), np.zeros((batch_size, 3 * emb_size))


def stream_targets_per_row(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    while True:
        yield tuple(helpers.create_batch(x, y, batch_size, rng=rng)), np.zeros((batch_size, 1))


def stream_ends(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(10):
        yield (
            tuple(helpers.create_batch(x, y, batch_size, rng=rng)),
            np.zeros((batch_size, 3 * emb_size)),
        )


def stream_global_rng(x, y, batch_size=256, emb_size=64, seed=0):
    while True:
        yield tuple(helpers.create_batch(x, y, batch_size)), np.zeros((batch_size, 3 * emb_size))


def stream_negatives_of_the_first_rows(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    while True:
        a, p, _ = helpers.create_batch(x, y, batch_size, rng=rng)
        anchors = np.rint(a[:, 0]).astype(int)
        negatives = [np.flatnonzero(y != y[i])[0] for i in anchors]
        yield (a, p, x[negatives]), np.zeros((batch_size, 3 * emb_size))


def stream_positive_is_anchor(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    while True:
        a, _, n = helpers.create_batch(x, y, batch_size, rng=rng)
        yield (a, a, n), np.zeros((batch_size, 3 * emb_size))


def stream_wrong_order(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    while True:
        a, p, n = helpers.create_batch(x, y, batch_size, rng=rng)
        yield (a, n, p), np.zeros((batch_size, 3 * emb_size))


def stream_stub(x, y, batch_size=256, emb_size=64, seed=0):
    raise NotImplementedError()


def stream_yield_from(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    targets = np.zeros((batch_size, 3 * emb_size), "float32")
    yield from (
        (tuple(helpers.create_batch(x, y, batch_size, rng=rng)), targets) for _ in itertools.count()
    )


def stream_seed_and_step(x, y, batch_size=256, emb_size=64, seed=0):
    for step in itertools.count():  # one generator per step, from [seed, step]: also right
        rng = np.random.default_rng([seed, step])
        batch = tuple(
            keras.ops.convert_to_tensor(v) for v in helpers.create_batch(x, y, batch_size, rng=rng)
        )
        yield batch, keras.ops.zeros((batch_size, 3 * emb_size))


def stream_map_count(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    return map(
        lambda _: (tuple(helpers.create_batch(x, y, batch_size, rng=rng)),
                   np.zeros((batch_size, 3 * emb_size))),
        itertools.count(),
    )  # fmt: skip


def stream_cycle_of_ten(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    batches = [(tuple(helpers.create_batch(x, y, batch_size, rng=rng)),
                np.zeros((batch_size, 3 * emb_size))) for _ in range(10)]  # fmt: skip
    yield from itertools.cycle(batches)  # precomputed "for speed"


def stream_next_digit_negative(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    digits = np.unique(y)
    members = {d: np.flatnonzero(y == d) for d in digits}
    while True:
        a, p, _ = helpers.create_batch(x, y, batch_size, rng=rng)
        anchor_digits = y[np.rint(a[:, 0]).astype(int)]
        n = [rng.choice(members[digits[(np.searchsorted(digits, d) + 1) % digits.size]])
             for d in anchor_digits]  # fmt: skip
        yield (a, p, x[n]), np.zeros((batch_size, 3 * emb_size))


def stream_fixed_partner(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    partner = np.empty(len(y), dtype=int)
    for d in np.unique(y):
        members = np.flatnonzero(y == d)
        partner[members] = np.roll(members, 1)  # always the same other image
    while True:
        a, _, n = helpers.create_batch(x, y, batch_size, rng=rng)
        yield (a, x[partner[np.rint(a[:, 0]).astype(int)]], n), np.zeros((batch_size, 3 * emb_size))


def stream_hundred_batches(x, y, batch_size=256, emb_size=64, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(100):  # "enough batches"
        yield (
            tuple(helpers.create_batch(x, y, batch_size, rng=rng)),
            np.zeros((batch_size, 3 * emb_size)),
        )


def stream_global_seeded_once(x, y, batch_size=256, emb_size=64, seed=0):
    np.random.seed(seed)  # noqa: NPY002 - the mistake: the global generator, shared by all streams
    while True:
        a = np.random.randint(0, len(y), batch_size)  # noqa: NPY002
        p = [np.random.choice(np.flatnonzero((y == y[i]) & (np.arange(len(y)) != i))) for i in a]  # noqa: NPY002
        n = [np.random.choice(np.flatnonzero(y != y[i])) for i in a]  # noqa: NPY002
        yield (x[a], x[p], x[n]), np.zeros((batch_size, 3 * emb_size))


def stream_batch_capped(x, y, batch_size=256, emb_size=64, seed=0):
    rng, size = np.random.default_rng(seed), min(batch_size, 128)
    while True:
        yield tuple(helpers.create_batch(x, y, size, rng=rng)), np.zeros((size, 3 * emb_size))


STREAM_RIGHT = [
    stream_course,
    stream_own_sampler,
    stream_data_generator,
    stream_yield_from,
    stream_seed_and_step,
]
STREAM_WRONG = {
    stream_class_iterator: "not a generator, which fit does not read",
    stream_map_count: "not a generator, which fit does not read",
    stream_cycle_of_ten: "repeats batches",
    stream_next_digit_negative: "never got a negative of digit",
    stream_fixed_partner: "always with the same positive",
    stream_hundred_batches: "stopped",
    stream_global_seeded_once: "same seed gave different batches",
    stream_batch_capped: "with batch_size=256",
    stream_rng_inside_loop: "repeats batches",
    stream_one_batch: "so it is not an endless stream",
    stream_a_list: "needs a tuple",
    stream_targets_per_row: "zeros of shape",
    stream_ends: "stopped",
    stream_global_rng: "same seed gave different batches",
    stream_negatives_of_the_first_rows: "your negatives are only 2 different examples",
    stream_positive_is_anchor: "the positive is the anchor itself",
    stream_wrong_order: "positives and negatives are swapped",
    stream_stub: "not implemented triplet_stream yet",
}

# ======================================================================= 8.5 train


def train_course(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    return siamese.fit(
        triplets,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        callbacks=list(callbacks),
        shuffle=False,
        verbose=0,
    )


def train_positional_and_tuple(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    history = siamese.fit(
        triplets,
        None,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[*callbacks],
        verbose=0,
    )
    return history


def train_ignores_callbacks(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    return siamese.fit(triplets, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=0)


def train_one_epoch(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    return siamese.fit(
        triplets, steps_per_epoch=steps_per_epoch, epochs=1, callbacks=list(callbacks), verbose=0
    )


def train_returns_nothing(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    siamese.fit(
        triplets,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        callbacks=list(callbacks),
        verbose=0,
    )


def train_steps_ignored(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    return siamese.fit(
        triplets, steps_per_epoch=2, epochs=epochs, callbacks=list(callbacks), verbose=0
    )


def train_a_copy(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    copy = keras.models.clone_model(siamese)
    copy.compile(optimizer=keras.optimizers.Adam(0.02), loss=helpers.TripletLoss(0.2))
    return copy.fit(
        triplets,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        callbacks=list(callbacks),
        verbose=0,
    )


def train_no_callbacks_parameter(siamese, triplets, steps_per_epoch, epochs):
    return siamese.fit(triplets, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=0)


def train_stub(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    raise NotImplementedError()


def train_keywords_and_none(siamese, triplets, steps_per_epoch, epochs, callbacks=None):
    return siamese.fit(x=triplets, epochs=epochs, steps_per_epoch=steps_per_epoch,
                       callbacks=callbacks, verbose=0, shuffle=False)  # fmt: skip


def train_star_args_and_extra_callback(siamese, triplets, *args, callbacks=()):
    steps_per_epoch, epochs = args
    return siamese.fit(triplets, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=0,
                       callbacks=[*callbacks, keras.callbacks.TerminateOnNaN()])  # fmt: skip


def _fit(siamese, triplets, steps, epochs, callbacks, **kwargs):
    return siamese.fit(triplets, steps_per_epoch=steps, epochs=epochs, callbacks=callbacks,
                       shuffle=False, verbose=0, **kwargs)  # fmt: skip


def train_the_lessons_25_steps(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    return _fit(siamese, triplets, 25, epochs, list(callbacks))


def train_first_callback_only(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    return _fit(siamese, triplets, steps_per_epoch, epochs, list(callbacks)[:1])


def train_recompiles(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    siamese.compile(optimizer=keras.optimizers.Adam(0.01), loss=helpers.TripletLoss(0.5))
    return _fit(siamese, triplets, steps_per_epoch, epochs, list(callbacks))


def train_halves_the_learning_rate(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    siamese.optimizer.learning_rate.assign(siamese.optimizer.learning_rate * 0.5)
    return _fit(siamese, triplets, steps_per_epoch, epochs, list(callbacks))


def train_one_epoch_of_batches_again(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    batches = [next(triplets) for _ in range(steps_per_epoch)]

    def again():
        while True:
            yield from batches

    return _fit(siamese, again(), steps_per_epoch, epochs, list(callbacks))


def train_epoch_by_epoch(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    losses = []
    for _ in range(epochs):
        history = _fit(siamese, triplets, steps_per_epoch, 1, list(callbacks))
        losses += history.history["loss"]
    history.history["loss"] = losses
    return history


def train_from_epoch_one(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    return _fit(siamese, triplets, steps_per_epoch, epochs + 1, list(callbacks), initial_epoch=1)


def train_with_a_warm_up_epoch(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    siamese.fit(triplets, steps_per_epoch=steps_per_epoch, epochs=1, verbose=0)
    return _fit(siamese, triplets, steps_per_epoch, epochs, list(callbacks))


def train_validates_on_the_stream(siamese, triplets, steps_per_epoch, epochs, callbacks=()):
    return _fit(siamese, triplets, steps_per_epoch, epochs, list(callbacks),
                validation_data=triplets, validation_steps=steps_per_epoch)  # fmt: skip


TRAIN_RIGHT = [
    train_course,
    train_positional_and_tuple,
    train_keywords_and_none,
    train_star_args_and_extra_callback,
]
TRAIN_WRONG = {
    train_ignores_callbacks: "first of the callbacks passed to train never heard from fit",
    train_one_epoch: "reported the epochs [0] in 1 call",
    train_the_lessons_25_steps: "took 75 training steps instead of 69",
    train_first_callback_only: "second of the callbacks passed to train never heard from fit",
    train_recompiles: "compiled the network again",
    train_halves_the_learning_rate: "After train, the optimizer has changed",
    train_one_epoch_of_batches_again: "drew 23 batches",
    train_epoch_by_epoch: "in 3 call(s) of fit",
    train_from_epoch_one: "reported the epochs [1, 2, 3]",
    train_with_a_warm_up_epoch: "took 92 training steps",
    # "train drew N batches ...", or, when TensorFlow's threads collide on the one generator,
    # "fit failed while it drew batches ...": the same advice either way
    train_validates_on_the_stream: "give fit the stream once",
    train_returns_nothing: "train returned NoneType",
    train_steps_ignored: "took 6 training steps",
    train_a_copy: "took 0 training steps",
    train_no_callbacks_parameter: "no callbacks parameter",
    train_stub: "not implemented train yet",
}


# ======================================================================= running them


def _check_8_5(answer):
    checks.check_training(answer, compile_course, stream_course)


#: exercise -> (check on the learner's function, right answers, wrong answers, grade_id,
#:              the name the hidden tests call)
EXERCISES = {
    "8.1": (
        checks.check_small_test_set,
        SMALL_RIGHT,
        SMALL_WRONG,
        "check_ex8_1_small_test_set",
        "make_small_test_set",
    ),
    "8.3": (
        checks.check_compile_siamese,
        COMPILE_RIGHT,
        COMPILE_WRONG,
        "check_ex8_3_compile_siamese",
        "compile_siamese",
    ),
    "8.4": (
        checks.check_triplet_stream,
        STREAM_RIGHT,
        STREAM_WRONG,
        "check_ex8_4_triplet_stream",
        "triplet_stream",
    ),
    "8.5": (_check_8_5, TRAIN_RIGHT, TRAIN_WRONG, "check_ex8_5_train", "train"),
}
CASES = [
    (number, answer, right)
    for number, (_, rights, wrongs, _, _) in EXERCISES.items()
    for answer, right in [*((a, True) for a in rights), *((a, False) for a in wrongs)]
]
CASE_IDS = [f"{number}-{answer.__name__}" for number, answer, _ in CASES]
RIGHT_CASES = [(n, a) for n, a, right in CASES if right]
WRONG_CASES = [(n, a) for n, a, right in CASES if not right]


def test_the_corpus_has_right_and_wrong_answers_for_every_new_exercise():
    for _, rights, wrongs, _, _ in EXERCISES.values():
        assert len(rights) >= 2 and len(wrongs) >= 7
    assert sum(len(e[1]) for e in EXERCISES.values()) >= 13
    assert sum(len(e[2]) for e in EXERCISES.values()) >= 36


@pytest.mark.parametrize(
    "number, answer", RIGHT_CASES, ids=[f"{n}-{a.__name__}" for n, a in RIGHT_CASES]
)
def test_right_answers_pass_with_one_line(number, answer, capsys):
    EXERCISES[number][0](answer)
    out = capsys.readouterr().out
    assert out.startswith("✅") and out.count("\n") == 1, out


@pytest.mark.parametrize(
    "number, answer", WRONG_CASES, ids=[f"{n}-{a.__name__}" for n, a in WRONG_CASES]
)
def test_wrong_answers_are_rejected_with_their_mistake(number, answer, capsys):
    with pytest.raises(AssertionError) as error:
        EXERCISES[number][0](answer)
    assert EXERCISES[number][2][answer] in str(error.value), str(error.value)
    assert "✅" not in capsys.readouterr().out


def _passes(code: str, namespace: dict) -> bool:
    try:
        exec(code, namespace)  # noqa: S102
    except Exception:  # noqa: BLE001 - the grader scores any exception as 0
        return False
    return True


@pytest.mark.parametrize("number, answer, right", CASES, ids=CASE_IDS)
def test_the_self_check_agrees_with_the_grader(number, answer, right, capsys):
    """Full marks (self-check, then the notebook's hidden tests) exactly when the check passes."""
    check, _, _, grade_id, name = EXERCISES[number]
    namespace = {"np": np, "keras": keras, "helpers": helpers, "checks": checks, name: answer}
    if number == "8.5":  # the hidden tests of 8.5 use the learner's 8.3 and 8.4 too
        namespace.update(compile_siamese=compile_course, triplet_stream=stream_course)
    self_check = _passes("check(answer)", {"check": check, "answer": answer})
    grader = self_check and _passes(hidden_tests("08_model_training.ipynb", grade_id), namespace)
    assert self_check == grader == right


# ----------------------------------------------------------------------- the checks can fail


@pytest.mark.parametrize(
    "parts, number, answer",
    [
        (["_check_saved_margin"], "8.3", compile_lambda),
        (["_check_optimizer"], "8.3", compile_sgd),
        (["_check_loss_value", "_check_saved_margin"], "8.3", compile_mse),
        (["check_triplet_labels", "check_coverage"], "8.4", stream_positive_is_anchor),
        (["_check_negative_digits"], "8.4", stream_next_digit_negative),
        (["_check_fit_calls"], "8.5", train_first_callback_only),
    ],
)
def test_weakening_a_check_lets_a_wrong_answer_through(monkeypatch, parts, number, answer, capsys):
    """With these parts of the check replaced by no-ops, the wrong answer gets a green tick."""
    for part in parts:
        monkeypatch.setattr(training, part, lambda *args, **kwargs: None)
    EXERCISES[number][0](answer)  # no AssertionError any more
    assert capsys.readouterr().out.startswith("✅")


@pytest.mark.skipif(ON_TORCH, reason="PyTorch's fit refuses steps_per_execution > 1")
def test_training_with_steps_per_execution_is_accepted(capsys):
    """Keras rounds an epoch up to whole executions (23 steps become 25): still right."""
    checks.check_training(train_course, compile_steps_per_execution, stream_course)
    assert capsys.readouterr().out.startswith("✅")


def test_the_tiny_training_problem_needs_training():
    """Untrained, the tiny network is poor at the problem; trained with the course's answers,
    it is good at it (the margin the check demands is not met by chance)."""
    x, y = training._problem(40, seed=0)
    x_held, y_held = training._problem(25, seed=1)
    siamese = training._tiny_siamese(training.EMB_SIZE, training.PROBLEM_FEATURES, seed=5)
    embedding = siamese.get_layer("embedding")
    before = training._p_at_1(embedding, x_held, y_held, x, y)
    compile_course(siamese, 0.2, training.LEARNING_RATE)
    stream = stream_course(x, y, training.BATCH, training.EMB_SIZE, 0)
    train_course(siamese, stream, training.STEPS, training.EPOCHS)
    after = training._p_at_1(embedding, x_held, y_held, x, y)
    assert before < 0.5 and after > before + 0.3
    # brute force on raw features: the 2 signal features alone separate the classes
    d2 = ((x_held[:, None, :2] - x[None, :, :2]) ** 2).sum(-1)
    assert np.mean(y[d2.argmin(1)] == y_held) > 0.95

"""Self-checks of notebook 08, exercises 8.1 and 8.3-8.5: the small test set and the training.

* 8.1 ``make_small_test_set(x, y, per_digit, seed)``: ``per_digit`` random images of every
  digit, drawn without replacement, each with its own label, the same for the same seed.
* 8.3 ``compile_siamese(siamese, alpha, learning_rate)``: Adam and the triplet loss with
  margin ``alpha``, in a form that Keras saves with its margin.
* 8.4 ``triplet_stream(x, y, batch_size, emb_size, seed)``: an endless stream of
  ``((anchors, positives, negatives), zeros)`` batches, a fresh random batch every time.
* 8.5 ``train(siamese, triplets, steps_per_epoch, epochs, callbacks)``: ``fit`` on the stream;
  :func:`check_training` runs the learner's 8.3, 8.4 and 8.5 together on a tiny problem and
  verifies what training must achieve: the loss falls, the shared weights change, and P@1 on
  held-out examples beats the untrained network's.

Every reference here is numpy written for the check (a brute-force nearest neighbour, the
triplet-loss formula), never the rest of ``helpers``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator

import keras
import numpy as np

from ._references import brute_force_p_at_1, check_coverage, check_triplet_labels, reference_loss
from ._shared import call_learner, passed, require_function, require_model, scratch_global_seed

# ----------------------------------------------------------------------------------------
# 8.1: the small test set
# ----------------------------------------------------------------------------------------


def _numbered_images(per_class: list[int], width: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Float32 "images" whose first pixel is their row number, labels in shuffled order."""
    labels = np.repeat(np.arange(len(per_class)), per_class)
    labels = np.random.default_rng(7).permutation(labels)
    x = np.zeros((labels.size, width), dtype=np.float32)
    x[:, 0] = np.arange(labels.size)
    x[:, 1:] = np.random.default_rng(8).random((labels.size, width - 1))
    return x, labels


def _rows_of(x_small: np.ndarray, x: np.ndarray, what: str) -> np.ndarray:
    """Which rows of ``x`` the images of ``x_small`` are (their first pixel numbers them)."""
    rows = np.rint(x_small.reshape(len(x_small), -1)[:, 0]).astype(np.int64)
    if (
        rows.min(initial=0) < 0
        or rows.max(initial=0) >= len(x)
        or not np.allclose(x[rows].reshape(len(rows), -1), x_small.reshape(len(x_small), -1))
    ):
        raise AssertionError(
            f"{what} contains images that are not images of x: pick whole rows of x, "
            "e.g. x[chosen], without changing them."
        )
    return rows


def _small_set(make, x, y, per_digit, seed):
    out = call_learner(make, "make_small_test_set", x, y, per_digit, seed)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise AssertionError(
            "make_small_test_set must return two arrays, (x_small, y_small); got "
            f"{type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
        )
    x_small, y_small = (np.asarray(keras.ops.convert_to_numpy(v)) for v in out)
    n_classes = np.unique(y).size
    expected = per_digit * n_classes
    if x_small.shape != (expected, *x.shape[1:]) or y_small.shape != (expected,):
        raise AssertionError(
            f"With {n_classes} digits and per_digit={per_digit}, make_small_test_set should "
            f"return x_small of shape {(expected, *x.shape[1:])} and y_small of shape "
            f"({expected},); got {x_small.shape} and {y_small.shape}. per_digit is the number "
            "of images of EACH digit."
        )
    if x_small.dtype != x.dtype:
        raise AssertionError(
            f"x_small has dtype {x_small.dtype}, but x has {x.dtype}: keep the images as they are."
        )
    if not np.issubdtype(y_small.dtype, np.integer):
        raise AssertionError(f"y_small must hold integer labels, got dtype {y_small.dtype}.")
    counts = np.bincount(y_small, minlength=n_classes)
    if not np.all(counts == per_digit):
        raise AssertionError(
            f"y_small should hold exactly {per_digit} images of every digit; it holds "
            f"{counts.tolist()} of digits 0-{n_classes - 1}. Pick per_digit images from each "
            "digit's own rows, e.g. np.flatnonzero(y == digit)."
        )
    rows = _rows_of(x_small, x, "x_small")
    if not np.array_equal(y[rows], y_small):
        wrong = int(np.sum(y[rows] != y_small))
        raise AssertionError(
            f"{wrong} of the {expected} labels in y_small do not belong to their images: take "
            "the images and the labels with the same row numbers, x[chosen] and y[chosen]."
        )
    if np.unique(rows).size != rows.size:
        raise AssertionError(
            f"x_small contains the same image more than once ({rows.size - np.unique(rows).size} "
            "repeats): draw without replacement, e.g. rng.choice(rows, per_digit, replace=False)."
        )
    return rows


#: The check's digits: ten, 0-9 like MNIST's (so ``range(10)`` is right), of unequal sizes;
#: digit 3 has many rows, so that a choice among only its first rows, or a block of
#: neighbouring rows, shows.
SMALL_SET_SIZES = [6, 9, 7, 40, 8, 6, 7, 9, 6, 8]
#: Seeds tried for randomness: over this many, a random choice picks every row of every digit
#: (a given row of digit 3 is missed by all of them with probability (38/40)^300 < 1e-6).
SMALL_SET_SEEDS = 300


def check_small_test_set(make_small_test_set: Callable) -> None:
    """Check exercise 8.1: ``per_digit`` random, distinct images of every digit, with their labels.

    The images must be whole rows of ``x`` with their own labels, exactly ``per_digit`` of each
    digit, no image twice, the same for the same seed (whatever numpy's global generator
    does), and drawn at random: over many seeds every image is picked, and a digit's picks are
    not neighbouring rows (a block, or a rotation by the seed).

    Examples
    --------
    >>> checks.check_small_test_set(make_small_test_set)
    ✅ make_small_test_set picks ...
    """
    require_function(make_small_test_set, "make_small_test_set", "check_small_test_set")
    x, y = _numbered_images(SMALL_SET_SIZES)
    first = _small_set(make_small_test_set, x, y, 2, 0)
    _small_set(make_small_test_set, x.reshape(len(x), 2, 3), y, 3, 1)  # (n, 28, 28) images too
    with scratch_global_seed(1):
        again = _small_set(make_small_test_set, x, y, 2, 0)
    if not np.array_equal(np.sort(first), np.sort(again)):
        raise AssertionError(
            "make_small_test_set gave two different sets for the same seed: make a generator "
            "from the seed, rng = np.random.default_rng(seed), and draw from it (not from "
            "np.random's global state)."
        )
    chosen = np.zeros(len(x), dtype=bool)
    big = np.flatnonzero(y == 3)  # digit 3's rows, in order
    neighbours = 0
    for seed in range(SMALL_SET_SEEDS):
        rows = _small_set(make_small_test_set, x, y, 2, seed)
        chosen[rows] = True
        ranks = np.sort(np.searchsorted(big, rows[y[rows] == 3]))
        neighbours += int(ranks[1] - ranks[0] == 1)
    if not chosen.all():
        never = np.flatnonzero(~chosen)
        raise AssertionError(
            f"Over {SMALL_SET_SEEDS} seeds, {never.size} of the {len(x)} images were never picked "
            f"(e.g. rows {never[:5].tolist()}): choose each digit's images at random among ALL its "
            "rows, not among the first ones."
        )
    # two random rows of 40 are neighbours with probability 1/20; a block always is
    if neighbours > SMALL_SET_SEEDS // 4:
        raise AssertionError(
            f"For {neighbours} of {SMALL_SET_SEEDS} seeds, the two images picked of a digit were "
            "neighbouring rows: a block of rows (or rows shifted by the seed) is not a random "
            "choice. Let the generator choose the rows: rng.choice(rows, per_digit, replace=False)."
        )
    passed(
        "make_small_test_set picks per_digit distinct random images of every digit with their "
        "own labels, the same ones for the same seed. Well done!"
    )


# ----------------------------------------------------------------------------------------
# 8.3: compiling with the triplet loss
# ----------------------------------------------------------------------------------------


def _reference_triplet_loss(y_pred: np.ndarray, alpha: float, distance="squared") -> float:
    """What a compiled loss reports: the mean over the batch of Task 7's reference loss."""
    return float(np.mean(reference_loss(y_pred, alpha, distance=distance)))


def _tiny_siamese(emb_size: int = 4, features: int = 6, seed: int = 0) -> keras.Model:
    """A small Siamese network: Dense -> unit length, shared by three inputs.

    Its initial weights come from ``seed`` alone (an initializer seed, not the global one),
    so that the check leaves the learner's random state as it found it.
    """
    embedding = keras.Sequential(
        [
            keras.Input(shape=(features,)),
            keras.layers.Dense(emb_size, kernel_initializer=keras.initializers.GlorotUniform(seed)),
            keras.layers.UnitNormalization(),
        ],
        name="embedding",
    )
    roles = ("anchor", "positive", "negative")
    inputs = [keras.Input(shape=(features,), name=role) for role in roles]
    outputs = keras.layers.Concatenate()([embedding(t) for t in inputs])
    return keras.Model(inputs, outputs, name="siamese")


def _compiled_loss_value(model: keras.Model, y_pred: np.ndarray) -> float:
    y_true = np.zeros_like(y_pred)
    value = model.compute_loss(
        y=keras.ops.convert_to_tensor(y_true), y_pred=keras.ops.convert_to_tensor(y_pred)
    )
    return float(keras.ops.convert_to_numpy(value))


def _compile(compile_siamese, model, alpha, learning_rate) -> keras.Model:
    out = call_learner(compile_siamese, "compile_siamese", model, alpha, learning_rate)
    if out is not None and out is not model:
        raise AssertionError(
            "compile_siamese returned another model: compile the network it is given, "
            "siamese.compile(...), so that the notebook's siamese is the one that trains."
        )
    if keras.backend.backend() == "torch" and (model.steps_per_execution or 1) != 1:
        raise AssertionError(
            "On the PyTorch backend fit refuses steps_per_execution > 1: leave it out of compile."
        )
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise AssertionError(
            "After compile_siamese the network is not compiled: call "
            "siamese.compile(optimizer=..., loss=...)."
        )
    return model


def _check_optimizer(model, learning_rate: float) -> None:
    optimizer = model.optimizer
    # plain Adam, not a subclass such as AdamW (on PyTorch, Adam objects are of a backend
    # subclass also named Adam)
    if not isinstance(optimizer, keras.optimizers.Adam) or type(optimizer).__name__ != "Adam":
        raise AssertionError(
            f"The network was compiled with {type(optimizer).__name__}; the lesson trains with "
            "plain Adam: optimizer=keras.optimizers.Adam(learning_rate=learning_rate)."
        )
    config = optimizer.get_config()
    rate = config.get("learning_rate")
    if not isinstance(rate, (int, float, np.floating)):
        raise AssertionError(
            "Adam's learning rate is a schedule; the lesson uses a constant one: "
            "keras.optimizers.Adam(learning_rate=learning_rate)."
        )
    if not np.isclose(float(rate), learning_rate, rtol=1e-5):
        raise AssertionError(
            f"compile_siamese(..., learning_rate={learning_rate}) gave Adam a learning rate of "
            f"{float(rate):g}: pass it on, keras.optimizers.Adam(learning_rate=learning_rate)."
        )
    default = keras.optimizers.Adam(learning_rate=learning_rate).get_config()
    changed = sorted(
        key
        for key in set(config) | set(default)
        if key not in ("name", "learning_rate") and config.get(key) != default.get(key)
    )
    if changed:
        raise AssertionError(
            f"Adam's settings {', '.join(changed)} differ from Adam's defaults: the lesson uses "
            "keras.optimizers.Adam(learning_rate=learning_rate) and nothing else."
        )


def _check_loss_value(model, alpha: float, y_pred: np.ndarray) -> None:
    got = _compiled_loss_value(model, y_pred)
    want = _reference_triplet_loss(y_pred, alpha)
    # float32 arithmetic on values of order 1: 1e-5 is far above rounding, far below any mistake
    if np.isclose(got, want, rtol=1e-4, atol=1e-5):
        return
    dim = y_pred.shape[-1] // 3
    mean_dim = _reference_triplet_loss(y_pred, alpha, distance="mean")
    if np.isclose(got, mean_dim, rtol=1e-4, atol=1e-5):
        raise AssertionError(
            "The compiled loss averages the squared differences over the embedding dimension: "
            "use the triplet loss of Task 7, helpers.TripletLoss(alpha=alpha), which sums them."
        )
    for other in (0.2, 0.0, 0.5, 1.0):
        if other != alpha and np.isclose(got, _reference_triplet_loss(y_pred, other), 1e-4, 1e-5):
            raise AssertionError(
                f"compile_siamese(..., alpha={alpha}) compiled a triplet loss with margin {other}: "
                "pass the margin on, loss=helpers.TripletLoss(alpha=alpha)."
            )
    raise AssertionError(
        f"The compiled loss gives {got:.5f} on a batch of {len(y_pred)} triplets of {dim}-D "
        f"embeddings where the triplet loss with margin {alpha} gives {want:.5f}: compile with "
        "loss=helpers.TripletLoss(alpha=alpha)."
    )


def _check_saved_margin(model, alpha: float, y_pred: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "siamese.keras")
        try:
            model.save(path)
            with warnings.catch_warnings():  # an untrained optimizer has no variables to load
                warnings.filterwarnings("ignore", message=".*Skipping variable loading.*")
                restored = keras.saving.load_model(path)
        except Exception as exc:  # a lambda, functools.partial, an unregistered function, ...
            raise AssertionError(
                "Keras cannot save and reload the network with this loss "
                f"({type(exc).__name__}): compile with loss=helpers.TripletLoss(alpha=alpha), "
                "a keras.losses.Loss that Keras saves together with its margin."
            ) from exc
    got = _compiled_loss_value(restored, y_pred)
    if not np.isclose(got, _reference_triplet_loss(y_pred, alpha), rtol=1e-4, atol=1e-5):
        raise AssertionError(
            f"After saving and reloading, the network's loss no longer has margin {alpha}: "
            "compile with loss=helpers.TripletLoss(alpha=alpha), whose config keeps the margin."
        )


def check_compile_siamese(compile_siamese: Callable) -> None:
    """Check exercise 8.3: Adam with the given learning rate, the triplet loss with margin alpha.

    The compiled loss is evaluated (``model.compute_loss``) on a batch of triplets and
    compared with the formula, for two margins; the network is then saved to a ``.keras``
    file, reloaded, and must still compute the loss with its margin.

    Examples
    --------
    >>> checks.check_compile_siamese(compile_siamese)
    ✅ compile_siamese compiles ...
    """
    require_function(compile_siamese, "compile_siamese", "check_compile_siamese")
    rng = np.random.default_rng(3)
    y_pred = rng.normal(scale=0.6, size=(16, 12)).astype(np.float32)
    for alpha, rate in ((0.2, 1e-3), (0.7, 0.05)):
        model = _compile(compile_siamese, _tiny_siamese(), alpha, rate)
        _check_optimizer(model, rate)
        _check_loss_value(model, alpha, y_pred)
    _check_saved_margin(model, 0.7, y_pred)
    passed(
        "compile_siamese compiles the network with Adam at the learning rate you pass and the "
        "triplet loss with your margin, and Keras saves it with its margin. Well done!"
    )


# ----------------------------------------------------------------------------------------
# 8.4: the stream of triplets
# ----------------------------------------------------------------------------------------


def _next(stream, what: str):
    try:
        return next(stream)
    except StopIteration as exc:
        raise AssertionError(
            f"{what} stopped: the stream must never end (keras stops an epoch after "
            "steps_per_epoch batches): put the yield inside `while True:`."
        ) from exc
    except Exception as exc:  # the learner's code runs inside next()
        raise AssertionError(
            f"Drawing a batch from your triplet_stream raised {type(exc).__name__}: {exc}"
        ) from exc


def _stream(triplet_stream, x, y, batch_size, emb_size, seed) -> Iterator:
    stream = call_learner(triplet_stream, "triplet_stream", x, y, batch_size, emb_size, seed)
    if not inspect.isgenerator(stream):
        kind = type(stream).__name__
        raise AssertionError(
            f"triplet_stream returned a {kind}, not a generator"
            + (", so it is not an endless stream" if isinstance(stream, (tuple, list)) else
               ", which fit does not read")
            + ": make it a generator function, `while True: ... yield (anchors, positives, "
            "negatives), targets`."
        )  # fmt: skip
    return stream


def _batch_rows(batch, x, batch_size: int, emb_size: int) -> np.ndarray:
    """Check one yielded batch's structure; return the (3, batch_size) rows of x it holds."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise AssertionError(
            "Each batch must be a pair (inputs, targets): yield (anchors, positives, negatives), "
            "targets."
        )
    inputs, targets = batch
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 3:
        raise AssertionError(
            "The inputs of a batch must be the three arrays (anchors, positives, negatives), "
            "one per input of the Siamese network, e.g. tuple(create_batch(...))."
        )
    if isinstance(inputs, list):
        raise AssertionError(
            "The inputs of a batch are a list; fit reads a generator's batch structure from its "
            "first batch and needs a tuple: yield tuple(create_batch(...)), targets."
        )
    arrays = [np.asarray(keras.ops.convert_to_numpy(part)) for part in inputs]
    for role, array in zip(("anchors", "positives", "negatives"), arrays, strict=True):
        if array.shape != (batch_size, *x.shape[1:]):
            raise AssertionError(
                f"The {role} of a batch have shape {array.shape}; with batch_size={batch_size} "
                f"they should have shape {(batch_size, *x.shape[1:])}."
            )
    targets = np.asarray(keras.ops.convert_to_numpy(targets))
    if targets.shape != (batch_size, 3 * emb_size) or np.any(targets != 0):
        raise AssertionError(
            f"The targets should be zeros of shape ({batch_size}, {3 * emb_size}), "
            "(batch_size, 3 * emb_size) like the Siamese network's output, which the triplet loss "
            f"ignores; got shape {targets.shape}"
            + ("" if targets.shape != (batch_size, 3 * emb_size) else " with non-zero values")
        )
    return np.stack([_rows_of(array, x, "A batch") for array in arrays])


#: How many batches of 16 triplets the stream check draws: more than an epoch of the lesson
#: (a stream that ends early shows), and enough that every image has its turn in every role.
STREAM_BATCHES = 300


def _draw(stream, count: int, x, batch_size: int, emb_size: int) -> list[np.ndarray]:
    return [_batch_rows(_next(stream, "triplet_stream"), x, batch_size, emb_size)
            for _ in range(count)]  # fmt: skip


def _check_negative_digits(anchor: np.ndarray, negative: np.ndarray, y: np.ndarray) -> None:
    """Every other digit must turn up as a negative of every digit's anchors."""
    for digit in np.unique(y):
        missing = np.setdiff1d(np.unique(y[y != digit]), y[negative[y[anchor] == digit]])
        if missing.size:
            raise AssertionError(
                f"Anchors of digit {digit} never got a negative of digit(s) {missing.tolist()} "
                f"in {STREAM_BATCHES} batches: draw each negative among ALL other digits' images."
            )


def check_triplet_stream(triplet_stream: Callable) -> None:
    """Check exercise 8.4: an endless, seeded stream of fresh batches of valid triplets.

    Every batch is ``((anchors, positives, negatives), zeros of (batch_size, 3 * emb_size))``
    with valid triplets of rows of ``x``, drawn from a generator. Over 300 batches: no batch
    repeats an earlier one, every image is drawn as an anchor, a positive and a negative,
    every other digit appears as a negative, and anchors get various positives. Two streams
    with the same seed, drawn in turns, give the same batches whatever numpy's global
    generator does; batches of 256 work too.

    Examples
    --------
    >>> checks.check_triplet_stream(triplet_stream)
    ✅ triplet_stream yields ...
    """
    require_function(triplet_stream, "triplet_stream", "check_triplet_stream")
    x, y = _numbered_images([5, 7, 6, 4])
    batch_size, emb_size = 16, 3
    with scratch_global_seed(0):
        stream = _stream(triplet_stream, x, y, batch_size, emb_size, 11)
        batches = _draw(stream, STREAM_BATCHES, x, batch_size, emb_size)
    for rows in batches:  # the checks of Task 4's create_batch, on every batch
        check_triplet_labels(y, *rows)
    distinct = {rows.tobytes() for rows in batches}
    if len(distinct) < len(batches):
        raise AssertionError(
            f"Your stream repeats batches ({len(distinct)} different ones in {len(batches)}): "
            "make the generator once, rng = np.random.default_rng(seed), BEFORE `while True:`, "
            "and draw every batch from it."
        )
    pooled = np.concatenate(batches, axis=1)  # (3, all triplets)
    check_coverage(x, y, tuple(pooled))  # every image in every role, various partners
    _check_negative_digits(pooled[0], pooled[2], y)
    with scratch_global_seed(1):  # two streams of one seed, drawn in turns
        one = _stream(triplet_stream, x, y, batch_size, emb_size, 11)
        two = _stream(triplet_stream, x, y, batch_size, emb_size, 11)
        turns = [(_draw(one, 1, x, batch_size, emb_size)[0],
                  _draw(two, 1, x, batch_size, emb_size)[0]) for _ in range(3)]  # fmt: skip
    if not all(np.array_equal(a, b) and np.array_equal(a, ref)
               for (a, b), ref in zip(turns, batches, strict=False)):  # fmt: skip
        raise AssertionError(
            "Two streams with the same seed gave different batches: draw from a generator made "
            "from the seed, rng = np.random.default_rng(seed), passed to "
            "create_batch(..., rng=rng), not from np.random's global state."
        )
    other = _stream(triplet_stream, x, y, batch_size, emb_size, 12)
    if np.array_equal(batches[0], _draw(other, 1, x, batch_size, emb_size)[0]):
        raise AssertionError("Streams with different seeds gave the same batch: use the seed.")
    big = _stream(triplet_stream, x, y, 256, emb_size, 3)
    check_triplet_labels(y, *_draw(big, 1, x, 256, emb_size)[0])
    passed(
        "triplet_stream yields an endless, seeded stream of fresh batches of valid triplets with "
        "zero targets. Well done!"
    )


# ----------------------------------------------------------------------------------------
# 8.5: training, together with 8.3 and 8.4
# ----------------------------------------------------------------------------------------

#: The tiny training problem: 4 classes told apart by 2 of 16 features; the other 14 are
#: noise that a random projection mixes in, so that an untrained network is poor at it.
PROBLEM_CLASSES, PROBLEM_FEATURES, PROBLEM_SIGNAL_SCALE, PROBLEM_NOISE = 4, 16, 1.0, 1.0
#: 23 steps, not the lesson's 25, so that a train that ignores steps_per_epoch shows.
STEPS, EPOCHS, BATCH, EMB_SIZE, LEARNING_RATE = 23, 3, 32, 4, 0.02


def _problem(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(PROBLEM_CLASSES), n_per_class)
    angles = 2 * np.pi * y / PROBLEM_CLASSES
    x = rng.normal(scale=PROBLEM_NOISE, size=(y.size, PROBLEM_FEATURES))
    x[:, 0] = 3.0 * np.cos(angles) + rng.normal(scale=0.3, size=y.size)
    x[:, 1] = 3.0 * np.sin(angles) + rng.normal(scale=0.3, size=y.size)
    x[:, :2] *= PROBLEM_SIGNAL_SCALE / 3.0
    return x.astype(np.float32), y


def _p_at_1(embedding, queries, query_labels, refs, ref_labels) -> float:
    """P@1 of the embeddings, by the brute force of exercise 8.2's check."""
    embed = lambda x: np.asarray(keras.ops.convert_to_numpy(embedding(x)), dtype=np.float64)  # noqa: E731
    return brute_force_p_at_1(embed(queries), query_labels, embed(refs), ref_labels)


class _Recorder(keras.callbacks.Callback):
    """Records what ``fit`` reports to the callbacks it was given."""

    def __init__(self):
        super().__init__()
        self.starts = 0
        self.epochs: list[int] = []
        self.batches = 0

    def on_train_begin(self, logs=None):
        self.starts += 1

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(int(epoch))


def _counted(stream, drawn: list[int]):
    """The learner's stream, counting the batches taken from it (still a generator for fit)."""
    for batch in stream:
        drawn[0] += 1
        yield batch


def _train(train, siamese, stream, steps, epochs, callbacks):
    with warnings.catch_warnings():  # the lesson asks for shuffle=False; its warning is noise here
        warnings.filterwarnings("ignore", message=".*shuffle=True.*", category=UserWarning)
        out = call_learner(
            train, "train", siamese, stream, steps, epochs, callbacks=callbacks,
            explain=_explain_stream_error,
        )  # fmt: skip
    if not isinstance(out, keras.callbacks.History):
        raise AssertionError(
            f"train returned {type(out).__name__}; return what siamese.fit(...) returns, the "
            "History whose .history['loss'] the notebook plots."
        )
    return out


def _explain_stream_error(exc: BaseException) -> str | None:
    """The message when fit failed inside the stream: a generator read from two places at once.

    Giving fit the stream as validation_data too makes TensorFlow read the one generator
    from two threads, which fails ("generator already executing") or not, by timing;
    either way the advice is the same as for the batches counted when it does not fail.
    """
    seen, text = set(), ""
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text += f" {type(exc).__name__} {exc}"
        exc = exc.__cause__ or exc.__context__
    if "already executing" in text or "PyFunc" in text:
        return (
            "fit failed while it drew batches from the stream (train gave fit the stream twice, "
            "e.g. as validation_data too, or the stream itself raised): give fit the stream "
            "once, as its data (no validation_data, no extra fit)."
        )
    return None


def _check_signature(train) -> None:
    with contextlib.suppress(TypeError, ValueError):
        if "callbacks" not in inspect.signature(train).parameters:
            raise AssertionError(
                "Your train has no callbacks parameter; keep the signature "
                "train(siamese, triplets, steps_per_epoch, epochs, callbacks=())."
            )


def _check_fit_calls(
    recorders: list[_Recorder], drawn: int, steps_taken: int, steps_per_execution: int
) -> None:
    """One fit of EPOCHS epochs of STEPS steps, every callback told about all of it."""
    want = list(range(EPOCHS))
    # with steps_per_execution, Keras runs whole executions: an epoch rounds up to a multiple
    steps = -(-STEPS // steps_per_execution) * steps_per_execution
    for k, recorder in enumerate(recorders):
        if recorder.starts == 0 and not recorder.epochs:
            raise AssertionError(
                f"The {('first', 'second')[k]} of the callbacks passed to train never heard from "
                "fit: pass the whole list on, siamese.fit(..., callbacks=list(callbacks))."
            )
        if recorder.starts != 1 or recorder.epochs != want:
            raise AssertionError(
                f"train(..., epochs={EPOCHS}) reported the epochs {recorder.epochs} in "
                f"{recorder.starts} call(s) of fit, instead of {want} in one: call siamese.fit "
                "once, with epochs=epochs."
            )
    if steps_taken != steps * EPOCHS:
        raise AssertionError(
            f"train(..., steps_per_epoch={STEPS}, epochs={EPOCHS}) took {steps_taken} training "
            f"steps instead of {steps * EPOCHS}: pass steps_per_epoch on to siamese.fit."
        )
    # fit reads a few batches ahead (its first peek, and prefetching in a background thread, as
    # many as the thread got to); an extra epoch or validation on the stream draws 23 or more
    if not steps * EPOCHS <= drawn <= steps * EPOCHS + 10:
        raise AssertionError(
            f"train drew {drawn} batches from the stream for {steps * EPOCHS} training steps: give "
            "fit the stream once, as its data (no validation_data, no extra fit)."
        )


def check_training(train: Callable, compile_siamese: Callable, triplet_stream: Callable) -> None:
    """Check exercise 8.5, with 8.3 and 8.4: does training with them actually work?

    On a tiny problem (4 classes that 2 of 16 features tell apart), a small Siamese network
    is compiled with the learner's ``compile_siamese``, fed by their ``triplet_stream`` and
    trained by their ``train`` for 3 epochs of 23 steps, with two callbacks that record what
    ``fit`` reports. Then: one fit of 3 epochs, 69 optimizer steps and as many batches drawn;
    both callbacks told about all of it; the History of 3 epochs returned; the optimizer and
    the loss left as compiled; the loss fell; the shared weights changed; and P@1 of held-out
    examples against the training examples beats the untrained network's by at least 0.15.

    Examples
    --------
    >>> checks.check_training(train, compile_siamese, triplet_stream)
    ✅ Training works ...
    """
    for func, name in ((train, "train"), (compile_siamese, "compile_siamese"),
                       (triplet_stream, "triplet_stream")):  # fmt: skip
        require_function(func, name, "check_training")
    _check_signature(train)
    x, y = _problem(40, seed=0)
    x_held, y_held = _problem(25, seed=1)
    siamese = _tiny_siamese(EMB_SIZE, PROBLEM_FEATURES, seed=5)
    embedding = siamese.get_layer("embedding")
    require_model(embedding, "embedding", "embedding model")
    before = [np.array(keras.ops.convert_to_numpy(w)) for w in embedding.weights]
    p1_before = _p_at_1(embedding, x_held, y_held, x, y)
    try:
        _compile(compile_siamese, siamese, 0.2, LEARNING_RATE)
        _check_optimizer(siamese, LEARNING_RATE)
    except AssertionError as exc:
        raise AssertionError(f"First make exercise 8.3 pass: {exc}") from exc
    optimizer, loss = siamese.optimizer, siamese.loss
    drawn = [0]
    stream = _counted(_stream(triplet_stream, x, y, BATCH, EMB_SIZE, 0), drawn)
    recorders = [_Recorder(), _Recorder()]
    history = _train(train, siamese, stream, STEPS, EPOCHS, recorders)
    if siamese.optimizer is not optimizer or siamese.loss is not loss:
        raise AssertionError(
            "train compiled the network again: compile_siamese already did; train only fits."
        )
    steps_taken = int(keras.ops.convert_to_numpy(optimizer.iterations))
    _check_fit_calls(recorders, drawn[0], steps_taken, int(siamese.steps_per_execution or 1))
    try:
        _check_optimizer(siamese, LEARNING_RATE)
    except AssertionError as exc:
        raise AssertionError(f"After train, the optimizer has changed: {exc}") from exc
    losses = list(history.history.get("loss", []))
    if len(losses) != EPOCHS or not np.all(np.isfinite(losses)):
        raise AssertionError(
            f"The History holds the losses {losses}; it should hold {EPOCHS} finite ones."
        )
    if not losses[-1] < losses[0]:
        raise AssertionError(
            f"The loss did not fall ({losses[0]:.4f} -> {losses[-1]:.4f}): check that the stream "
            "yields valid triplets and that fit trains the network it is given."
        )
    after = [np.array(keras.ops.convert_to_numpy(w)) for w in embedding.weights]
    if all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
        raise AssertionError(
            "The shared embedding model's weights did not change: train the Siamese network "
            "that train is given (siamese.fit), not a copy."
        )
    p1_after = _p_at_1(embedding, x_held, y_held, x, y)
    if p1_after < p1_before + 0.15:
        raise AssertionError(
            f"After training, P@1 on held-out examples is {p1_after:.2f}, against "
            f"{p1_before:.2f} before: training should improve it by far more."
        )
    passed(
        f"Training works: with your compile_siamese, triplet_stream and train, the loss fell "
        f"from {losses[0]:.3f} to {losses[-1]:.3f} and P@1 on held-out examples rose from "
        f"{p1_before:.2f} to {p1_after:.2f}. Well done!"
    )

"""Exercise 9.1, the batch-hard triplet loss in ``keras.ops``: judged outside the kernel.

As strict as notebook 09's inline self-check and hidden tests together, on batches drawn
afresh for every notebook: P x K random labels (floats, as Keras hands them over) of unit
embeddings, several margins and the default one (the hidden test's 10 x 12 batch of 64-D
embeddings), a scalar result equal to the numpy reference below within the self-check's
1e-4, and one training step of a tiny network compiled with the loss (inside Keras the
tensors are symbolic: numpy fails there), whose reported loss must be the reference's on
that network's embeddings. With d the squared distance, for each anchor a::

    loss(a) = max(max_p d(a, p) - min_n d(a, n) + margin, 0), the result their mean.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.remote import Remote

from ._base import Failed, array, require, unwrap, value

NAME = "batch_hard_triplet_loss"
#: The self-check's tolerance.
ATOL = 1e-4
LEARNING_RATE = 0.05

#: One train_on_batch of a tiny Dense -> unit-length network compiled with the learner's loss.
#: Zeros, then set_weights, and explicit names: no random numbers and no automatic names are
#: drawn, so the notebook's later cells see the seeds and names they would have seen.
PROBE_STEP = """
def probe(namespace, name, x, labels, kernel, bias, learning_rate):
    import keras
    net = keras.Sequential(
        [
            keras.Input((kernel.shape[0],), name="judge_mining_input"),
            keras.layers.Dense(
                kernel.shape[1], kernel_initializer="zeros", name="judge_mining_dense"
            ),
            keras.layers.UnitNormalization(name="judge_mining_unit"),
        ],
        name="judge_mining_net",
    )
    net.layers[0].set_weights([kernel, bias])
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss=namespace[name])
    return net.train_on_batch(x, labels)
"""


def reference_batch_hard(labels: np.ndarray, emb: np.ndarray, margin: float = 0.2) -> float:
    """The batch-hard loss with squared distances, in numpy (float64): the mean of
    :func:`anchor_losses`.

    Examples
    --------
    >>> emb = np.array([[0.0], [1.0], [1.5], [3.0]])  # anchors 1 and 2: 0.95 and 2.2
    >>> round(reference_batch_hard(np.array([0, 0, 1, 1]), emb), 4)
    0.7875
    """
    return float(np.maximum(anchor_losses(labels, emb, margin), 0.0).mean())


def anchor_losses(labels: np.ndarray, emb: np.ndarray, margin: float) -> np.ndarray:
    """max_p d(a, p) - min_n d(a, n) + margin for each anchor a, before clipping at 0."""
    emb = np.asarray(emb, np.float64)
    d = np.sum((emb[:, None, :] - emb[None, :, :]) ** 2, axis=-1)
    same = labels[:, None] == labels[None, :]
    positive = same & ~np.eye(len(labels), dtype=bool)
    hardest_pos = np.where(positive, d, -np.inf).max(axis=1)
    hardest_neg = np.where(same, np.inf, d).min(axis=1)
    return hardest_pos - hardest_neg + margin


def random_batch(rng: np.random.Generator, classes: int, per_class: int, dim: int, spread=None):
    """``classes`` x ``per_class`` shuffled float labels (digits) and unit float32 embeddings.

    With ``spread``, each class gathers around a centre of its own (noise of that scale).
    """
    digits = rng.choice(10, size=classes, replace=False)
    labels = rng.permutation(np.repeat(digits, per_class)).astype(np.float32)
    emb = rng.normal(size=(labels.size, dim))
    if spread is not None:
        centres = rng.normal(size=(10, dim))
        emb = centres[labels.astype(int)] + spread * emb
    return labels, (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)


def loss_of(remote: Remote, labels, emb, **margin) -> float:
    """The learner's loss on one batch; :class:`Failed` unless it is one finite number."""
    got = array(value(remote, NAME, labels, emb, **margin), NAME)
    require(got is not None, f"Your {NAME} returned None: did you forget `return`?")
    require(
        got.shape == (),
        f"return one number (a scalar: the mean over the anchors), got shape {got.shape}",
    )
    require(bool(np.isfinite(got)), f"Your {NAME} returned {float(got)}.")
    return float(got)


def judge_batch_hard(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``batch_hard_triplet_loss(y_true, y_pred, margin=0.2)`` (9.1).

    Examples
    --------
    >>> judge_batch_hard(remote, np.random.default_rng(0))  # a right answer: no error
    """
    cases = [
        (int(rng.integers(3, 6)), int(rng.integers(2, 5)), float(rng.uniform(0.3, 1.0))),
        (int(rng.integers(6, 11)), int(rng.integers(2, 7)), float(rng.uniform(0.05, 0.15))),
        (int(rng.integers(2, 4)), int(rng.integers(4, 8)), float(rng.uniform(0.3, 1.5))),
    ]
    for trial, (classes, per_class, margin) in enumerate(cases, start=1):
        labels, emb = random_batch(rng, classes, per_class, int(rng.integers(3, 17)))
        got, want = (
            loss_of(remote, labels, emb, margin=margin),
            reference_batch_hard(labels, emb, margin),
        )
        require(
            abs(got - want) <= ATOL,
            f"on random batch {trial} (P={classes}, K={per_class}, margin={margin:.3g}) the loss "
            f"should be {want:.4f}, got {got:.4f}: the hardest positive is the LARGEST d(a, p) "
            "over the anchor's classmates (itself excluded), the hardest negative the SMALLEST "
            "d(a, n) over the other classes; clip at 0 and average over the anchors.",
        )
    # Clustered classes: some anchors' losses are clipped at 0, others are not.
    for _ in range(100):
        labels, emb = random_batch(rng, 3, int(rng.integers(3, 6)), 4, spread=0.35)
        raw = anchor_losses(labels, emb.astype(np.float64), 0.2)
        if np.sum(raw < -0.05) >= 2 and np.sum(raw > 0.05) >= 2:
            break
    got, want = loss_of(remote, labels, emb, margin=0.2), reference_batch_hard(labels, emb)
    require(
        abs(got - want) <= ATOL,
        f"on a batch of well-separated classes the loss should be {want:.4f}, got {got:.4f}: "
        "clip each anchor's loss at 0 (ops.relu) before averaging.",
    )
    # The hidden test's batch: ten digits of twelve, 64-D, the default margin.
    labels, emb = random_batch(rng, 10, 12, 64)
    got, want = loss_of(remote, labels, emb), reference_batch_hard(labels, emb)
    require(
        abs(got - want) <= ATOL,
        f"with the default margin your loss on a batch of 120 embeddings is {got:.4f}, not "
        f"{want:.4f}: is the default margin=0.2?",
    )
    training_step(remote, rng)


def training_step(remote: Remote, rng: np.random.Generator) -> None:
    """The loss inside ``compile`` + ``train_on_batch`` must be the reference's."""
    features, dim = int(rng.integers(5, 9)), int(rng.integers(3, 6))
    labels, _ = random_batch(rng, int(rng.integers(3, 6)), int(rng.integers(2, 5)), 1)
    x = rng.normal(size=(labels.size, features)).astype(np.float32)
    kernel = rng.normal(size=(features, dim)).astype(np.float32)
    bias = (rng.normal(size=dim) / 4).astype(np.float32)
    reply = remote.probe(PROBE_STEP, NAME, x, labels, kernel, bias, LEARNING_RATE)
    if reply.raised is not None:
        raise Failed(
            "your loss fails inside model.fit, where Keras passes symbolic tensors: use keras.ops "
            f"(ops.where, ops.max, ...) instead of numpy. The error was: {reply.raised.ename}"
        )
    reported = array(unwrap(reply, NAME), "train_on_batch")
    emb = x.astype(np.float64) @ kernel + bias
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    want = reference_batch_hard(labels, emb)
    require(
        reported is not None
        and reported.size == 1
        and bool(np.isfinite(reported).all())
        and abs(float(reported.ravel()[0]) - want) <= ATOL,
        f"inside model.fit your loss gives {reported}, not the batch-hard loss {want:.4f}: use "
        "keras.ops only, and the labels Keras passes (y_true).",
    )

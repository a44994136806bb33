"""Exercise 7.1, the triplet loss in ``keras.ops``: judged outside the kernel.

As strict as notebook 07's self-check and hidden tests together, on inputs drawn
afresh for every notebook: the loss per triplet on random batches (several
embedding sizes and margins, and the default margin), its gradient (finite when
a = p = n, and FaceNet's on a random batch), one training step of a tiny model
compiled with it (the reported loss and the new weights), and the worked
example of the lesson. Every number is compared with
:mod:`siamese_grading.references`, the same references and tolerances the
self-check uses.

The kernel computes what only Keras can (the loss on tensors, its gradient by
the backend's autodiff, a training step); the code for that travels as the
probes below, runs with the learner's namespace, and returns arrays. A kernel
that lies in its answers must still answer with FaceNet's numbers.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.references import (
    loss_close,
    reference_dense_step,
    reference_gradient,
    reference_loss,
)
from siamese_grading.remote import Remote

from ._base import Failed, array, require, unwrap

NAME = "triplet_loss"
FORMULA = "max(‖a−p‖² − ‖a−n‖² + alpha, 0)"
#: The lesson's worked example (notebook 07) and its losses: the hidden test.
WORKED = np.array(
    [
        [0.0, 0.0, 0.3, 0.4, 1.0, 0.0],
        [0.0, 0.0, 0.3, 0.4, 0.0, 0.6],
        [0.0, 0.0, 0.3, 0.4, 0.4, 0.0],
    ],
    dtype=np.float32,
)
WORKED_LOSS = [0.0, 0.09, 0.29]
LEARNING_RATE = 0.1

#: The loss of the learner's function on tensors, as the lesson calls it.
PROBE_LOSS = """
def probe(namespace, name, y_pred, **alpha):
    import keras
    y_pred = keras.ops.convert_to_tensor(y_pred)
    return namespace[name](keras.ops.zeros_like(y_pred), y_pred, **alpha)
"""

#: d(sum of the losses)/d(y_pred) by the backend's autodiff; None when no gradient flows.
PROBE_GRADIENT = """
def probe(namespace, name, y_pred, alpha):
    import keras
    from helpers.checks._shared import gradients
    loss = namespace[name]
    (grad,), _ = gradients(lambda t: loss(keras.ops.zeros_like(t), t, alpha=alpha), [y_pred])
    return grad
"""

#: One train_on_batch of a tiny Siamese-shaped model compiled with the learner's loss.
#: Zeros, then set_weights, and explicit names: no random numbers and no automatic names
#: are drawn, so the notebook's later cells see the seeds and names they would have seen.
PROBE_STEP = """
def probe(namespace, name, images, kernel, bias, learning_rate):
    import keras
    roles = ("anchor", "positive", "negative")
    inputs = [keras.Input(shape=(kernel.shape[0],), name=f"judge_{r}") for r in roles]
    shared = keras.layers.Dense(kernel.shape[1], kernel_initializer="zeros", name="judge_shared")
    joined = keras.layers.Concatenate(axis=-1, name="judge_concatenate")
    model = keras.Model(inputs, joined([shared(t) for t in inputs]), name="judge_tiny_siamese")
    shared.set_weights([kernel, bias])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss=namespace[name]
    )
    targets = keras.ops.zeros((len(images[0]), 3 * kernel.shape[1]))
    reported = model.train_on_batch(list(images), targets)
    return [reported, *shared.get_weights()]
"""


def triplet_batch(rng: np.random.Generator, emb: int, batch: int) -> np.ndarray:
    """Random ``[a | p | n]`` rows whose losses mix zeros and positive values (float32)."""
    anchor = rng.normal(size=(batch, emb)) / np.sqrt(emb)
    spread = rng.uniform(0.2, 1.0, size=(2, batch, 1)) / np.sqrt(emb)
    positive = anchor + rng.normal(size=(batch, emb)) * spread[0]
    negative = anchor + rng.normal(size=(batch, emb)) * spread[1]
    return np.concatenate([anchor, positive, negative], axis=1).astype(np.float32)


def away_from_hinge(y_pred: np.ndarray, alpha: float) -> np.ndarray:
    """The rows of ``y_pred`` whose loss is not within 0.01 of the hinge (for gradients)."""
    return y_pred[np.abs(reference_loss(y_pred, alpha, clamp=False)) > 0.01]


def losses(remote: Remote, y_pred: np.ndarray, **alpha) -> np.ndarray:
    """The learner's losses on ``y_pred``; :class:`Failed` unless one finite loss per row."""
    out = array(unwrap(remote.probe(PROBE_LOSS, NAME, y_pred, **alpha), NAME), NAME)
    require(out is not None, "Your triplet_loss returned None: did you forget `return`?")
    require(
        out.shape == (len(y_pred),),
        f"Your loss has shape {out.shape}; expected ({len(y_pred)},), one loss per triplet "
        f"(y_pred had shape {y_pred.shape}).",
    )
    require(bool(np.isfinite(out).all()), "Your triplet loss returned NaN or inf.")
    return out


def judge_triplet_loss(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``triplet_loss(y_true, y_pred, alpha=0.2)`` (raises ``Failed``).

    Examples
    --------
    >>> judge_triplet_loss(remote, np.random.default_rng(0))  # a right answer: no error
    """
    cases = [(64, int(rng.integers(8, 24)), {"alpha": 0.2})]
    cases += [(64, int(rng.integers(8, 24)), {"alpha": float(rng.uniform(0.3, 1.5))})]
    cases += [(64, int(rng.integers(8, 24)), {})]  # the default margin
    cases += [(int(rng.integers(2, 10)), int(rng.integers(5, 12)), {}) for _ in range(2)]
    for emb, batch, alpha in cases:
        y_pred = triplet_batch(rng, emb, batch)
        want = reference_loss(y_pred, alpha.get("alpha", 0.2))
        require(
            loss_close(losses(remote, y_pred, **alpha), want),
            f"Your triplet loss differs from FaceNet's {FORMULA} on a random batch of "
            f"embedding size {emb}" + (f" with alpha={alpha['alpha']:.3g}" if alpha else "") + ".",
        )
    base = rng.normal(size=(4, 8)).astype(np.float32)
    same = np.concatenate([base, base, base], axis=1)
    grad = gradient(remote, same)
    require(
        grad is not None,
        "Keras cannot compute the gradient of your loss: write it with keras.ops only.",
    )
    require(
        bool(np.isfinite(grad).all()),
        "The gradient of your loss is NaN when anchor = positive = negative: no square root.",
    )
    y_pred = away_from_hinge(triplet_batch(rng, int(rng.integers(3, 8)), 16), 0.2)
    grad = gradient(remote, y_pred)
    require(
        grad is not None and grad.shape == y_pred.shape,
        "Keras cannot compute the gradient of your loss: write it with keras.ops only.",
    )
    require(
        loss_close(grad, reference_gradient(y_pred, 0.2)),
        "Your loss's gradient is not FaceNet's: no ops.stop_gradient, no numpy, no constant.",
    )
    training_step(remote, rng)
    worked = losses(remote, WORKED)
    require(
        bool(np.allclose(worked, WORKED_LOSS, atol=1e-6)),
        "the worked example's losses are 0, 0.09 and 0.29",
    )


def gradient(remote: Remote, y_pred: np.ndarray) -> np.ndarray | None:
    """The gradient of the sum of the learner's losses with respect to ``y_pred``."""
    return array(unwrap(remote.probe(PROBE_GRADIENT, NAME, y_pred, 0.2), NAME), NAME)


def training_step(remote: Remote, rng: np.random.Generator) -> None:
    """One SGD step inside ``model.compile(loss=triplet_loss)`` must be FaceNet's step."""
    image, emb, batch = int(rng.integers(4, 8)), int(rng.integers(2, 5)), 8
    images = [(rng.integers(-4, 5, size=(batch, image)) / 4).astype(np.float32) for _ in range(3)]
    kernel = (rng.integers(-4, 5, size=(image, emb)) / 8).astype(np.float32)
    bias = (rng.integers(-2, 3, size=emb) / 8).astype(np.float32)
    reply = remote.probe(PROBE_STEP, NAME, images, kernel, bias, LEARNING_RATE)
    if reply.raised is not None:
        raise Failed(
            "Your triplet_loss fails inside model.compile + train_on_batch, where y_pred is a "
            f"symbolic tensor ({reply.raised.ename}): use shapes, not values, and keras.ops only."
        )
    got = unwrap(reply, NAME)
    require(
        isinstance(got, list) and len(got) == 3, "train_on_batch gave back something unexpected"
    )
    reported, new_kernel, new_bias = (array(v, "train_on_batch") for v in got)
    loss, want_kernel, want_bias = reference_dense_step(images, kernel, bias, 0.2, LEARNING_RATE)
    require(
        reported is not None and reported.size == 1 and loss_close(reported.ravel()[0], loss),
        f"Inside model.compile your loss does not give FaceNet's {FORMULA}, averaged over the "
        "batch.",
    )
    require(
        new_kernel is not None
        and new_kernel.shape == want_kernel.shape
        and loss_close(new_kernel, want_kernel)
        and new_bias is not None
        and new_bias.shape == want_bias.shape
        and loss_close(new_bias, want_bias),
        "One training step inside model.compile with your loss moves the weights differently "
        "from FaceNet's loss: its gradient is wrong in training.",
    )

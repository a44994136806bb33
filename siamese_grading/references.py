"""The numpy references that the self-checks and the judges share: one truth, two users.

FaceNet's triplet loss and its classic mistakes (:func:`reference_loss`), its
gradient (:func:`reference_gradient`), one SGD step of a shared Dense layer
trained with it (:func:`reference_dense_step`), and the tolerances within which
a learner's loss counts as equal to them. The learner-facing self-checks
(``helpers.checks``) import them from here, and the grader's judges
(:mod:`siamese_grading.judges`) use them outside the kernel, so a self-check and
the grade it predicts compare with the same numbers in the same way.

Only numpy: the grader's worker imports this module (never ``helpers``).

Examples
--------
>>> y_pred = np.array([[0.0, 0.0, 0.3, 0.4, 0.4, 0.0]])  # a, p, n in two dimensions
>>> reference_loss(y_pred, 0.2).round(2).tolist()
[0.29]
"""

from __future__ import annotations

import numpy as np

#: Relative and absolute tolerance when a learner's loss is compared with the reference.
LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-5

#: Distances between embeddings: the right one and the classic mistakes.
DISTANCES = {
    "squared": lambda d: np.sum(d**2, axis=-1),
    "mean": lambda d: np.mean(d**2, axis=-1),
    "norm": lambda d: np.sqrt(np.sum(d**2, axis=-1)),
    "abs": lambda d: np.sum(np.abs(d), axis=-1),
}


def loss_close(got, expected) -> bool:
    """Whether a learner's losses (or gradients, or weights) equal the reference's."""
    return bool(np.allclose(got, expected, rtol=LOSS_RTOL, atol=LOSS_ATOL))


def reference_loss(
    y_pred: np.ndarray, alpha: float, *, distance="squared", swapped=False, clamp=True, margin=True
) -> np.ndarray:
    """FaceNet's triplet loss in numpy (float64), or one of its classic mistakes.

    ``y_pred`` is ``[a | p | n]`` per row; the result has one loss per row.
    """
    y_pred = np.asarray(y_pred, np.float64)
    emb = y_pred.shape[-1] // 3
    anchor, positive, negative = y_pred[:, :emb], y_pred[:, emb : 2 * emb], y_pred[:, 2 * emb :]
    pos_dist = DISTANCES[distance](anchor - positive)
    neg_dist = DISTANCES[distance](anchor - negative)
    if swapped:
        pos_dist, neg_dist = neg_dist, pos_dist
    loss = pos_dist - neg_dist + (alpha if margin else 0.0)
    return np.maximum(loss, 0.0) if clamp else loss


def reference_gradient(y_pred: np.ndarray, alpha: float, *, cut: str | None = None) -> np.ndarray:
    """d(sum of the losses)/d(y_pred) in numpy; ``cut`` drops the gradient of one distance.

    With D = ‖a−p‖² − ‖a−n‖² + alpha, each triplet with D > 0 contributes
    dD/da = 2(a−p) − 2(a−n), dD/dp = −2(a−p), dD/dn = 2(a−n); the others contribute 0.
    ``cut="pos"`` or ``"neg"`` is the gradient when that distance is a constant
    (``ops.stop_gradient``).
    """
    y_pred = np.asarray(y_pred, np.float64)
    emb = y_pred.shape[-1] // 3
    anchor, positive, negative = y_pred[:, :emb], y_pred[:, emb : 2 * emb], y_pred[:, 2 * emb :]
    active = (reference_loss(y_pred, alpha) > 0)[:, None]
    from_pos = (2 * (anchor - positive), -2 * (anchor - positive), 0 * negative)
    from_neg = (-2 * (anchor - negative), 0 * positive, 2 * (anchor - negative))
    parts = [
        (p if cut != "pos" else 0) + (n if cut != "neg" else 0)
        for p, n in zip(from_pos, from_neg, strict=True)
    ]
    return np.concatenate(parts, axis=1) * active


def reference_dense_step(images, kernel, bias, alpha: float, learning_rate: float):
    """FaceNet's mean loss and one SGD step of a Dense layer shared by a, p and n (float64).

    Returns ``(loss, new_kernel, new_bias)``: what ``model.train_on_batch`` reports
    and leaves, for a model whose three inputs ``images`` go through the one layer
    and are concatenated, compiled with SGD and the triplet loss (Keras averages the
    per-triplet losses over the batch).
    """
    kernel, bias = np.asarray(kernel, np.float64), np.asarray(bias, np.float64)
    embeddings = [np.asarray(x, np.float64) @ kernel + bias for x in images]
    y_pred = np.concatenate(embeddings, axis=1)
    batch, emb = len(y_pred), kernel.shape[1]
    grad_y = reference_gradient(y_pred, alpha) / batch
    grad_e = [grad_y[:, k * emb : (k + 1) * emb] for k in range(3)]
    grad_kernel = sum(np.asarray(x, np.float64).T @ g for x, g in zip(images, grad_e, strict=True))
    grad_bias = sum(g.sum(axis=0) for g in grad_e)
    loss = float(reference_loss(y_pred, alpha).mean())
    return loss, kernel - learning_rate * grad_kernel, bias - learning_rate * grad_bias

"""The numpy references that the self-checks and the judges share: one truth, two users.

FaceNet's triplet loss and its classic mistakes (:func:`reference_loss`), its
gradient (:func:`reference_gradient`), one SGD step of a shared Dense layer
trained with it (:func:`reference_dense_step`), and the tolerances within which
a learner's loss counts as equal to them; a brute-force P@1
(:func:`brute_force_p_at_1`), and what any triplet sampler must do
(:func:`check_triplet_labels`, :func:`check_coverage`, which raise AssertionError
with the learner-facing message). The learner-facing self-checks
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

#: The three roles of a triplet, in the order of a batch.
ROLES = ("anchor", "positive", "negative")

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


def brute_force_p_at_1(query, query_labels, ref, ref_labels) -> float:
    """One query at a time: the nearest reference by the smallest squared distance."""
    hits = 0
    for q, label in zip(query, query_labels, strict=True):
        nearest = int(np.argmin(((ref - q) ** 2).sum(axis=1)))
        hits += int(ref_labels[nearest] == label)
    return hits / len(query)


# ----------------------------------------------------------------------------------------
# What any triplet sampler must do (Task 4's create_batch, Task 8's triplet_stream)
# ----------------------------------------------------------------------------------------


def check_triplet_labels(y, anchor, positive, negative) -> None:
    same_pos = y[positive] == y[anchor]
    same_neg = y[negative] == y[anchor]
    if not same_pos.any() and same_neg.all():
        raise AssertionError(
            "Your positives and negatives are swapped: the positive has the anchor's label, the "
            "negative another label."
        )
    if not same_pos.all():
        raise AssertionError(
            f"In {np.sum(~same_pos)} of {len(anchor)} triplets the positive has another label "
            "than the anchor: pick the positive among np.flatnonzero(y == y[anchor_index])."
        )
    if np.any(positive == anchor):
        raise AssertionError(
            f"In {np.sum(positive == anchor)} of {len(anchor)} triplets the positive is the "
            "anchor itself: exclude the anchor's index when you choose the positive."
        )
    if same_neg.any():
        raise AssertionError(
            f"In {np.sum(same_neg)} of {len(anchor)} triplets the negative has the anchor's "
            "label: pick the negative among np.flatnonzero(y != y[anchor_index])."
        )


def check_coverage(x, y, triplets) -> None:
    """Every example must be drawable in every role it can take.

    ``triplets`` are the pooled row indices ``(anchor, positive, negative)``. Task 4's check
    pools 2,048 triplets of 48 examples: every row is expected about 40 times as an anchor,
    40 times as a positive and at least 35 times as a negative, and a correct sampler misses
    one with a probability below 1e-13, whatever the seeds. Task 8's stream check pools
    4,800 triplets of 22 images, about 200 per row and role.
    """
    anchor = triplets[0]
    total = len(anchor)
    missing = sorted(set(np.unique(y).tolist()) - set(np.unique(y[anchor]).tolist()))
    if missing:
        raise AssertionError(
            f"In {total} triplets, no anchor comes from class(es) {missing}: draw the anchor "
            "index at random among all examples, e.g. rng.integers(len(x))."
        )
    for role, idx in zip(ROLES, triplets, strict=True):
        never = np.setdiff1d(np.arange(len(x)), idx)
        if never.size:
            raise AssertionError(_never_drawn_message(role, never, y, total))
    _check_variety(y, *triplets)


def _never_drawn_message(role: str, never: np.ndarray, y: np.ndarray, total: int) -> str:
    """Name the pattern of the examples that were never drawn in ``role``, and its fix."""
    distinct = len(y) - never.size
    few = (
        f"In {total} triplets your {role}s are only {distinct} different examples out of "
        f"{len(y)}: pick each {role} at random among all the suitable examples."
    )
    if distinct <= 6:
        return few
    members = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    rank = {int(i): int(np.flatnonzero(members[y[i]] == i)[0]) for i in never}
    size = {int(i): len(members[y[i]]) for i in never}
    shown = ", ".join(str(i) for i in never[:6]) + (", ..." if never.size > 6 else "")
    which = f"row {shown} never appears" if never.size == 1 else f"rows {shown} never appear"
    head = (
        f"In {total} triplets from {len(y)} examples, {which} as {_article(role)} {role}, "
        f"although each row should appear about {total // len(y)} times"
    )
    fixes = {
        "anchor": "draw the anchor among all rows, rng.integers(len(x))",
        "positive": "pick among all the anchor's classmates, rng.choice(same)",
        "negative": "pick among all the examples of other classes, "
        "rng.choice(np.flatnonzero(y != label))",
    }
    if all(rank[i] == size[i] - 1 for i in rank):
        return (
            f"{head}: each is the LAST member of its class (or the last row). An off-by-one? "
            "rng.integers(n) already excludes n, so rng.integers(n - 1) or same[:-1] never "
            f"picks the last one: {fixes[role]}."
        )
    if all(rank[i] == 0 for i in rank):
        return (
            f"{head}: each is the FIRST member of its class (or row 0). An off-by-one? "
            "Indices start at 0, so rng.integers(1, n) never picks the first one: "
            f"{fixes[role]}."
        )
    low = min(rank.values())
    if role == "positive" and low > 0 and len(never) > 1:
        return (
            f"{head}: only the first {low} members of each class are ever positives (a slice "
            f"such as same[:k]?): {fixes[role]}."
        )
    drawn_end = int(np.setdiff1d(np.arange(len(y)), never).max()) + 1
    if len(y) - drawn_end >= never.size / 2:
        return (
            f"{head}: your {role}s come only from the first {drawn_end} rows of x, none from "
            f"the rows after: {fixes[role]}."
        )
    if distinct < len(y) // 2:
        return few
    return f"{head}: {fixes[role]}."


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _check_variety(y, anchor, positive, negative) -> None:
    """For one anchor, the positive and the negative must vary from triplet to triplet."""
    for role, idx in (("positive", positive), ("negative", negative)):
        for a in np.unique(anchor):
            paired = idx[anchor == a]
            options = np.sum(y == y[a]) - 1 if role == "positive" else np.sum(y != y[a])
            if paired.size >= 20 and options >= 2 and np.unique(paired).size == 1:
                raise AssertionError(
                    f"Row {a} was the anchor of {paired.size} triplets, always with the same "
                    f"{role} (row {paired[0]}): the {role} must be drawn at random for every "
                    f"triplet, e.g. rng.choice(...) among all suitable examples, not derived "
                    "from the anchor's index."
                )

"""Independent numpy references and sampler checks that several notebooks' self-checks share.

FaceNet's triplet loss in numpy (with its classic mistakes as options; from
:mod:`siamese_grading.references`, which the grader's judges share), a brute-force P@1,
and what any triplet sampler must do: valid triplets (Task 4's ``create_batch`` and Task 8's
``triplet_stream``) and every example drawn in every role it can take.
"""

from __future__ import annotations

import numpy as np

# FaceNet's loss and its gradient live with the grader, which judges answers with the same
# numbers outside the learner's kernel (and must not import helpers): one truth, two users.
from siamese_grading.references import DISTANCES, reference_gradient, reference_loss  # noqa: F401

from ._shared import ROLES


def brute_force_p_at_1(query, query_labels, ref, ref_labels) -> float:
    """One query at a time: the nearest reference by the smallest squared distance."""
    hits = 0
    for q, label in zip(query, query_labels, strict=True):
        nearest = int(np.argmin(((ref - q) ** 2).sum(axis=1)))
        hits += int(ref_labels[nearest] == label)
    return hits / len(query)


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

"""Exercise 4.1, ``create_batch(x, y, batch_size=256, rng=None)``: judged outside the kernel.

As strict as notebook 04's self-check: every triplet valid (the positive another example
of the anchor's label, the negative of another label), whole rows of ``x`` with its dtype,
``batch_size`` respected (1 and odd sizes too), anchors not in order, the same batch for
the same seed and another for another seed, and coverage over 4 x 512 pooled triplets
(every example drawn in every role, various partners), with the default ``batch_size`` and
``rng`` too. The data are drawn afresh for every notebook: 48 rows in six classes of 2 to 16
examples (the self-check's sizes, so that a right sampler misses a row with probability
below 1e-13), random labels and pixels, column 0 numbering the rows; the seeds are random.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.references import ROLES, check_coverage, check_triplet_labels
from siamese_grading.remote import Generator, Remote

from ._base import Failed, array, require, value

NAME = "create_batch"
#: The self-check's class sizes: 48 rows in six classes.
CLASS_SIZES = (2, 3, 5, 9, 13, 16)
#: Batches pooled for coverage, and their size.
COVERAGE_BATCHES, COVERAGE_SIZE = 4, 512


def batch_data(rng: np.random.Generator, width: int) -> tuple[np.ndarray, np.ndarray]:
    """48 rows of random pixels (column 0 is the row number) in six classes, random labels."""
    labels = rng.choice(100, size=len(CLASS_SIZES), replace=False)
    y = rng.permutation(np.repeat(labels, CLASS_SIZES)).astype(np.int64)
    x = rng.uniform(0.01, 1.0, size=(len(y), width)).astype(np.float32)
    x[:, 0] = np.arange(len(y))
    return x, y


def triplet_rows(result, x: np.ndarray, y: np.ndarray, batch_size: int, call: str) -> np.ndarray:
    """The (3, batch_size) rows of ``x`` in one returned batch; :class:`Failed` if it is wrong."""
    require(
        result is not None,
        f"Your {NAME} returned None: end it with return [anchors, positives, negatives].",
    )
    if isinstance(result, np.ndarray):
        parts = list(result) if result.ndim == 3 else None
        require(
            parts is not None,
            f"Your {NAME} returned a single array of shape {result.shape}: return a list of "
            "three arrays, [anchors, positives, negatives].",
        )
    else:
        parts = result
    require(
        isinstance(parts, list) and len(parts) == 3,
        f"Your {NAME} should return exactly three arrays, [anchors, positives, negatives].",
    )
    rows = []
    expected = (batch_size, *x.shape[1:])
    for role, part in zip(ROLES, parts, strict=True):
        part = array(part, NAME)
        require(part is not None, f"Your {role}s are None.")
        require(
            not (part.ndim == 1 and part.dtype.kind in "iu" and len(part) == batch_size),
            f"Your {NAME} returned indices for the {role}s: return the examples themselves, "
            "x[indices], not the indices.",
        )
        require(
            part.shape == expected,
            f"{call} returned {role}s of shape {part.shape}; expected {expected} = (batch_size, "
            "*x.shape[1:]): one row of x per triplet, batch_size of them.",
        )
        require(
            part.dtype == x.dtype,
            f"Your {role}s are {part.dtype} but x is {x.dtype}: keep the dtype of x.",
        )
        index = np.rint(part[:, 0]).astype(np.int64)
        require(
            bool(np.all((index >= 0) & (index < len(x))))
            and np.array_equal(x[np.clip(index, 0, len(x) - 1)], part),
            f"Some {role}s are not rows of the x passed to {NAME}: use the x and y arguments "
            "and return x[index] unchanged.",
        )
        require(
            not (
                role == "anchor" and batch_size > 1 and np.array_equal(index, np.arange(batch_size))
            ),
            "Your anchors are x[0], x[1], x[2], ... in order: pick each anchor at random, e.g. "
            "rng.integers(len(x)).",
        )
        rows.append(index)
    labels(y, *rows)
    return np.stack(rows)


def labels(y, anchor, positive, negative) -> None:
    """Task 4's rules of a triplet (the shared reference); its message is the verdict."""
    try:
        check_triplet_labels(y, anchor, positive, negative)
    except AssertionError as error:
        raise Failed(str(error)) from None


def coverage(x, y, pooled: np.ndarray) -> None:
    """Every row in every role, various partners (the shared reference)."""
    try:
        check_coverage(x, y, tuple(pooled))
    except AssertionError as error:
        raise Failed(str(error)) from None


def sample(remote: Remote, x, y, batch_size: int, seed: int) -> np.ndarray:
    """The rows of the learner's ``create_batch(x, y, batch_size, rng=default_rng(seed))``."""
    call = f"create_batch(x, y, batch_size={batch_size}, rng=np.random.default_rng(...))"
    got = value(remote, NAME, x, y, batch_size=batch_size, rng=Generator(seed))
    return triplet_rows(got, x, y, batch_size, call)


def judge_create_batch(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``create_batch(x, y, batch_size=256, rng=None)`` (raises ``Failed``).

    Examples
    --------
    >>> judge_create_batch(remote, np.random.default_rng(0))  # a right answer: no error
    """
    x, y = batch_data(rng, int(rng.integers(6, 20)))
    seeds = [int(s) for s in rng.choice(2**31, size=COVERAGE_BATCHES + 3, replace=False)]
    for batch_size in (int(rng.integers(40, 80)), 1, int(rng.integers(20, 40)) | 1):
        sample(remote, x, y, batch_size, seeds[0])
    pooled = np.concatenate(
        [sample(remote, x, y, COVERAGE_SIZE, seed) for seed in seeds[:COVERAGE_BATCHES]], axis=1
    )
    coverage(x, y, pooled)
    size = int(rng.integers(24, 40))
    first = sample(remote, x, y, size, seeds[-2])
    require(
        np.array_equal(first, sample(remote, x, y, size, seeds[-2])),
        "The same rng seed gave different batches: draw every random number from the rng "
        "argument (rng.integers, rng.choice), not from np.random or random, so that results "
        "are reproducible.",
    )
    require(
        not np.array_equal(first, sample(remote, x, y, size, seeds[-1])),
        "Different rng seeds gave the same batch: use the rng passed to create_batch instead of "
        "creating your own Generator with a fixed seed.",
    )
    # The default batch_size and rng, on images of the lesson's width.
    x, y = batch_data(rng, 784)
    got = value(remote, NAME, x, y)
    triplet_rows(got, x, y, 256, "create_batch(x, y)")

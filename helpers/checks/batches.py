"""Self-check of notebook 04 (a batch of triplets): ``create_batch``.

``check_create_batch`` checks the exercise that draws a batch of random triplets
(anchor, positive of the same class, negative of another class) with an rng: the
rules of every triplet, the batch size, reproducibility, and coverage over 2,048
triplets from fixed seeds (every example is drawn in every role it can take).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._references import check_coverage, check_triplet_labels
from ._shared import (
    PIXELS,
    ROLES,
    call_learner,
    explain_when,
    passed,
    require_function,
    scratch_global_seed,
    to_numpy,
)


def _batch_data() -> tuple[np.ndarray, np.ndarray]:
    """48 unique rows in 6 classes of 2 to 16 examples, shuffled.

    Column 0 of row i holds i, so every returned row can be traced back.
    """
    rng = np.random.default_rng(4)
    counts = {3: 2, 7: 3, 0: 5, 5: 9, 1: 13, 8: 16}
    y = rng.permutation(np.repeat(list(counts), list(counts.values()))).astype(np.int64)
    x = rng.random((len(y), PIXELS)).astype(np.float32)
    x[:, 0] = np.arange(len(y))
    return x, y


def check_create_batch(create_batch: Callable) -> None:
    """Check ``create_batch(x, y, batch_size=256, rng=None)`` on synthetic data.

    Examples
    --------
    >>> checks.check_create_batch(create_batch)
    ✅ Your create_batch returns rows of x as valid triplets ...
    """
    require_function(create_batch, "create_batch", "check_create_batch")
    x, y = _batch_data()
    for batch_size in (64, 1, 37):
        _sample_batch(create_batch, x, y, batch_size, seed=0)
    check_coverage(x, y, _pooled_batches(create_batch, x, y))
    _check_rng_use(create_batch, x, y)
    default = call_learner(
        create_batch,
        "create_batch",
        x,
        y,
        explain=_explain_default_rng,
        hint="it was called as create_batch(x, y), with the default batch_size and rng",
    )
    _check_returned_triplets(default, x, y, 256, "create_batch(x, y)")
    passed(
        "Your create_batch returns rows of x as valid triplets (positive: same label, another "
        "example; negative: another label), respects batch_size and is reproducible with rng. "
        "Well done!"
    )


def _sample_batch(create_batch, x, y, batch_size: int, seed: int, global_seed: int = 0):
    call = f"create_batch(x, y, batch_size={batch_size}, rng=np.random.default_rng({seed}))"
    with scratch_global_seed(global_seed):
        result = call_learner(
            create_batch,
            "create_batch",
            x,
            y,
            batch_size=batch_size,
            rng=np.random.default_rng(seed),
            hint=f"it was called as {call} with x of shape {x.shape} and 6 classes",
        )
    return _check_returned_triplets(result, x, y, batch_size, call)


_explain_default_rng = explain_when(
    AttributeError,
    "NoneType",
    "Your create_batch fails when no rng is passed (rng=None): start with "
    "`if rng is None: rng = np.random.default_rng()`.",
)


def _check_returned_triplets(result, x, y, batch_size: int, call: str):
    """Validate the returned triplets and return the indices of their rows in ``x``."""
    if result is None:
        raise AssertionError(
            "Your create_batch returned None: end it with return [anchors, positives, negatives]."
        )
    if isinstance(result, np.ndarray) and result.ndim == 2:
        raise AssertionError(
            f"Your create_batch returned a single array of shape {result.shape}: return a list of "
            "three arrays, [anchors, positives, negatives]."
        )
    try:
        parts = [result[i] for i in range(len(result))]
    except TypeError as exc:
        raise AssertionError(
            f"Your create_batch returned a {type(result).__name__}: return a list of three "
            "arrays, [anchors, positives, negatives]."
        ) from exc
    if len(parts) != 3:
        raise AssertionError(
            f"Your create_batch returned {len(parts)} items: return exactly three arrays, "
            "[anchors, positives, negatives]."
        )
    anchor, positive, negative = (
        _row_indices(to_numpy(part, "create_batch"), role, x, batch_size, call)
        for part, role in zip(parts, ROLES, strict=True)
    )
    check_triplet_labels(y, anchor, positive, negative)
    return anchor, positive, negative


def _row_indices(arr: np.ndarray, role: str, x: np.ndarray, batch_size: int, call: str):
    expected = (batch_size, *x.shape[1:])
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer) and len(arr) == batch_size:
        raise AssertionError(
            f"Your create_batch returned indices for the {role}s: return the examples "
            "themselves, x[indices], not the indices."
        )
    if batch_size == 1 and arr.shape == x.shape[1:]:
        raise AssertionError(
            f"With batch_size=1 your {role}s have shape {arr.shape}, without the batch axis: "
            f"keep it, shape {expected} (don't np.squeeze)."
        )
    if arr.shape[1:] == x.shape[1:] and arr.ndim == x.ndim and len(arr) != batch_size:
        raise AssertionError(
            f"{call} returned {len(arr)} {role}s instead of {batch_size}: use the batch_size "
            "argument, not a fixed number."
        )
    if arr.shape != expected:
        raise AssertionError(
            f"Your {role}s have shape {arr.shape}; expected {expected} = (batch_size, "
            "*x.shape[1:]): one row of x per triplet."
        )
    if arr.dtype != x.dtype:
        raise AssertionError(
            f"Your {role}s are {arr.dtype} but x is {x.dtype}: keep the dtype of x, e.g. "
            "np.zeros((batch_size, *x.shape[1:]), dtype=x.dtype), or simply x[indices]."
        )
    if np.any(np.all(arr == 0, axis=1)):
        raise AssertionError(
            f"Some {role}s are all zeros: every row of the batch must be filled with an example."
        )
    idx = np.rint(arr[:, 0]).astype(np.int64)
    ok = (idx >= 0) & (idx < len(x))
    ok[ok] = np.all(arr[ok] == x[idx[ok]], axis=1)
    if not ok.all():
        raise AssertionError(
            f"Some {role}s are not rows of the x passed to create_batch: use the x and y "
            "arguments (not the global x_train, y_train) and return x[index] unchanged."
        )
    if role == "anchor" and batch_size > 1 and np.array_equal(idx, np.arange(batch_size)):
        raise AssertionError(
            "Your anchors are x[0], x[1], x[2], ... in order: pick each anchor at random, "
            "e.g. rng.integers(len(x))."
        )
    return idx


#: Seeds of the batches whose triplets are pooled to test coverage, and their size.
_COVERAGE_SEEDS = (1, 2, 3, 4)
_COVERAGE_BATCH = 512


def _pooled_batches(create_batch, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The row indices of 4 × 512 triplets, drawn with 4 fixed seeds, pooled."""
    batches = [
        _sample_batch(create_batch, x, y, _COVERAGE_BATCH, seed=seed) for seed in _COVERAGE_SEEDS
    ]
    return tuple(np.concatenate(parts) for parts in zip(*batches, strict=True))


def _check_rng_use(create_batch, x, y) -> None:
    first = _sample_batch(create_batch, x, y, 32, seed=7, global_seed=1)
    again = _sample_batch(create_batch, x, y, 32, seed=7, global_seed=2)
    if any(not np.array_equal(a, b) for a, b in zip(first, again, strict=True)):
        raise AssertionError(
            "The same rng seed gave different batches: draw every random number from the rng "
            "argument (rng.integers, rng.choice), not from np.random or random, so that results "
            "are reproducible."
        )
    other = _sample_batch(create_batch, x, y, 32, seed=8, global_seed=1)
    if all(np.array_equal(a, b) for a, b in zip(first, other, strict=True)):
        raise AssertionError(
            "Different rng seeds gave the same batch: use the rng passed to create_batch "
            "instead of creating your own Generator with a fixed seed."
        )

"""Input checks shared by the public helpers.

Every message says what was received and what is expected, so that a learner
can fix the call from the message alone.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_rng(rng) -> np.random.Generator:
    """Turn ``None``, an int seed or a ``Generator`` into a ``Generator``."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng seed must be >= 0, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}; "
        "e.g. rng=np.random.default_rng(0) or rng=0"
    )


def positive_int(value, name: str) -> int:
    """Check that ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def check_xy(x, y, *, min_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate examples ``x`` and integer labels ``y`` and return them as arrays."""
    if x is None or y is None:
        raise TypeError("x and y must be arrays, got None; pass the images and their labels")
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 0:
        raise ValueError("x must be an array of examples with shape (n, ...), got a scalar")
    if y.ndim != 1:
        raise ValueError(
            f"y must be 1-D with one integer label per example, got shape {y.shape}; "
            "use y.ravel() if it has shape (n, 1)"
        )
    if len(x) == 0:
        raise ValueError("x and y are empty; pass at least one example of each of two classes")
    if len(y) != len(x):
        raise ValueError(
            f"y has {len(y)} labels but x has {len(x)} examples; pass one label per example"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(
            f"y must hold integer class labels, got dtype {y.dtype}; "
            "convert it with y.astype(int) (one-hot labels need y.argmax(axis=1))"
        )
    n_classes = np.unique(y).size
    if n_classes < min_classes:
        raise ValueError(
            f"y holds {n_classes} class(es) but at least {min_classes} are needed: a negative "
            "must come from a different class than its anchor"
        )
    return x, y

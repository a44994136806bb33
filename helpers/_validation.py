"""Input checks shared by the public helpers.

Every message says what was received and what is expected, so that a learner
can fix the call from the message alone.
"""

from __future__ import annotations

import numbers
import re

import numpy as np


def as_array(value, dtype=None) -> np.ndarray:
    """``value`` as a numpy array, whichever Keras backend made it.

    TensorFlow's and JAX's tensors convert with ``np.asarray``; a PyTorch tensor that
    requires grad (a model's raw output, ``model(x)``) must be detached first, and a
    GPU tensor copied to the CPU. Duck-typed, so that no module here imports a framework.
    """
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu()
    return np.asarray(value, dtype=dtype)


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


def check_flag(value, name: str) -> bool:
    """Check that ``value`` is True or False."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def positive_int(value, name: str, *, optional: bool = False) -> int | None:
    """Check that ``value`` is an int >= 1 (or None, when ``optional``)."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        kind = "an int or None" if optional else "an int"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def check_number(value, name: str, *, low: float, high=None, low_inclusive: bool = True) -> float:
    """Check that ``value`` is a real number >= ``low`` (or > ``low``), and < ``high`` if given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    too_low = value < low if low_inclusive else value <= low
    if too_low or (high is not None and value >= high):
        bounds = f"{'>=' if low_inclusive else '>'} {low:g}"
        if high is not None:
            bounds += f" and < {high:g}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return float(value)


def check_xy(x, y, *, min_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate examples ``x`` and integer labels ``y`` and return them as arrays."""
    if x is None or y is None:
        raise TypeError("x and y must be arrays, got None; pass the images and their labels")
    x = as_array(x)
    y = as_array(y)
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


def check_embeddings(emb, name: str) -> np.ndarray:
    """Validate a 2-D array of finite real embeddings; return it as float32 or float64."""
    if emb is None:
        raise TypeError(f"{name} must be an array of shape (n, d), got None")
    emb = as_array(emb)
    if not (np.issubdtype(emb.dtype, np.integer) or np.issubdtype(emb.dtype, np.floating)):
        raise TypeError(
            f"{name} must hold real numbers, got dtype {emb.dtype}; "
            "pass the output of model.predict(...)"
        )
    if emb.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n, d), one row per example, got shape {emb.shape}; "
            f"use {name}.reshape(len({name}), -1) for images or a single feature"
        )
    if emb.shape[0] == 0 or emb.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {emb.shape}); pass at least one embedding")
    if emb.dtype not in (np.float32, np.float64):
        emb = emb.astype(np.float64)  # float32 is kept: the distances are float64 anyway
    if not np.isfinite(emb).all():
        raise ValueError(
            f"{name} contains NaN or inf; check the model's output (e.g. a loss that diverged)"
        )
    return emb


def check_labels(labels, n: int, name: str, emb_name: str) -> np.ndarray:
    """Validate ``n`` integer labels, one per row of ``emb_name``."""
    if labels is None:
        raise TypeError(f"{name} must be an array of integer labels, got None")
    labels = as_array(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D with one integer label per example, got shape {labels.shape}; "
            "use .ravel() if it has shape (n, 1)"
        )
    if len(labels) != n:
        raise ValueError(
            f"{name} has {len(labels)} labels but {emb_name} has {n} rows; "
            "pass one label per embedding"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"{name} must hold integer class labels, got dtype {labels.dtype}; "
            "convert it with .astype(int) (one-hot labels need .argmax(axis=1))"
        )
    return labels


def check_pairs(distances, is_same) -> tuple[np.ndarray, np.ndarray]:
    """Validate the distances of pairs and their same/different flags (both kinds needed)."""
    if distances is None or is_same is None:
        raise TypeError("distances and is_same must be arrays, got None")
    distances = as_array(distances)
    is_same = as_array(is_same)
    if distances.ndim != 1 or is_same.ndim != 1:
        raise ValueError(
            f"distances and is_same must be 1-D, one entry per pair, got shapes "
            f"{distances.shape} and {is_same.shape}"
        )
    if len(distances) != len(is_same):
        raise ValueError(
            f"distances has {len(distances)} pairs but is_same has {len(is_same)}; "
            "pass one flag per pair"
        )
    if len(distances) == 0:
        raise ValueError("distances and is_same are empty; pass at least two pairs")
    if not (
        np.issubdtype(distances.dtype, np.floating) or np.issubdtype(distances.dtype, np.integer)
    ):
        raise TypeError(f"distances must be real numbers, got dtype {distances.dtype}")
    distances = distances.astype(np.float64, copy=False)
    if not np.isfinite(distances).all():
        raise ValueError("distances contain NaN or inf; check the embeddings")
    if is_same.dtype != bool:
        if not np.issubdtype(is_same.dtype, np.integer) or not np.isin(is_same, (0, 1)).all():
            raise TypeError(
                f"is_same must be booleans (True for a same-label pair), got dtype "
                f"{is_same.dtype}; e.g. is_same = labels[i] == labels[j]"
            )
        is_same = is_same.astype(bool)
    if is_same.all() or not is_same.any():
        raise ValueError(
            f"is_same holds only {'same' if is_same.all() else 'different'} pairs; "
            "verification scores need both kinds (see sample_pairs)"
        )
    return distances, is_same


def error_text(exc: BaseException, limit: int = 300) -> str:
    """The first two lines of an error message, tidied to fit one printed line.

    Colour codes and TensorFlow's ``{{function_node ...}}`` prefix are removed, white space is
    folded, and the text is cut to at most ``limit`` characters. An error without a message
    gives its type's name.

    Examples
    --------
    >>> error_text(ValueError("bad shape\\n  expected (n, 784)\\nmore detail"))
    'bad shape expected (n, 784)'
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", text)
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    text = " ".join(lines[:2]) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."

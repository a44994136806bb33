"""Self-check of notebook 02 (importing the data): the normalised images.

``check_normalized_images`` checks the exercise that flattens the MNIST images
into rows of 784 pixels and scales them into [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._shared import PIXELS, passed, to_numpy


def check_normalized_images(
    x_train: np.ndarray,
    x_test: np.ndarray,
    raw_train: np.ndarray | None = None,
    raw_test: np.ndarray | None = None,
) -> None:
    """Check that images are flattened float32 rows of 784 pixels in [0, 1].

    Parameters
    ----------
    x_train, x_test : arrays
        The learner's prepared images, expected float32 of shape (n, 784).
    raw_train, raw_test : arrays, optional
        The raw images (e.g. uint8, shape (n, 28, 28)); when given, the
        prepared images must equal ``raw.reshape(n, 784) / 255`` within 1e-6.

    Examples
    --------
    >>> checks.check_normalized_images(x_train, x_test, raw_train, raw_test)
    ✅ x_train (60000, 784) and x_test (10000, 784) are float32 in [0, 1] ...
    """
    train = _check_image_array(x_train, "x_train")
    try:
        test = _check_image_array(x_test, "x_test")
    except AssertionError as exc:
        raise AssertionError(
            f"x_train is right, but {exc} Apply exactly the same steps to x_test as to x_train."
        ) from None
    if train.shape == test.shape and np.array_equal(train, test):
        raise AssertionError(
            "x_test is identical to x_train: did you prepare x_train twice? "
            "Build x_test from the test images."
        )
    compared = []
    for arr, raw, name in ((train, raw_train, "x_train"), (test, raw_test, "x_test")):
        if raw is not None:
            _compare_with_raw(arr, raw, name)
            compared.append(name)
    extra = f", and {' and '.join(compared)} equal the raw images / 255" if compared else ""
    passed(
        f"x_train {train.shape} and x_test {test.shape} are float32 in [0, 1], one row of "
        f"784 pixels per image{extra}. Well done!"
    )


def _check_image_array(x, name: str) -> np.ndarray:
    if x is None:
        raise AssertionError(f"{name} is None: did you assign the result, e.g. {name} = ...?")
    arr = to_numpy(x, name) if not isinstance(x, np.ndarray) else x
    _check_image_shape(arr, name)
    _check_image_dtype(arr, name)
    _check_image_range(arr, name)
    return arr


def _check_image_shape(arr: np.ndarray, name: str) -> None:
    fix = f"{name} = {name}.reshape(len({name}), 784)"
    if arr.ndim == 3 and arr.shape[1:] == (28, 28):
        raise AssertionError(
            f"{name} still has shape {arr.shape}, one 28 × 28 grid per image: flatten every "
            f"image into one row of 784 pixels with {fix} (or .reshape(-1, 784))."
        )
    if arr.ndim == 2 and arr.shape[0] == PIXELS and arr.shape[1] != PIXELS:
        raise AssertionError(
            f"{name} has shape {arr.shape}: one column per image instead of one row. "
            "Use .reshape(-1, 784), not .reshape(784, -1)."
        )
    if arr.ndim != 2 or arr.shape[1] != PIXELS:
        raise AssertionError(
            f"{name} has shape {arr.shape}, expected (n, 784): one row of 28 × 28 = 784 pixels "
            f"per image. Use {fix}."
        )


def _check_image_dtype(arr: np.ndarray, name: str) -> None:
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        if arr.size and arr.max() <= 1:
            raise AssertionError(
                f"{name} holds the integers 0 and 1 only ({arr.dtype}): integer division `//` "
                "or a cast to an integer type after dividing throws the grey levels away. "
                f'Use {name}.astype("float32") / 255.'
            )
        raise AssertionError(
            f"{name} still holds integers ({arr.dtype}): convert and scale it with "
            f'.astype("float32") / 255.'
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise AssertionError(
            f'{name} has dtype {arr.dtype}; expected float32: use .astype("float32").'
        )
    if np.isnan(arr).any():
        raise AssertionError(
            f"{name} contains NaN: 0 / 0 somewhere? Dividing a blank image by its own maximum or "
            "by a zero standard deviation does that. Divide every pixel by 255 instead."
        )
    if np.isinf(arr).any():
        raise AssertionError(f"{name} contains inf: did you divide by zero? Divide by 255.")


def _check_image_range(arr: np.ndarray, name: str) -> None:
    low, high = float(arr.min()), float(arr.max())
    if low < 0:
        raise AssertionError(
            f"{name} has negative values (down to {low:.3g}): it looks standardised (minus the "
            "mean, divided by the standard deviation). This course scales the pixels into "
            "[0, 1]: divide by 255 and nothing else."
        )
    if high > 1 + 1e-6:
        raise AssertionError(
            f"{name} goes up to {high:g}: scale the pixels from [0, 255] into [0, 1] by dividing "
            "by 255."
        )
    if high == 0:
        raise AssertionError(
            f"{name} is all zeros: did you divide with `//` or cast to an integer type after "
            f'dividing? Use {name}.astype("float32") / 255.'
        )
    if high <= 1 / 255 + 1e-6:
        raise AssertionError(
            f"{name} goes up to {high:.5f} ≈ 1/255 only: you divided by 255 twice (e.g. the cell "
            "ran twice, or once here and once before). Divide exactly once; rerun the cell that "
            "loads the data first."
        )
    sample = arr[:1000]
    if not np.any((sample > 0) & (sample < 1)):
        raise AssertionError(
            f"{name} holds only the values 0 and 1, no grey levels: integer division `//` rounds "
            f'down. Use {name}.astype("float32") / 255.'
        )
    if arr.dtype != np.float32:
        raise AssertionError(
            f"{name} has dtype {arr.dtype}; Keras computes in float32, which also takes half the "
            f'memory of float64: use .astype("float32") before dividing by 255.'
        )


def _compare_with_raw(arr: np.ndarray, raw, name: str) -> None:
    raw = np.asarray(raw)
    if raw.ndim < 2 or raw[0].size != PIXELS:
        raise ValueError(
            f"the raw images for {name} must have shape (n, 28, 28) or (n, 784), got {raw.shape}"
        )
    if len(raw) != len(arr):
        raise AssertionError(
            f"{name} has {len(arr)} images but the raw data has {len(raw)}: keep every image, "
            "in the same order (no slicing, filtering or shuffling here)."
        )
    flat = raw.reshape(len(raw), PIXELS)
    worst = _max_abs_diff(arr, flat, _divide_by_255)
    if worst <= 1e-6:
        return
    if _max_abs_diff(arr, flat, _transpose_and_divide) <= 1e-6:
        raise AssertionError(
            f"Every image in {name} is transposed (read column by column): reshape the "
            "(n, 28, 28) array directly with .reshape(len(x), 784), without .T or transpose."
        )
    if _max_abs_diff(arr, flat, _divide_by_own_max) <= 1e-6:
        raise AssertionError(
            f"You divided each image of {name} by its own maximum; divide all of them by the same "
            "255 instead, so that a pixel value means the same brightness in every image."
        )
    rows = np.sort(arr.sum(axis=1, dtype=np.float64))
    if np.allclose(rows, np.sort(flat.sum(axis=1, dtype=np.float64) / 255.0), atol=1e-3):
        raise AssertionError(
            f"The rows of {name} are in a different order than the raw images, so the images no "
            "longer match their labels: don't shuffle or sort them here."
        )
    raise AssertionError(
        f"{name} differs from the raw images / 255 (largest difference {worst:.3g}): flatten "
        'with .reshape(len(x), 784) and scale with .astype("float32") / 255, nothing else.'
    )


def _divide_by_255(rows: np.ndarray) -> np.ndarray:
    return rows / 255.0


def _transpose_and_divide(rows: np.ndarray) -> np.ndarray:
    return rows.reshape(-1, 28, 28).transpose(0, 2, 1).reshape(-1, PIXELS) / 255.0


def _divide_by_own_max(rows: np.ndarray) -> np.ndarray:
    peak = rows.max(axis=1, keepdims=True).astype(np.float64)
    return rows / np.where(peak == 0, 1.0, peak)


def _max_abs_diff(arr: np.ndarray, raw: np.ndarray, prepare: Callable, chunk: int = 4096) -> float:
    """Largest |arr - prepare(raw)|, computed in chunks of rows to keep the memory small."""
    worst = 0.0
    for start in range(0, len(arr), chunk):
        rows = slice(start, start + chunk)
        diff = np.abs(arr[rows].astype(np.float64) - prepare(raw[rows]))
        worst = max(worst, float(diff.max(initial=0.0)))
    return worst

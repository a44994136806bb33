"""The self-checks that learners run after each exercise.

Each ``check_*`` function calls the learner's code on small synthetic data and
compares it with an independent numpy reference written here (never with the
rest of ``helpers``, which could share the same bug). On success it prints one
friendly line and returns ``None``. On failure it raises ``AssertionError``
whose message names the likely mistake and how to fix it, e.g.::

    AssertionError: You averaged the squared differences over the embedding
    dimension; FaceNet sums them: use ops.sum(ops.square(anchor - positive), axis=-1)

If the learner's code itself raises, the check raises ``AssertionError`` that
says so (chained ``from`` the original error); the unfilled stub's
``NotImplementedError`` becomes "You have not implemented ... yet".

Every check is deterministic (fixed seeds) and fast.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable, Iterator
from itertools import product

import keras
import numpy as np

__all__ = [
    "check_create_batch",
    "check_embedding_model",
    "check_normalized_images",
    "check_plot_triplets",
    "check_siamese_network",
    "check_triplet_loss",
]

ROLES = ("anchor", "positive", "negative")
_ATOL = 1e-5

# ----------------------------------------------------------------------------
# Shared machinery
# ----------------------------------------------------------------------------


def _passed(message: str) -> None:
    print(f"✅ {message}")


def _error_text(exc: BaseException, limit: int = 300) -> str:
    """The first lines of an error message, without colour codes, at most ``limit`` chars."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # colour codes
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", text).strip()  # TensorFlow's op prefix
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = " ".join(lines[:2])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call(func: Callable, name: str, *args, hint: str = "", explain=None, **kwargs):
    """Call the learner's ``func``; turn any exception into a helpful ``AssertionError``.

    ``explain(exc)`` may return a specific message for a known mistake.
    """
    try:
        return func(*args, **kwargs)
    except NotImplementedError as exc:
        raise AssertionError(
            f"You have not implemented {name} yet: replace `raise NotImplementedError()` "
            "with your code."
        ) from exc
    except Exception as exc:  # the learner's code may raise anything
        specific = explain(exc) if explain is not None else None
        message = specific or (
            f"Your {name} raised {type(exc).__name__}: {_error_text(exc)}"
            + (f" — {hint}" if hint else "")
        )
        raise AssertionError(message) from exc


def _require_function(func, name: str, check: str) -> None:
    if not callable(func):
        raise AssertionError(
            f"{check} expects your function {name} itself, got {type(func).__name__}: "
            f"pass {name} without calling it, e.g. checks.{check}({name})."
        )


def _to_numpy(value, what: str) -> np.ndarray:
    """Turn a tensor or array-like returned by the learner into a numpy array."""
    if value is None:
        raise AssertionError(f"{what} returned None: did you forget the `return` statement?")
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:  # e.g. a list of tensors: let numpy try
        try:
            return np.asarray(value)
        except Exception as exc:
            raise AssertionError(
                f"{what} returned a {type(value).__name__}, which cannot be turned into an array"
            ) from exc


@contextlib.contextmanager
def _scratch_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's and Python's global generators, and restore their state afterwards."""
    # Deliberately the legacy global API: it is what a learner's code might wrongly use.
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)


def _ordinal(i: int) -> str:
    return ("first", "second", "third")[i] if i < 3 else f"#{i + 1}"


# ----------------------------------------------------------------------------
# Notebook 2: normalised images
# ----------------------------------------------------------------------------

PIXELS = 784


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
    _passed(
        f"x_train {train.shape} and x_test {test.shape} are float32 in [0, 1], one row of "
        f"784 pixels per image{extra}. Well done!"
    )


def _check_image_array(x, name: str) -> np.ndarray:
    if x is None:
        raise AssertionError(f"{name} is None: did you assign the result, e.g. {name} = ...?")
    arr = _to_numpy(x, name) if not isinstance(x, np.ndarray) else x
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


# ----------------------------------------------------------------------------
# Notebook 3: plot_triplets
# ----------------------------------------------------------------------------


def _synthetic_triplet() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.random(PIXELS).astype(np.float32) for _ in ROLES]


def check_plot_triplets(plot_triplets: Callable) -> None:
    """Check that ``plot_triplets([a, p, n])`` draws three titled 28 × 28 images in a row.

    The function may draw with pyplot (returning nothing) or return a Figure.
    Pyplot figures are closed before and after, so nothing is shown twice.

    Examples
    --------
    >>> checks.check_plot_triplets(plot_triplets)
    ✅ Your plot_triplets shows the anchor, the positive and the negative ...
    """
    import matplotlib.pyplot as plt

    _require_function(plot_triplets, "plot_triplets", "check_plot_triplets")
    examples = _synthetic_triplet()
    plt.close("all")
    show = plt.show
    plt.show = _no_show  # a figure closed by plt.show() could no longer be checked
    try:
        result = _call(
            plot_triplets,
            "plot_triplets",
            [e.copy() for e in examples],
            hint="it was called with a list of three flattened (784,) images",
            explain=_explain_plot_error,
        )
        fig = _find_figure(result, [plt.figure(num) for num in plt.get_fignums()])
        axes = _image_axes(fig)
        _check_images(axes, examples)
        _check_titles(axes)
    finally:
        plt.show = show
        plt.close("all")
    _passed(
        "Your plot_triplets shows the anchor, the positive and the negative side by side, "
        "each titled. Well done!"
    )


def _no_show(*args, **kwargs) -> None:
    return None


def _explain_plot_error(exc: BaseException) -> str | None:
    if isinstance(exc, TypeError) and "Invalid shape" in str(exc):
        return (
            f"imshow cannot draw a flat vector ({_error_text(exc)}): reshape each image to "
            "(28, 28) first, e.g. plt.imshow(examples[i].reshape(28, 28), cmap='binary')."
        )
    return None


def _find_figure(result, pyplot_figures):
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    candidates = [result]
    if isinstance(result, (tuple, list)):
        candidates += list(result)
    for value in candidates:
        if isinstance(value, Figure):
            return value
        if isinstance(value, Axes):
            return value.figure
        if isinstance(value, np.ndarray) and value.dtype == object and value.size:
            first = value.flat[0]
            if isinstance(first, Axes):
                return first.figure
    if len(pyplot_figures) == 1:
        return pyplot_figures[0]
    if not pyplot_figures:
        raise AssertionError(
            "Your plot_triplets drew nothing: create a figure and draw the three images, e.g. "
            "plt.figure(figsize=(6, 2)), then plt.subplot(1, 3, i + 1) and plt.imshow(...) for "
            "each image (or build a Figure and return it); don't close it."
        )
    raise AssertionError(
        f"Your plot_triplets created {len(pyplot_figures)} separate figures: draw the three "
        "images in ONE figure, with one plt.figure() before the loop and plt.subplot(1, 3, i + 1) "
        "inside it."
    )


def _image_axes(fig) -> list:
    """The axes of ``fig`` that show an image, sorted from left to right."""
    axes = [ax for ax in fig.axes if ax.get_images()]
    if len(axes) == 1 and len(axes[0].get_images()) > 1:
        raise AssertionError(
            f"All {len(axes[0].get_images())} images are drawn on the same axes, so only the "
            "last one is visible: give each image its own axes, e.g. plt.subplot(1, 3, i + 1) "
            "before each plt.imshow (or axes[i].imshow after fig, axes = plt.subplots(1, 3))."
        )
    if len(axes) != 3:
        raise AssertionError(
            f"Your figure shows {len(axes)} image(s), expected 3: one axes per image (anchor, "
            "positive, negative), each drawn with imshow."
        )
    boxes = [ax.get_position() for ax in axes]
    xs = [(b.x0 + b.x1) / 2 for b in boxes]
    ys = [(b.y0 + b.y1) / 2 for b in boxes]
    tolerance = min(b.height for b in boxes) / 2
    if max(ys) - min(ys) > tolerance:
        if max(xs) - min(xs) < min(b.width for b in boxes) / 2:
            raise AssertionError(
                "Your images are stacked one above the other: put them side by side in one row "
                "with plt.subplot(1, 3, i + 1) (1 row, 3 columns), not plt.subplot(3, 1, i + 1)."
            )
        raise AssertionError(
            "Your three images are not in one row: use plt.subplot(1, 3, i + 1) (1 row, 3 columns)."
        )
    return [axes[i] for i in np.argsort(xs)]


def _check_images(axes: list, examples: list[np.ndarray]) -> None:
    shown = []
    for i, ax in enumerate(axes):
        image = np.ma.getdata(ax.get_images()[-1].get_array())
        if image.shape[:2] != (28, 28):
            raise AssertionError(
                f"The {_ordinal(i)} image has shape {image.shape}, so it shows a strip of pixels "
                "instead of a digit: reshape each image to (28, 28), e.g. "
                "examples[i].reshape(28, 28)."
            )
        shown.append(_which_example(image, examples, i))
    if shown == [0, 1, 2]:
        return
    for j in set(shown):
        if shown.count(j) > 1:
            raise AssertionError(
                f"You showed the {ROLES[j]} {shown.count(j)} times: draw examples[i] for "
                "i = 0, 1, 2 (check the index inside your loop)."
            )
    order = ", ".join(ROLES[j] for j in shown)
    raise AssertionError(
        f"The images are in the wrong order (left to right: {order}): show the anchor, the "
        "positive and the negative, in this order, i.e. examples[0], examples[1], examples[2]."
    )


def _which_example(image: np.ndarray, examples: list[np.ndarray], position: int) -> int:
    flat = np.asarray(image, np.float64)[:, :, 0] if image.ndim == 3 else image
    for transposed in (False, True):
        candidate = (flat.T if transposed else flat).ravel()
        for j, example in enumerate(examples):
            if candidate.std() > 0 and abs(np.corrcoef(candidate, example)[0, 1]) > 0.99:
                if transposed:
                    raise AssertionError(
                        f"The {_ordinal(position)} image is transposed: reshape with "
                        ".reshape(28, 28) and don't add .T."
                    )
                return j
    raise AssertionError(
        f"The {_ordinal(position)} image does not match any of the three images passed to "
        "plot_triplets: show examples[i].reshape(28, 28) unchanged."
    )


def _title(ax) -> str:
    return " ".join(ax.get_title(loc=loc) for loc in ("left", "center", "right")).strip()


def _check_titles(axes: list) -> None:
    titles = [_title(ax) for ax in axes]
    missing = [i for i, title in enumerate(titles) if not title]
    if missing:
        which = "images have" if len(missing) == 3 else f"{_ordinal(missing[0])} image has"
        raise AssertionError(
            f"The {which} no title: add one with plt.title('Anchor') right after each "
            "plt.imshow (or ax.set_title('Anchor')), and likewise 'Positive' and 'Negative'."
        )
    for title, role in zip(titles, ROLES, strict=True):
        if role not in title.lower():
            raise AssertionError(
                f"The titles should say which image is which, 'Anchor', 'Positive', 'Negative' "
                f"from left to right; got {titles}."
            )


# ----------------------------------------------------------------------------
# Notebook 4: create_batch
# ----------------------------------------------------------------------------


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
    _require_function(create_batch, "create_batch", "check_create_batch")
    x, y = _batch_data()
    for batch_size in (64, 1, 37):
        _sample_batch(create_batch, x, y, batch_size, seed=0)
    _check_coverage(x, y, _sample_batch(create_batch, x, y, 512, seed=1))
    _check_rng_use(create_batch, x, y)
    default = _call(
        create_batch,
        "create_batch",
        x,
        y,
        explain=_explain_default_rng,
        hint="it was called as create_batch(x, y), with the default batch_size and rng",
    )
    _check_triplets(default, x, y, 256, "create_batch(x, y)")
    _passed(
        "Your create_batch returns rows of x as valid triplets (positive: same label, another "
        "example; negative: another label), respects batch_size and is reproducible with rng. "
        "Well done!"
    )


def _sample_batch(create_batch, x, y, batch_size: int, seed: int, global_seed: int = 0):
    call = f"create_batch(x, y, batch_size={batch_size}, rng=np.random.default_rng({seed}))"
    with _scratch_global_seed(global_seed):
        result = _call(
            create_batch,
            "create_batch",
            x,
            y,
            batch_size=batch_size,
            rng=np.random.default_rng(seed),
            hint=f"it was called as {call} with x of shape {x.shape} and 6 classes",
        )
    return _check_triplets(result, x, y, batch_size, call)


def _explain_default_rng(exc: BaseException) -> str | None:
    if isinstance(exc, AttributeError) and "NoneType" in str(exc):
        return (
            "Your create_batch fails when no rng is passed (rng=None): start with "
            "`if rng is None: rng = np.random.default_rng()`."
        )
    return None


def _check_triplets(result, x, y, batch_size: int, call: str):
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
        _row_indices(_to_numpy(part, "create_batch"), role, x, batch_size, call)
        for part, role in zip(parts, ROLES, strict=True)
    )
    _check_labels(y, anchor, positive, negative)
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


def _check_labels(y, anchor, positive, negative) -> None:
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


def _check_coverage(x, y, triplets) -> None:
    anchor = triplets[0]
    missing = sorted(set(np.unique(y).tolist()) - set(np.unique(y[anchor]).tolist()))
    if missing:
        raise AssertionError(
            f"In 512 triplets, no anchor comes from class(es) {missing}: draw the anchor index "
            "at random among all examples, e.g. rng.integers(len(x))."
        )
    for role, idx in zip(ROLES, triplets, strict=True):
        if np.unique(idx).size < len(x) // 2:
            raise AssertionError(
                f"In 512 triplets your {role}s are only {np.unique(idx).size} different examples "
                f"out of {len(x)}: pick each {role} at random among all the suitable examples."
            )


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


# ----------------------------------------------------------------------------
# Notebook 5: the embedding model
# ----------------------------------------------------------------------------


def check_embedding_model(
    model: keras.Model, emb_size: int = 64, input_shape: tuple[int, ...] = (784,)
) -> None:
    """Check a Keras embedding model: shape, a bounded output, weights and its name.

    The output must be bounded, either L2-normalised (``UnitNormalization``)
    or squashed by a sigmoid (the original course's recipe); a linear or ReLU
    output is rejected, because unbounded embeddings make the margin meaningless.

    Examples
    --------
    >>> checks.check_embedding_model(embedding_model, emb_size=64)
    ✅ Your embedding model maps (None, 784) to (None, 64) ...
    """
    input_shape = tuple(input_shape)
    _require_model(model, "model", "embedding model")
    _check_model_shapes(model, emb_size, input_shape)
    if not model.trainable_weights:
        raise AssertionError(
            "Your embedding model has no trainable weights, so it cannot learn: add Dense layers "
            "and don't set trainable=False."
        )
    kind = _output_kind(model, input_shape)
    if model.name != "embedding":
        raise AssertionError(
            f"Your model is named {model.name!r}; name it 'embedding' so that it is easy to find "
            "in summaries: keras.Model(inputs, outputs, name='embedding') or "
            "keras.Sequential([...], name='embedding')."
        )
    _passed(
        f"Your embedding model maps (None, {', '.join(map(str, input_shape))}) to "
        f"(None, {emb_size}) with {kind}. Well done!"
    )


def _require_model(model, name: str, what: str) -> None:
    if isinstance(model, keras.Model):
        if not isinstance(model, keras.Sequential) and not hasattr(model, "inputs"):
            raise AssertionError(
                f"Your {what} is a subclassed keras.Model, whose inputs Keras cannot see: build "
                "it with keras.Sequential([keras.Input(shape=(784,)), ...]) or the functional "
                "API, keras.Model(inputs, outputs)."
            )
        if not model.built or not model.inputs:
            raise AssertionError(
                f"Your {what} has no input shape yet: start the Sequential with an Input, "
                "e.g. keras.Sequential([keras.Input(shape=(784,)), ...])."
            )
        return
    if isinstance(model, keras.layers.Layer):
        raise AssertionError(
            f"Your {what} is a single {type(model).__name__} layer, not a model: wrap the layers "
            "in keras.Sequential([...]) or keras.Model(inputs, outputs)."
        )
    if callable(model):
        raise AssertionError(
            f"You passed a function ({getattr(model, '__name__', type(model).__name__)}), not a "
            f"keras.Model: call it and pass the model it returns as {name}."
        )
    raise AssertionError(f"{name} must be a keras.Model, got {type(model).__name__}.")


def _check_model_shapes(model, emb_size: int, input_shape: tuple[int, ...]) -> None:
    if len(model.inputs) != 1:
        raise AssertionError(
            f"Your embedding model has {len(model.inputs)} inputs; it takes one image: "
            f"keras.Input(shape={input_shape})."
        )
    got = tuple(model.inputs[0].shape[1:])
    if got != input_shape:
        raise AssertionError(
            f"Your embedding model expects inputs of shape {got}, but the images are "
            f"{input_shape}: use keras.Input(shape={input_shape})."
        )
    if len(model.outputs) != 1:
        raise AssertionError(
            f"Your embedding model has {len(model.outputs)} outputs; it needs one embedding "
            f"per image, shape (None, {emb_size})."
        )
    out = tuple(model.outputs[0].shape[1:])
    if out != (emb_size,):
        raise AssertionError(
            f"Your embedding model outputs shape (None, {', '.join(map(str, out))}); expected "
            f"(None, {emb_size}): end with Dense({emb_size}) (then the normalisation)."
        )


def _output_kind(model, input_shape: tuple[int, ...]) -> str:
    """Run the model on ordinary and huge inputs and name its output bound."""
    rng = np.random.default_rng(5)
    ordinary = rng.random((8, *input_shape)).astype(np.float32)
    huge = np.concatenate([ordinary * 1000, rng.normal(size=ordinary.shape) * 1000])
    outputs = [
        _to_numpy(
            _call(model, "embedding model", batch.astype(np.float32), training=False),
            "your embedding model",
        )
        for batch in (ordinary, huge)
    ]
    out = np.concatenate(outputs)
    emb_size = model.outputs[0].shape[-1]
    if outputs[0].shape != (len(ordinary), emb_size):
        raise AssertionError(
            f"On a batch of {len(ordinary)} images your embedding model outputs shape "
            f"{outputs[0].shape}; expected ({len(ordinary)}, {emb_size})."
        )
    if not np.isfinite(out).all():
        raise AssertionError(
            "Your embedding model outputs NaN or inf on random images: check its layers (e.g. "
            "a division by a norm that can be zero)."
        )
    norms = np.linalg.norm(out, axis=1)
    if np.allclose(norms, 1, atol=1e-3):
        return "an L2-normalised output (every embedding has length 1)"
    if out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-4):
        raise AssertionError(
            "Your embedding model ends with a softmax, which makes the coordinates compete (they "
            "sum to 1) as for class probabilities: end with keras.layers.UnitNormalization() "
            "or Dense(emb_size, activation='sigmoid') instead."
        )
    if np.abs(out).max() > 1 + 1e-4:
        raise AssertionError(
            f"Your embedding model's output is unbounded (values up to {np.abs(out).max():.3g} on "
            "bright images): a linear or ReLU last layer lets the network satisfy any margin alpha "
            "just by scaling all distances up, so the margin means nothing. End with "
            "keras.layers.UnitNormalization() (L2 normalisation) or use "
            "Dense(emb_size, activation='sigmoid')."
        )
    if out.min() >= 0:
        return "a sigmoid output (every coordinate in [0, 1], the original course's recipe)"
    return "a bounded output (every coordinate in [-1, 1])"


# ----------------------------------------------------------------------------
# Notebook 6: the Siamese network
# ----------------------------------------------------------------------------


def check_siamese_network(siamese: keras.Model, embedding_model: keras.Model) -> None:
    """Check the Siamese network: three named inputs, one shared model, [e(a), e(p), e(n)].

    Examples
    --------
    >>> checks.check_siamese_network(siamese, embedding_model)
    ✅ Your Siamese network shares one embedding model ...
    """
    _require_model(embedding_model, "embedding_model", "embedding model")
    _require_model(siamese, "siamese", "Siamese network")
    emb_size = embedding_model.outputs[0].shape[-1]
    image_shape = tuple(embedding_model.inputs[0].shape[1:])
    _check_siamese_inputs(siamese, image_shape)
    _check_siamese_output_shape(siamese, emb_size)
    _check_shared_weights(siamese, embedding_model)
    _check_siamese_values(siamese, embedding_model, image_shape, emb_size)
    _passed(
        f"Your Siamese network shares one embedding model ({len(embedding_model.weights)} weight "
        f"tensors) across anchor, positive and negative, and outputs [e(a), e(p), e(n)] of shape "
        f"(None, {3 * emb_size}). Well done!"
    )


def _check_siamese_inputs(siamese, image_shape: tuple[int, ...]) -> None:
    if len(siamese.inputs) != 3:
        raise AssertionError(
            f"Your Siamese network has {len(siamese.inputs)} input(s); it needs three, one per "
            "image of the triplet: keras.Input(shape=(784,), name='anchor'), likewise 'positive' "
            "and 'negative', then keras.Model([anchor, positive, negative], outputs)."
        )
    names = [tensor.name for tensor in siamese.inputs]
    if names != list(ROLES):
        if sorted(names) == sorted(ROLES):
            raise AssertionError(
                f"Your inputs come in the order {names}: pass them as [anchor, positive, "
                "negative], e.g. keras.Model([anchor, positive, negative], outputs), so that they "
                "match the (anchors, positives, negatives) batches."
            )
        raise AssertionError(
            f"Your inputs are named {names}: name them with keras.Input(shape=(784,), "
            "name='anchor'), name='positive' and name='negative'."
        )
    for tensor in siamese.inputs:
        if tuple(tensor.shape[1:]) != image_shape:
            raise AssertionError(
                f"Your input {tensor.name!r} has shape {tuple(tensor.shape)}; expected "
                f"(None, {', '.join(map(str, image_shape))}), the embedding model's input."
            )


def _check_siamese_output_shape(siamese, emb_size: int) -> None:
    if len(siamese.outputs) != 1:
        raise AssertionError(
            f"Your Siamese network has {len(siamese.outputs)} separate outputs: concatenate the "
            "three embeddings into one with keras.layers.Concatenate(axis=-1)([e_a, e_p, e_n])."
        )
    shape = tuple(siamese.outputs[0].shape)
    if len(shape) == 3 and shape[1:] == (3, emb_size):
        raise AssertionError(
            f"Your output has shape {shape}: you stacked the embeddings; concatenate them side "
            "by side instead, with keras.layers.Concatenate(axis=-1)."
        )
    if shape[1:] == (emb_size,):
        raise AssertionError(
            f"Your output has shape {shape}, one embedding wide: concatenate the three "
            "embeddings along the last axis, keras.layers.Concatenate(axis=-1), not axis=0 "
            "(which piles them up as extra rows)."
        )
    if shape[1:] != (3 * emb_size,):
        raise AssertionError(
            f"Your output has shape {shape}; expected (None, {3 * emb_size}): the three "
            f"embeddings of size {emb_size} side by side."
        )


def _check_shared_weights(siamese, embedding_model) -> None:
    own = {id(v) for v in embedding_model.weights}
    theirs = {id(v) for v in siamese.weights}
    if own and len(theirs) >= 2 * len(own) and len(theirs) % len(own) == 0:
        raise AssertionError(
            f"Your network has {len(theirs) // len(own)}× the embedding model's weights: build "
            "the embedding model once and call the same model on all three inputs (no "
            "clone_model, no second call to the function that builds it)."
        )
    if not own <= theirs:
        raise AssertionError(
            "Your Siamese network does not use this embedding_model's weights: build it by "
            "calling the same embedding_model (the one passed to this check) on the three inputs."
        )
    if theirs != own:
        raise AssertionError(
            f"Your Siamese network has {len(theirs - own)} weight tensor(s) besides the embedding "
            "model's (e.g. a Dense after the concatenation): its output should be the "
            "concatenated embeddings only."
        )
    if not siamese.trainable_weights:
        raise AssertionError(
            "Your Siamese network has no trainable weights: don't set trainable=False on the "
            "embedding model."
        )


def _check_siamese_values(siamese, embedding_model, image_shape, emb_size: int) -> None:
    rng = np.random.default_rng(6)
    images = [rng.random((5, *image_shape)).astype(np.float32) for _ in ROLES]
    out = _to_numpy(
        _call(siamese, "Siamese network", images, training=False), "your Siamese network"
    )
    if out.shape != (5, 3 * emb_size):
        raise AssertionError(
            f"On a batch of 5 triplets your network outputs shape {out.shape}; expected "
            f"(5, {3 * emb_size}): concatenate with keras.layers.Concatenate(axis=-1)."
        )
    wanted = [
        _to_numpy(embedding_model(image, training=False), "embedding_model") for image in images
    ]
    shown = []
    for j in range(3):
        part = out[:, j * emb_size : (j + 1) * emb_size]
        match = [k for k, e in enumerate(wanted) if np.allclose(part, e, atol=1e-5, rtol=1e-4)]
        if not match:
            raise AssertionError(
                f"The {_ordinal(j)} part of your output is not the embedding model's output for "
                "any of the three inputs: output exactly Concatenate(axis=-1)([e(anchor), "
                "e(positive), e(negative)]), with no extra layer."
            )
        shown.append(match[0])
    if len(set(shown)) < 3:
        repeated = ROLES[max(set(shown), key=shown.count)]
        raise AssertionError(
            f"Your output embeds the {repeated} {shown.count(ROLES.index(repeated))} times: call "
            "embedding_model on each of the three inputs, anchor, positive and negative."
        )
    if shown != [0, 1, 2]:
        order = ", ".join(f"e({ROLES[k]})" for k in shown)
        raise AssertionError(
            f"Your output is [{order}]: the output must be [e(anchor), e(positive), "
            "e(negative)] in this order."
        )


# ----------------------------------------------------------------------------
# Notebook 7: the triplet loss
# ----------------------------------------------------------------------------

_FORMULA = "max(‖a−p‖² − ‖a−n‖² + alpha, 0)"

#: How the distance between two embeddings is reduced over the embedding dimension.
_DISTANCES = {
    "squared": lambda d: np.sum(d**2, axis=-1),
    "mean": lambda d: np.mean(d**2, axis=-1),
    "norm": lambda d: np.sqrt(np.sum(d**2, axis=-1)),
    "abs": lambda d: np.sum(np.abs(d), axis=-1),
}

_MISTAKES = {
    "mean": (
        "you averaged the squared differences over the embedding dimension; FaceNet sums them: "
        "use ops.sum(ops.square(anchor - positive), axis=-1), not ops.mean (the mean divides "
        "both distances by emb_size, which makes the margin emb_size times larger)"
    ),
    "norm": (
        "you used the distance ‖a−p‖ itself; the triplet loss uses the SQUARED distance ‖a−p‖²: "
        "drop the square root (ops.sqrt, ops.norm, ** 0.5), whose gradient is NaN when a = p, "
        "and use ops.sum(ops.square(anchor - positive), axis=-1)"
    ),
    "abs": (
        "you summed absolute differences |a−p| (an L1 distance); square them instead: "
        "ops.sum(ops.square(anchor - positive), axis=-1)"
    ),
    "swapped": (
        "you swapped the positive and the negative: the loss is ‖a−p‖² − ‖a−n‖² + alpha "
        "(positive distance first), with anchor = y_pred[:, :emb_size], "
        "positive = y_pred[:, emb_size:2 * emb_size], negative = y_pred[:, 2 * emb_size:]"
    ),
    "no_max": (
        "you forgot the max(·, 0): a triplet that already satisfies the margin must give 0, not "
        "a negative loss: wrap it in ops.maximum(..., 0.0)"
    ),
    "no_alpha": "you forgot to add the margin alpha: pos_dist - neg_dist + alpha",
}


def _reference_loss(
    y_pred: np.ndarray, alpha: float, *, distance="squared", swapped=False, clamp=True, margin=True
) -> np.ndarray:
    """FaceNet's triplet loss in numpy, or one of its classic mistakes."""
    y_pred = np.asarray(y_pred, np.float64)
    emb = y_pred.shape[-1] // 3
    anchor, positive, negative = y_pred[:, :emb], y_pred[:, emb : 2 * emb], y_pred[:, 2 * emb :]
    pos_dist = _DISTANCES[distance](anchor - positive)
    neg_dist = _DISTANCES[distance](anchor - negative)
    if swapped:
        pos_dist, neg_dist = neg_dist, pos_dist
    loss = pos_dist - neg_dist + (alpha if margin else 0.0)
    return np.maximum(loss, 0.0) if clamp else loss


def _triplet_batch(emb_size: int, batch: int, seed: int) -> np.ndarray:
    """Embeddings whose losses mix zeros and positive values, with squared distances near 1."""
    rng = np.random.default_rng(seed)
    anchor = rng.normal(size=(batch, emb_size)) / np.sqrt(emb_size)
    spread = rng.uniform(0.2, 1.0, size=(2, batch, 1)) / np.sqrt(emb_size)
    positive = anchor + rng.normal(size=(batch, emb_size)) * spread[0]
    negative = anchor + rng.normal(size=(batch, emb_size)) * spread[1]
    return np.concatenate([anchor, positive, negative], axis=1).astype(np.float32)


def _run_loss(triplet_loss, y_pred: np.ndarray, hint: str, **alpha) -> np.ndarray:
    ops = keras.ops
    y_true = ops.convert_to_tensor(np.zeros_like(y_pred))
    out = _call(
        triplet_loss,
        "triplet_loss",
        y_true,
        ops.convert_to_tensor(y_pred),
        hint=hint,
        explain=_explain_alpha_error,
        **alpha,
    )
    return _to_numpy(out, "Your triplet_loss").astype(np.float64)


def _explain_alpha_error(exc: BaseException) -> str | None:
    if isinstance(exc, TypeError) and "alpha" in str(exc):
        return (
            f"Your triplet_loss does not accept alpha ({_error_text(exc)}): keep the signature "
            "def triplet_loss(y_true, y_pred, alpha=0.2)."
        )
    return None


def check_triplet_loss(triplet_loss: Callable) -> None:
    """Check ``triplet_loss(y_true, y_pred, alpha=0.2)`` against FaceNet's formula in numpy.

    Examples
    --------
    >>> checks.check_triplet_loss(triplet_loss)
    ✅ Your triplet loss matches FaceNet's on 5 random batches ...
    """
    _require_function(triplet_loss, "triplet_loss", "check_triplet_loss")
    y_pred = _triplet_batch(64, 16, seed=0)
    hint = "it was called on y_pred of shape (16, 192) (emb_size 64) with alpha=0.2"
    out = _run_loss(triplet_loss, y_pred, hint, alpha=0.2)
    _check_loss_shape(out, y_pred, 0.2)
    _check_loss_values(out, y_pred, 0.2)
    _check_alpha(triplet_loss)
    _check_emb_size(triplet_loss)
    gradient = (
        ", and its gradient stays finite when a = p = n" if _check_gradient(triplet_loss) else ""
    )
    _passed(
        "Your triplet loss matches FaceNet's on 5 random batches (embedding sizes 64, 5 and 2, "
        f"three margins){gradient}. Well done!"
    )


def _check_loss_shape(out: np.ndarray, y_pred: np.ndarray, alpha: float) -> None:
    batch, emb = len(y_pred), y_pred.shape[-1] // 3
    if out.size == 1 and out.ndim <= 1:
        raise AssertionError(_scalar_loss_message(float(out.ravel()[0]), y_pred, alpha))
    if out.shape == (emb,):
        raise AssertionError(
            f"Your loss has shape {out.shape}, one value per embedding coordinate: you reduced "
            "over axis=0 (the batch). Sum the squared differences over the embedding "
            "dimension instead, axis=-1, to get one loss per triplet."
        )
    if out.shape == (batch, 1):
        raise AssertionError(
            f"Your loss has shape {out.shape}: return one value per triplet, shape ({batch},), "
            "without the extra axis (drop keepdims=True)."
        )
    if out.shape != (batch,):
        raise AssertionError(
            f"Your loss has shape {out.shape}; expected ({batch},), one loss per triplet "
            f"(y_pred had shape {y_pred.shape})."
        )
    if not np.isfinite(out).all():
        raise AssertionError("Your triplet loss returned NaN or inf on ordinary embeddings.")


def _scalar_loss_message(value: float, y_pred: np.ndarray, alpha: float) -> str:
    correct = _reference_loss(y_pred, alpha)
    whole = y_pred.reshape(1, -1, 3, y_pred.shape[-1] // 3).transpose(0, 2, 1, 3)
    whole = whole.reshape(1, -1)  # every triplet's [a | p | n] as one long row
    if np.isclose(value, _reference_loss(whole, alpha)[0], rtol=1e-4):
        what = (
            "you summed the squared differences over the whole batch (no axis): sum over the "
            "embedding dimension only, ops.sum(..., axis=-1)"
        )
    elif np.isclose(value, correct.mean(), rtol=1e-4):
        what = "you averaged the losses over the batch: drop that final ops.mean, Keras does it"
    elif np.isclose(value, correct.sum(), rtol=1e-4):
        what = "you summed the losses over the batch: drop that final ops.sum"
    else:
        what = "reduce over the embedding dimension only, axis=-1"
    return (
        f"Your triplet loss returned a single number for the whole batch; it must return one "
        f"loss per triplet, shape (batch,) — Keras averages them itself. Here {what}."
    )


def _check_loss_values(out: np.ndarray, y_pred: np.ndarray, alpha: float) -> None:
    if np.allclose(out, _reference_loss(y_pred, alpha), rtol=1e-4, atol=_ATOL):
        return
    if np.allclose(out, alpha, rtol=1e-4, atol=_ATOL):
        raise AssertionError(
            f"Your loss is {alpha} for every triplet, as if all embeddings were zero: you used "
            "y_true, which is only a dummy target of zeros. The embeddings are in y_pred."
        )
    found = [_MISTAKES[mistake] for mistake in _identify_mistakes(out, y_pred, alpha)]
    if len(found) == 1:
        raise AssertionError(f"{found[0][0].upper()}{found[0][1:]}.")
    if found:
        listed = "; ".join(f"({i}) {fix}" for i, fix in enumerate(found, start=1))
        raise AssertionError(
            f"Your triplet loss differs from FaceNet's {_FORMULA} in {len(found)} ways: {listed}."
        )
    reference = _reference_loss(y_pred, alpha)
    raise AssertionError(
        f"Your triplet loss gives {np.round(out[:3], 4).tolist()} on the first three triplets "
        f"where FaceNet's {_FORMULA} gives {np.round(reference[:3], 4).tolist()}. Split y_pred "
        "into three equal parts (emb_size = y_pred.shape[-1] // 3), compute "
        "pos_dist = ops.sum(ops.square(anchor - positive), axis=-1) (likewise neg_dist), then "
        "return ops.maximum(pos_dist - neg_dist + alpha, 0.0)."
    )


def _loss_variants() -> Iterator[tuple[list[str], dict]]:
    """Every combination of classic mistakes, with the options that reproduce it."""
    flags = product(_DISTANCES, (False, True), (True, False), (True, False))
    for distance, swapped, clamp, margin in flags:
        mistakes = [distance] if distance != "squared" else []
        mistakes += ["swapped"] * swapped + ["no_max"] * (not clamp) + ["no_alpha"] * (not margin)
        yield mistakes, {"distance": distance, "swapped": swapped, "clamp": clamp, "margin": margin}


def _identify_mistakes(out: np.ndarray, y_pred: np.ndarray, alpha: float) -> list[str]:
    """The smallest combination of classic mistakes that reproduces ``out``, if any."""
    for mistakes, options in sorted(_loss_variants(), key=lambda variant: len(variant[0])):
        reference = _reference_loss(y_pred, alpha, **options)
        if mistakes and np.allclose(out, reference, rtol=1e-4, atol=_ATOL):
            return mistakes
    return []


def _check_alpha(triplet_loss) -> None:
    y_pred = _triplet_batch(64, 16, seed=1)
    for alpha in (0.5, 1.0):
        out = _run_loss(triplet_loss, y_pred, f"it was called with alpha={alpha}", alpha=alpha)
        if np.allclose(out, _reference_loss(y_pred, alpha), rtol=1e-4, atol=_ATOL):
            continue
        if np.allclose(out, _reference_loss(y_pred, 0.2), rtol=1e-4, atol=_ATOL):
            raise AssertionError(
                f"With alpha={alpha} your loss is the same as with alpha=0.2: use the alpha "
                "argument instead of a fixed 0.2."
            )
        raise AssertionError(
            f"With alpha={alpha} your loss differs from FaceNet's {_FORMULA}: add the alpha "
            "argument as the margin."
        )
    y_pred = _triplet_batch(64, 12, seed=2)
    out = _run_loss(triplet_loss, y_pred, "it was called without alpha")
    if not np.allclose(out, _reference_loss(y_pred, 0.2), rtol=1e-4, atol=_ATOL):
        raise AssertionError(
            "Called without alpha, your loss should use the default margin 0.2: keep the "
            "signature def triplet_loss(y_true, y_pred, alpha=0.2)."
        )


def _check_emb_size(triplet_loss) -> None:
    for emb_size, batch, seed in ((5, 7, 3), (2, 9, 4)):
        y_pred = _triplet_batch(emb_size, batch, seed)
        fix = (
            f"compute the embedding size from y_pred, emb_size = y_pred.shape[-1] // 3, instead "
            f"of a fixed 64 or a global variable (it was called on y_pred of shape {y_pred.shape})."
        )
        try:
            out = _run_loss(triplet_loss, y_pred, "")
        except AssertionError as exc:
            raise AssertionError(
                f"Your triplet_loss works with 64-dimensional embeddings but fails with "
                f"{emb_size}-dimensional ones ({exc}): {fix}"
            ) from exc.__cause__
        if out.shape != (batch,) or not np.allclose(
            out, _reference_loss(y_pred, 0.2), rtol=1e-4, atol=_ATOL
        ):
            raise AssertionError(
                f"Your triplet_loss is right for 64-dimensional embeddings but wrong for "
                f"{emb_size}-dimensional ones: {fix}"
            )


def _check_gradient(triplet_loss) -> bool:
    """The gradient must exist (keras.ops, not numpy) and be finite when a = p = n.

    Returns False, without checking, on a backend other than TensorFlow.
    """
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    base = np.random.default_rng(9).normal(size=(4, 8)).astype(np.float32)
    y_pred = tf.convert_to_tensor(np.concatenate([base, base, base], axis=1))
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        loss = _call(
            triplet_loss,
            "triplet_loss",
            tf.zeros_like(y_pred),
            y_pred,
            alpha=0.2,
            hint="it was called on a batch where anchor = positive = negative",
        )
        total = tf.reduce_sum(tf.convert_to_tensor(loss))
    grad = tape.gradient(total, y_pred)
    if grad is None:
        raise AssertionError(
            "Keras cannot compute the gradient of your loss: it leaves the tensor world (numpy "
            "functions, .numpy(), float(...)). Write it with keras.ops only: ops.sum, "
            "ops.square, ops.maximum."
        )
    if not np.all(np.isfinite(grad.numpy())):
        raise AssertionError(
            "Your loss values are right, but its gradient is NaN when anchor = positive = "
            "negative: a square root (** 0.5, ops.sqrt, ops.norm) has an infinite slope at 0, "
            "even if you square it again. Compute ops.sum(ops.square(anchor - positive), axis=-1) "
            "directly, as FaceNet does, with no square root."
        )
    return True

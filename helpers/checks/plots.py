"""Self-check of notebook 03 (plotting examples): ``plot_triplets``.

``check_plot_triplets`` checks the exercise that draws an anchor, a positive and
a negative side by side, each titled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._shared import PIXELS, ROLES, call_learner, explain_when, ordinal, passed, require_function


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

    require_function(plot_triplets, "plot_triplets", "check_plot_triplets")
    examples = _synthetic_triplet()
    plt.close("all")
    show = plt.show
    plt.show = _no_show  # a figure closed by plt.show() could no longer be checked
    try:
        result = call_learner(
            plot_triplets,
            "plot_triplets",
            [e.copy() for e in examples],
            hint="it was called with a list of three flattened (784,) images",
            explain=_explain_plot_error,
        )
        fig = _find_figure(result, [plt.figure(num) for num in plt.get_fignums()])
        axes = _axes_showing_images(fig)
        _check_drawn_images(axes, examples)
        _check_titles(axes)
    finally:
        plt.show = show
        plt.close("all")
    passed(
        "Your plot_triplets shows the anchor, the positive and the negative side by side, "
        "each titled. Well done!"
    )


def _no_show(*args, **kwargs) -> None:
    return None


_explain_plot_error = explain_when(
    TypeError,
    "Invalid shape",
    "imshow cannot draw a flat vector ({error}): reshape each image to "
    "(28, 28) first, e.g. plt.imshow(examples[i].reshape(28, 28), cmap='binary').",
)


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


def _axes_showing_images(fig) -> list:
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


def _check_drawn_images(axes: list, examples: list[np.ndarray]) -> None:
    shown = []
    for i, ax in enumerate(axes):
        image = np.ma.getdata(ax.get_images()[-1].get_array())
        if image.shape[:2] != (28, 28):
            raise AssertionError(
                f"The {ordinal(i)} image has shape {image.shape}, so it shows a strip of pixels "
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
                        f"The {ordinal(position)} image is transposed: reshape with "
                        ".reshape(28, 28) and don't add .T."
                    )
                return j
    raise AssertionError(
        f"The {ordinal(position)} image does not match any of the three images passed to "
        "plot_triplets: show examples[i].reshape(28, 28) unchanged."
    )


def _full_title(ax) -> str:
    return " ".join(ax.get_title(loc=loc) for loc in ("left", "center", "right")).strip()


def _check_titles(axes: list) -> None:
    titles = [_full_title(ax) for ax in axes]
    missing = [i for i, title in enumerate(titles) if not title]
    if missing:
        which = "images have" if len(missing) == 3 else f"{ordinal(missing[0])} image has"
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

"""Self-check of notebook 03 (plotting examples): ``plot_triplets``.

``check_plot_triplets`` checks the exercise that draws an anchor, a positive and
a negative side by side, each titled. It records every figure created during the
call, so a figure that was returned, shown, displayed or closed is found alike.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import numpy as np

from ._shared import PIXELS, ROLES, call_learner, explain_when, ordinal, passed, require_function


def _synthetic_triplet() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.random(PIXELS).astype(np.float32) for _ in ROLES]


def check_plot_triplets(plot_triplets: Callable) -> None:
    """Check that ``plot_triplets([a, p, n])`` draws three titled 28 × 28 images in a row.

    The function may return a Figure (or its axes), show it (``plt.show()``,
    ``fig.show()``, ``display(fig)``), close it afterwards, or leave it open: every
    figure created during the call is recorded, so all of these are found. Nothing
    is actually shown, and every pyplot figure is closed afterwards.

    Examples
    --------
    >>> checks.check_plot_triplets(plot_triplets)
    ✅ Your plot_triplets shows the anchor, the positive and the negative ...
    """
    import matplotlib.pyplot as plt

    require_function(plot_triplets, "plot_triplets", "check_plot_triplets")
    examples = _synthetic_triplet()
    plt.close("all")
    try:
        with _recording_figures(plot_triplets) as created:
            result = call_learner(
                plot_triplets,
                "plot_triplets",
                [e.copy() for e in examples],
                hint="it was called with a list of three flattened (784,) images",
                explain=_explain_plot_error,
            )
        fig = _find_figure(result, created)
        axes = _axes_showing_images(fig)
        _check_drawn_images(axes, examples)
        _check_titles(axes)
    finally:
        plt.close("all")
    passed(
        "Your plot_triplets shows the anchor, the positive and the negative side by side, "
        "each titled. Well done!"
    )


def _no_show(*args, **kwargs) -> None:
    return None


@contextlib.contextmanager
def _recording_figures(func) -> Iterator[list]:
    """Record every Figure created while the block runs; make showing and displaying no-ops.

    ``plt.show``, ``Figure.show`` and IPython's ``display`` (as a module attribute, a
    builtin, or a name in the learner's globals) do nothing meanwhile, so the check's
    synthetic images never appear in the notebook, and a figure closed afterwards can
    still be inspected.
    """
    import builtins

    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    created: list = []
    original_init = Figure.__init__

    @functools.wraps(original_init)
    def recording_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        created.append(self)

    patches = [(Figure, "__init__", recording_init), (Figure, "show", _no_show)]
    patches.append((plt, "show", _no_show))
    displays = []
    for module in _ipython_display_modules():
        displays.append(module.display)
        patches.append((module, "display", _no_show))
    if getattr(builtins, "display", None) in displays:
        patches.append((builtins, "display", _no_show))
    namespace = getattr(func, "__globals__", {})
    if any(namespace.get("display") is d for d in displays):
        patches.append((_DictSlot(namespace), "display", _no_show))
    saved = [(target, name, getattr(target, name)) for target, name, _ in patches]
    try:
        for target, name, value in patches:
            setattr(target, name, value)
        yield created
    finally:
        for target, name, value in reversed(saved):
            setattr(target, name, value)


def _ipython_display_modules() -> list:
    """The IPython modules that offer ``display`` (none without IPython)."""
    try:
        import IPython.display
        from IPython.core import display_functions
    except ImportError:
        return []
    return [m for m in (IPython.display, display_functions) if hasattr(m, "display")]


class _DictSlot:
    """A dict seen through getattr/setattr, so that it can be patched like a module."""

    def __init__(self, namespace: dict) -> None:
        object.__setattr__(self, "_namespace", namespace)

    def __getattr__(self, name: str):
        return self._namespace[name]

    def __setattr__(self, name: str, value) -> None:
        self._namespace[name] = value


_explain_plot_error = explain_when(
    TypeError,
    "Invalid shape",
    "imshow cannot draw a flat vector ({error}): reshape each image to "
    "(28, 28) first, e.g. plt.imshow(examples[i].reshape(28, 28), cmap='binary').",
)


def _figure_of(value):
    """The Figure that a returned value is or belongs to, or None."""
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if isinstance(value, Figure):
        return value
    if isinstance(value, Axes):
        return value.figure
    if isinstance(value, np.ndarray) and value.dtype == object and value.size:
        first = value.flat[0]
        if isinstance(first, Axes):
            return first.figure
    return None


def _find_figure(result, created: list):
    """The figure to check: the one returned, else the one created that shows images."""
    candidates = [result, *result] if isinstance(result, (tuple, list)) else [result]
    for value in candidates:
        fig = _figure_of(value)
        if fig is not None:
            return fig
    unique = list({id(fig): fig for fig in created}.values())
    drawn = [fig for fig in unique if any(ax.get_images() for ax in fig.axes)]
    if len(drawn) == 1:
        return drawn[0]
    if len(drawn) > 1:
        raise AssertionError(
            f"Your plot_triplets created {len(drawn)} separate figures: draw the three images "
            "in ONE figure, with one plt.figure() before the loop and plt.subplot(1, 3, i + 1) "
            "inside it (or fig, axes = plt.subplots(1, 3))."
        )
    if unique:
        return unique[-1]  # a figure without images: the next check says what is missing
    raise AssertionError(
        "Your plot_triplets drew nothing: create a figure and draw the three images, e.g. "
        "fig, axes = plt.subplots(1, 3, figsize=(6, 2)), then axes[i].imshow(...) for each "
        "image, and end with plt.show() (or return fig)."
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

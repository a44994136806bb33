"""Exercise 3.1, ``plot_triplets``: judged outside the kernel from what the figure holds.

The kernel draws, with three images the judge drew at random; a probe reports,
for every figure created during the call (and which one was returned), each
axes' position, the last image it shows and its titles. The judge then decides
as notebook 03's self-check does: one figure, three images side by side, each
the right example unchanged (28 × 28, not transposed), in the order anchor,
positive, negative, each titled with its role.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.remote import Remote

from ._base import Failed, require, unwrap

NAME = "plot_triplets"
ROLES = ("anchor", "positive", "negative")

#: Calls plot_triplets with nothing shown, and describes the figures it made (data only).
PROBE_FIGURES = """
def probe(namespace, examples):
    import matplotlib.pyplot as plt
    import numpy as np
    from helpers.checks.plots import _figure_of, _recording_figures

    function = namespace["plot_triplets"]
    plt.close("all")
    try:
        with _recording_figures(function) as created:
            result = function([np.array(e) for e in examples])

        candidates = [result, *result] if isinstance(result, (tuple, list)) else [result]
        returned = next((f for f in map(_figure_of, candidates) if f is not None), None)
        figures = list({id(f): f for f in created}.values())
        if returned is not None and all(f is not returned for f in figures):
            figures.append(returned)

        def describe(ax):
            box = ax.get_position()
            images = ax.get_images()
            last = np.ma.getdata(images[-1].get_array()) if images else None
            return {
                "box": [box.x0, box.y0, box.x1, box.y1],
                "images": len(images),
                "image": None if last is None else np.asarray(last, dtype=np.float64),
                "titles": [ax.get_title(loc=loc) for loc in ("left", "center", "right")],
            }

        return {
            "returned": None if returned is None else [f is returned for f in figures].index(True),
            "figures": [[describe(ax) for ax in f.axes] for f in figures],
        }
    finally:
        plt.close("all")
"""


def judge_plot_triplets(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``plot_triplets(examples)`` (raises ``Failed`` at the first mistake).

    Examples
    --------
    >>> judge_plot_triplets(remote, np.random.default_rng(0))  # a right answer: no error
    """
    examples = [rng.random(784).astype(np.float32) for _ in ROLES]
    report = unwrap(remote.probe(PROBE_FIGURES, examples), NAME)
    require(
        isinstance(report, dict) and isinstance(report.get("figures"), list),
        "plot_triplets: the kernel's description of the figure is malformed",
    )
    axes = _axes_with_images(_the_figure(report))
    order = []
    for position, ax in enumerate(axes):
        image = ax.get("image")
        require(
            isinstance(image, np.ndarray) and image.shape[:2] == (28, 28),
            f"The image at position {position + 1} is not 28 × 28: reshape each image to (28, 28).",
        )
        order.append(_which_example(image, examples, position))
    require(
        order == [0, 1, 2],
        "The images are not the anchor, the positive and the negative, in this order, "
        "left to right.",
    )
    for ax, role in zip(axes, ROLES, strict=True):
        titles = ax.get("titles")
        text = " ".join(t for t in titles if isinstance(t, str)) if isinstance(titles, list) else ""
        require(
            role in text.lower(),
            "The titles should say which image is which: 'Anchor', 'Positive', 'Negative'.",
        )


def _the_figure(report: dict) -> list:
    figures = report["figures"]
    returned = report.get("returned")
    if isinstance(returned, int) and 0 <= returned < len(figures):
        return figures[returned]
    drawn = [f for f in figures if isinstance(f, list) and any(_images(ax) for ax in f)]
    require(len(drawn) <= 1, "Your plot_triplets created several figures: draw in ONE figure.")
    if drawn:
        return drawn[0]
    require(bool(figures), "Your plot_triplets drew nothing.")
    return figures[-1] if isinstance(figures[-1], list) else []


def _images(ax) -> int:
    count = ax.get("images") if isinstance(ax, dict) else 0
    return count if isinstance(count, int) else 0


def _axes_with_images(figure: list) -> list:
    axes = [ax for ax in figure if _images(ax)]
    require(
        not (len(axes) == 1 and _images(axes[0]) > 1),
        "All images are drawn on the same axes: give each image its own axes.",
    )
    require(len(axes) == 3, f"Your figure shows {len(axes)} image(s), expected 3.")
    try:
        boxes = np.array([ax["box"] for ax in axes], dtype=np.float64).reshape(3, 4)
    except (KeyError, TypeError, ValueError):
        raise Failed("plot_triplets: the kernel's description of the figure is malformed") from None
    xs, ys = boxes[:, [0, 2]].mean(axis=1), boxes[:, [1, 3]].mean(axis=1)
    heights = boxes[:, 3] - boxes[:, 1]
    require(
        float(ys.max() - ys.min()) <= float(heights.min()) / 2,
        "Your three images are not in one row: use plt.subplot(1, 3, i + 1).",
    )
    return [axes[i] for i in np.argsort(xs, kind="stable")]


def _which_example(image: np.ndarray, examples: list, position: int) -> int:
    flat = image[:, :, 0] if image.ndim == 3 else image
    for transposed in (False, True):
        candidate = (flat.T if transposed else flat).ravel()
        for j, example in enumerate(examples):
            if candidate.std() > 0 and abs(np.corrcoef(candidate, example)[0, 1]) > 0.99:
                require(not transposed, f"The image at position {position + 1} is transposed.")
                return j
    raise Failed(
        f"The image at position {position + 1} does not match any of the three images passed "
        "to plot_triplets: show examples[i].reshape(28, 28) unchanged."
    )

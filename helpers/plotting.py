"""What a learner looks at: triplets, embeddings, training progress, retrieval and verification.

Every function returns a :class:`matplotlib.figure.Figure` built without
``pyplot``, so nothing is shown twice in Jupyter, no figure leaks in tests, and
everything works headless (Agg). In a notebook, a returned figure is shown when
it is the last expression of a cell, or with ``display(fig)``. This module uses
matplotlib and numpy only (no Keras): the callbacks that record training live in
:mod:`helpers.callbacks` and draw with the functions here.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ._validation import check_pairs, positive_int
from .metrics import nearest_neighbors, verification_scores

#: Okabe-Ito palette (colour-blind safe), extended to ten with grey and black.
DIGIT_COLORS = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2",
    "#D55E00", "#CC79A7", "#999999", "#000000", "#882255",
)  # fmt: skip
#: One marker per digit, so that the digits differ in shape as well as colour.
DIGIT_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
TRIPLET_TITLES = ("Anchor", "Positive", "Negative")


def _as_image(image) -> np.ndarray:
    """Turn a flattened (784,) or (28, 28[, 1]) image into a 2-D array."""
    image = np.asarray(image, dtype=float)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 1:
        side = int(round(np.sqrt(image.size)))
        if side * side != image.size:
            raise ValueError(
                f"a flattened image must have a square number of pixels (784 for MNIST), "
                f"got {image.size}"
            )
        image = image.reshape(side, side)
    if image.ndim != 2:
        raise ValueError(
            f"each image must be flattened (784,) or 2-D (28, 28), got shape {image.shape}"
        )
    return image


def plot_triplets(examples, *, labels=None) -> Figure:
    """Show an anchor, a positive and a negative side by side.

    Parameters
    ----------
    examples : sequence of three images
        ``[anchor, positive, negative]``, each flattened (784,) or (28, 28);
        e.g. one row of each array returned by ``create_batch``.
    labels : sequence of three ints, optional
        Their digits, added to the titles.

    Returns
    -------
    matplotlib.figure.Figure
        One row of three axes titled "Anchor", "Positive" and "Negative".

    Examples
    --------
    >>> a, p, n = create_batch(x_train, y_train, batch_size=1, rng=0)
    >>> fig = plot_triplets([a[0], p[0], n[0]])
    """
    if isinstance(examples, np.ndarray) and examples.ndim >= 2:
        examples = list(examples)
    if not isinstance(examples, (list, tuple)):
        raise TypeError(
            f"examples must be a list of three images [anchor, positive, negative], "
            f"got {type(examples).__name__}"
        )
    if len(examples) != 3:
        raise ValueError(
            f"plot_triplets needs exactly 3 images (anchor, positive, negative), got "
            f"{len(examples)}; for a batch, pass [a[i], p[i], n[i]]"
        )
    if labels is not None and len(labels) != 3:
        raise ValueError(f"labels must hold 3 digits, one per image, got {len(labels)}")
    images = [_as_image(image) for image in examples]

    fig = Figure(figsize=(6, 2.4), layout="constrained")
    axes = fig.subplots(1, 3)
    for i, (ax, image) in enumerate(zip(axes, images, strict=True)):
        ax.imshow(image, cmap="binary")
        title = TRIPLET_TITLES[i] if labels is None else f"{TRIPLET_TITLES[i]}: {int(labels[i])}"
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def pca_2d(embeddings, reference=None) -> np.ndarray:
    """Project embeddings onto their first two principal components.

    The sign of each axis is fixed so that the picture does not flip: with a
    ``reference`` projection of the same points (e.g. the previous epoch's),
    each axis is oriented to agree with it; without one, so that the largest
    loading of each component is positive.

    Parameters
    ----------
    embeddings : array of shape (n, d), d >= 2
    reference : array of shape (n, 2), optional

    Returns
    -------
    array of shape (n, 2)
    """
    from sklearn.decomposition import PCA

    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[1] < 2 or embeddings.shape[0] < 2:
        raise ValueError(
            f"embeddings must have shape (n, d) with n >= 2 points and d >= 2 dimensions, "
            f"got {embeddings.shape}"
        )
    if not np.isfinite(embeddings).all():
        raise ValueError("embeddings contain NaN or inf; check the model's output")
    pca = PCA(n_components=2, svd_solver="full").fit(embeddings)
    coords = pca.transform(embeddings)
    if reference is None:
        biggest = np.abs(pca.components_).argmax(axis=1)
        signs = np.sign(pca.components_[np.arange(2), biggest])
    else:
        signs = np.sign(np.sum(coords * np.asarray(reference), axis=0))
    signs[signs == 0] = 1.0
    return coords * signs


def _scatter_digits(ax, coords: np.ndarray, labels: np.ndarray, *, size: float = 12) -> None:
    for digit in np.unique(labels):
        mask = labels == digit
        ax.scatter(
            coords[mask, 0],
            coords[mask, 1],
            s=size,
            color=DIGIT_COLORS[int(digit) % 10],
            marker=DIGIT_MARKERS[int(digit) % 10],
            label=str(digit),
            alpha=0.8,
            linewidths=0,
        )


def plot_embeddings(embeddings, labels, *, ax=None) -> Figure:
    """Scatter embeddings in 2-D (PCA), one colour and marker per digit.

    Parameters
    ----------
    embeddings : array of shape (n, d)
        E.g. ``embedding_model.predict(x_test)``.
    labels : array of shape (n,)
        Integer labels, used for colour, marker and legend.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure that holds the scatter.

    Examples
    --------
    >>> fig = plot_embeddings(model.predict(x_test[:500]), y_test[:500])
    """
    embeddings = np.asarray(embeddings)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(embeddings):
        raise ValueError(
            f"labels must be 1-D with one label per embedding: got {labels.shape} labels "
            f"for {len(embeddings)} embeddings"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    coords = pca_2d(embeddings)
    if ax is None:
        fig = Figure(figsize=(5.5, 4.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    _scatter_digits(ax, coords, labels)
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.set_title("Embeddings (PCA)")
    ax.legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=1.5)
    return fig


def plot_embedding_snapshots(
    epochs, losses, snapshots, labels, *, max_snapshots: int = 4
) -> Figure:
    """Draw a loss curve and up to ``max_snapshots`` 2-D snapshots of an embedding.

    The snapshots are spread evenly over training, always including the last and,
    when ``max_snapshots >= 2``, the first (before training). This is what
    :class:`helpers.callbacks.EmbeddingPlotter` draws from what it recorded.

    Parameters
    ----------
    epochs : sequence of int
        The epoch of each snapshot; 0 means before training.
    losses : sequence of float
        The training loss at each snapshot (the first, before training, is not drawn).
    snapshots : sequence of arrays of shape (n, 2)
        2-D coordinates of the same n examples at each snapshot.
    labels : int array of shape (n,)
        The examples' digits.
    max_snapshots : int
        At least 1.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_embedding_snapshots([0, 1], [nan, 0.1], [coords0, coords1], y_small)
    """
    if not len(snapshots):
        raise ValueError("nothing recorded yet; pass the plotter to fit(callbacks=[...]) first")
    max_snapshots = positive_int(max_snapshots, "max_snapshots")
    if not len(epochs) == len(losses) == len(snapshots):
        raise ValueError(
            f"epochs, losses and snapshots must have one entry per snapshot, got "
            f"{len(epochs)}, {len(losses)} and {len(snapshots)}"
        )
    last = len(snapshots) - 1
    if max_snapshots == 1:
        picks = np.array([last])
    else:
        picks = np.unique(np.linspace(0, last, max_snapshots).round().astype(int))
    fig = Figure(figsize=(3.2 * (len(picks) + 1) + 0.6, 3.3), layout="constrained")
    axes = fig.subplots(1, len(picks) + 1)
    loss_ax, snap_axes = axes[0], axes[1:]
    loss_ax.plot(epochs[1:], losses[1:], marker="o", color=DIGIT_COLORS[4])
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    loss_ax.set_title("Loss")
    if len(epochs) > 1:
        loss_ax.set_xticks(epochs[1:] if len(epochs) <= 11 else epochs[1::2])
    for ax, i in zip(snap_axes, picks, strict=True):
        _scatter_digits(ax, snapshots[i], np.asarray(labels), size=6)
        ax.set_title("before training" if epochs[i] == 0 else f"epoch {epochs[i]}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    snap_axes[-1].legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2)
    return fig


def plot_collapse_history(history: dict, *, margin: float, collapsed_at=None) -> Figure:
    """Draw the mean distance between probe embeddings and the loss against the epoch.

    This is what :class:`helpers.callbacks.CollapseMonitor` draws from its history.

    Parameters
    ----------
    history : dict of lists
        ``"epoch"``, ``"mean_distance"`` and ``"loss"``, one entry per check
        (the first, before training, has no loss).
    margin : float
        The loss of a collapsed embedding, drawn as a dashed line.
    collapsed_at : float, optional
        The epoch of a detected collapse, drawn as a dotted line.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_collapse_history(monitor.history, margin=0.2)
    """
    if not history.get("epoch"):
        raise ValueError("nothing recorded yet; pass the monitor to fit(callbacks=[...])")
    fig = Figure(figsize=(8.0, 3.2), layout="constrained")
    dist_ax, loss_ax = fig.subplots(1, 2)
    epochs, distances = history["epoch"], history["mean_distance"]
    dist_ax.plot(epochs, distances, marker="o", color=DIGIT_COLORS[4])
    low, high = min(distances), max(distances)
    if low > 0 and high > 10 * low:  # a log axis shows a shrink to 1 % best
        dist_ax.set_yscale("log")
    dist_ax.set_xlabel("epoch")
    dist_ax.set_ylabel("mean pairwise distance")
    dist_ax.set_title("Probe embeddings")
    loss_ax.plot(epochs[1:], history["loss"][1:], marker="o", color=DIGIT_COLORS[5])
    loss_ax.axhline(margin, color="0.4", linestyle="--", label=f"margin {margin:g}")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    loss_ax.set_title("Loss")
    if collapsed_at is not None:
        for ax in (dist_ax, loss_ax):
            ax.axvline(collapsed_at, color=DIGIT_COLORS[6], linestyle=":", label="collapse")
        dist_ax.legend(loc="best")
    loss_ax.legend(loc="best")
    return fig


# ----------------------------------------------------------- retrieval and verification
#: Okabe-Ito colours for right/wrong and same/different, never told apart by colour alone.
CORRECT_COLOR, WRONG_COLOR = "#009E73", "#D55E00"
SAME_COLOR, DIFFERENT_COLOR = "#0072B2", "#E69F00"


def _check_retrieved_images(images, labels, emb, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate images, their integer labels and their embeddings; return images and labels."""
    images, labels, emb = np.asarray(images), np.asarray(labels), np.asarray(emb)
    if images.ndim not in (2, 3, 4):
        raise ValueError(
            f"{name}_images must be a stack of images, (n, 784) or (n, 28, 28), "
            f"got shape {images.shape}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"{name}_labels must be 1-D integer labels, got shape {labels.shape} and dtype "
            f"{labels.dtype}"
        )
    if not len(images) == len(labels) == len(emb):
        raise ValueError(
            f"{name}_images, {name}_labels and {name}_emb must have one row per example, got "
            f"{len(images)}, {len(labels)} and {len(emb)}"
        )
    return images, labels


def _framed_image(ax, image, title: str, color: str, *, linewidth: float = 3.0) -> None:
    """Show one image with a coloured frame and title."""
    ax.imshow(_as_image(image), cmap="binary")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(linewidth)
    ax.set_title(title, color=color, fontsize=10)


def plot_nearest_neighbors(
    query_images,
    query_labels,
    ref_images,
    ref_labels,
    query_emb,
    ref_emb,
    *,
    k: int = 5,
    n_queries: int = 8,
) -> Figure:
    """Show queries and the reference images nearest to them in embedding space.

    Each row is one query (left column, black frame) followed by its ``k``
    nearest references, nearest first. Each retrieved image is titled with
    its digit and a mark: a green frame and "✓" when it has the query's
    digit, a red frame and "✗" when not.

    Parameters
    ----------
    query_images : array of shape (n, 784) or (n, 28, 28)
    query_labels : int array of shape (n,)
    ref_images : array of shape (m, 784) or (m, 28, 28)
        Where to search, e.g. the training images.
    ref_labels : int array of shape (m,)
    query_emb, ref_emb : arrays of shape (n, d) and (m, d)
        The embeddings of those images, e.g. ``model.predict(query_images)``.
    k : int
        Neighbours shown per query.
    n_queries : int
        Rows; the first ``n_queries`` queries (all of them if there are fewer).

    Returns
    -------
    matplotlib.figure.Figure
        ``min(n, n_queries)`` rows of ``k + 1`` image axes.

    Examples
    --------
    >>> fig = plot_nearest_neighbors(x_test, y_test, x_train, y_train,
    ...                              model.predict(x_test), model.predict(x_train), k=5)
    """
    n_queries = positive_int(n_queries, "n_queries")
    query_images, query_labels = _check_retrieved_images(
        query_images, query_labels, query_emb, "query"
    )
    ref_images, ref_labels = _check_retrieved_images(ref_images, ref_labels, ref_emb, "ref")
    n_rows = min(n_queries, len(query_images))
    indices, _ = nearest_neighbors(np.asarray(query_emb)[:n_rows], ref_emb, k=k)

    fig = Figure(figsize=(1.15 * (k + 1) + 0.2, 1.35 * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, k + 1, squeeze=False)
    for row in range(n_rows):
        digit = int(query_labels[row])
        _framed_image(axes[row, 0], query_images[row], f"query: {digit}", "black", linewidth=1.5)
        axes[row, 0].title.set_fontweight("bold")
        for col, ref in enumerate(indices[row], start=1):
            found = int(ref_labels[ref])
            ok = found == digit
            mark = "\u2713" if ok else "\u2717"
            color = CORRECT_COLOR if ok else WRONG_COLOR
            _framed_image(axes[row, col], ref_images[ref], f"#{col}: {found} {mark}", color)
    fig.suptitle(f"Each query (left) and its {k} nearest references (\u2713 same digit)")
    return fig


def _threshold_or_best(distances, is_same, threshold) -> tuple[float, str]:
    """The threshold to draw and how to name it; ``None`` means the best-F1 threshold."""
    if threshold is None:
        return verification_scores(distances, is_same)["best_threshold"], "best-F1 threshold"
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
        raise TypeError(f"threshold must be a number or None, got {type(threshold).__name__}")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite distance, got {threshold}")
    return float(threshold), "threshold"


def plot_roc(distances, is_same, *, threshold=None, log_x: bool = False) -> Figure:
    """Draw the ROC curve of "same digit when distance <= threshold".

    The curve shows, for every threshold, the share of same pairs accepted
    (true positive rate) against the share of different pairs accepted (false
    positive rate). The equal-error-rate point (where FPR = 1 - TPR) and the
    operating point of ``threshold`` are marked; the legend gives the AUC.

    Parameters
    ----------
    distances : float array of shape (n_pairs,)
    is_same : bool array of shape (n_pairs,)
        E.g. the output of ``sample_pairs``.
    threshold : float, optional
        The distance threshold to mark; by default the one with the best F1.
    log_x : bool
        Logarithmic FPR axis, to read the low false-accept region.

    Returns
    -------
    matplotlib.figure.Figure
        One axes.

    Examples
    --------
    >>> distances, is_same = sample_pairs(emb_test, y_test, 2000, rng=0)
    >>> fig = plot_roc(distances, is_same)
    """
    from sklearn.metrics import roc_curve

    distances, is_same = check_pairs(distances, is_same)
    threshold, name = _threshold_or_best(distances, is_same, threshold)
    scores = verification_scores(distances, is_same)
    fpr, tpr, _ = roc_curve(is_same, -distances)
    op_fpr = float(np.mean(distances[~is_same] <= threshold))
    op_tpr = float(np.mean(distances[is_same] <= threshold))
    eer = scores["eer"]

    fig = Figure(figsize=(5.2, 4.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, color=SAME_COLOR, linewidth=2, label=f"ROC (AUC = {scores['roc_auc']:.3f})")
    grid = np.linspace(0, 1, 201)
    ax.plot(grid, grid, ":", color="grey", linewidth=1, label="chance")
    ax.plot(grid, 1 - grid, "--", color="grey", linewidth=1, alpha=0.6, label="FPR = FNR")
    ax.plot(eer, 1 - eer, "o", color=WRONG_COLOR, markersize=8, label=f"EER = {eer:.3f}")
    low = 0.5 / int((~is_same).sum())  # left edge of a log axis: half of one false positive
    ax.plot(
        max(op_fpr, low) if log_x else op_fpr,
        op_tpr,
        "s",
        color=CORRECT_COLOR,
        markersize=8,
        markeredgecolor="black",
        label=f"{name} {threshold:.3g}\n(TPR {op_tpr:.2f}, FPR {op_fpr:.2f})",
    )
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(low, 1.0)
    else:
        ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    to_axes = ax.transData + ax.transAxes.inverted()
    on_right = to_axes.transform((eer, 1 - eer))[0] > 0.7  # keep the label inside the axes
    ax.annotate(
        f"EER {eer:.3f}",
        (eer, 1 - eer),
        xytext=(-10, -8) if on_right else (10, -8),
        textcoords="offset points",
        ha="right" if on_right else "left",
        va="top",
        color=WRONG_COLOR,
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )
    ax.set_xlabel("false positive rate (different pairs called same)")
    ax.set_ylabel("true positive rate (same pairs called same)")
    ax.set_title("Verification ROC")
    ax.legend(loc="best" if log_x else "lower right", fontsize=9)
    return fig


def plot_distance_histograms(distances, is_same, *, threshold=None, bins: int = 40) -> Figure:
    """Compare the distances of same-digit pairs and different-digit pairs.

    A good embedding puts same pairs close (left) and different pairs far
    (right); the overlap of the two histograms is where any threshold errs.
    Each histogram is normalised to sum to 1, so unequal pair counts still
    compare. Same pairs are blue and filled, different pairs orange and
    hatched; the threshold is a dashed vertical line.

    Parameters
    ----------
    distances : float array of shape (n_pairs,)
    is_same : bool array of shape (n_pairs,)
    threshold : float, optional
        The distance threshold to draw; by default the one with the best F1.
    bins : int
        Number of bins, shared by both histograms.

    Returns
    -------
    matplotlib.figure.Figure
        One axes.

    Examples
    --------
    >>> distances, is_same = sample_pairs(emb_test, y_test, 2000, rng=0)
    >>> fig = plot_distance_histograms(distances, is_same, threshold=0.8)
    """
    from matplotlib.colors import to_rgba

    distances, is_same = check_pairs(distances, is_same)
    bins = positive_int(bins, "bins")
    threshold, name = _threshold_or_best(distances, is_same, threshold)
    edges = np.histogram_bin_edges(np.append(distances, threshold), bins=bins)
    same, different = distances[is_same], distances[~is_same]

    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for values, color, hatch, label in (
        (same, SAME_COLOR, None, "same digit"),
        (different, DIFFERENT_COLOR, "///", "different digits"),
    ):
        weights = np.full(len(values), 1.0 / len(values))
        ax.hist(
            values,
            bins=edges,
            weights=weights,
            histtype="stepfilled",
            facecolor=to_rgba(color, 0.35 if hatch is None else 0.12),
            edgecolor=to_rgba(color, 0.7),  # the colour of the hatch
            linewidth=0,
            hatch=hatch,
            label=f"{label} ({len(values)} pairs)",
        )
        ax.hist(values, bins=edges, weights=weights, histtype="step", color=color, linewidth=2)
    ax.axvline(
        threshold, color="black", linestyle="--", linewidth=1.5, label=f"{name} = {threshold:.3g}"
    )
    ax.set_xlabel("Euclidean distance between the two embeddings")
    ax.set_ylabel("share of pairs")
    ax.set_title("Pair distances")
    ax.legend(fontsize=9)
    return fig

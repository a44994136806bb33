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

from ._validation import as_array, check_pairs, positive_int
from .metrics import nearest_neighbors, verification_scores

#: Ten colours that stay apart from each other (matplotlib's tab10, in its order); every
#: digit also has its own marker (below), for readers who cannot tell some colours apart.
DIGIT_COLORS = (
    "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD",
    "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF",
)  # fmt: skip
#: One marker per digit, so that the digits differ in shape as well as colour.
DIGIT_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
TRIPLET_TITLES = ("Anchor", "Positive", "Negative")


def _as_image(image) -> np.ndarray:
    """Turn a flattened (784,) or (28, 28[, 1]) image into a 2-D array."""
    image = as_array(image, dtype=float)
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
    images = _three_images(examples, "plot_triplets", "examples")
    if labels is not None and len(labels) != 3:
        raise ValueError(f"labels must hold 3 digits, one per image, got {len(labels)}")

    fig = Figure(figsize=(6, 2.4), layout="constrained")
    axes = fig.subplots(1, 3)
    for i, (ax, image) in enumerate(zip(axes, images, strict=True)):
        ax.imshow(image, cmap="binary")
        title = TRIPLET_TITLES[i] if labels is None else f"{TRIPLET_TITLES[i]}: {int(labels[i])}"
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


# ----------------------------------------------------------------------------------------
# Diagrams of the Siamese network (notebooks 1 and 6)
# ----------------------------------------------------------------------------------------

#: One colour per role of a triplet (Okabe-Ito), as in the diagrams and the triplet plots.
ROLE_COLORS = {"anchor": "#0072B2", "positive": "#009E73", "negative": "#D55E00"}
_INK = "#333333"


def _three_images(examples, caller: str, name: str = "images") -> list[np.ndarray]:
    """Check ``[anchor, positive, negative]`` and return the three images as 2-D arrays."""
    if isinstance(examples, np.ndarray) and examples.ndim >= 2:
        examples = list(examples)
    if not isinstance(examples, (list, tuple)):
        raise TypeError(
            f"{caller}: {name} must be a list of three images [anchor, positive, negative], "
            f"got {type(examples).__name__}"
        )
    if len(examples) != 3:
        raise ValueError(
            f"{caller} needs exactly 3 images (anchor, positive, negative), got "
            f"{len(examples)}; for a batch, pass [a[i], p[i], n[i]]"
        )
    return [_as_image(image) for image in examples]


def _diagram(width: float, height: float, *, inches: float = 1.0):
    """A figure with one frameless axes over all of it, ``width`` by ``height`` data units.

    One data unit is ``inches`` inches in both directions, so boxes keep their shape.
    """
    fig = Figure(figsize=(width * inches, height * inches))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    return fig, ax


def _node(ax, nodes: dict, name: str, bounds, **patch) -> None:
    """A named rounded box at ``bounds = (x0, y0, width, height)``, remembered in ``nodes``."""
    from matplotlib.patches import FancyBboxPatch

    x0, y0, width, height = bounds
    box = FancyBboxPatch(
        (x0, y0), width, height, boxstyle="round,pad=0,rounding_size=0.12", gid=name, **patch
    )
    ax.add_patch(box)
    nodes[name] = (x0, y0, x0 + width, y0 + height)


def _image_node(ax, nodes: dict, name: str, bounds, image, color: str) -> None:
    """A named image in a coloured frame at ``bounds``, remembered in ``nodes``."""
    x0, y0, width, height = bounds
    image_ax = ax.inset_axes(bounds, transform=ax.transData)
    image_ax.set_gid(name)
    image_ax.imshow(image, cmap="binary")
    image_ax.set_xticks([])
    image_ax.set_yticks([])
    for spine in image_ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(2.5)
    nodes[name] = (x0, y0, x0 + width, y0 + height)


def _connect(ax, nodes: dict, source: str, target: str, *, leave=0.0, arrive=1.0, color=_INK):
    """An arrow from the right edge of ``source`` to the left edge of ``target``.

    It leaves ``source`` at its middle height moved by the share ``leave`` towards
    ``target``'s middle (arrows that fan out of one box), and meets ``target`` at
    its middle height moved by the share ``arrive`` towards the start (``arrive=1``:
    level with the start; ``0.3``: arrows of three rows converge on one box). Both
    ends stay on their box's edge.
    """
    sx0, sy0, sx1, sy1 = nodes[source]
    tx0, ty0, tx1, ty1 = nodes[target]
    source_middle, target_middle = (sy0 + sy1) / 2, (ty0 + ty1) / 2
    start_y = float(np.clip(source_middle + (target_middle - source_middle) * leave, sy0, sy1))
    end_y = float(np.clip(target_middle + (start_y - target_middle) * arrive, ty0, ty1))
    ax.annotate(
        "",
        xy=(tx0, end_y),
        xytext=(sx1, start_y),
        xycoords="data",
        arrowprops={
            "arrowstyle": "-|>",
            "mutation_scale": 14,
            "color": color,
            "linewidth": 1.3,
            "shrinkA": 0,
            "shrinkB": 0,
        },
        gid=f"{source}->{target}",
    )


def plot_siamese_diagram(images) -> Figure:
    """Draw the Siamese network of the course around one real triplet.

    Three images go through one shared embedding model, their embeddings are
    concatenated into one output, and the triplet loss turns that output into a
    number. Every box is an artist whose ``gid`` names it (``"input:anchor"``,
    ``"model:anchor"``, ``"embedding:anchor"``, ..., ``"concatenate"``, ``"loss"``),
    and every arrow is an annotation whose ``gid`` is ``"source->target"``.

    Parameters
    ----------
    images : sequence of three images
        ``[anchor, positive, negative]``, each flattened (784,) or (28, 28).

    Returns
    -------
    matplotlib.figure.Figure
        The diagram, on one axes without a frame.

    Examples
    --------
    >>> a, p, n = create_batch(x_train, y_train, batch_size=1, rng=0)
    >>> fig = plot_siamese_diagram([a[0], p[0], n[0]])
    """
    from matplotlib import colormaps
    from matplotlib.patches import FancyBboxPatch, Rectangle

    pictures = _three_images(images, "plot_siamese_diagram")
    fig, ax = _diagram(12.7, 5.6, inches=0.92)
    nodes: dict[str, tuple[float, float, float, float]] = {}
    rows = {"anchor": 4.35, "positive": 2.8, "negative": 1.25}
    box = {"facecolor": "white", "edgecolor": _INK, "linewidth": 1.2}

    # the Siamese network: everything between the inputs and the loss
    ax.add_patch(
        FancyBboxPatch(
            (1.85, 0.15),
            7.35,
            5.3,
            boxstyle="round,pad=0,rounding_size=0.25",
            facecolor="none",
            edgecolor=ROLE_COLORS["anchor"],
            linewidth=1.4,
            linestyle=(0, (5, 3)),
            gid="siamese",
        )
    )
    ax.text(
        5.5, 0.3, "Siamese network (Task 6): three inputs, one output", ha="center",
        va="bottom", fontsize=11, color=ROLE_COLORS["anchor"],
    )  # fmt: skip
    # the one embedding model, drawn once per input on a shared grey background
    _node(ax, {}, "shared", (2.1, 0.65, 2.2, 4.2), facecolor="#EEEEEE", edgecolor="#888888")
    ax.text(
        3.2, 5.13, "shared weights (Task 5)", ha="center", va="center", fontsize=10.5,
        style="italic", color="#444444",
    )  # fmt: skip
    cell_rng = np.random.default_rng(0)  # grey cells that stand for the numbers of an embedding
    greys = colormaps["Greys"]
    for (role, y), picture in zip(rows.items(), pictures, strict=True):
        color = ROLE_COLORS[role]
        _image_node(ax, nodes, f"input:{role}", (0.3, y - 0.55, 1.1, 1.1), picture, color)
        ax.text(0.85, y + 0.72, role, ha="center", va="center", fontsize=11, color=color,
                weight="bold")  # fmt: skip
        _node(ax, nodes, f"model:{role}", (2.45, y - 0.4, 1.5, 0.8), **box)
        ax.text(3.2, y, "embedding\nmodel $f$", ha="center", va="center", fontsize=10.5)
        for k, value in enumerate(cell_rng.random(8)):
            ax.add_patch(
                Rectangle((4.95 + 0.17 * k, y - 0.14), 0.17, 0.28, linewidth=1, edgecolor=color,
                          facecolor=greys(0.15 + 0.6 * value))
            )  # fmt: skip
        ax.add_patch(
            Rectangle((4.95, y - 0.14), 8 * 0.17, 0.28, fill=False, edgecolor=color,
                      linewidth=1.2, gid=f"embedding:{role}")
        )  # fmt: skip
        nodes[f"embedding:{role}"] = (4.95, y - 0.14, 4.95 + 8 * 0.17, y + 0.14)
        ax.text(5.63, y + 0.45, f"$f({role[0]})$", ha="center", va="center", fontsize=12,
                color=color)  # fmt: skip
    _node(ax, nodes, "concatenate", (7.2, 2.15, 1.6, 1.3), **box)
    ax.text(8.0, 2.8, "concatenate\n$[f(a), f(p), f(n)]$", ha="center", va="center",
            fontsize=10)  # fmt: skip
    _node(ax, nodes, "loss", (9.6, 2.15, 2.95, 1.3), **{**box, "facecolor": "#FFF4D6"})
    ax.text(11.075, 2.8, "triplet loss (Task 7)\n" r"$\max(d(a,p) - d(a,n) + \alpha,\ 0)$",
            ha="center", va="center", fontsize=10.5)  # fmt: skip
    ax.text(11.075, 1.75, r"$d(x, y) = \|f(x) - f(y)\|^2$", ha="center", va="center",
            fontsize=11)  # fmt: skip
    for role in rows:
        _connect(ax, nodes, f"input:{role}", f"model:{role}")
        _connect(ax, nodes, f"model:{role}", f"embedding:{role}")
        _connect(ax, nodes, f"embedding:{role}", "concatenate", arrive=0.3)
    _connect(ax, nodes, "concatenate", "loss")
    return fig


def plot_siamese_outputs(images, embeddings, *, n_weights: int | None = None) -> Figure:
    """Draw a triplet going through one shared embedding model into one output vector.

    Each image becomes its embedding (drawn as a strip of colours: red above
    zero, blue below), and the output stacks the three embeddings into one
    vector of ``3 * d`` numbers, in the order anchor, positive, negative. Every
    part is an artist whose ``gid`` names it (``"input:anchor"``, ``"model"``,
    ``"embedding:anchor"``, ..., ``"output"``); every arrow is an annotation
    whose ``gid`` is ``"source->target"``.

    Parameters
    ----------
    images : sequence of three images
        ``[anchor, positive, negative]``, each flattened (784,) or (28, 28).
    embeddings : array of shape (3, d)
        Their embeddings, one row per image, e.g. the three parts of a Siamese
        network's output for this triplet.
    n_weights : int, optional
        The number of weights of the embedding model, written in its box.

    Returns
    -------
    matplotlib.figure.Figure
        The diagram, on one axes without a frame.

    Examples
    --------
    >>> triplet = create_batch(x_train, y_train, batch_size=1, rng=1)
    >>> embeddings = [model.predict(images, verbose=0)[0] for images in triplet]
    >>> fig = plot_siamese_outputs([t[0] for t in triplet], embeddings, n_weights=121_280)
    """
    from matplotlib.patches import Rectangle

    pictures = _three_images(images, "plot_siamese_outputs")
    if isinstance(embeddings, (str, bytes)) or not hasattr(embeddings, "__len__"):
        raise TypeError(
            "embeddings must be an array of shape (3, d), one embedding per image, "
            f"got {type(embeddings).__name__}"
        )
    try:
        vectors = as_array(embeddings)
    except ValueError:  # rows of different lengths
        raise ValueError(
            "embeddings must have shape (3, d): three embeddings of the same length d, got rows "
            f"of lengths {[len(row) for row in embeddings]}"
        ) from None
    if vectors.dtype.kind not in "biuf":
        raise TypeError(f"embeddings must hold numbers, got dtype {vectors.dtype}")
    vectors = vectors.astype(float)
    if vectors.ndim != 2 or len(vectors) != 3 or vectors.shape[1] < 1:
        raise ValueError(
            f"embeddings must have shape (3, d), one row per image (anchor, positive, "
            f"negative), got shape {vectors.shape}"
        )
    if not np.isfinite(vectors).all():
        raise ValueError("embeddings contain NaN or inf; check the model's output")
    n_weights = positive_int(n_weights, "n_weights", optional=True)

    size = vectors.shape[1]
    largest = float(np.abs(vectors).max()) or 1.0  # one colour scale, symmetric around 0
    scale = {"cmap": "RdBu_r", "vmin": -largest, "vmax": largest, "aspect": "auto"}
    fig, ax = _diagram(11, 4.5)
    nodes: dict[str, tuple[float, float, float, float]] = {}
    rows = {"anchor": 3.4, "positive": 2.05, "negative": 0.7}

    _node(ax, nodes, "model", (3.3, 1.15, 2.5, 1.8), facecolor="#F0F0F0", edgecolor="black")
    weights = "" if n_weights is None else f"\n({n_weights:,} numbers)"
    ax.text(4.55, 2.05, f"embedding model $f$\n\none set of weights{weights}\nused 3 times",
            ha="center", va="center", fontsize=11)  # fmt: skip
    column = (9.9, 0.2, 0.3, 3.85)  # the output, one row per number, top to bottom
    output_ax = ax.inset_axes(column, transform=ax.transData)
    output_ax.set_gid("output")
    output_ax.imshow(vectors.reshape(-1, 1), **scale)
    output_ax.set_xticks([])
    output_ax.set_yticks([0, size, 2 * size, 3 * size - 1])
    output_ax.tick_params(labelsize=9)
    nodes["output"] = (column[0], column[1], column[0] + column[2], column[1] + column[3])
    ax.text(10.05, 4.22, f"output: {3 * size} numbers", ha="center", va="center", fontsize=10.5)
    block = column[3] / 3
    for k, ((role, y), picture, vector) in enumerate(
        zip(rows.items(), pictures, vectors, strict=True)
    ):
        color = ROLE_COLORS[role]
        _image_node(ax, nodes, f"input:{role}", (0.35, y - 0.5, 1.0, 1.0), picture, color)
        ax.text(0.85, y + 0.65, role, ha="center", va="center", fontsize=11, color=color)
        strip = (6.9, y - 0.15, 2.2, 0.3)
        strip_ax = ax.inset_axes(strip, transform=ax.transData)
        strip_ax.set_gid(f"embedding:{role}")
        strip_ax.imshow(vector[None, :], **scale)
        strip_ax.set_xticks([0, size - 1])
        strip_ax.set_yticks([])
        strip_ax.tick_params(labelsize=9)
        for spine in strip_ax.spines.values():
            spine.set(color=color, linewidth=2)
        nodes[f"embedding:{role}"] = (strip[0], strip[1], strip[0] + strip[2], strip[1] + strip[3])
        ax.text(8.0, y + 0.33, f"$f$({role}): {size} numbers", ha="center", va="bottom",
                fontsize=10.5, color=color)  # fmt: skip
        top = column[1] + column[3] - k * block  # this role's block of the output, on its right
        ax.add_patch(Rectangle((10.22, top - block), 0.1, block, facecolor=color, edgecolor="none"))
        _connect(ax, nodes, f"input:{role}", "model", arrive=0.4)
        _connect(ax, nodes, "model", f"embedding:{role}", leave=0.4, arrive=0.0)
        _connect(ax, nodes, f"embedding:{role}", "output", color=color)
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

    embeddings = as_array(embeddings, dtype=np.float64)
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
        signs = np.sign(np.sum(coords * as_array(reference), axis=0))
    signs[signs == 0] = 1.0
    return coords * signs


def _scatter_digits(
    ax, coords: np.ndarray, labels: np.ndarray, *, size: float = 12, centre_labels: bool = True
) -> None:
    """One colour and marker per digit; the digit itself written at the median of its points."""
    import matplotlib.patheffects as effects

    for digit in np.unique(labels):
        mask = labels == digit
        ax.scatter(
            coords[mask, 0],
            coords[mask, 1],
            s=size,
            color=DIGIT_COLORS[int(digit) % 10],
            marker=DIGIT_MARKERS[int(digit) % 10],
            label=str(digit),
            alpha=0.75,
            linewidths=0,
        )
    if centre_labels:
        for digit in np.unique(labels):
            x, y = np.median(coords[labels == digit], axis=0)
            ax.text(
                x, y, str(digit), ha="center", va="center", fontsize=13, fontweight="bold",
                color=DIGIT_COLORS[int(digit) % 10],
                path_effects=[effects.withStroke(linewidth=3, foreground="white")],
            )  # fmt: skip


def shared_pca_2d(snapshots) -> list[np.ndarray]:
    """Project several snapshots of the same points with ONE projection, so they compare.

    The two principal directions are those of the last snapshot (the trained
    embedding), each oriented so that its largest loading is positive; every
    snapshot is centred on the last one's mean and projected onto them.

    Parameters
    ----------
    snapshots : sequence of arrays of shape (n, d), d >= 2
        The same n points at several moments, e.g. before training and after each epoch.

    Returns
    -------
    list of arrays of shape (n, 2)

    Examples
    --------
    >>> before, after = shared_pca_2d([emb_before, emb_after])
    """
    if isinstance(snapshots, np.ndarray) and snapshots.ndim == 2:
        raise TypeError("snapshots must be a sequence of (n, d) arrays, e.g. [emb_0, emb_1]")
    arrays = [as_array(s, dtype=np.float64) for s in snapshots]
    if not arrays:
        raise ValueError("snapshots is empty; pass at least one (n, d) array")
    last = arrays[-1]
    if last.ndim != 2 or last.shape[0] < 2 or last.shape[1] < 2:
        raise ValueError(
            f"each snapshot must have shape (n, d) with n >= 2 points and d >= 2, got {last.shape}"
        )
    if any(a.shape != last.shape for a in arrays):
        raise ValueError(
            f"every snapshot must hold the same points: shapes {[a.shape for a in arrays]}"
        )
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError("snapshots contain NaN or inf; check the model's output")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, svd_solver="full").fit(last)
    biggest = np.abs(pca.components_).argmax(axis=1)
    signs = np.sign(pca.components_[np.arange(2), biggest])
    signs[signs == 0] = 1.0
    return [pca.transform(a) * signs for a in arrays]


def tsne_2d(embeddings, *, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """A 2-D t-SNE map of embeddings (scikit-learn): neighbours stay neighbours.

    Unlike PCA, t-SNE keeps each point's nearest neighbours together, so clusters
    that are apart in 64-D show apart; distances *between* clusters mean little.

    Parameters
    ----------
    embeddings : array of shape (n, d), n > perplexity
    seed : int
        Seeds t-SNE's random start: the same seed gives the same map.
    perplexity : float
        About how many neighbours each point keeps close.

    Returns
    -------
    array of shape (n, 2)

    Examples
    --------
    >>> coords = tsne_2d(embedding_model.predict(x_small), seed=0)
    """
    embeddings = as_array(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[1] < 2:
        raise ValueError(f"embeddings must have shape (n, d) with d >= 2, got {embeddings.shape}")
    if not embeddings.shape[0] > perplexity:
        raise ValueError(
            f"t-SNE needs more points than its perplexity ({perplexity:g}); got "
            f"{embeddings.shape[0]} points: pass more, or a smaller perplexity"
        )
    if not np.isfinite(embeddings).all():
        raise ValueError("embeddings contain NaN or inf; check the model's output")
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        embeddings
    )


def plot_embeddings(embeddings, labels, *, ax=None, method: str = "pca", seed: int = 0) -> Figure:
    """Scatter embeddings in 2-D (PCA or t-SNE), one colour and marker per digit.

    Parameters
    ----------
    embeddings : array of shape (n, d)
        E.g. ``embedding_model.predict(x_test)``.
    labels : array of shape (n,)
        Integer labels, used for colour, marker and legend.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.
    method : {"pca", "t-sne"}
        ``"pca"`` (:func:`pca_2d`: the two directions of largest spread) or ``"t-sne"``
        (:func:`tsne_2d`: keeps neighbours together, so it shows the clusters).
    seed : int
        t-SNE's seed.

    Returns
    -------
    matplotlib.figure.Figure
        The figure that holds the scatter.

    Examples
    --------
    >>> fig = plot_embeddings(model.predict(x_test[:500]), y_test[:500], method="t-sne")
    """
    if method not in ("pca", "t-sne"):
        raise ValueError(f"method must be 'pca' or 't-sne', got {method!r}")
    embeddings = as_array(embeddings)
    labels = as_array(labels)
    if labels.ndim != 1 or len(labels) != len(embeddings):
        raise ValueError(
            f"labels must be 1-D with one label per embedding: got {labels.shape} labels "
            f"for {len(embeddings)} embeddings"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    coords = pca_2d(embeddings) if method == "pca" else tsne_2d(embeddings, seed=seed)
    if ax is None:
        fig = Figure(figsize=(6.5, 5.2), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    _scatter_digits(ax, coords, labels, size=18)
    if method == "pca":
        ax.set_xlabel("principal component 1")
        ax.set_ylabel("principal component 2")
        ax.set_title("Embeddings (PCA)")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("Embeddings (t-SNE: neighbours kept together)")
    ax.legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=1.5)
    return fig


def plot_embedding_snapshots(
    epochs, losses, snapshots, labels, *, max_snapshots: int = 4
) -> Figure:
    """Draw a loss curve and up to ``max_snapshots`` 2-D pictures of an embedding in training.

    The snapshots are spread evenly over training, always including the last and,
    when ``max_snapshots >= 2``, the first (before training). All of them are drawn
    with ONE projection (:func:`shared_pca_2d`: the principal directions of the last
    snapshot) and on the same axis limits, so that the panels can be compared: what
    moves between them is the embedding, not the view. This is what
    :class:`helpers.callbacks.EmbeddingPlotter` draws from what it recorded.

    Parameters
    ----------
    epochs : sequence of int
        The epoch of each snapshot; 0 means before training.
    losses : sequence of float
        The training loss at each snapshot (the first, before training, is not drawn).
    snapshots : sequence of arrays of shape (n, d)
        The embeddings of the same n examples at each snapshot (d >= 2).
    labels : int array of shape (n,)
        The examples' digits.
    max_snapshots : int
        At least 1.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_embedding_snapshots([0, 1], [nan, 0.1], [emb_before, emb_after], y_small)
    """
    if not len(snapshots):
        raise ValueError("nothing recorded yet; pass the plotter to fit(callbacks=[...]) first")
    max_snapshots = positive_int(max_snapshots, "max_snapshots")
    if not len(epochs) == len(losses) == len(snapshots):
        raise ValueError(
            f"epochs, losses and snapshots must have one entry per snapshot, got "
            f"{len(epochs)}, {len(losses)} and {len(snapshots)}"
        )
    labels = as_array(labels)
    last = len(snapshots) - 1
    if max_snapshots == 1:
        picks = np.array([last])
    else:
        picks = np.unique(np.linspace(0, last, max_snapshots).round().astype(int))
    coords = shared_pca_2d([snapshots[i] for i in picks])
    if len(labels) != len(coords[0]):
        raise ValueError(f"labels has {len(labels)} entries for {len(coords[0])} examples")
    # the loss on the left; the pictures in one row (up to 2) or two rows (3 or 4, ...)
    rows = 1 if len(picks) <= 2 else 2
    cols = -(-len(picks) // rows)
    panel = 3.6 if rows == 1 else 3.4
    fig = Figure(figsize=(panel * (cols + 1.2) + 0.9, panel * rows + 0.3), layout="constrained")
    grid = fig.add_gridspec(rows, cols + 1, width_ratios=[1.2] + [1.0] * cols)
    loss_ax = fig.add_subplot(grid[:, 0])
    snap_axes = [fig.add_subplot(grid[k // cols, 1 + k % cols]) for k in range(len(picks))]
    loss_ax.plot(epochs[1:], losses[1:], marker="o", color=DIGIT_COLORS[0])
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss (mean over the epoch)")
    loss_ax.set_title("Loss")
    if len(epochs) > 1:
        loss_ax.set_xticks(epochs[1:] if len(epochs) <= 11 else epochs[1::2])
    everything = np.concatenate(coords)
    low, high = everything.min(axis=0), everything.max(axis=0)
    pad = 0.05 * (high - low + 1e-12)
    for ax, i, xy in zip(snap_axes, picks, coords, strict=True):
        _scatter_digits(ax, xy, labels, size=14)
        ax.set_title("before training" if epochs[i] == 0 else f"after epoch {epochs[i]}")
        ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
        ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("PC 1 of the last picture")
        ax.set_ylabel("PC 2")
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
    images, labels, emb = as_array(images), as_array(labels), as_array(emb)
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
    indices, _ = nearest_neighbors(as_array(query_emb)[:n_rows], ref_emb, k=k)

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


def plot_distance_histograms(
    distances,
    is_same,
    *,
    threshold=None,
    bins: int = 40,
    xlabel: str = "Euclidean distance between the two embeddings",
) -> Figure:
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
    xlabel : str
        What the distances are, e.g. ``"squared distance d"`` when you pass squared ones.

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

    fig = Figure(figsize=(7.6, 3.8), layout="constrained")
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
    if not isinstance(xlabel, str):
        raise TypeError(f"xlabel must be a string, got {type(xlabel).__name__}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of pairs")
    ax.set_title("Pair distances")
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # off the data
    return fig

"""What a learner looks at: triplets, embeddings and training progress.

Every function returns a :class:`matplotlib.figure.Figure` built without
``pyplot``, so nothing is shown twice in Jupyter, no figure leaks in tests, and
everything works headless (Agg). In a notebook, a returned figure is shown when
it is the last expression of a cell, or with ``display(fig)``.
"""

from __future__ import annotations

import keras
import numpy as np
from matplotlib.figure import Figure

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


def _in_jupyter() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class EmbeddingPlotter(keras.callbacks.Callback):
    """Keras callback that records how the embedding evolves during training.

    The successor of the original course's ``PCAPlotter``. At the start of
    training and after every epoch it embeds ``x``, projects it to 2-D with PCA
    (each axis oriented like the previous snapshot's, so nothing flips), and
    stores it with the epoch's loss. In Jupyter it redraws one figure in place
    while training; headless (scripts, CI) it stays silent. Call
    :meth:`plot` afterwards for the final picture.

    Parameters
    ----------
    embedding_model : keras.Model
        The model whose output is plotted.
    x : array
        A fixed set of examples to embed, e.g. 500 test images.
    y : array of shape (n,)
        Their integer labels.
    live : bool or None
        Redraw during training; ``None`` means "only inside Jupyter".

    Examples
    --------
    >>> plotter = EmbeddingPlotter(embedding_model, x_test[:500], y_test[:500])
    >>> siamese.fit(gen, steps_per_epoch=25, epochs=5, callbacks=[plotter])
    >>> fig = plotter.plot()
    """

    def __init__(self, embedding_model, x, y, *, live: bool | None = None):
        super().__init__()
        from ._validation import check_xy

        if not isinstance(embedding_model, keras.Model):
            raise TypeError(
                f"embedding_model must be a keras.Model, got {type(embedding_model).__name__}"
            )
        self.x, self.y = check_xy(x, y, min_classes=1)
        self.embedding_model = embedding_model
        self.live = live
        self.epochs: list[int] = []
        self.losses: list[float] = []
        self.snapshots: list[np.ndarray] = []
        self._handle = None

    def _record(self, epoch: int, loss) -> None:
        emb = np.asarray(self.embedding_model.predict(self.x, verbose=0))
        previous = self.snapshots[-1] if self.snapshots else None
        self.snapshots.append(pca_2d(emb, reference=previous))
        self.epochs.append(epoch)
        self.losses.append(float("nan") if loss is None else float(loss))
        if self.live if self.live is not None else _in_jupyter():
            self._show_live()

    def on_train_begin(self, logs=None):
        self.epochs, self.losses, self.snapshots, self._handle = [], [], [], None
        self._record(0, None)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1, (logs or {}).get("loss"))

    def _show_live(self) -> None:
        from IPython.display import display

        fig = self.plot(max_snapshots=1)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)

    def plot(self, max_snapshots: int = 4) -> Figure:
        """Draw the loss curve and up to ``max_snapshots`` embedding snapshots.

        The snapshots are spread evenly over training, always including the
        first (before training) and the last.

        Returns
        -------
        matplotlib.figure.Figure
        """
        if not self.snapshots:
            raise ValueError("nothing recorded yet; pass the plotter to fit(callbacks=[...]) first")
        last = len(self.snapshots) - 1
        picks = np.unique(np.linspace(0, last, max_snapshots).round().astype(int))
        fig = Figure(figsize=(3.2 * (len(picks) + 1) + 0.6, 3.3), layout="constrained")
        axes = fig.subplots(1, len(picks) + 1)
        loss_ax, snap_axes = axes[0], axes[1:]
        loss_ax.plot(self.epochs[1:], self.losses[1:], marker="o", color=DIGIT_COLORS[4])
        loss_ax.set_xlabel("epoch")
        loss_ax.set_ylabel("training loss")
        loss_ax.set_title("Loss")
        if len(self.epochs) > 1:
            loss_ax.set_xticks(self.epochs[1:] if len(self.epochs) <= 11 else self.epochs[1::2])
        for ax, i in zip(snap_axes, picks, strict=True):
            _scatter_digits(ax, self.snapshots[i], self.y, size=6)
            ax.set_title("before training" if self.epochs[i] == 0 else f"epoch {self.epochs[i]}")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("PC 1")
            ax.set_ylabel("PC 2")
        snap_axes[-1].legend(
            title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2
        )
        return fig

"""What watches training: Keras callbacks that record, draw and warn.

:class:`EmbeddingPlotter`
    Records a 2-D picture of the embedding after every epoch (the successor of
    the original course's ``PCAPlotter``) and redraws it live in Jupyter.
:class:`CollapseMonitor`
    Notices when the embedding collapses to a point and warns once with
    :class:`EmbeddingCollapseWarning`.

The callbacks record; the figures are drawn by :mod:`helpers.plotting`, and the
distances come from :func:`helpers.metrics.squared_distances`.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from matplotlib.figure import Figure

from ._validation import check_number, check_xy, positive_int
from .metrics import squared_distances
from .plotting import plot_collapse_history, plot_embedding_snapshots


# --------------------------------------------------------------------------- embedding
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
    training and after every epoch it embeds ``x`` and stores the embedding with
    the epoch's loss. In Jupyter it redraws one figure in place while training
    (before training and now, projected with the principal directions of now);
    headless (scripts, CI) it stays silent. Call :meth:`plot` afterwards for the
    final picture, whose panels all share one projection.

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
        if not isinstance(embedding_model, keras.Model):
            raise TypeError(
                f"embedding_model must be a keras.Model, got {type(embedding_model).__name__}"
            )
        self.x, self.y = check_xy(x, y, min_classes=1)
        self.embedding_model = embedding_model
        self.live = live
        self.epochs: list[int] = []
        self.losses: list[float] = []
        #: The embedding of ``x`` at each snapshot, (n, d) each.
        self.snapshots: list[np.ndarray] = []
        self._handle = None

    def _record(self, epoch: int, loss) -> None:
        emb = keras.ops.convert_to_numpy(self.embedding_model.predict(self.x, verbose=0))
        self.snapshots.append(np.asarray(emb, dtype=np.float32))
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

        fig = self.plot(max_snapshots=2)  # before training, and now
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)

    def plot(self, max_snapshots: int = 4) -> Figure:
        """Draw the loss curve and up to ``max_snapshots`` embedding snapshots.

        The snapshots are spread evenly over training, always including the
        last and, when ``max_snapshots >= 2``, the first (before training).

        Returns
        -------
        matplotlib.figure.Figure
        """
        return plot_embedding_snapshots(
            self.epochs, self.losses, self.snapshots, self.y, max_snapshots=max_snapshots
        )


# --------------------------------------------------------------------------- collapse
# With online mining, and batch-hard mining above all, training can fall into
# a trap: the model maps every image to (almost) the same point. Then every
# distance is 0, every triplet costs exactly the margin, relu(0 - 0 + margin),
# and the gradient is too weak to spread the points again. The loss curve looks
# flat rather than alarming, so CollapseMonitor checks the embedding itself.


class EmbeddingCollapseWarning(UserWarning):
    """The embedding model maps every input to (almost) the same point."""


class CollapseMonitor(keras.callbacks.Callback):
    """Keras callback that warns once when the embedding collapses to a point.

    Before training and after every epoch (and, if asked, every
    ``every_n_batches`` batches) it embeds a fixed probe batch ``x_probe``
    and computes the mean Euclidean distance over all pairs of probe
    examples. It declares a collapse when both hold:

    * the embedding has shrunk to a point::

          mean_distance < distance_ratio * mean_distance_before_training
          or mean_distance < min_distance

      (the second test catches a model that starts collapsed), and
    * the loss is stuck at the margin, the loss of a collapsed embedding::

          |loss - margin| <= loss_rtol * margin

    It then warns once per ``fit`` with an :class:`EmbeddingCollapseWarning`
    that explains the cause and the usual fixes. Every check is recorded in
    :attr:`history` for plotting; :meth:`plot` draws it.

    Parameters
    ----------
    x_probe : array of shape (n, ...)
        A fixed batch of at least 2 inputs, e.g. 200 test images.
    margin : float
        The loss of a collapsed embedding: the loss's margin (> 0). For
        ``batch_hard_triplet_loss(..., soft=True)`` pass ``math.log(2)``,
        since softplus(0 - 0) = log 2.
    embedding_model : keras.Model, optional
        The model that outputs the embeddings, shape (n, emb_size). By
        default the model being trained.
    distance_ratio : float
        In (0, 1): the fraction of the starting mean distance below which
        the embedding counts as shrunk.
    min_distance : float
        Mean distance below which the embedding counts as shrunk whatever
        its start (>= 0).
    loss_rtol : float
        How close to the margin the loss must be, relative to the margin (> 0).
    every_n_batches : int, optional
        Also check every this many batches (using the running mean loss
        of the epoch so far).

    Attributes
    ----------
    history : dict of lists
        ``"epoch"`` (0 = before training; a batch check at batch b of epoch
        e is recorded as e + b / steps), ``"mean_distance"`` and ``"loss"``
        (NaN before training).
    collapsed_at : float or None
        The epoch of the first collapse detected in the last ``fit``.

    Examples
    --------
    >>> monitor = CollapseMonitor(x_test[:200], margin=0.2)
    >>> model.compile(optimizer="adam", loss=batch_hard_triplet_loss)
    >>> model.fit(balanced_generator(x_train, y_train), steps_per_epoch=50, epochs=5,
    ...           callbacks=[monitor])
    >>> monitor.collapsed_at is None  # no warning was given
    True
    """

    def __init__(
        self,
        x_probe,
        margin: float = 0.2,
        *,
        embedding_model: keras.Model | None = None,
        distance_ratio: float = 0.05,
        min_distance: float = 1e-3,
        loss_rtol: float = 0.1,
        every_n_batches: int | None = None,
    ):
        super().__init__()
        self.x_probe = _check_probe(x_probe)
        self.margin = check_number(margin, "margin", low=0.0, low_inclusive=False)
        if embedding_model is not None and not isinstance(embedding_model, keras.Model):
            raise TypeError(
                f"embedding_model must be a keras.Model or None, got "
                f"{type(embedding_model).__name__}"
            )
        self.embedding_model = embedding_model
        self.distance_ratio = check_number(
            distance_ratio, "distance_ratio", low=0.0, high=1.0, low_inclusive=False
        )
        self.min_distance = check_number(min_distance, "min_distance", low=0.0)
        self.loss_rtol = check_number(loss_rtol, "loss_rtol", low=0.0, low_inclusive=False)
        self.every_n_batches = positive_int(every_n_batches, "every_n_batches", optional=True)
        self.history: dict[str, list[float]] = {"epoch": [], "mean_distance": [], "loss": []}
        self.collapsed_at: float | None = None
        self._start_distance = float("nan")
        self._steps: int | None = None
        self._epoch = 0

    # ------------------------------------------------------------ Keras hooks

    def on_train_begin(self, logs=None):
        self.history = {"epoch": [], "mean_distance": [], "loss": []}
        self.collapsed_at = None
        self._steps = (self.params or {}).get("steps")
        self._start_distance = self._record(0.0, None)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.every_n_batches is None or (batch + 1) % self.every_n_batches:
            return
        if self._steps is None:
            fraction = 0.0
        elif batch + 1 >= self._steps:
            return  # the epoch-end check covers the last batch
        else:
            fraction = (batch + 1) / self._steps
        self._check(self._epoch + fraction, (logs or {}).get("loss"))

    def on_epoch_end(self, epoch, logs=None):
        self._check(float(epoch + 1), (logs or {}).get("loss"))

    # --------------------------------------------------------------- checks

    def mean_distance(self) -> float:
        """Mean Euclidean distance over all pairs of probe embeddings, now."""
        model = self.embedding_model if self.embedding_model is not None else self.model
        emb = keras.ops.convert_to_numpy(model(self.x_probe, training=False)).astype(np.float64)
        if emb.ndim != 2:
            raise ValueError(
                f"the monitored model must output embeddings of shape (n, emb_size), got "
                f"{emb.shape}; pass embedding_model=... when training a Siamese network"
            )
        upper = np.triu_indices(len(emb), k=1)
        return float(np.sqrt(squared_distances(emb, emb)[upper]).mean())

    def is_collapsed(self, mean_distance: float, loss) -> bool:
        """The collapse rule of the class docstring, for one check."""
        if loss is None or not np.isfinite(loss):
            return False
        shrunk = (
            mean_distance < self.distance_ratio * self._start_distance
            or mean_distance < self.min_distance
        )
        return bool(shrunk and abs(float(loss) - self.margin) <= self.loss_rtol * self.margin)

    def _record(self, epoch: float, loss) -> float:
        distance = self.mean_distance()
        self.history["epoch"].append(epoch)
        self.history["mean_distance"].append(distance)
        self.history["loss"].append(float("nan") if loss is None else float(loss))
        return distance

    def _check(self, epoch: float, loss) -> None:
        distance = self._record(epoch, loss)
        if self.collapsed_at is None and self.is_collapsed(distance, loss):
            self.collapsed_at = epoch
            warnings.warn(self._message(epoch, distance, float(loss)), EmbeddingCollapseWarning, 2)

    def _message(self, epoch: float, distance: float, loss: float) -> str:
        return (
            f"the embedding collapsed at epoch {epoch:g}: the probe's mean pairwise distance "
            f"is {distance:.2g} (it was {self._start_distance:.3g} before training) and the "
            f"loss is stuck at {loss:.4g}, near the margin {self.margin:g}. The model maps every "
            "input to almost the same point, so d(a, p) and d(a, n) are both about 0, every "
            "triplet costs about the margin, and training stalls. "
            "Usual fixes: mine semi-hard negatives (semi_hard_triplet_loss) instead of "
            "batch-hard; lower the learning rate (e.g. Adam(1e-4)); and, with semi-hard "
            "mining, use larger batches (more classes per batch), which hold more semi-hard "
            "negatives."
        )

    # ---------------------------------------------------------------- plot

    def plot(self) -> Figure:
        """Draw the mean probe distance and the loss against the epoch.

        Returns
        -------
        matplotlib.figure.Figure
        """
        return plot_collapse_history(
            self.history, margin=self.margin, collapsed_at=self.collapsed_at
        )


def _check_probe(x_probe) -> np.ndarray:
    if x_probe is None:
        raise TypeError("x_probe must be an array of inputs, got None; pass e.g. x_test[:200]")
    x_probe = np.asarray(x_probe)
    if x_probe.ndim == 0 or len(x_probe) < 2:
        raise ValueError(
            f"x_probe must hold at least 2 examples to measure distances between, "
            f"got shape {x_probe.shape}"
        )
    return x_probe

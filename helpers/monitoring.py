"""Watching training: a callback that notices when the embedding collapses.

With online mining, and batch-hard mining above all, training can fall into
a trap: the model maps every image to (almost) the same point. Then every
distance is 0, every triplet costs exactly the margin, ``relu(0 - 0 + margin)``,
and the gradient is too weak to spread the points again. The loss curve
looks flat rather than alarming, so :class:`CollapseMonitor` checks the
embedding itself and warns once with :class:`EmbeddingCollapseWarning`.
"""

from __future__ import annotations

import numbers
import warnings

import keras
import numpy as np


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
        self.margin = _check_number(margin, "margin", low=0.0, low_inclusive=False)
        if embedding_model is not None and not isinstance(embedding_model, keras.Model):
            raise TypeError(
                f"embedding_model must be a keras.Model or None, got "
                f"{type(embedding_model).__name__}"
            )
        self.embedding_model = embedding_model
        self.distance_ratio = _check_number(
            distance_ratio, "distance_ratio", low=0.0, high=1.0, low_inclusive=False
        )
        self.min_distance = _check_number(min_distance, "min_distance", low=0.0)
        self.loss_rtol = _check_number(loss_rtol, "loss_rtol", low=0.0, low_inclusive=False)
        self.every_n_batches = _check_every(every_n_batches)
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
        emb = np.asarray(model(self.x_probe, training=False), dtype=np.float64)
        if emb.ndim != 2:
            raise ValueError(
                f"the monitored model must output embeddings of shape (n, emb_size), got "
                f"{emb.shape}; pass embedding_model=... when training a Siamese network"
            )
        return _mean_pairwise_distance(emb)

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

    def plot(self):
        """Draw the mean probe distance and the loss against the epoch.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        if not self.history["epoch"]:
            raise ValueError("nothing recorded yet; pass the monitor to fit(callbacks=[...])")
        fig = Figure(figsize=(8.0, 3.2), layout="constrained")
        dist_ax, loss_ax = fig.subplots(1, 2)
        epochs = self.history["epoch"]
        dist_ax.plot(epochs, self.history["mean_distance"], marker="o", color="#0072B2")
        low, high = min(self.history["mean_distance"]), max(self.history["mean_distance"])
        if low > 0 and high > 10 * low:  # a log axis shows a shrink to 1 % best
            dist_ax.set_yscale("log")
        dist_ax.set_xlabel("epoch")
        dist_ax.set_ylabel("mean pairwise distance")
        dist_ax.set_title("Probe embeddings")
        loss_ax.plot(epochs[1:], self.history["loss"][1:], marker="o", color="#D55E00")
        loss_ax.axhline(self.margin, color="0.4", linestyle="--", label=f"margin {self.margin:g}")
        loss_ax.set_xlabel("epoch")
        loss_ax.set_ylabel("training loss")
        loss_ax.set_title("Loss")
        if self.collapsed_at is not None:
            for ax in (dist_ax, loss_ax):
                ax.axvline(self.collapsed_at, color="#CC79A7", linestyle=":", label="collapse")
            dist_ax.legend(loc="best")
        loss_ax.legend(loc="best")
        return fig


def _mean_pairwise_distance(emb: np.ndarray) -> float:
    """Mean of |e_i - e_j| over i < j, in float64 (exact enough near 0)."""
    sq_norm = np.einsum("ij,ij->i", emb, emb)
    sq_dist = np.maximum(sq_norm[:, None] + sq_norm[None, :] - 2.0 * emb @ emb.T, 0.0)
    upper = np.triu_indices(len(emb), k=1)
    return float(np.sqrt(sq_dist[upper]).mean())


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


def _check_number(value, name, *, low, high=None, low_inclusive=True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    too_low = value < low if low_inclusive else value <= low
    if too_low or (high is not None and value >= high):
        bounds = f"{'>=' if low_inclusive else '>'} {low:g}"
        if high is not None:
            bounds += f" and < {high:g}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return float(value)


def _check_every(every_n_batches) -> int | None:
    if every_n_batches is None:
        return None
    if isinstance(every_n_batches, bool) or not isinstance(every_n_batches, numbers.Integral):
        raise TypeError(
            f"every_n_batches must be an int or None, got {type(every_n_batches).__name__}"
        )
    if every_n_batches < 1:
        raise ValueError(f"every_n_batches must be at least 1, got {every_n_batches}")
    return int(every_n_batches)

"""What training minimises: the triplet loss and its online-mining variants.

All losses are written with ``keras.ops`` only, so they run on the TensorFlow,
JAX and PyTorch backends alike, and can be passed to ``model.compile(loss=...)``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._validation import check_flag, check_number


def triplet_loss(y_true, y_pred, alpha: float = 0.2):
    """Per-sample triplet loss of the Siamese network's concatenated output.

    ``y_pred`` is ``[a, p, n]`` concatenated along the last axis, each part of
    width ``emb_size = y_pred.shape[-1] // 3``. For every row::

        loss = max(||a - p||^2 - ||a - n||^2 + alpha, 0)

    where ``||v||^2`` is the squared Euclidean distance **summed** over the
    embedding dimension, as in FaceNet (Schroff et al., 2015). The original
    course took the *mean* over the dimension instead, which divides both
    distances by ``emb_size`` and so silently makes the margin ``emb_size``
    times larger.

    Keras averages the returned vector over the batch. For another margin,
    compile with ``TripletLoss(alpha=0.5)``: unlike
    ``functools.partial(triplet_loss, alpha=0.5)``, a model compiled with it
    can be saved to a ``.keras`` file and reloaded with the same margin.

    Parameters
    ----------
    y_true : tensor
        Ignored (Keras needs a target; the data generator gives zeros).
    y_pred : tensor of shape (batch, 3 * emb_size)
        Anchor, positive and negative embeddings side by side.
    alpha : float
        The margin, >= 0.

    Returns
    -------
    tensor of shape (batch,)
        The loss of each triplet.

    Examples
    --------
    >>> import numpy as np
    >>> y_pred = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]])  # a=p=(1,1), n=(0,0)
    >>> float(triplet_loss(None, y_pred, alpha=3.0)[0])  # 0 - 2 + 3
    1.0
    """
    alpha = check_number(alpha, "alpha", low=0.0)
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_pred.shape) != 2:
        raise ValueError(f"y_pred must have shape (batch, 3 * emb_size), got {tuple(y_pred.shape)}")
    width = y_pred.shape[-1]
    if width is None or width % 3 != 0:
        raise ValueError(
            f"y_pred has {width} columns, which is not 3 * emb_size; the Siamese network must "
            "concatenate the anchor, positive and negative embeddings"
        )
    emb_size = width // 3
    anchor = y_pred[:, :emb_size]
    positive = y_pred[:, emb_size : 2 * emb_size]
    negative = y_pred[:, 2 * emb_size :]
    pos_dist = ops.sum(ops.square(anchor - positive), axis=-1)
    neg_dist = ops.sum(ops.square(anchor - negative), axis=-1)
    return ops.maximum(pos_dist - neg_dist + alpha, 0.0)


keras.saving.register_keras_serializable(package="helpers")(triplet_loss)


@keras.saving.register_keras_serializable(package="helpers")
class TripletLoss(keras.losses.Loss):
    """The triplet loss with its margin fixed, as a Keras loss that can be saved.

    ``TripletLoss(alpha)(y_true, y_pred)`` is the batch mean of
    :func:`triplet_loss` with that ``alpha``. The margin is part of the loss's
    config, so a Siamese network compiled with ``TripletLoss(alpha=0.5)`` saves
    to a ``.keras`` file and comes back with a loss that still uses 0.5
    (``functools.partial`` objects cannot be serialised at all).

    Parameters
    ----------
    alpha : float
        The margin, >= 0.
    name : str
        The loss's name in logs.
    **kwargs
        Passed to ``keras.losses.Loss`` (e.g. ``reduction``).

    Examples
    --------
    >>> import numpy as np
    >>> same = np.ones((2, 6))  # a = p = n in both rows
    >>> float(TripletLoss(alpha=0.5)(np.zeros((2, 6)), same))
    0.5
    """

    def __init__(self, alpha: float = 0.2, name: str = "triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha = check_number(alpha, "alpha", low=0.0)

    def call(self, y_true, y_pred):
        return triplet_loss(y_true, y_pred, alpha=self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


# ----------------------------------------------------------------------------
# Online triplet mining: the triplets are formed inside each batch.
#
# The three losses below take the labels ``y_true`` of shape (B,) or (B, 1)
# and the embeddings ``y_pred`` of shape (B, D) of one batch, for instance a
# balanced P x K batch from ``balanced_generator``. They return a **scalar**:
# Keras then "averages" a single number, which leaves it unchanged.
# ----------------------------------------------------------------------------


def pairwise_distances(embeddings, squared: bool = False):
    """Euclidean distances between every pair of rows, safe to differentiate.

    ::

        d2[i, j] = max(|e_i|^2 + |e_j|^2 - 2 <e_i, e_j>, 0),   d2[i, i] = 0
        d[i, j]  = sqrt(d2[i, j])   (sqrt taken only where d2 > 0)

    One matrix product gives all the dot products, so this costs O(B^2 D)
    time and O(B^2) memory instead of the O(B^2 D) memory of subtracting
    every pair. Rounding makes ``|a|^2 + |b|^2 - 2ab`` slightly wrong (even
    negative) when a and b are nearly equal, so squared distances below
    ``32 * eps * (|e_i|^2 + |e_j|^2)`` are set to exactly 0 (for unit
    vectors: distances below 3e-3 in float32, 1.2e-7 in float64). The square root is
    taken only where the squared distance is positive, so duplicated
    embeddings give a distance of exactly 0 with a finite (zero) gradient,
    never NaN.

    Parameters
    ----------
    embeddings : tensor of shape (B, D)
        One embedding per row.
    squared : bool
        Return squared distances ``d2`` instead of ``d``.

    Returns
    -------
    tensor of shape (B, B)
        Symmetric up to rounding, zero on the diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]])
    >>> np.asarray(pairwise_distances(e))
    array([[0., 5., 5.],
           [5., 0., 0.],
           [5., 0., 0.]])
    """
    check_flag(squared, "squared")
    embeddings = ops.convert_to_tensor(embeddings)
    if len(embeddings.shape) != 2:
        raise ValueError(
            f"embeddings must have shape (batch, emb_size), got {tuple(embeddings.shape)}"
        )
    return _pairwise_distances(embeddings, squared)


def _pairwise_distances(embeddings, squared: bool):
    if not keras.backend.is_float_dtype(embeddings.dtype):
        embeddings = ops.cast(embeddings, "float32")
    gram = ops.matmul(embeddings, ops.transpose(embeddings))
    sq_norm = ops.diagonal(gram)
    norm_sum = sq_norm[:, None] + sq_norm[None, :]
    sq_dist = norm_sum - 2.0 * gram
    # The precision the backend computed in: PyTorch multiplies float64 inputs in float32.
    eps = float(np.finfo(keras.backend.standardize_dtype(gram.dtype)).eps)
    off_diagonal = ops.logical_not(ops.eye(ops.shape(gram)[0], dtype="bool"))
    positive = ops.logical_and(sq_dist > 32.0 * eps * norm_sum, off_diagonal)
    sq_dist = ops.where(positive, sq_dist, 0.0)
    if squared:
        return sq_dist
    # The "double where": sqrt never sees a zero, so its gradient stays finite.
    return ops.where(positive, ops.sqrt(ops.where(positive, sq_dist, 1.0)), 0.0)


def batch_all_triplet_loss(y_true, y_pred, margin: float = 0.2, squared: bool = False):
    """Mean triplet loss over every valid triplet of the batch that still has a loss.

    A valid triplet (a, p, n) has label[a] == label[p], a != p and
    label[n] != label[a]. With d = Euclidean distance (squared if ``squared``)::

        loss(a, p, n) = max(d(a, p) - d(a, n) + margin, 0)
        result = sum of loss(a, p, n) over valid triplets / number of them with loss > 0

    Averaging only over the triplets with a loss > 0 (PyTorch Metric
    Learning's default) keeps the gradient from shrinking as training makes
    most triplets easy. A batch without any valid triplet (no two examples
    of one class, or a single class) gives 0, with a zero gradient.

    There are up to B^3 triplets, but the loss is computed in O(B^2 log B):
    for each anchor the negative distances are sorted once, and for each
    positive the negatives closer than ``d(a, p) + margin`` are counted and
    summed with a cumulative sum (``count * (d(a, p) + margin) - sum``).

    Parameters
    ----------
    y_true : tensor of shape (B,) or (B, 1)
        Integer class labels (floats such as 3.0 are accepted: Keras casts them).
    y_pred : tensor of shape (B, D)
        Embeddings. They are not normalised here; the model should do it.
    margin : float
        The margin, >= 0.
    squared : bool
        Use squared Euclidean distances.

    Returns
    -------
    scalar tensor

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([0, 0, 1])
    >>> emb = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.5]])
    >>> # triplets (0, 1, 2): 1 - 1.5 + 1 = 0.5 and (1, 0, 2): 1 - 1.803 + 1 = 0.197
    >>> round(float(batch_all_triplet_loss(labels, emb, margin=1.0)), 4)
    0.3486
    """
    dist, pos_mask, neg_mask = _mining_inputs(y_true, y_pred, margin, squared)
    sorted_neg, n_neg = _sorted_negatives(dist, neg_mask)
    threshold = dist + margin  # a negative closer than d(a, p) + margin has a loss
    n_active = ops.minimum(_count_below(sorted_neg, threshold, inclusive=False), n_neg)
    zero = ops.zeros_like(sorted_neg[:, :1])
    prefix = ops.concatenate([zero, ops.cumsum(sorted_neg, axis=1)], axis=1)
    active_sum = ops.take_along_axis(prefix, n_active, axis=1)
    n_active = ops.where(pos_mask, ops.cast(n_active, dist.dtype), 0.0)
    pair_loss = n_active * threshold - ops.where(pos_mask, active_sum, 0.0)
    return _safe_mean(ops.sum(pair_loss), ops.sum(n_active))


def batch_hard_triplet_loss(
    y_true, y_pred, margin: float = 0.2, squared: bool = False, soft: bool = False
):
    """Triplet loss of each anchor's hardest positive and hardest negative.

    For every anchor a that has a positive and a negative in the batch::

        hardest_pos(a) = max over p with label[p] == label[a], p != a of d(a, p)
        hardest_neg(a) = min over n with label[n] != label[a]         of d(a, n)
        loss(a) = max(hardest_pos(a) - hardest_neg(a) + margin, 0)
        loss(a) = softplus(hardest_pos(a) - hardest_neg(a))        if soft
        result  = mean of loss(a) over those anchors

    "Batch hard" and its soft-margin variant come from Hermans, Beyer and
    Leibe (2017), "In Defense of the Triplet Loss for Person
    Re-Identification". The soft version ignores ``margin``. A batch where
    no anchor has both a positive and a negative gives 0, with a zero gradient.

    Parameters
    ----------
    y_true : tensor of shape (B,) or (B, 1)
        Integer class labels (floats such as 3.0 are accepted).
    y_pred : tensor of shape (B, D)
        Embeddings. They are not normalised here; the model should do it.
    margin : float
        The margin, >= 0 (unused when ``soft``).
    squared : bool
        Use squared Euclidean distances.
    soft : bool
        Use ``softplus(x) = log(1 + exp(x))`` instead of ``max(x + margin, 0)``.

    Returns
    -------
    scalar tensor

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([0, 0, 1])
    >>> emb = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.5]])
    >>> # anchor 0: 1 - 1.5 + 1 = 0.5; anchor 1: 1 - 1.803 + 1 = 0.197; anchor 2: no positive
    >>> round(float(batch_hard_triplet_loss(labels, emb, margin=1.0)), 4)
    0.3486
    """
    check_flag(soft, "soft")
    dist, pos_mask, neg_mask = _mining_inputs(y_true, y_pred, margin, squared)
    hardest_pos = ops.max(ops.where(pos_mask, dist, 0.0), axis=1)
    far = ops.stop_gradient(ops.max(dist)) + 1.0
    hardest_neg = ops.min(ops.where(neg_mask, dist, far), axis=1)
    gap = hardest_pos - hardest_neg
    anchor_loss = ops.softplus(gap) if soft else ops.relu(gap + margin)
    valid = ops.logical_and(ops.any(pos_mask, axis=1), ops.any(neg_mask, axis=1))
    anchor_loss = ops.where(valid, anchor_loss, 0.0)
    return _safe_mean(ops.sum(anchor_loss), ops.sum(ops.cast(valid, dist.dtype)))


def semi_hard_triplet_loss(y_true, y_pred, margin: float = 0.2, squared: bool = False):
    """FaceNet's semi-hard triplet loss, as defined in TensorFlow Addons.

    For every ordered positive pair (a, p) (same label, a != p), pick one
    negative n* (a different label)::

        n* = the negative with the smallest d(a, n) among those with d(a, n) > d(a, p)
             (a "semi-hard" negative: farther than p, but maybe inside the margin)
        n* = the negative with the largest d(a, n)         if there is no such negative
        loss(a, p) = max(d(a, p) - d(a, n*) + margin, 0)
        result     = sum of loss(a, p) over positive pairs / number of positive pairs

    From Schroff, Kalenichenko and Philbin (2015), "FaceNet". Semi-hard
    negatives avoid the collapse that the very hardest negatives can cause
    early in training. A batch without a positive pair, or with a single
    class, gives 0 with a zero gradient (TF-Addons returned NaN there).

    The direct formulation compares every (a, p) with every n: a B x B x B
    tensor. Here, for each anchor the negative distances are sorted once,
    and a binary search (``searchsorted``) finds where each d(a, p) falls
    in that sorted list; n* is the next one: O(B^2 log B) time and O(B^2)
    memory (measured in ``benchmarks/bench_losses.py``).

    Parameters
    ----------
    y_true : tensor of shape (B,) or (B, 1)
        Integer class labels (floats such as 3.0 are accepted).
    y_pred : tensor of shape (B, D)
        Embeddings. They are not normalised here; the model should do it.
    margin : float
        The margin, >= 0.
    squared : bool
        Use squared Euclidean distances.

    Returns
    -------
    scalar tensor

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([0, 0, 1, 1])
    >>> emb = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.5], [0.0, 3.0]])
    >>> # (0, 1): n* = 2 (1.5 > 1): 1 - 1.5 + 1 = 0.5    (1, 0): n* = 2: 1 - 1.803 + 1 = 0.197
    >>> # (2, 3): d(2, 0) = 1.5 is not > 1.5, so n* = 1: 1.5 - 1.803 + 1 = 0.697    (3, 2): 0
    >>> round(float(semi_hard_triplet_loss(labels, emb, margin=1.0)), 4)  # 1.394 / 4
    0.3486
    """
    dist, pos_mask, neg_mask = _mining_inputs(y_true, y_pred, margin, squared)
    sorted_neg, n_neg = _sorted_negatives(dist, neg_mask)
    # Negatives with d(a, n) <= d(a, p) come first in the sorted list; the next one is n*.
    n_closer = _count_below(sorted_neg, dist, inclusive=True)
    last = ops.maximum(n_neg - 1, 0)
    chosen = ops.where(n_closer < n_neg, n_closer, last)
    neg_dist = ops.take_along_axis(sorted_neg, chosen, axis=1)
    valid = ops.logical_and(pos_mask, n_neg > 0)
    pair_loss = ops.where(valid, ops.relu(dist - neg_dist + margin), 0.0)
    return _safe_mean(ops.sum(pair_loss), ops.sum(ops.cast(pos_mask, dist.dtype)))


def _mining_inputs(y_true, y_pred, margin, squared):
    """Validate the inputs; return distances and the positive/negative masks (B, B)."""
    check_number(margin, "margin", low=0.0)
    check_flag(squared, "squared")
    if y_true is None or y_pred is None:
        raise TypeError("y_true (labels) and y_pred (embeddings) must be tensors, got None")
    y_pred = ops.convert_to_tensor(y_pred)
    labels = ops.convert_to_tensor(y_true)
    if len(y_pred.shape) != 2:
        raise ValueError(
            f"y_pred must be the embeddings, shape (batch, emb_size), got {tuple(y_pred.shape)}; "
            "use the embedding model's output, not the Siamese network's"
        )
    if len(labels.shape) == 2 and labels.shape[1] == 1:
        labels = ops.reshape(labels, (-1,))
    if len(labels.shape) != 1:
        raise ValueError(
            f"y_true must hold one integer label per example, shape (batch,) or (batch, 1), "
            f"got {tuple(labels.shape)}"
        )
    n_labels, batch = labels.shape[0], y_pred.shape[0]
    if n_labels is not None and batch is not None and n_labels != batch:
        raise ValueError(
            f"y_true has {n_labels} labels but y_pred has {batch} embeddings; "
            "pass one label per example"
        )
    labels = ops.cast(labels, "int32")
    same = ops.equal(labels[:, None], labels[None, :])
    not_self = ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool"))
    pos_mask = ops.logical_and(same, not_self)
    neg_mask = ops.logical_not(same)
    return _pairwise_distances(y_pred, squared), pos_mask, neg_mask


def _sorted_negatives(dist, neg_mask):
    """Each row's negative distances in ascending order, padded at the end; and their count."""
    far = ops.stop_gradient(ops.max(dist)) + 1.0
    neg_dist = ops.where(neg_mask, dist, far)
    order = ops.argsort(ops.stop_gradient(neg_dist), axis=1)
    n_neg = ops.sum(ops.cast(neg_mask, "int32"), axis=1, keepdims=True)
    return ops.take_along_axis(neg_dist, order, axis=1), n_neg


def _count_below(sorted_neg, thresholds, *, inclusive: bool):
    """For each row a and column j: how many entries of sorted_neg[a] are < thresholds[a, j].

    With ``inclusive``, count those <= thresholds[a, j]. This is a binary
    search (``searchsorted``) in every row: O(B^2 log B) in all.
    ``ops.searchsorted`` takes a single 1-D sequence, so ``ops.vectorized_map``
    runs it on every row at once.
    """
    side = "right" if inclusive else "left"

    def search_row(row_and_values):
        row, values = row_and_values
        return ops.searchsorted(row, values, side=side)

    rows = (ops.stop_gradient(sorted_neg), ops.stop_gradient(thresholds))
    return ops.cast(ops.vectorized_map(search_row, rows), "int32")


def _safe_mean(total, count):
    """``total / count``, or 0 (with a zero gradient) when ``count`` is 0."""
    return ops.where(count > 0, total / ops.maximum(count, 1.0), 0.0)


for _loss in (batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss):
    keras.saving.register_keras_serializable(package="helpers")(_loss)

"""What training minimises: the triplet loss and its online-mining variants.

All losses are written with ``keras.ops`` only, so they run on the TensorFlow,
JAX and PyTorch backends alike, and can be passed to ``model.compile(loss=...)``.
"""

from __future__ import annotations

import numbers

import keras
from keras import ops


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

    Keras averages the returned vector over the batch. Use
    ``functools.partial(triplet_loss, alpha=0.5)`` for another margin.

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
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a number, got {type(alpha).__name__} {alpha!r}")
    if alpha < 0:
        raise ValueError(f"alpha is the margin and must be >= 0, got {alpha}")
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

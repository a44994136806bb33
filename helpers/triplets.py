"""Which examples go together: random triplets and balanced batches.

A *triplet* is an anchor, a positive (same class, a different example) and a
negative (a different class). :func:`create_batch` samples a batch of them,
:func:`data_generator` streams them to ``model.fit``. For online mining the
model instead sees :func:`balanced_batch`: P classes times K examples, and the
loss picks the triplets inside the batch.

Everything is vectorised: the indices of each class are computed once, and a
batch is a handful of numpy operations, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ._validation import as_rng, check_xy, positive_int


class _TripletSampler:
    """Precomputed class structure of ``y`` that samples triplet indices fast.

    The examples are sorted by class once. Class ``c`` then occupies the block
    ``order[start[c] : start[c] + count[c]]``, and each example knows its rank
    inside its block, so that "another example of my class" and "an example of
    another class" are both one ``integers`` draw plus a shift.
    """

    def __init__(self, y: np.ndarray):
        self.order = _stable_argsort(y)  # examples grouped by class
        sorted_y = y[self.order]
        starts = np.flatnonzero(np.r_[True, sorted_y[1:] != sorted_y[:-1]])
        counts = np.diff(np.r_[starts, y.size])
        single = sorted_y[starts[counts < 2]]
        if single.size:
            raise ValueError(
                f"class(es) {single.tolist()} have a single example, so no positive (a different "
                "example of the same class) exists; drop them or add more examples"
            )
        self.n = y.size
        self.counts, self.start = counts, starts
        class_of = np.empty(self.n, dtype=np.int64)
        class_of[self.order] = np.repeat(np.arange(counts.size), counts)
        self.class_of = class_of  # class index (0..C-1) of every example
        rank = np.empty(self.n, dtype=np.int64)
        rank[self.order] = np.arange(self.n) - np.repeat(starts, counts)
        self.rank = rank  # position of each example inside its class block

    def sample(self, batch_size: int, rng: np.random.Generator):
        """Return index arrays ``(anchor, positive, negative)`` of length ``batch_size``."""
        # one call for all the randomness: floor(u * m) is uniform over 0..m-1
        u_anchor, u_positive, u_negative = rng.random((3, batch_size))
        anchor = (u_anchor * self.n).astype(np.int64)  # follows the class frequencies
        cls = self.class_of[anchor]
        count, start = self.counts[cls], self.start[cls]

        # positive: one of the other count-1 examples of the class (skip the anchor's rank)
        offset = (u_positive * (count - 1)).astype(np.int64)
        offset += offset >= self.rank[anchor]
        positive = self.order[start + offset]

        # negative: uniform over the n-count examples outside the anchor's class block
        offset = (u_negative * (self.n - count)).astype(np.int64)
        offset += np.where(offset >= start, count, 0)
        negative = self.order[offset]
        return anchor, positive, negative


def _stable_argsort(y: np.ndarray) -> np.ndarray:
    """Indices that group ``y`` by label; a linear-time radix sort for small labels."""
    if y.size and 0 <= y.min() and y.max() < 2**16:
        return np.argsort(y.astype(np.uint16), kind="stable")
    return np.argsort(y, kind="stable")


def create_batch(x, y, batch_size: int = 256, *, rng=None) -> list[np.ndarray]:
    """Sample a batch of random (anchor, positive, negative) triplets.

    Parameters
    ----------
    x : array of shape (n, ...)
        Examples, e.g. flattened MNIST images.
    y : array of shape (n,)
        Integer class labels; at least two classes, each with two examples.
    batch_size : int
        Number of triplets.
    rng : numpy.random.Generator or int, optional
        Source of randomness; an int is used as a seed.

    Returns
    -------
    list of three arrays, each of shape (batch_size, ...) and of x's dtype
        Anchors, positives (same class, different example) and negatives
        (another class). Anchor classes follow the class frequencies of ``y``.

    Examples
    --------
    >>> x = np.arange(8.0).reshape(4, 2); y = np.array([0, 0, 1, 1])
    >>> a, p, n = create_batch(x, y, batch_size=3, rng=0)
    >>> a.shape
    (3, 2)
    """
    x, y = check_xy(x, y)
    batch_size = positive_int(batch_size, "batch_size")
    return _gather_triplets(x, _TripletSampler(y).sample(batch_size, as_rng(rng)))


def data_generator(
    x, y, batch_size: int = 256, emb_size: int = 64, *, rng=None
) -> Iterator[tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]]:
    """Yield endless batches of triplets for ``model.fit(..., steps_per_epoch=...)``.

    The inputs are validated and the class indices precomputed once; every
    ``next()`` then only samples.

    Parameters
    ----------
    x, y, batch_size, rng
        As in :func:`create_batch`.
    emb_size : int
        Embedding size; the dummy targets have ``3 * emb_size`` columns, the
        width of the Siamese network's output.

    Yields
    ------
    ((anchors, positives, negatives), dummy_targets)
        ``dummy_targets`` are zeros of shape (batch_size, 3 * emb_size); the
        triplet loss ignores them, but Keras wants a target.

    Examples
    --------
    >>> gen = data_generator(x_train, y_train, batch_size=32, emb_size=64, rng=0)
    >>> (a, p, n), targets = next(gen)
    >>> targets.shape
    (32, 192)
    """
    x, y = check_xy(x, y)
    batch_size = positive_int(batch_size, "batch_size")
    emb_size = positive_int(emb_size, "emb_size")
    sampler = _TripletSampler(y)
    rng = as_rng(rng)
    return _triplet_stream(x, sampler, batch_size, emb_size, rng)


def _triplet_stream(x, sampler, batch_size, emb_size, rng):
    targets = np.zeros((batch_size, 3 * emb_size), dtype=np.float32)
    while True:
        yield tuple(_gather_triplets(x, sampler.sample(batch_size, rng))), targets


def _gather_triplets(x: np.ndarray, indices) -> list[np.ndarray]:
    """``[x[anchor], x[positive], x[negative]]`` with one gather (one copy) instead of three."""
    rows = x[np.concatenate(indices)]
    batch_size = len(indices[0])
    return [rows[:batch_size], rows[batch_size : 2 * batch_size], rows[2 * batch_size :]]


def balanced_batch(
    x, y, classes_per_batch: int = 10, samples_per_class: int = 12, *, rng=None
) -> tuple[np.ndarray, np.ndarray]:
    """Sample a P x K batch for online triplet mining.

    P = ``classes_per_batch`` distinct classes are drawn, then K =
    ``samples_per_class`` examples of each. A class with fewer than K examples
    is sampled **with replacement** (so it still gives K rows, some repeated);
    every other class without replacement.

    Parameters
    ----------
    x : array of shape (n, ...)
        Examples.
    y : array of shape (n,)
        Integer class labels.
    classes_per_batch : int
        P, at most the number of classes in ``y``.
    samples_per_class : int
        K, at least 2 so that every anchor has a positive.
    rng : numpy.random.Generator or int, optional
        Source of randomness; an int is used as a seed.

    Returns
    -------
    x_batch : array of shape (P * K, ...)
    y_batch : array of shape (P * K,)
        Grouped by class: K rows of the first class, then K of the next, ...

    Examples
    --------
    >>> xb, yb = balanced_batch(x_train, y_train, 4, 3, rng=0)
    >>> xb.shape, np.unique(yb).size
    ((12, 784), 4)
    """
    x, y = check_xy(x, y)
    sampler = _BalancedSampler(y, classes_per_batch, samples_per_class)
    idx = sampler.sample(as_rng(rng))
    return x[idx], y[idx]


def balanced_generator(
    x, y, classes_per_batch: int = 10, samples_per_class: int = 12, *, rng=None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield endless :func:`balanced_batch` batches ``(x_batch, y_batch)`` for ``fit``.

    Examples
    --------
    >>> gen = balanced_generator(x_train, y_train, 10, 12, rng=0)
    >>> xb, yb = next(gen)
    >>> xb.shape
    (120, 784)
    """
    x, y = check_xy(x, y)
    sampler = _BalancedSampler(y, classes_per_batch, samples_per_class)
    rng = as_rng(rng)

    def stream():
        while True:
            idx = sampler.sample(rng)
            yield x[idx], y[idx]

    return stream()


class _BalancedSampler:
    """Precomputed per-class index lists for P x K sampling."""

    def __init__(self, y: np.ndarray, classes_per_batch, samples_per_class):
        self.p = positive_int(classes_per_batch, "classes_per_batch")
        self.k = positive_int(samples_per_class, "samples_per_class")
        if self.k < 2:
            raise ValueError(
                f"samples_per_class must be at least 2 so that every anchor has a positive, "
                f"got {self.k}"
            )
        classes, inverse = np.unique(y, return_inverse=True)
        if self.p > classes.size:
            raise ValueError(
                f"classes_per_batch={self.p} but y has only {classes.size} classes; "
                f"use classes_per_batch <= {classes.size}"
            )
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse)
        self.members = np.split(order, np.cumsum(counts)[:-1])

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        chosen = rng.choice(len(self.members), size=self.p, replace=False)
        return np.concatenate(
            [
                rng.choice(self.members[c], size=self.k, replace=self.members[c].size < self.k)
                for c in chosen
            ]
        )

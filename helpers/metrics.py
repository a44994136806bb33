"""How good an embedding is: retrieval and verification scores.

Two questions, two families of scores.

**Retrieval**: "show me the images most like this one". Every query embedding
looks up its nearest reference embeddings (Euclidean distance) and we count how
many share its label. The definitions are those of Musgrave, Belongie and Lim,
"A Metric Learning Reality Check" (ECCV 2020), as PyTorch Metric Learning's
``AccuracyCalculator`` computes them:

* ``R`` is the number of references with the query's label (not counting the
  query itself when the queries are their own references).
* precision@1: the share of queries whose nearest reference has their label.
* R-precision: for each query, the share of its ``R`` nearest references that
  have its label; averaged over queries.
* MAP@R: for each query, ``(1/R) * sum_{i<=R} P(i) * rel(i)``, where
  ``rel(i)`` is 1 when the i-th nearest reference has the query's label and
  ``P(i)`` is the precision among the first ``i``; averaged over queries. It
  rewards putting the right references *first*, not just among the first R.

When no reference set is given, the queries are their own references and each
query is left out of its own neighbours. It is left out *by index*: another
example identical to the query (distance 0) is still a neighbour.

**Verification**: "are these two images the same digit?". Given the distances
of many pairs and whether each pair is really "same", :func:`verification_scores`
reports the ROC AUC, the equal error rate, the best F1 and its threshold, and the
true-accept rate at a fixed false-accept rate. :func:`sample_pairs` builds
balanced pairs to score.

Everything works in chunks of queries, so 10,000 queries against 60,000
references never build a 10,000 x 60,000 matrix at once; the distances of one
chunk come from :func:`squared_distances`. Ties in distance are broken by the
smaller reference index, so the results are deterministic and do not depend on
the chunk size. (The one caveat is floating-point rounding: two *different*
references whose distances to a query agree to about 13 significant digits may
be ordered by rounding instead of by index. Exact ties, such as duplicated
images, are always broken by index.)

Examples
--------
>>> emb_test, emb_train = model.predict(x_test), model.predict(x_train)
>>> retrieval_scores(emb_test, y_test, emb_train, y_train)
{'precision_at_1': 0.98, 'r_precision': 0.91, 'mean_average_precision_at_r': 0.89}
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import (
    as_array,
    as_rng,
    check_embeddings,
    check_labels,
    check_number,
    check_pairs,
    positive_int,
)

#: Number of float64 distances computed at once (32 MiB): the chunk of queries
#: is ``CHUNK_ELEMENTS // n_references`` rows, between 1 and ``MAX_CHUNK_ROWS``.
CHUNK_ELEMENTS = 2**22
MAX_CHUNK_ROWS = 1024


# --------------------------------------------------------------------------- validation
def _check_retrieval(query_emb, query_labels, ref_emb, ref_labels):
    """Validate a retrieval call; return (q, q_labels, r, r_labels, leave_one_out)."""
    if (ref_emb is None) != (ref_labels is None):
        raise ValueError(
            "pass both ref_emb and ref_labels, or neither (then the queries are their own "
            "references, each query left out of its own neighbours)"
        )
    query = check_embeddings(query_emb, "query_emb")
    query_labels = check_labels(query_labels, len(query), "query_labels", "query_emb")
    if ref_emb is None:
        return query, query_labels, query, query_labels, True
    ref = check_embeddings(ref_emb, "ref_emb")
    ref_labels = check_labels(ref_labels, len(ref), "ref_labels", "ref_emb")
    if ref.shape[1] != query.shape[1]:
        raise ValueError(
            f"query_emb has {query.shape[1]} dimensions but ref_emb has {ref.shape[1]}; "
            "embed both with the same model"
        )
    return query, query_labels, ref, ref_labels, False


def _relevant_counts(query_labels, ref_labels, leave_one_out: bool) -> np.ndarray:
    """R for every query; raise if a query has nothing relevant to retrieve."""
    classes, counts = np.unique(ref_labels, return_counts=True)
    pos = np.clip(np.searchsorted(classes, query_labels), 0, len(classes) - 1)
    r = np.where(classes[pos] == query_labels, counts[pos], 0) - int(leave_one_out)
    if (r < 1).any():
        bad = query_labels[np.argmax(r < 1)]
        if leave_one_out:
            raise ValueError(
                f"label {bad} appears only once in query_labels, so that query has no other "
                "example of its class to retrieve (R = 0); give every class at least 2 examples"
            )
        raise ValueError(
            f"query label {bad} does not appear in ref_labels, so that query has nothing "
            "relevant to retrieve (R = 0); every query class needs references"
        )
    return r


def _check_chunk_size(chunk_size, n_ref: int) -> int:
    if chunk_size is None:
        return int(np.clip(CHUNK_ELEMENTS // n_ref, 1, MAX_CHUNK_ROWS))
    return positive_int(chunk_size, "chunk_size")


def _check_k(k, available: int, leave_one_out: bool) -> int:
    k = positive_int(k, "k")
    if k > available:
        where = "other queries (leave-one-out)" if leave_one_out else "references"
        raise ValueError(f"k={k} but there are only {available} {where}; pass k <= {available}")
    return k


# --------------------------------------------------------------------------- distances
#: Squared distances below this many float64 epsilons of ``|q|^2 + |r|^2`` are rounding noise.
ROUNDING_EPS = 32
#: References converted to float64 at once by :func:`squared_distances`.
REF_BLOCK_ROWS = 8192


def squared_distances(query: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every query to every reference, in float64.

    ::

        d2[i, j] = |q_i|^2 + |r_j|^2 - 2 <q_i, r_j>,   set to 0 where it is below
                   ROUNDING_EPS * eps * (|q_i|^2 + |r_j|^2)

    One matrix product gives every dot product (O(n m d) time, O(n m) memory).
    Rounding makes the formula slightly wrong, even negative, for nearly equal
    vectors; the rule above (the same as :func:`helpers.losses.pairwise_distances`
    uses in ``keras.ops``) turns that noise into an exact 0, so identical rows are
    at distance exactly 0 on every CPU. For unit vectors it zeroes distances
    below about 1.2e-7. This is the course's one pairwise distance in numpy:
    retrieval, nearest neighbours and the collapse monitor all use it.

    Parameters
    ----------
    query : array of shape (n, d)
    ref : array of shape (m, d)

    Returns
    -------
    float64 array of shape (n, m)

    Examples
    --------
    >>> squared_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[3.0, 4.0]]))
    array([[25.],
           [ 0.]])
    """
    query = as_array(query, dtype=np.float64)
    ref = as_array(ref)
    if query.ndim != 2 or ref.ndim != 2 or query.shape[1] != ref.shape[1]:
        raise ValueError(
            f"query and ref must have shapes (n, d) and (m, d) with the same d, got "
            f"{query.shape} and {ref.shape}"
        )
    query_sq = np.einsum("ij,ij->i", query, query)
    if ref.dtype == np.float64:
        ref_sq = np.einsum("ij,ij->i", ref, ref)
        sq_dist = query @ (-2.0 * ref.T)
    else:  # float32 images, say: converted a block at a time, never all at once
        ref_sq = np.empty(len(ref))
        sq_dist = np.empty((len(query), len(ref)))
        for start in range(0, len(ref), REF_BLOCK_ROWS):
            block = as_array(ref[start : start + REF_BLOCK_ROWS], dtype=np.float64)
            ref_sq[start : start + len(block)] = np.einsum("ij,ij->i", block, block)
            sq_dist[:, start : start + len(block)] = query @ (-2.0 * block.T)
    sq_dist += ref_sq
    sq_dist += query_sq[:, None]
    # The rounding rule, without a full matrix of bounds: only entries below the largest
    # bound of their row can be noise; those few get their exact bound.
    tol = ROUNDING_EPS * np.finfo(np.float64).eps
    maybe = sq_dist <= (tol * (query_sq + ref_sq.max(initial=0.0)))[:, None]
    if maybe.any():
        rows, cols = np.nonzero(maybe)
        noise = sq_dist[rows, cols] <= tol * (query_sq[rows] + ref_sq[cols])
        sq_dist[rows[noise], cols[noise]] = 0.0
    return sq_dist


# --------------------------------------------------------------------------- nearest neighbours
def _top_k_sorted(sq_dist: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest entries of each row, sorted by (distance, index)."""
    n = sq_dist.shape[1]
    if k == 1:  # argmin returns the first minimum: ties already go to the smaller index
        return np.argmin(sq_dist, axis=1)[:, None]
    if k < n:
        cand = np.argpartition(sq_dist, k - 1, axis=1)[:, :k]
    else:
        cand = np.broadcast_to(np.arange(n), sq_dist.shape).copy()
    cand.sort(axis=1)  # by index, so that the stable sort below breaks ties by index
    order = np.argsort(np.take_along_axis(sq_dist, cand, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(cand, order, axis=1)
    if k < n:
        # argpartition picks arbitrarily among entries tied with the k-th; redo those rows.
        kth = np.take_along_axis(sq_dist, top[:, -1:], axis=1)
        tied = (sq_dist <= kth).sum(axis=1) > k
        if tied.any():
            top[tied] = np.argsort(sq_dist[tied], axis=1, kind="stable")[:, :k]
    return top


def _iter_neighbors(query, ref, k, *, leave_one_out: bool, chunk_size: int):
    """Yield (rows, top_k_indices, top_k_squared_distances) one chunk of queries at a time.

    ``k`` is an int or an array with one k per query (the chunk then uses its maximum).
    """
    for start in range(0, len(query), chunk_size):
        rows = np.arange(start, min(start + chunk_size, len(query)))
        sq_dist = squared_distances(query[rows], ref)
        if leave_one_out:
            sq_dist[np.arange(len(rows)), rows] = np.inf
        k_chunk = int(np.max(k[rows])) if isinstance(k, np.ndarray) else k
        top = _top_k_sorted(sq_dist, k_chunk)
        yield rows, top, np.take_along_axis(sq_dist, top, axis=1)


def nearest_neighbors(query_emb, ref_emb=None, *, k: int = 5, chunk_size: int | None = None):
    """Find the k nearest references of every query (Euclidean distance).

    Parameters
    ----------
    query_emb : array of shape (n_queries, d)
    ref_emb : array of shape (n_refs, d), optional
        Where to search. By default the queries themselves, each query left
        out of its own neighbours (by index, so a duplicate still counts).
    k : int
        Number of neighbours, at least 1.
    chunk_size : int, optional
        Queries processed at once; by default as many as fit in about 32 MiB.

    Returns
    -------
    indices : int array of shape (n_queries, k)
        Row numbers in ``ref_emb``, nearest first; ties broken by the smaller index.
    distances : float array of shape (n_queries, k)
        The matching Euclidean distances, non-decreasing along each row.

    Examples
    --------
    >>> idx, dist = nearest_neighbors(emb_test, emb_train, k=3)
    >>> y_train[idx[0]]  # the digits of the 3 images nearest to the first test image
    array([7, 7, 7])
    """
    query = check_embeddings(query_emb, "query_emb")
    leave_one_out = ref_emb is None
    ref = query if leave_one_out else check_embeddings(ref_emb, "ref_emb")
    if ref.shape[1] != query.shape[1]:
        raise ValueError(
            f"query_emb has {query.shape[1]} dimensions but ref_emb has {ref.shape[1]}; "
            "embed both with the same model"
        )
    k = _check_k(k, len(ref) - int(leave_one_out), leave_one_out)
    chunk_size = _check_chunk_size(chunk_size, len(ref))
    indices = np.empty((len(query), k), dtype=np.int64)
    distances = np.empty((len(query), k), dtype=np.float64)
    for rows, top, sq_dist in _iter_neighbors(
        query, ref, k, leave_one_out=leave_one_out, chunk_size=chunk_size
    ):
        indices[rows] = top
        distances[rows] = np.sqrt(sq_dist)
    return indices, distances


# --------------------------------------------------------------------------- retrieval
def retrieval_scores(
    query_emb, query_labels, ref_emb=None, ref_labels=None, *, chunk_size: int | None = None
) -> dict[str, float]:
    """Precision@1, R-precision and MAP@R in one pass over the neighbours.

    Same arguments and definitions as :func:`precision_at_1`,
    :func:`r_precision` and :func:`mean_average_precision_at_r`; cheaper than
    calling the three, because the neighbours are found once.

    Returns
    -------
    dict
        ``{"precision_at_1": ..., "r_precision": ..., "mean_average_precision_at_r": ...}``,
        each a float in [0, 1].

    Examples
    --------
    >>> scores = retrieval_scores(emb_test, y_test, emb_train, y_train)
    >>> round(scores["precision_at_1"], 3)
    0.98
    """
    query, query_labels, ref, ref_labels, loo = _check_retrieval(
        query_emb, query_labels, ref_emb, ref_labels
    )
    r = _relevant_counts(query_labels, ref_labels, loo)
    chunk_size = _check_chunk_size(chunk_size, len(ref))
    p1, r_prec, map_r = (np.empty(len(query)) for _ in range(3))
    for rows, top, _ in _iter_neighbors(query, ref, r, leave_one_out=loo, chunk_size=chunk_size):
        r_rows = r[rows, None]
        ranks = np.arange(1, top.shape[1] + 1)
        rel = (ref_labels[top] == query_labels[rows, None]) & (ranks <= r_rows)
        p1[rows] = rel[:, 0]
        r_prec[rows] = rel.sum(axis=1) / r[rows]
        precision_at_i = np.cumsum(rel, axis=1) / ranks
        map_r[rows] = (precision_at_i * rel).sum(axis=1) / r[rows]
    return {
        "precision_at_1": float(p1.mean()),
        "r_precision": float(r_prec.mean()),
        "mean_average_precision_at_r": float(map_r.mean()),
    }


def precision_at_1(
    query_emb, query_labels, ref_emb=None, ref_labels=None, *, chunk_size: int | None = None
) -> float:
    """Share of queries whose nearest reference has the query's label.

    Parameters
    ----------
    query_emb : array of shape (n_queries, d)
        E.g. ``embedding_model.predict(x_test)``.
    query_labels : int array of shape (n_queries,)
    ref_emb : array of shape (n_refs, d), optional
        Where to search, e.g. the training embeddings. By default the queries
        are their own references and each query is left out of its own
        neighbours (by index: a duplicate of the query still counts).
    ref_labels : int array of shape (n_refs,), optional
        Required exactly when ``ref_emb`` is given.
    chunk_size : int, optional
        Queries processed at once; the result does not depend on it.

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ValueError
        If a query's label has no reference (R = 0), shapes disagree, or an
        embedding is NaN/inf.

    Examples
    --------
    >>> precision_at_1(x_test, y_test, x_train, y_train)  # raw pixels of the bundled MNIST
    0.938
    """
    # The nearest reference alone decides: a 1-NN classifier, without sorting R neighbours.
    return knn_accuracy(query_emb, query_labels, ref_emb, ref_labels, k=1, chunk_size=chunk_size)


def r_precision(
    query_emb, query_labels, ref_emb=None, ref_labels=None, *, chunk_size: int | None = None
) -> float:
    """Mean over queries of the share of its R nearest references with its label.

    ``R`` is the number of references that share the query's label (minus the
    query itself when the queries are their own references). A perfect
    embedding scores 1: the R nearest are exactly the R relevant ones.
    Arguments as in :func:`precision_at_1`.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> emb = np.array([[0.0], [1.0], [2.0], [10.0]])
    >>> r_precision(emb, np.array([0, 0, 1, 1]))  # R = 1; only the point at 2 misses
    0.75
    """
    return retrieval_scores(query_emb, query_labels, ref_emb, ref_labels, chunk_size=chunk_size)[
        "r_precision"
    ]


def mean_average_precision_at_r(
    query_emb, query_labels, ref_emb=None, ref_labels=None, *, chunk_size: int | None = None
) -> float:
    """MAP@R: mean over queries of ``(1/R) * sum_{i<=R} P(i) * rel(i)``.

    ``rel(i)`` is 1 when the i-th nearest reference has the query's label,
    ``P(i)`` the share of such references among the first ``i``, and ``R`` as
    in :func:`r_precision`. Unlike R-precision it also rewards *ranking* the
    relevant references first. Arguments as in :func:`precision_at_1`.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> mean_average_precision_at_r(emb_test, y_test, emb_train, y_train)
    0.89
    """
    return retrieval_scores(query_emb, query_labels, ref_emb, ref_labels, chunk_size=chunk_size)[
        "mean_average_precision_at_r"
    ]


def _majority_vote(neighbor_labels: np.ndarray) -> np.ndarray:
    """Most frequent label of each row; ties go to the class of the nearest tied neighbour."""
    votes = (neighbor_labels[:, :, None] == neighbor_labels[:, None, :]).sum(axis=2)
    winner = np.argmax(votes == votes.max(axis=1, keepdims=True), axis=1)  # first = nearest
    return neighbor_labels[np.arange(len(neighbor_labels)), winner]


def knn_accuracy(
    query_emb,
    query_labels,
    ref_emb=None,
    ref_labels=None,
    k: int = 5,
    *,
    chunk_size: int | None = None,
) -> float:
    """Accuracy of a k-nearest-neighbour classifier built on the embeddings.

    Each query is given the label held by most of its ``k`` nearest references.
    **Tie-break**: when several labels get the same number of votes, the
    prediction is the tied label whose member comes first in the neighbour
    order (nearest first, then smaller reference index). With ``k=1`` this is
    precision@1. Arguments as in :func:`precision_at_1`.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> knn_accuracy(emb_test, y_test, emb_train, y_train, k=5)
    0.98
    """
    query, query_labels, ref, ref_labels, loo = _check_retrieval(
        query_emb, query_labels, ref_emb, ref_labels
    )
    _relevant_counts(query_labels, ref_labels, loo)
    k = _check_k(k, len(ref) - int(loo), loo)
    chunk_size = _check_chunk_size(chunk_size, len(ref))
    correct = np.empty(len(query), dtype=bool)
    for rows, top, _ in _iter_neighbors(query, ref, k, leave_one_out=loo, chunk_size=chunk_size):
        correct[rows] = _majority_vote(ref_labels[top]) == query_labels[rows]
    return float(correct.mean())


# --------------------------------------------------------------------------- verification
def _equal_error_rate(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Where FPR = FNR on the ROC curve, interpolating linearly between its points."""
    gap = fpr - (1.0 - tpr)  # rises from -1 at (0, 0) to +1 at (1, 1)
    i = int(np.argmax(gap >= 0))
    if gap[i] == 0 or i == 0:
        return float(fpr[i])
    t = -gap[i - 1] / (gap[i] - gap[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def verification_scores(
    distances, is_same, *, far: float = 1e-2, threshold: float | None = None
) -> dict[str, float]:
    """Score distances as a "same digit?" detector: small distance means "same".

    Parameters
    ----------
    distances : float array of shape (n_pairs,)
        Distance between the two embeddings of each pair.
    is_same : bool array of shape (n_pairs,)
        True where the two examples share a label. Both kinds must occur.
    far : float in (0, 1]
        The false-accept rate at which ``tar_at_far`` is read.
    threshold : float, optional
        A threshold chosen elsewhere (e.g. on other pairs) to score these pairs with.

    Returns
    -------
    dict with float values
        ``roc_auc``
            Area under the ROC curve of the score ``-distance``: the chance
            that a random same pair is closer than a random different pair.
        ``eer``
            Equal error rate: the point of the ROC curve where the false
            positive rate equals the false negative rate (1 - TPR),
            interpolated linearly between the curve's points.
        ``best_threshold``, ``best_f1``
            The rule "same when distance <= threshold" with the threshold
            (one of the given distances) that maximises F1, and that F1.
            On a tie, the largest such threshold.
        ``tar_at_far``
            The largest true-accept rate (TPR) of any threshold whose
            false-accept rate (FPR) is at most ``far``.
        ``f1``, ``accuracy``, ``false_accept_rate``, ``false_reject_rate``
            Only with ``threshold``: the rule "same when distance <= threshold" on
            these pairs: its F1, its share of right decisions, the share of
            different pairs it accepts and the share of same pairs it rejects.

    Examples
    --------
    >>> verification_scores([0.1, 0.2, 0.8, 0.9], [True, True, False, False])["roc_auc"]
    1.0
    """
    from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

    distances, is_same = check_pairs(distances, is_same)
    if isinstance(far, bool) or not isinstance(far, numbers.Real):
        raise TypeError(f"far must be a number in (0, 1], e.g. 1e-2, got {far!r}")
    if not 0 < far <= 1:
        raise ValueError(f"far must be in (0, 1], e.g. 1e-2, got {far!r}")
    score = -distances
    fpr, tpr, _ = roc_curve(is_same, score, drop_intermediate=False)
    precision, recall, thresholds = precision_recall_curve(is_same, score)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.argmax(f1))
    scores = {
        "roc_auc": float(roc_auc_score(is_same, score)),
        "eer": _equal_error_rate(fpr, tpr),
        "best_threshold": float(-thresholds[best]),
        "best_f1": float(f1[best]),
        "tar_at_far": float(tpr[fpr <= far].max()),
    }
    if threshold is not None:
        threshold = check_number(threshold, "threshold", low=0.0)
        accept = distances <= threshold
        true_accepts = int(np.sum(accept & is_same))
        predicted, actual = int(accept.sum()), int(is_same.sum())
        scores["f1"] = 2 * true_accepts / (predicted + actual)  # actual > 0: both kinds occur
        scores["accuracy"] = float(np.mean(accept == is_same))
        scores["false_accept_rate"] = float(np.mean(accept[~is_same]))
        scores["false_reject_rate"] = float(np.mean(~accept[is_same]))
    return scores


def _pair_distances(embeddings: np.ndarray, pairs: np.ndarray, chunk_size: int) -> np.ndarray:
    out = np.empty(len(pairs))
    for start in range(0, len(pairs), chunk_size):
        i, j = pairs[start : start + chunk_size].T
        out[start : start + chunk_size] = np.linalg.norm(embeddings[i] - embeddings[j], axis=1)
    return out


def sample_pairs(
    embeddings,
    labels,
    n_pairs: int,
    *,
    rng,
    return_index: bool = False,
    chunk_size: int = 4096,
):
    """Draw balanced random pairs and their Euclidean distances.

    The first ``n_pairs // 2`` pairs share a label ("same"), the others do
    not ("different"). The first example of a pair is drawn uniformly (among
    classes with at least two examples for same pairs), the second uniformly
    among the allowed partners; an example is never paired with itself. Pairs
    are drawn with replacement, so a pair may repeat.

    Parameters
    ----------
    embeddings : array of shape (n, d)
    labels : int array of shape (n,)
        At least two classes, one of them with at least two examples.
    n_pairs : int
        At least 2.
    rng : numpy.random.Generator or int
        Source of randomness; an int is a seed. The same seed gives the same pairs.
    return_index : bool
        Also return the pairs' row numbers.
    chunk_size : int
        Pairs whose distances are computed at once.

    Returns
    -------
    distances : float array of shape (n_pairs,)
    is_same : bool array of shape (n_pairs,)
        ``n_pairs // 2`` True values, then False ones.
    pairs : int array of shape (n_pairs, 2)
        Only if ``return_index``: the rows ``(i, j)`` of each pair.

    Examples
    --------
    >>> distances, is_same = sample_pairs(emb_test, y_test, 2000, rng=0)
    >>> is_same.sum()
    1000
    """
    emb = check_embeddings(embeddings, "embeddings")
    labels = check_labels(labels, len(emb), "labels", "embeddings")
    n_pairs = positive_int(n_pairs, "n_pairs")
    if n_pairs < 2:
        raise ValueError(f"n_pairs must be at least 2 (one same and one different), got {n_pairs}")
    chunk_size = positive_int(chunk_size, "chunk_size")
    rng = as_rng(rng)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            f"labels hold a single class ({classes[0]}); different pairs need at least two"
        )
    if counts.max() < 2:
        raise ValueError("every class has a single example; same pairs need a class with two")
    order = np.argsort(inverse, kind="stable")  # rows grouped by class
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - starts[inverse[order]]  # position within its class

    n_same = n_pairs // 2
    eligible = np.flatnonzero(counts[inverse] >= 2)
    first = eligible[rng.integers(len(eligible), size=n_same)]
    c = inverse[first]
    shift = rng.integers(1, counts[c])  # 1 .. count-1: any other member of the class
    second = order[starts[c] + (rank[first] + shift) % counts[c]]
    same_pairs = np.stack([first, second], axis=1)

    n_diff = n_pairs - n_same
    first = rng.integers(len(labels), size=n_diff)
    c = inverse[first]
    slot = rng.integers(len(labels) - counts[c])  # skip the block of the first's class
    slot = np.where(slot < starts[c], slot, slot + counts[c])
    diff_pairs = np.stack([first, order[slot]], axis=1)

    pairs = np.concatenate([same_pairs, diff_pairs])
    distances = _pair_distances(emb, pairs, chunk_size)
    is_same = np.arange(n_pairs) < n_same
    return (distances, is_same, pairs) if return_index else (distances, is_same)

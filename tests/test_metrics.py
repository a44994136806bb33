"""Tests for helpers.metrics against brute-force references and hand-worked cases."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from helpers import metrics
from helpers.metrics import (
    knn_accuracy,
    mean_average_precision_at_r,
    nearest_neighbors,
    precision_at_1,
    r_precision,
    retrieval_scores,
    sample_pairs,
    verification_scores,
)


# --------------------------------------------------------------------------- brute-force references
def brute_neighbor_orders(query, ref, leave_one_out):
    """Full distance matrix, then per query every reference sorted by (distance, index)."""
    dist = np.sqrt(((query[:, None, :] - ref[None, :, :]) ** 2).sum(axis=-1))
    orders = []
    for i in range(len(query)):
        cand = np.arange(len(ref))
        if leave_one_out:
            cand = cand[cand != i]
        orders.append(cand[np.lexsort((cand, dist[i, cand]))])
    return orders, dist


def brute_retrieval(query, q_labels, ref=None, r_labels=None):
    leave_one_out = ref is None
    if leave_one_out:
        ref, r_labels = query, q_labels
    orders, _ = brute_neighbor_orders(query, ref, leave_one_out)
    p1, r_prec, ap = [], [], []
    for i, order in enumerate(orders):
        rel = r_labels[order] == q_labels[i]
        big_r = int(rel.sum())  # every relevant reference, counted over the whole order
        p1.append(float(rel[0]))
        r_prec.append(rel[:big_r].sum() / big_r)
        total = 0.0
        for j in range(big_r):
            if rel[j]:
                total += rel[: j + 1].sum() / (j + 1)
        ap.append(total / big_r)
    return np.mean(p1), np.mean(r_prec), np.mean(ap)


def brute_knn(query, q_labels, ref, r_labels, k):
    leave_one_out = ref is None
    if leave_one_out:
        ref, r_labels = query, q_labels
    orders, _ = brute_neighbor_orders(query, ref, leave_one_out)
    correct = []
    for i, order in enumerate(orders):
        found = [int(label) for label in r_labels[order[:k]]]
        counts = Counter(found)
        best = max(counts.values())
        prediction = next(label for label in found if counts[label] == best)  # nearest tied
        correct.append(prediction == q_labels[i])
    return np.mean(correct)


def random_set(seed, n, d=3, n_classes=4, *, integer=False):
    rng = np.random.default_rng(seed)
    emb = rng.integers(0, 3, size=(n, d)).astype(float) if integer else rng.normal(size=(n, d))
    labels = rng.permutation(np.arange(n) % n_classes)  # every class at least twice
    return emb, labels


# ----------------------------------------------------------------- retrieval vs brute force
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("integer", [False, True], ids=["float", "many-ties"])
def test_retrieval_with_reference_set_matches_brute_force(seed, integer):
    ref, r_labels = random_set(seed, 60, integer=integer)
    query, q_labels = random_set(seed + 100, 25, integer=integer)
    expected = brute_retrieval(query, q_labels, ref, r_labels)
    args = (query, q_labels, ref, r_labels)
    assert precision_at_1(*args) == pytest.approx(expected[0])
    assert r_precision(*args) == pytest.approx(expected[1])
    assert mean_average_precision_at_r(*args) == pytest.approx(expected[2])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("integer", [False, True], ids=["float", "many-ties"])
def test_retrieval_leave_one_out_matches_brute_force(seed, integer):
    emb, labels = random_set(seed, 50, integer=integer)
    expected = brute_retrieval(emb, labels)
    scores = retrieval_scores(emb, labels)
    assert scores["precision_at_1"] == pytest.approx(expected[0])
    assert scores["r_precision"] == pytest.approx(expected[1])
    assert scores["mean_average_precision_at_r"] == pytest.approx(expected[2])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 2, 4, 7])
@pytest.mark.parametrize("leave_one_out", [False, True])
def test_knn_accuracy_matches_brute_force(seed, k, leave_one_out):
    emb, labels = random_set(seed, 40, integer=True)  # integer points: many tied votes
    query, q_labels = random_set(seed + 7, 15, integer=True)
    if leave_one_out:
        expected = brute_knn(emb, labels, None, None, k)
        got = knn_accuracy(emb, labels, k=k)
    else:
        expected = brute_knn(query, q_labels, emb, labels, k)
        got = knn_accuracy(query, q_labels, emb, labels, k=k)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("leave_one_out", [False, True])
def test_nearest_neighbors_matches_brute_force(seed, leave_one_out):
    ref, _ = random_set(seed, 30, integer=True)
    query = ref if leave_one_out else random_set(seed + 1, 12, integer=True)[0]
    orders, dist = brute_neighbor_orders(query, ref, leave_one_out)
    idx, d = nearest_neighbors(query, None if leave_one_out else ref, k=6)
    np.testing.assert_array_equal(idx, np.array([order[:6] for order in orders]))
    np.testing.assert_allclose(d, np.take_along_axis(dist, idx, axis=1), rtol=1e-12)


def test_p_at_1_equals_knn_with_k_1():
    emb, labels = random_set(5, 40)
    assert knn_accuracy(emb, labels, k=1) == precision_at_1(emb, labels)


# --------------------------------------------------------------------------- hand-worked cases
def test_hand_computed_with_reference_set():
    # references on a line: x = 0, 1, 2, 5, 6 with labels 0, 0, 1, 1, 0.
    ref = np.array([[0.0], [1.0], [2.0], [5.0], [6.0]])
    ref_labels = np.array([0, 0, 1, 1, 0])
    # query 0.4, label 0: distances .4 .6 1.6 4.6 5.6 -> labels in order 0 0 1 1 0; R = 3.
    #   P@1 = 1;  R-precision = 2/3;  AP@R = (1/3)(P(1) + P(2)) = (1/3)(1 + 1) = 2/3.
    # query 5.8, label 1: distances 5.8 4.8 3.8 .8 .2 -> order 6(0) 5(1) 2(1) 1(0) 0(0); R = 2.
    #   P@1 = 0;  R-precision = 1/2;  AP@R = (1/2)(0 + P(2)) = (1/2)(1/2) = 1/4.
    query = np.array([[0.4], [5.8]])
    query_labels = np.array([0, 1])
    args = (query, query_labels, ref, ref_labels)
    assert precision_at_1(*args) == pytest.approx((1 + 0) / 2)
    assert r_precision(*args) == pytest.approx((2 / 3 + 1 / 2) / 2)  # 7/12
    assert mean_average_precision_at_r(*args) == pytest.approx((2 / 3 + 1 / 4) / 2)  # 11/24


def test_hand_computed_leave_one_out():
    # x = 0, 1, 3, 4, 10 with labels 0, 0, 0, 1, 1; each point searches the other four.
    # x=0  (0): 1(0) 3(0) 4(1) 10(1), R=2 -> P@1 1, RP 1,   AP 1
    # x=1  (0): 0(0) 3(0) 4(1) 10(1), R=2 -> P@1 1, RP 1,   AP 1
    # x=3  (0): 4(1) 1(0) 0(0) 10(1), R=2 -> P@1 0, RP 1/2, AP (1/2)(0 + 1/2) = 1/4
    # x=4  (1): 3(0) 1(0) 0(0) 10(1), R=1 -> P@1 0, RP 0,   AP 0
    # x=10 (1): 4(1) 3(0) 1(0) 0(0),  R=1 -> P@1 1, RP 1,   AP 1
    emb = np.array([[0.0], [1.0], [3.0], [4.0], [10.0]])
    labels = np.array([0, 0, 0, 1, 1])
    scores = retrieval_scores(emb, labels)
    assert scores["precision_at_1"] == pytest.approx(3 / 5)
    assert scores["r_precision"] == pytest.approx(3.5 / 5)
    assert scores["mean_average_precision_at_r"] == pytest.approx(3.25 / 5)


def test_leave_one_out_is_by_index_so_duplicates_count():
    # x = 0, 0, 0.5, 3 with labels 0, 0, 1, 1.
    # x=0 (#0): the duplicate #1 (distance 0, label 0) is the nearest -> right.
    # x=0 (#1): #0 at distance 0 -> right.
    # x=0.5 (#2): #0 and #1 tie at 0.5, the smaller index #0 (label 0) wins -> wrong.
    # x=3 (#3): #2 at 2.5 (label 1) -> right.   P@1 = 3/4.
    # Dropping every neighbour at distance 0 would instead give 1/4.
    emb = np.array([[0.0], [0.0], [0.5], [3.0]])
    labels = np.array([0, 0, 1, 1])
    assert precision_at_1(emb, labels) == pytest.approx(3 / 4)


def test_distance_ties_are_broken_by_reference_index():
    query, query_labels = np.array([[0.0]]), np.array([1])
    # both references are at distance 1; the first one (index 0) is "the" nearest.
    assert precision_at_1(query, query_labels, np.array([[-1.0], [1.0]]), np.array([0, 1])) == 0
    assert precision_at_1(query, query_labels, np.array([[1.0], [-1.0]]), np.array([1, 0])) == 1
    idx, _ = nearest_neighbors(np.zeros((1, 1)), np.array([[1.0], [-1.0], [1.0], [-1.0]]), k=3)
    np.testing.assert_array_equal(idx, [[0, 1, 2]])


def test_knn_tie_break_goes_to_the_nearest_tied_class():
    ref = np.array([[1.0], [-2.0], [3.0], [-4.0], [5.0]])
    ref_labels = np.array([2, 0, 0, 2, 7])
    query = np.zeros((1, 1))
    # k=2: votes 2:1, 0:1 -> tie, the nearest (x=1) has label 2.
    assert knn_accuracy(query, np.array([2]), ref, ref_labels, k=2) == 1
    assert knn_accuracy(query, np.array([0]), ref, ref_labels, k=2) == 0
    # k=3: votes 0:2, 2:1 -> majority 0 even though the nearest is a 2.
    assert knn_accuracy(query, np.array([0]), ref, ref_labels, k=3) == 1
    # k=4: votes 2:2, 0:2 -> tie again, nearest wins: 2.
    assert knn_accuracy(query, np.array([2]), ref, ref_labels, k=4) == 1


def test_perfect_and_worst_embeddings():
    labels = np.repeat([0, 1, 2], 4)
    clustered = labels[:, None] * 100.0 + np.arange(12)[:, None] * 0.01
    assert retrieval_scores(clustered, labels) == {
        "precision_at_1": 1.0,
        "r_precision": 1.0,
        "mean_average_precision_at_r": 1.0,
    }
    # four classes, three clusters, each cluster holding one example of every class:
    # every point's 3 nearest neighbours have other labels, and R = 2.
    labels = np.tile([0, 1, 2, 3], 3)
    mixed = np.repeat([0.0, 100.0, 200.0], 4)[:, None] + labels[:, None]
    assert retrieval_scores(mixed, labels) == {
        "precision_at_1": 0.0,
        "r_precision": 0.0,
        "mean_average_precision_at_r": 0.0,
    }


# --------------------------------------------------------------------------- chunking
@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1000])
@pytest.mark.parametrize("integer", [False, True], ids=["float", "many-ties"])
def test_chunked_equals_unchunked(chunk_size, integer):
    ref, r_labels = random_set(11, 80, d=4, integer=integer)
    query, q_labels = random_set(12, 33, d=4, integer=integer)
    for args in ((query, q_labels, ref, r_labels), (ref, r_labels)):
        whole = len(args[0])  # every query in one chunk
        assert retrieval_scores(*args, chunk_size=chunk_size) == retrieval_scores(
            *args, chunk_size=whole
        )
        assert knn_accuracy(*args, k=5, chunk_size=chunk_size) == knn_accuracy(
            *args, k=5, chunk_size=whole
        )
    chunked = nearest_neighbors(query, ref, k=9, chunk_size=chunk_size)
    whole = nearest_neighbors(query, ref, k=9, chunk_size=len(query))
    np.testing.assert_array_equal(chunked[0], whole[0])
    # The distances come from one matrix product per chunk; BLAS may sum in another order
    # for another chunk shape, which moves float64 results by a few ulps (about 1e-15 here).
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-12, atol=1e-12)


def test_squared_distances_match_a_brute_force_loop(rng):
    query, ref = rng.normal(size=(7, 5)), rng.normal(size=(9, 5))
    brute = np.array([[np.sum((q - r) ** 2) for r in ref] for q in query])
    np.testing.assert_allclose(metrics.squared_distances(query, ref), brute, rtol=1e-12)


def test_identical_rows_are_at_distance_exactly_zero():
    # Exact by construction: the rounding rule sets the noise of |a|^2 + |a|^2 - 2 a.a to 0.
    rows = np.random.default_rng(3).normal(size=(50, 64)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    sq = metrics.squared_distances(rows, rows)
    assert np.all(np.diag(sq) == 0.0)
    assert np.all(sq >= 0.0)
    # and distances of a genuinely different pair are kept: 1e-3 apart is far above the noise
    near = np.stack([rows[0], rows[0] + 1e-3 * rows[1]])
    assert metrics.squared_distances(near, near)[0, 1] == pytest.approx(1e-6, rel=1e-3)


def test_the_rounding_rule_uses_each_pair_own_norms():
    # Rows of very different sizes in one call: duplicates of large rows are exactly 0 apart,
    # while two small rows 1e-6 apart (squared distance 1e-12, far above their own rounding
    # noise of about 1e-21) keep their distance although it is below the large rows' noise.
    rng = np.random.default_rng(8)
    big = 1e3 * rng.normal(size=(3, 4))
    small = 1e-3 * rng.normal(size=(1, 4))
    step = np.zeros((1, 4))
    step[0, 0] = 1e-6
    rows = np.vstack([big, big, small, small + step])
    sq = metrics.squared_distances(rows, rows)
    for i in range(3):
        assert sq[i, i + 3] == 0.0 and sq[i + 3, i] == 0.0  # exact by the rule
    assert sq[6, 7] == pytest.approx(1e-12, rel=1e-3)
    assert sq[0, 1] == pytest.approx(np.sum((big[0] - big[1]) ** 2), rel=1e-9)


def test_squared_distances_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same d"):
        metrics.squared_distances(np.zeros((2, 3)), np.zeros((2, 4)))


def test_default_chunk_bounds_memory():
    # 60,000 references: at most CHUNK_ELEMENTS distances (32 MiB of float64) at a time.
    rows = metrics._check_chunk_size(None, 60_000)
    assert 1 <= rows and rows * 60_000 <= metrics.CHUNK_ELEMENTS
    assert metrics._check_chunk_size(None, 10) == metrics.MAX_CHUNK_ROWS


def test_chunks_never_exceed_chunk_size(monkeypatch):
    seen = []
    original = metrics._top_k_sorted

    def spy(sq_dist, k):
        seen.append(sq_dist.shape)
        return original(sq_dist, k)

    monkeypatch.setattr(metrics, "_top_k_sorted", spy)
    ref, r_labels = random_set(0, 50)
    precision_at_1(ref[:23], r_labels[:23], ref, r_labels, chunk_size=5)
    assert seen == [(5, 50)] * 4 + [(3, 50)]


# --------------------------------------------------------------------------- verification
def brute_roc_points(distances, is_same):
    """(FPR, TPR) of the rule distance <= t for t = -inf and every distinct distance."""
    points = [(0.0, 0.0)]
    for t in np.unique(distances):
        accepted = distances <= t
        points.append((accepted[~is_same].mean(), accepted[is_same].mean()))
    return np.array(points)


def brute_f1(distances, is_same, t):
    predicted = distances <= t
    tp = np.sum(predicted & is_same)
    fp = np.sum(predicted & ~is_same)
    fn = np.sum(~predicted & is_same)
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def random_pairs(seed, n=300, ties=False):
    rng = np.random.default_rng(seed)
    is_same = rng.random(n) < 0.4
    distances = rng.normal(loc=np.where(is_same, 1.0, 2.0), scale=0.7)
    if ties:
        distances = np.round(distances, 1)
    return distances, is_same


def test_perfect_separation():
    scores = verification_scores([0.1, 0.2, 0.3, 0.5, 0.6], [True, True, True, False, False])
    assert scores == {
        "roc_auc": 1.0,
        "eer": 0.0,
        "best_threshold": 0.3,
        "best_f1": 1.0,
        "tar_at_far": 1.0,
    }


def test_hand_worked_crossing():
    # same pairs at 1, 2, 4; different pairs at 3, 5.
    # ROC points (FPR, TPR): (0,0) (0,1/3) (0,2/3) (1/2,2/3) (1/2,1) (1,1).
    # AUC: same < different in 5 of the 6 (same, different) couples -> 5/6.
    # FPR - FNR: -1, -2/3, -1/3, +1/6, ... changes sign between (0, 2/3) and (1/2, 2/3):
    #   t = (1/3) / (1/3 + 1/6) = 2/3 -> FPR = 2/3 * 1/2 = 1/3 = FNR -> EER = 1/3.
    # F1 of "same if d <= t": t=1: 1/2, t=2: 4/5, t=3: 2/3, t=4: 6/7, t=5: 3/4 -> best 6/7 at 4.
    distances = [1.0, 2.0, 3.0, 4.0, 5.0]
    is_same = [True, True, False, True, False]
    scores = verification_scores(distances, is_same, far=0.4)
    assert scores["roc_auc"] == pytest.approx(5 / 6)
    assert scores["eer"] == pytest.approx(1 / 3)
    assert scores["best_f1"] == pytest.approx(6 / 7)
    assert scores["best_threshold"] == 4.0
    assert scores["tar_at_far"] == pytest.approx(2 / 3)  # the best point with FPR <= 0.4
    assert verification_scores(distances, is_same, far=0.5)["tar_at_far"] == 1.0


def test_integer_flags_are_accepted():
    as_bool = verification_scores([1.0, 2.0, 3.0, 4.0], [True, False, True, False])
    as_int = verification_scores([1.0, 2.0, 3.0, 4.0], [1, 0, 1, 0])
    assert as_bool == as_int


def test_scores_at_a_given_threshold_by_hand():
    # same pairs at 0.1, 0.4, 0.7; different pairs at 0.3, 0.8, 0.9, 1.0; threshold 0.5
    distances = [0.1, 0.4, 0.7, 0.3, 0.8, 0.9, 1.0]
    is_same = [True, True, True, False, False, False, False]
    scores = verification_scores(distances, is_same, threshold=0.5)
    # accepted: 0.1, 0.4 (same) and 0.3 (different): TP 2, FP 1, FN 1, TN 3
    assert scores["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert scores["accuracy"] == pytest.approx(5 / 7)
    assert scores["false_accept_rate"] == pytest.approx(1 / 4)
    assert scores["false_reject_rate"] == pytest.approx(1 / 3)
    assert "f1" not in verification_scores(distances, is_same)  # only with a threshold


def test_a_given_threshold_must_be_a_non_negative_number():
    with pytest.raises(TypeError, match="threshold must be a number"):
        verification_scores([0.1, 0.2], [True, False], threshold="0.5")
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        verification_scores([0.1, 0.2], [True, False], threshold=-1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_auc_matches_pair_counting(seed, ties):
    distances, is_same = random_pairs(seed, ties=ties)
    same, diff = distances[is_same], distances[~is_same]
    wins = (same[:, None] < diff[None, :]).mean() + 0.5 * (same[:, None] == diff[None, :]).mean()
    assert verification_scores(distances, is_same)["roc_auc"] == pytest.approx(wins)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_eer_point_lies_on_the_roc_polyline_with_fpr_equal_fnr(seed, ties):
    distances, is_same = random_pairs(seed, ties=ties)
    eer = verification_scores(distances, is_same)["eer"]
    point = np.array([eer, 1.0 - eer])  # FPR = eer and FNR = 1 - TPR = eer
    points = brute_roc_points(distances, is_same)
    on_a_segment = False
    for a, b in zip(points[:-1], points[1:], strict=True):
        ab, ap = b - a, point - a
        length2 = ab @ ab
        if length2 == 0:
            continue
        t = (ap @ ab) / length2
        if -1e-9 <= t <= 1 + 1e-9 and np.linalg.norm(ap - t * ab) < 1e-9:
            on_a_segment = True
    assert on_a_segment
    assert 0 < eer < 1


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("far", [1e-2, 0.05, 0.3, 1.0])
def test_tar_at_far_matches_threshold_sweep(seed, ties, far):
    distances, is_same = random_pairs(seed, ties=ties)
    points = brute_roc_points(distances, is_same)
    expected = points[points[:, 0] <= far, 1].max()
    got = verification_scores(distances, is_same, far=far)["tar_at_far"]
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_best_f1_matches_threshold_sweep(seed, ties):
    distances, is_same = random_pairs(seed, ties=ties)
    thresholds = np.unique(distances)
    f1 = np.array([brute_f1(distances, is_same, t) for t in thresholds])
    scores = verification_scores(distances, is_same)
    assert scores["best_f1"] == pytest.approx(f1.max())
    assert brute_f1(distances, is_same, scores["best_threshold"]) == pytest.approx(f1.max())
    assert scores["best_threshold"] == thresholds[np.flatnonzero(np.isclose(f1, f1.max()))[-1]]


# --------------------------------------------------------------------------- sample_pairs
def test_sample_pairs_balance_labels_and_distances():
    emb, labels = random_set(3, 40, d=5, n_classes=5)
    distances, is_same, pairs = sample_pairs(emb, labels, 501, rng=0, return_index=True)
    assert distances.shape == is_same.shape == (501,) and pairs.shape == (501, 2)
    assert is_same.sum() == 250 and (~is_same).sum() == 251
    assert np.all(pairs[:, 0] != pairs[:, 1])
    np.testing.assert_array_equal(is_same, labels[pairs[:, 0]] == labels[pairs[:, 1]])
    expected = [np.linalg.norm(emb[i] - emb[j]) for i, j in pairs]
    np.testing.assert_allclose(distances, expected, rtol=1e-12)
    assert sample_pairs(emb, labels, 501, rng=0)[0].tolist() == distances.tolist()


def test_sample_pairs_is_deterministic_for_a_seed():
    emb, labels = random_set(4, 30)
    first = sample_pairs(emb, labels, 100, rng=7, return_index=True)
    again = sample_pairs(emb, labels, 100, rng=np.random.default_rng(7), return_index=True)
    other = sample_pairs(emb, labels, 100, rng=8, return_index=True)
    np.testing.assert_array_equal(first[2], again[2])
    assert not np.array_equal(first[2], other[2])


def test_sample_pairs_reaches_every_allowed_pair_and_skips_singletons():
    # labels 5, 5, 5, 9, 9, 42 (42 has one example: never in a same pair).
    labels = np.array([5, 9, 5, 42, 9, 5])
    emb = np.arange(6, dtype=float)[:, None]
    _, is_same, pairs = sample_pairs(emb, labels, 4000, rng=1, return_index=True)
    same = {tuple(p) for p in pairs[is_same]}
    different = {tuple(p) for p in pairs[~is_same]}
    all_same = {(i, j) for i in range(6) for j in range(6) if i != j and labels[i] == labels[j]}
    all_diff = {(i, j) for i in range(6) for j in range(6) if labels[i] != labels[j]}
    assert same == all_same
    assert different == all_diff


def test_sample_pairs_feeds_verification():
    emb, labels = random_set(9, 60)
    scores = verification_scores(*sample_pairs(emb, labels, 200, rng=0))
    assert set(scores) == {"roc_auc", "eer", "best_threshold", "best_f1", "tar_at_far"}


# --------------------------------------------------------------------------- bad inputs
EMB = np.arange(12, dtype=float).reshape(6, 2)
LABELS = np.array([0, 0, 1, 1, 2, 2])
RETRIEVAL = [precision_at_1, r_precision, mean_average_precision_at_r, knn_accuracy]


def _with_nan():
    emb = EMB.copy()
    emb[2, 1] = np.nan
    return emb


@pytest.mark.parametrize("func", RETRIEVAL, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((EMB[:, 0], LABELS), ValueError, r"shape \(n, d\)"),
        ((EMB, LABELS[:5]), ValueError, "one label per embedding"),
        ((EMB, LABELS[:, None]), ValueError, "1-D"),
        ((EMB, LABELS.astype(float)), TypeError, "integer class labels"),
        ((EMB, LABELS.astype(str)), TypeError, "integer class labels"),
        ((EMB.astype(str), LABELS), TypeError, "real numbers"),
        ((_with_nan(), LABELS), ValueError, "NaN or inf"),
        ((EMB + np.inf, LABELS), ValueError, "NaN or inf"),
        ((np.zeros((0, 2)), np.zeros(0, dtype=int)), ValueError, "empty"),
        ((None, LABELS), TypeError, "got None"),
        ((EMB, np.array([0, 0, 1, 1, 2, 3])), ValueError, "appears only once"),
        ((EMB, LABELS, EMB[:, :1], LABELS), ValueError, "dimensions"),
        ((EMB, LABELS, EMB[:4], LABELS[:4]), ValueError, "does not appear in ref_labels"),
        ((EMB, LABELS, EMB, LABELS[:5]), ValueError, "one label per embedding"),
        ((EMB, LABELS, EMB), ValueError, "both ref_emb and ref_labels"),
        ((EMB, LABELS, None, LABELS), ValueError, "both ref_emb and ref_labels"),
    ],
)
def test_retrieval_bad_inputs(func, args, error, match):
    with pytest.raises(error, match=match):
        func(*args)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 0}, ValueError, "at least 1"),
        ({"k": 2.5}, TypeError, "k must be an int"),
        ({"k": 6}, ValueError, "only 5 other queries"),
        ({"k": 3, "chunk_size": 0}, ValueError, "chunk_size must be at least 1"),
    ],
)
def test_knn_bad_k(kwargs, error, match):
    with pytest.raises(error, match=match):
        knn_accuracy(EMB, LABELS, **kwargs)


def test_knn_k_larger_than_reference_set():
    with pytest.raises(ValueError, match="only 2 references"):
        knn_accuracy(EMB[:2], LABELS[:2], EMB[:2], LABELS[:2], k=3)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((EMB, EMB[:, :1]), {}, ValueError, "dimensions"),
        ((EMB,), {"k": 0}, ValueError, "at least 1"),
        ((EMB, EMB[:3]), {"k": 4}, ValueError, "only 3 references"),
        ((_with_nan(),), {}, ValueError, "NaN or inf"),
    ],
)
def test_nearest_neighbors_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        nearest_neighbors(*args, **kwargs)


D4 = np.array([0.1, 0.2, 0.3, 0.4])
S4 = np.array([True, False, True, False])


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((D4, S4[:3]), {}, ValueError, "one flag per pair"),
        ((D4[:, None], S4), {}, ValueError, "1-D"),
        ((np.array([0.1, np.nan, 0.3, 0.4]), S4), {}, ValueError, "NaN or inf"),
        ((np.array([0.1, np.inf, 0.3, 0.4]), S4), {}, ValueError, "NaN or inf"),
        ((D4, np.ones(4, dtype=bool)), {}, ValueError, "only same pairs"),
        ((D4, np.zeros(4, dtype=bool)), {}, ValueError, "only different pairs"),
        ((D4, np.array([0.0, 0.5, 1.0, 0.0])), {}, TypeError, "booleans"),
        ((D4, np.array([0, 2, 1, 0])), {}, TypeError, "booleans"),
        ((D4.astype(str), S4), {}, TypeError, "real numbers"),
        ((np.zeros(0), np.zeros(0, dtype=bool)), {}, ValueError, "empty"),
        ((None, S4), {}, TypeError, "got None"),
        ((D4, S4), {"far": 0}, ValueError, r"far must be in \(0, 1\]"),
        ((D4, S4), {"far": 1.5}, ValueError, r"far must be in \(0, 1\]"),
        ((D4, S4), {"far": "1%"}, TypeError, "far must be a number"),
    ],
)
def test_verification_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        verification_scores(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((EMB, LABELS, 1), {"rng": 0}, ValueError, "at least 2"),
        ((EMB, LABELS, 0), {"rng": 0}, ValueError, "at least 1"),
        ((EMB, LABELS, 2.0), {"rng": 0}, TypeError, "n_pairs must be an int"),
        ((EMB, LABELS * 0, 10), {"rng": 0}, ValueError, "single class"),
        ((EMB, np.arange(6), 10), {"rng": 0}, ValueError, "single example"),
        ((EMB, LABELS, 10), {"rng": "seed"}, TypeError, "rng must be"),
        ((EMB, LABELS.astype(float), 10), {"rng": 0}, TypeError, "integer class labels"),
        ((EMB, LABELS[:4], 10), {"rng": 0}, ValueError, "one label per embedding"),
        ((_with_nan(), LABELS, 10), {"rng": 0}, ValueError, "NaN or inf"),
    ],
)
def test_sample_pairs_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        sample_pairs(*args, **kwargs)


def test_sample_pairs_needs_rng():
    with pytest.raises(TypeError, match="rng"):
        sample_pairs(EMB, LABELS, 10)


def test_float32_references_give_the_float64_answer():
    # float32 references are converted to float64 block by block (REF_BLOCK_ROWS at a time),
    # so the result must be the float64 computation's, across block boundaries too.
    rng = np.random.default_rng(11)
    ref = rng.normal(size=(2 * metrics.REF_BLOCK_ROWS + 5, 3)).astype(np.float32)
    query = rng.normal(size=(4, 3))
    want = metrics.squared_distances(query, ref.astype(np.float64))
    np.testing.assert_allclose(metrics.squared_distances(query, ref), want, rtol=1e-12, atol=1e-12)

"""Online triplet-mining losses against brute-force loops over every (a, p, n)."""

import math

import keras
import numpy as np
import pytest

from backend_tools import to_numpy, tol
from backend_tools import value_and_grad as _value_and_grad
from helpers.losses import (
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    pairwise_distances,
    semi_hard_triplet_loss,
)

LOSSES = {
    "batch_all": batch_all_triplet_loss,
    "batch_hard": batch_hard_triplet_loss,
    "soft_batch_hard": lambda y, e, **kw: batch_hard_triplet_loss(y, e, soft=True, **kw),
    "semi_hard": semi_hard_triplet_loss,
}


# ---------------------------------------------------------------- references


def ref_distances(emb, squared):
    sq = np.array([[np.sum((a - b) ** 2) for b in emb] for a in emb])
    return sq if squared else np.sqrt(sq)


def ref_batch_all(labels, emb, margin=0.2, squared=False):
    d = ref_distances(emb, squared)
    losses = []
    for a, p, n in _triplets(labels):
        loss = d[a, p] - d[a, n] + margin
        if loss > 0:
            losses.append(loss)
    return float(np.mean(losses)) if losses else 0.0


def ref_batch_hard(labels, emb, margin=0.2, squared=False, soft=False):
    d = ref_distances(emb, squared)
    losses = []
    for a in range(len(labels)):
        pos = [d[a, p] for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        neg = [d[a, n] for n in range(len(labels)) if labels[n] != labels[a]]
        if pos and neg:
            gap = max(pos) - min(neg)
            losses.append(math.log1p(math.exp(gap)) if soft else max(gap + margin, 0.0))
    return float(np.mean(losses)) if losses else 0.0


def ref_semi_hard(labels, emb, margin=0.2, squared=False):
    """TF-Addons' definition, one positive pair at a time."""
    d = ref_distances(emb, squared)
    total, n_pairs = 0.0, 0
    for a in range(len(labels)):
        neg = [d[a, n] for n in range(len(labels)) if labels[n] != labels[a]]
        for p in range(len(labels)):
            if p == a or labels[p] != labels[a]:
                continue
            n_pairs += 1
            if not neg:
                continue
            farther = [x for x in neg if x > d[a, p]]
            neg_dist = min(farther) if farther else max(neg)
            total += max(d[a, p] - neg_dist + margin, 0.0)
    return total / n_pairs if n_pairs else 0.0


def _triplets(labels):
    b = len(labels)
    for a in range(b):
        for p in range(b):
            if p == a or labels[p] != labels[a]:
                continue
            for n in range(b):
                if labels[n] != labels[a]:
                    yield a, p, n


REFERENCES = {
    "batch_all": ref_batch_all,
    "batch_hard": ref_batch_hard,
    "soft_batch_hard": lambda y, e, **kw: ref_batch_hard(y, e, soft=True, **kw),
    "semi_hard": ref_semi_hard,
}


def value_and_grad(loss_fn, labels, emb, **kwargs):
    return _value_and_grad(loss_fn, labels, wrt=emb, **kwargs)


def random_batch(seed, batch, n_classes, dim=5, dtype="float64"):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=batch)
    emb = rng.normal(size=(batch, dim))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return labels, emb.astype(dtype)


# ---------------------------------------------------------- pairwise distances


@pytest.mark.parametrize("squared", [False, True])
def test_pairwise_distances_match_numpy(squared):
    _, emb = random_batch(0, 12, 3, dim=7)
    emb = emb * np.linspace(0.5, 3.0, 12)[:, None]  # not unit vectors
    dist = pairwise_distances(emb, squared=squared)
    # float64 rounding is ~1e-15 per term; JAX (64-bit mode off) computes in float32 (~1e-7).
    rtol, atol = tol(dist, 1e-10, 1e-5), tol(dist, 1e-12, 1e-5)
    np.testing.assert_allclose(to_numpy(dist), ref_distances(emb, squared), rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("half", [3, 5, 16])
def test_pairwise_distances_of_duplicates_are_exactly_zero_with_finite_gradient(dtype, seed, half):
    # Rounding leaves |a|^2 + |a|^2 - 2 a.a at up to +-2e-7 (float32) or +-1e-15 (float64)
    # for some of these batches instead of 0.
    _, emb = random_batch(seed, half, 4, dim=64, dtype=dtype)
    emb = np.concatenate([emb, emb])  # every row twice
    dist, grad = value_and_grad(lambda _, e: pairwise_distances(e), None, emb)
    idx = np.arange(half)
    assert np.all(dist[idx, idx + half] == 0.0)
    assert np.all(np.diag(dist) == 0.0)
    assert np.all(np.isfinite(grad))
    # d/de_i of sum_j |e_i - e_j| over distinct points: twice the sum of unit vectors, twice
    # because each pair appears as (i, j) and (j, i); duplicates (distance 0) add nothing.
    diff = emb[:, None, :] - emb[None, :, :]
    norm = np.linalg.norm(diff, axis=-1, keepdims=True)
    unit = np.divide(diff, norm, out=np.zeros_like(diff), where=norm > 0)
    np.testing.assert_allclose(grad, 2 * unit.sum(axis=1), rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------- against the loops


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize(
    ("seed", "batch", "n_classes"), [(0, 6, 2), (1, 17, 3), (2, 24, 4), (3, 40, 9), (4, 33, 2)]
)
def test_loss_matches_brute_force(name, squared, seed, batch, n_classes):
    labels, emb = random_batch(seed, batch, n_classes)
    got = float(LOSSES[name](labels, emb, margin=0.3, squared=squared))
    want = REFERENCES[name](labels, emb, margin=0.3, squared=squared)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("margin", [0.0, 0.5, 3.0])
def test_loss_matches_brute_force_with_many_ties(name, margin):
    # Points of a small integer grid: many distances are exactly equal, which decides
    # "> d(a, p)" for semi-hard and "loss > 0" for batch-all.
    rng = np.random.default_rng(7)
    emb = rng.integers(0, 2, size=(30, 3)).astype("float64")
    labels = rng.integers(0, 3, size=30)
    got = float(LOSSES[name](labels, emb, margin=margin))
    want = REFERENCES[name](labels, emb, margin=margin)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_float32_embeddings_give_the_float64_loss(name):
    labels, emb = random_batch(11, 64, 8, dim=16, dtype="float32")
    got = float(LOSSES[name](labels, emb))
    want = REFERENCES[name](labels, emb.astype("float64"))
    assert got == pytest.approx(want, rel=1e-4, abs=1e-6)


def test_margin_and_soft_change_batch_hard_as_the_formula_says():
    labels, emb = random_batch(5, 20, 3)
    assert float(batch_hard_triplet_loss(labels, emb, margin=0.7)) == pytest.approx(
        ref_batch_hard(labels, emb, margin=0.7), rel=1e-6
    )
    # soft ignores the margin
    soft = [float(batch_hard_triplet_loss(labels, emb, margin=m, soft=True)) for m in (0.1, 2.0)]
    assert soft[0] == soft[1]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_matches_finite_differences(name):
    labels, emb = random_batch(8, 10, 3, dim=3)
    _, grad = value_and_grad(LOSSES[name], labels, emb, margin=0.4)

    # Central differences in float64 numpy, on the brute-force reference (the loss itself may
    # compute in float32 off TensorFlow, where a step of 1e-6 would drown in rounding).
    def loss_at(e):
        return REFERENCES[name](labels, e, margin=0.4)

    step = 1e-6
    numeric = np.zeros_like(emb)
    for i in np.ndindex(emb.shape):
        bump = np.zeros_like(emb)
        bump[i] = step
        numeric[i] = (loss_at(emb + bump) - loss_at(emb - bump)) / (2 * step)
    # float64 (TensorFlow): agreement to ~1e-9; float32 autodiff: to ~1e-6 relative.
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------- degenerate batches


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize(
    "labels",
    [[0, 1, 2, 3, 4, 5], [2, 2, 2, 2, 2, 2], [7]],
    ids=["no_positive_pair", "one_class", "batch_of_one"],
)
def test_no_valid_triplet_gives_zero_and_zero_gradient(name, labels):
    labels = np.array(labels)
    _, emb = random_batch(3, len(labels), 1)
    loss, grad = value_and_grad(LOSSES[name], labels, emb)
    assert loss.shape == ()
    # exact by construction: with no valid triplet every term is masked out, so the loss and
    # its gradient are sums of nothing (or of terms multiplied by an exact 0)
    assert float(loss) == 0.0
    assert np.all(grad == 0.0)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("squared", [False, True])
def test_duplicated_embeddings_give_finite_values_and_gradients(name, squared):
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    emb = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3 + [[0.6, 0.8]] * 2)
    loss, grad = value_and_grad(LOSSES[name], labels, emb, squared=squared)
    want = REFERENCES[name](labels, emb, squared=squared)
    assert float(loss) == pytest.approx(want, rel=1e-6)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_collapsed_embeddings_give_the_margin(name):
    # Every embedding equal: every distance is 0, so each term is relu(0 - 0 + margin).
    labels = np.array([0, 0, 1, 1, 2])
    emb = np.ones((5, 4)) / 2.0
    loss, grad = value_and_grad(LOSSES[name], labels, emb, margin=0.25)
    want = math.log(2.0) if name == "soft_batch_hard" else 0.25
    assert float(loss) == pytest.approx(want)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_label_shape_b1_and_float_labels_give_the_same_loss(name):
    labels, emb = random_batch(9, 15, 3)
    want = float(LOSSES[name](labels, emb))
    assert float(LOSSES[name](labels.reshape(-1, 1), emb)) == want
    assert float(LOSSES[name](labels.astype("float32"), emb)) == want


# ------------------------------------------------------------------ training


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_compile_and_fit_a_small_model(name):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 8)) * 2.0
    labels = np.repeat(np.arange(4), 25)
    x = (centers[labels] + rng.normal(size=(100, 8))).astype("float32")
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8), keras.layers.UnitNormalization()]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=LOSSES[name])
    # 100 examples in batches of 32: the last batch has 4, maybe without a positive pair.
    history = model.fit(x, labels, batch_size=32, epochs=8, shuffle=True, verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]


# --------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize(
    ("labels", "emb", "kwargs", "error", "match"),
    [
        (np.zeros(4), np.zeros((4, 3, 2)), {}, ValueError, "shape \\(batch, emb_size\\)"),
        (np.zeros(4), np.zeros(4), {}, ValueError, "shape \\(batch, emb_size\\)"),
        (np.zeros(5), np.zeros((4, 3)), {}, ValueError, "one label per example"),
        (np.zeros((4, 2)), np.zeros((4, 3)), {}, ValueError, "one integer label per example"),
        (np.zeros(4), np.zeros((4, 3)), {"margin": -0.1}, ValueError, "margin must be >= 0"),
        (np.zeros(4), np.zeros((4, 3)), {"margin": "0.2"}, TypeError, "margin must be a number"),
        (np.zeros(4), np.zeros((4, 3)), {"squared": "yes"}, TypeError, "squared must be True"),
        (None, np.zeros((4, 3)), {}, TypeError, "got None"),
    ],
)
def test_bad_inputs_are_rejected(name, labels, emb, kwargs, error, match):
    with pytest.raises(error, match=match):
        LOSSES[name](labels, emb, **kwargs)


def test_soft_must_be_a_bool():
    with pytest.raises(TypeError, match="soft must be True or False"):
        batch_hard_triplet_loss(np.zeros(4), np.zeros((4, 3)), soft=1)


def test_pairwise_distances_rejects_a_vector():
    with pytest.raises(ValueError, match="shape \\(batch, emb_size\\)"):
        pairwise_distances(np.zeros(4))

"""triplet_loss against brute-force numpy and hand-computed values."""

import functools

import keras
import numpy as np
import pytest

from backend_tools import to_numpy, tol, value_and_grad
from helpers import TripletLoss, triplet_loss


def numpy_triplet_loss(y_pred, alpha):
    """Brute force: one triplet at a time, squared distances summed over the dimension."""
    emb = y_pred.shape[1] // 3
    losses = []
    for row in y_pred:
        a, p, n = row[:emb], row[emb : 2 * emb], row[2 * emb :]
        d_ap = sum((ai - pi) ** 2 for ai, pi in zip(a, p, strict=True))
        d_an = sum((ai - ni) ** 2 for ai, ni in zip(a, n, strict=True))
        losses.append(max(d_ap - d_an + alpha, 0.0))
    return np.array(losses)


as_numpy = to_numpy


@pytest.mark.parametrize(("batch", "emb", "alpha"), [(1, 1, 0.2), (7, 2, 0.0), (64, 16, 0.5)])
def test_matches_brute_force_numpy(batch, emb, alpha):
    rng = np.random.default_rng(batch * 100 + emb)
    y_pred = rng.normal(size=(batch, 3 * emb)) * 0.5
    loss = triplet_loss(np.zeros_like(y_pred), y_pred, alpha=alpha)
    got = as_numpy(loss)
    assert got.shape == (batch,)
    # float64 agrees to ~1e-15; JAX computes these float64 inputs in float32 (~1e-7 per term,
    # a sum of 16 terms of up to ~1 here).
    rtol, atol = tol(loss, 1e-6, 1e-5), tol(loss, 1e-9, 1e-5)
    np.testing.assert_allclose(got, numpy_triplet_loss(y_pred, alpha), rtol=rtol, atol=atol)
    assert np.any(got > 0) or alpha == 0


def test_hand_computed_cases():
    # a = p = n: 0 - 0 + 5 = 5
    same = np.ones((1, 6))
    assert as_numpy(triplet_loss(None, same, alpha=5.0)).tolist() == [5.0]
    # a = p = (1, 1), n = (0, 0): 0 - 2 + 3 = 1
    y_pred = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]])
    assert as_numpy(triplet_loss(None, y_pred, alpha=3.0)).tolist() == [1.0]
    # a = (0, 0), p = (3, 4), n = (0, 1): 25 - 1 + 0.2 = 24.2 (a hard triplet)
    y_pred = np.array([[0.0, 0.0, 3.0, 4.0, 0.0, 1.0]])
    np.testing.assert_allclose(as_numpy(triplet_loss(None, y_pred)), [24.2])


def test_sums_over_the_dimension_instead_of_averaging():
    # emb = 4; a - p = (1, 1, 1, 1): summed 4, averaged 1; a - n = (2, 0, 0, 0): summed 4
    a, p, n = np.zeros(4), np.ones(4), np.array([2.0, 0, 0, 0])
    y_pred = np.concatenate([a, p, n])[None, :]
    # summed: 4 - 4 + 0.5 = 0.5; the original course's mean would give 1 - 1 + 0.5 = 0.5 too,
    # so make the negative closer: a - n = (1, 0, 0, 0) -> summed 4 - 1 + 0.5 = 3.5 (mean: 1.25)
    y_pred[0, 8:] = [1.0, 0, 0, 0]
    assert as_numpy(triplet_loss(None, y_pred, alpha=0.5)).tolist() == [3.5]


def test_zero_when_the_negatives_are_far():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(32, 8))
    p = a + 0.01 * rng.normal(size=a.shape)
    n = a + 10.0
    loss = as_numpy(triplet_loss(None, np.concatenate([a, p, n], axis=1), alpha=0.2))
    assert np.all(loss == 0.0)


def test_gradient_is_finite_when_anchor_positive_and_negative_coincide():
    y_pred = np.ones((4, 9), dtype=np.float32)
    loss, grad = value_and_grad(lambda t: triplet_loss(None, t, alpha=0.2), wrt=y_pred)
    assert np.all(np.isfinite(grad))
    assert float(np.mean(loss)) == pytest.approx(0.2)


def test_gradient_matches_the_formula():
    # d/da (|a-p|^2 - |a-n|^2) = 2(a-p) - 2(a-n) = 2(n-p), d/dp = -2(a-p), d/dn = 2(a-n)
    rng = np.random.default_rng(3)
    a, p, n = rng.normal(size=(3, 1, 5))
    n = a + 0.01  # keep the hinge active
    y_pred = np.concatenate([a, p, n], axis=1)
    _, grad = value_and_grad(lambda t: triplet_loss(None, t, alpha=1.0), wrt=y_pred)
    grad = grad[0]
    # exact formula in float64; in float32 (JAX) a - n = -0.01 keeps only ~5 digits
    rtol = tol(keras.ops.convert_to_tensor(y_pred), 1e-6, 1e-3)
    np.testing.assert_allclose(grad[:5], 2 * (n - p)[0], rtol=rtol)
    np.testing.assert_allclose(grad[5:10], -2 * (a - p)[0], rtol=rtol)
    np.testing.assert_allclose(grad[10:], 2 * (a - n)[0], rtol=rtol)


def test_works_in_compile_and_fit_with_partial():
    from helpers import build_embedding_model, build_siamese_network, data_generator

    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.random((40, 784), dtype=np.float32)
    y = np.repeat(np.arange(4), 10)
    siamese = build_siamese_network(build_embedding_model(emb_size=4, kind="mlp"))
    siamese.compile(optimizer="adam", loss=functools.partial(triplet_loss, alpha=0.5))
    history = siamese.fit(
        data_generator(x, y, 8, emb_size=4, rng=0), steps_per_epoch=4, epochs=2, verbose=0
    )
    losses = history.history["loss"]
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    # with unit-norm embeddings the loss per triplet is at most 4 + alpha
    assert 0.0 <= losses[0] <= 4.5
    # Keras reports the batch mean of the per-sample vector
    batch = next(data_generator(x, y, 8, emb_size=4, rng=0))[0]
    out = as_numpy(siamese(list(batch)))
    expected = numpy_triplet_loss(out.astype(np.float64), 0.5).mean()
    got = siamese.evaluate(list(batch), np.zeros((8, 12)), verbose=0)
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("y_pred", "alpha", "error", "match"),
    [
        (np.zeros((2, 10)), 0.2, ValueError, "10 columns, which is not 3 \\* emb_size"),
        (np.zeros(9), 0.2, ValueError, "shape \\(batch, 3 \\* emb_size\\)"),
        (np.zeros((2, 9)), -0.1, ValueError, "must be >= 0"),
        (np.zeros((2, 9)), "0.2", TypeError, "alpha must be a number"),
    ],
)
def test_bad_input(y_pred, alpha, error, match):
    with pytest.raises(error, match=match):
        triplet_loss(None, y_pred, alpha=alpha)


def test_triplet_loss_class_is_the_batch_mean_of_the_function():
    rng = np.random.default_rng(7)
    y_pred = rng.normal(size=(5, 12))
    want = numpy_triplet_loss(y_pred, 0.7).mean()
    got = float(keras.ops.convert_to_numpy(TripletLoss(alpha=0.7)(np.zeros_like(y_pred), y_pred)))
    assert got == pytest.approx(want, rel=1e-6)


def test_triplet_loss_class_keeps_its_margin_through_a_keras_file(tmp_path):
    from helpers import build_embedding_model, build_siamese_network

    keras.utils.set_random_seed(2)
    siamese = build_siamese_network(build_embedding_model(emb_size=4, kind="mlp"))
    siamese.compile(optimizer="adam", loss=TripletLoss(alpha=0.5))
    path = tmp_path / "siamese.keras"
    siamese.save(path)
    reloaded = keras.saving.load_model(path)
    loss = reloaded.loss
    assert isinstance(loss, TripletLoss)
    assert loss.get_config()["alpha"] == pytest.approx(0.5)
    # What the reloaded loss computes, not just its config: a = p = n costs exactly the margin
    # (Keras 3.15's own Huber(delta=0.5) reloads with delta=1.0, so the config alone proves little).
    same = np.ones((3, 12), dtype=np.float32)
    per_triplet = loss.call(None, same)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(per_triplet), [0.5, 0.5, 0.5], rtol=1e-6)
    batch_mean = loss(np.zeros_like(same), same)
    assert float(keras.ops.convert_to_numpy(batch_mean)) == pytest.approx(0.5, rel=1e-6)


def test_a_partial_cannot_be_saved_which_is_why_the_class_exists(tmp_path):
    from helpers import build_embedding_model, build_siamese_network

    siamese = build_siamese_network(build_embedding_model(emb_size=4, kind="mlp"))
    siamese.compile(optimizer="adam", loss=functools.partial(triplet_loss, alpha=0.5))
    with pytest.raises(TypeError, match="Cannot serialize"):
        siamese.save(tmp_path / "siamese.keras")


@pytest.mark.parametrize(("alpha", "error"), [(-0.1, ValueError), ("0.5", TypeError)])
def test_triplet_loss_class_rejects_a_bad_margin(alpha, error):
    with pytest.raises(error, match="alpha must be"):
        TripletLoss(alpha=alpha)

"""create_batch, data_generator and balanced batches: invariants, determinism, bad input."""

import numpy as np
import pytest

from helpers import balanced_batch, balanced_generator, create_batch, data_generator


def unique_rows(n, width=3, dtype=np.float32):
    """x[i] = [i, i, ...], so every returned row tells which example it is."""
    return np.repeat(np.arange(n, dtype=dtype)[:, None], width, axis=1)


def indices_of(rows):
    return rows[:, 0].astype(int)


@pytest.fixture
def uneven():
    """Five classes of sizes 2, 3, 10, 40 and 145 (labels not 0..C-1, not sorted)."""
    rng = np.random.default_rng(7)
    y = np.repeat(np.array([11, 3, 7, 0, 5]), [2, 3, 10, 40, 145])
    y = y[rng.permutation(y.size)]
    return unique_rows(y.size), y


def assert_valid_triplets(x, y, batch, batch_size):
    anchors, positives, negatives = batch
    for part in batch:
        assert part.shape == (batch_size, *x.shape[1:])
        assert part.dtype == x.dtype
    a, p, n = (indices_of(part.reshape(batch_size, -1)) for part in batch)
    assert np.all(y[p] == y[a]), "positive of another class"
    assert np.all(p != a), "positive is the anchor itself"
    assert np.all(y[n] != y[a]), "negative of the anchor's class"
    # the rows are the examples themselves, not copies of something else
    assert np.array_equal(anchors, x[a]) and np.array_equal(negatives, x[n])
    assert np.array_equal(positives, x[p])


@pytest.mark.parametrize("batch_size", [1, 2, 37, 256])
def test_invariants_on_uneven_synthetic_classes(uneven, batch_size):
    x, y = uneven
    for seed in range(5):
        assert_valid_triplets(x, y, create_batch(x, y, batch_size, rng=seed), batch_size)


def test_invariants_on_bundled_mnist(bundled_mnist):
    (x, y), _ = bundled_mnist
    a, p, n = create_batch(x, y, 512, rng=0)
    assert a.shape == (512, 784) and a.dtype == np.float32
    lookup = {row.tobytes(): i for i, row in enumerate(x)}
    ia, ip, i_n = ([lookup[row.tobytes()] for row in part] for part in (a, p, n))
    assert all(y[i] == y[j] and i != j for i, j in zip(ia, ip, strict=True))
    assert all(y[i] != y[j] for i, j in zip(ia, i_n, strict=True))


def test_images_keep_their_shape_and_dtype():
    x = np.arange(6 * 28 * 28, dtype=np.uint8).reshape(6, 28, 28)
    y = np.array([0, 0, 1, 1, 2, 2])
    a, p, n = create_batch(x, y, 4, rng=0)
    assert a.shape == p.shape == n.shape == (4, 28, 28)
    assert a.dtype == np.uint8


def test_anchor_classes_follow_class_frequencies(uneven):
    x, y = uneven
    a, _, _ = create_batch(x, y, 100_000, rng=0)
    labels = y[indices_of(a)]
    classes, counts = np.unique(y, return_counts=True)
    expected = counts / counts.sum()
    observed = np.array([(labels == c).mean() for c in classes])
    np.testing.assert_allclose(observed, expected, atol=0.005)


def test_positives_are_uniform_over_the_other_examples_of_the_class():
    # class 0 has 4 examples; the anchor 0's positive is 1, 2 or 3, each 1/3 of the time
    x, y = unique_rows(6), np.array([0, 0, 0, 0, 1, 1])
    a, p, n = (indices_of(part) for part in create_batch(x, y, 60_000, rng=1))
    chosen = p[a == 0]
    np.testing.assert_allclose(np.bincount(chosen, minlength=4)[1:] / chosen.size, 1 / 3, atol=0.02)
    assert np.all(np.isin(n[a == 0], [4, 5]))


def test_negatives_cover_every_other_class(uneven):
    x, y = uneven
    a, _, n = (indices_of(part) for part in create_batch(x, y, 20_000, rng=3))
    for c in np.unique(y):
        assert set(np.unique(y[n[y[a] == c]])) == set(np.unique(y)) - {c}


def test_same_seed_same_batch_and_generator_seeding(uneven):
    x, y = uneven
    first = create_batch(x, y, 64, rng=42)
    second = create_batch(x, y, 64, rng=np.random.default_rng(42))
    other = create_batch(x, y, 64, rng=43)
    assert all(np.array_equal(u, v) for u, v in zip(first, second, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_data_generator_yields_valid_batches_and_zero_targets(uneven):
    x, y = uneven
    gen = data_generator(x, y, batch_size=32, emb_size=5, rng=0)
    for _ in range(5):
        (a, p, n), targets = next(gen)
        assert_valid_triplets(x, y, [a, p, n], 32)
        assert targets.shape == (32, 15) and not targets.any()


def test_data_generator_is_reproducible_and_matches_create_batch(uneven):
    x, y = uneven
    gen_a = data_generator(x, y, 16, rng=5)
    gen_b = data_generator(x, y, 16, rng=np.random.default_rng(5))
    for _ in range(3):
        (a1, _, _), _ = next(gen_a)
        (a2, _, _), _ = next(gen_b)
        assert np.array_equal(a1, a2)
    # the first generator batch is the batch create_batch draws from the same seed
    (a, p, n), _ = next(data_generator(x, y, 16, rng=9))
    ref = create_batch(x, y, 16, rng=9)
    assert np.array_equal(a, ref[0]) and np.array_equal(p, ref[1]) and np.array_equal(n, ref[2])


def test_data_generator_validates_before_the_first_batch():
    with pytest.raises(ValueError, match="one label per example"):
        data_generator(np.zeros((3, 2)), np.array([0, 1]))


def test_data_generator_works_with_keras_fit():
    import keras

    from helpers import build_embedding_model, build_siamese_network, triplet_loss

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((60, 784), dtype=np.float32)
    y = np.repeat(np.arange(3), 20)
    siamese = build_siamese_network(build_embedding_model(emb_size=8, kind="mlp"))
    siamese.compile(optimizer="adam", loss=triplet_loss)
    history = siamese.fit(
        data_generator(x, y, batch_size=8, emb_size=8, rng=0),
        steps_per_epoch=3,
        epochs=2,
        verbose=0,
    )
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "error", "match"),
    [
        (np.zeros((4, 2)), np.array([0, 0, 1]), {}, ValueError, "3 labels but x has 4 examples"),
        (np.zeros((4, 2)), np.zeros((4, 1), int), {}, ValueError, r"1-D .* got shape \(4, 1\)"),
        (np.zeros((4, 2)), np.array([0.0, 0, 1, 1]), {}, TypeError, "integer class labels"),
        (np.zeros((4, 2)), np.array([0, 0, 1, 1]), {"batch_size": 0}, ValueError, "at least 1"),
        (np.zeros((4, 2)), np.array([0, 0, 1, 1]), {"batch_size": 2.5}, TypeError, "an int"),
        (np.zeros((4, 2)), np.array([3, 3, 3, 3]), {}, ValueError, "1 class.*at least 2"),
        (np.zeros((3, 2)), np.array([0, 0, 1]), {}, ValueError, r"\[1\] have a single example"),
        (np.zeros((0, 2)), np.zeros(0, int), {}, ValueError, "empty"),
        (None, np.array([0, 1]), {}, TypeError, "got None"),
        (np.zeros((4, 2)), np.array([0, 0, 1, 1]), {"rng": "seed"}, TypeError, "Generator"),
    ],
)
def test_bad_input_to_create_batch(x, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        create_batch(x, y, **kwargs)


# ---------------------------------------------------------------- balanced batches


def test_balanced_batch_has_p_classes_times_k_examples(uneven):
    x, y = uneven
    for seed in range(10):
        xb, yb = balanced_batch(x, y, classes_per_batch=3, samples_per_class=4, rng=seed)
        assert xb.shape == (12, 3) and yb.shape == (12,)
        classes, counts = np.unique(yb, return_counts=True)
        assert classes.size == 3 and np.all(counts == 4)
        assert np.array_equal(y[indices_of(xb)], yb)


def test_balanced_batch_samples_without_replacement_when_possible(uneven):
    x, y = uneven
    for seed in range(20):
        xb, yb = balanced_batch(x, y, 5, 10, rng=seed)
        for c in np.unique(yb):
            idx = indices_of(xb[yb == c])
            if np.sum(y == c) >= 10:
                assert np.unique(idx).size == 10
            else:  # a class smaller than K is sampled with replacement
                assert set(idx) <= set(np.flatnonzero(y == c))


def test_balanced_generator_is_reproducible(uneven):
    x, y = uneven
    one, two = balanced_generator(x, y, 4, 3, rng=8), balanced_generator(x, y, 4, 3, rng=8)
    for _ in range(3):
        (xa, ya), (xb, yb) = next(one), next(two)
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"classes_per_batch": 6}, "only 5 classes"),
        ({"samples_per_class": 1}, "at least 2"),
        ({"classes_per_batch": 0}, "at least 1"),
    ],
)
def test_balanced_batch_bad_input(uneven, kwargs, match):
    x, y = uneven
    with pytest.raises(ValueError, match=match):
        balanced_batch(x, y, **kwargs)

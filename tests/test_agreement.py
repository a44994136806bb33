"""The lessons and the package are one source of truth.

Where a notebook's exercise solution and a ``helpers`` function implement the
same thing, they must agree on random inputs.
"""

import keras
import matplotlib.pyplot as plt  # the Agg backend: conftest.py sets MPLBACKEND
import numpy as np
import pytest
from keras import ops

import helpers
from backend_tools import to_numpy
from helpers.data import _prepare
from notebook_tools import solution_namespace


def solution(notebook, grade_id, name):
    namespace = {"np": np, "keras": keras, "ops": ops, "plt": plt}
    return solution_namespace(notebook, grade_id, namespace)[name]


@pytest.mark.parametrize("seed", range(5))
def test_triplet_loss_solution_matches_helpers(seed):
    lesson = solution("07_the_triplet_loss.ipynb", "ex7_1_triplet_loss", "triplet_loss")
    rng = np.random.default_rng(seed)
    emb = int(rng.integers(1, 20))
    y_pred = rng.normal(size=(int(rng.integers(1, 50)), 3 * emb)).astype(np.float32)
    alpha = float(rng.uniform(0, 1))
    ours = ops.convert_to_numpy(lesson(None, y_pred, alpha=alpha))
    theirs = ops.convert_to_numpy(helpers.triplet_loss(None, y_pred, alpha=alpha))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def triplet_labels(x, y, batch):
    """Which example each returned row is, recovered from unique rows."""
    lookup = {row.tobytes(): i for i, row in enumerate(x)}
    return [np.array([lookup[row.tobytes()] for row in part]) for part in batch]


def test_create_batch_solution_and_helpers_share_the_invariants():
    lesson = solution("04_a_batch_of_triplets.ipynb", "ex4_1_create_batch", "create_batch")
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [5, 20, 60, 115])
    x = rng.random((y.size, 6)).astype(np.float32)
    frequencies = []
    for make in (lambda: lesson(x, y, 2000, rng=np.random.default_rng(1)),
                 lambda: helpers.create_batch(x, y, 2000, rng=1)):  # fmt: skip
        batch = make()
        assert [part.shape for part in batch] == [(2000, 6)] * 3
        assert all(part.dtype == x.dtype for part in batch)
        a, p, n = triplet_labels(x, y, batch)
        assert np.all(y[p] == y[a]) and np.all(p != a) and np.all(y[n] != y[a])
        frequencies.append(np.bincount(y[a], minlength=4) / 2000)
    # both sample anchors by the class frequencies 5:20:60:115
    np.testing.assert_allclose(frequencies[0], frequencies[1], atol=0.04)
    np.testing.assert_allclose(frequencies[1], [0.025, 0.1, 0.3, 0.575], atol=0.03)


def test_precision_at_1_solution_matches_helpers():
    lesson = solution("08_model_training.ipynb", "ex8_2_precision_at_1", "precision_at_1")
    for seed in range(5):
        rng = np.random.default_rng(seed)
        q, r = rng.normal(size=(50, 4)), rng.normal(size=(80, 4))
        ql, rl = rng.integers(0, 4, 50), rng.integers(0, 4, 80)
        assert lesson(q, ql, r, rl) == pytest.approx(helpers.precision_at_1(q, ql, r, rl))


def test_squared_distance_solution_matches_helpers():
    lesson = solution(
        "01_understanding_the_approach.ipynb", "ex1_1_squared_distance", "squared_distance"
    )
    x = np.random.default_rng(0).normal(size=(6, 5))
    matrix = ops.convert_to_numpy(helpers.pairwise_distances(x, squared=True))
    for i in range(6):
        for j in range(6):
            assert lesson(x[i], x[j]) == pytest.approx(matrix[i, j], abs=1e-6)


def test_prepare_images_solution_matches_load_mnist_preprocessing():
    lesson = solution("02_importing_the_data.ipynb", "ex2_1_prepare_images", "prepare_images")
    raw = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    ours = lesson(raw)
    theirs, _ = _prepare(raw, np.zeros(7, dtype=np.uint8), flatten=True)
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-7)


def test_siamese_solution_matches_helpers():
    lesson = solution(
        "06_the_siamese_network.ipynb", "ex6_1_siamese_network", "build_siamese_network"
    )
    keras.utils.set_random_seed(0)
    embedding = helpers.build_embedding_model(emb_size=8, kind="mlp")
    ours, theirs = lesson(embedding), helpers.build_siamese_network(embedding)
    batch = [np.random.default_rng(i).random((3, 784), dtype=np.float32) for i in range(3)]
    np.testing.assert_allclose(to_numpy(ours(batch)), to_numpy(theirs(batch)), atol=1e-6)
    assert ours.count_params() == theirs.count_params() == embedding.count_params()


def test_plot_triplets_solution_draws_what_helpers_draws(monkeypatch):
    lesson = solution("03_plotting_examples.ipynb", "ex3_1_plot_triplets", "plot_triplets")
    examples = [np.random.default_rng(i).random(784) for i in range(3)]
    plt.close("all")
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)  # the lesson calls plt.show()
    try:
        lesson(examples)
        ours = plt.gcf()
        theirs = helpers.plot_triplets(examples)
        assert len(ours.axes) == len(theirs.axes) == 3
        for mine, reference in zip(ours.axes, theirs.axes, strict=True):
            np.testing.assert_allclose(
                mine.get_images()[0].get_array(), reference.get_images()[0].get_array()
            )
            assert mine.get_title().lower() == reference.get_title().lower()
    finally:
        plt.close("all")

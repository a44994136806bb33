"""plot_triplets, plot_embeddings, pca_2d and EmbeddingPlotter under the Agg backend."""

import io

import keras
import matplotlib
import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers import EmbeddingPlotter, plot_embeddings, plot_triplets
from helpers.plotting import DIGIT_COLORS, DIGIT_MARKERS, pca_2d


def render(fig):
    """Rasterise a figure through a PNG, as a notebook or a file would."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    buffer.seek(0)
    return matplotlib.image.imread(buffer)


def images(shape):
    rng = np.random.default_rng(0)
    return [rng.random(shape) for _ in range(3)]


@pytest.mark.parametrize("shape", [(784,), (28, 28), (28, 28, 1)])
def test_plot_triplets_draws_three_titled_images(shape):
    examples = images(shape)
    fig = plot_triplets(examples, labels=[3, 3, 8])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["Anchor: 3", "Positive: 3", "Negative: 8"]
    for ax, image in zip(fig.axes, examples, strict=True):
        shown = ax.get_images()[0].get_array()
        np.testing.assert_allclose(shown, np.asarray(image).reshape(28, 28))
    # side by side: same row, left to right
    boxes = [ax.get_position() for ax in fig.axes]
    assert boxes[0].y0 == pytest.approx(boxes[2].y0)
    assert boxes[0].x0 < boxes[1].x0 < boxes[2].x0


def test_plot_triplets_accepts_an_array_and_no_labels():
    fig = plot_triplets(np.zeros((3, 784)))
    assert [ax.get_title() for ax in fig.axes] == ["Anchor", "Positive", "Negative"]


def test_plot_triplets_renders_headless():
    assert matplotlib.get_backend().lower() == "agg"
    fig = plot_triplets(images((784,)))
    assert render(fig).std() > 0  # something was drawn


@pytest.mark.parametrize(
    ("examples", "kwargs", "error", "match"),
    [
        (images((784,))[:2], {}, ValueError, "exactly 3 images .* got 2"),
        (images((784,)) * 2, {}, ValueError, "got 6"),
        ([np.zeros(700)] * 3, {}, ValueError, "square number of pixels"),
        (images((784,)), {"labels": [1, 2]}, ValueError, "3 digits"),
        ("abc", {}, TypeError, "list of three images"),
    ],
)
def test_plot_triplets_bad_input(examples, kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_triplets(examples, **kwargs)


def test_palette_and_markers_tell_ten_digits_apart():
    assert len(set(DIGIT_COLORS)) == 10 and len(set(DIGIT_MARKERS)) == 10


def clustered(n_per_class=20, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(10, dim)) * 5
    labels = np.repeat(np.arange(10), n_per_class)
    return centres[labels] + rng.normal(size=(labels.size, dim)), labels


def test_plot_embeddings_scatters_every_digit_with_a_legend():
    emb, labels = clustered()
    fig = plot_embeddings(emb, labels)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.collections) == 10
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [str(d) for d in range(10)]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    # the points are the PCA projection of the embeddings
    coords = np.concatenate([c.get_offsets() for c in ax.collections])
    np.testing.assert_allclose(coords, pca_2d(emb), atol=1e-9)


def test_plot_embeddings_on_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    emb, labels = clustered()
    assert plot_embeddings(emb, labels, ax=ax) is fig


def test_pca_2d_matches_numpy_svd_up_to_sign_and_fixes_the_sign():
    emb, _ = clustered(dim=5)
    coords = pca_2d(emb)
    centred = emb - emb.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reference = centred @ vt[:2].T
    np.testing.assert_allclose(np.abs(coords), np.abs(reference), atol=1e-8)
    # the sign rule: the largest loading of each component is positive
    biggest = np.abs(vt[:2]).argmax(axis=1)
    signs = np.sign(vt[[0, 1], biggest])
    np.testing.assert_allclose(coords, reference * signs, atol=1e-8)


def test_pca_2d_follows_the_reference_orientation():
    emb, _ = clustered(dim=5)
    previous = pca_2d(emb)
    flipped = previous * np.array([-1.0, 1.0])
    coords = pca_2d(emb + 1e-3, reference=flipped)
    assert np.sum(coords[:, 0] * flipped[:, 0]) > 0
    assert np.sum(coords[:, 1] * flipped[:, 1]) > 0


@pytest.mark.parametrize(
    ("emb", "match"),
    [(np.zeros((5, 1)), "d >= 2"), (np.zeros(5), "shape"), (np.full((4, 3), np.nan), "NaN")],
)
def test_pca_2d_bad_input(emb, match):
    with pytest.raises(ValueError, match=match):
        pca_2d(emb)


def test_plot_embeddings_bad_labels():
    emb, labels = clustered()
    with pytest.raises(ValueError, match="one label per embedding"):
        plot_embeddings(emb, labels[:-1])
    with pytest.raises(TypeError, match="integers"):
        plot_embeddings(emb, labels.astype(float))


@pytest.fixture(scope="module")
def trained_plotter():
    from helpers import build_embedding_model, build_siamese_network, data_generator, triplet_loss

    keras.utils.set_random_seed(0)
    x, y = clustered(n_per_class=12, dim=784, seed=1)
    x = (x - x.min()) / (x.max() - x.min())
    embedding = build_embedding_model(emb_size=8, kind="mlp")
    siamese = build_siamese_network(embedding)
    siamese.compile(optimizer="adam", loss=triplet_loss)
    plotter = EmbeddingPlotter(embedding, x[::2], y[::2], live=False)
    siamese.fit(
        data_generator(x, y, 16, emb_size=8, rng=0),
        steps_per_epoch=3,
        epochs=4,
        verbose=0,
        shuffle=False,
        callbacks=[plotter],
    )
    return plotter, embedding, x[::2]


def test_embedding_plotter_records_start_and_every_epoch(trained_plotter):
    plotter, embedding, x = trained_plotter
    assert plotter.epochs == [0, 1, 2, 3, 4]
    assert np.isnan(plotter.losses[0]) and np.all(np.isfinite(plotter.losses[1:]))
    assert all(s.shape == (len(x), 2) for s in plotter.snapshots)
    # the last snapshot is the final model's embedding, projected
    final = pca_2d(np.asarray(embedding.predict(x, verbose=0)))
    np.testing.assert_allclose(np.abs(plotter.snapshots[-1]), np.abs(final), atol=1e-4)


def test_embedding_plotter_axes_never_flip(trained_plotter):
    plotter, _, _ = trained_plotter
    for before, after in zip(plotter.snapshots, plotter.snapshots[1:], strict=False):
        assert np.all(np.sum(before * after, axis=0) >= 0)


def test_embedding_plotter_plot(trained_plotter):
    plotter, _, _ = trained_plotter
    fig = plotter.plot(max_snapshots=3)
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Loss", "before training", "epoch 2", "epoch 4"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), plotter.losses[1:])
    assert fig.axes[-1].get_legend() is not None
    assert render(fig).shape[2] == 4


def test_embedding_plotter_live_mode_outside_jupyter_does_not_fail(trained_plotter):
    plotter, embedding, x = trained_plotter
    quiet = EmbeddingPlotter(embedding, x, np.arange(len(x)) % 10)  # live=None: not in Jupyter
    quiet.on_train_begin()
    quiet.on_epoch_end(0, {"loss": 0.1})
    assert quiet.epochs == [0, 1] and quiet._handle is None


def test_embedding_plotter_bad_input():
    with pytest.raises(TypeError, match="keras.Model"):
        EmbeddingPlotter("model", np.zeros((2, 784)), np.array([0, 1]))
    embedding = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="one label per example"):
        EmbeddingPlotter(embedding, np.zeros((3, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="nothing recorded"):
        EmbeddingPlotter(embedding, np.zeros((2, 4)), np.array([0, 1])).plot()

"""plot_triplets, the Siamese diagrams, plot_embeddings, pca_2d and EmbeddingPlotter (Agg)."""

import io

import keras
import matplotlib
import matplotlib.image
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text

from helpers import (
    EmbeddingPlotter,
    plot_embeddings,
    plot_siamese_diagram,
    plot_siamese_outputs,
    plot_triplets,
)
from helpers.plotting import (
    DIGIT_COLORS,
    DIGIT_MARKERS,
    ROLE_COLORS,
    pca_2d,
    shared_pca_2d,
    tsne_2d,
)


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


# ----------------------------------------------------------------------------------------
# The Siamese diagrams: the right parts, joined by the right arrows, readable, validated
# ----------------------------------------------------------------------------------------

ROLES = ("anchor", "positive", "negative")


def texts(fig) -> list[str]:
    """Every visible, non-empty string of a figure (titles, labels, tick labels, notes)."""
    found = fig.findobj(lambda artist: isinstance(artist, Text) and artist.get_visible())
    return [t.get_text() for t in found if t.get_text()]


def drawn(fig):
    """Draw the figure on an Agg canvas; return its renderer, for pixel positions."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def named_parts(fig) -> dict:
    """The boxes, images and strips of a diagram by their gid, and its arrows by theirs."""
    parts = {
        artist.get_gid(): artist
        for artist in fig.findobj(lambda a: a.get_gid() is not None)
        if not isinstance(artist, Annotation)
    }
    arrows = {a.get_gid(): a for a in fig.findobj(Annotation) if a.get_gid()}
    return parts, arrows


def assert_arrows_join(fig, expected_edges, tolerance=2.0):
    """Each expected arrow exists, leaves its source's right edge, ends on its target's left edge.

    Positions are compared in pixels, after drawing: ``tolerance`` pixels absorb the
    width of a box's outline.
    """
    renderer = drawn(fig)
    parts, arrows = named_parts(fig)
    assert set(arrows) == {f"{a}->{b}" for a, b in expected_edges}
    ax = fig.axes[0]
    for source, target in expected_edges:
        arrow = arrows[f"{source}->{target}"]
        tail_x, tail_y = ax.transData.transform(arrow.xyann)
        head_x, head_y = ax.transData.transform(arrow.xy)
        start = parts[source].get_window_extent(renderer)
        end = parts[target].get_window_extent(renderer)
        assert abs(tail_x - start.x1) <= tolerance, f"{source}->{target} does not leave {source}"
        assert start.y0 - tolerance <= tail_y <= start.y1 + tolerance, f"{source}->{target}"
        assert abs(head_x - end.x0) <= tolerance, f"{source}->{target} does not reach {target}"
        assert end.y0 - tolerance <= head_y <= end.y1 + tolerance, f"{source}->{target}"
        assert head_x > tail_x, f"{source}->{target} points backwards"


def assert_readable(fig, smallest=9.0):
    for text in fig.findobj(lambda a: isinstance(a, Text) and a.get_visible() and a.get_text()):
        assert text.get_fontsize() >= smallest, f"{text.get_text()!r} is {text.get_fontsize()} pt"


def unit_embeddings(size=64, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(3, size))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_siamese_diagram_names_every_part_and_shows_the_triplet():
    examples = images((784,))
    fig = plot_siamese_diagram(examples)
    assert isinstance(fig, Figure)
    shown = texts(fig)
    for role in ROLES:
        assert role in shown
        assert f"$f({role[0]})$" in shown
    assert shown.count("embedding\nmodel $f$") == 3  # one shared model, drawn once per input
    assert any("concatenate" in t and "[f(a), f(p), f(n)]" in t for t in shown)
    assert any(t.startswith("triplet loss") and r"\alpha" in t for t in shown)
    assert any("shared weights" in t for t in shown)
    parts, _ = named_parts(fig)
    for role, image in zip(ROLES, examples, strict=True):
        np.testing.assert_allclose(
            parts[f"input:{role}"].get_images()[0].get_array(), image.reshape(28, 28)
        )
        frame = parts[f"input:{role}"].spines["left"].get_edgecolor()
        assert matplotlib.colors.same_color(frame, ROLE_COLORS[role])
    assert_readable(fig)
    assert render(fig).std() > 0


def test_siamese_diagram_arrows_run_input_model_embedding_concatenate_loss():
    fig = plot_siamese_diagram(np.zeros((3, 28, 28)))
    edges = [("concatenate", "loss")]
    for role in ROLES:
        edges += [
            (f"input:{role}", f"model:{role}"),
            (f"model:{role}", f"embedding:{role}"),
            (f"embedding:{role}", "concatenate"),
        ]
    assert_arrows_join(fig, edges)


def test_siamese_outputs_shows_each_embedding_and_their_concatenation():
    examples, vectors = images((28, 28)), unit_embeddings()
    fig = plot_siamese_outputs(examples, vectors, n_weights=121_280)
    parts, _ = named_parts(fig)
    for role, image, vector in zip(ROLES, examples, vectors, strict=True):
        np.testing.assert_allclose(parts[f"input:{role}"].get_images()[0].get_array(), image)
        strip = parts[f"embedding:{role}"].get_images()[0]
        np.testing.assert_allclose(strip.get_array(), vector[None, :])
    column = parts["output"].get_images()[0]
    np.testing.assert_allclose(column.get_array()[:, 0], np.concatenate(vectors))
    low, high = column.get_clim()
    assert low == pytest.approx(-high) and high == pytest.approx(np.abs(vectors).max())
    shown = texts(fig)
    assert "output: 192 numbers" in shown
    for role in ROLES:
        assert f"$f$({role}): 64 numbers" in shown
    assert any("121,280 numbers" in t and "used 3 times" in t for t in shown)
    assert not any("numbers)" in t for t in texts(plot_siamese_outputs(examples, vectors)))
    assert_readable(fig)


def test_siamese_outputs_arrows_meet_in_one_model_and_land_in_their_block():
    vectors = unit_embeddings(size=8)
    fig = plot_siamese_outputs(images((784,)), vectors)
    edges = []
    for role in ROLES:
        edges += [
            (f"input:{role}", "model"),
            ("model", f"embedding:{role}"),
            (f"embedding:{role}", "output"),
        ]
    assert_arrows_join(fig, edges)
    # the anchor's arrow lands in the top third of the output column (rows 0-7), and so on
    renderer = drawn(fig)
    parts, arrows = named_parts(fig)
    column = parts["output"].get_window_extent(renderer)
    third = column.height / 3
    for k, role in enumerate(ROLES):
        head_y = fig.axes[0].transData.transform(arrows[f"embedding:{role}->output"].xy)[1]
        assert column.y1 - (k + 1) * third < head_y < column.y1 - k * third, role


GOOD = images((784,))


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "match"),
    [
        (plot_siamese_diagram, (GOOD[:2],), {}, ValueError, "exactly 3 images .* got 2"),
        (plot_siamese_diagram, ("abc",), {}, TypeError, "list of three images"),
        (plot_siamese_diagram, ([np.zeros(700)] * 3,), {}, ValueError, "square number"),
        (plot_siamese_outputs, (GOOD * 2, unit_embeddings()), {}, ValueError, "got 6"),
        (
            plot_siamese_outputs,
            (GOOD, np.zeros((2, 64))),
            {},
            ValueError,
            r"shape \(3, d\).*got shape \(2, 64\)",
        ),
        (plot_siamese_outputs, (GOOD, np.zeros(64)), {}, ValueError, r"got shape \(64,\)"),
        (plot_siamese_outputs, (GOOD, [[1, 2], [3], [4, 5]]), {}, ValueError, "same length"),
        (plot_siamese_outputs, (GOOD, np.full((3, 4), np.nan)), {}, ValueError, "NaN"),
        (plot_siamese_outputs, (GOOD, None), {}, TypeError, "shape \\(3, d\\)"),
        (plot_siamese_outputs, (GOOD, [["a"], ["b"], ["c"]]), {}, TypeError, "numbers"),
        (plot_siamese_outputs, (GOOD, unit_embeddings()), {"n_weights": 0}, ValueError, "at least"),
        (plot_siamese_outputs, (GOOD, unit_embeddings()), {"n_weights": 1.5}, TypeError, "an int"),
    ],
)
def test_siamese_diagrams_bad_input(function, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        function(*args, **kwargs)


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
    assert all(s.shape == (len(x), 8) for s in plotter.snapshots)
    # the last snapshot is the final model's embedding
    final = keras.ops.convert_to_numpy(embedding.predict(x, verbose=0))
    np.testing.assert_allclose(plotter.snapshots[-1], final, atol=1e-5)
    assert not np.allclose(plotter.snapshots[0], final, atol=1e-3)  # training moved it


def _numpy_projection(last: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The reference: centre on the last snapshot's mean, project on its top-2 right singular
    vectors, each oriented so that its largest loading is positive."""
    mean = last.mean(axis=0)
    _, _, vt = np.linalg.svd(last - mean, full_matrices=False)
    top = vt[:2] * np.sign(vt[:2][np.arange(2), np.abs(vt[:2]).argmax(axis=1)])[:, None]
    return (other - mean) @ top.T


def test_shared_pca_2d_uses_the_last_snapshots_directions_for_all():
    rng = np.random.default_rng(3)
    first = rng.normal(size=(40, 6))
    last = rng.normal(size=(40, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    got_first, got_last = shared_pca_2d([first, last])
    np.testing.assert_allclose(got_last, _numpy_projection(last, last), atol=1e-9)
    np.testing.assert_allclose(got_first, _numpy_projection(last, first), atol=1e-9)
    # a separate PCA of the first snapshot would be a different picture
    assert not np.allclose(np.abs(pca_2d(first)), np.abs(got_first), atol=1e-3)


@pytest.mark.parametrize(
    "snapshots, error, match",
    [
        ([], ValueError, "empty"),
        (np.zeros((4, 3)), TypeError, "sequence of"),
        ([np.zeros((4, 3)), np.zeros((5, 3))], ValueError, "same points"),
        ([np.zeros((4, 1))], ValueError, "d >= 2"),
        ([np.full((4, 3), np.nan)], ValueError, "NaN"),
    ],
)
def test_shared_pca_2d_bad_input(snapshots, error, match):
    with pytest.raises(error, match=match):
        shared_pca_2d(snapshots)


def test_tsne_2d_keeps_clusters_apart_and_is_seeded():
    emb, labels = clustered(n_per_class=15, dim=20, seed=2)
    coords = tsne_2d(emb, seed=0, perplexity=10)
    again = tsne_2d(emb, seed=0, perplexity=10)
    np.testing.assert_allclose(coords, again, atol=1e-6)
    # every point's nearest neighbour on the map shows the same class (brute force)
    d2 = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    assert np.mean(labels[d2.argmin(axis=1)] == labels) > 0.95
    with pytest.raises(ValueError, match="more points than its perplexity"):
        tsne_2d(emb[:5], perplexity=10)


def test_plot_embeddings_t_sne_and_bad_method():
    emb, labels = clustered(n_per_class=15, dim=20, seed=2)
    fig = plot_embeddings(emb, labels, method="t-sne")
    assert "t-SNE" in fig.axes[0].get_title()
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == sorted(str(d) for d in np.unique(labels))  # a label at each class centre
    with pytest.raises(ValueError, match="'pca' or 't-sne'"):
        plot_embeddings(emb, labels, method="umap")


def test_embedding_plotter_plot(trained_plotter):
    plotter, _, _ = trained_plotter
    fig = plotter.plot(max_snapshots=3)
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Loss", "before training", "after epoch 2", "after epoch 4"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), plotter.losses[1:])
    # one projection for every panel: the points are the reference projection of each snapshot
    for ax, i in zip(fig.axes[1:], (0, 2, 4), strict=True):
        drawn = np.concatenate([c.get_offsets() for c in ax.collections])
        want = _numpy_projection(plotter.snapshots[4].astype(float), plotter.snapshots[i])
        order = np.lexsort(drawn.T), np.lexsort(want.T)
        np.testing.assert_allclose(drawn[order[0]], want[order[1]], atol=1e-4)
    assert len({ax.get_xlim() for ax in fig.axes[1:]}) == 1  # the same limits everywhere
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

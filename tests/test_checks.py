"""Tests of helpers.checks: right solutions pass, each classic mistake gets its own message.

Every wrong solution below is a small, realistic learner mistake. Each test
asserts that the check fails with the message that names that mistake, so a
check that fails for the wrong reason (or passes) makes its test fail.
"""

import random

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from keras import ops
from matplotlib.figure import Figure

import helpers
from backend_tools import only_on
from helpers import checks
from helpers.checks import _references as references
from helpers.checks import batches as batch_checks
from helpers.checks import loss as loss_checks
from helpers.checks import plots as plot_checks

# ----------------------------------------------------------------------------
# Shared assertions
# ----------------------------------------------------------------------------


def assert_passes(capsys, check, *args, **kwargs) -> str:
    """The check returns None and prints exactly one friendly line, returned."""
    assert check(*args, **kwargs) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("✅"), out
    return out


def stub(*args, **kwargs):
    raise NotImplementedError()


def broken(*args, **kwargs):
    return {}["oops"]  # an arbitrary bug: KeyError


# ----------------------------------------------------------------------------
# check_normalized_images
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_mnist(bundled_mnist):
    """Raw uint8 MNIST grids (n, 28, 28), as keras.datasets.mnist.load_data() gives them."""
    (x_train, _), (x_test, _) = bundled_mnist
    raw = [
        np.rint(x[:n] * 255).astype(np.uint8).reshape(-1, 28, 28)
        for x, n in ((x_train, 600), (x_test, 200))
    ]
    # Dividing the recovered integers by 255 again may differ from the loader's own arithmetic by
    # one float32 rounding (< 6e-8 on [0, 1]); 1e-7 allows that and stays far below the 1e-6
    # within which check_normalized_images compares prepared images with the raw ones.
    np.testing.assert_allclose(
        raw[0].reshape(-1, 784) / np.float32(255), x_train[:600], rtol=0, atol=1e-7
    )
    assert np.any(raw[0].max(axis=(1, 2)) < 255)  # so that dividing by each image's max shows
    return raw


def prepare(raw):
    return raw.reshape(len(raw), 784).astype("float32") / 255


def prepare_other_style(raw):
    return (raw / 255.0).astype(np.float32).reshape(-1, 784)


@pytest.mark.parametrize("style", [prepare, prepare_other_style])
@pytest.mark.parametrize("with_raw", [True, False])
def test_normalized_images_accepts_right_solutions(capsys, raw_mnist, style, with_raw):
    raw_train, raw_test = raw_mnist
    raws = (raw_train, raw_test) if with_raw else ()
    assert_passes(capsys, checks.check_normalized_images, style(raw_train), style(raw_test), *raws)


def test_normalized_images_accepts_the_helpers_data(capsys, bundled_mnist):
    (x_train, _), (x_test, _) = bundled_mnist
    assert_passes(capsys, checks.check_normalized_images, x_train, x_test)


def per_image_max(raw):
    flat = raw.reshape(len(raw), 784).astype("float32")
    return flat / flat.max(axis=1, keepdims=True)


def with_nan(raw):
    x = prepare(raw)
    x[3, 100] = np.nan
    return x


IMAGE_MISTAKES = {
    "not reshaped": (lambda r: r.astype("float32") / 255, "still has shape .*flatten"),
    "wrong width": (lambda r: prepare(r).reshape(-1, 392), r"expected \(n, 784\)"),
    "reshape(784, -1)": (lambda r: prepare(r).reshape(784, -1), "one column per image"),
    "still uint8": (lambda r: r.reshape(-1, 784), "still holds integers"),
    "integer division //": (lambda r: r.reshape(-1, 784) // 255, "integers 0 and 1"),
    "float //": (lambda r: r.reshape(-1, 784).astype("float32") // 255, "only the values 0 and 1"),
    "float64": (lambda r: r.reshape(-1, 784) / 255, 'float64.*astype\\("float32"\\)'),
    "not divided": (lambda r: r.reshape(-1, 784).astype("float32"), "goes up to 255.*255"),
    "divided twice": (lambda r: prepare(r) / 255, "divided by 255 twice"),
    "standardised": (lambda r: (prepare(r) - 0.13) / 0.3, "negative values.*standardised"),
    "NaN": (with_nan, "contains NaN"),
    "all zeros": (lambda r: np.zeros((len(r), 784), "float32"), "all zeros"),
    "per-image max": (per_image_max, "its own maximum"),
    "shuffled": (lambda r: prepare(r)[np.random.default_rng(0).permutation(len(r))], "order"),
    "transposed": (
        lambda r: r.transpose(0, 2, 1).reshape(-1, 784).astype("float32") / 255,
        "transposed",
    ),
    "dropped images": (lambda r: prepare(r)[:-10], "keep every image"),
}


@pytest.mark.parametrize("mistake", IMAGE_MISTAKES)
def test_normalized_images_names_each_mistake_in_x_train(raw_mnist, mistake):
    make, message = IMAGE_MISTAKES[mistake]
    raw_train, raw_test = raw_mnist
    with pytest.raises(AssertionError, match=message) as info:
        checks.check_normalized_images(make(raw_train), prepare(raw_test), raw_train, raw_test)
    assert "x_train" in str(info.value)


def test_normalized_images_names_a_forgotten_x_test(raw_mnist):
    raw_train, raw_test = raw_mnist
    with pytest.raises(AssertionError, match="x_train is right, but x_test still has shape"):
        checks.check_normalized_images(prepare(raw_train), raw_test)


def test_normalized_images_names_x_test_prepared_differently(raw_mnist):
    raw_train, raw_test = raw_mnist
    with pytest.raises(AssertionError, match="x_train is right, but x_test goes up to 255"):
        checks.check_normalized_images(prepare(raw_train), raw_test.reshape(-1, 784) * 1.0)


def test_normalized_images_names_x_test_equal_to_x_train(raw_mnist):
    x = prepare(raw_mnist[0])
    with pytest.raises(AssertionError, match="x_test is identical to x_train"):
        checks.check_normalized_images(x, x.copy())


def test_normalized_images_names_a_missing_assignment(raw_mnist):
    with pytest.raises(AssertionError, match="x_train is None"):
        checks.check_normalized_images(None, prepare(raw_mnist[1]))


# ----------------------------------------------------------------------------
# check_plot_triplets
# ----------------------------------------------------------------------------

TITLES = ("Anchor", "Positive", "Negative")


def plot_with_pyplot(examples):
    plt.figure(figsize=(6, 2))
    for i in range(3):
        plt.subplot(1, 3, i + 1)
        plt.imshow(np.reshape(examples[i], (28, 28)), cmap="binary")
        plt.title(TITLES[i])
        plt.xticks([])
        plt.yticks([])
    plt.show()


def plot_with_subplots(examples):
    fig, axes = plt.subplots(1, 3, figsize=(6, 2))
    for ax, image, title in zip(axes, examples, TITLES, strict=True):
        ax.imshow(image.reshape(28, 28), cmap="gray")
        ax.set_title(f"{title.lower()} image")
    return fig, axes


def plot_with_figure(examples):
    fig = Figure(figsize=(6, 2))
    for i, image in enumerate(examples):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.imshow(image.reshape(28, 28))
        ax.set_title(TITLES[i].upper())
    return fig


def plot_shown_then_closed(examples):
    fig, _ = plot_with_subplots(examples)
    plt.show()
    plt.close(fig)


def plot_displayed_then_closed(examples):
    from IPython.display import display

    fig, _ = plot_with_subplots(examples)
    display(fig)
    plt.close(fig)


def plot_with_fig_show(examples):
    fig, _ = plot_with_subplots(examples)
    fig.show()


@pytest.mark.parametrize(
    "plot",
    [
        plot_with_pyplot,
        plot_with_subplots,
        plot_with_figure,
        helpers.plot_triplets,
        plot_shown_then_closed,
        plot_displayed_then_closed,
        plot_with_fig_show,
    ],
)
def test_plot_triplets_accepts_right_solutions(capsys, plot):
    from IPython.core import display_functions
    from matplotlib.figure import Figure

    show, display, init = plt.show, display_functions.display, Figure.__init__
    assert_passes(capsys, checks.check_plot_triplets, plot)  # one line: display printed nothing
    assert plt.get_fignums() == []  # nothing left to be shown twice
    assert plt.show is show and plt.show is not plot_checks._no_show
    assert display_functions.display is display and Figure.__init__ is init


def pyplot_plot(*, layout=(1, 3), order=(0, 1, 2), shape=(28, 28), titles=TITLES, count=3):
    """A pyplot plot_triplets with one deliberate change."""

    def plot(examples):
        plt.figure()
        for k, i in enumerate(order[:count]):
            plt.subplot(*layout, k + 1)
            plt.imshow(np.reshape(examples[i], shape))
            if titles:
                plt.title(titles[k])

    return plot


def plot_flat(examples):
    for i in range(3):
        plt.subplot(1, 3, i + 1)
        plt.imshow(examples[i])


def plot_on_one_axes(examples):
    for i in range(3):
        plt.imshow(examples[i].reshape(28, 28))
        plt.title(TITLES[i])


def plot_three_figures(examples):
    for i in range(3):
        plt.figure()
        plt.imshow(examples[i].reshape(28, 28))
        plt.title(TITLES[i])


def plot_transposed(examples):
    fig = Figure()
    for i in range(3):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.imshow(examples[i].reshape(28, 28).T)
        ax.set_title(TITLES[i])
    return fig


PLOT_MISTAKES = {
    "stub": (stub, "not implemented plot_triplets yet.*NotImplementedError"),
    "arbitrary error": (broken, "Your plot_triplets raised KeyError"),
    "draws nothing": (lambda examples: None, "drew nothing"),
    "not reshaped": (plot_flat, r"reshape each image to \(28, 28\)"),
    "1 x 784 strip": (pyplot_plot(shape=(1, 784)), r"shape \(1, 784\).*reshape each image"),
    "one axes": (plot_on_one_axes, "same axes"),
    "three figures": (plot_three_figures, "3 separate figures"),
    "two images": (pyplot_plot(count=2), "shows 2 image"),
    "stacked vertically": (pyplot_plot(layout=(3, 1)), "stacked one above the other"),
    "not in one row": (pyplot_plot(layout=(2, 2)), "not in one row"),
    "no titles": (pyplot_plot(titles=None), "no title.*plt.title"),
    "wrong titles": (pyplot_plot(titles=("1", "2", "3")), "'Anchor', 'Positive', 'Negative'"),
    "titles in wrong order": (
        pyplot_plot(titles=("Negative", "Positive", "Anchor")),
        "'Anchor', 'Positive', 'Negative'",
    ),
    "wrong order": (pyplot_plot(order=(2, 1, 0)), "wrong order.*negative, positive, anchor"),
    "anchor three times": (pyplot_plot(order=(0, 0, 0)), "showed the anchor 3 times"),
    "transposed": (plot_transposed, "transposed"),
}


@pytest.mark.parametrize("mistake", PLOT_MISTAKES)
def test_plot_triplets_names_each_mistake(mistake):
    plot, message = PLOT_MISTAKES[mistake]
    with pytest.raises(AssertionError, match=message):
        checks.check_plot_triplets(plot)
    assert plt.get_fignums() == []


def test_plot_triplets_asks_for_the_function_not_its_result():
    with pytest.raises(AssertionError, match="pass plot_triplets without calling it"):
        checks.check_plot_triplets(Figure())


def test_plot_triplets_error_is_chained():
    with pytest.raises(AssertionError) as info:
        checks.check_plot_triplets(broken)
    assert isinstance(info.value.__cause__, KeyError)


# ----------------------------------------------------------------------------
# check_create_batch
# ----------------------------------------------------------------------------


def create_batch_loop(x, y, batch_size=256, rng=None):
    """The straightforward per-sample version."""
    rng = np.random.default_rng() if rng is None else rng
    anchors = np.zeros((batch_size, *x.shape[1:]), dtype=x.dtype)
    positives, negatives = np.zeros_like(anchors), np.zeros_like(anchors)
    for i in range(batch_size):
        a = rng.integers(len(x))
        same = np.flatnonzero(y == y[a])
        p = rng.choice(same[same != a])
        n = rng.choice(np.flatnonzero(y != y[a]))
        anchors[i], positives[i], negatives[i] = x[a], x[p], x[n]
    return [anchors, positives, negatives]


def create_batch_vectorised(x, y, batch_size=256, rng=None):
    rng = np.random.default_rng(rng)
    a = rng.integers(len(x), size=batch_size)
    p = np.array([rng.choice(np.flatnonzero((y == y[i]) & (np.arange(len(y)) != i))) for i in a])
    n = np.array([rng.choice(np.flatnonzero(y != y[i])) for i in a])
    return x[a], x[p], x[n]


def create_batch_helpers_adapter(x, y, batch_size=256, rng=None):
    return helpers.create_batch(x, y, batch_size, rng=rng)


@pytest.mark.parametrize(
    "create_batch",
    [
        create_batch_loop,
        create_batch_vectorised,
        create_batch_helpers_adapter,
        helpers.create_batch,
    ],
)
def test_create_batch_accepts_right_solutions(capsys, create_batch):
    assert_passes(capsys, checks.check_create_batch, create_batch)


def triplet_maker(pick):
    """A per-sample create_batch whose indices come from ``pick(x, y, a, rng)``."""

    def create_batch(x, y, batch_size=256, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        idx = [pick(x, y, rng) for _ in range(batch_size)]
        a, p, n = (np.array(column) for column in zip(*idx, strict=True))
        return [x[a], x[p], x[n]]

    return create_batch


def _right(x, y, rng, a=None):
    a = rng.integers(len(x)) if a is None else a
    same = np.flatnonzero(y == y[a])
    return a, rng.choice(same[same != a]), rng.choice(np.flatnonzero(y != y[a]))


def _positive_may_be_anchor(x, y, rng):
    a = rng.integers(len(x))
    return a, rng.choice(np.flatnonzero(y == y[a])), rng.choice(np.flatnonzero(y != y[a]))


def _positive_any_label(x, y, rng):
    a, _, n = _right(x, y, rng)
    return a, rng.integers(len(x)), n


def _negative_any_label(x, y, rng):
    a, p, _ = _right(x, y, rng)
    return a, p, rng.choice(np.flatnonzero(np.arange(len(x)) != a))


def _swapped(x, y, rng):
    a, p, n = _right(x, y, rng)
    return a, n, p


def _anchor_from_first_class(x, y, rng):
    return _right(x, y, rng, a=rng.choice(np.flatnonzero(y == y[0])))


def _same_negative(x, y, rng):
    a, p, _ = _right(x, y, rng)
    return a, p, np.flatnonzero(y != y[a])[0]


def _global_numpy(x, y, rng):
    return _right(x, y, np.random.default_rng(np.random.randint(2**31)))  # noqa: NPY002


def _python_random(x, y, rng):
    a = random.randrange(len(x))
    same = [i for i in range(len(x)) if y[i] == y[a] and i != a]
    other = [i for i in range(len(x)) if y[i] != y[a]]
    return a, random.choice(same), random.choice(other)


def fixed_seed_batch(x, y, batch_size=256, rng=None):
    return create_batch_loop(x, y, batch_size, rng=np.random.default_rng(0))


def sequential_anchors(x, y, batch_size=256, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    idx = [_right(x, y, rng, a=i % len(x)) for i in range(batch_size)]
    a, p, n = (np.array(column) for column in zip(*idx, strict=True))
    return [x[a], x[p], x[n]]


def returns_indices(x, y, batch_size=256, rng=None):
    batch = create_batch_loop(x, y, batch_size, rng)
    return [np.rint(part[:, 0]).astype(int) for part in batch]


def float64_batch(x, y, batch_size=256, rng=None):
    return [part.astype(np.float64) for part in create_batch_loop(x, y, batch_size, rng)]


def fixed_batch_size(x, y, batch_size=256, rng=None):
    return create_batch_loop(x, y, 256, rng)


def squeezed(x, y, batch_size=256, rng=None):
    return [np.squeeze(part) for part in create_batch_loop(x, y, batch_size, rng)]


def one_row_unfilled(x, y, batch_size=256, rng=None):
    batch = create_batch_loop(x, y, batch_size, rng)
    for part in batch:
        part[-1] = 0
    return batch


GLOBAL_X = np.random.default_rng(0).random((48, 784)).astype(np.float32)


def uses_global_data(x, y, batch_size=256, rng=None):
    return create_batch_loop(GLOBAL_X, y, batch_size, rng)


def no_default_rng(x, y, batch_size=256, rng=None):
    a = rng.integers(len(x), size=batch_size)  # fails when rng is None
    return create_batch_vectorised(x, y, len(a), rng)


def returns_two(x, y, batch_size=256, rng=None):
    return create_batch_loop(x, y, batch_size, rng)[:2]


def _first_classmates_only(x, y, rng):
    a, _, n = _right(x, y, rng)
    same = np.flatnonzero(y == y[a])
    return a, rng.choice(same[same != a][:3]), n


def _negatives_from_first_rows(x, y, rng):
    a, p, _ = _right(x, y, rng)
    return a, p, rng.choice(np.flatnonzero(y != y[a])[:10])


def _last_classmate_never(x, y, rng):
    a, _, n = _right(x, y, rng)
    same = np.flatnonzero(y == y[a])
    same = same[same != a]
    return a, same[int(rng.random() * (len(same) - 1))], n


def _next_classmate(x, y, rng):
    a, _, n = _right(x, y, rng)
    same = np.flatnonzero(y == y[a])
    return a, same[(np.flatnonzero(same == a)[0] + 1) % len(same)], n


BATCH_MISTAKES = {
    "stub": (stub, "not implemented create_batch yet"),
    "arbitrary error": (broken, "Your create_batch raised KeyError.*called as create_batch"),
    "returns None": (lambda x, y, batch_size=256, rng=None: None, "returned None"),
    "returns two arrays": (returns_two, "returned 2 items"),
    "returns indices": (returns_indices, r"x\[indices\], not the indices"),
    "positive may be the anchor": (
        triplet_maker(_positive_may_be_anchor),
        "the positive is the anchor itself: exclude the anchor's index",
    ),
    "positive of any label": (triplet_maker(_positive_any_label), "positive has another label"),
    "negative of any label": (triplet_maker(_negative_any_label), "negative has the anchor's"),
    "swapped": (triplet_maker(_swapped), "positives and negatives are swapped"),
    "anchors of one class": (triplet_maker(_anchor_from_first_class), "no anchor comes from"),
    "always the same negative": (triplet_maker(_same_negative), "negatives are only"),
    "sequential anchors": (sequential_anchors, r"x\[0\], x\[1\], x\[2\], ... in order"),
    "batch_size ignored": (fixed_batch_size, "returned 256 anchors instead of 64.*batch_size"),
    "squeezed batch of one": (squeezed, "batch_size=1.*don't np.squeeze"),
    "float64": (float64_batch, "float64 but x is float32"),
    "unfilled row": (one_row_unfilled, "all zeros"),
    "global x_train": (uses_global_data, "not the global x_train"),
    "global np.random": (triplet_maker(_global_numpy), "use the rng|from the rng argument"),
    "python random": (triplet_maker(_python_random), "from the rng argument"),
    "own fixed seed": (fixed_seed_batch, "Different rng seeds gave the same batch"),
    "rng=None not handled": (no_default_rng, r"rng=None.*np.random.default_rng\(\)"),
    "positives from the first classmates": (
        triplet_maker(_first_classmates_only),
        "only the first 4 members of each class are ever positives",
    ),
    "negatives from the first rows": (
        triplet_maker(_negatives_from_first_rows),
        "negatives come only from the first 20 rows",
    ),
    "last classmate never a positive": (
        triplet_maker(_last_classmate_never),
        "never appear as a positive.*LAST member",
    ),
    "last row never an anchor": (
        triplet_maker(lambda x, y, rng: _right(x, y, rng, a=rng.integers(len(x) - 1))),
        "row 47 never appears as an anchor.*LAST member",
    ),
    "positive derived from the anchor": (
        triplet_maker(_next_classmate),
        "always with the same positive",
    ),
}


@pytest.mark.parametrize("mistake", BATCH_MISTAKES)
def test_create_batch_names_each_mistake(mistake):
    create_batch, message = BATCH_MISTAKES[mistake]
    with pytest.raises(AssertionError, match=message):
        checks.check_create_batch(create_batch)


def test_create_batch_restores_the_global_random_state():
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    expected = (np.random.random(), random.random())  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    checks.check_create_batch(create_batch_loop)
    # exact on purpose: the same generator state must give bit-for-bit the same draws
    assert (np.random.random(), random.random()) == expected  # noqa: NPY002


def test_create_batch_synthetic_data_is_traceable():
    """The check identifies rows by column 0; it only works if every row is unique."""
    x, y = batch_checks._batch_data()
    assert np.array_equal(x[:, 0], np.arange(len(x)))
    assert np.unique(x, axis=0).shape == x.shape
    assert sorted(np.bincount(y)[np.bincount(y) > 0]) == [2, 3, 5, 9, 13, 16]


# ----------------------------------------------------------------------------
# check_embedding_model
# ----------------------------------------------------------------------------


def sequential_l2(emb_size=64, name="embedding"):
    return keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(emb_size),
            keras.layers.UnitNormalization(),
        ],
        name=name,
    )


def functional(activation="sigmoid", emb_size=64, input_shape=(784,), name="embedding"):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(emb_size, activation=activation)(x)
    return keras.Model(inputs, outputs, name=name)


def lambda_normalised():
    inputs = keras.Input(shape=(784,))
    x = keras.layers.Dense(16)(keras.layers.Dense(64, activation="relu")(inputs))
    outputs = keras.layers.Lambda(lambda t: ops.normalize(t, axis=-1))(x)
    return keras.Model(inputs, outputs, name="embedding")


def functional_relu_layer(emb_size=64):
    inputs = keras.Input(shape=(784,))
    x = keras.layers.ReLU()(keras.layers.Dense(64)(inputs))
    outputs = keras.layers.UnitNormalization()(keras.layers.Dense(emb_size)(x))
    return keras.Model(inputs, outputs, name="embedding")


@pytest.mark.parametrize(
    "build, emb_size",
    [
        (lambda: sequential_l2(), 64),
        (lambda: sequential_l2(emb_size=8), 8),
        (lambda_normalised, 16),
        (functional_relu_layer, 64),
    ],
)
def test_embedding_model_accepts_the_exercise_architecture(capsys, build, emb_size):
    keras.utils.set_random_seed(0)
    out = assert_passes(capsys, checks.check_embedding_model, build(), emb_size=emb_size)
    assert f"Dense(64, relu) → Dense({emb_size}) → UnitNormalization" in out


@pytest.mark.parametrize(
    "build, emb_size, kind",
    [
        (lambda: sequential_l2(), 64, "L2-normalised"),
        (lambda: functional("sigmoid"), 64, "sigmoid"),
        (lambda: functional("tanh", emb_size=8), 8, "bounded"),
        (lambda_normalised, 16, "L2-normalised"),
        (lambda: helpers.build_embedding_model(kind="mlp"), 64, "L2-normalised"),
        (lambda: helpers.build_embedding_model(kind="original"), 64, "sigmoid"),
        (lambda: helpers.build_embedding_model(kind="conv", emb_size=32), 32, "L2-normalised"),
    ],
)
def test_embedding_model_accepts_right_models_of_any_architecture(capsys, build, emb_size, kind):
    keras.utils.set_random_seed(0)
    out = assert_passes(
        capsys, checks.check_embedding_model, build(), emb_size=emb_size, architecture=None
    )
    assert kind in out


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: helpers.build_embedding_model(kind="original"), "ends with a sigmoid"),
        (lambda: functional("sigmoid"), "ends with a sigmoid, the original course's recipe"),
        (lambda: helpers.build_embedding_model(), "a convnet, like the course's"),
        (lambda: helpers.build_embedding_model(kind="mlp"), r"Dense\(256, relu\) → Dense\(64\)"),
    ],
)
def test_embedding_model_enforces_the_exercise_architecture(build, message):
    keras.utils.set_random_seed(0)
    with pytest.raises(AssertionError, match=message):
        checks.check_embedding_model(build())


def test_embedding_model_rejects_an_unknown_architecture():
    with pytest.raises(ValueError, match="architecture"):
        checks.check_embedding_model(sequential_l2(), architecture="conv")


def two_outputs():
    inputs = keras.Input(shape=(784,))
    x = keras.layers.Dense(64, activation="sigmoid")(inputs)
    return keras.Model(inputs, [x, x], name="embedding")


def frozen():
    model = sequential_l2()
    model.trainable = False
    return model


def nan_output():
    inputs = keras.Input(shape=(784,))
    x = keras.layers.Dense(64, activation="sigmoid")(inputs)
    outputs = keras.layers.Lambda(lambda t: ops.sqrt(t - 2.0))(x)
    return keras.Model(inputs, outputs, name="embedding")


class SubclassedEmbedding(keras.Model):
    def __init__(self):
        super().__init__(name="embedding")
        self.dense = keras.layers.Dense(64)
        self.normalize = keras.layers.UnitNormalization()

    def call(self, x):
        return self.normalize(self.dense(x))


def frozen_hidden_layer():
    model = sequential_l2()
    model.layers[0].trainable = False
    return model


def with_last_layer(layer, hidden="relu"):
    return lambda: keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(64, activation=hidden),
            keras.layers.Dense(64),
            layer,
        ],
        name="embedding",
    )


def with_dropout():
    layers = [keras.layers.Dropout(0.3), *sequential_l2().layers]
    return keras.Sequential([keras.Input(shape=(784,)), *layers], name="embedding")


MODEL_MISTAKES = {
    "a function": (lambda: sequential_l2, "You passed a function"),
    "a layer": (lambda: keras.layers.Dense(64), "single Dense layer, not a model"),
    "Sequential without Input": (
        lambda: keras.Sequential([keras.layers.Dense(64)], name="embedding"),
        "no input shape yet",
    ),
    "subclassed model": (SubclassedEmbedding, "subclassed keras.Model"),
    "wrong input shape": (lambda: functional(input_shape=(28, 28)), r"expects inputs of shape"),
    "wrong output width": (lambda: functional(emb_size=32), r"outputs shape \(None, 32\)"),
    "two outputs": (two_outputs, "2 outputs"),
    "no trainable weights": (frozen, "no trainable weights"),
    "linear output": (lambda: functional(None), "unbounded.*margin means nothing"),
    "relu output": (lambda: functional("relu"), "unbounded.*UnitNormalization"),
    "softmax output": (lambda: functional("softmax"), "softmax"),
    "NaN output": (nan_output, "NaN or inf"),
    "not named": (lambda: functional(name="my_model"), "name it 'embedding'"),
    "a frozen layer": (
        frozen_hidden_layer,
        "'dense.*' \\(Dense\\) of your embedding model are frozen",
    ),
    "no nonlinearity": (
        with_last_layer(keras.layers.UnitNormalization(), hidden=None),
        "no nonlinearity",
    ),
    "normalised across the batch": (
        with_last_layer(keras.layers.Lambda(lambda t: ops.normalize(t, axis=0))),
        "other images of its batch",
    ),
    "divided by the norm of the batch": (
        with_last_layer(keras.layers.Lambda(lambda t: t / ops.norm(t))),
        "other images of its batch",
    ),
    "dropout": (with_dropout, "computes something else in training"),
}


@pytest.mark.parametrize("mistake", MODEL_MISTAKES)
def test_embedding_model_names_each_mistake(mistake):
    build, message = MODEL_MISTAKES[mistake]
    keras.utils.set_random_seed(0)
    with pytest.raises(AssertionError, match=message):
        checks.check_embedding_model(build(), emb_size=64)


# ----------------------------------------------------------------------------
# check_siamese_network
# ----------------------------------------------------------------------------


def triplet_inputs(names=("anchor", "positive", "negative"), shape=(784,)):
    return [keras.Input(shape=shape, name=name) for name in names]


def siamese_functional(embedding_model):
    inputs = triplet_inputs()
    outputs = keras.layers.Concatenate(axis=-1)([embedding_model(t) for t in inputs])
    return keras.Model(inputs, outputs, name="siamese")


def siamese_ops_concatenate(embedding_model):
    anchor, positive, negative = triplet_inputs()
    e_a, e_p, e_n = embedding_model(anchor), embedding_model(positive), embedding_model(negative)
    return keras.Model([anchor, positive, negative], ops.concatenate([e_a, e_p, e_n], axis=1))


@pytest.mark.parametrize(
    "build_embedding",
    [
        lambda: sequential_l2(emb_size=8),
        lambda: functional(emb_size=8),
        lambda: helpers.build_embedding_model(kind="mlp", emb_size=8),
    ],
)
@pytest.mark.parametrize(
    "build_siamese", [siamese_functional, siamese_ops_concatenate, helpers.build_siamese_network]
)
def test_siamese_network_accepts_right_networks(capsys, build_embedding, build_siamese):
    keras.utils.set_random_seed(0)
    embedding_model = build_embedding()
    siamese = build_siamese(embedding_model)
    assert_passes(capsys, checks.check_siamese_network, siamese, embedding_model)
    assert_passes(
        capsys, checks.check_siamese_network, siamese, embedding_model, build=build_siamese
    )


GLOBAL_EMBEDDING = {}


def siamese_of_the_global_model(embedding_model):
    return siamese_functional(GLOBAL_EMBEDDING["model"])


def siamese_with_a_new_model(embedding_model):
    return siamese_functional(sequential_l2(emb_size=8))


@pytest.mark.parametrize(
    "make_build, message",
    [
        (lambda: siamese_of_the_global_model, "still uses the global embedding_model"),
        (lambda: siamese_with_a_new_model, "Called with another embedding model.*does not use it"),
        (lambda: siamese_functional(sequential_l2()), "pass build=build_siamese_network, without"),
    ],
)
def test_siamese_network_calls_the_builder_with_another_model(make_build, message):
    keras.utils.set_random_seed(0)
    embedding_model = GLOBAL_EMBEDDING["model"] = sequential_l2(emb_size=8)
    siamese = siamese_functional(embedding_model)  # what the learner's builder gave the cell
    with pytest.raises(AssertionError, match=message):
        checks.check_siamese_network(siamese, embedding_model, build=make_build())


def siamese_with(make_outputs, names=("anchor", "positive", "negative"), shape=(784,)):
    """A Siamese builder with one deliberate change in how the outputs are made."""

    def build(embedding_model):
        inputs = triplet_inputs(names, shape)
        return keras.Model(inputs, make_outputs(embedding_model, inputs))

    return build


def concat(axis=-1):
    return lambda e, inputs: keras.layers.Concatenate(axis=axis)([e(t) for t in inputs])


def three_copies(embedding_model, inputs):
    copies = [sequential_l2(emb_size=8, name=None) for _ in inputs]
    return keras.layers.Concatenate()([m(t) for m, t in zip(copies, inputs, strict=True)])


def two_more_models(embedding_model, inputs):
    models = [embedding_model] + [sequential_l2(emb_size=8, name=None) for _ in inputs[1:]]
    return keras.layers.Concatenate()([m(t) for m, t in zip(models, inputs, strict=True)])


def another_model(embedding_model, inputs):
    other = sequential_l2(emb_size=8)
    return keras.layers.Concatenate()([other(t) for t in inputs])


def extra_dense(embedding_model, inputs):
    return keras.layers.Dense(24)(concat()(embedding_model, inputs))


def reordered(order):
    return lambda e, inputs: keras.layers.Concatenate()([e(inputs[i]) for i in order])


def negative_cut_from_gradient(embedding_model, inputs):
    e_a, e_p, e_n = (embedding_model(t) for t in inputs)
    return keras.layers.Concatenate()([e_a, e_p, ops.stop_gradient(e_n)])


def freezes_one_layer(embedding_model):
    embedding_model.layers[0].trainable = False
    return siamese_functional(embedding_model)


def frozen_siamese(embedding_model):
    embedding_model.trainable = False
    return siamese_functional(embedding_model)


def two_inputs(embedding_model):
    inputs = triplet_inputs()[:2]
    return keras.Model(inputs, concat()(embedding_model, inputs))


def flatten_28x28(embedding_model, inputs):
    flat = [keras.layers.Flatten()(t) for t in inputs]
    return keras.layers.Concatenate()([embedding_model(t) for t in flat])


SIAMESE_MISTAKES = {
    "a function": (lambda e: siamese_functional, "You passed a function"),
    "three models": (siamese_with(three_copies), "3× the embedding model's weights"),
    "two more models": (siamese_with(two_more_models), "3× the embedding model's weights"),
    "another embedding model": (siamese_with(another_model), "does not use this embedding_model"),
    "extra Dense": (siamese_with(extra_dense), "besides the embedding model's"),
    "list of outputs": (
        siamese_with(lambda e, inputs: [e(t) for t in inputs]),
        r"3 separate outputs.*Concatenate\(axis=-1\)",
    ),
    "axis=0": (siamese_with(concat(axis=0)), "not axis=0"),
    "stacked": (siamese_with(lambda e, ins: ops.stack([e(t) for t in ins], axis=1)), "stacked"),
    "wrong order": (
        siamese_with(reordered((1, 0, 2))),
        r"\[e\(positive\), e\(anchor\), e\(negative\)\].*in this order",
    ),
    "anchor three times": (siamese_with(reordered((0, 0, 0))), "embeds the anchor 3 times"),
    "unnamed inputs": (siamese_with(concat(), names=(None, None, None)), "name them"),
    "inputs in wrong order": (
        siamese_with(concat(), names=("positive", "anchor", "negative")),
        "order",
    ),
    "two inputs": (two_inputs, "2 input"),
    "28x28 inputs": (siamese_with(flatten_28x28, shape=(28, 28)), r"expected \(None, 784\)"),
    "frozen embedding model": (frozen_siamese, "no trainable weights"),
    "one frozen layer": (freezes_one_layer, "inside your Siamese network are frozen"),
    "negative cut from the gradient": (
        siamese_with(negative_cut_from_gradient),
        "No gradient flows from the negative branch",
    ),
    "dropout after the concatenation": (
        siamese_with(lambda e, inputs: keras.layers.Dropout(0.5)(concat()(e, inputs))),
        "computes something else in training",
    ),
    "noise after the concatenation": (
        siamese_with(lambda e, inputs: keras.layers.GaussianNoise(0.1)(concat()(e, inputs))),
        "computes something else in training",
    ),
}


@pytest.mark.parametrize("mistake", SIAMESE_MISTAKES)
def test_siamese_network_names_each_mistake(mistake):
    build, message = SIAMESE_MISTAKES[mistake]
    keras.utils.set_random_seed(0)
    embedding_model = sequential_l2(emb_size=8)
    with pytest.raises(AssertionError, match=message):
        checks.check_siamese_network(build(embedding_model), embedding_model)


# ----------------------------------------------------------------------------
# check_triplet_loss
# ----------------------------------------------------------------------------


def split(y_pred):
    emb_size = y_pred.shape[-1] // 3
    return y_pred[:, :emb_size], y_pred[:, emb_size : 2 * emb_size], y_pred[:, 2 * emb_size :]


def loss_slices(y_true, y_pred, alpha=0.2):
    anchor, positive, negative = split(y_pred)
    pos_dist = ops.sum(ops.square(anchor - positive), axis=-1)
    neg_dist = ops.sum(ops.square(anchor - negative), axis=-1)
    return ops.maximum(pos_dist - neg_dist + alpha, 0.0)


def loss_split(y_true, y_pred, alpha=0.2):
    anchor, positive, negative = ops.split(y_pred, 3, axis=1)
    pos_dist = ops.sum((anchor - positive) ** 2, axis=1)
    neg_dist = ops.sum((anchor - negative) ** 2, axis=1)
    return ops.relu(pos_dist - neg_dist + alpha)


@pytest.mark.parametrize("triplet_loss", [loss_slices, loss_split, helpers.triplet_loss])
def test_triplet_loss_accepts_right_solutions(capsys, triplet_loss):
    assert_passes(capsys, checks.check_triplet_loss, triplet_loss)


def make_loss(
    distance=lambda d: ops.sum(ops.square(d), axis=-1),
    *,
    clamp=True,
    swap=False,
    reduce=None,
    emb_size=None,
    margin=None,
    default_alpha=0.2,
    cut=None,
):
    """A triplet loss with one deliberate change (``margin`` replaces the alpha argument).

    ``cut="pos"`` or ``"neg"`` stops the gradient of that distance.
    """

    def triplet_loss(y_true, y_pred, alpha=default_alpha):
        size = emb_size or y_pred.shape[-1] // 3
        anchor, positive, negative = (
            y_pred[:, :size],
            y_pred[:, size : 2 * size],
            y_pred[:, 2 * size :],
        )
        pos_dist, neg_dist = distance(anchor - positive), distance(anchor - negative)
        pos_dist = ops.stop_gradient(pos_dist) if cut == "pos" else pos_dist
        neg_dist = ops.stop_gradient(neg_dist) if cut == "neg" else neg_dist
        if swap:
            pos_dist, neg_dist = neg_dist, pos_dist
        loss = pos_dist - neg_dist + (alpha if margin is None else margin)
        loss = ops.maximum(loss, 0.0) if clamp else loss
        return reduce(loss) if reduce else loss

    return triplet_loss


def sum_over_everything(y_true, y_pred, alpha=0.2):
    anchor, positive, negative = split(y_pred)
    return ops.maximum(
        ops.sum(ops.square(anchor - positive)) - ops.sum(ops.square(anchor - negative)) + alpha, 0
    )


def loss_without_alpha(y_true, y_pred):
    return loss_slices(y_true, y_pred)


def loss_of_y_true(y_true, y_pred, alpha=0.2):
    return loss_slices(y_true, y_true, alpha)


def numpy_loss(y_true, y_pred, alpha=0.2):
    anchor, positive, negative = split(np.asarray(y_pred))
    pos_dist = np.sum((anchor - positive) ** 2, axis=-1)
    neg_dist = np.sum((anchor - negative) ** 2, axis=-1)
    return np.maximum(pos_dist - neg_dist + alpha, 0.0)


def loss_len_of_a_row(y_true, y_pred, alpha=0.2):
    emb_size = len(y_pred[0]) // 3  # fine eagerly, a TypeError on a symbolic tensor
    anchor, positive, negative = (y_pred[:, k * emb_size : (k + 1) * emb_size] for k in range(3))
    pos_dist = ops.sum(ops.square(anchor - positive), axis=-1)
    neg_dist = ops.sum(ops.square(anchor - negative), axis=-1)
    return ops.maximum(pos_dist - neg_dist + alpha, 0.0)


def returns_nothing(y_true, y_pred, alpha=0.2):
    loss_slices(y_true, y_pred, alpha)


LOSS_MISTAKES = {
    "stub": (stub, "not implemented triplet_loss yet"),
    "arbitrary error": (broken, "Your triplet_loss raised KeyError.*shape \\(16, 192\\)"),
    "returns None": (returns_nothing, "returned None.*return"),
    "mean over embedding": (
        make_loss(lambda d: ops.mean(ops.square(d), axis=-1)),
        "averaged the squared differences over the embedding dimension; FaceNet sums",
    ),
    "sum over batch axis": (make_loss(lambda d: ops.sum(ops.square(d), axis=0)), "axis=0"),
    "no max": (make_loss(clamp=False), r"forgot the max\(·, 0\)"),
    "swapped": (make_loss(swap=True), "swapped the positive and the negative"),
    "scalar mean": (make_loss(reduce=ops.mean), "single number.*averaged the losses"),
    "scalar sum": (make_loss(reduce=ops.sum), "single number.*summed the losses"),
    "sum over everything": (sum_over_everything, "single number.*whole batch"),
    "keepdims": (make_loss(reduce=lambda t: ops.expand_dims(t, -1)), "extra axis"),
    "non-squared distance": (make_loss(lambda d: ops.norm(d, axis=-1)), "SQUARED distance"),
    "L1 distance": (make_loss(lambda d: ops.sum(ops.abs(d), axis=-1)), "absolute differences"),
    "sqrt then square": (
        make_loss(lambda d: (ops.sum(ops.square(d), axis=-1) ** 0.5) ** 2),
        "values are right, but its gradient is NaN when anchor = positive = negative",
    ),
    "emb_size hard-coded": (make_loss(emb_size=64), r"emb_size = y_pred.shape\[-1\] // 3"),
    "alpha ignored": (make_loss(margin=0.2), "use the alpha argument"),
    "alpha forgotten": (make_loss(margin=0.0), "forgot to add the margin alpha"),
    "wrong default alpha": (make_loss(default_alpha=0.5), "default margin 0.2"),
    "no alpha argument": (loss_without_alpha, "does not accept alpha"),
    "uses y_true": (loss_of_y_true, "you used y_true"),
    "numpy": (numpy_loss, "cannot compute the gradient.*keras.ops"),
    "swapped and no max": (
        make_loss(swap=True, clamp=False),
        r"in 2 ways: \(1\) you swapped the positive and the negative.*\(2\) you forgot the max",
    ),
    "something else": (make_loss(lambda d: 2 * ops.sum(ops.square(d), axis=-1)), "first three"),
    "len() of a symbolic row": (loss_len_of_a_row, "fails inside model.compile.*len"),
    "stop_gradient on neg_dist": (
        make_loss(lambda d: ops.sum(ops.square(d), axis=-1), cut="neg"),
        "no gradient flows through the term ‖a−n‖²",
    ),
    "stop_gradient on pos_dist": (
        make_loss(lambda d: ops.sum(ops.square(d), axis=-1), cut="pos"),
        "no gradient flows through the term ‖a−p‖²",
    ),
}


#: Mistakes only on TensorFlow: JAX's traced arrays and PyTorch's tensors know their shape.
_TENSORFLOW_ONLY_MISTAKES = {"len() of a symbolic row"}


@pytest.mark.parametrize(
    "mistake",
    [
        pytest.param(
            m, marks=only_on("tensorflow", reason="len() of a row fails only in TensorFlow graphs")
        )
        if m in _TENSORFLOW_ONLY_MISTAKES
        else m
        for m in LOSS_MISTAKES
    ],
)
def test_triplet_loss_names_each_mistake(mistake):
    triplet_loss, message = LOSS_MISTAKES[mistake]
    with pytest.raises(AssertionError, match=message):
        checks.check_triplet_loss(triplet_loss)


def test_triplet_loss_chains_the_learners_error():
    with pytest.raises(AssertionError) as info:
        checks.check_triplet_loss(stub)
    assert isinstance(info.value.__cause__, NotImplementedError)


def test_reference_loss_matches_hand_computed_values():
    # a = p = (1, 1), n = (0, 0): ||a-p||^2 = 0, ||a-n||^2 = 2 (summed), mean would give 1
    y_pred = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 3.0, 4.0, 0.0, 0.0]])
    assert np.allclose(references.reference_loss(y_pred, 3.0), [1.0, 28.0])
    assert np.allclose(references.reference_loss(y_pred, 0.2), [0.0, 25.2])
    assert np.allclose(references.reference_loss(y_pred, 3.0, distance="mean"), [2.0, 15.5])
    assert np.allclose(references.reference_loss(y_pred, 0.2, distance="norm"), [0.0, 5.2])
    assert np.allclose(references.reference_loss(y_pred, 0.2, clamp=False), [-1.8, 25.2])


def test_reference_loss_matches_a_brute_force_loop():
    y_pred = loss_checks._triplet_batch(5, 40, seed=0).astype(np.float64)
    expected = []
    for row in y_pred:
        a, p, n = row[:5], row[5:10], row[10:]
        pos = sum((a[k] - p[k]) ** 2 for k in range(5))
        neg = sum((a[k] - n[k]) ** 2 for k in range(5))
        expected.append(max(pos - neg + 0.2, 0.0))
    assert np.allclose(references.reference_loss(y_pred, 0.2), expected)
    # the batch mixes triplets with a zero and a positive loss, so that a missing max shows
    assert 5 < np.sum(np.array(expected) == 0) < 35  # exact: max(..., 0.0) returns 0.0 itself


def finite_difference_gradient(func, x, step=1e-6):
    """Central differences of the scalar func at x (float64), one coordinate at a time."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        shifted = [x.copy(), x.copy()]
        shifted[0][index] += step
        shifted[1][index] -= step
        grad[index] = (func(shifted[0]) - func(shifted[1])) / (2 * step)
    return grad


def test_reference_gradient_matches_finite_differences():
    y_pred = loss_checks._gradient_batch().astype(np.float64)
    expected = finite_difference_gradient(lambda y: references.reference_loss(y, 0.2).sum(), y_pred)
    # the batch keeps every triplet 0.01 away from the hinge, so a step of 1e-6 never crosses
    # it; central differences of a quadratic are exact up to rounding (~1e-10 here)
    np.testing.assert_allclose(loss_checks._reference_gradient(y_pred, 0.2), expected, atol=1e-6)
    # with the gradient of one distance cut, only the other distance's terms remain
    cut = loss_checks._reference_gradient(y_pred, 0.2, cut="neg")
    assert not cut[:, 12:].any() and np.any(cut[:, :12])


def test_gradient_batch_mixes_active_and_easy_triplets():
    y_pred = loss_checks._gradient_batch()
    losses = references.reference_loss(y_pred, 0.2)
    assert 3 <= np.sum(losses > 0) <= len(losses) - 3  # so that a missing term shows


def test_reference_training_step_matches_finite_differences():
    images, kernel, bias = loss_checks._step_data()

    def mean_loss(k, b):
        y_pred = np.concatenate([x.astype(np.float64) @ k + b for x in images], axis=1)
        return references.reference_loss(y_pred, 0.2).mean()

    loss, new_kernel, new_bias = loss_checks._reference_step(images, kernel, bias)
    k64, b64 = kernel.astype(np.float64), bias.astype(np.float64)
    grad_kernel = finite_difference_gradient(lambda k: mean_loss(k, b64), k64)
    grad_bias = finite_difference_gradient(lambda b: mean_loss(k64, b), b64)
    assert loss == pytest.approx(mean_loss(k64, b64), rel=1e-12)
    # SGD: w - lr * grad; finite differences of this piecewise quadratic are accurate to ~1e-9
    np.testing.assert_allclose(new_kernel, k64 - 0.1 * grad_kernel, atol=1e-7)
    np.testing.assert_allclose(new_bias, b64 - 0.1 * grad_bias, atol=1e-7)
    y_pred = np.concatenate([x @ kernel + bias for x in images], axis=1)
    hinge = references.reference_loss(y_pred, 0.2, clamp=False)
    assert 2 <= np.sum(hinge > 0) <= 6  # the step sees active and easy triplets
    assert np.all(np.abs(hinge) > 0.01)  # and none so close to 0 that rounding could flip it


def test_gradients_helper_matches_hand_derivatives():
    # on every backend: the self-checks' one gradient function has a branch for each
    from helpers.checks._shared import autodiff_available, gradients

    assert autodiff_available()
    x = np.array([1.0, -2.0, 3.0], np.float32)
    variable = keras.Variable(np.array([0.5, 2.0], np.float32))
    (gx, unused), (gv,) = gradients(
        lambda t, u: ops.sum(ops.square(t)) + ops.sum(variable * 3.0), [x, x], [variable]
    )
    np.testing.assert_allclose(gx, 2 * x, rtol=1e-6)  # d(sum t^2)/dt = 2t
    np.testing.assert_allclose(gv, [3.0, 3.0], rtol=1e-6)
    assert unused is None  # the sum does not depend on the second input
    (through_numpy,), _ = gradients(lambda t: np.sum(np.asarray(t) ** 2), [x])
    assert through_numpy is None
    (cut,), _ = gradients(lambda t: ops.stop_gradient(ops.square(t)) + t, [x])
    np.testing.assert_allclose(cut, np.ones(3), rtol=1e-6)  # only the "+ t" path
    (blocked,), _ = gradients(lambda t: ops.stop_gradient(ops.square(t)), [x])
    assert blocked is None  # as TensorFlow's tape says: nothing flows back


def test_gradients_helper_gives_weights_gradients_through_a_model():
    from helpers.checks._shared import gradients

    dense = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    dense.build((None, 3))
    (gx,), (gk, gb) = gradients(lambda t: dense(t), [x], dense.trainable_weights)
    np.testing.assert_allclose(gk, np.repeat(x.T, 2, axis=1), rtol=1e-6)  # d(sum xK)/dK = x
    np.testing.assert_allclose(gb, [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(gx, [[2.0, 2.0, 2.0]], rtol=1e-6)  # row sums of K


def test_gradients_helper_reraises_the_learners_other_errors():
    from helpers.checks._shared import gradients

    def broken(t):
        raise ValueError("a bug of its own")

    with pytest.raises(ValueError, match="a bug of its own"):
        gradients(broken, [np.ones(2, np.float32)])

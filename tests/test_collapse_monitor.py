"""CollapseMonitor: one warning for a collapsed embedding, none for a healthy one."""

import math
import warnings

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers.callbacks import CollapseMonitor, EmbeddingCollapseWarning
from helpers.losses import batch_hard_triplet_loss


def blobs(n_per_class=25, n_classes=4, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim)) * 3.0
    labels = np.repeat(np.arange(n_classes), n_per_class)
    x = (centers[labels] + rng.normal(size=(len(labels), dim))).astype("float32")
    return x, labels


def embedding_model(constant=False):
    """Dense + L2 normalisation; ``constant``: a zero kernel, so every output is (1, 0, 0)."""
    dense = (
        keras.layers.Dense(
            3,
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant([1.0, 0.0, 0.0]),
        )
        if constant
        else keras.layers.Dense(3)
    )
    return keras.Sequential([keras.Input((8,)), dense, keras.layers.UnitNormalization()])


def fit(model, monitor, *, loss=batch_hard_triplet_loss, epochs=3, callbacks=(), optimizer=None):
    keras.utils.set_random_seed(0)
    x, y = blobs()
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-2), loss=loss)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=20, epochs=epochs, verbose=0, callbacks=[*callbacks, monitor])
    return [w for w in caught if issubclass(w.category, EmbeddingCollapseWarning)]


class ZeroKernelAt(keras.callbacks.Callback):
    """Collapse a healthy model on purpose: zero its Dense kernel at the end of an epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            dense = self.model.layers[0]
            dense.kernel.assign(np.zeros(dense.kernel.shape, "float32"))
            dense.bias.assign(np.array([1.0, 0.0, 0.0], "float32"))


def test_a_constant_embedding_triggers_exactly_one_warning():
    x, _ = blobs()
    monitor = CollapseMonitor(x[:40], margin=0.2)
    caught = fit(embedding_model(constant=True), monitor, epochs=3)
    assert len(caught) == 1
    message = str(caught[0].message)
    for fix in ("learning rate", "semi-hard", "larger batches"):
        assert fix in message
    assert monitor.collapsed_at == 1.0
    assert monitor.history["epoch"] == [0.0, 1.0, 2.0, 3.0]
    assert monitor.history["mean_distance"] == [0.0, 0.0, 0.0, 0.0]
    assert monitor.history["loss"][1:] == pytest.approx([0.2, 0.2, 0.2])
    assert math.isnan(monitor.history["loss"][0])


def test_a_collapse_during_training_is_caught_by_the_relative_rule():
    x, _ = blobs()
    # min_distance=0 disables the absolute rule: only "< 5 % of the start" can fire.
    monitor = CollapseMonitor(x[:40], margin=0.2, min_distance=0.0)
    # Plain SGD: once the kernel is zero its gradient is zero (Adam's momentum would move it).
    sgd = keras.optimizers.SGD(0.05)
    caught = fit(embedding_model(), monitor, epochs=4, callbacks=[ZeroKernelAt(2)], optimizer=sgd)
    assert len(caught) == 1
    start = monitor.history["mean_distance"][0]
    assert start > 0.3
    assert monitor.history["mean_distance"][2] < 0.05 * start
    # Epoch 2 still logged the healthy loss; epoch 3 is the first whose loss is the margin.
    assert monitor.collapsed_at == 3.0


def test_a_healthy_model_triggers_no_warning():
    x, _ = blobs()
    monitor = CollapseMonitor(x[:40], margin=0.2)
    caught = fit(embedding_model(), monitor, epochs=4)
    assert caught == []
    assert monitor.collapsed_at is None
    assert len(monitor.history["epoch"]) == 5
    assert min(monitor.history["mean_distance"]) > 0.3


def test_no_warning_when_the_loss_is_not_at_the_margin():
    # Collapsed distances, but the loss (0.2) is far from the margin the monitor was given.
    x, _ = blobs()
    monitor = CollapseMonitor(x[:40], margin=1.0)
    assert fit(embedding_model(constant=True), monitor, epochs=2) == []


def test_soft_batch_hard_collapses_at_log_2():
    x, _ = blobs()

    def soft(y_true, y_pred):
        return batch_hard_triplet_loss(y_true, y_pred, soft=True)

    monitor = CollapseMonitor(x[:40], margin=math.log(2.0))
    assert len(fit(embedding_model(constant=True), monitor, loss=soft, epochs=2)) == 1


def test_every_n_batches_checks_inside_the_epoch_and_still_warns_once():
    x, _ = blobs()
    monitor = CollapseMonitor(x[:40], margin=0.2, every_n_batches=2)
    caught = fit(embedding_model(constant=True), monitor, epochs=2)  # 5 batches per epoch
    assert len(caught) == 1
    assert monitor.history["epoch"] == pytest.approx([0, 0.4, 0.8, 1, 1.4, 1.8, 2])
    assert monitor.collapsed_at == pytest.approx(0.4)


def test_a_separate_embedding_model_is_measured():
    x, _ = blobs()
    inner = embedding_model(constant=True)
    monitor = CollapseMonitor(x[:10], embedding_model=inner)
    monitor.set_model(inner)
    # A constant model's rows agree up to float32 rounding of its output on this CPU; anything
    # below 1e-6 is a collapse (the default min_distance is 1e-3).
    assert monitor.mean_distance() == pytest.approx(0.0, abs=1e-6)
    healthy = embedding_model()
    monitor = CollapseMonitor(x[:10], embedding_model=healthy)
    emb = keras.ops.convert_to_numpy(healthy(x[:10])).astype(np.float64)
    want = np.mean([np.linalg.norm(emb[i] - emb[j]) for i in range(10) for j in range(i + 1, 10)])
    assert monitor.mean_distance() == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("constant", [True, False], ids=["collapsed", "healthy"])
def test_plot_returns_a_figure_with_labelled_axes(constant):
    x, _ = blobs()
    monitor = CollapseMonitor(x[:40], margin=0.2)
    fit(embedding_model(constant=constant), monitor, epochs=2)
    fig = monitor.plot()
    assert isinstance(fig, Figure)
    assert [ax.get_ylabel() for ax in fig.axes] == ["mean pairwise distance", "training loss"]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == (["margin 0.2", "collapse"] if constant else ["margin 0.2"])


def test_plot_before_training_is_an_error():
    monitor = CollapseMonitor(np.zeros((4, 8)))
    with pytest.raises(ValueError, match="nothing recorded yet"):
        monitor.plot()


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((None,), {}, TypeError, "x_probe must be an array"),
        ((np.zeros((1, 8)),), {}, ValueError, "at least 2 examples"),
        ((np.float32(3.0),), {}, ValueError, "at least 2 examples"),
        ((np.zeros((4, 8)), 0.0), {}, ValueError, "margin must be > 0"),
        ((np.zeros((4, 8)), "0.2"), {}, TypeError, "margin must be a number"),
        ((np.zeros((4, 8)),), {"distance_ratio": 1.5}, ValueError, "distance_ratio must be"),
        ((np.zeros((4, 8)),), {"min_distance": -1.0}, ValueError, "min_distance must be >= 0"),
        ((np.zeros((4, 8)),), {"loss_rtol": 0}, ValueError, "loss_rtol must be > 0"),
        ((np.zeros((4, 8)),), {"every_n_batches": 0}, ValueError, "at least 1"),
        ((np.zeros((4, 8)),), {"every_n_batches": 2.5}, TypeError, "an int or None"),
        ((np.zeros((4, 8)),), {"embedding_model": "model"}, TypeError, "keras.Model or None"),
    ],
)
def test_bad_inputs_are_rejected(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        CollapseMonitor(*args, **kwargs)


def test_a_model_without_2d_output_is_rejected():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Reshape((2, 4))])
    monitor = CollapseMonitor(np.zeros((4, 8), "float32"), embedding_model=model)
    with pytest.raises(ValueError, match="shape \\(n, emb_size\\)"):
        monitor.mean_distance()

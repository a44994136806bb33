"""Tests for the retrieval and verification plots in helpers.plotting."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from helpers.data import load_mnist
from helpers.plotting import (
    CORRECT_COLOR,
    WRONG_COLOR,
    plot_distance_histograms,
    plot_nearest_neighbors,
    plot_roc,
)


@pytest.fixture(scope="module")
def mnist():
    (x_train, y_train), (x_test, y_test) = load_mnist("bundled")
    return x_train[:300], y_train[:300], x_test[:20], y_test[:20]


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    is_same = np.arange(400) < 150
    distances = rng.normal(np.where(is_same, 1.0, 2.0), 0.5)
    return distances, is_same


def png_bytes(fig: Figure) -> int:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return len(buffer.getvalue())


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, "the axes has no legend"
    return [text.get_text() for text in legend.get_texts()]


# --------------------------------------------------------------------------- nearest neighbours
@pytest.mark.parametrize("shape", ["flat", "square"])
def test_nearest_neighbors_grid_titles_and_frames(mnist, shape):
    x_ref, y_ref, x_query, y_query = mnist
    if shape == "square":
        images_q, images_r = x_query.reshape(-1, 28, 28), x_ref.reshape(-1, 28, 28)
    else:
        images_q, images_r = x_query, x_ref
    k, n_queries = 4, 6
    fig = plot_nearest_neighbors(
        images_q, y_query, images_r, y_ref, x_query, x_ref, k=k, n_queries=n_queries
    )
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_queries * (k + 1)
    assert fig.get_suptitle()
    assert png_bytes(fig) > 1000

    # brute-force neighbours of raw pixels: full distance matrix, stable sort
    dist = np.linalg.norm(x_query[:n_queries, None, :] - x_ref[None, :, :], axis=-1)
    expected = np.argsort(dist, axis=1, kind="stable")[:, :k]
    axes = np.array(fig.axes).reshape(n_queries, k + 1)
    for row in range(n_queries):
        assert axes[row, 0].get_title() == f"query: {y_query[row]}"
        for col in range(1, k + 1):
            found = y_ref[expected[row, col - 1]]
            ok = found == y_query[row]
            ax = axes[row, col]
            assert ax.get_title() == f"#{col}: {found} {'✓' if ok else '✗'}"
            frame = to_rgba(CORRECT_COLOR if ok else WRONG_COLOR)
            assert all(spine.get_edgecolor() == frame for spine in ax.spines.values())
            assert ax.get_images(), "each cell shows an image"


def test_nearest_neighbors_marks_both_outcomes(mnist):
    x_ref, y_ref, x_query, y_query = mnist
    fig = plot_nearest_neighbors(x_query, y_query, x_ref, y_ref, x_query, x_ref, k=5, n_queries=20)
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.endswith("✓") for t in titles) and any(t.endswith("✗") for t in titles)


def test_nearest_neighbors_shows_at_most_the_queries_given(mnist):
    x_ref, y_ref, x_query, y_query = mnist
    fig = plot_nearest_neighbors(
        x_query[:3], y_query[:3], x_ref, y_ref, x_query[:3], x_ref, k=2, n_queries=8
    )
    assert len(fig.axes) == 3 * 3


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"query_labels": slice(0, 5)}, ValueError, "one row per example"),
        ({"ref_emb": slice(0, 10)}, ValueError, "one row per example"),
        ({"query_labels": "float"}, TypeError, "integer labels"),
        ({"query_images": "flat1d"}, ValueError, "stack of images"),
        ({"k": 0}, ValueError, "at least 1"),
        ({"k": 301}, ValueError, "only 300 references"),
        ({"n_queries": 0}, ValueError, "at least 1"),
        ({"n_queries": 2.0}, TypeError, "n_queries must be an int"),
    ],
)
def test_nearest_neighbors_bad_inputs(mnist, change, error, match):
    x_ref, y_ref, x_query, y_query = mnist
    kwargs = {
        "query_images": x_query,
        "query_labels": y_query,
        "ref_images": x_ref,
        "ref_labels": y_ref,
        "query_emb": x_query,
        "ref_emb": x_ref,
        "k": 3,
        "n_queries": 4,
    }
    for key, value in change.items():
        if isinstance(value, slice):
            kwargs[key] = kwargs[key][value]
        elif value == "float":
            kwargs[key] = kwargs[key].astype(float)
        elif value == "flat1d":
            kwargs[key] = kwargs[key].ravel()
        else:
            kwargs[key] = value
    with pytest.raises(error, match=match):
        plot_nearest_neighbors(**kwargs)


# --------------------------------------------------------------------------- ROC
def brute_rates(distances, is_same, threshold):
    accepted = distances <= threshold
    return accepted[~is_same].mean(), accepted[is_same].mean()


def test_roc_curve_legend_and_marks(pairs):
    distances, is_same = pairs
    fig = plot_roc(distances, is_same, threshold=1.4)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("false positive rate")
    assert ax.get_ylabel().startswith("true positive rate")
    assert ax.get_title()
    texts = legend_texts(ax)
    # AUC by counting (same, different) couples where the same pair is closer
    auc = (distances[is_same][:, None] < distances[~is_same][None, :]).mean()
    assert any(t == f"ROC (AUC = {auc:.3f})" for t in texts)
    assert any(t.startswith("EER = ") for t in texts)
    assert any(t.startswith("threshold 1.4") for t in texts)
    lines = {line.get_label(): line for line in ax.get_lines()}
    op = next(line for label, line in lines.items() if label.startswith("threshold"))
    fpr, tpr = brute_rates(distances, is_same, 1.4)
    np.testing.assert_allclose(np.ravel(op.get_xydata()), [fpr, tpr])
    eer_line = next(line for label, line in lines.items() if label.startswith("EER"))
    eer_x, eer_y = np.ravel(eer_line.get_xydata())
    assert eer_x == pytest.approx(1 - eer_y)  # FPR = FNR
    assert any(text.get_text().startswith("EER ") for text in ax.texts)  # the point is labelled
    assert png_bytes(fig) > 1000


def test_roc_default_threshold_is_the_best_f1(pairs):
    distances, is_same = pairs
    texts = legend_texts(plot_roc(distances, is_same).axes[0])
    assert any(t.startswith("best-F1 threshold") for t in texts)


def test_roc_log_x(pairs):
    distances, is_same = pairs
    fig = plot_roc(distances, is_same, log_x=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlim()[0] > 0
    assert png_bytes(fig) > 1000


# --------------------------------------------------------------------------- histograms
def test_distance_histograms(pairs):
    distances, is_same = pairs
    fig = plot_distance_histograms(distances, is_same, threshold=1.3, bins=25)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    texts = legend_texts(ax)
    assert texts == [
        "same digit (150 pairs)",
        "different digits (250 pairs)",
        "threshold = 1.3",
    ]
    vertical = [line for line in ax.get_lines() if line.get_label().startswith("threshold")]
    assert len(vertical) == 1 and np.allclose(vertical[0].get_xdata(), 1.3)
    hatches = [patch.get_hatch() for patch in ax.patches]
    assert any(hatches) and not all(hatches), "one histogram is hatched, the other is not"
    assert png_bytes(fig) > 1000


def test_distance_histograms_are_normalised(pairs):
    distances, is_same = pairs
    fig = plot_distance_histograms(distances, is_same, bins=10)
    ax = fig.axes[0]
    # each outline polygon is a step path; its heights are the bin values of one histogram
    outlines = [p for p in ax.patches if p.get_facecolor()[3] == 0]  # histtype="step"
    assert len(outlines) == 2
    for outline in outlines:
        heights = outline.get_xy()[1:-1:2, 1]
        assert heights.sum() == pytest.approx(1.0)


PLOTS = [plot_roc, plot_distance_histograms]


@pytest.mark.parametrize("plot", PLOTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (([0.1, 0.2, 0.3], [True, False]), {}, ValueError, "one flag per pair"),
        (([0.1, np.nan], [True, False]), {}, ValueError, "NaN or inf"),
        (([0.1, 0.2], [True, True]), {}, ValueError, "only same pairs"),
        (([0.1, 0.2], [True, False]), {"threshold": "0.5"}, TypeError, "threshold must be"),
        (([0.1, 0.2], [True, False]), {"threshold": np.inf}, ValueError, "finite distance"),
    ],
)
def test_verification_plots_bad_inputs(plot, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        plot(*args, **kwargs)


def test_histogram_bad_bins():
    with pytest.raises(ValueError, match="bins must be at least 1"):
        plot_distance_histograms([0.1, 0.2], [True, False], bins=0)

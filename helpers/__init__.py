"""helpers: the learner library of the Siamese-network course.

The notebooks import everything from here, e.g. ``from helpers import load_mnist``.
The self-checks live in :mod:`helpers.checks`. The instructor tool is a separate
package, :mod:`siamese_grading`, which imports nothing from here.
"""

from ._quiet_start import import_tensorflow_quietly

import_tensorflow_quietly()  # before Keras: keeps TensorFlow's C++ start-up lines out of notebooks

# ruff: noqa: E402

from .callbacks import CollapseMonitor, EmbeddingCollapseWarning, EmbeddingPlotter
from .data import load_mnist
from .losses import (
    TripletLoss,
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    pairwise_distances,
    semi_hard_triplet_loss,
    triplet_loss,
)
from .metrics import (
    knn_accuracy,
    mean_average_precision_at_r,
    nearest_neighbors,
    precision_at_1,
    r_precision,
    retrieval_scores,
    sample_pairs,
    verification_scores,
)
from .models import build_embedding_model, build_siamese_network, embed
from .plotting import (
    plot_distance_histograms,
    plot_embeddings,
    plot_nearest_neighbors,
    plot_roc,
    plot_siamese_diagram,
    plot_siamese_outputs,
    plot_triplets,
)
from .results import benchmark_results, quoted
from .triplets import balanced_batch, balanced_generator, create_batch, data_generator

__all__ = [
    "CollapseMonitor",
    "EmbeddingCollapseWarning",
    "EmbeddingPlotter",
    "TripletLoss",
    "balanced_batch",
    "benchmark_results",
    "balanced_generator",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "build_embedding_model",
    "build_siamese_network",
    "create_batch",
    "data_generator",
    "embed",
    "knn_accuracy",
    "load_mnist",
    "mean_average_precision_at_r",
    "nearest_neighbors",
    "pairwise_distances",
    "plot_distance_histograms",
    "plot_embeddings",
    "plot_nearest_neighbors",
    "plot_roc",
    "plot_siamese_diagram",
    "plot_siamese_outputs",
    "plot_triplets",
    "precision_at_1",
    "quoted",
    "r_precision",
    "retrieval_scores",
    "sample_pairs",
    "semi_hard_triplet_loss",
    "triplet_loss",
    "verification_scores",
]

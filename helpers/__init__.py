"""helpers: the importable part of the Siamese-network course.

The notebooks import everything from here, e.g. ``from helpers import load_mnist``.
Self-checks live in :mod:`helpers.checks`, instructor tools in :mod:`helpers.grading`.
"""

from ._quiet_start import import_tensorflow_quietly

import_tensorflow_quietly()  # before Keras: keeps TensorFlow's C++ start-up lines out of notebooks

# ruff: noqa: E402

from .data import load_mnist
from .losses import (
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
from .models import build_embedding_model, build_siamese_network
from .monitoring import CollapseMonitor, EmbeddingCollapseWarning
from .plotting import (
    EmbeddingPlotter,
    plot_distance_histograms,
    plot_embeddings,
    plot_nearest_neighbors,
    plot_roc,
    plot_triplets,
)
from .triplets import balanced_batch, balanced_generator, create_batch, data_generator

__all__ = [
    "CollapseMonitor",
    "EmbeddingCollapseWarning",
    "EmbeddingPlotter",
    "balanced_batch",
    "balanced_generator",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "build_embedding_model",
    "build_siamese_network",
    "create_batch",
    "data_generator",
    "knn_accuracy",
    "load_mnist",
    "mean_average_precision_at_r",
    "nearest_neighbors",
    "pairwise_distances",
    "plot_distance_histograms",
    "plot_embeddings",
    "plot_nearest_neighbors",
    "plot_roc",
    "plot_triplets",
    "precision_at_1",
    "r_precision",
    "retrieval_scores",
    "sample_pairs",
    "semi_hard_triplet_loss",
    "triplet_loss",
    "verification_scores",
]

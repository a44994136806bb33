"""helpers: the importable part of the Siamese-network course.

The notebooks import everything from here, e.g. ``from helpers import load_mnist``.
"""

from .data import load_mnist
from .losses import triplet_loss
from .models import build_embedding_model, build_siamese_network
from .plotting import EmbeddingPlotter, plot_embeddings, plot_triplets
from .triplets import balanced_batch, balanced_generator, create_batch, data_generator

__all__ = [
    "EmbeddingPlotter",
    "balanced_batch",
    "balanced_generator",
    "build_embedding_model",
    "build_siamese_network",
    "create_batch",
    "data_generator",
    "load_mnist",
    "plot_embeddings",
    "plot_triplets",
    "triplet_loss",
]

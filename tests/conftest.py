"""Shared test setup: quiet TensorFlow, headless plots, offline data."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SIAMESE_MNIST_SOURCE", "bundled")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def bundled_mnist():
    """The bundled 4000/1000 MNIST split, loaded once per test session."""
    from helpers.data import load_mnist

    return load_mnist("bundled")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

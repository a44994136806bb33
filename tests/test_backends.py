"""The package on the active Keras backend: what differs between TensorFlow, JAX and PyTorch.

Run it on each: ``KERAS_BACKEND=jax python -m pytest tests/test_backends.py``.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

import helpers
from backend_tools import BACKEND, to_numpy
from helpers._validation import as_array
from helpers.checks._shared import autodiff_available

ROOT = Path(__file__).resolve().parents[1]


def _raw_embeddings():
    """A model's raw output: on PyTorch a tensor that requires grad, which numpy refuses."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(12, 4)).astype("float32")
    return model(x), np.arange(12) % 3


def test_the_self_checks_can_differentiate_on_this_backend():
    assert autodiff_available(), f"no gradient branch for {BACKEND}"


def test_as_array_converts_a_models_raw_output():
    raw, _ = _raw_embeddings()
    got = as_array(raw)
    assert isinstance(got, np.ndarray) and got.shape == (12, 3)
    np.testing.assert_array_equal(got, to_numpy(raw))  # the same numbers, only converted


def test_metrics_and_plots_accept_a_models_raw_output():
    raw, labels = _raw_embeddings()
    emb = to_numpy(raw)
    # both compute in float64 numpy from the same float32 numbers: equal up to rounding
    np.testing.assert_allclose(
        helpers.metrics.squared_distances(raw, raw),
        helpers.metrics.squared_distances(emb, emb),
        rtol=1e-12,
        atol=1e-12,
    )
    assert helpers.precision_at_1(raw, labels, raw, labels) == helpers.precision_at_1(
        emb, labels, emb, labels
    )
    assert isinstance(helpers.plot_embeddings(raw, labels), Figure)


def test_collapse_monitor_measures_a_models_raw_output():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    monitor = helpers.CollapseMonitor(x, embedding_model=model)
    emb = to_numpy(model(x)).astype(np.float64)
    pairs = [np.linalg.norm(emb[i] - emb[j]) for i in range(6) for j in range(i + 1, 6)]
    # float64 means of the same float32 embeddings: agreement to rounding
    assert monitor.mean_distance() == pytest.approx(np.mean(pairs), rel=1e-9)


def test_importing_helpers_and_seeding_print_nothing_on_stderr():
    # The notebooks' first cell: TensorFlow's C++ start-up lines must not reach it, on any
    # backend (under JAX and PyTorch, keras.utils.set_random_seed imports TensorFlow too).
    code = textwrap.dedent(
        """
        import helpers, keras
        keras.utils.set_random_seed(42)
        print(keras.backend.backend())
        """
    )
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as in a learner's fresh kernel
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == BACKEND
    assert result.stderr == "", result.stderr


def test_the_speed_table_puts_tensorflow_first_with_ratios_to_it():
    # scripts/render_results.py turns the benchmark's figures into the README's table
    import importlib.util

    spec = importlib.util.spec_from_file_location("render", ROOT / "scripts/render_results.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    one = {
        "import_s": 2.0,
        "train_step_ms": 100.0,
        "loss_forward_ms": dict.fromkeys(
            ("triplet_loss", "batch_all", "batch_hard", "semi_hard"), 1.0
        ),
        "train_s": 10.0,
        "p1": 0.95,
    }
    figures = {
        "jax": {**one, "train_step_ms": 250.0, "version": "0.1"},
        "tensorflow": {**one, "version": "2.21"},
    }
    table = render.backends_table({"backends": {"backends": figures}})
    header, _, _, step = table.splitlines()[:4]
    assert header == "|  | tensorflow 2.21 | jax 0.1 |"
    assert "| one Siamese train step" in step and step.endswith("| 100 | 250 (2.50x) |")

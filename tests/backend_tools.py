"""What the unit tests need to run on every Keras backend (TensorFlow, JAX, PyTorch).

Select the backend per command, before Python starts: ``KERAS_BACKEND=jax python -m pytest
-m "not slow"``. Three things differ between the backends, and the tests meet them here:

- **Gradients.** The tests differentiate with the same function as the self-checks,
  :func:`helpers.checks._shared.gradients`, so the two cannot drift apart.
- **Precision.** JAX computes float64 inputs in float32 (its 64-bit mode is off by
  default), and PyTorch computes some Keras ops in float32 too; TensorFlow keeps float64.
  :func:`tol` picks a tolerance from the precision the backend actually used.
- **Tensors.** A PyTorch model's raw output requires grad, so ``np.asarray`` refuses it:
  :func:`to_numpy` converts any backend's tensor with ``keras.ops.convert_to_numpy``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers.checks._shared import gradients

BACKEND = keras.backend.backend()

__all__ = ["BACKEND", "gradients", "only_on", "to_numpy", "tol", "value_and_grad"]


def to_numpy(value) -> np.ndarray:
    """Any backend's tensor (or an array-like) as a numpy array."""
    return np.asarray(keras.ops.convert_to_numpy(value))


def tol(value, float64: float, float32: float) -> float:
    """``float64`` when ``value`` was computed in float64, else ``float32``.

    The two tolerances are each test's own (with its comment saying why); only the
    precision that decides between them comes from the backend.
    """
    dtype = keras.backend.standardize_dtype(getattr(value, "dtype", np.asarray(value).dtype))
    return float64 if dtype == "float64" else float32


def value_and_grad(loss_fn, *args, wrt, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """``loss_fn(*args, wrt, **kwargs)`` and its gradient with respect to ``wrt``, as numpy.

    The gradient is of the sum of the loss, with the active backend's autodiff; a loss
    that does not depend on ``wrt`` gives zeros.
    """
    out = {}

    def total(tensor):
        out["loss"] = loss_fn(*args, tensor, **kwargs)
        return out["loss"]

    (grad,), _ = gradients(total, [wrt])
    loss = to_numpy(out["loss"]) if BACKEND != "jax" else None
    if loss is None:  # under jax.grad the recorded loss is a tracer: evaluate it again
        loss = to_numpy(loss_fn(*args, keras.ops.convert_to_tensor(wrt), **kwargs))
    return loss, np.zeros(np.shape(wrt)) if grad is None else grad


def only_on(*backends: str, reason: str):
    """Skip a test unless the active backend is one of ``backends``; say why in ``reason``."""
    return pytest.mark.skipif(BACKEND not in backends, reason=f"{BACKEND}: {reason}")

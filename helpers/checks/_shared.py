"""Machinery shared by the self-checks of every notebook.

Nothing here knows about one exercise: calling the learner's code and turning
its errors into messages, converting what it returns, seeding, wording, and
the one place that asks the active backend for gradients (:func:`gradients`).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator

import keras
import numpy as np

from .._validation import error_text

#: The three images of a triplet, in the order the course always uses.
ROLES = ("anchor", "positive", "negative")

#: Pixels in one flattened 28 × 28 MNIST image.
PIXELS = 784


def passed(message: str) -> None:
    """Print the one friendly line of a check that passed."""
    print(f"✅ {message}")


def call_learner(func: Callable, name: str, *args, hint: str = "", explain=None, **kwargs):
    """Call the learner's ``func``; turn any exception into a helpful ``AssertionError``.

    ``explain(exc)`` may return a specific message for a known mistake.
    """
    try:
        return func(*args, **kwargs)
    except NotImplementedError as exc:
        raise AssertionError(
            f"You have not implemented {name} yet: replace `raise NotImplementedError()` "
            "with your code."
        ) from exc
    except Exception as exc:  # the learner's code may raise anything
        specific = explain(exc) if explain is not None else None
        message = specific or (
            f"Your {name} raised {type(exc).__name__}: {error_text(exc)}"
            + (f" — {hint}" if hint else "")
        )
        raise AssertionError(message) from exc


def explain_when(
    error: type[BaseException], fragment: str, message: str
) -> Callable[[BaseException], str | None]:
    """An ``explain`` for :func:`call_learner` that recognises one known mistake.

    It returns ``message`` when the learner's code raised ``error`` whose text contains
    ``fragment`` (``{error}`` in ``message`` stands for that text, tidied), otherwise None.
    """

    def explain(exc: BaseException) -> str | None:
        if isinstance(exc, error) and fragment in str(exc):
            return message.format(error=error_text(exc))
        return None

    return explain


def require_function(func, name: str, check: str) -> None:
    """Fail unless ``func``, given to ``check``, is a function (not its result)."""
    if not callable(func):
        raise AssertionError(
            f"{check} expects your function {name} itself, got {type(func).__name__}: "
            f"pass {name} without calling it, e.g. checks.{check}({name})."
        )


def to_numpy(value, what: str) -> np.ndarray:
    """Turn a tensor or array-like returned by the learner into a numpy array."""
    if value is None:
        raise AssertionError(f"{what} returned None: did you forget the `return` statement?")
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:  # e.g. a list of tensors: let numpy try
        try:
            return np.asarray(value)
        except Exception as exc:
            raise AssertionError(
                f"{what} returned a {type(value).__name__}, which cannot be turned into an array"
            ) from exc


@contextlib.contextmanager
def scratch_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's and Python's global generators, and restore their state afterwards."""
    # Deliberately the legacy global API: it is what a learner's code might wrongly use.
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)


def ordinal(i: int) -> str:
    """'first', 'second', 'third', then '#4', ... for the 0-based position ``i``."""
    return ("first", "second", "third")[i] if i < 3 else f"#{i + 1}"


def require_model(model, name: str, what: str) -> None:
    """Fail unless ``model`` is a built ``keras.Model`` whose inputs Keras can see."""
    if isinstance(model, keras.Model):
        if not isinstance(model, keras.Sequential) and not hasattr(model, "inputs"):
            raise AssertionError(
                f"Your {what} is a subclassed keras.Model, whose inputs Keras cannot see: build "
                "it with keras.Sequential([keras.Input(shape=(784,)), ...]) or the functional "
                "API, keras.Model(inputs, outputs)."
            )
        if not model.built or not model.inputs:
            raise AssertionError(
                f"Your {what} has no input shape yet: start the Sequential with an Input, "
                "e.g. keras.Sequential([keras.Input(shape=(784,)), ...])."
            )
        return
    if isinstance(model, keras.layers.Layer):
        raise AssertionError(
            f"Your {what} is a single {type(model).__name__} layer, not a model: wrap the layers "
            "in keras.Sequential([...]) or keras.Model(inputs, outputs)."
        )
    if callable(model):
        raise AssertionError(
            f"You passed a function ({getattr(model, '__name__', type(model).__name__)}), not a "
            f"keras.Model: call it and pass the model it returns as {name}."
        )
    raise AssertionError(f"{name} must be a keras.Model, got {type(model).__name__}.")


def layers_of(model) -> list:
    """Every layer inside ``model``, nested models' layers included, each once, in order."""
    found, seen = [], set()

    def visit(layer) -> None:
        for sub in getattr(layer, "layers", ()):
            if id(sub) not in seen:
                seen.add(id(sub))
                found.append(sub)
                visit(sub)

    visit(model)
    return found


def frozen_layers(model) -> str:
    """The layers inside ``model`` that own weights but were frozen (``trainable=False``).

    Returns them as text for a message, e.g. ``"'dense' (Dense)"``; empty when none is frozen.
    """
    return ", ".join(
        f"{layer.name!r} ({type(layer).__name__})"
        for layer in layers_of(model)
        if not getattr(layer, "layers", None) and layer.weights and not layer.trainable
    )


def autodiff_available() -> bool:
    """True when :func:`gradients` has a branch for the active Keras backend."""
    return keras.backend.backend() in _GRADIENT_BACKENDS


def gradients(loss_fn: Callable, inputs=(), variables=()) -> tuple[list, list]:
    """Gradients of ``sum(loss_fn(*inputs))`` with the active backend's autodiff.

    The one place where the checks differentiate: everything else is backend-neutral
    ``keras`` code. TensorFlow records ``loss_fn`` on a ``tf.GradientTape``; JAX runs it
    under ``jax.grad``, inside a ``keras.StatelessScope`` so that the variables become
    function arguments; PyTorch calls ``torch.autograd.grad`` with ``allow_unused=True``.
    Every backend gives the same answer, so every learner gets the same diagnostics.

    Parameters
    ----------
    loss_fn : callable
        Maps the input tensors to a tensor (summed to a scalar here). It may read
        ``variables`` implicitly, e.g. by calling a model that owns them.
    inputs : sequence of arrays or tensors
        Passed to ``loss_fn`` as tensors; the gradient is taken with respect to each.
    variables : sequence of keras.Variable
        Weights that ``loss_fn`` uses; the gradient is taken with respect to each.

    Returns
    -------
    tuple of two lists
        The gradients with respect to ``inputs`` and to ``variables``, as float64 numpy
        arrays, with None where the sum does not depend on it. When ``loss_fn`` leaves
        the tensor world (numpy functions, ``.numpy()``, ``float(...)``), every entry is
        None on every backend, although JAX and PyTorch refuse such code with an error.

    Raises
    ------
    NotImplementedError
        On a backend without a branch; ask :func:`autodiff_available` first.

    Examples
    --------
    >>> (grad,), _ = gradients(lambda t: keras.ops.square(t), [np.array([1.0, 2.0])])
    >>> grad
    array([2., 4.])
    """
    backend = keras.backend.backend()
    if backend not in _GRADIENT_BACKENDS:
        raise NotImplementedError(f"the self-checks cannot differentiate on the {backend} backend")
    inputs, variables = list(inputs), list(variables)
    try:
        grads = _GRADIENT_BACKENDS[backend](loss_fn, inputs, variables)
    except Exception as exc:  # the learner's code may raise anything
        if not _left_the_tensor_world(exc):
            raise
        grads = [None] * (len(inputs) + len(variables))
    as_numpy = [
        None if g is None else np.asarray(keras.ops.convert_to_numpy(g), dtype=np.float64)
        for g in grads
    ]
    return as_numpy[: len(inputs)], as_numpy[len(inputs) :]


def _left_the_tensor_world(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it came from, says a tensor was turned into numpy.

    TensorFlow's eager tensors turn into numpy silently (the gradient is then None);
    JAX's tracers and PyTorch's tensors that require grad refuse with these errors.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        if type(exc).__module__.startswith("jax") and (
            "Tracer" in type(exc).__name__ or "Concretization" in type(exc).__name__
        ):
            return True
        if isinstance(exc, RuntimeError) and (
            "that requires grad" in text or "does not require grad" in text
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _tensorflow_gradients(loss_fn: Callable, inputs: list, variables: list) -> list:
    import tensorflow as tf

    tensors = [tf.convert_to_tensor(x) for x in inputs]
    with tf.GradientTape() as tape:  # it also watches every variable that loss_fn reads
        for tensor in tensors:
            tape.watch(tensor)
        total = tf.reduce_sum(tf.convert_to_tensor(loss_fn(*tensors)))
    grads = tape.gradient(total, [*tensors, *variables])
    return [None if g is None else tf.convert_to_tensor(g) for g in grads]


def _jax_gradients(loss_fn: Callable, inputs: list, variables: list) -> list:
    import jax
    import jax.numpy as jnp

    arrays = [jnp.asarray(keras.ops.convert_to_numpy(x)) for x in inputs]
    values = [v.value for v in variables]

    def total(arrays, values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            out = loss_fn(*arrays)
        return jnp.sum(jnp.asarray(out))

    depends = _jax_dependence(total, arrays, values)
    grad_inputs, grad_values = jax.grad(total, argnums=(0, 1))(arrays, values)
    return [g if d else None for g, d in zip([*grad_inputs, *grad_values], depends, strict=True)]


def _jax_dependence(func: Callable, *args) -> list[bool]:
    """For each array leaf of ``args``, whether ``func``'s output depends on it.

    ``jax.grad`` gives zeros, not None, for an argument the output ignores (e.g. behind
    ``ops.stop_gradient``); TensorFlow and PyTorch say None. This follows the data flow
    through the traced program, as TensorFlow's tape does, so the answers agree.
    """
    import jax

    jaxpr = jax.make_jaxpr(func)(*args).jaxpr
    dependent = {v: {i} for i, v in enumerate(jaxpr.invars)}
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "stop_gradient":
            continue
        found = set()
        for var in eqn.invars:
            if not _is_literal(var):
                found |= dependent.get(var, set())
        for var in eqn.outvars:
            dependent[var] = found
    out = jaxpr.outvars[0]
    reached = set() if _is_literal(out) else dependent.get(out, set())
    return [i in reached for i in range(len(jaxpr.invars))]


def _is_literal(var) -> bool:
    """Whether a jaxpr operand is a constant written into the program (a ``Literal``)."""
    return type(var).__name__ == "Literal"


def _torch_gradients(loss_fn: Callable, inputs: list, variables: list) -> list:
    import torch

    tensors = [
        keras.ops.convert_to_tensor(keras.ops.convert_to_numpy(x)).requires_grad_() for x in inputs
    ]
    targets = [*tensors, *(v.value for v in variables)]
    total = torch.sum(keras.ops.convert_to_tensor(loss_fn(*tensors)))
    wanted = [i for i, t in enumerate(targets) if t.requires_grad]  # not frozen weights
    grads = [None] * len(targets)
    if total.requires_grad and wanted:  # False e.g. when computed with numpy
        found = torch.autograd.grad(total, [targets[i] for i in wanted], allow_unused=True)
        for i, g in zip(wanted, found, strict=True):
            grads[i] = g
    return grads


#: The active backend's name -> its gradient function (see :func:`gradients`).
_GRADIENT_BACKENDS = {
    "tensorflow": _tensorflow_gradients,
    "jax": _jax_gradients,
    "torch": _torch_gradients,
}

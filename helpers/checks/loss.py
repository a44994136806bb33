"""Self-checks of notebook 07 (the triplet loss): ``triplet_loss`` and its saveable class.

``check_triplet_loss`` checks exercise 7.1, which writes FaceNet's triplet loss
``max(‖a−p‖² − ‖a−n‖² + alpha, 0)`` with ``keras.ops``, against a numpy
reference and against each classic mistake. ``check_margin_loss`` checks
exercise 7.2, a ``keras.losses.Loss`` subclass that fixes the margin: what it
computes, and what a model compiled with it computes after a save to a
``.keras`` file and a reload.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from itertools import product

import keras
import numpy as np

from siamese_grading.references import LOSS_ATOL, reference_dense_step

from .._validation import error_text
from ._references import DISTANCES, reference_gradient, reference_loss
from ._shared import (
    ROLES,
    autodiff_available,
    call_learner,
    explain_when,
    gradients,
    passed,
    require_function,
    to_numpy,
)

#: Absolute tolerance when comparing a loss with the numpy reference (shared with the grader).
_ATOL = LOSS_ATOL

_FORMULA = "max(‖a−p‖² − ‖a−n‖² + alpha, 0)"

#: How the distance between two embeddings is reduced over the embedding dimension.

_MISTAKES = {
    "mean": (
        "you averaged the squared differences over the embedding dimension; FaceNet sums them: "
        "use ops.sum(ops.square(anchor - positive), axis=-1), not ops.mean (the mean divides "
        "both distances by emb_size, which makes the margin emb_size times larger)"
    ),
    "norm": (
        "you used the distance ‖a−p‖ itself; the triplet loss uses the SQUARED distance ‖a−p‖²: "
        "drop the square root (ops.sqrt, ops.norm, ** 0.5), whose gradient is NaN when a = p, "
        "and use ops.sum(ops.square(anchor - positive), axis=-1)"
    ),
    "abs": (
        "you summed absolute differences |a−p| (an L1 distance); square them instead: "
        "ops.sum(ops.square(anchor - positive), axis=-1)"
    ),
    "swapped": (
        "you swapped the positive and the negative: the loss is ‖a−p‖² − ‖a−n‖² + alpha "
        "(positive distance first), with anchor = y_pred[:, :emb_size], "
        "positive = y_pred[:, emb_size:2 * emb_size], negative = y_pred[:, 2 * emb_size:]"
    ),
    "no_max": (
        "you forgot the max(·, 0): a triplet that already satisfies the margin must give 0, not "
        "a negative loss: wrap it in ops.maximum(..., 0.0)"
    ),
    "no_alpha": "you forgot to add the margin alpha: pos_dist - neg_dist + alpha",
}


def _triplet_batch(emb_size: int, batch: int, seed: int) -> np.ndarray:
    """Embeddings whose losses mix zeros and positive values, with squared distances near 1."""
    rng = np.random.default_rng(seed)
    anchor = rng.normal(size=(batch, emb_size)) / np.sqrt(emb_size)
    spread = rng.uniform(0.2, 1.0, size=(2, batch, 1)) / np.sqrt(emb_size)
    positive = anchor + rng.normal(size=(batch, emb_size)) * spread[0]
    negative = anchor + rng.normal(size=(batch, emb_size)) * spread[1]
    return np.concatenate([anchor, positive, negative], axis=1).astype(np.float32)


def _run_loss(triplet_loss, y_pred: np.ndarray, hint: str, **alpha) -> np.ndarray:
    ops = keras.ops
    y_true = ops.convert_to_tensor(np.zeros_like(y_pred))

    def explain(exc: BaseException) -> str | None:
        return (
            _explain_alpha_error(exc)
            or _explain_numpy_method(exc)
            or _explain_numpy_detour(triplet_loss, y_pred, alpha)
        )

    out = call_learner(
        triplet_loss,
        "triplet_loss",
        y_true,
        ops.convert_to_tensor(y_pred),
        hint=hint,
        explain=explain,
        **alpha,
    )
    return to_numpy(out, "Your triplet_loss").astype(np.float64)


_NUMPY_DETOUR = (
    "Keras cannot compute the gradient of your loss: it leaves the tensor world (numpy "
    "functions, .numpy(), float(...)). Write it with keras.ops only: ops.sum, ops.square, "
    "ops.maximum."
)


def _explain_numpy_detour(triplet_loss, y_pred: np.ndarray, alpha: dict) -> str | None:
    """The numpy-detour message when the loss fails on tensors but works on numpy arrays.

    TensorFlow's eager tensors pass through numpy functions (the gradient is then lost,
    which :func:`_check_gradient_exists` reports); JAX's and PyTorch's tensors make the same
    code fail at once (e.g. ``np.sum(tensor, axis=-1)`` calls PyTorch's ``sum`` with an
    ``axis`` it does not know), so every learner gets the same diagnostic.
    """
    if keras.backend.backend() == "tensorflow":
        return None
    try:
        triplet_loss(np.zeros_like(y_pred), y_pred, **alpha)
    except Exception:  # fails on numpy arrays too: some other mistake
        return None
    return _NUMPY_DETOUR


#: JAX's arrays have no ``.numpy()``: the code fails at once, as TensorFlow's fails in a graph.
_explain_numpy_method = explain_when(
    AttributeError,
    "'numpy'",
    "Your triplet_loss calls .numpy() ({error}), which only TensorFlow's eager tensors have, "
    "and even there it fails inside model.compile, where y_pred is a symbolic tensor: use "
    "shapes, not values (emb_size = y_pred.shape[-1] // 3) and keras.ops only.",
)

_explain_alpha_error = explain_when(
    TypeError,
    "alpha",
    "Your triplet_loss does not accept alpha ({error}): keep the signature "
    "def triplet_loss(y_true, y_pred, alpha=0.2).",
)


def check_triplet_loss(triplet_loss: Callable) -> None:
    """Check ``triplet_loss(y_true, y_pred, alpha=0.2)`` against FaceNet's formula in numpy.

    The loss is called on random batches (several embedding sizes and margins), its
    gradient is compared with the formula's, and it trains a tiny Siamese-shaped model
    for one step inside ``model.compile``, the way notebook 8 uses it.

    Examples
    --------
    >>> checks.check_triplet_loss(triplet_loss)
    ✅ Your triplet loss matches FaceNet's on 5 random batches ...
    """
    require_function(triplet_loss, "triplet_loss", "check_triplet_loss")
    y_pred = _triplet_batch(64, 16, seed=0)
    hint = "it was called on y_pred of shape (16, 192) (emb_size 64) with alpha=0.2"
    out = _run_loss(triplet_loss, y_pred, hint, alpha=0.2)
    _check_loss_shape(out, y_pred, 0.2)
    _check_loss_values(out, y_pred, 0.2)
    _check_alpha(triplet_loss)
    _check_emb_size(triplet_loss)
    gradient = ""
    if autodiff_available():
        _check_gradient_exists(triplet_loss)
        _check_gradient_values(triplet_loss)
        gradient = ", its gradient is FaceNet's (and finite when a = p = n)"
    _check_training_step(triplet_loss)
    passed(
        "Your triplet loss matches FaceNet's on 5 random batches (embedding sizes 64, 5 and 2, "
        f"three margins){gradient}, and it trains a model inside model.compile. Well done!"
    )


def _check_loss_shape(out: np.ndarray, y_pred: np.ndarray, alpha: float) -> None:
    batch, emb = len(y_pred), y_pred.shape[-1] // 3
    if out.size == 1 and out.ndim <= 1:
        raise AssertionError(_scalar_loss_message(float(out.ravel()[0]), y_pred, alpha))
    if out.shape == (emb,):
        raise AssertionError(
            f"Your loss has shape {out.shape}, one value per embedding coordinate: you reduced "
            "over axis=0 (the batch). Sum the squared differences over the embedding "
            "dimension instead, axis=-1, to get one loss per triplet."
        )
    if out.shape == (batch, 1):
        raise AssertionError(
            f"Your loss has shape {out.shape}: return one value per triplet, shape ({batch},), "
            "without the extra axis (drop keepdims=True)."
        )
    if out.shape != (batch,):
        raise AssertionError(
            f"Your loss has shape {out.shape}; expected ({batch},), one loss per triplet "
            f"(y_pred had shape {y_pred.shape})."
        )
    if not np.isfinite(out).all():
        raise AssertionError("Your triplet loss returned NaN or inf on ordinary embeddings.")


def _scalar_loss_message(value: float, y_pred: np.ndarray, alpha: float) -> str:
    correct = reference_loss(y_pred, alpha)
    whole = y_pred.reshape(1, -1, 3, y_pred.shape[-1] // 3).transpose(0, 2, 1, 3)
    whole = whole.reshape(1, -1)  # every triplet's [a | p | n] as one long row
    if np.isclose(value, reference_loss(whole, alpha)[0], rtol=1e-4):
        what = (
            "you summed the squared differences over the whole batch (no axis): sum over the "
            "embedding dimension only, ops.sum(..., axis=-1)"
        )
    elif np.isclose(value, correct.mean(), rtol=1e-4):
        what = "you averaged the losses over the batch: drop that final ops.mean, Keras does it"
    elif np.isclose(value, correct.sum(), rtol=1e-4):
        what = "you summed the losses over the batch: drop that final ops.sum"
    else:
        what = "reduce over the embedding dimension only, axis=-1"
    return (
        f"Your triplet loss returned a single number for the whole batch; it must return one "
        f"loss per triplet, shape (batch,) — Keras averages them itself. Here {what}."
    )


def _check_loss_values(out: np.ndarray, y_pred: np.ndarray, alpha: float) -> None:
    if np.allclose(out, reference_loss(y_pred, alpha), rtol=1e-4, atol=_ATOL):
        return
    if np.allclose(out, alpha, rtol=1e-4, atol=_ATOL):
        raise AssertionError(
            f"Your loss is {alpha} for every triplet, as if all embeddings were zero: you used "
            "y_true, which is only a dummy target of zeros. The embeddings are in y_pred."
        )
    reference = reference_loss(y_pred, alpha)
    easy = reference == 0  # exact: np.maximum returns the 0.0 itself
    if (
        easy.any()
        and np.allclose(out[~easy], reference[~easy], rtol=1e-4, atol=_ATOL)
        and np.allclose(out[easy], out[easy][0], rtol=1e-4, atol=_ATOL)
    ):
        raise AssertionError(
            f"The triplets that already satisfy the margin get {out[easy][0]:.3g} instead of 0: "
            "the hinge is max(·, 0), exactly 0 for easy triplets: ops.maximum(..., 0.0)."
        )
    found = [_MISTAKES[mistake] for mistake in _identify_mistakes(out, y_pred, alpha)]
    if len(found) == 1:
        raise AssertionError(f"{found[0][0].upper()}{found[0][1:]}.")
    if found:
        listed = "; ".join(f"({i}) {fix}" for i, fix in enumerate(found, start=1))
        raise AssertionError(
            f"Your triplet loss differs from FaceNet's {_FORMULA} in {len(found)} ways: {listed}."
        )
    raise AssertionError(
        f"Your triplet loss gives {np.round(out[:3], 4).tolist()} on the first three triplets "
        f"where FaceNet's {_FORMULA} gives {np.round(reference[:3], 4).tolist()}. Split y_pred "
        "into three equal parts (emb_size = y_pred.shape[-1] // 3), compute "
        "pos_dist = ops.sum(ops.square(anchor - positive), axis=-1) (likewise neg_dist), then "
        "return ops.maximum(pos_dist - neg_dist + alpha, 0.0)."
    )


def _loss_variants() -> Iterator[tuple[list[str], dict]]:
    """Every combination of classic mistakes, with the options that reproduce it."""
    flags = product(DISTANCES, (False, True), (True, False), (True, False))
    for distance, swapped, clamp, margin in flags:
        mistakes = [distance] if distance != "squared" else []
        mistakes += ["swapped"] * swapped + ["no_max"] * (not clamp) + ["no_alpha"] * (not margin)
        yield mistakes, {"distance": distance, "swapped": swapped, "clamp": clamp, "margin": margin}


def _identify_mistakes(out: np.ndarray, y_pred: np.ndarray, alpha: float) -> list[str]:
    """The smallest combination of classic mistakes that reproduces ``out``, if any."""
    for mistakes, options in sorted(_loss_variants(), key=lambda variant: len(variant[0])):
        reference = reference_loss(y_pred, alpha, **options)
        if mistakes and np.allclose(out, reference, rtol=1e-4, atol=_ATOL):
            return mistakes
    return []


def _check_alpha(triplet_loss) -> None:
    y_pred = _triplet_batch(64, 16, seed=1)
    for alpha in (0.5, 1.0):
        out = _run_loss(triplet_loss, y_pred, f"it was called with alpha={alpha}", alpha=alpha)
        if np.allclose(out, reference_loss(y_pred, alpha), rtol=1e-4, atol=_ATOL):
            continue
        if np.allclose(out, reference_loss(y_pred, 0.2), rtol=1e-4, atol=_ATOL):
            raise AssertionError(
                f"With alpha={alpha} your loss is the same as with alpha=0.2: use the alpha "
                "argument instead of a fixed 0.2."
            )
        raise AssertionError(
            f"With alpha={alpha} your loss differs from FaceNet's {_FORMULA}: add the alpha "
            "argument as the margin."
        )
    y_pred = _triplet_batch(64, 12, seed=2)
    out = _run_loss(triplet_loss, y_pred, "it was called without alpha")
    if not np.allclose(out, reference_loss(y_pred, 0.2), rtol=1e-4, atol=_ATOL):
        raise AssertionError(
            "Called without alpha, your loss should use the default margin 0.2: keep the "
            "signature def triplet_loss(y_true, y_pred, alpha=0.2)."
        )


def _check_emb_size(triplet_loss) -> None:
    for emb_size, batch, seed in ((5, 7, 3), (2, 9, 4)):
        y_pred = _triplet_batch(emb_size, batch, seed)
        fix = (
            f"compute the embedding size from y_pred, emb_size = y_pred.shape[-1] // 3, instead "
            f"of a fixed 64 or a global variable (it was called on y_pred of shape {y_pred.shape})."
        )
        try:
            out = _run_loss(triplet_loss, y_pred, "")
        except AssertionError as exc:
            raise AssertionError(
                f"Your triplet_loss works with 64-dimensional embeddings but fails with "
                f"{emb_size}-dimensional ones ({exc}): {fix}"
            ) from exc.__cause__
        if out.shape != (batch,) or not np.allclose(
            out, reference_loss(y_pred, 0.2), rtol=1e-4, atol=_ATOL
        ):
            raise AssertionError(
                f"Your triplet_loss is right for 64-dimensional embeddings but wrong for "
                f"{emb_size}-dimensional ones: {fix}"
            )


def _check_gradient_exists(triplet_loss) -> None:
    """The gradient must exist (keras.ops, not numpy) and be finite when a = p = n."""
    base = np.random.default_rng(9).normal(size=(4, 8)).astype(np.float32)
    y_pred = np.concatenate([base, base, base], axis=1)
    (grad,), _ = gradients(lambda t: _call_on(triplet_loss, t, _SAME_POINT_HINT), [y_pred])
    if grad is None:
        raise AssertionError(_NUMPY_DETOUR)
    if not np.all(np.isfinite(grad)):
        raise AssertionError(
            "Your loss values are right, but its gradient is NaN when anchor = positive = "
            "negative: a square root (** 0.5, ops.sqrt, ops.norm) has an infinite slope at 0, "
            "even if you square it again. Compute ops.sum(ops.square(anchor - positive), axis=-1) "
            "directly, as FaceNet does, with no square root."
        )


_SAME_POINT_HINT = "it was called on a batch where anchor = positive = negative"


def _call_on(triplet_loss, y_pred, hint: str):
    return call_learner(
        triplet_loss,
        "triplet_loss",
        keras.ops.zeros_like(y_pred),
        y_pred,
        alpha=0.2,
        hint=hint,
    )


#: Kept under its old private name for the tests that used it.
_reference_gradient = reference_gradient


def _gradient_batch() -> np.ndarray:
    """Triplets whose losses are zero or positive, none within 0.01 of the hinge at 0."""
    y_pred = _triplet_batch(6, 12, seed=11)
    emb = 6
    a, p, n = y_pred[:, :emb], y_pred[:, emb : 2 * emb], y_pred[:, 2 * emb :]
    delta = np.sum((a - p) ** 2, axis=1) - np.sum((a - n) ** 2, axis=1) + 0.2
    keep = np.abs(delta) > 0.01
    return y_pred[keep]


def _check_gradient_values(triplet_loss) -> None:
    """The gradient with respect to y_pred must be FaceNet's, term by term."""
    y_pred = _gradient_batch()
    hint = f"it was called on y_pred of shape {y_pred.shape} to compute its gradient"
    (grad,), _ = gradients(lambda t: _call_on(triplet_loss, t, hint), [y_pred])
    expected = _reference_gradient(y_pred, 0.2)
    if np.allclose(grad, expected, rtol=1e-4, atol=1e-5):
        return
    emb = y_pred.shape[-1] // 3
    terms = (
        ("neg", "‖a−n‖² (neg_dist)", "push the negative away from the anchor"),
        ("pos", "‖a−p‖² (pos_dist)", "pull the positive and the anchor together"),
    )
    for cut, term, effect in terms:
        if np.allclose(grad, _reference_gradient(y_pred, 0.2, cut=cut), rtol=1e-4, atol=1e-5):
            raise AssertionError(
                f"Your loss values are right, but no gradient flows through the term {term}, "
                f"so training would never {effect}. Remove ops.stop_gradient (or any detour "
                "through numpy or a constant) around that distance and compute it from y_pred "
                "with keras.ops."
            )
    parts = [slice(0, emb), slice(emb, 2 * emb), slice(2 * emb, 3 * emb)]
    wrong = [
        (role, part)
        for role, part in zip(ROLES, parts, strict=True)
        if not np.allclose(grad[:, part], expected[:, part], rtol=1e-4, atol=1e-5)
    ]
    role, part = wrong[0]
    row = int(np.argmax(np.abs(grad[:, part] - expected[:, part]).max(axis=1)))
    raise AssertionError(
        "Your loss values are right, but its gradient with respect to the "
        f"{' and the '.join(r for r, _ in wrong)} is not FaceNet's (for one {role}: "
        f"{np.round(grad[row, part][:3], 4).tolist()} instead of "
        f"{np.round(expected[row, part][:3], 4).tolist()}), so training would go the wrong "
        "way: compute the loss from y_pred with keras.ops only, with no ops.stop_gradient "
        "and no constant in place of a tensor."
    )


#: The tiny Siamese-shaped model of :func:`_check_training_step`: images, embedding, batch.
_STEP_SHAPES = {"image": 6, "emb": 4, "batch": 8}
_STEP_LEARNING_RATE = 0.1


def _step_data() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Three batches of 'images' and the initial kernel and bias of the shared Dense layer.

    Every number is a small multiple of 1/4 or 1/8, so that the forward and backward
    matrix products are exact even in TensorFloat-32 (the default for float32 matrix
    products on recent NVIDIA GPUs): only the loss itself is rounded.
    """
    rng = np.random.default_rng(12)
    image, emb, batch = _STEP_SHAPES["image"], _STEP_SHAPES["emb"], _STEP_SHAPES["batch"]
    images = [(rng.integers(-4, 5, size=(batch, image)) / 4).astype(np.float32) for _ in range(3)]
    kernel = (rng.integers(-4, 5, size=(image, emb)) / 8).astype(np.float32)
    bias = (rng.integers(-2, 3, size=emb) / 8).astype(np.float32)
    return images, kernel, bias


def _reference_step(images, kernel, bias, alpha: float = 0.2):
    """FaceNet's mean loss and one SGD step of the shared Dense layer, in numpy (float64)."""
    return reference_dense_step(images, kernel, bias, alpha, _STEP_LEARNING_RATE)


def _check_training_step(triplet_loss) -> None:
    """Train a tiny Siamese-shaped model for one step with ``model.compile(loss=triplet_loss)``.

    Keras traces the loss into a graph there, where ``y_pred`` is symbolic: code that works
    eagerly (``len(y_pred[0])``, numpy, ``.numpy()``) may fail. The reported loss and the
    updated weights must equal FaceNet's, computed in numpy.
    """
    images, kernel, bias = _step_data()
    # zeros, then set_weights, and explicit names: building this model draws no random numbers
    # and no automatic layer names, so the notebook's later cells see the same seeds and names
    inputs = [keras.Input(shape=(_STEP_SHAPES["image"],), name=role) for role in ROLES]
    shared = keras.layers.Dense(
        _STEP_SHAPES["emb"], kernel_initializer="zeros", name="check_shared_embedding"
    )
    joined = keras.layers.Concatenate(axis=-1, name="check_concatenate")
    model = keras.Model(inputs, joined([shared(t) for t in inputs]), name="check_tiny_siamese")
    shared.set_weights([kernel, bias])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=_STEP_LEARNING_RATE), loss=triplet_loss
    )
    targets = np.zeros((_STEP_SHAPES["batch"], 3 * _STEP_SHAPES["emb"]), np.float32)
    try:
        reported = model.train_on_batch(images, targets)
    except NotImplementedError as exc:
        raise AssertionError(
            "Your triplet_loss works when called directly, but fails inside "
            f"model.compile(loss=triplet_loss), where y_pred is a symbolic tensor "
            f"({error_text(exc).rstrip('.')}): use keras.ops only, no numpy functions, "
            ".numpy() or float()."
        ) from exc
    except Exception as exc:  # the learner's loss may raise anything once traced
        raise AssertionError(
            "Your triplet_loss works when called directly, but fails inside "
            "model.compile(loss=triplet_loss) + train_on_batch, where Keras traces it into a "
            f"graph and y_pred is a symbolic tensor: {type(exc).__name__}: "
            f"{error_text(exc).rstrip('.')}. "
            "Use shapes, not values: emb_size = y_pred.shape[-1] // 3 (not len(y_pred[0])), "
            "and keras.ops only (no numpy, .numpy(), float() or a Python `if` on a tensor)."
        ) from exc
    loss, new_kernel, new_bias = _reference_step(images, kernel, bias)
    reported = float(np.ravel(to_numpy(reported, "train_on_batch"))[0])
    if not np.isclose(reported, loss, rtol=1e-4, atol=1e-5):
        raise AssertionError(
            f"Inside model.compile your loss gives {reported:.5f} on a batch where FaceNet's "
            f"{_FORMULA}, averaged over the batch, gives {loss:.5f}: the loss must compute the "
            "same thing when Keras traces it into a graph (no Python branching on tensor values)."
        )
    got_kernel, got_bias = (to_numpy(w, "the weights") for w in shared.get_weights())
    if not (
        np.allclose(got_kernel, new_kernel, rtol=1e-4, atol=1e-5)
        and np.allclose(got_bias, new_bias, rtol=1e-4, atol=1e-5)
    ):
        worst = float(np.max(np.abs(got_kernel - new_kernel)))
        raise AssertionError(
            "One training step inside model.compile with your loss moves the weights differently "
            f"from FaceNet's loss (largest difference {worst:.3g}): its gradient is wrong in "
            "training although its values are right. Write it with keras.ops only, with no "
            "ops.stop_gradient."
        )


# ----------------------------------------------------------------------------------------
# Exercise 7.2: the margin fixed in a keras.losses.Loss that Keras can save
# ----------------------------------------------------------------------------------------

#: The margin the learner's class is built with, and the one a config without it reloads with.
_MARGIN, _DEFAULT_MARGIN = 0.5, 0.2

#: What the learner's class is called in messages (the notebook asks for this name).
_CLASS = "MarginTripletLoss"

_REGISTER = '@keras.saving.register_keras_serializable(package="learner")'
_GET_CONFIG = 'return {**super().get_config(), "alpha": self.alpha}'
_SUPER_INIT = "super().__init__(name=name, **kwargs)"

#: The name given to the loss in the save-and-reload test: it must come back too.
_SAVED_NAME = "margin_05"

#: What Keras 3.15 warns on the TensorFlow backend whenever it saves a variable.
_KERAS_SAVE_WARNING = "__array__ implementation doesn't accept a copy keyword"


def check_margin_loss(loss_class: type, triplet_loss: Callable) -> None:
    """Check exercise 7.2: a ``keras.losses.Loss`` subclass that fixes the margin and can be saved.

    The class is built with several margins and compared with FaceNet's formula in
    numpy (one loss per triplet from ``call``, the batch mean from Keras); it must pass
    ``name`` and ``reduction`` on to ``keras.losses.Loss``. Then a tiny Siamese-shaped
    model compiled with ``loss_class(alpha=0.5)`` is saved to a ``.keras`` file in a
    temporary folder and reloaded with ``keras.saving.load_model`` (no ``custom_objects``):
    the reloaded model must still compute with the margin 0.5.

    Parameters
    ----------
    loss_class : type
        The learner's class, e.g. ``MarginTripletLoss`` (the class, not an instance).
    triplet_loss : callable
        The learner's function of exercise 7.1, which the class's ``call`` uses; it is only
        consulted to tell a mistake of exercise 7.1 from one of 7.2.

    Examples
    --------
    >>> checks.check_margin_loss(MarginTripletLoss, triplet_loss)
    ✅ Your MarginTripletLoss keeps its margin: ...
    """
    _require_loss_class(loss_class)
    require_function(triplet_loss, "triplet_loss", "check_margin_loss")
    _check_init(loss_class)
    _check_call(loss_class, triplet_loss)
    _check_batch_mean(loss_class)
    _check_kwargs_passed_on(loss_class)
    _check_save_and_reload(loss_class, triplet_loss)
    passed(
        f"Your {loss_class.__name__} keeps its margin: one loss per triplet with alpha 0.5, 1.0 "
        "and the default 0.2, the batch mean Keras reports, and a model compiled with it saves to "
        "a .keras file and reloads with the margin 0.5. Well done!"
    )


def _require_loss_class(loss_class) -> None:
    if isinstance(loss_class, keras.losses.Loss):
        raise AssertionError(
            f"check_margin_loss expects your class itself, got an instance of "
            f"{type(loss_class).__name__}: pass {type(loss_class).__name__}, not "
            f"{type(loss_class).__name__}(alpha=0.5)."
        )
    if not isinstance(loss_class, type):
        what = "a function" if callable(loss_class) else f"a {type(loss_class).__name__}"
        raise AssertionError(
            f"check_margin_loss expects a class, got {what}: write "
            f"class {_CLASS}(keras.losses.Loss) with __init__, call and get_config."
        )
    if not issubclass(loss_class, keras.losses.Loss):
        raise AssertionError(
            f"Your {loss_class.__name__} is not a keras.losses.Loss: subclass it, "
            f"class {loss_class.__name__}(keras.losses.Loss), so that Keras knows how to reduce, "
            "name and save it."
        )
    if loss_class.__module__.split(".")[0] == "helpers":
        raise AssertionError(
            f"You passed the course's {loss_class.__module__}.{loss_class.__name__}: write your "
            f"own class {_CLASS} in the exercise cell and pass that."
        )
    registered = keras.saving.get_registered_name(loss_class)
    if registered.startswith("helpers>"):
        raise AssertionError(
            f"Your class is registered as {registered!r}, in the package 'helpers' where the "
            "course keeps its own losses (helpers.TripletLoss is 'helpers>TripletLoss'): register "
            f"it under a package of your own, {_REGISTER}."
        )


def _defines(loss_class: type, method: str) -> bool:
    """True if ``loss_class`` (or a base below ``keras.losses.Loss``) overrides ``method``."""
    return getattr(loss_class, method, None) is not getattr(keras.losses.Loss, method)


def _make(loss_class: type, **kwargs):
    """``loss_class(**kwargs)``, with a message that names the mistake if it fails."""
    shown = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    try:
        return loss_class(**kwargs)
    except NotImplementedError as exc:
        raise AssertionError(
            f"You have not implemented {loss_class.__name__} yet: replace `raise "
            "NotImplementedError()` with your code."
        ) from exc
    except TypeError as exc:
        raise AssertionError(
            f"{loss_class.__name__}({shown}) raised TypeError: {error_text(exc)}. Keep the "
            "signature def __init__(self, alpha=0.2, name=..., **kwargs): Keras passes name and "
            "reduction (and, when it reloads a model, the whole config) as keyword arguments."
        ) from exc
    except Exception as exc:  # the learner's __init__ may raise anything
        raise AssertionError(
            f"{loss_class.__name__}({shown}) raised {type(exc).__name__}: {error_text(exc)}"
        ) from exc


def _check_init(loss_class: type) -> None:
    loss = _make(loss_class, alpha=_MARGIN, name=_SAVED_NAME)
    if "reduction" not in vars(loss) or "name" not in vars(loss):
        raise AssertionError(
            f"Your __init__ does not call the parent's: keras.losses.Loss sets up the loss's "
            f"name and reduction in its own __init__. Start yours with {_SUPER_INIT}, then keep "
            "the margin: self.alpha = alpha."
        )
    if loss.name != _SAVED_NAME:
        raise AssertionError(
            f"{loss_class.__name__}(alpha=0.5, name={_SAVED_NAME!r}) is named {loss.name!r}: "
            f"pass the name argument on to the parent, {_SUPER_INIT}, instead of a fixed name."
        )


def _run_call(loss, triplet_loss, y_pred: np.ndarray, shown: str) -> np.ndarray:
    """``loss.call(zeros, y_pred)`` as a float64 array, with a message if it fails."""
    loss_class = type(loss)
    y_true = keras.ops.convert_to_tensor(np.zeros_like(y_pred))
    try:
        out = loss.call(y_true, keras.ops.convert_to_tensor(y_pred))
    except NotImplementedError as exc:
        if not _defines(loss_class, "call"):
            raise AssertionError(
                f"Your {loss_class.__name__} has no method call(self, y_true, y_pred): Keras calls "
                "it on every batch (not __call__, which keras.losses.Loss already has); return "
                "your triplet_loss with the margin self.alpha there."
            ) from exc
        if _raises_not_implemented(triplet_loss):
            raise AssertionError(
                f"Your {loss_class.__name__}.call uses triplet_loss, which you have not "
                "implemented yet: do exercise 7.1 first."
            ) from exc
        raise AssertionError(
            f"You have not implemented {loss_class.__name__}.call yet: replace `raise "
            "NotImplementedError()` with your code."
        ) from exc
    except Exception as exc:  # the learner's call may raise anything
        raise AssertionError(
            f"{shown}.call(y_true, y_pred) raised {type(exc).__name__}: {error_text(exc)} "
            f"(y_pred had shape {y_pred.shape})."
        ) from exc
    return to_numpy(out, f"Your {loss_class.__name__}.call").astype(np.float64)


def _raises_not_implemented(triplet_loss) -> bool:
    y_pred = _triplet_batch(2, 3, seed=20)
    try:
        triplet_loss(np.zeros_like(y_pred), y_pred, alpha=_MARGIN)
    except NotImplementedError:
        return True
    except Exception:  # noqa: BLE001 - only the stub matters here
        return False
    return False


def _own_triplet_loss_is_wrong(triplet_loss, y_pred: np.ndarray, alpha: float, out) -> bool:
    """True if the learner's triplet_loss is wrong, and ``out`` is just what it returns."""
    try:
        theirs = to_numpy(triplet_loss(np.zeros_like(y_pred), y_pred, alpha=alpha), "triplet_loss")
    except Exception:  # noqa: BLE001 - a broken triplet_loss is also a wrong one
        return True
    theirs = np.asarray(theirs, np.float64)
    right = theirs.shape == out.shape and np.allclose(
        theirs, reference_loss(y_pred, alpha), rtol=1e-4, atol=_ATOL
    )
    return not right and theirs.shape == out.shape and np.allclose(out, theirs, rtol=1e-4)


def _check_call(loss_class: type, triplet_loss) -> None:
    """``call`` returns one loss per triplet, with the class's own margin."""
    y_pred = _triplet_batch(8, 10, seed=21)
    shown = f"{loss_class.__name__}(alpha={_MARGIN})"
    out = _run_call(_make(loss_class, alpha=_MARGIN), triplet_loss, y_pred, shown)
    correct = reference_loss(y_pred, _MARGIN)
    if out.size == 1 and out.ndim <= 1:
        value = float(out.ravel()[0])
        how = (
            "their sum"
            if np.isclose(value, correct.sum(), rtol=1e-4)
            else "their mean"
            if np.isclose(value, correct.mean(), rtol=1e-4)
            else "one number"
        )
        raise AssertionError(
            f"Your call returns a single number for the batch ({how}) instead of one loss per "
            f"triplet, shape ({len(y_pred)},): keras.losses.Loss reduces the losses itself, by "
            "its reduction (the mean by default, so that reduction='sum' also works). Return "
            "triplet_loss(y_true, y_pred, alpha=self.alpha) without ops.sum or ops.mean."
        )
    if out.shape != (len(y_pred),):
        raise AssertionError(
            f"Your call returns shape {out.shape}; expected ({len(y_pred)},), one loss per "
            f"triplet (y_pred had shape {y_pred.shape})."
        )
    for alpha in (_MARGIN, 1.0, None):
        kwargs = {} if alpha is None else {"alpha": alpha}
        margin = _DEFAULT_MARGIN if alpha is None else alpha
        loss = _make(loss_class, **kwargs)
        shown = f"{loss_class.__name__}({'' if alpha is None else f'alpha={alpha}'})"
        out = _run_call(loss, triplet_loss, y_pred, shown) if alpha != _MARGIN else out
        if np.allclose(out, reference_loss(y_pred, margin), rtol=1e-4, atol=_ATOL):
            continue
        _explain_wrong_call(loss_class, triplet_loss, y_pred, out, alpha, margin)


def _explain_wrong_call(loss_class, triplet_loss, y_pred, out, alpha, margin) -> None:
    name = loss_class.__name__
    if _own_triplet_loss_is_wrong(triplet_loss, y_pred, margin, out):
        raise AssertionError(
            f"Your {name} returns what your triplet_loss returns, but your triplet_loss of "
            "exercise 7.1 is not right yet: make checks.check_triplet_loss(triplet_loss) pass "
            "first."
        )
    if alpha is None:
        raise AssertionError(
            f"{name}() should use the default margin 0.2, as triplet_loss does: keep the "
            "signature def __init__(self, alpha=0.2, name=..., **kwargs)."
        )
    for other in {_DEFAULT_MARGIN, _MARGIN} - {margin}:
        if np.allclose(out, reference_loss(y_pred, other), rtol=1e-4, atol=_ATOL):
            raise AssertionError(
                f"{name}(alpha={alpha}) computes the loss with the margin {other}: your call "
                f"ignores self.alpha. Return triplet_loss(y_true, y_pred, alpha=self.alpha)."
            )
    raise AssertionError(
        f"{name}(alpha={alpha}).call gives {np.round(out[:3], 4).tolist()} on the first three "
        f"triplets where FaceNet's {_FORMULA} gives "
        f"{np.round(reference_loss(y_pred, margin)[:3], 4).tolist()}: return "
        "triplet_loss(y_true, y_pred, alpha=self.alpha)."
    )


def _same_embeddings(batch: int = 4, emb: int = 5) -> np.ndarray:
    """Triplets with a = p = n: every loss is exactly the margin."""
    row = np.linspace(-1.0, 1.0, emb, dtype=np.float32)
    return np.tile(np.concatenate([row, row, row]), (batch, 1))


def _reduced(loss, y_pred: np.ndarray, shown: str) -> float:
    """What Keras reports: ``loss(y_true, y_pred)``, a single number."""
    try:
        value = loss(np.zeros_like(y_pred), y_pred)
    except Exception as exc:  # the learner's class may raise anything
        raise AssertionError(
            f"{shown}(y_true, y_pred), the call Keras makes, raised {type(exc).__name__}: "
            f"{error_text(exc)}"
        ) from exc
    value = to_numpy(value, shown)
    if value.size != 1:
        raise AssertionError(
            f"{shown}(y_true, y_pred) returned shape {value.shape}: Keras expects one number "
            "for the batch. Define call(self, y_true, y_pred), not __call__."
        )
    return float(value.ravel()[0])


def _check_batch_mean(loss_class: type) -> None:
    """On a = p = n, Keras reports the margin itself: the mean of the per-triplet losses."""
    same = _same_embeddings()
    shown = f"{loss_class.__name__}(alpha={_MARGIN})"
    value = _reduced(_make(loss_class, alpha=_MARGIN), same, shown)
    if not np.isclose(value, _MARGIN, rtol=1e-5, atol=1e-6):
        raise AssertionError(
            f"On {len(same)} triplets with a = p = n each loss is the margin, so {shown} should "
            f"report {_MARGIN}, their mean; it reports {value:.4g}."
        )


def _check_kwargs_passed_on(loss_class: type) -> None:
    """``reduction='sum'`` must reach ``keras.losses.Loss``: the sum of 4 margins is 2."""
    same = _same_embeddings()
    shown = f"{loss_class.__name__}(alpha={_MARGIN}, reduction='sum')"
    value = _reduced(_make(loss_class, alpha=_MARGIN, reduction="sum"), same, shown)
    if np.isclose(value, _MARGIN, rtol=1e-5, atol=1e-6):
        raise AssertionError(
            f"{shown} still averages the losses: your __init__ does not pass **kwargs on to "
            f"keras.losses.Loss. Call {_SUPER_INIT}."
        )
    if not np.isclose(value, len(same) * _MARGIN, rtol=1e-5, atol=1e-6):
        raise AssertionError(
            f"On {len(same)} triplets with a = p = n, {shown} should report "
            f"{len(same) * _MARGIN}, the sum of the margins; it reports {value:.4g}."
        )


def _tiny_siamese() -> keras.Model:
    """A Siamese-shaped model whose embeddings are all zero: every triplet has a = p = n.

    Zero initialisers and explicit names: building it draws no random numbers and no
    automatic layer names, so that the notebook's later cells see the same seeds and names.
    """
    inputs = [keras.Input(shape=(_STEP_SHAPES["image"],), name=role) for role in ROLES]
    shared = keras.layers.Dense(
        _STEP_SHAPES["emb"],
        kernel_initializer="zeros",
        bias_initializer="zeros",
        name="check_saved_embedding",
    )
    joined = keras.layers.Concatenate(axis=-1, name="check_saved_concatenate")
    return keras.Model(inputs, joined([shared(t) for t in inputs]), name="check_saved_siamese")


def _check_save_and_reload(loss_class: type, triplet_loss) -> None:
    """Save a model compiled with ``loss_class(alpha=0.5)``, reload it, test what it computes."""
    model = _tiny_siamese()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss=_make(loss_class, alpha=_MARGIN, name=_SAVED_NAME),
    )
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "siamese.keras")
        try:
            with warnings.catch_warnings():  # Keras's own, on the TensorFlow backend: not theirs
                warnings.filterwarnings("ignore", _KERAS_SAVE_WARNING, DeprecationWarning)
                model.save(path)
        except Exception as exc:  # the learner's get_config may hold anything
            raise AssertionError(
                f"Keras cannot save a model compiled with your {loss_class.__name__} "
                f"({type(exc).__name__}: {error_text(exc)}): get_config must return plain "
                f"numbers and strings, e.g. {_GET_CONFIG}."
            ) from exc
        reloaded = _load(path, loss_class)
    loss = reloaded.loss
    if type(loss) is not loss_class:
        raise AssertionError(
            f"The reloaded model's loss is a {type(loss).__name__}, not your "
            f"{loss_class.__name__}: another class is registered under the name "
            f"{keras.saving.get_registered_name(loss_class)!r}. Register yours under a name of "
            f"its own, {_REGISTER}, and re-run the cell."
        )
    value = _evaluate(reloaded, loss_class)
    if np.isclose(value, _DEFAULT_MARGIN, rtol=1e-5, atol=1e-6):
        if not _defines(loss_class, "get_config"):
            fix = (
                "you did not write get_config, so the config Keras saves holds only the name and "
                "the reduction"
            )
        else:
            keys = sorted(_make(loss_class, alpha=_MARGIN).get_config())
            fix = f"your get_config does not keep alpha (it returns the keys {keys})"
        raise AssertionError(
            f"A model compiled with {loss_class.__name__}(alpha=0.5) reloads with the default "
            f"margin 0.2: {fix}. Keras rebuilds the loss from its config when it loads the "
            f"model; add the margin: def get_config(self): {_GET_CONFIG}."
        )
    if not np.isclose(value, _MARGIN, rtol=1e-5, atol=1e-6):
        raise AssertionError(
            f"A model compiled with {loss_class.__name__}(alpha=0.5) reloads with a loss that "
            f"reports {value:.4g} on triplets with a = p = n, where the margin 0.5 gives 0.5: "
            f"get_config must return the margin under the name __init__ takes, {_GET_CONFIG}."
        )
    y_pred = _triplet_batch(8, 10, seed=22)
    out = _run_call(loss, triplet_loss, y_pred, f"The reloaded {loss_class.__name__}")
    if out.shape != (len(y_pred),) or not np.allclose(
        out, reference_loss(y_pred, _MARGIN), rtol=1e-4, atol=_ATOL
    ):
        raise AssertionError(
            f"The reloaded {loss_class.__name__} computes other losses than the one that was "
            f"saved (margin 0.5): get_config must hold everything __init__ needs, {_GET_CONFIG}."
        )
    if loss.name != _SAVED_NAME:
        raise AssertionError(
            f"The reloaded loss is named {loss.name!r} instead of {_SAVED_NAME!r}: your "
            "get_config drops the parent's config (name and reduction). Start from it: "
            f"{_GET_CONFIG}."
        )


def _load(path: str, loss_class: type) -> keras.Model:
    """``keras.saving.load_model(path)``, with a message that names the mistake if it fails."""
    try:
        return keras.saving.load_model(path)
    except Exception as exc:  # a custom class makes loading fail in many ways
        registered = keras.saving.get_registered_name(loss_class)
        if keras.saving.get_registered_object(registered) is not loss_class:
            with_custom = _loads_with_custom_objects(path, loss_class)
            raise AssertionError(
                f'Keras cannot find your class when loading the model ("Could not locate class '
                f"'{loss_class.__name__}'\"): a .keras file names its loss by the name the class "
                f"is registered under, and {loss_class.__name__} is not registered. Add "
                f"{_REGISTER} on the line above class {loss_class.__name__}(keras.losses.Loss), "
                "then re-run the cell."
                + (
                    " (keras.saving.load_model(path, custom_objects=...) would find it, but "
                    "whoever loads the file would have to know that.)"
                    if with_custom
                    else ""
                )
            ) from exc
        raise AssertionError(
            f"Keras saved a model compiled with your {loss_class.__name__} but cannot load it "
            f"again ({type(exc).__name__}: {error_text(exc, limit=160)}): it rebuilds the loss "
            f"as {loss_class.__name__}(**config), so every key of get_config must be an argument "
            f"of __init__: {_GET_CONFIG}, with def __init__(self, alpha=0.2, name=..., **kwargs)."
        ) from exc


def _loads_with_custom_objects(path: str, loss_class: type) -> bool:
    try:
        keras.saving.load_model(path, custom_objects={loss_class.__name__: loss_class})
    except Exception:  # noqa: BLE001 - the answer is only yes or no
        return False
    return True


def _evaluate(model: keras.Model, loss_class: type) -> float:
    """The loss the reloaded model reports on one batch (its embeddings are all zero)."""
    rng = np.random.default_rng(23)
    images = [rng.normal(size=(4, _STEP_SHAPES["image"])).astype(np.float32) for _ in ROLES]
    targets = np.zeros((4, 3 * _STEP_SHAPES["emb"]), np.float32)
    try:
        value = model.evaluate(images, targets, batch_size=4, verbose=0)
    except Exception as exc:  # the learner's loss may raise anything once traced
        raise AssertionError(
            f"The reloaded model fails in model.evaluate with your {loss_class.__name__}, where "
            f"Keras traces the loss into a graph: {type(exc).__name__}: {error_text(exc)}"
        ) from exc
    return float(np.ravel(value)[0])

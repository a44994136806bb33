"""Self-check of notebook 07 (the triplet loss): ``triplet_loss``.

``check_triplet_loss`` checks the exercise that writes FaceNet's triplet loss
``max(‖a−p‖² − ‖a−n‖² + alpha, 0)`` with ``keras.ops``, against a numpy
reference and against each classic mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product

import keras
import numpy as np

from .._validation import error_text
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

#: Absolute tolerance when comparing a loss with the numpy reference.
_ATOL = 1e-5

_FORMULA = "max(‖a−p‖² − ‖a−n‖² + alpha, 0)"

#: How the distance between two embeddings is reduced over the embedding dimension.
_DISTANCES = {
    "squared": lambda d: np.sum(d**2, axis=-1),
    "mean": lambda d: np.mean(d**2, axis=-1),
    "norm": lambda d: np.sqrt(np.sum(d**2, axis=-1)),
    "abs": lambda d: np.sum(np.abs(d), axis=-1),
}

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


def _reference_loss(
    y_pred: np.ndarray, alpha: float, *, distance="squared", swapped=False, clamp=True, margin=True
) -> np.ndarray:
    """FaceNet's triplet loss in numpy, or one of its classic mistakes."""
    y_pred = np.asarray(y_pred, np.float64)
    emb = y_pred.shape[-1] // 3
    anchor, positive, negative = y_pred[:, :emb], y_pred[:, emb : 2 * emb], y_pred[:, 2 * emb :]
    pos_dist = _DISTANCES[distance](anchor - positive)
    neg_dist = _DISTANCES[distance](anchor - negative)
    if swapped:
        pos_dist, neg_dist = neg_dist, pos_dist
    loss = pos_dist - neg_dist + (alpha if margin else 0.0)
    return np.maximum(loss, 0.0) if clamp else loss


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
    out = call_learner(
        triplet_loss,
        "triplet_loss",
        y_true,
        ops.convert_to_tensor(y_pred),
        hint=hint,
        explain=_explain_alpha_error,
        **alpha,
    )
    return to_numpy(out, "Your triplet_loss").astype(np.float64)


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
    correct = _reference_loss(y_pred, alpha)
    whole = y_pred.reshape(1, -1, 3, y_pred.shape[-1] // 3).transpose(0, 2, 1, 3)
    whole = whole.reshape(1, -1)  # every triplet's [a | p | n] as one long row
    if np.isclose(value, _reference_loss(whole, alpha)[0], rtol=1e-4):
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
    if np.allclose(out, _reference_loss(y_pred, alpha), rtol=1e-4, atol=_ATOL):
        return
    if np.allclose(out, alpha, rtol=1e-4, atol=_ATOL):
        raise AssertionError(
            f"Your loss is {alpha} for every triplet, as if all embeddings were zero: you used "
            "y_true, which is only a dummy target of zeros. The embeddings are in y_pred."
        )
    reference = _reference_loss(y_pred, alpha)
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
    flags = product(_DISTANCES, (False, True), (True, False), (True, False))
    for distance, swapped, clamp, margin in flags:
        mistakes = [distance] if distance != "squared" else []
        mistakes += ["swapped"] * swapped + ["no_max"] * (not clamp) + ["no_alpha"] * (not margin)
        yield mistakes, {"distance": distance, "swapped": swapped, "clamp": clamp, "margin": margin}


def _identify_mistakes(out: np.ndarray, y_pred: np.ndarray, alpha: float) -> list[str]:
    """The smallest combination of classic mistakes that reproduces ``out``, if any."""
    for mistakes, options in sorted(_loss_variants(), key=lambda variant: len(variant[0])):
        reference = _reference_loss(y_pred, alpha, **options)
        if mistakes and np.allclose(out, reference, rtol=1e-4, atol=_ATOL):
            return mistakes
    return []


def _check_alpha(triplet_loss) -> None:
    y_pred = _triplet_batch(64, 16, seed=1)
    for alpha in (0.5, 1.0):
        out = _run_loss(triplet_loss, y_pred, f"it was called with alpha={alpha}", alpha=alpha)
        if np.allclose(out, _reference_loss(y_pred, alpha), rtol=1e-4, atol=_ATOL):
            continue
        if np.allclose(out, _reference_loss(y_pred, 0.2), rtol=1e-4, atol=_ATOL):
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
    if not np.allclose(out, _reference_loss(y_pred, 0.2), rtol=1e-4, atol=_ATOL):
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
            out, _reference_loss(y_pred, 0.2), rtol=1e-4, atol=_ATOL
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
        raise AssertionError(
            "Keras cannot compute the gradient of your loss: it leaves the tensor world (numpy "
            "functions, .numpy(), float(...)). Write it with keras.ops only: ops.sum, "
            "ops.square, ops.maximum."
        )
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


def _reference_gradient(y_pred: np.ndarray, alpha: float, *, cut: str | None = None):
    """d(sum of the losses)/d(y_pred) in numpy; ``cut`` drops the gradient of one distance.

    With D = ‖a−p‖² − ‖a−n‖² + alpha, each triplet with D > 0 contributes
    dD/da = 2(a−p) − 2(a−n), dD/dp = −2(a−p), dD/dn = 2(a−n); the others contribute 0.
    ``cut="pos"`` or ``"neg"`` is the gradient when that distance is a constant
    (``ops.stop_gradient``).
    """
    y_pred = np.asarray(y_pred, np.float64)
    emb = y_pred.shape[-1] // 3
    anchor, positive, negative = y_pred[:, :emb], y_pred[:, emb : 2 * emb], y_pred[:, 2 * emb :]
    active = (_reference_loss(y_pred, alpha) > 0)[:, None]
    from_pos = (2 * (anchor - positive), -2 * (anchor - positive), 0 * negative)
    from_neg = (-2 * (anchor - negative), 0 * positive, 2 * (anchor - negative))
    parts = [
        (p if cut != "pos" else 0) + (n if cut != "neg" else 0)
        for p, n in zip(from_pos, from_neg, strict=True)
    ]
    return np.concatenate(parts, axis=1) * active


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
    kernel, bias = kernel.astype(np.float64), bias.astype(np.float64)
    embeddings = [x.astype(np.float64) @ kernel + bias for x in images]
    y_pred = np.concatenate(embeddings, axis=1)
    batch, emb = len(y_pred), kernel.shape[1]
    grad_y = _reference_gradient(y_pred, alpha) / batch  # Keras averages over the batch
    grad_e = [grad_y[:, k * emb : (k + 1) * emb] for k in range(3)]
    grad_kernel = sum(x.astype(np.float64).T @ g for x, g in zip(images, grad_e, strict=True))
    grad_bias = sum(g.sum(axis=0) for g in grad_e)
    loss = float(_reference_loss(y_pred, alpha).mean())
    return (
        loss,
        kernel - _STEP_LEARNING_RATE * grad_kernel,
        bias - _STEP_LEARNING_RATE * grad_bias,
    )


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

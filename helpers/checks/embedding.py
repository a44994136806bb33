"""Self-check of notebook 05 (the embedding model).

``check_embedding_model`` checks the exercise that builds the Keras model mapping
an image to an embedding of ``emb_size`` numbers. Exercise 5.1 prescribes the
architecture, ``Dense(64, relu) -> Dense(emb_size) -> UnitNormalization``, so the
check enforces it by default, comparing the model's outputs with a numpy forward
pass through the model's own weights; ``architecture=None`` accepts any valid
embedding model instead.
"""

from __future__ import annotations

import keras
import numpy as np

from ._shared import call_learner, frozen_layers, layers_of, passed, require_model, to_numpy

#: The architecture that exercise 5.1 prescribes, in words.
EXERCISE_ARCHITECTURE = "Dense(64, relu) → Dense(emb_size) → UnitNormalization"

#: Units of the hidden Dense layer of exercise 5.1.
HIDDEN_UNITS = 64

_ARCHITECTURES = ("exercise", None)


def check_embedding_model(
    model: keras.Model,
    emb_size: int = 64,
    input_shape: tuple[int, ...] = (784,),
    *,
    architecture: str | None = "exercise",
) -> None:
    """Check a Keras embedding model: shapes, training, per-example bounded outputs, name.

    Every model must have trainable weights in every layer that has weights, a
    nonlinearity, one embedding per image that does not depend on the other images
    of the batch, and a bounded output: L2-normalised (``UnitNormalization``) or
    squashed (sigmoid, tanh). A linear or ReLU output is rejected, because
    unbounded embeddings make the margin meaningless.

    Parameters
    ----------
    model : keras.Model
        The learner's embedding model, named ``"embedding"``.
    emb_size : int
        The expected length of one embedding.
    input_shape : tuple of int
        The shape of one image.
    architecture : {"exercise", None}
        ``"exercise"`` (default): the model must be exercise 5.1's
        ``Dense(64, relu) -> Dense(emb_size) -> UnitNormalization`` (any way of
        writing it: Sequential or functional, a separate ReLU layer, a Lambda that
        normalises), with no Dropout or noise. ``None``: any valid embedding model.

    Examples
    --------
    >>> checks.check_embedding_model(embedding_model, emb_size=64)
    ✅ Your embedding model is Dense(64, relu) → Dense(64) → UnitNormalization: ...
    """
    if architecture not in _ARCHITECTURES:
        raise ValueError(f"architecture must be 'exercise' or None, got {architecture!r}")
    input_shape = tuple(input_shape)
    require_model(model, "model", "embedding model")
    _check_embedding_shapes(model, emb_size, input_shape)
    _check_trainable(model)
    probes = _Probes(model, input_shape)
    _check_per_example(probes)
    _check_nonlinear(probes, emb_size)
    kind = _output_kind(probes)
    if model.name != "embedding":
        raise AssertionError(
            f"Your model is named {model.name!r}; name it 'embedding' so that it is easy to find "
            "in summaries: keras.Model(inputs, outputs, name='embedding') or "
            "keras.Sequential([...], name='embedding')."
        )
    if architecture == "exercise":
        _check_exercise_architecture(model, probes, emb_size, input_shape)
        spelled = EXERCISE_ARCHITECTURE.replace("emb_size", str(emb_size))
        passed(
            f"Your embedding model is {spelled}: it maps (None, "
            f"{', '.join(map(str, input_shape))}) to (None, {emb_size}), every embedding with "
            "length 1. Well done!"
        )
        return
    passed(
        f"Your embedding model maps (None, {', '.join(map(str, input_shape))}) to "
        f"(None, {emb_size}) with {kind}. Well done!"
    )


def _check_embedding_shapes(model, emb_size: int, input_shape: tuple[int, ...]) -> None:
    if len(model.inputs) != 1:
        raise AssertionError(
            f"Your embedding model has {len(model.inputs)} inputs; it takes one image: "
            f"keras.Input(shape={input_shape})."
        )
    got = tuple(model.inputs[0].shape[1:])
    if got != input_shape:
        raise AssertionError(
            f"Your embedding model expects inputs of shape {got}, but the images are "
            f"{input_shape}: use keras.Input(shape={input_shape})."
        )
    if len(model.outputs) != 1:
        raise AssertionError(
            f"Your embedding model has {len(model.outputs)} outputs; it needs one embedding "
            f"per image, shape (None, {emb_size})."
        )
    out = tuple(model.outputs[0].shape[1:])
    if out != (emb_size,):
        raise AssertionError(
            f"Your embedding model outputs shape (None, {', '.join(map(str, out))}); expected "
            f"(None, {emb_size}): end with Dense({emb_size}) (then the normalisation)."
        )


def _check_trainable(model) -> None:
    if not model.trainable_weights:
        raise AssertionError(
            "Your embedding model has no trainable weights, so it cannot learn: add Dense layers "
            "and don't set trainable=False."
        )
    names = frozen_layers(model)
    if names:
        raise AssertionError(
            f"The layer(s) {names} of your embedding model are frozen (trainable=False), so "
            "training would never change their weights: delete the line that sets "
            "trainable = False."
        )


class _Probes:
    """The model's outputs on fixed probe images, computed once (``training=False``)."""

    def __init__(self, model, input_shape: tuple[int, ...]) -> None:
        rng = np.random.default_rng(5)
        self.model = model
        self.ordinary = rng.random((8, *input_shape)).astype(np.float32)
        huge = np.concatenate([self.ordinary * 1000, rng.normal(size=self.ordinary.shape) * 1000])
        # sparse 'strokes', far apart from each other, and their midpoints (scaled up so that
        # every activation works outside its nearly linear range)
        ink = (rng.random((2, 4, *input_shape)) < 0.2) * rng.random((2, 4, *input_shape))
        self.ends = (10 * ink).astype(np.float32)
        self.out = self(self.ordinary)
        if self.out.shape != (len(self.ordinary), model.outputs[0].shape[-1]):
            raise AssertionError(
                f"On a batch of {len(self.ordinary)} images your embedding model outputs shape "
                f"{self.out.shape}; expected ({len(self.ordinary)}, {model.outputs[0].shape[-1]})."
            )
        self.huge = self(huge)

    def __call__(self, images: np.ndarray, training: bool = False) -> np.ndarray:
        out = call_learner(
            self.model, "embedding model", images.astype(np.float32), training=training
        )
        out = to_numpy(out, "your embedding model").astype(np.float64)
        if not np.isfinite(out).all():
            raise AssertionError(
                "Your embedding model outputs NaN or inf on random images: check its layers "
                "(e.g. a division by a norm that can be zero)."
            )
        return out


def _check_per_example(probes: _Probes) -> None:
    """An image's embedding must not depend on the other images of its batch."""
    mates = np.random.default_rng(7).random(probes.ordinary[3:].shape).astype(np.float32)
    alone = probes(probes.ordinary[:1])
    with_others = probes(np.concatenate([probes.ordinary[:3], mates]))
    if np.allclose(alone[0], probes.out[0], atol=1e-5) and np.allclose(
        with_others[:3], probes.out[:3], atol=1e-5
    ):
        return
    raise AssertionError(
        "The embedding of an image changes when the other images of its batch change: your "
        "model normalises across the batch (axis=0, or the norm of the whole batch) instead of "
        "each embedding on its own. Use keras.layers.UnitNormalization() (or "
        "keras.ops.normalize(x, axis=-1)), which scales every row to length 1 separately."
    )


def _check_nonlinear(probes: _Probes, emb_size: int) -> None:
    """Reject a model that is linear, up to a final rescaling of each embedding.

    For an affine map g, g((x1 + x2) / 2) = (g(x1) + g(x2)) / 2, so the embedding of the
    midpoint lies in the plane of the two embeddings even after normalisation.
    """
    if emb_size < 3:
        return  # any vector of R^2 lies in the plane of two others: nothing to test
    first, second = probes(probes.ends[0]), probes(probes.ends[1])
    middle = probes((probes.ends[0] + probes.ends[1]) / 2)
    residuals = []
    for a, b, m in zip(first, second, middle, strict=True):
        plane = np.stack([a, b], axis=1)
        coef = np.linalg.lstsq(plane, m, rcond=None)[0]
        residuals.append(np.linalg.norm(plane @ coef - m) / max(np.linalg.norm(m), 1e-12))
    # a linear model gives ~1e-7 (1e-3 at worst in TensorFloat-32), models with relu, sigmoid
    # or tanh give 0.05 or more
    if max(residuals) < 1e-2:
        raise AssertionError(
            "Your embedding model has no nonlinearity: Dense layers without an activation "
            "compose into one linear map (a final normalisation only rescales it), which cannot "
            "learn to tell digits apart. Give the hidden layer activation='relu', e.g. "
            "keras.layers.Dense(64, activation='relu')."
        )


def _output_kind(probes: _Probes) -> str:
    """Name the output bound, from the ordinary and the huge inputs."""
    out = np.concatenate([probes.out, probes.huge])
    norms = np.linalg.norm(out, axis=1)
    if np.allclose(norms, 1, atol=1e-3):
        return "an L2-normalised output (every embedding has length 1)"
    if out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-4):
        raise AssertionError(
            "Your embedding model ends with a softmax, which makes the coordinates compete (they "
            "sum to 1) as for class probabilities: end with keras.layers.UnitNormalization() "
            "instead."
        )
    if np.abs(out).max() > 1 + 1e-4:
        raise AssertionError(
            f"Your embedding model's output is unbounded (values up to {np.abs(out).max():.3g} on "
            "bright images): a linear or ReLU last layer lets the network satisfy any margin alpha "
            "just by scaling all distances up, so the margin means nothing. End with "
            "keras.layers.UnitNormalization() (L2 normalisation)."
        )
    if out.min() >= 0:
        return "a sigmoid output (every coordinate in [0, 1], the original course's recipe)"
    return "a bounded output (every coordinate in [-1, 1])"


def _weight_layers(model) -> list:
    return [layer for layer in layers_of(model) if not getattr(layer, "layers", None)]


def _describe_layers(model) -> str:
    """E.g. 'Dense(256, relu) → Dense(64)': the layers that own weights."""
    names = []
    for layer in _weight_layers(model):
        if not layer.weights:
            continue
        size = getattr(layer, "units", None) or getattr(layer, "filters", None)
        activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
        details = [str(size)] if size else []
        details += [activation] if activation != "linear" else []
        details += ["no bias"] if getattr(layer, "use_bias", True) is False else []
        names.append(f"{type(layer).__name__}({', '.join(details)})")
    return " → ".join(names) if names else "no layer with weights"


def _check_exercise_architecture(model, probes: _Probes, emb_size: int, input_shape) -> None:
    """The model must compute normalize(relu(x W1 + b1) W2 + b2) with its own two Dense layers."""
    pixels = int(np.prod(input_shape))
    expected = (pixels * HIDDEN_UNITS + HIDDEN_UNITS) + (HIDDEN_UNITS * emb_size + emb_size)
    spelled = EXERCISE_ARCHITECTURE.replace("emb_size", str(emb_size))
    dense = _two_dense_layers(model, pixels, emb_size)
    if dense is None:
        kinds = {type(layer).__name__ for layer in _weight_layers(model) if layer.weights}
        what = (
            "a convnet, like the course's helpers.build_embedding_model()"
            if any("Conv" in kind for kind in kinds)
            else _describe_layers(model)
        )
        raise AssertionError(
            f"Your embedding model is {what}, with {model.count_params():,} weights; exercise 5.1 "
            f"asks for exactly {spelled}, which has ({pixels} × 64 + 64) + (64 × {emb_size} + "
            f"{emb_size}) = {expected:,} weights. Build that small model here (the course's "
            "convnet comes later): keras.layers.Dense(64, activation='relu'), then "
            f"keras.layers.Dense({emb_size}), then keras.layers.UnitNormalization()."
        )
    (w1, b1), (w2, b2) = dense
    images = np.concatenate([probes.ordinary, probes.ends[0]])  # the latter saturate tanh
    x = images.reshape(len(images), -1).astype(np.float64)
    hidden = x @ w1 + b1
    variants = {
        "right": _unit(_relu(hidden) @ w2 + b2),
        "sigmoid": _sigmoid(_relu(hidden) @ w2 + b2),
        "tanh": _np_tanh(_relu(hidden) @ w2 + b2),
        "relu projection": _unit(_relu(_relu(hidden) @ w2 + b2)),
        "sigmoid projection": _unit(_sigmoid(_relu(hidden) @ w2 + b2)),
        "tanh projection": _unit(_np_tanh(_relu(hidden) @ w2 + b2)),
        "sigmoid hidden": _unit(_sigmoid(hidden) @ w2 + b2),
        "tanh hidden": _unit(_np_tanh(hidden) @ w2 + b2),
    }
    # 2e-3: far above float32 (or TensorFloat-32 on a GPU) rounding of outputs bounded by 1,
    # far below the differences between the variants
    out = np.concatenate([probes.out, probes(probes.ends[0])])
    match = [k for k, v in variants.items() if np.allclose(out, v, atol=2e-3, rtol=0)]
    if not match:
        raise AssertionError(
            f"Your embedding model's outputs differ from {spelled} computed with its own weights: "
            "build exactly keras.layers.Dense(64, activation='relu'), then "
            f"keras.layers.Dense({emb_size}) with no activation, then "
            "keras.layers.UnitNormalization(), with nothing in between."
        )
    if match[0] != "right":
        raise AssertionError(_ARCHITECTURE_MISTAKES[match[0]].format(emb_size=emb_size))
    _check_exact_unit_length(probes)
    in_training = probes(probes.ordinary, training=True)
    if not np.allclose(in_training, probes.out, atol=1e-5):
        raise AssertionError(
            "Your embedding model computes something else in training (training=True) than in "
            "use: a Dropout, GaussianNoise or BatchNormalization layer? Exercise 5.1 has none: "
            f"{spelled} only."
        )


def _check_exact_unit_length(probes: _Probes) -> None:
    """Every embedding must have length 1 within 2e-6, on bright, sparse and dim images.

    Float32 normalisation is exact to about 1e-7; the grader's hidden test allows 1e-5 on
    real digits. An epsilon added to the norm shows most on dim images, whose embeddings
    are short before the normalisation.
    """
    dim = probes(probes.ordinary * 0.1)
    lengths = np.linalg.norm(np.concatenate([probes.out, probes(probes.ends[0]), dim]), axis=1)
    worst = float(np.max(np.abs(lengths - 1)))
    if worst > 2e-6:
        raise AssertionError(
            f"Some of your embeddings have length {lengths[np.argmax(np.abs(lengths - 1))]:.6f} "
            "instead of exactly 1: an epsilon added to the norm (x / (norm + eps)) or a "
            "normalisation of your own? End with keras.layers.UnitNormalization(), which "
            "scales every embedding to length 1."
        )


_ARCHITECTURE_MISTAKES = {
    "sigmoid": (
        "Your embedding model ends with a sigmoid, the original course's recipe; exercise 5.1 "
        "asks for Dense({emb_size}) with no activation followed by "
        "keras.layers.UnitNormalization(), so that every embedding has length 1 and the margin "
        "keeps a fixed meaning."
    ),
    "tanh": (
        "Your embedding model ends with a tanh; exercise 5.1 asks for Dense({emb_size}) with no "
        "activation followed by keras.layers.UnitNormalization()."
    ),
    "relu projection": (
        "Your Dense({emb_size}) has an activation (relu); exercise 5.1 asks for none there "
        "(its output may be any number), then keras.layers.UnitNormalization()."
    ),
    "sigmoid projection": (
        "Your Dense({emb_size}) has an activation (sigmoid) before the normalisation; exercise "
        "5.1 asks for none there: keras.layers.Dense({emb_size}), then UnitNormalization()."
    ),
    "tanh projection": (
        "Your Dense({emb_size}) has an activation (tanh) before the normalisation; exercise 5.1 "
        "asks for none there: keras.layers.Dense({emb_size}), then UnitNormalization()."
    ),
    "sigmoid hidden": (
        "Your hidden Dense(64) uses a sigmoid; exercise 5.1 asks for relu: "
        "keras.layers.Dense(64, activation='relu')."
    ),
    "tanh hidden": (
        "Your hidden Dense(64) uses a tanh; exercise 5.1 asks for relu: "
        "keras.layers.Dense(64, activation='relu')."
    ),
}


def _two_dense_layers(model, pixels: int, emb_size: int):
    """The (kernel, bias) of the hidden and the projection layer, or None if not exactly those."""
    shapes = sorted(tuple(w.shape) for w in model.weights)
    wanted = sorted(
        [(pixels, HIDDEN_UNITS), (HIDDEN_UNITS,), (HIDDEN_UNITS, emb_size), (emb_size,)]
    )
    if shapes != wanted:
        return None
    found = []
    for layer in _weight_layers(model):
        if len(layer.weights) == 2:
            kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
            if kernel.ndim == 2 and bias.shape == (kernel.shape[1],):
                found.append((kernel, bias))
    found.sort(key=lambda kb: kb[0].shape[0] != pixels)  # the hidden layer takes the pixels
    if len(found) != 2 or found[0][0].shape != (pixels, HIDDEN_UNITS):
        return None
    return found


def _relu(t: np.ndarray) -> np.ndarray:
    return np.maximum(t, 0.0)


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-t))


def _np_tanh(t: np.ndarray) -> np.ndarray:
    return np.tanh(t)


def _unit(t: np.ndarray) -> np.ndarray:
    return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)

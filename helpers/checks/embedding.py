"""Self-check of notebook 05 (the embedding model).

``check_embedding_model`` checks the exercise that builds the Keras model mapping
an image to a bounded embedding of ``emb_size`` numbers.
"""

from __future__ import annotations

import keras
import numpy as np

from ._shared import call_learner, passed, require_model, to_numpy


def check_embedding_model(
    model: keras.Model, emb_size: int = 64, input_shape: tuple[int, ...] = (784,)
) -> None:
    """Check a Keras embedding model: shape, a bounded output, weights and its name.

    The output must be bounded, either L2-normalised (``UnitNormalization``)
    or squashed by a sigmoid (the original course's recipe); a linear or ReLU
    output is rejected, because unbounded embeddings make the margin meaningless.

    Examples
    --------
    >>> checks.check_embedding_model(embedding_model, emb_size=64)
    ✅ Your embedding model maps (None, 784) to (None, 64) ...
    """
    input_shape = tuple(input_shape)
    require_model(model, "model", "embedding model")
    _check_embedding_shapes(model, emb_size, input_shape)
    if not model.trainable_weights:
        raise AssertionError(
            "Your embedding model has no trainable weights, so it cannot learn: add Dense layers "
            "and don't set trainable=False."
        )
    kind = _output_kind(model, input_shape)
    if model.name != "embedding":
        raise AssertionError(
            f"Your model is named {model.name!r}; name it 'embedding' so that it is easy to find "
            "in summaries: keras.Model(inputs, outputs, name='embedding') or "
            "keras.Sequential([...], name='embedding')."
        )
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


def _output_kind(model, input_shape: tuple[int, ...]) -> str:
    """Run the model on ordinary and huge inputs and name its output bound."""
    rng = np.random.default_rng(5)
    ordinary = rng.random((8, *input_shape)).astype(np.float32)
    huge = np.concatenate([ordinary * 1000, rng.normal(size=ordinary.shape) * 1000])
    outputs = [
        to_numpy(
            call_learner(model, "embedding model", batch.astype(np.float32), training=False),
            "your embedding model",
        )
        for batch in (ordinary, huge)
    ]
    out = np.concatenate(outputs)
    emb_size = model.outputs[0].shape[-1]
    if outputs[0].shape != (len(ordinary), emb_size):
        raise AssertionError(
            f"On a batch of {len(ordinary)} images your embedding model outputs shape "
            f"{outputs[0].shape}; expected ({len(ordinary)}, {emb_size})."
        )
    if not np.isfinite(out).all():
        raise AssertionError(
            "Your embedding model outputs NaN or inf on random images: check its layers (e.g. "
            "a division by a norm that can be zero)."
        )
    norms = np.linalg.norm(out, axis=1)
    if np.allclose(norms, 1, atol=1e-3):
        return "an L2-normalised output (every embedding has length 1)"
    if out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-4):
        raise AssertionError(
            "Your embedding model ends with a softmax, which makes the coordinates compete (they "
            "sum to 1) as for class probabilities: end with keras.layers.UnitNormalization() "
            "or Dense(emb_size, activation='sigmoid') instead."
        )
    if np.abs(out).max() > 1 + 1e-4:
        raise AssertionError(
            f"Your embedding model's output is unbounded (values up to {np.abs(out).max():.3g} on "
            "bright images): a linear or ReLU last layer lets the network satisfy any margin alpha "
            "just by scaling all distances up, so the margin means nothing. End with "
            "keras.layers.UnitNormalization() (L2 normalisation) or use "
            "Dense(emb_size, activation='sigmoid')."
        )
    if out.min() >= 0:
        return "a sigmoid output (every coordinate in [0, 1], the original course's recipe)"
    return "a bounded output (every coordinate in [-1, 1])"

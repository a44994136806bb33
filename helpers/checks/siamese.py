"""Self-check of notebook 06 (the Siamese network).

``check_siamese_network`` checks the exercise that calls one shared embedding
model on three named inputs and concatenates [e(anchor), e(positive), e(negative)].
"""

from __future__ import annotations

import keras
import numpy as np

from ._shared import ROLES, call_learner, ordinal, passed, require_model, to_numpy


def check_siamese_network(siamese: keras.Model, embedding_model: keras.Model) -> None:
    """Check the Siamese network: three named inputs, one shared model, [e(a), e(p), e(n)].

    Examples
    --------
    >>> checks.check_siamese_network(siamese, embedding_model)
    ✅ Your Siamese network shares one embedding model ...
    """
    require_model(embedding_model, "embedding_model", "embedding model")
    require_model(siamese, "siamese", "Siamese network")
    emb_size = embedding_model.outputs[0].shape[-1]
    image_shape = tuple(embedding_model.inputs[0].shape[1:])
    _check_siamese_inputs(siamese, image_shape)
    _check_siamese_output_shape(siamese, emb_size)
    _check_shared_weights(siamese, embedding_model)
    _check_siamese_values(siamese, embedding_model, image_shape, emb_size)
    passed(
        f"Your Siamese network shares one embedding model ({len(embedding_model.weights)} weight "
        f"tensors) across anchor, positive and negative, and outputs [e(a), e(p), e(n)] of shape "
        f"(None, {3 * emb_size}). Well done!"
    )


def _check_siamese_inputs(siamese, image_shape: tuple[int, ...]) -> None:
    if len(siamese.inputs) != 3:
        raise AssertionError(
            f"Your Siamese network has {len(siamese.inputs)} input(s); it needs three, one per "
            "image of the triplet: keras.Input(shape=(784,), name='anchor'), likewise 'positive' "
            "and 'negative', then keras.Model([anchor, positive, negative], outputs)."
        )
    names = [tensor.name for tensor in siamese.inputs]
    if names != list(ROLES):
        if sorted(names) == sorted(ROLES):
            raise AssertionError(
                f"Your inputs come in the order {names}: pass them as [anchor, positive, "
                "negative], e.g. keras.Model([anchor, positive, negative], outputs), so that they "
                "match the (anchors, positives, negatives) batches."
            )
        raise AssertionError(
            f"Your inputs are named {names}: name them with keras.Input(shape=(784,), "
            "name='anchor'), name='positive' and name='negative'."
        )
    for tensor in siamese.inputs:
        if tuple(tensor.shape[1:]) != image_shape:
            raise AssertionError(
                f"Your input {tensor.name!r} has shape {tuple(tensor.shape)}; expected "
                f"(None, {', '.join(map(str, image_shape))}), the embedding model's input."
            )


def _check_siamese_output_shape(siamese, emb_size: int) -> None:
    if len(siamese.outputs) != 1:
        raise AssertionError(
            f"Your Siamese network has {len(siamese.outputs)} separate outputs: concatenate the "
            "three embeddings into one with keras.layers.Concatenate(axis=-1)([e_a, e_p, e_n])."
        )
    shape = tuple(siamese.outputs[0].shape)
    if len(shape) == 3 and shape[1:] == (3, emb_size):
        raise AssertionError(
            f"Your output has shape {shape}: you stacked the embeddings; concatenate them side "
            "by side instead, with keras.layers.Concatenate(axis=-1)."
        )
    if shape[1:] == (emb_size,):
        raise AssertionError(
            f"Your output has shape {shape}, one embedding wide: concatenate the three "
            "embeddings along the last axis, keras.layers.Concatenate(axis=-1), not axis=0 "
            "(which piles them up as extra rows)."
        )
    if shape[1:] != (3 * emb_size,):
        raise AssertionError(
            f"Your output has shape {shape}; expected (None, {3 * emb_size}): the three "
            f"embeddings of size {emb_size} side by side."
        )


def _check_shared_weights(siamese, embedding_model) -> None:
    own = {id(v) for v in embedding_model.weights}
    theirs = {id(v) for v in siamese.weights}
    if own and len(theirs) >= 2 * len(own) and len(theirs) % len(own) == 0:
        raise AssertionError(
            f"Your network has {len(theirs) // len(own)}× the embedding model's weights: build "
            "the embedding model once and call the same model on all three inputs (no "
            "clone_model, no second call to the function that builds it)."
        )
    if not own <= theirs:
        raise AssertionError(
            "Your Siamese network does not use this embedding_model's weights: build it by "
            "calling the same embedding_model (the one passed to this check) on the three inputs."
        )
    if theirs != own:
        raise AssertionError(
            f"Your Siamese network has {len(theirs - own)} weight tensor(s) besides the embedding "
            "model's (e.g. a Dense after the concatenation): its output should be the "
            "concatenated embeddings only."
        )
    if not siamese.trainable_weights:
        raise AssertionError(
            "Your Siamese network has no trainable weights: don't set trainable=False on the "
            "embedding model."
        )


def _check_siamese_values(siamese, embedding_model, image_shape, emb_size: int) -> None:
    rng = np.random.default_rng(6)
    images = [rng.random((5, *image_shape)).astype(np.float32) for _ in ROLES]
    out = to_numpy(
        call_learner(siamese, "Siamese network", images, training=False), "your Siamese network"
    )
    if out.shape != (5, 3 * emb_size):
        raise AssertionError(
            f"On a batch of 5 triplets your network outputs shape {out.shape}; expected "
            f"(5, {3 * emb_size}): concatenate with keras.layers.Concatenate(axis=-1)."
        )
    wanted = [
        to_numpy(embedding_model(image, training=False), "embedding_model") for image in images
    ]
    shown = []
    for j in range(3):
        part = out[:, j * emb_size : (j + 1) * emb_size]
        match = [k for k, e in enumerate(wanted) if np.allclose(part, e, atol=1e-5, rtol=1e-4)]
        if not match:
            raise AssertionError(
                f"The {ordinal(j)} part of your output is not the embedding model's output for "
                "any of the three inputs: output exactly Concatenate(axis=-1)([e(anchor), "
                "e(positive), e(negative)]), with no extra layer."
            )
        shown.append(match[0])
    if len(set(shown)) < 3:
        repeated = ROLES[max(set(shown), key=shown.count)]
        raise AssertionError(
            f"Your output embeds the {repeated} {shown.count(ROLES.index(repeated))} times: call "
            "embedding_model on each of the three inputs, anchor, positive and negative."
        )
    if shown != [0, 1, 2]:
        order = ", ".join(f"e({ROLES[k]})" for k in shown)
        raise AssertionError(
            f"Your output is [{order}]: the output must be [e(anchor), e(positive), "
            "e(negative)] in this order."
        )

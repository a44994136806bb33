"""Self-check of notebook 06 (the Siamese network).

``check_siamese_network`` checks the exercise that calls one shared embedding
model on three named inputs and concatenates [e(anchor), e(positive), e(negative)].
Besides the structure and the values, it checks that the network trains as it is
used: each branch's gradient reaches the shared weights, training mode changes
nothing, no layer is frozen, and the builder uses the model it is given.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from ._shared import (
    ROLES,
    autodiff_available,
    call_learner,
    frozen_layers,
    gradients,
    ordinal,
    passed,
    require_function,
    require_model,
    to_numpy,
)


def check_siamese_network(
    siamese: keras.Model, embedding_model: keras.Model, build: Callable | None = None
) -> None:
    """Check the Siamese network: three named inputs, one shared model, [e(a), e(p), e(n)].

    Beyond the structure and the values, the network must train as it is used:
    every branch passes its gradient back to the shared weights, ``training=True``
    gives the same output as ``training=False`` (no Dropout or noise), and no layer
    inside is frozen.

    Parameters
    ----------
    siamese : keras.Model
        The learner's network, built from ``embedding_model``.
    embedding_model : keras.Model
        The embedding model it must share.
    build : callable, optional
        The learner's ``build_siamese_network``. When given, it is also called on a
        fresh, tiny embedding model, whose weights the result must use: this catches a
        builder that ignores its argument and uses a global model.

    Examples
    --------
    >>> checks.check_siamese_network(siamese, embedding_model, build=build_siamese_network)
    ✅ Your Siamese network shares one embedding model ...
    """
    if build is not None:
        require_function(build, "build_siamese_network", "check_siamese_network")
        if isinstance(build, keras.Model):
            raise AssertionError(
                "build= expects your function build_siamese_network itself, got the model it "
                "built: pass build=build_siamese_network, without calling it."
            )
    require_model(embedding_model, "embedding_model", "embedding model")
    require_model(siamese, "siamese", "Siamese network")
    emb_size = embedding_model.outputs[0].shape[-1]
    image_shape = tuple(embedding_model.inputs[0].shape[1:])
    _check_network(siamese, embedding_model, image_shape, emb_size)
    if build is not None:
        _check_builder(build, embedding_model, image_shape)
    trains = " and trains all three branches" if autodiff_available() else ""
    passed(
        f"Your Siamese network shares one embedding model ({len(embedding_model.weights)} weight "
        f"tensors) across anchor, positive and negative, outputs [e(a), e(p), e(n)] of shape "
        f"(None, {3 * emb_size}){trains}. Well done!"
    )


def _check_network(siamese, embedding_model, image_shape, emb_size: int) -> None:
    _check_siamese_inputs(siamese, image_shape)
    _check_siamese_output_shape(siamese, emb_size)
    _check_shared_weights(siamese, embedding_model)
    images = _check_siamese_values(siamese, embedding_model, image_shape, emb_size)
    _check_training_mode(siamese, embedding_model, images)
    if autodiff_available():
        _check_gradients(siamese, embedding_model, images, emb_size)


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
    names = frozen_layers(siamese)
    if names:
        raise AssertionError(
            f"The layer(s) {names} inside your Siamese network are frozen (trainable=False), so "
            "training would never change their weights: build_siamese_network must not change "
            "the embedding model; delete the line that sets trainable = False."
        )


def _check_siamese_values(siamese, embedding_model, image_shape, emb_size: int) -> list:
    """The output must be [e(a), e(p), e(n)] on 5 random triplets; returns those triplets."""
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
    return images


def _check_training_mode(siamese, embedding_model, images) -> None:
    """In training, the network must compute what it computes in use (no Dropout or noise)."""
    own = [to_numpy(embedding_model(x, training=True), "embedding_model") for x in images]
    if not all(
        np.allclose(o, to_numpy(embedding_model(x, training=False), "embedding_model"), atol=1e-5)
        for o, x in zip(own, images, strict=True)
    ):
        return  # the embedding model itself behaves differently in training: nothing to compare
    trained = to_numpy(
        call_learner(siamese, "Siamese network", images, training=True), "your Siamese network"
    )
    if not np.allclose(trained, np.concatenate(own, axis=1), atol=1e-5, rtol=1e-4):
        raise AssertionError(
            "Your Siamese network computes something else in training (training=True) than in "
            "use: a Dropout, GaussianNoise or other random layer after the embeddings changes "
            "what the loss sees. Output exactly keras.layers.Concatenate(axis=-1)([e_a, e_p, "
            "e_n]), with no layer after it."
        )


def _check_gradients(siamese, embedding_model, images, emb_size: int) -> None:
    """Every branch must pass its gradient back to the shared weights, as the model alone does."""
    weights = embedding_model.trainable_weights
    rng = np.random.default_rng(8)
    for j, role in enumerate(ROLES):
        mix = rng.normal(size=(len(images[j]), emb_size)).astype(np.float32)
        part = slice(j * emb_size, (j + 1) * emb_size)

        def through_network(mix=mix, part=part):
            out = call_learner(siamese, "Siamese network", images, training=False)
            return keras.ops.sum(keras.ops.multiply(out[:, part], mix))  # mix: numpy

        def through_model(mix=mix, j=j):
            return keras.ops.sum(
                keras.ops.multiply(embedding_model(images[j], training=False), mix)
            )

        _, got = gradients(through_network, variables=weights)
        _, expected = gradients(through_model, variables=weights)
        if all(g is None or not np.any(g) for g in got):
            raise AssertionError(
                f"No gradient flows from the {role} branch of your Siamese network back to the "
                "embedding model's weights, so training could not learn from the "
                f"{role}s: remove ops.stop_gradient (or a detour through numpy) around "
                f"embedding_model({role}) and call the model directly on the input."
            )
        if not all(
            g is not None and np.allclose(g, e, rtol=1e-3, atol=1e-6)
            for g, e in zip(got, expected, strict=True)
            if e is not None
        ):
            raise AssertionError(
                f"The gradient that flows from the {role} branch of your Siamese network to the "
                "embedding model's weights is not the embedding model's own: output exactly "
                "Concatenate(axis=-1)([e(anchor), e(positive), e(negative)]), with nothing that "
                "changes the gradient (no ops.stop_gradient, no extra layer)."
            )


def _fresh_embedding_model(image_shape: tuple[int, ...]) -> keras.Model:
    """A tiny embedding model (5 numbers), different from any model the learner has.

    Its weights come from a local Generator and every layer is named, so that building it
    changes neither Keras's random state nor its automatic layer names in the notebook.
    """
    inputs = keras.Input(shape=image_shape, name="check_image")
    x = keras.layers.Flatten(name="check_flatten")(inputs) if len(image_shape) > 1 else inputs
    dense = keras.layers.Dense(5, kernel_initializer="zeros", name="check_projection")
    outputs = keras.layers.UnitNormalization(name="check_unit_length")(dense(x))
    model = keras.Model(inputs, outputs, name="embedding")
    rng = np.random.default_rng(10)
    pixels = int(np.prod(image_shape))
    dense.set_weights(
        [(rng.normal(size=(pixels, 5)) / np.sqrt(pixels)).astype(np.float32), np.zeros(5, "f4")]
    )
    return model


def _check_builder(build, embedding_model, image_shape: tuple[int, ...]) -> None:
    """``build`` called on another embedding model must use that model."""
    other = _fresh_embedding_model(image_shape)
    network = call_learner(
        build,
        "build_siamese_network",
        other,
        hint="the check called it with another, tiny embedding model (5 numbers per image)",
    )
    require_model(network, "build_siamese_network(...)", "Siamese network")
    given = {id(v) for v in embedding_model.weights}
    used = {id(v) for v in network.weights}
    if given & used:
        raise AssertionError(
            "Called with another embedding model, your build_siamese_network still uses the "
            "global embedding_model (or another model defined outside it): use only its "
            "argument, e.g. embedding_model(anchor) where embedding_model is the parameter of "
            "build_siamese_network."
        )
    if not {id(v) for v in other.weights} <= used:
        raise AssertionError(
            "Called with another embedding model, your build_siamese_network does not use it: "
            "call the embedding_model passed as its argument on the three inputs, instead of "
            "building or reusing another model inside."
        )
    try:
        _check_network(network, other, image_shape, other.outputs[0].shape[-1])
    except AssertionError as exc:
        raise AssertionError(
            "Your build_siamese_network works with this embedding_model but not with another "
            f"one (5 numbers per image): {exc}"
        ) from exc

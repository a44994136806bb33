"""Exercise 5.1, the embedding model: judged outside the kernel.

As strict as notebook 05's ``check_embedding_model`` and its hidden tests together.
The exercise prescribes ``Dense(64, relu) -> Dense(emb_size) -> UnitNormalization``
with ``emb_size = 64``; one probe sends back, as data, the learner's model's weights
(in layer order), its name, its input and output counts and ``count_params()``, its
outputs on images the judge drew (with ``training=False`` and ``training=True``,
the same rows inside two batches of different mates, dim images), and the weights
after one SGD step of a loss the judge chose, taken through a wrapper model so
that the learner's model is never compiled; its weights are restored afterwards.

The judge then checks in numpy:

* four weights of the shapes (784, 64), (64,), (64, 64), (64,) and 54,400
  parameters (the hidden test), the model named ``embedding``, one input, one
  output;
* the outputs equal ``normalize(relu(x W1 + b1) W2 + b2)`` computed from the
  returned weights (this is what rules out a sigmoid, a softmax, a tanh, a missing
  or extra activation, a normalisation across the batch or with an epsilon, no
  normalisation), every embedding has length 1 within 2e-6, a row's embedding does
  not depend on its batch mates, and training mode computes the same (no Dropout);
* the SGD step moves every weight by exactly ``-learning_rate *`` the gradient
  that numpy back-propagates through that forward pass (no frozen layer, nothing
  that cuts or changes the gradient).

A kernel that lies could send weights and outputs that agree with each other without
being its model's; that cannot be told from data. It must still send back a model
of the prescribed shape that computes the prescribed function on the judge's images
and trains as numpy says.

Only numpy: the worker imports this module.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.remote import Remote

from ._base import Failed, array, require, unwrap

NAME = "embedding_model"
PIXELS, HIDDEN, EMB_SIZE = 784, 64, 64
SHAPES = [(PIXELS, HIDDEN), (HIDDEN,), (HIDDEN, EMB_SIZE), (EMB_SIZE,)]
PARAMS = (PIXELS * HIDDEN + HIDDEN) + (HIDDEN * EMB_SIZE + EMB_SIZE)
ARCHITECTURE = (
    "keras.layers.Dense(64, activation='relu'), then keras.layers.Dense(emb_size), then "
    "keras.layers.UnitNormalization()"
)
LEARNING_RATE = 1.0
#: Outputs bounded by 1 against numpy's: the self-check's 2e-3, far above float32 (or a
#: GPU's TensorFloat-32) rounding and far below the differences between architectures.
OUTPUT_ATOL = 2e-3
#: The SGD step against numpy's gradient, relative to the largest step: 1 %, far above
#: float32 (or TensorFloat-32) rounding; a frozen layer moves 0 %, a cut gradient 50 % or more.
STEP_RTOL = 1e-2

#: Everything about the learner's model, as data. The training step goes through a
#: wrapper model with explicit names (the learner's model is not compiled) and the
#: weights are put back afterwards, so the notebook's later cells see the same model.
PROBE = """
def probe(namespace, name, batches, mix, learning_rate):
    import keras
    model = namespace[name]
    facts = {
        "is_model": isinstance(model, keras.Model),
        "name": str(model.name),
        "inputs": len(model.inputs),
        "outputs": len(model.outputs),
        "params": int(model.count_params()),
        "weights": [keras.ops.convert_to_numpy(w) for w in model.weights],
    }
    facts["use"] = [model(x, training=False) for x in batches]
    facts["training"] = model(batches[0], training=True)
    before = model.get_weights()
    try:
        image = keras.Input(shape=(batches[0].shape[1],), name="judge_image")
        wrapper = keras.Model(image, model(image), name="judge_wrapper")
        wrapper.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
            loss=lambda y_true, y_pred: keras.ops.sum(y_true * y_pred, axis=-1),
            run_eagerly=True,
        )
        facts["loss"] = wrapper.train_on_batch(batches[0], mix)
        facts["after"] = [keras.ops.convert_to_numpy(w) for w in model.weights]
    except Exception as error:
        facts["train_error"] = f"{type(error).__name__}: {error}"[:300]
    finally:
        model.set_weights(before)
    return facts
"""


def forward(weights: list[np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """The exercise's forward pass in float64, with what back-propagation needs."""
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    x = np.asarray(x, np.float64)
    h = x @ w1 + b1
    a = np.maximum(h, 0.0)
    z = a @ w2 + b2
    n = np.linalg.norm(z, axis=1, keepdims=True)
    return {"x": x, "h": h, "a": a, "z": z, "n": n, "y": z / n}


def gradient(weights: list[np.ndarray], x: np.ndarray, mix: np.ndarray) -> list[np.ndarray]:
    """d(mean_i sum_j y_ij mix_ij)/d(weights), back-propagated through :func:`forward`."""
    f = forward(weights, x)
    w2 = np.asarray(weights[2], np.float64)
    dy = np.asarray(mix, np.float64) / len(x)
    dz = (dy - f["y"] * np.sum(f["y"] * dy, axis=1, keepdims=True)) / f["n"]
    dh = (dz @ w2.T) * (f["h"] > 0)
    return [f["x"].T @ dh, dh.sum(0), f["a"].T @ dz, dz.sum(0)]


def draw_images(rng: np.random.Generator) -> list[np.ndarray]:
    """Batches: 8 images, the same rows 2-5 among other mates, dim and sparse images."""
    images = rng.random((8, PIXELS)).astype(np.float32)
    mates = rng.random((4, PIXELS)).astype(np.float32)
    sparse = ((rng.random((6, PIXELS)) < 0.2) * rng.random((6, PIXELS)) * 4).astype(np.float32)
    regrouped = np.concatenate([mates[:2], images[2:6], mates[2:]])
    return [images, regrouped, images[:1], (images * 0.1).astype(np.float32), sparse]


def judge_embedding_model(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's global ``embedding_model`` (raises ``Failed`` at the first mistake).

    Examples
    --------
    >>> judge_embedding_model(remote, np.random.default_rng(0))  # a right answer: no error
    """
    batches = draw_images(rng)
    mix = (rng.normal(size=(len(batches[0]), EMB_SIZE)) * len(batches[0])).astype(np.float32)
    facts = unwrap(remote.probe(PROBE, NAME, batches, mix, LEARNING_RATE), NAME)
    require(isinstance(facts, dict), f"the grader could not read your {NAME}")
    weights = check_structure(facts)
    check_outputs(facts, weights, batches)
    check_training(facts, weights, batches[0], mix)


def check_structure(facts: dict) -> list[np.ndarray]:
    """A keras.Model named 'embedding', one input and output, the exercise's four weights."""
    require(
        facts.get("is_model") is True,
        f"Your {NAME} is not a keras.Model: build it with keras.Sequential([keras.Input(shape="
        "(784,)), ...]) or keras.Model(inputs, outputs).",
    )
    require(
        facts.get("inputs") == 1 and facts.get("outputs") == 1,
        "Your embedding model needs one input, keras.Input(shape=(784,)), and one output, the "
        "embedding.",
    )
    weights = facts.get("weights")
    require(isinstance(weights, list), "the grader could not read your model's weights")
    weights = [array(w, "the model's weights") for w in weights]
    shapes = [w.shape for w in weights]
    require(
        shapes == SHAPES and facts.get("params") == PARAMS,
        f"Your embedding model has the weights {shapes} ({facts.get('params')} numbers); "
        f"exercise 5.1 asks for exactly Dense(64, relu) → Dense(64) → UnitNormalization, whose "
        f"weights are {SHAPES} ({PARAMS:,} numbers): {ARCHITECTURE}.",
    )
    require(
        facts.get("name") == "embedding",
        f"Your model is named {facts.get('name')!r}; name it 'embedding': "
        "keras.Model(inputs, outputs, name='embedding') or keras.Sequential([...], "
        "name='embedding').",
    )
    return weights


def check_outputs(facts: dict, weights, batches) -> None:
    """Outputs equal numpy's forward pass, have length 1, ignore batch mates and mode."""
    use = facts.get("use")
    require(isinstance(use, list) and len(use) == len(batches), "the grader could not read it")
    use = [array(u, NAME) for u in use]
    for out, x in zip(use, batches, strict=True):
        require(
            out is not None and out.shape == (len(x), EMB_SIZE),
            f"On a batch of {len(x)} images your embedding model outputs shape "
            f"{None if out is None else out.shape}; expected ({len(x)}, {EMB_SIZE}).",
        )
        require(bool(np.isfinite(out).all()), "Your embedding model outputs NaN or inf.")
    mates = use[1][2:6]
    require(
        np.allclose(mates, use[0][2:6], atol=1e-5) and np.allclose(use[2][0], use[0][0], atol=1e-5),
        "The embedding of an image changes when the other images of its batch change: your "
        "model normalises across the batch (axis=0, or the norm of the whole batch) instead of "
        "each embedding on its own. Use keras.layers.UnitNormalization().",
    )
    for out, x in zip(use, batches, strict=True):
        require(
            np.allclose(out, forward(weights, x)["y"], atol=OUTPUT_ATOL, rtol=0),
            "Your embedding model's outputs differ from Dense(64, relu) → Dense(64) → "
            "UnitNormalization computed with its own weights: build exactly "
            f"{ARCHITECTURE}, with no other activation and nothing in between.",
        )
    lengths = np.linalg.norm(np.concatenate(use), axis=1)
    worst = float(np.max(np.abs(lengths - 1)))
    require(
        worst <= 2e-6,
        f"Some of your embeddings have length {1 + worst:.6f} or {1 - worst:.6f} instead of "
        "exactly 1: end with keras.layers.UnitNormalization().",
    )
    training = array(facts.get("training"), NAME)
    require(
        training is not None
        and training.shape == use[0].shape
        and np.allclose(training, use[0], atol=1e-5),
        "Your embedding model computes something else in training (training=True) than in use: "
        "a Dropout, GaussianNoise or BatchNormalization layer? Exercise 5.1 has none.",
    )


def check_training(facts: dict, weights, x: np.ndarray, mix: np.ndarray) -> None:
    """One SGD step moves every weight by -learning_rate × numpy's gradient."""
    error = facts.get("train_error")
    require(error is None, f"Your embedding model cannot be trained ({error}).")
    after = facts.get("after")
    require(
        isinstance(after, list) and len(after) == len(weights),
        "the grader could not read the weights after training",
    )
    after = [array(a, "the weights after training") for a in after]
    frozen = [
        i for i, (a, w) in enumerate(zip(after, weights, strict=True)) if np.array_equal(a, w)
    ]
    if frozen:
        raise Failed(
            "One training step left some of your embedding model's weights as they were: a "
            "layer is frozen (trainable=False), so training would never change it. Delete the "
            "line that sets trainable = False."
        )
    for a, w, g in zip(after, weights, gradient(weights, x, mix), strict=True):
        step, want = a.astype(np.float64) - w, -LEARNING_RATE * g
        require(
            a.shape == w.shape
            and np.allclose(step, want, rtol=STEP_RTOL, atol=STEP_RTOL * float(np.abs(want).max())),
            "One training step moves your embedding model's weights differently from what the "
            "gradient of Dense(64, relu) → Dense(64) → UnitNormalization gives: nothing may "
            "cut or change the gradient (no ops.stop_gradient, no numpy detour).",
        )

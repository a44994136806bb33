"""Exercise 6.1, ``build_siamese_network(embedding_model)``: judged outside the kernel.

As strict as notebook 06's self-check and hidden tests together. A probe builds a
tiny embedding model from the judge's own weights (784 pixels -> Dense -> Dense,
linear, so that every number is a numpy computation; its last layer but one owns
weights, as in the course's models), calls the learner's builder on it, and sends
back as data:

* the input names and how many outputs and weights the network has (the hidden
  tests: no weights besides the shared model's, ``count_params`` equal);
* the output on the judge's random triplets, with ``training=False`` and
  ``training=True``: it must be ``[e(anchor) | e(positive) | e(negative)]`` computed
  in numpy from the judge's weights (no extra layer, no Dropout or noise, the
  order, the axis, the model passed in rather than a global one);
* one SGD step of the network, compiled in the probe with a loss the judge chose
  (the sum of the outputs weighted by random numbers; ``run_eagerly=True``: on
  TensorFlow 2.21 the compiled step of a model that calls one nested model three
  times was seen to read some weights after their update, at random), and the tiny
  model's OWN
  weights afterwards, read from the judge's layers: they must move exactly as numpy
  says, so every branch passes its gradient to the one shared model (no
  ``stop_gradient``, no frozen layer, no copy, no clone).

The input names, the number of outputs and the weight counts are facts that no
input randomises; the kernel could lie about them. The outputs and the trained
weights must still equal the judge's numbers on inputs it drew.

Only numpy: the worker imports this module.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.references import loss_close
from siamese_grading.remote import Remote

from ._base import Failed, array, require, unwrap

NAME = "build_siamese_network"
ROLES = ("anchor", "positive", "negative")
PIXELS = 784
LEARNING_RATE = 0.5
CONCAT = "keras.layers.Concatenate(axis=-1)([e_a, e_p, e_n])"

#: Build the judge's tiny embedding model, the learner's network on it, and train a step.
#: Zeros, then set_weights, and explicit names: no random numbers and no automatic names
#: of the judge's are drawn (the learner's builder names its own layers, as in the check).
PROBE = """
def probe(namespace, name, weights, images, mix, learning_rate):
    import keras
    w1, b1, w2, b2 = weights
    image = keras.Input(shape=(w1.shape[0],), name="judge_image")
    hidden = keras.layers.Dense(w1.shape[1], kernel_initializer="zeros", name="judge_hidden")
    projection = keras.layers.Dense(
        w2.shape[1], kernel_initializer="zeros", name="judge_projection"
    )
    out = keras.layers.Identity(name="judge_output")(projection(hidden(image)))
    embedding = keras.Model(image, out, name="judge_embedding")
    hidden.set_weights([w1, b1])
    projection.set_weights([w2, b2])
    network = namespace[name](embedding)
    facts = {
        "inputs": [str(t.name) for t in network.inputs],
        "outputs": len(network.outputs),
        "weights": len(network.weights),
        "params": int(network.count_params()),
    }
    images = list(images)
    facts["use"] = network(images, training=False)
    facts["training"] = network(images, training=True)
    try:
        network.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
            loss=lambda y_true, y_pred: keras.ops.sum(y_true * y_pred, axis=-1),
            run_eagerly=True,
        )
        facts["loss"] = network.train_on_batch(images, mix)
    except Exception as error:
        facts["train_error"] = f"{type(error).__name__}: {error}"[:300]
    facts["after"] = [*hidden.get_weights(), *projection.get_weights()]
    return facts
"""


def embed(weights: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hidden, embedding) of the judge's linear model, float64."""
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    hidden = np.asarray(x, np.float64) @ w1 + b1
    return hidden, hidden @ w2 + b2


def sgd_step(weights, images, mix, learning_rate: float):
    """The loss ``mean_i sum_j out_ij mix_ij`` and the weights after one SGD step (numpy)."""
    w1, _, w2, _ = (np.asarray(w, np.float64) for w in weights)
    emb = w2.shape[1]
    batch = len(images[0])
    grads = [np.zeros_like(np.asarray(w, np.float64)) for w in weights]
    loss = 0.0
    for k, x in enumerate(images):
        hidden, out = embed(weights, x)
        g = np.asarray(mix, np.float64)[:, k * emb : (k + 1) * emb] / batch
        loss += float(np.sum(out * g))
        dh = g @ w2.T
        for i, part in enumerate((x.T @ dh, dh.sum(0), hidden.T @ g, g.sum(0))):
            grads[i] += part
    after = [
        np.asarray(w, np.float64) - learning_rate * g for w, g in zip(weights, grads, strict=True)
    ]
    return loss, after


def judge_siamese_network(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``build_siamese_network(embedding_model)`` (raises ``Failed``).

    Examples
    --------
    >>> judge_siamese_network(remote, np.random.default_rng(0))  # a right answer: no error
    """
    hidden_units, emb, batch = int(rng.integers(3, 6)), int(rng.integers(3, 7)), 6
    weights = [
        (rng.integers(-4, 5, size=(PIXELS, hidden_units)) / 64).astype(np.float32),
        (rng.integers(-2, 3, size=hidden_units) / 8).astype(np.float32),
        (rng.integers(-4, 5, size=(hidden_units, emb)) / 8).astype(np.float32),
        (rng.integers(-2, 3, size=emb) / 8).astype(np.float32),
    ]
    images = [(rng.integers(0, 5, size=(batch, PIXELS)) / 4).astype(np.float32) for _ in ROLES]
    mix = (rng.integers(-4, 5, size=(batch, 3 * emb)) / 4).astype(np.float32)
    reply = remote.probe(PROBE, NAME, weights, images, mix, LEARNING_RATE)
    facts = unwrap(reply, NAME)
    require(isinstance(facts, dict), f"the grader could not read what {NAME} built")
    check_structure(facts, weights)
    check_outputs(facts, weights, images, emb)
    check_training(facts, weights, images, mix)


def check_structure(facts: dict, weights: list[np.ndarray]) -> None:
    """Three inputs named anchor, positive, negative; one output; only the shared weights."""
    names = facts.get("inputs")
    require(
        isinstance(names, list) and len(names) == 3,
        "Your Siamese network needs three inputs, one per image of the triplet: "
        "keras.Input(shape=input_shape, name='anchor'), likewise 'positive' and 'negative'.",
    )
    require(
        names == list(ROLES),
        f"Your inputs are {names}: name them 'anchor', 'positive' and 'negative', and pass them "
        "in that order, keras.Model([anchor, positive, negative], output).",
    )
    require(
        facts.get("outputs") == 1,
        f"Your Siamese network has {facts.get('outputs')} outputs: concatenate the three "
        f"embeddings into one, {CONCAT}.",
    )
    params = sum(int(np.asarray(w).size) for w in weights)
    require(
        facts.get("weights") == len(weights) and facts.get("params") == params,
        f"Built on a tiny embedding model of {params:,} weights, your Siamese network has "
        f"{facts.get('params')}: it must reuse the one shared model it is given, nothing else "
        "(no copy, no clone, no extra layer).",
    )


def check_outputs(facts: dict, weights, images, emb: int) -> None:
    """The output is [e(a) | e(p) | e(n)] of the model passed in, in use and in training."""
    want = np.concatenate([embed(weights, x)[1] for x in images], axis=1)
    for key, when in (("use", ""), ("training", " in training (training=True)")):
        out = array(facts.get(key), NAME)
        require(
            out is not None and out.shape == want.shape,
            f"On {len(images[0])} triplets of a tiny embedding model ({emb} numbers) your network "
            f"outputs shape {None if out is None else out.shape}{when}; expected {want.shape}: "
            f"{CONCAT}.",
        )
        if loss_close(out, want):
            continue
        parts = [out[:, k * emb : (k + 1) * emb] for k in range(3)]
        found = [
            next(
                (
                    r
                    for r, x in zip(ROLES, images, strict=True)
                    if loss_close(p, embed(weights, x)[1])
                ),
                None,
            )
            for p in parts
        ]
        if key == "training" and loss_close(array(facts.get("use"), NAME), want):
            raise Failed(
                "Your Siamese network computes something else in training (training=True) than in "
                "use: a Dropout, GaussianNoise or other random layer after the embeddings? Output "
                f"exactly {CONCAT}."
            )
        if None not in found:
            raise Failed(
                f"Your output is [{', '.join(f'e({r})' for r in found)}]; it must be "
                "[e(anchor), e(positive), e(negative)], each input embedded once, in this order."
            )
        raise Failed(
            "Called with another embedding model, your network's output is not that model's "
            f"embeddings of the three inputs: call the embedding_model passed as the argument "
            f"(not a global model, a copy or a model of your own) and output exactly {CONCAT}."
        )


def check_training(facts: dict, weights, images, mix) -> None:
    """One SGD step moves the shared model's own weights as numpy says."""
    error = facts.get("train_error")
    require(
        error is None,
        f"Your Siamese network cannot be trained with model.compile + train_on_batch ({error}).",
    )
    loss, after = sgd_step(weights, images, mix, LEARNING_RATE)
    reported = array(facts.get("loss"), "train_on_batch")
    require(
        reported is not None and reported.size == 1 and loss_close(reported.ravel()[0], loss),
        "Training your Siamese network on a loss the grader chose reports another loss than its "
        "outputs give: output exactly the concatenated embeddings.",
    )
    got = facts.get("after")
    require(
        isinstance(got, list) and len(got) == len(after),
        "the grader could not read the embedding model's weights after training",
    )
    got = [array(g, "the embedding model's weights") for g in got]
    moved = [not np.array_equal(g, w) for g, w in zip(got, weights, strict=True)]
    require(
        all(moved),
        "One training step of your Siamese network left some of the embedding model's weights "
        "as they were: a frozen layer (trainable=False), a copy of the model, or "
        "ops.stop_gradient? Build it by calling the model passed in on the three inputs, and "
        "change nothing in that model.",
    )
    require(
        all(g.shape == w.shape and loss_close(g, w) for g, w in zip(got, after, strict=True)),
        "One training step of your Siamese network moves the shared embedding model's weights "
        "differently from what the gradient of all three branches gives: no ops.stop_gradient "
        "(or numpy detour) around a branch, no layer after the concatenation.",
    )

"""Exercises 8.3 (``compile_siamese``) and 8.5 (``train``): judged outside the kernel.

As strict as notebook 08's self-checks and hidden tests of these exercises together.

8.3, ``compile_siamese(siamese, alpha, learning_rate)``: a probe builds a tiny
Siamese-shaped network (three inputs, one shared Dense layer of the judge's weights,
concatenated), calls the learner's function with a margin and a learning rate the
judge drew, and sends back as data: whether it returned another model, the
optimizer's class name and config, the compiled loss (``compute_loss``) on the
judge's random embeddings, the loss and the weights after one ``train_on_batch``
on the judge's triplets, and the compiled loss of the network saved to a
``.keras`` file and reloaded with ``keras.saving.load_model`` (in the kernel's
temporary folder). The judge checks the losses against FaceNet's with that margin
(:mod:`siamese_grading.references`) and the weights against one Adam step written
here in numpy (Keras's defaults: ``beta_1=0.9``, ``beta_2=0.999``,
``epsilon=1e-7``). The judge's numbers are multiples of powers of two, so the
kernel's float32 gradient is exact and Adam's division by ``sqrt(v) + epsilon``
cannot blow rounding up. The optimizer's class and config (plain Adam, a constant
learning rate, every other setting at its default, e.g. no ``use_ema``, whose effect
no single step shows) are facts no input randomises: the kernel could lie about
them.

8.5, ``train(siamese, triplets, steps_per_epoch, epochs, callbacks)``: a probe builds
the tiny network, compiles it itself (SGD and the mean squared error, run eagerly),
and calls the learner's ``train`` with a stream of the judge's batches (a generator
that counts what it yields), a number of steps and epochs the judge drew, and two
recording callbacks. It sends back: whether ``train`` returned a History and its
losses, what each callback heard (training starts, epochs, batches), the batches
drawn, the optimizer's step count, whether the optimizer and the loss are still
the ones compiled, and the final weights. The judge replays the training in numpy:
SGD on the judge's batches in order; the final weights and every epoch's mean loss
must be the replay's. That pins the number of optimizer steps, the batches trained
on and their order, the learning rate, and the loss. What the callbacks heard and
the counts are reported by the kernel (data it could forge); the weights and losses
are verified.

On TensorFlow 2.21 a compiled (graph) step of a model that shares one layer between
several inputs was seen to read some weights after their update, at random; the
probes therefore train eagerly (``run_eagerly``), where every step is exact.

Only numpy: the worker imports this module.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.references import loss_close, reference_dense_step, reference_loss
from siamese_grading.remote import Remote

from ._base import Failed, array, require, unwrap

COMPILE = "compile_siamese"
TRAIN = "train"
ROLES = ("anchor", "positive", "negative")
#: Keras's Adam: its defaults, which exercise 8.3 keeps.
ADAM_DEFAULTS = {
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "epsilon": 1e-07,
    "amsgrad": False,
}
ADAM = "keras.optimizers.Adam(learning_rate=learning_rate)"
TRIPLET = "helpers.TripletLoss(alpha=alpha)"

#: The tiny network: three inputs, one shared Dense of the judge's weights, concatenated.
#: Zeros, then set_weights, and explicit names: no random numbers and no automatic names.
_TINY = """
def tiny(keras, kernel, bias):
    roles = ("anchor", "positive", "negative")
    inputs = [keras.Input(shape=(kernel.shape[0],), name=r) for r in roles]
    shared = keras.layers.Dense(kernel.shape[1], kernel_initializer="zeros", name="judge_shared")
    joined = keras.layers.Concatenate(axis=-1, name="judge_concatenate")
    model = keras.Model(inputs, joined([shared(t) for t in inputs]), name="judge_tiny_siamese")
    shared.set_weights([kernel, bias])
    return model, shared
"""

PROBE_COMPILE = (
    _TINY
    + """
def probe(namespace, name, kernel, bias, alpha, learning_rate, images, y_pred):
    import os, tempfile, warnings
    import keras
    model, shared = tiny(keras, kernel, bias)
    returned = namespace[name](model, alpha, learning_rate)
    facts = {"other": returned is not None and returned is not model}
    facts["compiled"] = bool(getattr(model, "compiled", False)) and model.optimizer is not None
    if not facts["compiled"]:
        return facts
    optimizer = model.optimizer
    facts["optimizer"] = type(optimizer).__name__
    facts["adam"] = isinstance(optimizer, keras.optimizers.Adam)
    config = optimizer.get_config()
    rate = config.get("learning_rate")
    facts["constant_rate"] = isinstance(rate, (int, float))
    config["learning_rate"] = float(rate) if facts["constant_rate"] else None
    plain = (bool, int, float, str)
    facts["config"] = {k: v for k, v in config.items() if v is None or isinstance(v, plain)}
    t = keras.ops.convert_to_tensor(y_pred)
    facts["compute_loss"] = model.compute_loss(y=keras.ops.zeros_like(t), y_pred=t)
    model.run_eagerly = True
    targets = keras.ops.zeros((len(images[0]), 3 * kernel.shape[1]))
    facts["loss"] = model.train_on_batch(list(images), targets, return_dict=True).get("loss")
    facts["after"] = shared.get_weights()
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "judge_siamese.keras")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.save(path)
                restored = keras.saving.load_model(path)
        facts["reloaded"] = restored.compute_loss(y=keras.ops.zeros_like(t), y_pred=t)
    except Exception as error:
        facts["reload_error"] = f"{type(error).__name__}: {error}"[:200]
    return facts
"""
)

PROBE_TRAIN = (
    _TINY
    + """
def probe(namespace, name, kernel, bias, learning_rate, batches, steps, epochs):
    import keras
    model, shared = tiny(keras, kernel, bias)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse", run_eagerly=True
    )
    optimizer, loss = model.optimizer, model.loss
    drawn = [0]

    def stream():
        for inputs, targets in batches:
            drawn[0] += 1
            yield tuple(inputs), targets
        while True:  # past the judge's batches: zeros, which the replay would notice
            drawn[0] += 1
            yield tuple(keras.ops.zeros_like(x) for x in batches[0][0]), batches[0][1] * 0

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.heard = {"starts": 0, "epochs": [], "batches": 0}

        def on_train_begin(self, logs=None):
            self.heard["starts"] += 1

        def on_train_batch_end(self, batch, logs=None):
            self.heard["batches"] += 1

        def on_epoch_end(self, epoch, logs=None):
            self.heard["epochs"].append(int(epoch))

    recorders = [Recorder(), Recorder()]
    out = namespace[name](model, stream(), steps, epochs, callbacks=recorders)
    history = isinstance(out, keras.callbacks.History)
    return {
        "history": history,
        "losses": [float(v) for v in out.history.get("loss", [])] if history else [],
        "heard": [r.heard for r in recorders],
        "drawn": drawn[0],
        "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
        "same": model.optimizer is optimizer and model.loss is loss,
        "after": shared.get_weights(),
    }
"""
)


def dyadic(rng: np.random.Generator, shape, scale: int, low: int = -4, high: int = 5):
    """Random multiples of ``1 / scale`` (exact in float32), as float32."""
    return (rng.integers(low, high, size=shape) / scale).astype(np.float32)


def adam_step(weights, grads, learning_rate: float) -> list[np.ndarray]:
    """The weights after Keras's first Adam step (``beta_1=0.9, beta_2=0.999, eps=1e-7``)."""
    beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7
    alpha = learning_rate * np.sqrt(1 - beta_2) / (1 - beta_1)
    out = []
    for w, g in zip(weights, grads, strict=True):
        m, v = (1 - beta_1) * g, (1 - beta_2) * g**2
        out.append(np.asarray(w, np.float64) - alpha * m / (np.sqrt(v) + epsilon))
    return out


def triplet_problem(rng: np.random.Generator, alpha: float):
    """Images, kernel and bias whose triplets have losses away from the hinge, some zero."""
    for _ in range(100):
        image, emb, batch = int(rng.integers(4, 8)), int(rng.integers(2, 5)), 8
        images = [dyadic(rng, (batch, image), 4) for _ in ROLES]
        kernel, bias = dyadic(rng, (image, emb), 8), dyadic(rng, emb, 8, -2, 3)
        y_pred = np.concatenate([x.astype(np.float64) @ kernel + bias for x in images], axis=1)
        before = reference_loss(y_pred, alpha, clamp=False)
        if np.abs(before).min() > 1e-3 and (before > 0).sum() >= 2 and (before < 0).any():
            return images, kernel, bias
    raise RuntimeError("the judge found no triplets away from the hinge")  # pragma: no cover


def judge_compile_siamese(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``compile_siamese(siamese, alpha, learning_rate)`` (raises ``Failed``).

    Examples
    --------
    >>> judge_compile_siamese(remote, np.random.default_rng(0))  # a right answer: no error
    """
    alpha = float(np.round(rng.uniform(0.3, 0.9), 3))
    learning_rate = float(np.round(rng.uniform(0.005, 0.05), 4))
    images, kernel, bias = triplet_problem(rng, alpha)
    y_pred = rng.normal(scale=0.6, size=(16, 3 * int(rng.integers(2, 6)))).astype(np.float32)
    args = (kernel, bias, alpha, learning_rate, images, y_pred)
    facts = unwrap(remote.probe(PROBE_COMPILE, COMPILE, *args), COMPILE)
    require(isinstance(facts, dict), f"the grader could not read what {COMPILE} did")
    require(
        facts.get("other") is not True,
        f"{COMPILE} returned another model: compile the network it is given, siamese.compile(...).",
    )
    require(
        facts.get("compiled") is True,
        f"After {COMPILE} the network is not compiled: call siamese.compile(optimizer={ADAM}, "
        f"loss={TRIPLET}).",
    )
    check_optimizer(facts, learning_rate)
    shown = f"{COMPILE}(siamese, alpha={alpha:g}, learning_rate={learning_rate:g})"
    want = float(reference_loss(y_pred, alpha).mean())
    got = array(facts.get("compute_loss"), "compute_loss")
    require(
        got is not None and got.size == 1 and loss_close(got.ravel()[0], want),
        f"After {shown} the compiled loss is not the triplet loss with margin {alpha:g} (the mean "
        f"over the batch of max(‖a−p‖² − ‖a−n‖² + alpha, 0)): compile with loss={TRIPLET}.",
    )
    loss, new_kernel, new_bias = reference_dense_step(images, kernel, bias, alpha, 1.0)
    grads = [np.asarray(kernel, np.float64) - new_kernel, np.asarray(bias, np.float64) - new_bias]
    reported = array(facts.get("loss"), "train_on_batch")
    require(
        reported is not None and reported.size == 1 and loss_close(reported.ravel()[0], loss),
        f"One training step after {shown} reports another loss than the triplet loss with "
        f"margin {alpha:g}.",
    )
    after = facts.get("after")
    require(isinstance(after, list) and len(after) == 2, "the grader could not read the weights")
    want_after = adam_step([kernel, bias], grads, learning_rate)
    for got_w, want_w in zip(after, want_after, strict=True):
        got_w = array(got_w, "the weights")
        require(
            got_w.shape == want_w.shape
            and np.allclose(got_w, want_w, rtol=0, atol=1e-4 * learning_rate),
            f"One training step after {shown} moves the weights differently from Adam with "
            f"learning rate {learning_rate:g} on the triplet loss: {ADAM}, and nothing else.",
        )
    error = facts.get("reload_error")
    require(
        error is None,
        f"Keras cannot save and reload the network with this loss ({error}): compile with "
        f"loss={TRIPLET}, a keras.losses.Loss that Keras saves together with its margin.",
    )
    reloaded = array(facts.get("reloaded"), "compute_loss")
    require(
        reloaded is not None and reloaded.size == 1 and loss_close(reloaded.ravel()[0], want),
        f"After saving and reloading, the network's loss no longer has margin {alpha:g}: compile "
        f"with loss={TRIPLET}, whose config keeps the margin.",
    )


def check_optimizer(facts: dict, learning_rate: float) -> None:
    """Plain Adam, a constant learning rate equal to the one given, Adam's other defaults."""
    name = facts.get("optimizer")
    require(
        facts.get("adam") is True and name == "Adam",
        f"The network was compiled with {name}; the lesson trains with plain Adam: "
        f"optimizer={ADAM}.",
    )
    require(
        facts.get("constant_rate") is True,
        f"Adam's learning rate is a schedule; the lesson uses a constant one: {ADAM}.",
    )
    config = facts.get("config")
    require(isinstance(config, dict), "the grader could not read the optimizer's settings")
    rate = config.get("learning_rate")
    require(
        isinstance(rate, float) and np.isclose(rate, learning_rate, rtol=1e-5),
        f"compile_siamese(..., learning_rate={learning_rate:g}) gave Adam a learning rate of "
        f"{rate}: pass it on, {ADAM}.",
    )
    changed = sorted(k for k, v in ADAM_DEFAULTS.items() if config.get(k, v) != v)
    require(
        not changed,
        f"Adam's settings {', '.join(changed)} differ from Adam's defaults: the lesson uses {ADAM} "
        "and nothing else.",
    )


def judge_train(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``train(siamese, triplets, steps_per_epoch, epochs, callbacks)``.

    Examples
    --------
    >>> judge_train(remote, np.random.default_rng(0))  # a right answer: no error
    """
    steps, epochs = int(rng.integers(3, 7)), int(rng.integers(2, 4))
    image, emb, batch, learning_rate = int(rng.integers(3, 7)), int(rng.integers(2, 4)), 8, 0.05
    kernel, bias = dyadic(rng, (image, emb), 8), dyadic(rng, emb, 8, -2, 3)
    batches = [
        ([dyadic(rng, (batch, image), 4) for _ in ROLES], dyadic(rng, (batch, 3 * emb), 4))
        for _ in range(steps * epochs + 12)
    ]
    args = (kernel, bias, learning_rate, batches, steps, epochs)
    facts = unwrap(remote.probe(PROBE_TRAIN, TRAIN, *args), TRAIN)
    require(isinstance(facts, dict), f"the grader could not read what {TRAIN} did")
    shown = f"train(..., steps_per_epoch={steps}, epochs={epochs})"
    require(
        facts.get("history") is True,
        "train must return what siamese.fit(...) returns, the History whose .history['loss'] "
        "the notebook plots.",
    )
    require(
        facts.get("same") is True,
        "train compiled the network again: compile_siamese already did; train only fits.",
    )
    check_callbacks(facts, shown, steps, epochs)
    losses, want_kernel, want_bias = replay(kernel, bias, batches, steps, epochs, learning_rate)
    iterations = facts.get("iterations")
    require(
        iterations == steps * epochs,
        f"{shown} took {iterations} training steps instead of {steps * epochs}: pass "
        "steps_per_epoch and epochs on to siamese.fit, and fit once.",
    )
    drawn = facts.get("drawn")
    require(
        isinstance(drawn, int) and steps * epochs <= drawn <= steps * epochs + 10,
        f"train drew {drawn} batches from the stream for {steps * epochs} training steps: give "
        "fit the stream once, as its data (no validation_data, no extra fit).",
    )
    after = facts.get("after")
    require(isinstance(after, list) and len(after) == 2, "the grader could not read the weights")
    new_kernel, new_bias = (array(w, "the weights") for w in after)
    require(
        new_kernel.shape == want_kernel.shape
        and new_bias.shape == want_bias.shape
        and loss_close(new_kernel, want_kernel)
        and loss_close(new_bias, want_bias),
        f"After {shown} the shared weights are not where {steps * epochs} steps of fit on the "
        "stream's batches, in order, put them: train the network it is given on the stream it "
        "is given, siamese.fit(triplets, steps_per_epoch=steps_per_epoch, epochs=epochs, ...), "
        "and change nothing else (the learning rate, the batches).",
    )
    got = facts.get("losses")
    require(
        isinstance(got, list) and len(got) == epochs and loss_close(got, losses),
        f"The History holds the losses {got}; fit's losses of the {epochs} epochs are "
        f"{np.round(losses, 5).tolist()}: return the History that siamese.fit returns.",
    )


def check_callbacks(facts: dict, shown: str, steps: int, epochs: int) -> None:
    """Both callbacks heard one fit of ``epochs`` epochs of ``steps`` batches."""
    heard = facts.get("heard")
    require(isinstance(heard, list) and len(heard) == 2, "the grader could not read the callbacks")
    for k, record in enumerate(heard):
        require(isinstance(record, dict), "the grader could not read the callbacks")
        if record.get("starts") == 0 and not record.get("epochs"):
            raise Failed(
                f"The {('first', 'second')[k]} of the callbacks passed to train never heard from "
                "fit: pass the whole list on, siamese.fit(..., callbacks=list(callbacks))."
            )
        require(
            record.get("starts") == 1 and record.get("epochs") == list(range(epochs)),
            f"{shown} reported the epochs {record.get('epochs')} in {record.get('starts')} "
            f"call(s) of fit, instead of {list(range(epochs))} in one: call siamese.fit once, "
            "with epochs=epochs.",
        )
        require(
            record.get("batches") == steps * epochs,
            f"{shown} reported {record.get('batches')} batches to the callbacks instead of "
            f"{steps * epochs}.",
        )


def replay(kernel, bias, batches, steps: int, epochs: int, learning_rate: float):
    """(each epoch's loss, final kernel, final bias) of SGD with the MSE on the batches."""
    kernel, bias = np.asarray(kernel, np.float64), np.asarray(bias, np.float64)
    emb, losses, per_step = kernel.shape[1], [], []
    for inputs, targets in batches[: steps * epochs]:
        xs = [np.asarray(x, np.float64) for x in inputs]
        out = np.concatenate([x @ kernel + bias for x in xs], axis=1)
        diff = out - np.asarray(targets, np.float64)
        per_step.append(float(np.mean(diff**2)))
        grad = 2 * diff / diff.size
        parts = [grad[:, k * emb : (k + 1) * emb] for k in range(3)]
        kernel = kernel - learning_rate * sum(x.T @ g for x, g in zip(xs, parts, strict=True))
        bias = bias - learning_rate * sum(g.sum(0) for g in parts)
    for epoch in range(epochs):
        losses.append(float(np.mean(per_step[epoch * steps : (epoch + 1) * steps])))
    return losses, kernel, bias

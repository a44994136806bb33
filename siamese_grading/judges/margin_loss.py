"""Exercise 7.2, ``MarginTripletLoss``: a Keras loss that keeps its margin, judged here.

As strict as notebook 07's ``check_margin_loss`` and its hidden tests together, on
margins and batches drawn afresh for every notebook:

* the class is a registered ``keras.losses.Loss`` subclass (not in the course's
  ``helpers`` package), whose ``__init__`` passes ``name`` and ``reduction`` on;
* ``call`` gives one loss per triplet with its own margin, for two random margins
  and the default 0.2, all instances built before any is called (so instances that
  share one margin, e.g. a class attribute, show); Keras's mean and
  ``reduction="sum"`` of them;
* ``from_config(get_config())`` computes the same losses (the hidden test), and the
  worked example with alpha=0.5 gives 0, 0.39 and 0.59;
* a tiny Siamese-shaped model with the judge's weights, compiled with the class and
  a random margin, saved to a ``.keras`` file in the kernel's temporary folder and
  reloaded with ``keras.saving.load_model`` (no ``custom_objects``): the reloaded
  loss is the learner's class, keeps its name, and ``evaluate`` on the judge's
  images reports the mean of FaceNet's loss of the embeddings the judge computes
  in numpy from its own weights.

What only the kernel can say, it says as data: the numbers above, and three facts
that no input can randomise (that the class is a class, that it subclasses
``keras.losses.Loss``, and the name it is registered under). A kernel could lie
about those three, and could fake the save and reload; the numbers it must send
back still have to be FaceNet's, with the margin the judge drew.

Only numpy: the worker imports this module.
"""

from __future__ import annotations

import secrets

import numpy as np

from siamese_grading.references import loss_close, reference_dense_step, reference_loss
from siamese_grading.remote import Remote

from ._base import Failed, array, require, unwrap
from .loss import WORKED, triplet_batch

NAME = "MarginTripletLoss"
GET_CONFIG = 'return {**super().get_config(), "alpha": self.alpha}'
SIGNATURE = "def __init__(self, alpha=0.2, name=..., **kwargs)"
#: The hidden test: the worked example's losses with alpha=0.5.
WORKED_LOSS_05 = [0.0, 0.39, 0.59]

#: What the class is: data no input can change (see the module's docstring).
PROBE_CLASS = """
def probe(namespace, name):
    import keras
    cls = namespace[name]
    is_class = isinstance(cls, type)
    return {
        "is_class": is_class,
        "is_loss": is_class and issubclass(cls, keras.losses.Loss),
        "registered": keras.saving.get_registered_name(cls) if is_class else "",
    }
"""

#: Every instance is built before any is called: instances that share a margin show.
PROBE_CALLS = """
def probe(namespace, name, y_pred, margins, summed_margin, named, worked):
    import keras
    cls = namespace[name]
    losses = [cls(alpha=m) for m in margins] + [cls()]
    summed = cls(alpha=summed_margin, reduction="sum")
    named_loss = cls(alpha=margins[0], name=named)
    half = cls(alpha=0.5)
    t = keras.ops.convert_to_tensor(y_pred)
    zeros = keras.ops.zeros_like(t)
    calls = [loss.call(zeros, t) for loss in losses]
    means = [loss(zeros, t) for loss in losses]
    total = summed(zeros, t)
    copy = cls.from_config(losses[0].get_config())
    w = keras.ops.convert_to_tensor(worked)
    return {
        "calls": calls,
        "means": means,
        "sum": total,
        "copy": copy.call(zeros, t),
        "name": str(named_loss.name),
        "worked": half.call(keras.ops.zeros_like(w), w),
        "worked_copy": cls.from_config(half.get_config()).call(keras.ops.zeros_like(w), w),
    }
"""

#: Compile a tiny Siamese-shaped model with the class, save, reload, evaluate: data back.
PROBE_SAVED = """
def probe(namespace, name, margin, saved_name, images, kernel, bias, y_pred):
    import os, tempfile, warnings
    import keras
    cls = namespace[name]
    roles = ("anchor", "positive", "negative")
    inputs = [keras.Input(shape=(kernel.shape[0],), name=f"judge_{r}") for r in roles]
    shared = keras.layers.Dense(kernel.shape[1], kernel_initializer="zeros", name="judge_shared")
    joined = keras.layers.Concatenate(axis=-1, name="judge_concatenate")
    model = keras.Model(inputs, joined([shared(t) for t in inputs]), name="judge_saved_siamese")
    shared.set_weights([kernel, bias])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=cls(alpha=margin, name=saved_name)
    )
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "judge_siamese.keras")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(path)
            try:
                reloaded = keras.saving.load_model(path)
            except Exception as error:
                raise RuntimeError(f"keras.saving.load_model failed: {error}") from None
    targets = keras.ops.zeros((len(images[0]), 3 * kernel.shape[1]))
    value = reloaded.evaluate(list(images), targets, batch_size=len(images[0]), verbose=0)
    loss = reloaded.loss
    t = keras.ops.convert_to_tensor(y_pred)
    return {
        "same_class": type(loss) is cls,
        "name": str(getattr(loss, "name", "")),
        "evaluate": value,
        "call": loss.call(keras.ops.zeros_like(t), t),
    }
"""


def judge_margin_loss(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``MarginTripletLoss`` class (raises ``Failed`` at the first mistake).

    Examples
    --------
    >>> judge_margin_loss(remote, np.random.default_rng(0))  # a right answer: no error
    """
    check_class(remote)
    check_calls(remote, rng)
    check_saved(remote, rng)


def check_class(remote: Remote) -> None:
    """A class, a ``keras.losses.Loss``, registered outside the course's package."""
    facts = unwrap(remote.probe(PROBE_CLASS, NAME), NAME)
    require(isinstance(facts, dict), f"the grader could not read what {NAME} is")
    require(
        facts.get("is_class") is True,
        f"{NAME} must be a class: write class {NAME}(keras.losses.Loss) with __init__, call "
        "and get_config (not a function or functools.partial).",
    )
    require(
        facts.get("is_loss") is True,
        f"Your {NAME} is not a keras.losses.Loss: subclass it, class {NAME}(keras.losses.Loss).",
    )
    registered = facts.get("registered")
    require(
        isinstance(registered, str) and not registered.startswith("helpers>"),
        f"Your class is registered as {registered!r}, in the package 'helpers' where the course "
        "keeps its own losses: register it under a package of your own, "
        '@keras.saving.register_keras_serializable(package="learner").',
    )


def losses_of(result, what: str, batch: int) -> np.ndarray:
    """One finite loss per triplet, or :class:`Failed`."""
    out = array(result, what)
    require(out is not None, f"{what} returned None: did you forget `return`?")
    require(
        out.shape == (batch,),
        f"{what} returned shape {out.shape}; expected ({batch},), one loss per triplet: "
        "return triplet_loss(y_true, y_pred, alpha=self.alpha), without ops.sum or ops.mean "
        "(keras.losses.Loss reduces the losses itself).",
    )
    require(bool(np.isfinite(out).all()), f"{what} returned NaN or inf.")
    return out


def number(result, what: str) -> float:
    out = array(result, what)
    require(out is not None and out.size == 1, f"{what} should report one number for the batch")
    return float(out.ravel()[0])


def check_calls(remote: Remote, rng: np.random.Generator) -> None:
    """``call`` with its own margin per instance, the reductions, from_config, worked example."""
    batch = int(rng.integers(6, 14))
    y_pred = triplet_batch(rng, int(rng.integers(3, 10)), batch)
    margins = [float(m) for m in np.round(rng.uniform(0.3, 1.5, size=2), 3)]
    if abs(margins[0] - margins[1]) < 0.1:
        margins[1] = margins[0] + 0.25
    summed_margin = float(np.round(rng.uniform(0.3, 1.5), 3))
    named = f"judge_{secrets.token_hex(3)}"
    got = unwrap(
        remote.probe(PROBE_CALLS, NAME, y_pred, margins, summed_margin, named, WORKED), NAME
    )
    require(isinstance(got, dict), f"the grader could not read what {NAME} computes")
    calls, means = got.get("calls"), got.get("means")
    require(isinstance(calls, list) and len(calls) == 3, f"the grader could not read {NAME}.call")
    require(isinstance(means, list) and len(means) == 3, f"the grader could not read {NAME}(...)")
    for margin, shown, call, mean in zip(
        [*margins, 0.2], [*(f"alpha={m:g}" for m in margins), ""], calls, means, strict=True
    ):
        what = f"{NAME}({shown}).call(y_true, y_pred)"
        want = reference_loss(y_pred, margin)
        out = losses_of(call, what, batch)
        if not loss_close(out, want):
            raise Failed(wrong_call_message(what, out, y_pred, margin, margins, default=not shown))
        require(
            loss_close(number(mean, f"{NAME}({shown})(y_true, y_pred)"), want.mean()),
            f"{NAME}({shown})(y_true, y_pred), the call Keras makes, should report the mean of "
            "the per-triplet losses: define call(self, y_true, y_pred), not __call__.",
        )
    total = number(got.get("sum"), f"{NAME}(reduction='sum')(y_true, y_pred)")
    require(
        loss_close(total, reference_loss(y_pred, summed_margin).sum()),
        f"{NAME}(alpha={summed_margin:g}, reduction='sum') does not report the sum of the "
        "losses: your __init__ must pass **kwargs on to keras.losses.Loss, "
        "super().__init__(name=name, **kwargs).",
    )
    require(
        got.get("name") == named,
        f"{NAME}(name={named!r}) is named {got.get('name')!r}: pass the name argument on to the "
        "parent, super().__init__(name=name, **kwargs).",
    )
    copy = losses_of(got.get("copy"), f"{NAME}.from_config(loss.get_config()).call", batch)
    require(
        loss_close(copy, reference_loss(y_pred, margins[0])),
        f"{NAME}.from_config(loss.get_config()) must compute the same losses: get_config must "
        f"keep the margin, {GET_CONFIG}.",
    )
    worked = losses_of(got.get("worked"), f"{NAME}(alpha=0.5).call", len(WORKED))
    require(
        bool(np.allclose(worked, WORKED_LOSS_05, atol=1e-6)),
        "with alpha=0.5 the worked example's losses are 0, 0.39 and 0.59",
    )
    again = losses_of(got.get("worked_copy"), f"{NAME}.from_config(...).call", len(WORKED))
    require(
        bool(np.allclose(again, worked, atol=1e-6)),
        f"{NAME}.from_config(loss.get_config()) must compute the same losses",
    )


def wrong_call_message(what, out, y_pred, margin, margins, *, default: bool) -> str:
    """What a ``call`` whose losses are not FaceNet's with ``margin`` did wrong."""
    if default:
        return f"{NAME}() should use the default margin 0.2: keep the signature {SIGNATURE}."
    others = [m for m in (0.2, 0.5, *margins) if m != margin]
    same = [m for m in others if loss_close(out, reference_loss(y_pred, m))]
    if same:
        return (
            f"{what} uses the margin {same[0]:g}: every instance must keep its own, "
            "self.alpha = alpha, and call returns triplet_loss(y_true, y_pred, alpha=self.alpha)."
        )
    return (
        f"{what} differs from FaceNet's max(‖a−p‖² − ‖a−n‖² + alpha, 0) on a random batch: "
        "return triplet_loss(y_true, y_pred, alpha=self.alpha) (and make exercise 7.1 right "
        "first)."
    )


def check_saved(remote: Remote, rng: np.random.Generator) -> None:
    """A model compiled with the class, saved and reloaded, keeps the margin and the name."""
    image, emb, batch = int(rng.integers(4, 8)), int(rng.integers(2, 5)), 8
    images = [(rng.integers(-4, 5, size=(batch, image)) / 4).astype(np.float32) for _ in range(3)]
    kernel = (rng.integers(-4, 5, size=(image, emb)) / 8).astype(np.float32)
    bias = (rng.integers(-2, 3, size=emb) / 8).astype(np.float32)
    margin = float(np.round(rng.uniform(0.4, 1.5), 3))
    saved_name = f"judge_saved_{secrets.token_hex(3)}"
    y_pred = triplet_batch(rng, int(rng.integers(3, 9)), 10)
    reply = remote.probe(PROBE_SAVED, NAME, margin, saved_name, images, kernel, bias, y_pred)
    if reply.raised is not None:
        raised = reply.raised
        if raised.ename == "NotImplementedError":
            unwrap(reply, NAME)
        raise Failed(
            f"A model compiled with your {NAME}(alpha={margin:g}) cannot be saved and reloaded "
            f"with keras.saving.load_model ({raised.ename}: {raised.evalue[:200]}): register the "
            'class, @keras.saving.register_keras_serializable(package="learner"), and make '
            f"every key of get_config an argument of __init__: {GET_CONFIG}, {SIGNATURE}."
        )
    got = unwrap(reply, NAME)
    require(isinstance(got, dict), "the grader could not read the reloaded model")
    require(
        got.get("same_class") is True,
        f"The reloaded model's loss is not your {NAME}: another class is registered under its "
        'name; register yours under a name of its own, package="learner".',
    )
    out = losses_of(got.get("call"), f"The reloaded {NAME}.call", len(y_pred))
    if not loss_close(out, reference_loss(y_pred, margin)):
        default = loss_close(out, reference_loss(y_pred, 0.2))
        raise Failed(
            f"A model compiled with {NAME}(alpha={margin:g}) reloads with "
            + ("the default margin 0.2" if default else "a loss that computes something else")
            + f": Keras rebuilds the loss from its config; get_config must keep alpha, "
            f"{GET_CONFIG}."
        )
    loss = reference_dense_step(images, kernel, bias, margin, 0.0)[0]
    require(
        loss_close(number(got.get("evaluate"), "model.evaluate"), loss),
        f"The reloaded model's evaluate does not report the triplet loss with margin {margin:g}.",
    )
    require(
        got.get("name") == saved_name,
        f"The reloaded loss is named {got.get('name')!r} instead of {saved_name!r}: your "
        f"get_config drops the parent's config (name and reduction); start from it, {GET_CONFIG}.",
    )

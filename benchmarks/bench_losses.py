"""How much does online mining cost? One training step of each loss, timed.

For B = 128, 256 and 512 embeddings of size D = 64 per step, this times one
training step (forward, backward and an Adam update, in one ``tf.function``)
of each loss, on two models:

* ``variable``: the embeddings are a trainable (B, 64) variable, L2-normalised,
  so the step costs little more than the loss itself;
* ``mlp``: the course's ``build_embedding_model(kind="mlp")`` on B MNIST-sized
  inputs (784 -> 256 -> 64 -> L2), a realistic training step.

The losses: the course's ``triplet_loss`` on a Siamese network (B // 3
triplets, so also B images a step), batch-all, batch-hard, soft batch-hard,
semi-hard, and a naive semi-hard that compares every (a, p) with every n
through a B x B x B tensor, written below to show what the sorted version of
``helpers.semi_hard_triplet_loss`` saves. Labels: 10 classes, balanced.

It prints the best time of several rounds (the losses take turns in every
round, so a busy machine slows them all alike) and the ratio to batch-hard,
and records them (section ``losses`` of ``helpers/benchmark_results.json``,
rendered into the README). The goal: semi-hard at most 2x batch-hard at B = 256.

Run: ``python benchmarks/bench_losses.py`` (about 4 minutes on 2 CPU cores).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import timeit  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _results import record  # noqa: E402
from keras import ops  # noqa: E402

from helpers import build_embedding_model, build_siamese_network, triplet_loss  # noqa: E402
from helpers.losses import (  # noqa: E402
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    pairwise_distances,
    semi_hard_triplet_loss,
)

BATCH_SIZES = (128, 256, 512)
EMB_SIZE = 64
N_CLASSES = 10
ROUNDS = 15
NAIVE_ROUNDS = 3  # the naive loss takes seconds per step at B = 512


def naive_semi_hard_triplet_loss(y_true, y_pred, margin=0.2):
    """Semi-hard loss the direct way: a (B, B, B) tensor of every (a, p, n)."""
    labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    dist = pairwise_distances(y_pred)
    same = ops.equal(labels[:, None], labels[None, :])
    pos_mask = ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(dist)[0], dtype="bool")))
    neg_mask = ops.logical_not(same)
    d_ap = dist[:, :, None]  # (a, p, 1)
    d_an = dist[:, None, :]  # (a, 1, n)
    farther = ops.logical_and(neg_mask[:, None, :], d_an > d_ap)  # (a, p, n)
    far = ops.stop_gradient(ops.max(dist)) + 1.0
    semi_hard = ops.min(ops.where(farther, d_an, far), axis=2)
    hardest = ops.max(ops.where(neg_mask, dist, 0.0), axis=1, keepdims=True)
    neg_dist = ops.where(ops.any(farther, axis=2), semi_hard, hardest)
    valid = ops.logical_and(pos_mask, ops.any(neg_mask, axis=1, keepdims=True))
    total = ops.sum(ops.where(valid, ops.relu(dist - neg_dist + margin), 0.0))
    count = ops.sum(ops.cast(pos_mask, dist.dtype))
    return ops.where(count > 0, total / ops.maximum(count, 1.0), 0.0)


def soft_batch_hard(y_true, y_pred):
    return batch_hard_triplet_loss(y_true, y_pred, soft=True)


ONLINE_LOSSES = {
    "batch-all": batch_all_triplet_loss,
    "batch-hard": batch_hard_triplet_loss,
    "soft batch-hard": soft_batch_hard,
    "semi-hard": semi_hard_triplet_loss,
    "naive semi-hard (BxBxB)": naive_semi_hard_triplet_loss,
}


class VariableEmbedding:
    """'Model' whose output is a trainable (batch, 64) matrix, L2-normalised; ignores x."""

    def __init__(self, batch: int, rng: np.random.Generator):
        self.table = keras.Variable(rng.normal(size=(batch, EMB_SIZE)).astype("float32"))
        self.trainable_variables = [self.table]

    def __call__(self, x, training=False):
        return self.table / ops.norm(self.table, axis=1, keepdims=True)


def make_step(model, loss_fn):
    """One compiled training step: forward, backward, Adam update."""
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            # Keras averages what a loss returns: triplet_loss's per-triplet vector, or a scalar.
            loss = ops.mean(loss_fn(y, model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


def steps_for(setting: str, batch: int, rng: np.random.Generator):
    """Every loss's step function with its inputs, for one model and batch size."""
    labels = np.arange(batch) % N_CLASSES
    steps = {}
    if setting == "variable":
        x = np.zeros((batch, 1), "float32")
        build = lambda: VariableEmbedding(batch, rng)  # noqa: E731
    else:
        x = rng.random((batch, 784), dtype=np.float32)
        build = lambda: build_embedding_model((784,), EMB_SIZE, kind="mlp")  # noqa: E731
        n = batch // 3
        steps["triplet_loss (Siamese, B/3 triplets)"] = (
            make_step(build_siamese_network(build()), triplet_loss),
            [x[:n], x[n : 2 * n], x[2 * n : 3 * n]],
            np.zeros(n, "float32"),
        )
    for name, loss_fn in ONLINE_LOSSES.items():
        steps[name] = (make_step(build(), loss_fn), x, labels)
    # Tensors, not numpy arrays: no conversion inside the timed calls.
    return {
        name: (step, tf.nest.map_structure(tf.constant, x), tf.constant(y))
        for name, (step, x, y) in steps.items()
    }


def check_naive_matches(rng: np.random.Generator) -> None:
    labels = np.arange(96) % N_CLASSES
    emb = rng.normal(size=(96, EMB_SIZE)).astype("float32")
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    fast = float(semi_hard_triplet_loss(labels, emb))
    naive = float(naive_semi_hard_triplet_loss(labels, emb))
    assert abs(fast - naive) < 1e-5, (fast, naive)


def time_steps(steps: dict) -> dict[str, float]:
    """Best milliseconds per step over ROUNDS rounds, the steps taking turns."""
    for step, x, y in steps.values():  # warm up: trace and run twice
        step(x, y)
        step(x, y)
    best = dict.fromkeys(steps, float("inf"))
    for round_ in range(ROUNDS):
        for name, (step, x, y) in steps.items():
            naive = name.startswith("naive")
            if naive and round_ >= NAIVE_ROUNDS:
                continue
            number = 1 if naive else 3
            seconds = timeit.timeit(lambda s=step, a=x, b=y: float(s(a, b)), number=number)
            best[name] = min(best[name], 1e3 * seconds / number)
    return best


def print_table(setting: str, results: dict[int, dict[str, float]]) -> None:
    names = list(next(iter(results.values())))
    header = f"{'loss':38s}" + "".join(f"{'B=' + str(b):>18s}" for b in results)
    print(f"\n[{setting}] ms per training step (ratio to batch-hard)")
    print(header)
    print("-" * len(header))
    for name in names:
        cells = []
        for res in results.values():
            cells.append(f"{res[name]:9.2f} ({res[name] / res['batch-hard']:5.2f}x)")
        print(f"{name:38s}" + "".join(f"{c:>18s}" for c in cells))


def main() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    check_naive_matches(rng)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores")
    ratios, tables = {}, {}
    for setting in ("variable", "mlp"):
        results = {b: time_steps(steps_for(setting, b, rng)) for b in BATCH_SIZES}
        print_table(setting, results)
        tables[setting] = results
        ratios[setting] = results[256]["semi-hard"] / results[256]["batch-hard"]
    for setting, ratio in ratios.items():
        verdict = "meets" if ratio <= 2.0 else "misses"
        print(f"{setting}: semi-hard / batch-hard at B=256 = {ratio:.2f} ({verdict} the 2x goal)")
    record(
        "losses",
        {
            "setting": f"one training step (forward, backward, Adam), D = {EMB_SIZE}, "
            f"{N_CLASSES} balanced classes, best of {ROUNDS} rounds ({NAIVE_ROUNDS} for the naive "
            "loss); mlp: build_embedding_model(kind='mlp'), variable: a trainable (B, 64) matrix",
            "batch_sizes": list(BATCH_SIZES),
            "ms_per_step": {
                setting: {
                    name: {str(b): round(results[b][name], 1) for b in BATCH_SIZES}
                    for name in next(iter(results.values()))
                }
                for setting, results in tables.items()
            },
            "semi_hard_over_batch_hard_at_256": {
                setting: round(ratio, 2) for setting, ratio in ratios.items()
            },
        },
        script=__file__,
    )


if __name__ == "__main__":
    main()

"""Which embedding model should the course use? Train each on random triplets, compare P@1.

P@1: the share of the 1000 bundled test images whose nearest training embedding
(Euclidean) has the same digit. Every model is trained the same way: random
triplets from ``data_generator``, Adam (lr 1e-3), margin 0.2, 5 epochs of 25
steps of 256 triplets, seed 42. The original recipe is also trained with the
original course's loss (squared distances averaged over the dimension).

Run: ``python benchmarks/bench_embedding.py`` (about 2 minutes on 2 CPU cores).
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _results import record  # noqa: E402
from keras import ops  # noqa: E402

from helpers import (  # noqa: E402
    build_embedding_model,
    build_siamese_network,
    data_generator,
    load_mnist,
    triplet_loss,
)

SEED, EMB_SIZE, BATCH, STEPS, EPOCHS = 42, 64, 256, 25, 5


def precision_at_1(test_emb, test_y, train_emb, train_y):
    """Nearest training embedding by brute force (1000 x 4000 fits in memory)."""
    d2 = (test_emb**2).sum(1)[:, None] + (train_emb**2).sum(1)[None, :] - 2 * test_emb @ train_emb.T
    return float(np.mean(train_y[d2.argmin(axis=1)] == test_y))


def original_course_loss(y_true, y_pred, alpha=0.2):
    """The original course's loss: squared distances averaged (not summed) over the dimension."""
    emb = y_pred.shape[-1] // 3
    a, p, n = y_pred[:, :emb], y_pred[:, emb : 2 * emb], y_pred[:, 2 * emb :]
    pos = ops.mean(ops.square(a - p), axis=1)
    neg = ops.mean(ops.square(a - n), axis=1)
    return ops.maximum(pos - neg + alpha, 0.0)


def score(embedding, data):
    (x_train, y_train), (x_test, y_test) = data
    return precision_at_1(
        embedding.predict(x_test, verbose=0), y_test, embedding.predict(x_train, verbose=0), y_train
    )


def untrained(kind, data):
    """P@1 of a freshly built model, seeded as every notebook seeds it (seed, then build)."""
    keras.utils.set_random_seed(SEED)
    return score(build_embedding_model(emb_size=EMB_SIZE, kind=kind), data)


def train_and_score(kind, loss, data):
    (x_train, y_train), _ = data
    keras.utils.set_random_seed(SEED)
    embedding = build_embedding_model(emb_size=EMB_SIZE, kind=kind)
    siamese = build_siamese_network(embedding)
    siamese.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    gen = data_generator(x_train, y_train, BATCH, EMB_SIZE, rng=SEED)
    start = time.perf_counter()
    siamese.fit(gen, steps_per_epoch=STEPS, epochs=EPOCHS, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    return score(embedding, data), seconds


#: (key in the results file, label, kind of build_embedding_model, loss)
MODELS = [
    ("original_mean", "original: Dense 64 -> sigmoid, mean loss", "original", original_course_loss),
    ("original_summed", "original: Dense 64 -> sigmoid, summed loss", "original", triplet_loss),
    ("mlp", "MLP: Dense 256 -> L2 norm", "mlp", triplet_loss),
    ("conv", "default: convnet -> L2 norm", "conv", triplet_loss),
]


def main():
    data = load_mnist("bundled")
    (x_train, y_train), (x_test, y_test) = data
    raw = precision_at_1(x_test, y_test, x_train, y_train)
    models = {}
    print(f"Random triplets, margin 0.2, {EPOCHS} epochs x {STEPS} steps x {BATCH}, seed {SEED}")
    print(f"{'embedding model':<44} {'P@1':>6} {'untrained':>10} {'train s':>8}")
    print(f"{'raw pixels (no training)':<44} {raw:6.3f}")
    for key, label, kind, loss in MODELS:
        p1, seconds = train_and_score(kind, loss, data)
        p1_untrained = untrained(kind, data)
        models[key] = {
            "p1": round(p1, 3),
            "p1_untrained": round(p1_untrained, 3),
            "train_s": round(seconds, 1),
        }
        print(f"{label:<44} {p1:6.3f} {p1_untrained:10.3f} {seconds:8.1f}", flush=True)
    record(
        "embedding",
        {
            "split": "bundled (4,000 training / 1,000 test images)",
            "training": f"random triplets, margin 0.2, {EPOCHS} epochs of {STEPS} steps of "
            f"{BATCH} triplets, seed {SEED}",
            "raw_pixels_p1": round(raw, 3),
            "models": models,
        },
        script=__file__,
    )


if __name__ == "__main__":
    main()

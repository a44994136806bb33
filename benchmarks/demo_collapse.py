"""See an embedding collapse, and CollapseMonitor catch it.

An MLP with L2 normalisation (``build_embedding_model(kind="mlp")``) is
trained on the bundled MNIST split with batch-hard mining, balanced P x K
batches (10 digits x 12 images) and Adam at a learning rate that is too high
(1e-2). The hardest negative of every anchor pulls the whole embedding
together faster than the hardest positive pushes it apart, and within a few
epochs every image lands on the same point of the sphere: every distance is
0, the loss sits at the margin (0.2), and precision@1 (test queries against
training references) drops to the chance level of about 0.10.

The second run keeps everything but the loss: semi-hard mining does not
collapse, and the monitor stays silent.

Run: ``python benchmarks/demo_collapse.py`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("SIAMESE_MNIST_SOURCE", "bundled")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from helpers import balanced_generator, build_embedding_model, load_mnist  # noqa: E402
from helpers.losses import batch_hard_triplet_loss, semi_hard_triplet_loss  # noqa: E402
from helpers.monitoring import CollapseMonitor, EmbeddingCollapseWarning  # noqa: E402

try:
    from helpers.metrics import precision_at_1
except ImportError:  # metrics.py not there yet: a plain 1-nearest-neighbour search
    from sklearn.neighbors import NearestNeighbors

    def precision_at_1(query_emb, query_labels, ref_emb, ref_labels):
        nearest = NearestNeighbors(n_neighbors=1).fit(ref_emb).kneighbors(query_emb)[1][:, 0]
        return float(np.mean(ref_labels[nearest] == query_labels))


SEED = 0
LOSSES = {"batch-hard": batch_hard_triplet_loss, "semi-hard": semi_hard_triplet_loss}


def p_at_1(model, data) -> float:
    (x_train, y_train), (x_test, y_test) = data
    emb_train = model.predict(x_train, verbose=0)
    emb_test = model.predict(x_test, verbose=0)
    return precision_at_1(emb_test, y_test, emb_train, y_train)


def run(loss_name: str, data, *, lr: float, epochs: int, steps: int) -> None:
    (x_train, y_train), (x_test, _) = data
    keras.utils.set_random_seed(SEED)
    model = build_embedding_model((784,), 64, kind="mlp")
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=LOSSES[loss_name])
    monitor = CollapseMonitor(x_test[:200], margin=0.2)
    before = p_at_1(model, data)
    batches = balanced_generator(x_train, y_train, 10, 12, rng=SEED)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmbeddingCollapseWarning)
        model.fit(batches, steps_per_epoch=steps, epochs=epochs, verbose=0, callbacks=[monitor])
    seconds = time.perf_counter() - start
    after = p_at_1(model, data)

    print(f"\n=== {loss_name}, Adam({lr:g}), {epochs} epochs x {steps} batches of 10 x 12 ===")
    print("epoch  mean probe distance  loss")
    for epoch, dist, loss in zip(*monitor.history.values(), strict=True):
        print(f"{epoch:5g}  {dist:19.4g}  {loss:.4f}")
    print(f"P@1 (test vs train): before {before:.3f}, after {after:.3f}   [{seconds:.0f} s]")
    collapse = [w for w in caught if issubclass(w.category, EmbeddingCollapseWarning)]
    if collapse:
        print(f"{len(collapse)} EmbeddingCollapseWarning: {collapse[0].message}")
    else:
        print("CollapseMonitor: no warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=list(LOSSES))
    args = parser.parse_args()
    data = load_mnist("bundled")
    for loss_name in args.losses:
        run(loss_name, data, lr=args.lr, epochs=args.epochs, steps=args.steps)


if __name__ == "__main__":
    main()

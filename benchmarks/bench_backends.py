"""How fast is the course on each Keras backend? TensorFlow, JAX and PyTorch side by side.

Each backend runs in its own subprocess (a backend is chosen once per process, with
``KERAS_BACKEND``), one after the other in one run, so the ratios share one machine state:

- **import**: ``import keras`` and ``import helpers`` in a fresh process, in s;
- **train step**: one ``train_on_batch`` of the course's Siamese network (the default
  convnet, 64-D) on 256 triplets with ``TripletLoss``, median of 10 after 3 warm-ups, in ms;
- **loss forward**: each loss of ``helpers.losses`` called once on a batch of 256 (eager,
  median of 10 after 2 warm-ups), in ms;
- **P@1** after the same training (seed 42, 50 steps of 128 random triplets, Adam 1e-3,
  margin 0.2) on the bundled split, and its training time in s.

Run: ``python benchmarks/bench_backends.py`` (several minutes on 2 CPU cores); it records its
figures in helpers/benchmark_results.json (section ``backends``), which
``scripts/render_results.py`` turns into the README's table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BACKENDS = ("tensorflow", "jax", "torch")
SEED, BATCH, STEP_REPEATS, LOSS_REPEATS = 42, 256, 10, 10
TRAIN_STEPS, TRAIN_BATCH = 50, 128
ROOT = Path(__file__).resolve().parents[1]


def _median_ms(func, repeats: int, warmups: int) -> float:
    for _ in range(warmups):
        func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def worker() -> dict:
    """Measure the active backend (run in a subprocess with KERAS_BACKEND set)."""
    start = time.perf_counter()
    import keras
    import numpy as np

    import helpers

    import_s = time.perf_counter() - start
    from helpers import losses

    (x_train, y_train), (x_test, y_test) = helpers.load_mnist("bundled")
    keras.utils.set_random_seed(SEED)
    embedding = helpers.build_embedding_model()
    siamese = helpers.build_siamese_network(embedding)
    siamese.compile(optimizer=keras.optimizers.Adam(1e-3), loss=helpers.TripletLoss(alpha=0.2))
    triplets, targets = next(helpers.data_generator(x_train, y_train, BATCH, rng=0))
    step_ms = _median_ms(lambda: siamese.train_on_batch(list(triplets), targets), STEP_REPEATS, 3)

    rng = np.random.default_rng(0)
    y_pred = keras.ops.convert_to_tensor(rng.normal(size=(BATCH, 192)).astype("float32"))
    emb = rng.normal(size=(BATCH, 64)).astype("float32")
    emb = keras.ops.convert_to_tensor(emb / np.linalg.norm(emb, axis=1, keepdims=True))
    labels = keras.ops.convert_to_tensor(rng.integers(0, 10, size=BATCH))
    calls = {
        "triplet_loss": lambda: losses.triplet_loss(None, y_pred),
        "batch_all": lambda: losses.batch_all_triplet_loss(labels, emb),
        "batch_hard": lambda: losses.batch_hard_triplet_loss(labels, emb),
        "semi_hard": lambda: losses.semi_hard_triplet_loss(labels, emb),
    }
    loss_ms = {
        name: _median_ms(lambda c=call: keras.ops.convert_to_numpy(c()), LOSS_REPEATS, 2)
        for name, call in calls.items()
    }

    keras.utils.set_random_seed(SEED)
    embedding = helpers.build_embedding_model()
    siamese = helpers.build_siamese_network(embedding)
    siamese.compile(optimizer=keras.optimizers.Adam(1e-3), loss=helpers.TripletLoss(alpha=0.2))
    stream = helpers.data_generator(x_train, y_train, TRAIN_BATCH, rng=SEED)
    start = time.perf_counter()
    siamese.fit(stream, steps_per_epoch=TRAIN_STEPS, epochs=1, verbose=0)
    train_s = time.perf_counter() - start
    p1 = helpers.precision_at_1(
        helpers.embed(embedding, x_test), y_test, helpers.embed(embedding, x_train), y_train
    )
    return {
        "import_s": round(import_s, 2),
        "train_step_ms": round(step_ms, 1),
        "loss_forward_ms": {k: round(v, 2) for k, v in loss_ms.items()},
        "train_s": round(train_s, 1),
        "p1": round(float(p1), 3),
        "version": _version(keras.backend.backend()),
    }


def _version(backend: str) -> str:
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    return __import__(module).__version__


def main() -> None:
    from _results import record

    figures = {}
    for backend in BACKENDS:
        env = {
            **os.environ,
            "KERAS_BACKEND": backend,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, __file__, "--worker"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        figures[backend] = json.loads(out.strip().splitlines()[-1])
        print(f"{backend}: {figures[backend]} ({time.perf_counter() - start:.0f} s)", flush=True)
    record(
        "backends",
        {
            "setting": (
                f"train step: Siamese convnet, {BATCH} triplets, median of {STEP_REPEATS}; "
                f"losses: batch {BATCH}, eager, median of {LOSS_REPEATS}; P@1 after "
                f"{TRAIN_STEPS} steps of {TRAIN_BATCH} triplets, seed {SEED}, bundled split"
            ),
            "backends": figures,
        },
        script=__file__,
    )


if __name__ == "__main__":
    if "--worker" in sys.argv:
        print(json.dumps(worker()))
    else:
        main()

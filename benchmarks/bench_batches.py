"""How much faster is the vectorised triplet sampler than the original per-sample loop?

The original course built each triplet with two ``np.where`` calls over all the
labels. This script re-implements that loop and times it against
``create_batch`` (called afresh, so it re-derives the class structure each
time) and against the next batch of ``data_generator`` (which precomputes it
once), at batch 256 over 60,000 synthetic labels, best of N with ``timeit``.

Run: ``python benchmarks/bench_batches.py``. Goals: >= 10x and >= 100x.
"""

import os
import timeit

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # helpers imports Keras

import numpy as np  # noqa: E402
from _results import record  # noqa: E402

from helpers import create_batch, data_generator  # noqa: E402

N_EXAMPLES, BATCH, SEED = 60_000, 256, 0


def original_create_batch(x, y, batch_size, rng):
    """The original course's loop: two np.where over all labels for every triplet."""
    anchors = np.zeros((batch_size, *x.shape[1:]), dtype=x.dtype)
    positives = np.zeros_like(anchors)
    negatives = np.zeros_like(anchors)
    for i in range(batch_size):
        anchor = rng.integers(0, len(x))
        same = np.where(y == y[anchor])[0]
        same = same[same != anchor]
        other = np.where(y != y[anchor])[0]
        anchors[i] = x[anchor]
        positives[i] = x[rng.choice(same)]
        negatives[i] = x[rng.choice(other)]
    return [anchors, positives, negatives]


def best_of(func, number, repeat=7):
    """Best time per call, in seconds."""
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number


def main():
    rng = np.random.default_rng(SEED)
    x = rng.random((N_EXAMPLES, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=N_EXAMPLES)
    loop_rng, fresh_rng = np.random.default_rng(1), np.random.default_rng(2)
    generator = data_generator(x, y, BATCH, rng=3)

    loop = best_of(lambda: original_create_batch(x, y, BATCH, loop_rng), number=3)
    fresh = best_of(lambda: create_batch(x, y, BATCH, rng=fresh_rng), number=10)
    streamed = best_of(lambda: next(generator), number=50)

    print(f"batch {BATCH} over {N_EXAMPLES:,} labels (784 float32 features), best of 7")
    print(f"{'method':<40} {'ms/batch':>9} {'speed-up':>9}")
    print(f"{'original loop (2 np.where per sample)':<40} {loop * 1e3:9.2f} {1:9.1f}x")
    print(f"{'create_batch (called afresh)':<40} {fresh * 1e3:9.2f} {loop / fresh:9.1f}x")
    print(f"{'data_generator (next batch)':<40} {streamed * 1e3:9.2f} {loop / streamed:9.1f}x")
    record(
        "batches",
        {
            "setting": f"batch {BATCH} over {N_EXAMPLES:,} labels, best of 7 with timeit",
            "ms_per_batch": {
                "original_loop": round(loop * 1e3, 2),
                "create_batch": round(fresh * 1e3, 2),
                "data_generator": round(streamed * 1e3, 2),
            },
        },
        script=__file__,
    )


if __name__ == "__main__":
    main()

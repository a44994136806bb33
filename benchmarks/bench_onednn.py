"""Does TensorFlow's oneDNN help the course on a CPU? Train the convnet with it on and off.

Each setting runs in its own process (``TF_ENABLE_ONEDNN_OPTS`` is read when TensorFlow
starts): build the course's default convnet, compile it with the triplet loss, run 5 warm-up
steps (tracing), then time 25 training steps of 256 random triplets, seed 42.

Run: ``python benchmarks/bench_onednn.py`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from _results import record

STEPS, WARM_UP, BATCH, SEED = 25, 5, 256, 42

CHILD = f"""
import json, time
import helpers, keras
(x, y), _ = helpers.load_mnist("bundled")
keras.utils.set_random_seed({SEED})
embedding = helpers.build_embedding_model(emb_size=64)
siamese = helpers.build_siamese_network(embedding)
siamese.compile(optimizer=keras.optimizers.Adam(1e-3), loss=helpers.TripletLoss(alpha=0.2))
stream = helpers.data_generator(x, y, {BATCH}, 64, rng={SEED})
siamese.fit(stream, steps_per_epoch={WARM_UP}, epochs=1, verbose=0, shuffle=False)
start = time.perf_counter()
siamese.fit(stream, steps_per_epoch={STEPS}, epochs=1, verbose=0, shuffle=False)
print(json.dumps(time.perf_counter() - start))
"""


def timed(onednn: bool) -> float:
    env = {
        **os.environ,
        "TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "SIAMESE_MNIST_SOURCE": "bundled",
    }
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    on, off = timed(True), timed(False)
    print(f"{STEPS} training steps of {BATCH} triplets after {WARM_UP} warm-up steps:")
    print(f"oneDNN on  {on:6.1f} s\noneDNN off {off:6.1f} s  ({off / on:.2f}x the time)")
    record(
        "onednn",
        {
            "setting": f"{STEPS} steps of {BATCH} triplets after {WARM_UP} warm-up steps, convnet",
            "on_s": round(on, 1),
            "off_s": round(off, 1),
        },
        script=__file__,
    )


if __name__ == "__main__":
    main()

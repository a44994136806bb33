"""Which training recipe gives the best embedding? Random triplets against online mining.

The recipe comparison of ``notebooks/09_going_further.ipynb``, with the same settings, repeated
over three seeds, plus the variations that the notebook only quotes. Nothing is imported from the
notebook; the notebook reads what this script records (sections ``recipes`` and ``open_set`` of
``helpers/benchmark_results.json``) and prints it next to its own one-seed run.

Every recipe trains a fresh ``build_embedding_model(emb_size=256)`` (small convnet, L2-normalised)
with Adam (learning rate 3e-3, cosine decay to 0), margin 0.2 and random shifts of the training
images by up to 1 pixel in x and y. **Every recipe uses the same distance**, the course's
d(x, y) = ||f(x) - f(y)||^2 (squared Euclidean): ``triplet_loss`` has no other, and the mining
losses are called with ``squared=True``. One step sees 120 images in every recipe:

* random triplets: the Siamese network with ``triplet_loss`` on 40 random triplets from
  ``data_generator``;
* batch-all, batch-hard, semi-hard: the embedding model alone on P x K = 10 x 12 batches from
  ``balanced_generator``, with the mining losses of ``helpers.losses``.

The budget is a number of steps, not of seconds, so that the scores do not depend on the machine.
The cost of a step is measured apart from the training runs, after a warm-up: every recipe first
runs ``WARMUP_STEPS`` steps (which include tracing the training function); then the recipes take
turns, ``TIMING_STEPS`` steps each, for ``TIMING_ROUNDS`` rounds, so that a busy machine slows
them all alike, and each recipe keeps its best round (``time_recipes``).
Every figure is the mean and the sample standard deviation over ``SEEDS`` (the seed of the
weights, of the batches and of the shifts). The race gives every recipe ``RACE_STEPS`` steps; the
winner (highest mean MAP@R) is then trained for ``FINAL_STEPS`` steps, and varied one setting at a
time. Scores: P@1, R-precision and MAP@R of the queries (1,000 test images: all of them on the
bundled split) against the references (400 training images per digit: all of them on the bundled
split), as in the notebook.

Open set: the winner is trained for ``OPEN_STEPS`` steps on the digits 0-6 only (P x K = 7 x 17).
Recorded, for n enrolled reference images per digit (means over ``DRAWS`` random galleries): P@1
of the test 7s, 8s and 9s against a gallery of the three new digits, for the embedding and for raw
pixels, and, as the yardstick for the same model, P@1 of test images of three *trained* digits
(drawn at random for each gallery) against a gallery of those three. Then, with one new digit left
out of the 5-image gallery, the share of its test images rejected as unknown and the share of the
enrolled digits' test images falsely rejected, at the best-F1 threshold of pairs of test images of
the digits 0-6 (Euclidean distance ||f(x) - f(y)||, as ``helpers.sample_pairs`` returns it).

Run: ``python benchmarks/bench_recipes.py`` (about 12 minutes on 2 CPU cores).
"""

import functools
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # oneDNN stays on: twice as fast here

import helpers  # noqa: E402, I001  (first: it starts TensorFlow quietly)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from _results import record  # noqa: E402

SEEDS = (42, 43, 44)
P, K, LEARNING_RATE, MARGIN, MAX_SHIFT, EMB_SIZE = 10, 12, 3e-3, 0.2, 1, 256
RACE_STEPS, FINAL_STEPS, OPEN_STEPS = 100, 300, 150
WARMUP_STEPS, TIMING_ROUNDS, TIMING_STEPS = 5, 15, 5
N_QUERIES, REFS_PER_DIGIT, EVAL_SEED = 1000, 400, 42
MINING_LOSSES = {
    "batch-all": helpers.batch_all_triplet_loss,
    "batch-hard": helpers.batch_hard_triplet_loss,
    "semi-hard": helpers.semi_hard_triplet_loss,
}
RECIPES = ["random triplets", *MINING_LOSSES]
VARIANTS = {
    "no shifts": {"max_shift": 0},
    "shifts <= 2 px": {"max_shift": 2},
    "margin 0.1": {"margin": 0.1},
    "margin 0.4": {"margin": 0.4},
    "64-D embedding": {"emb_size": 64},
}
NEW_DIGITS, KNOWN_DIGITS = (7, 8, 9), tuple(range(7))
ENROLLED, DRAWS, SHOTS = (1, 2, 5, 10, 20, 50, 100, 400), 20, 5
SCORES = {
    "p1": "precision_at_1",
    "r_precision": "r_precision",
    "map_at_r": "mean_average_precision_at_r",
}


def random_shift(images, rng, max_shift=MAX_SHIFT):
    """Shift each flattened 28x28 image by up to ``max_shift`` pixels in x and y (black fill)."""
    if max_shift == 0:
        return images
    n, pad = len(images), ((0, 0), (max_shift, max_shift), (max_shift, max_shift))
    padded = np.pad(images.reshape(n, 28, 28), pad)
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = dy[:, None, None] + np.arange(28)[None, :, None]
    cols = dx[:, None, None] + np.arange(28)[None, None, :]
    return padded[np.arange(n)[:, None, None], rows, cols].reshape(n, -1)


def batches(recipe, x, y, seed, classes_per_batch, samples_per_class, max_shift, emb_size):
    """Endless training batches of one recipe, shifted at random."""
    shift_rng = np.random.default_rng(seed)
    if recipe == "random triplets":
        n_triplets = classes_per_batch * samples_per_class // 3
        for triplet, target in helpers.data_generator(x, y, n_triplets, emb_size, rng=seed):
            yield tuple(random_shift(images, shift_rng, max_shift) for images in triplet), target
    else:
        pk = helpers.balanced_generator(x, y, classes_per_batch, samples_per_class, rng=seed)
        for images, labels in pk:
            yield random_shift(images, shift_rng, max_shift), labels


def compiled(recipe, seed, steps, margin=MARGIN, emb_size=EMB_SIZE):
    """A fresh embedding model and the network that trains it, compiled for ``steps`` steps."""
    keras.utils.set_random_seed(seed)
    model = helpers.build_embedding_model(emb_size=emb_size)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps))
    if recipe == "random triplets":
        network = helpers.build_siamese_network(model)
        loss = functools.partial(helpers.triplet_loss, alpha=margin)  # squared distances
    else:
        network = model
        loss = functools.partial(MINING_LOSSES[recipe], margin=margin, squared=True)
    network.compile(optimizer=optimizer, loss=loss)
    return model, network


def train(recipe, x, y, steps, seed, *, classes_per_batch=P, samples_per_class=K, **options):
    """Train a fresh embedding model with one recipe and return it.

    ``options``: ``margin``, ``max_shift`` and ``emb_size``, by default the notebook's.
    """
    emb_size = options.get("emb_size", EMB_SIZE)
    model, network = compiled(recipe, seed, steps, options.get("margin", MARGIN), emb_size)
    max_shift = options.get("max_shift", MAX_SHIFT)
    data = batches(recipe, x, y, seed, classes_per_batch, samples_per_class, max_shift, emb_size)
    network.fit(data, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return model


def time_recipes(x, y, seed):
    """Best milliseconds per step of every recipe, after a warm-up, the recipes taking turns.

    Each recipe first runs ``WARMUP_STEPS`` steps (the first traces the training function).
    Then, ``TIMING_ROUNDS`` times, every recipe in turn runs ``TIMING_STEPS`` steps (drawing its
    batch and one ``train_on_batch``), so that a busy machine slows them all alike; each keeps its
    best round.
    """
    runs = {}
    for recipe in RECIPES:
        _, network = compiled(recipe, seed, RACE_STEPS)
        runs[recipe] = (network, batches(recipe, x, y, seed, P, K, MAX_SHIFT, EMB_SIZE))

    def step(network, data):
        inputs, target = next(data)
        network.train_on_batch(list(inputs) if isinstance(inputs, tuple) else inputs, target)

    for network, data in runs.values():
        for _ in range(WARMUP_STEPS):
            step(network, data)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(TIMING_ROUNDS):
        for recipe, (network, data) in runs.items():
            start = time.perf_counter()
            for _ in range(TIMING_STEPS):
                step(network, data)
            best[recipe] = min(best[recipe], 1e3 * (time.perf_counter() - start) / TIMING_STEPS)
    return best


def evaluation_rows(y_train, y_test):
    """The notebook's queries (1,000 test rows) and references (400 training rows per digit)."""
    queries = np.sort(np.random.default_rng(EVAL_SEED).permutation(len(y_test))[:N_QUERIES])
    refs = np.sort(
        np.concatenate(
            [
                np.random.default_rng([EVAL_SEED, d]).permutation(np.flatnonzero(y_train == d))[
                    :REFS_PER_DIGIT
                ]
                for d in range(10)
            ]
        )
    )
    return queries, refs


def embed(model, images):
    return helpers.embed(model, images, batch_size=500)


def retrieval(model, data):
    (x_q, y_q), (x_r, y_r) = data
    scores = helpers.retrieval_scores(embed(model, x_q), y_q, embed(model, x_r), y_r)
    return {key: scores[name] for key, name in SCORES.items()}


def summary(runs):
    """Mean and sample standard deviation over the seeds of every figure of ``runs``."""
    out = {}
    for key in runs[0]:
        values = np.array([run[key] for run in runs], dtype=float)
        digits = 1 if key == "ms_per_step" else 3
        out[key] = {
            "mean": round(float(values.mean()), digits),
            "sd": round(float(values.std(ddof=1)), digits),
        }
    return out


def run_seeds(recipe, x, y, steps, data, ms_per_step=None, **options):
    """Scores over the seeds (and the step times of ``ms_per_step``: seed -> recipe -> ms)."""
    runs = []
    for seed in SEEDS:
        runs.append(retrieval(train(recipe, x, y, steps, seed, **options), data))
        if ms_per_step is not None:
            runs[-1]["ms_per_step"] = ms_per_step[seed][recipe]
        print(f"  {recipe} {options or ''} seed {seed}: {runs[-1]}", flush=True)
    return summary(runs)


def print_table(title, rows):
    print(f"\n{title}")
    print(f"{'recipe':<28}{'P@1':>15}{'R-precision':>15}{'MAP@R':>15}{'ms/step':>14}")
    for name, row in rows.items():
        cells = [f"{row[k]['mean']:.3f} ± {row[k]['sd']:.3f}" for k in SCORES]
        ms = row.get("ms_per_step")
        timing = f"{ms['mean']:>8.1f} ± {ms['sd']:.1f}" if ms else ""
        print(f"{name:<28}" + "".join(f"{c:>15}" for c in cells) + timing, flush=True)


# ------------------------------------------------------------------------------- open set
def gallery(y_train, rows, digits, n, draw):
    """Rows (among ``rows``) of n images of each digit, drawn at random (same draw, same rows)."""
    return np.concatenate(
        [
            np.random.default_rng([int(d), draw]).permutation(rows[y_train[rows] == d])[:n]
            for d in digits
        ]
    )


def known_triple(draw):
    """The three trained digits of the known-digit yardstick for gallery ``draw``."""
    return np.sort(np.random.default_rng([draw, 99]).choice(KNOWN_DIGITS, 3, replace=False))


def open_set_curves(train_vectors, test_vectors, y_train, y_test, refs):
    """Mean P@1 over DRAWS galleries for every n: new digits, and three known digits at a time."""
    new = np.isin(y_test, NEW_DIGITS)
    curves = {"new": [], "known": []}
    for n in ENROLLED:
        new_p1, known_p1 = [], []
        for draw in range(DRAWS):
            rows = gallery(y_train, refs, NEW_DIGITS, n, draw)
            new_p1.append(
                helpers.precision_at_1(
                    test_vectors[new], y_test[new], train_vectors[rows], y_train[rows]
                )
            )
            triple = known_triple(draw)
            asked = np.isin(y_test, triple)
            rows = gallery(y_train, refs, triple, n, draw)
            known_p1.append(
                helpers.precision_at_1(
                    test_vectors[asked], y_test[asked], train_vectors[rows], y_train[rows]
                )
            )
        curves["new"].append(float(np.mean(new_p1)))
        curves["known"].append(float(np.mean(known_p1)))
    return curves


def rejection(train_emb, test_emb, y_train, y_test, refs):
    """Per unknown digit: share rejected, enrolled falsely rejected, AUC; and the threshold."""
    known = np.isin(y_test, KNOWN_DIGITS)
    pair_dist, is_same = helpers.sample_pairs(test_emb[known], y_test[known], 2000, rng=0)
    threshold = helpers.verification_scores(pair_dist, is_same)["best_threshold"]
    rows5 = gallery(y_train, refs, NEW_DIGITS, SHOTS, 0)
    new = np.isin(y_test, NEW_DIGITS)
    out = {}
    for unknown in NEW_DIGITS:
        rows = rows5[y_train[rows5] != unknown]
        nearest = helpers.nearest_neighbors(test_emb, train_emb[rows], k=1)[1][:, 0]
        is_unknown, is_enrolled = y_test == unknown, new & (y_test != unknown)
        out[str(unknown)] = {
            "rejected": float(np.mean(nearest[is_unknown] > threshold)),
            "falsely_rejected": float(np.mean(nearest[is_enrolled] > threshold)),
            "auc": float(np.mean(nearest[is_unknown][:, None] > nearest[is_enrolled][None, :])),
        }
    return out, threshold


def mean_sd(values, digits=3):
    values = np.asarray(values, dtype=float)
    return {
        "mean": np.round(values.mean(axis=0), digits).tolist(),
        "sd": np.round(values.std(axis=0, ddof=1), digits).tolist(),
    }


def open_set(recipe, x_train, y_train, x_q, y_q, refs):
    """Train on the digits 0-6 (every seed), enrol 7-9 without retraining; the open-set figures."""
    known = np.isin(y_train, KNOWN_DIGITS)
    new_curves, known_curves, rejections, thresholds = [], [], [], []
    for seed in SEEDS:
        model = train(
            recipe, x_train[known], y_train[known], OPEN_STEPS, seed, classes_per_batch=7,
            samples_per_class=17,
        )  # fmt: skip
        train_emb = np.zeros((len(x_train), model.output_shape[-1]), "float32")
        train_emb[refs] = embed(model, x_train[refs])  # only the references are ever enrolled
        test_emb = embed(model, x_q)
        curves = open_set_curves(train_emb, test_emb, y_train, y_q, refs)
        new_curves.append(curves["new"])
        known_curves.append(curves["known"])
        rej, threshold = rejection(train_emb, test_emb, y_train, y_q, refs)
        rejections.append(rej)
        thresholds.append(threshold)
        print(
            f"  open set seed {seed}: new {curves['new']}, known {curves['known']}, {rej}",
            flush=True,
        )
    pixels = open_set_curves(x_train, x_q, y_train, y_q, refs)
    result = {
        "steps": OPEN_STEPS,
        "seeds": list(SEEDS),
        "draws": DRAWS,
        "shots": SHOTS,
        "enrolled": list(ENROLLED),
        "new_digits": mean_sd(new_curves),
        "known_digits": mean_sd(known_curves),
        "raw_pixels": {key: np.round(curve, 3).tolist() for key, curve in pixels.items()},
        "threshold": mean_sd(thresholds),
        "unknown": {
            digit: {
                key: mean_sd([r[digit][key] for r in rejections]) for key in rejections[0][digit]
            }
            for digit in rejections[0]
        },
    }
    print(f"\nOpen set ({recipe}, {OPEN_STEPS} steps on 0-6), mean over {len(SEEDS)} seeds")
    print(f"{'n':>5}{'new 7-9':>10}{'raw pixels':>12}{'3 trained digits':>18}{'raw pixels':>12}")
    for i, n in enumerate(ENROLLED):
        print(
            f"{n:>5}{result['new_digits']['mean'][i]:>10.3f}{pixels['new'][i]:>12.3f}"
            f"{result['known_digits']['mean'][i]:>18.3f}{pixels['known'][i]:>12.3f}"
        )
    for digit, row in result["unknown"].items():
        print(
            f"unknown {digit}: "
            + ", ".join(f"{k} {v['mean']:.3f} ± {v['sd']:.3f}" for k, v in row.items())
        )
    return result


def main():
    (x_train, y_train), (x_test, y_test) = helpers.load_mnist("bundled")
    queries, refs = evaluation_rows(y_train, y_test)
    data = ((x_test[queries], y_test[queries]), (x_train[refs], y_train[refs]))
    setting = (
        f"P x K = {P} x {K} (120 images per step), {EMB_SIZE}-D embedding, Adam {LEARNING_RATE} "
        f"with cosine decay, margin {MARGIN} on squared distances, shifts <= {MAX_SHIFT} px, "
        f"seeds {', '.join(map(str, SEEDS))}; ms per step: best of {TIMING_ROUNDS} rounds of "
        f"{TIMING_STEPS} steps, the recipes taking turns, after {WARMUP_STEPS} warm-up steps"
    )
    print(setting)
    ms_per_step = {seed: time_recipes(x_train, y_train, seed) for seed in SEEDS}
    print(f"ms per step (best of {TIMING_ROUNDS} rounds, per seed): {ms_per_step}", flush=True)
    race = {
        recipe: run_seeds(recipe, x_train, y_train, RACE_STEPS, data, ms_per_step)
        for recipe in RECIPES
    }
    best = max(race, key=lambda recipe: race[recipe]["map_at_r"]["mean"])
    print_table(f"The race: {RACE_STEPS} steps per recipe (winner by mean MAP@R: {best})", race)

    final = run_seeds(best, x_train, y_train, FINAL_STEPS, data)
    raw_p1 = helpers.precision_at_1(*data[0], *data[1])
    variants = {
        label: run_seeds(best, x_train, y_train, FINAL_STEPS, data, **options)
        for label, options in VARIANTS.items()
    }
    print_table(
        f"The winner, {FINAL_STEPS} steps, one setting changed at a time "
        f"(raw pixels P@1 {raw_p1:.3f})",
        {"as in the notebook": final, **variants},
    )
    record(
        "recipes",
        {
            "setting": setting,
            "distance": "squared Euclidean, d(x, y) = ||f(x) - f(y)||^2, in every recipe",
            "seeds": list(SEEDS),
            "race_steps": RACE_STEPS,
            "final_steps": FINAL_STEPS,
            "warmup_steps": WARMUP_STEPS,
            "timing": f"best of {TIMING_ROUNDS} rounds of {TIMING_STEPS} steps per recipe, the "
            "recipes taking turns in every round, after the warm-up",
            "recipe_order": RECIPES,
            "variant_order": list(VARIANTS),
            "race": race,
            "winner": best,
            "final": final,
            "raw_pixels_p1": round(float(raw_p1), 3),
            "variants": variants,
        },
        script=__file__,
    )
    record("open_set", open_set(best, x_train, y_train, *data[0], refs), script=__file__)


if __name__ == "__main__":
    main()

"""Which training recipe gives the best embedding? Random triplets against online mining.

The recipe comparison of ``notebooks/09_going_further.ipynb``, with the same seeds and budgets,
plus the variations that the notebook only mentions. Nothing is imported from the notebook.

Every recipe trains a fresh ``build_embedding_model(emb_size=256)`` (small convnet, L2-normalised)
from seed 42, with Adam (learning rate 3e-3, cosine decay to 0), margin 0.2 and random shifts of
the training images by up to 1 pixel in x and y. One step sees 120 images in every recipe:

* random triplets: the Siamese network with ``triplet_loss`` (squared distances) on 40 random
  triplets from ``data_generator``;
* batch-all, batch-hard, semi-hard: the embedding model alone on P x K = 10 x 12 batches from
  ``balanced_generator``, with the mining losses of ``helpers.losses`` (Euclidean distances).

The budget is a number of steps, not of seconds, so that the scores do not depend on the machine;
a step costs about the same in every recipe, and the measured wall and CPU seconds are printed to
check it. The race gives every recipe ``RACE_STEPS`` steps; the winner (highest MAP@R) is then
trained for ``FINAL_STEPS`` steps, and varied one setting at a time. Scores: P@1, R-precision and
MAP@R of the 1000 bundled test images (queries) against the 4000 training images (references).

Open set: the winner is trained for ``OPEN_STEPS`` steps on the digits 0-6 only (P x K = 7 x 17).
Reported: P@1 of the test 7s, 8s and 9s against a gallery of n enrolled training images per new
digit, for the embedding and for raw pixels; then, with one new digit left out of the 5-image
gallery, the share of its test images rejected as unknown and the share of the enrolled digits'
test images falsely rejected, at the best-F1 threshold of pairs of test images of the digits 0-6.

Run: ``python benchmarks/bench_recipes.py`` (about 6 minutes on 2 CPU cores).
"""

import functools
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # oneDNN stays on: twice as fast here

import helpers  # noqa: E402, I001  (first: it starts TensorFlow quietly)
import keras  # noqa: E402
import numpy as np  # noqa: E402

SEED, P, K, LEARNING_RATE, MARGIN, MAX_SHIFT, EMB_SIZE = 42, 10, 12, 3e-3, 0.2, 1, 256
RACE_STEPS, FINAL_STEPS, OPEN_STEPS = 100, 300, 150
MINING_LOSSES = {
    "batch-all": helpers.batch_all_triplet_loss,
    "batch-hard": helpers.batch_hard_triplet_loss,
    "semi-hard": helpers.semi_hard_triplet_loss,
}
RECIPES = ["random triplets", *MINING_LOSSES]
NEW_DIGITS = (7, 8, 9)
ENROLLED = (1, 2, 5, 10, 20, 50, 100, 400)


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


def batches(recipe, x, y, classes_per_batch, samples_per_class, max_shift, emb_size):
    """Endless training batches of one recipe, shifted at random."""
    shift_rng = np.random.default_rng(SEED)
    if recipe == "random triplets":
        n_triplets = classes_per_batch * samples_per_class // 3
        for triplet, target in helpers.data_generator(x, y, n_triplets, emb_size, rng=SEED):
            yield tuple(random_shift(images, shift_rng, max_shift) for images in triplet), target
    else:
        pk = helpers.balanced_generator(x, y, classes_per_batch, samples_per_class, rng=SEED)
        for images, labels in pk:
            yield random_shift(images, shift_rng, max_shift), labels


def train(recipe, x, y, steps, *, classes_per_batch=P, samples_per_class=K, **options):
    """Train a fresh embedding model; return it, the wall seconds and the CPU seconds.

    ``options``: ``margin``, ``max_shift`` and ``emb_size``, by default the notebook's.
    """
    margin = options.get("margin", MARGIN)
    emb_size = options.get("emb_size", EMB_SIZE)
    keras.utils.set_random_seed(SEED)
    model = helpers.build_embedding_model(emb_size=emb_size)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps))
    if recipe == "random triplets":
        network = helpers.build_siamese_network(model)
        loss = functools.partial(helpers.triplet_loss, alpha=margin)
    else:
        network = model
        loss = functools.partial(MINING_LOSSES[recipe], margin=margin)
    network.compile(optimizer=optimizer, loss=loss)
    data = batches(
        recipe,
        x,
        y,
        classes_per_batch,
        samples_per_class,
        options.get("max_shift", MAX_SHIFT),
        emb_size,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    network.fit(data, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def embed(model, images):
    return helpers.embed(model, images, batch_size=500)


def retrieval(model, data):
    (x_train, y_train), (x_test, y_test) = data
    return helpers.retrieval_scores(embed(model, x_test), y_test, embed(model, x_train), y_train)


def print_table(title, rows):
    print(f"\n{title}")
    print(f"{'recipe':<36}{'P@1':>7}{'R-prec':>8}{'MAP@R':>8}{'train s':>9}{'CPU s':>8}")
    for name, (scores, wall, cpu) in rows.items():
        print(
            f"{name:<36}{scores['precision_at_1']:>7.3f}{scores['r_precision']:>8.3f}"
            f"{scores['mean_average_precision_at_r']:>8.3f}{wall:>9.1f}{cpu:>8.1f}",
            flush=True,
        )


def enrol(y_train, digits, n_per_digit):
    """Training rows of the first n images of each digit, in a fixed random order per digit."""
    return np.concatenate(
        [
            np.random.default_rng(d).permutation(np.flatnonzero(y_train == d))[:n_per_digit]
            for d in digits
        ]
    )


def open_set(recipe, data):
    """Train on the digits 0-6, enrol 7-9 without retraining; print the open-set figures."""
    (x_train, y_train), (x_test, y_test) = data
    known = y_train <= 6
    model, wall, cpu = train(
        recipe,
        x_train[known],
        y_train[known],
        OPEN_STEPS,
        classes_per_batch=7,
        samples_per_class=17,
    )
    train_emb, test_emb = embed(model, x_train), embed(model, x_test)
    is_new = np.isin(y_test, NEW_DIGITS)
    print(f"\nOpen set: {recipe}, {OPEN_STEPS} steps on digits 0-6 ({wall:.1f} s, CPU {cpu:.1f} s)")
    print(f"P@1 of the {is_new.sum()} test 7s, 8s and 9s against n enrolled images per new digit")
    print(f"{'n':>5}{'embedding':>11}{'raw pixels':>12}")
    for n in ENROLLED:
        rows = enrol(y_train, NEW_DIGITS, n)
        scores = [
            helpers.precision_at_1(tests[is_new], y_test[is_new], trains[rows], y_train[rows])
            for trains, tests in [(train_emb, test_emb), (x_train, x_test)]
        ]
        print(f"{n:>5}{scores[0]:>11.3f}{scores[1]:>12.3f}")

    is_known = y_test <= 6
    pair_dist, is_same = helpers.sample_pairs(test_emb[is_known], y_test[is_known], 2000, rng=0)
    threshold = helpers.verification_scores(pair_dist, is_same)["best_threshold"]
    print(f"\nUnknown digits: threshold {threshold:.3f} (best F1 on pairs of test images of 0-6)")
    print(f"{'unknown':>8}{'rejected':>10}{'enrolled falsely rejected':>27}{'AUC':>7}")
    for unknown in NEW_DIGITS:
        rows = enrol(y_train, [d for d in NEW_DIGITS if d != unknown], 5)
        nearest = helpers.nearest_neighbors(test_emb, train_emb[rows], k=1)[1][:, 0]
        is_unknown, is_enrolled = y_test == unknown, is_new & (y_test != unknown)
        auc = np.mean(nearest[is_unknown][:, None] > nearest[is_enrolled][None, :])
        print(
            f"{unknown:>8}{np.mean(nearest[is_unknown] > threshold):>10.3f}"
            f"{np.mean(nearest[is_enrolled] > threshold):>27.3f}{auc:>7.2f}"
        )
    for name, digits in [("known digits 0-6", range(7)), ("new digits 7-9", NEW_DIGITS)]:
        own = [
            helpers.nearest_neighbors(
                test_emb[y_test == d], train_emb[enrol(y_train, [d], 5)], k=1
            )[1][:, 0]
            for d in digits
        ]
        print(
            f"median distance to the nearest of 5 enrolled images, {name}: "
            f"{np.median(np.concatenate(own)):.3f}"
        )


def main():
    data = helpers.load_mnist("bundled")
    (x_train, y_train), _ = data
    print(
        f"P x K = {P} x {K} (120 images per step), {EMB_SIZE}-D embedding, Adam {LEARNING_RATE} "
        f"with cosine decay, margin {MARGIN}, shifts <= {MAX_SHIFT} px, seed {SEED}"
    )
    rows = {}
    for recipe in RECIPES:
        model, wall, cpu = train(recipe, x_train, y_train, RACE_STEPS)
        rows[recipe] = (retrieval(model, data), wall, cpu)
    best = max(rows, key=lambda recipe: rows[recipe][0]["mean_average_precision_at_r"])
    print_table(f"The race: {RACE_STEPS} steps per recipe (winner by MAP@R: {best})", rows)

    variants = {}
    for label, options in [
        ("as in the notebook", {}),
        ("no shifts", {"max_shift": 0}),
        ("shifts <= 2 px", {"max_shift": 2}),
        ("margin 0.1", {"margin": 0.1}),
        ("margin 0.4", {"margin": 0.4}),
        ("64-D embedding", {"emb_size": 64}),
    ]:
        model, wall, cpu = train(best, x_train, y_train, FINAL_STEPS, **options)
        variants[f"{best}, {label}"] = (retrieval(model, data), wall, cpu)
    print_table(f"The winner, {FINAL_STEPS} steps, one setting changed at a time", variants)

    open_set(best, data)


if __name__ == "__main__":
    main()

"""Exercises 8.1 and 8.4, the data of notebook 08's training: judged outside the kernel.

* 8.1 ``make_small_test_set(x, y, per_digit, seed)``: exactly ``per_digit`` distinct rows of
  ``x`` of every digit 0-9, each with its own label, the same set for the same seed, and a
  random choice (over hundreds of seeds every row is picked, and a digit's two picks are
  rarely neighbouring rows).
* 8.4 ``triplet_stream(x, y, batch_size, emb_size, seed)``: a generator of
  ``((anchors, positives, negatives), zeros)`` batches of valid triplets of rows of ``x``;
  300 batches, none repeated, every row drawn in every role, every other digit as a
  negative, various partners; two streams of one seed drawn in turns agree; batches of 256.

As strict as the self-checks and hidden tests together, on data drawn afresh for every
notebook: the images number their rows (column 0), the labels and class sizes are random.
The many calls of a random choice run in ONE probe each (grader code that calls the
learner's function in a loop and sends every answer back), so the kernel answers a few
requests only; every answer is then checked here.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.references import check_coverage, check_triplet_labels
from siamese_grading.remote import Kept, Remote

from ._base import Failed, array, require, unwrap

# ----------------------------------------------------------------------------------------
# 8.1: the small test set
# ----------------------------------------------------------------------------------------

SMALL = "make_small_test_set"
#: Seeds of the randomness test (one probe): a row of the big digit (at most 40 rows) is
#: missed by all of them with probability (38/40)^400 < 2e-9.
SMALL_SEEDS = 400

#: ``make_small_test_set`` for many seeds in one request; the first seed comes again last.
PROBE_SMALL_SEEDS = """
def probe(namespace, name, x, y, per_digit, seeds):
    return [namespace[name](x, y, per_digit, int(seed)) for seed in seeds]
"""


def numbered_images(rng: np.random.Generator, sizes: list[int], width: int):
    """Float32 images whose column 0 is their row number, labels 0..len(sizes)-1 shuffled."""
    y = rng.permutation(np.repeat(np.arange(len(sizes)), sizes)).astype(np.int64)
    x = rng.random((y.size, width)).astype(np.float32)
    x[:, 0] = np.arange(y.size)
    return x, y


def small_rows(result, x: np.ndarray, y: np.ndarray, per_digit: int) -> np.ndarray:
    """The rows of ``x`` that one answer of 8.1 picked; :class:`Failed` at its first mistake."""
    require(
        isinstance(result, list) and len(result) == 2,
        f"{SMALL} must return two arrays, (x_small, y_small)",
    )
    x_small, y_small = (array(v, SMALL) for v in result)
    require(x_small is not None and y_small is not None, f"{SMALL} returned None in its pair")
    digits = np.unique(y).size
    expected = per_digit * digits
    require(
        x_small.shape == (expected, *x.shape[1:]) and y_small.shape == (expected,),
        f"With {digits} digits and per_digit={per_digit}, {SMALL} should return x_small of "
        f"shape {(expected, *x.shape[1:])} and y_small of shape ({expected},); got "
        f"{x_small.shape} and {y_small.shape}. per_digit is the number of images of EACH digit.",
    )
    require(
        x_small.dtype == x.dtype,
        f"x_small has dtype {x_small.dtype}, but x has {x.dtype}: keep the images as they are.",
    )
    require(
        y_small.dtype.kind in "iu",
        f"y_small must hold integer labels, got dtype {y_small.dtype}.",
    )
    counts = np.bincount(np.clip(y_small, 0, None), minlength=digits)
    require(
        y_small.min() >= 0 and counts.size == digits and bool(np.all(counts == per_digit)),
        f"y_small should hold exactly {per_digit} images of every digit: pick per_digit images "
        "from each digit's own rows, e.g. np.flatnonzero(y == digit).",
    )
    flat = x_small.reshape(len(x_small), -1)
    rows = np.rint(flat[:, 0]).astype(np.int64)
    require(
        bool(np.all((rows >= 0) & (rows < len(x))))
        and np.array_equal(x[np.clip(rows, 0, len(x) - 1)].reshape(len(rows), -1), flat),
        "x_small contains images that are not images of x: pick whole rows of x, e.g. "
        "x[chosen], without changing them.",
    )
    require(
        np.array_equal(y[rows], y_small),
        "Some labels in y_small do not belong to their images: take the images and the labels "
        "with the same row numbers, x[chosen] and y[chosen].",
    )
    require(
        np.unique(rows).size == rows.size,
        "x_small contains the same image more than once: draw without replacement, e.g. "
        "rng.choice(rows, per_digit, replace=False).",
    )
    return rows


def judge_small_test_set(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``make_small_test_set(x, y, per_digit=50, seed=0)`` (8.1).

    Examples
    --------
    >>> judge_small_test_set(remote, np.random.default_rng(0))  # a right answer: no error
    """
    # The hidden test's shape of problem: ten digits of equal size, (n, a, b) images too.
    per_class = int(rng.integers(5, 9))
    x, y = numbered_images(rng, [per_class] * 10, 6)
    per_digit, seed = int(rng.integers(2, per_class)), int(rng.integers(2**31))
    cube = x.reshape(len(x), 2, 3)
    first = small_rows(
        unwrap(remote.call(SMALL, cube, y, per_digit, seed), SMALL), cube, y, per_digit
    )
    again = small_rows(
        unwrap(remote.call(SMALL, cube, y, per_digit, seed), SMALL), cube, y, per_digit
    )
    require(
        np.array_equal(np.sort(first), np.sort(again)),
        f"{SMALL} gave two different sets for the same seed: make a generator from the seed, "
        "rng = np.random.default_rng(seed), and draw from it (not from np.random's global state).",
    )
    # Randomness: ten digits 0-9 of unequal sizes, one of them big; hundreds of seeds.
    sizes = [int(s) for s in rng.integers(6, 10, size=10)]
    big = int(rng.integers(10))
    sizes[big] = int(rng.integers(30, 41))
    x, y = numbered_images(rng, sizes, 3)
    seeds = rng.choice(2**31, size=SMALL_SEEDS, replace=False)
    seeds = np.append(seeds, seeds[0])
    answers = unwrap(remote.probe(PROBE_SMALL_SEEDS, SMALL, x, y, 2, seeds), SMALL)
    require(
        isinstance(answers, list) and len(answers) == len(seeds),
        f"{SMALL} gave back something unexpected",
    )
    picked = [small_rows(answer, x, y, 2) for answer in answers]
    require(
        np.array_equal(np.sort(picked[0]), np.sort(picked[-1])),
        f"{SMALL} gave two different sets for the same seed: draw from "
        "np.random.default_rng(seed).",
    )
    chosen = np.zeros(len(x), dtype=bool)
    members = np.flatnonzero(y == big)
    neighbours = 0
    for rows in picked[:-1]:
        chosen[rows] = True
        ranks = np.sort(np.searchsorted(members, rows[y[rows] == big]))
        neighbours += int(ranks[1] - ranks[0] == 1)
    every_row_picked(chosen, len(x))
    not_neighbours(neighbours)


def every_row_picked(chosen: np.ndarray, rows: int) -> None:
    """Over all the seeds, every row must have been picked (a random choice among ALL rows)."""
    require(
        bool(chosen.all()),
        f"Over {SMALL_SEEDS} seeds, {int(np.sum(~chosen))} of the {rows} images were never "
        "picked: choose each digit's images at random among ALL its rows, not among the first "
        "ones.",
    )


def not_neighbours(neighbours: int) -> None:
    """Two random rows of 30-40 are neighbours with probability <= 1/15; a block always is."""
    require(
        neighbours <= SMALL_SEEDS // 4,
        f"For {neighbours} of {SMALL_SEEDS} seeds, the two images picked of a digit were "
        "neighbouring rows: a block of rows (or rows shifted by the seed) is not a random "
        "choice. Let the generator choose the rows: rng.choice(rows, per_digit, replace=False).",
    )


# ----------------------------------------------------------------------------------------
# 8.4: the stream of triplets
# ----------------------------------------------------------------------------------------

STREAM = "triplet_stream"
#: Batches drawn from one stream (one probe), as in the self-check.
STREAM_BATCHES = 300

#: Whether a kept value is a generator (``fit`` reads generators, not any iterator).
PROBE_IS_GENERATOR = """
def probe(namespace, stream):
    import inspect
    return inspect.isgenerator(stream)
"""

#: ``count`` batches of a kept stream, tuples marked as such (the protocol sends both
#: tuples and lists as lists); ``stopped`` if it ended first.
PROBE_DRAW = """
def probe(namespace, stream, count):
    def mark(value):
        if isinstance(value, tuple):
            return {"tuple": [mark(v) for v in value]}
        if isinstance(value, list):
            return {"list": [mark(v) for v in value]}
        return value
    batches = []
    for _ in range(count):
        try:
            batches.append(mark(next(stream)))
        except StopIteration:
            return {"batches": batches, "stopped": True}
    return {"batches": batches, "stopped": False}
"""


def open_stream(remote: Remote, x, y, batch_size: int, emb_size: int, seed: int) -> Kept:
    """The learner's stream, kept in the kernel; :class:`Failed` unless it is a generator."""
    key = f"stream_{remote.requests}"  # one key per stream: they live side by side
    got = unwrap(remote.call(STREAM, x, y, batch_size, emb_size, seed, keep=key), STREAM)
    if not isinstance(got, Kept):
        raise Failed(
            f"{STREAM} returned "
            + ("None" if got is None else "data, not a generator, so it is not an endless stream")
            + ": make it a generator function, `while True: ... yield (anchors, positives, "
            "negatives), targets`."
        )
    require(
        unwrap(remote.probe(PROBE_IS_GENERATOR, got), STREAM) is True,
        f"{STREAM} returned an object that is not a generator, which fit does not read: make it "
        "a generator function, `while True: ... yield (anchors, positives, negatives), targets`.",
    )
    return got


def draw(remote: Remote, stream: Kept, count: int) -> list:
    """``count`` batches of ``stream`` (marked); :class:`Failed` if it stops first."""
    reply = remote.probe(PROBE_DRAW, stream, count)
    if reply.raised is not None:
        raise Failed(
            f"Drawing a batch from your {STREAM} raised {reply.raised.ename}: {reply.raised.evalue}"
        )
    got = reply.value
    require(
        isinstance(got, dict) and isinstance(got.get("batches"), list),
        f"{STREAM} gave back something unexpected",
    )
    require(
        got.get("stopped") is False and len(got["batches"]) == count,
        f"{STREAM} stopped: the stream must never end (keras stops an epoch after "
        "steps_per_epoch batches): put the yield inside `while True:`.",
    )
    return got["batches"]


def _items(marked, kind: str | None = None):
    """The items of a marked tuple or list (``kind`` to require one), else None."""
    if isinstance(marked, dict) and len(marked) == 1:
        ((mark, items),) = marked.items()
        if mark in ("tuple", "list") and isinstance(items, list) and kind in (None, mark):
            return items
    return None


def batch_rows(marked, x: np.ndarray, batch_size: int, emb_size: int) -> np.ndarray:
    """The (3, batch_size) rows of ``x`` in one yielded batch; :class:`Failed` if it is wrong."""
    pair = _items(marked)
    require(
        pair is not None and len(pair) == 2,
        "Each batch must be a pair (inputs, targets): yield (anchors, positives, negatives), "
        "targets.",
    )
    inputs, targets = pair
    parts = _items(inputs)
    require(
        parts is not None and len(parts) == 3,
        "The inputs of a batch must be the three arrays (anchors, positives, negatives), one "
        "per input of the Siamese network, e.g. tuple(create_batch(...)).",
    )
    require(
        _items(inputs, "tuple") is not None,
        "The inputs of a batch are a list; fit reads a generator's batch structure from its "
        "first batch and needs a tuple: yield tuple(create_batch(...)), targets.",
    )
    rows = []
    for role, part in zip(("anchors", "positives", "negatives"), parts, strict=True):
        part = array(part, STREAM)
        require(
            part is not None and part.shape == (batch_size, *x.shape[1:]),
            f"The {role} of a batch have shape {None if part is None else part.shape}; with "
            f"batch_size={batch_size} they should have shape {(batch_size, *x.shape[1:])}.",
        )
        index = np.rint(part[:, 0]).astype(np.int64) if part.dtype.kind in "biuf" else None
        require(
            index is not None
            and bool(np.all((index >= 0) & (index < len(x))))
            and np.array_equal(x[np.clip(index, 0, len(x) - 1)], part),
            "A batch contains images that are not images of x: pick whole rows of x, e.g. "
            "x[chosen], without changing them.",
        )
        rows.append(index)
    targets = array(targets, STREAM)
    require(
        targets is not None
        and targets.shape == (batch_size, 3 * emb_size)
        and not np.any(targets != 0),
        f"The targets should be zeros of shape ({batch_size}, {3 * emb_size}), (batch_size, "
        "3 * emb_size) like the Siamese network's output, which the triplet loss ignores.",
    )
    return np.stack(rows)


def _as_failed(check, *args) -> None:
    """Run a shared sampler check; its AssertionError becomes the verdict."""
    try:
        check(*args)
    except AssertionError as error:
        raise Failed(str(error)) from None


def judge_triplet_stream(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``triplet_stream(x, y, batch_size=256, emb_size=64, seed=0)`` (8.4).

    Examples
    --------
    >>> judge_triplet_stream(remote, np.random.default_rng(0))  # a right answer: no error
    """
    labels = rng.choice(10, size=4, replace=False)
    x, numbered = numbered_images(rng, [int(s) for s in rng.permutation([4, 5, 6, 7])], 3)
    y = labels[numbered]
    batch_size, emb_size = int(rng.integers(12, 20)), int(rng.integers(2, 5))
    seed = int(rng.integers(2**31))
    stream = open_stream(remote, x, y, batch_size, emb_size, seed)
    batches = [batch_rows(b, x, batch_size, emb_size) for b in draw(remote, stream, STREAM_BATCHES)]
    for rows in batches:  # the checks of Task 4's create_batch, on every batch
        _as_failed(check_triplet_labels, y, *rows)
    distinct = {rows.tobytes() for rows in batches}
    require(
        len(distinct) == len(batches),
        f"Your stream repeats batches ({len(distinct)} different ones in {len(batches)}): make "
        "the generator once, rng = np.random.default_rng(seed), BEFORE `while True:`, and draw "
        "every batch from it.",
    )
    pooled = np.concatenate(batches, axis=1)
    _as_failed(check_coverage, x, y, tuple(pooled))
    anchor, negative = pooled[0], pooled[2]
    for digit in np.unique(y):
        missing = np.setdiff1d(np.unique(y[y != digit]), y[negative[y[anchor] == digit]])
        require(
            missing.size == 0,
            f"Anchors of digit {digit} never got a negative of digit(s) {missing.tolist()} in "
            f"{STREAM_BATCHES} batches: draw each negative among ALL other digits' images.",
        )
    # Two streams of the same seed, drawn in turns, one request per batch.
    one = open_stream(remote, x, y, batch_size, emb_size, seed)
    two = open_stream(remote, x, y, batch_size, emb_size, seed)
    for turn in range(3):
        a = batch_rows(draw(remote, one, 1)[0], x, batch_size, emb_size)
        b = batch_rows(draw(remote, two, 1)[0], x, batch_size, emb_size)
        require(
            np.array_equal(a, b) and np.array_equal(a, batches[turn]),
            "Two streams with the same seed gave different batches: draw from a generator made "
            "from the seed, rng = np.random.default_rng(seed), passed to "
            "create_batch(..., rng=rng), not from np.random's global state.",
        )
    other = open_stream(remote, x, y, batch_size, emb_size, seed + 1)
    require(
        not np.array_equal(
            batches[0], batch_rows(draw(remote, other, 1)[0], x, batch_size, emb_size)
        ),
        "Streams with different seeds gave the same batch: use the seed.",
    )
    big = open_stream(remote, x, y, 256, emb_size, int(rng.integers(2**31)))
    _as_failed(check_triplet_labels, y, *batch_rows(draw(remote, big, 1)[0], x, 256, emb_size))

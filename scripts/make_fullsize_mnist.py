"""Build a full-size stand-in for Keras's mnist.npz from the bundled digits, offline.

Usage::

    python scripts/make_fullsize_mnist.py build/fullsize_mnist.npz
    SIAMESE_MNIST_SOURCE=build/fullsize_mnist.npz python -m pytest

The file has Keras's format and MNIST's size, types and class balance: 60,000 training and
10,000 test uint8 images of 28 x 28 with labels 0-9, 6,000 and 1,000 of each digit. Its training
images are drawn (15 per original) from the 4,000 bundled training digits, its test images (10
per original) from the other 1,000, so no test image comes from a training original. Each copy
gets a small random change: a few grey levels of noise on its ink pixels (the ones above 0),
which leaves the background and the digit's shape as they were. No test image is therefore a copy
of a training image, and raw-pixel P@1 stays near the bundled split's (a shift of even one pixel
would drop it by 5-10 points, which would break the notebooks' honest quality assertions).

It is **not** MNIST: it has 5,000 distinct digits, not 70,000. It exists so that the memory and
the time of the course at full size can be measured and tested without a network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

#: Images per digit in Keras's MNIST are 5,421-6,742 (train) and 892-1,135 (test); the
#: stand-in is balanced: the sizes of the real splits, split evenly over the ten digits.
TRAIN_SIZE, TEST_SIZE = 60_000, 10_000
#: Grey levels of noise, uniform in [-NOISE, NOISE], added to every ink pixel.
NOISE = 6
SEED = 2024


def noisy_copies(images: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` copies of ``images`` (uint8, (m, 28, 28)), cycled, with noise on the ink pixels.

    Examples
    --------
    >>> x = np.zeros((2, 28, 28), np.uint8); x[:, 10, 10] = 200
    >>> out = noisy_copies(x, 6, np.random.default_rng(0))
    >>> out.shape, bool((out[:, 0, 0] == 0).all()), bool((abs(out[:, 10, 10] - 200.0) <= 6).all())
    ((6, 28, 28), True, True)
    """
    picks = np.resize(np.arange(len(images)), n)  # each original n / m times
    out = images[picks].astype(np.int16)
    noise = rng.integers(-NOISE, NOISE + 1, size=out.shape, dtype=np.int16)
    ink = out > 0
    out[ink] += noise[ink]
    np.clip(out, 1, 255, out=out, where=ink)  # ink stays ink: a pixel never turns background
    return out.astype(np.uint8)


def build(seed: int = SEED) -> dict[str, np.ndarray]:
    """The four arrays of the stand-in, each split shuffled; the same ``seed``, the same file."""
    from helpers.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist("bundled", flatten=False, seed=0)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, x, y, size in (
        ("train", x_train, y_train, TRAIN_SIZE),
        ("test", x_test, y_test, TEST_SIZE),
    ):
        raw = np.rint(x * 255).astype(np.uint8)  # back to Keras's uint8 grey levels
        order = np.argsort(y, kind="stable")  # by digit, so that copies keep the class balance
        images = noisy_copies(raw[order], size, rng)
        labels = np.resize(y[order], size).astype(np.uint8)
        shuffle = rng.permutation(size)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images[shuffle], labels[shuffle]
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where to write the .npz file")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **build(args.seed))
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

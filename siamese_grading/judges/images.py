"""Exercise 2.1, ``prepare_images(images)``: judged outside the kernel.

Notebook 02's self-check looks at the kernel's ``x_train`` and ``x_test``, made by the
learner's ``prepare_images`` from the raw MNIST images. The judge calls
``prepare_images`` itself, on raw images of its own: random uint8 images (n, 28, 28) of
random counts, with grey levels, images whose brightest pixel is below 255, a blank image
and the two extremes 0 and 255. The answer must be float32 of shape (n, 784), equal to
``images.reshape(n, 784) / 255`` within 1e-6 (the self-check's tolerance), which rules out
every classic mistake (no flattening, integers, float64 or float16, no scaling, a
transposed image, each image by its own maximum, standardising, one column per image).
A row is one image: the same images in another order must give the same rows in that order.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.remote import Remote

from ._base import array, require, value

NAME = "prepare_images"
PIXELS = 784
#: The self-check's tolerance against raw / 255.
ATOL = 1e-6


def raw_images(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` random uint8 images (count, 28, 28): grey levels, various peaks, not symmetric."""
    peaks = rng.integers(2, 256, size=count)
    images = (rng.random((count, 28, 28)) * (peaks[:, None, None] + 1)).astype(np.uint8)
    images[0, 0, 0], images[0, 27, 26] = 255, 0  # the extremes
    if count > 2:
        images[1] = 0  # a blank image: no division by its own maximum
    return images


def prepared(remote: Remote, images: np.ndarray) -> np.ndarray:
    """The learner's ``prepare_images(images)``; :class:`Failed` unless it is right."""
    count = len(images)
    got = array(value(remote, NAME, images), NAME)
    require(got is not None, f"{NAME} returned None: did you forget `return`?")
    require(
        got.shape != (count, 28, 28),
        f"{NAME} returned shape {got.shape}, one 28 × 28 grid per image: flatten every image "
        "into one row of 784 pixels with .reshape(len(images), 784).",
    )
    require(
        got.shape == (count, PIXELS),
        f"For {count} images {NAME} returned shape {got.shape}, expected ({count}, 784): one "
        "row of 784 pixels per image, .reshape(len(images), 784) (not .reshape(784, -1)).",
    )
    require(
        got.dtype.kind == "f",
        f"{NAME} returned {got.dtype}: integers throw the grey levels away; convert and scale "
        'with .astype("float32") / 255.',
    )
    require(
        got.dtype == np.float32,
        f'{NAME} returned {got.dtype}; expected float32: use .astype("float32") before dividing.',
    )
    want = images.reshape(count, PIXELS).astype(np.float64) / 255.0
    with np.errstate(invalid="ignore"):
        close = bool(np.all(np.abs(got.astype(np.float64) - want) <= ATOL))
    if not close:
        transposed = images.transpose(0, 2, 1).reshape(count, PIXELS) / 255.0
        require(
            not np.allclose(got, transposed, atol=ATOL),
            "Every image is transposed (read column by column): reshape the (n, 28, 28) array "
            "directly with .reshape(len(images), 784), without .T or transpose.",
        )
        require(
            float(np.nanmax(got, initial=0.0)) <= 1 + ATOL,
            f"{NAME} goes up to {float(np.nanmax(got, initial=0.0)):g}: scale the pixels from "
            "[0, 255] into [0, 1] by dividing by 255.",
        )
        require(
            False,
            f"{NAME} differs from images.reshape(n, 784) / 255: divide every pixel by 255 and "
            "nothing else (not by each image's own maximum, no standardising).",
        )
    return got


def judge_prepare_images(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``prepare_images(images)`` (raises ``Failed`` at the first mistake).

    Examples
    --------
    >>> judge_prepare_images(remote, np.random.default_rng(0))  # a right answer: no error
    """
    images = raw_images(rng, int(rng.integers(5, 40)))
    first = prepared(remote, images)
    order = rng.permutation(len(images))
    again = prepared(remote, images[order])
    require(
        np.array_equal(again, first[order]),
        f"{NAME} must treat every image on its own: the same images in another order should "
        "give the same rows in that order.",
    )
    prepared(remote, raw_images(rng, int(rng.integers(1, 4))))  # a few images, even one

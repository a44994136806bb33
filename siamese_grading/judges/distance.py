"""Exercise 1.1, the squared Euclidean distance: the self-check and hidden tests, judged here.

The same tests as notebook 01's self-check cell (with its messages and numpy's
default tolerances), on inputs drawn afresh for every notebook, and the hidden
tests, which the kernel never sees.
"""

from __future__ import annotations

import numpy as np

from siamese_grading.remote import Remote

from ._base import array, require, scalar, value

NAME = "squared_distance"


def judge_squared_distance(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``squared_distance(a, b)`` (raises ``Failed`` at the first mistake).

    Examples
    --------
    >>> judge_squared_distance(remote, np.random.default_rng(0))  # a right answer: no error
    """
    result = scalar(value(remote, NAME, np.array([0.0, 0.0]), np.array([3.0, 4.0])), NAME)
    require(
        not np.isclose(result, 5.0),
        "squared_distance([0, 0], [3, 4]) returned 5, the plain distance: leave out the square "
        "root (the answer is 3² + 4² = 25).",
    )
    require(
        not np.isclose(result, 12.5),
        "squared_distance([0, 0], [3, 4]) returned 12.5, the mean of 3² and 4²: add the squares "
        "up with np.sum instead of averaging them (the answer is 25).",
    )
    require(
        np.isclose(result, 25.0),
        f"squared_distance([0, 0], [3, 4]) should be 3² + 4² = 25, got {result:g}.",
    )
    rows_n = int(rng.integers(3, 9))
    u, v = rng.normal(size=(2, rows_n, 784))
    rows = array(value(remote, NAME, u, v), NAME)
    shape = None if rows is None else rows.shape
    require(
        shape == (rows_n,),
        f"For two arrays of shape ({rows_n}, 784) expected {rows_n} distances, one per row, got "
        f"{'None' if rows is None else f'shape {shape}'}: sum over the last axis only, "
        "np.sum(..., axis=-1).",
    )
    expected = np.array([np.sum((u[i] - v[i]) ** 2) for i in range(rows_n)])
    require(
        np.allclose(rows, expected),
        "The distances between rows are wrong: square each difference, then add them up.",
    )
    # The hidden tests: zero for a point and itself, symmetry, and another hand-worked value.
    same = scalar(value(remote, NAME, u[0], u[0]), NAME)
    require(np.isclose(same, 0.0), "the squared distance of a point to itself must be 0")
    back = array(value(remote, NAME, v, u), NAME)
    require(
        back is not None and back.shape == rows.shape and np.allclose(back, rows),
        "squared_distance(a, b) must equal squared_distance(b, a)",
    )
    eight = scalar(value(remote, NAME, np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 1.0])), NAME)
    require(np.isclose(eight, 8.0), "squared_distance([1, 2, 3], [1, 0, 1]) should be 8")
    for length in (2, int(rng.integers(3, 50))):  # no answer can know these in advance
        a, b = rng.normal(scale=rng.uniform(0.5, 4.0), size=(2, length))
        far = scalar(value(remote, NAME, a, b), NAME)
        require(
            np.isclose(far, np.sum((a - b) ** 2)),
            "squared_distance is wrong on two random vectors: square each difference, then add "
            "them up.",
        )

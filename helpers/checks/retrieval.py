"""Self-check of notebook 08, exercise 8.2: precision at 1, in chunks of queries.

The learner's ``precision_at_1(query_emb, query_labels, ref_emb, ref_labels, chunk_size)``
must give the share of queries whose nearest reference shares their label, and must never
hold more than a ``(chunk_size, R)`` block of distances at once: at MNIST's full size the
whole 10,000 x 60,000 matrix is 2.4 GB in float32, and the usual expression makes two or three.
The check compares it with a brute-force loop written here, on several chunk sizes, and measures
the peak of numpy's allocations while it runs (``tracemalloc`` sees every numpy array).
"""

from __future__ import annotations

import inspect
import os
import threading
import tracemalloc
from collections.abc import Callable

import numpy as np

from ._references import brute_force_p_at_1
from ._shared import call_learner, passed, require_function

NAME = "precision_at_1"

#: The memory test: Q queries, R references of D numbers, in chunks of CHUNK queries (and
#: again in chunks of SMALL_CHUNK, so that a loop over chunk_size *pieces* shows).
#: A full (Q, R) float64 matrix is 320 MB; one chunk's block is 8 MB.
MEMORY_Q, MEMORY_R, MEMORY_D, MEMORY_CHUNK, MEMORY_SMALL_CHUNK = 8000, 5000, 8, 200, 20
#: Allowed peak, in multiples of one chunk's block (a few temporaries of that size are fine).
MEMORY_BLOCKS = 8
#: Allowed growth of the process's peak resident memory on top of that: what numpy's and the
#: allocator's own bookkeeping may add. It catches what tracemalloc cannot see: a whole matrix
#: built by TensorFlow or keras.ops (their buffers are not numpy's).
RSS_SLACK = 48 * 2**20


def _run(precision_at_1, *args, chunk_size: int) -> float:
    got = call_learner(precision_at_1, NAME, *args, chunk_size=chunk_size)
    if not isinstance(got, float):
        raise AssertionError(
            f"Your {NAME} returned {type(got).__name__}; return a Python float, e.g. "
            "float(hits / len(query_emb))"
        )
    return got


def _check_signature(precision_at_1) -> None:
    try:
        parameters = inspect.signature(precision_at_1).parameters
    except (TypeError, ValueError):  # a builtin or a C function: let the calls tell
        return
    if "chunk_size" not in parameters:
        raise AssertionError(
            f"Your {NAME} has no chunk_size parameter; keep the signature "
            f"{NAME}(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500)"
        )


def _wrong_result(precision_at_1, args, expected: float, chunk_size: int, data: str) -> str:
    """The message for a wrong P@1: what a second call, one query at a time, suggests."""
    got = _run(precision_at_1, *args, chunk_size=chunk_size)
    n_queries = len(args[0])
    start = (
        f"On {data} your {NAME} gives {got:.4f} with chunk_size={chunk_size}, not {expected:.4f}."
    )
    right_one_by_one = abs(_run(precision_at_1, *args, chunk_size=1) - expected) < 1e-9
    if chunk_size >= n_queries and right_one_by_one:
        return (
            f"{start} It is right with chunk_size=1 but not when the only chunk is shorter than "
            "chunk_size: does your loop also run the last, shorter chunk? "
            "range(0, len(query_emb), chunk_size) and query_emb[start : start + chunk_size] "
            "handle it."
        )
    if chunk_size >= n_queries:
        return (
            f"{start} Even in one chunk it goes wrong: the squared distances are "
            "|q|^2 + |r|^2 - 2 q.r, and the nearest reference is the one with the smallest "
            "distance (np.argmin along axis=1)."
        )
    return (
        f"{start} It is right in one chunk but not in several: does every chunk compare its own "
        "queries with its own labels (query_labels[start : start + chunk_size]), is the last, "
        "shorter chunk counted, and do you divide by the number of ALL queries at the end?"
    )


def _check_self_retrieval(precision_at_1) -> None:
    # queries that are the references: each one's nearest reference is itself (distance 0)
    points, labels = np.array([[0.0], [1.0], [10.0]]), np.array([0, 1, 2])
    got = _run(precision_at_1, points, labels, points, labels, chunk_size=2)
    if abs(got - 1.0) > 1e-9:
        raise AssertionError(
            f"With the references as queries your {NAME} gives {got:.4f}, not 1.0: every query "
            "is at distance 0 from itself, and that IS its nearest reference (do not skip "
            "distances of 0)."
        )


def _check_hand_worked(precision_at_1) -> None:
    # 1-D points: references 0 (label 0), 1 (label 1), 10 (label 2); query 0.4 -> 0 (right),
    # 0.6 -> 1 (label 1, asked 0: wrong), 8 -> 10 (right): P@1 = 2/3, whatever the chunks.
    ref, ref_labels = np.array([[0.0], [1.0], [10.0]]), np.array([0, 1, 2])
    query, query_labels = np.array([[0.4], [0.6], [8.0]]), np.array([0, 0, 2])
    for chunk_size in (500, 3, 2, 1):  # one chunk first: a wrong nearest shows up there
        args = (query, query_labels, ref, ref_labels)
        if abs(_run(precision_at_1, *args, chunk_size=chunk_size) - 2 / 3) > 1e-9:
            data = "the hand-worked example"
            raise AssertionError(_wrong_result(precision_at_1, args, 2 / 3, chunk_size, data))


def _check_random(precision_at_1) -> None:
    rng = np.random.default_rng(0)
    query, ref = rng.normal(size=(41, 5)), rng.normal(size=(60, 5))
    query_labels, ref_labels = rng.integers(0, 3, 41), rng.integers(0, 3, 60)
    expected = brute_force_p_at_1(query, query_labels, ref, ref_labels)
    for chunk_size in (1000, 41, 7, 1):  # 7 does not divide 41: the last chunk is short
        args = (query, query_labels, ref, ref_labels)
        if abs(_run(precision_at_1, *args, chunk_size=chunk_size) - expected) > 1e-9:
            data = "random data (checked with a brute-force loop)"
            raise AssertionError(_wrong_result(precision_at_1, args, expected, chunk_size, data))


class _ResidentPeak:
    """The highest resident memory of this process while a block runs, sampled every 2 ms.

    Sampling (not resetting the kernel's own peak record, VmHWM) leaves the notebook's peak
    memory as its measurements see it. None where /proc/self/statm does not exist.
    """

    def __init__(self):
        self.start = self.peak = _resident_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _resident_bytes())

    def __enter__(self):
        if self.start is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.start is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _resident_bytes())

    @property
    def grown(self) -> int | None:
        return None if self.start is None else self.peak - self.start


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _check_memory(precision_at_1, chunk_size: int) -> None:
    rng = np.random.default_rng(1)
    query = rng.normal(size=(MEMORY_Q, MEMORY_D))
    ref = rng.normal(size=(MEMORY_R, MEMORY_D))
    query_labels, ref_labels = rng.integers(0, 10, MEMORY_Q), rng.integers(0, 10, MEMORY_R)
    block = chunk_size * MEMORY_R * 8  # bytes of one float64 (chunk, R) block
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    try:
        with _ResidentPeak() as resident:
            _run(precision_at_1, query, query_labels, ref, ref_labels, chunk_size=chunk_size)
        _, peak = tracemalloc.get_traced_memory()
        rss_used = resident.grown
    finally:
        if not was_tracing:
            tracemalloc.stop()
    used = max(peak - start, 0 if rss_used is None else rss_used - RSS_SLACK)
    if used > MEMORY_BLOCKS * block:
        full = MEMORY_Q * MEMORY_R * 8
        raise AssertionError(
            f"With {MEMORY_Q} queries, {MEMORY_R} references and chunk_size={chunk_size}, "
            f"your {NAME} held {used / 2**20:.0f} MiB at once; one chunk's distances take "
            f"{block / 2**20:.1f} MiB and the whole matrix {full / 2**20:.0f} MiB. Compute the "
            "distances of chunk_size queries at a time (a loop over "
            "range(0, len(query_emb), chunk_size)) and keep only the nearest index of each: "
            "at MNIST's full size the whole matrix would need several GB."
        )


def check_precision_at_1(precision_at_1: Callable) -> None:
    """Check exercise 8.2: ``precision_at_1`` in chunks of ``chunk_size`` queries.

    Examples
    --------
    >>> check_precision_at_1(precision_at_1)
    ✅ Your precision_at_1 finds the nearest reference correctly, one chunk at a time. Well done!
    """
    require_function(precision_at_1, NAME, "check_precision_at_1")
    _check_signature(precision_at_1)
    _check_hand_worked(precision_at_1)
    _check_random(precision_at_1)
    _check_self_retrieval(precision_at_1)
    _check_memory(precision_at_1, MEMORY_CHUNK)
    _check_memory(precision_at_1, MEMORY_SMALL_CHUNK)
    passed(f"Your {NAME} finds the nearest reference correctly, one chunk at a time. Well done!")

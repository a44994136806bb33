"""Exercise 8.2, precision at 1 in chunks of queries: judged outside the kernel.

As strict as notebook 08's self-check and hidden tests together, on data drawn afresh for
every notebook: the hand-worked example and random data against a brute-force loop
(:func:`~siamese_grading.references.brute_force_p_at_1`) for several chunk sizes (one
chunk, a size that does not divide the queries, one query at a time), queries that are
the references (each finds itself at distance 0), a Python float as the result, and the
memory it holds on large data, **measured by the grader from outside the kernel**:

* run A, chunks of :data:`CHUNK_A` queries on about 8,000 x 5,000 distances: a whole
  (Q, R) matrix is 320 MB (and numpy's usual expression makes two or three), one chunk's
  block 8 MB; the bound is :data:`BLOCKS` blocks plus :data:`SLACK` (80 MB);
* run B, chunks of :data:`CHUNK_B` queries on about 2,400 x 16,000: one block is 1 MB and
  the bound 24 MB, while a loop over ``chunk_size`` *pieces* (the usual mix-up) holds
  pieces of 300 x 16,000 distances, 38 MB each, at least 76 MB at once.

Pieces above 32 MB are always fresh pages from the system (glibc maps allocations that
large), so they show in the kernel's resident memory whatever the heap held before. The
arguments travel to the kernel in requests of their own, before the measured call.
A whole matrix kept in a buffer that the kernel filled before the request, or built in a
child process, does not show in the figure: the memory test catches honest mistakes,
not a learner who hides their memory on purpose (see the README's threat model).
"""

from __future__ import annotations

import numpy as np

from siamese_grading.references import brute_force_p_at_1
from siamese_grading.remote import Remote

from ._base import Failed, require, unwrap

NAME = "precision_at_1"
#: Tolerance on P@1 (a share of queries): the self-check's.
TOLERANCE = 1e-9
#: Allowed peak, in multiples of one chunk's float64 (chunk_size, R) block, and on top of it
#: the measurement's own noise (the request's code, numpy's and the allocator's bookkeeping).
BLOCKS, SLACK = 8, 16 * 2**20
#: Chunk sizes of the two memory runs.
CHUNK_A, CHUNK_B = 200, 8

#: An argument kept in the kernel (so that the measured request decodes nothing large).
PROBE_KEEP = """
def probe(namespace, value):
    return value
"""


def p_at_1(remote: Remote, args, chunk_size: int, *, measure: bool = False):
    """The learner's P@1 (and the measured memory rise); :class:`Failed` unless a float."""
    reply = remote.call(NAME, *args, chunk_size=chunk_size, measure=measure)
    got = unwrap(reply, NAME)
    require(
        isinstance(got, float),
        f"Your {NAME} returned {type(got).__name__ if got is not None else 'None'}; return a "
        "Python float, e.g. float(hits / len(query_emb))",
    )
    return (got, reply.memory) if measure else got


def wrong(got: float, expected: float, chunk_size: int, count: int, data: str) -> Failed:
    """The verdict of a wrong P@1, with the self-check's hints."""
    start = (
        f"On {data} your {NAME} gives {got:.4f} with chunk_size={chunk_size}, not {expected:.4f}."
    )
    if chunk_size >= count:
        return Failed(
            f"{start} Even in one chunk it goes wrong (or the only chunk is shorter than "
            "chunk_size): the squared distances are |q|^2 + |r|^2 - 2 q.r, and the nearest "
            "reference is the one with the smallest distance (np.argmin along axis=1)."
        )
    return Failed(
        f"{start} Does every chunk compare its own queries with its own labels "
        "(query_labels[start : start + chunk_size]), is the last, shorter chunk counted, and do "
        "you divide by the number of ALL queries at the end?"
    )


def compare(remote: Remote, args, chunk_sizes, data: str) -> None:
    """P@1 on ``args`` for every chunk size must be the brute force's."""
    expected = brute_force_p_at_1(*args)
    for chunk_size in chunk_sizes:
        got = p_at_1(remote, args, chunk_size)
        if abs(got - expected) > TOLERANCE:
            raise wrong(got, expected, chunk_size, len(args[0]), data)


def memory_run(remote: Remote, rng: np.random.Generator, sizes, chunk_size: int) -> None:
    """One measured call on large random data; its P@1 and its peak memory rise are checked."""
    queries, refs, dim = sizes
    query, ref = rng.normal(size=(queries, dim)), rng.normal(size=(refs, dim))
    query_labels, ref_labels = rng.integers(0, 10, queries), rng.integers(0, 10, refs)
    args = (query, query_labels, ref, ref_labels)
    kept = [
        unwrap(remote.probe(PROBE_KEEP, a, keep=f"p_at_1_{i}"), NAME) for i, a in enumerate(args)
    ]
    got, memory = p_at_1(remote, kept, chunk_size, measure=True)
    expected = chunked_p_at_1(*args)
    if abs(got - expected) > 1e-3:  # float rounding may flip a near-tie in 1e-9 of queries
        raise wrong(got, expected, chunk_size, queries, f"{queries} random queries")
    check_memory(memory, queries, refs, chunk_size)


def chunked_p_at_1(query, query_labels, ref, ref_labels, chunk: int = 256) -> float:
    """P@1 by |q|² + |r|² − 2 q·r in chunks (fast, for the large data of the memory runs)."""
    ref_sq = np.sum(ref**2, axis=1)
    hits = 0
    for start in range(0, len(query), chunk):
        block = ref_sq - 2.0 * query[start : start + chunk] @ ref.T
        hits += int(
            np.sum(ref_labels[np.argmin(block, axis=1)] == query_labels[start : start + chunk])
        )
    return hits / len(query)


def check_memory(memory: int | None, queries: int, refs: int, chunk_size: int) -> None:
    """The measured rise must stay below :data:`BLOCKS` chunk blocks plus :data:`SLACK`."""
    if memory is None:  # no /proc here: the memory cannot be measured, the values decide
        return
    block = chunk_size * refs * 8
    require(
        memory <= BLOCKS * block + SLACK,
        f"With {queries} queries, {refs} references and chunk_size={chunk_size}, your {NAME} "
        f"held {memory / 2**20:.0f} MiB at once; one chunk's distances take "
        f"{block / 2**20:.1f} MiB and the whole matrix {queries * refs * 8 / 2**20:.0f} MiB. "
        "Compute the distances of chunk_size queries at a time (a loop over "
        "range(0, len(query_emb), chunk_size)) and keep only the nearest index of each.",
    )


def judge_precision_at_1(remote: Remote, rng: np.random.Generator) -> None:
    """Judge the learner's ``precision_at_1(query_emb, query_labels, ref_emb, ref_labels,
    chunk_size=500)`` (raises ``Failed`` at the first mistake).

    Examples
    --------
    >>> judge_precision_at_1(remote, np.random.default_rng(0))  # a right answer: no error
    """
    # The hand-worked example: 0.4 -> 0 (right), 0.6 -> 1 (wrong), 8 -> 10 (right): 2/3.
    ref, ref_labels = np.array([[0.0], [1.0], [10.0]]), np.array([0, 1, 2])
    query, query_labels = np.array([[0.4], [0.6], [8.0]]), np.array([0, 0, 2])
    compare(remote, (query, query_labels, ref, ref_labels), (500, 3, 2, 1), "the worked example")
    # Random data (the hidden tests' kind too), chunk sizes that do not divide the queries.
    queries, refs, dim = (
        int(rng.integers(30, 60)),
        int(rng.integers(40, 90)),
        int(rng.integers(3, 9)),
    )
    args = (
        rng.normal(size=(queries, dim)),
        rng.integers(0, 3, queries),
        rng.normal(size=(refs, dim)),
        rng.integers(0, 3, refs),
    )
    odd = int(rng.integers(3, 12))
    odd += queries % odd == 0  # never a divisor: the last chunk is short
    chunks = (1000, queries, odd, 1, int(rng.integers(2, queries)))
    compare(remote, args, chunks, "random data (checked with a brute-force loop)")
    # Queries that are the references: each is its own nearest reference, at distance 0.
    points = rng.normal(size=(int(rng.integers(10, 30)), dim))
    labels = rng.integers(0, 3, len(points))
    got = p_at_1(remote, (points, labels, points, labels), int(rng.integers(2, 8)))
    require(
        abs(got - 1.0) <= TOLERANCE,
        f"With the references as queries your {NAME} gives {got:.4f}, not 1.0: every query is at "
        "distance 0 from itself, and that IS its nearest reference (do not skip distances of 0).",
    )
    a = (int(rng.integers(7500, 8500)), int(rng.integers(4800, 5200)), 8)
    memory_run(remote, rng, a, CHUNK_A)
    b = (int(rng.integers(2300, 2500)), int(rng.integers(15500, 16500)), 8)
    memory_run(remote, rng, b, CHUNK_B)

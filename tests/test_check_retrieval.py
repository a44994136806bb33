"""Exercise 8.2's self-check on a corpus of right and wrong precision_at_1 answers.

Every right answer (loops, array_split, einsum, a fixed internal chunk) passes; every wrong one is
rejected with a message that names its mistake; and the self-check agrees with the grader's
hidden tests, which are read from notebook 08 itself.
"""

import numpy as np
import pytest

import helpers
from helpers import checks
from notebook_tools import hidden_tests


# ----------------------------------------------------------------------------- right answers
def loop(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    ref_sq = np.sum(ref_emb**2, axis=1)
    hits = 0
    for start in range(0, len(query_emb), chunk_size):
        q = query_emb[start : start + chunk_size]
        sq = np.sum(q**2, axis=1)[:, None] + ref_sq[None, :] - 2.0 * q @ ref_emb.T
        hits += np.sum(
            ref_labels[np.argmin(sq, axis=1)] == query_labels[start : start + chunk_size]
        )
    return float(hits / len(query_emb))


def array_split(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    n_chunks = -(-len(query_emb) // chunk_size)
    right = []
    for q, labels in zip(
        np.array_split(query_emb, n_chunks), np.array_split(query_labels, n_chunks), strict=True
    ):
        sq = (ref_emb**2).sum(axis=1) - 2 * q @ ref_emb.T  # |q|^2 does not change the argmin
        right.append(ref_labels[sq.argmin(axis=1)] == labels)
    return float(np.concatenate(right).mean())


def einsum_and_list(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    nearest = []
    for start in range(0, len(query_emb), chunk_size):
        q = query_emb[start : start + chunk_size]
        sq = np.einsum("ij,ij->i", q, q)[:, None] - 2 * np.einsum("id,jd->ij", q, ref_emb)
        sq += np.einsum("ij,ij->i", ref_emb, ref_emb)
        nearest.extend(np.argmin(sq, axis=1).tolist())
    return float(np.mean(ref_labels[np.array(nearest)] == query_labels))


def smaller_fixed_chunks(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    step = min(chunk_size, 64)  # smaller chunks than asked are fine
    return loop(query_emb, query_labels, ref_emb, ref_labels, chunk_size=step)


RIGHT = [loop, array_split, einsum_and_list, smaller_fixed_chunks]


# ----------------------------------------------------------------------------- wrong answers
def whole_matrix(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    sq = (
        np.sum(query_emb**2, axis=1)[:, None]
        + np.sum(ref_emb**2, axis=1)[None, :]
        - 2.0 * query_emb @ ref_emb.T
    )
    return float(np.mean(ref_labels[np.argmin(sq, axis=1)] == query_labels))


def first_labels_in_every_chunk(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    hits = 0
    for start in range(0, len(query_emb), chunk_size):
        q = query_emb[start : start + chunk_size]
        sq = -2.0 * q @ ref_emb.T + np.sum(ref_emb**2, axis=1)
        hits += np.sum(ref_labels[np.argmin(sq, axis=1)] == query_labels[: len(q)])
    return float(hits / len(query_emb))


def mean_of_chunk_means(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    means = []
    for start in range(0, len(query_emb), chunk_size):
        q = query_emb[start : start + chunk_size]
        sq = -2.0 * q @ ref_emb.T + np.sum(ref_emb**2, axis=1)
        means.append(
            np.mean(ref_labels[np.argmin(sq, axis=1)] == query_labels[start : start + chunk_size])
        )
    return float(np.mean(means))  # a short last chunk weighs as much as a full one


def argmax(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    hits = 0
    for start in range(0, len(query_emb), chunk_size):
        q = query_emb[start : start + chunk_size]
        sq = -2.0 * q @ ref_emb.T + np.sum(ref_emb**2, axis=1)
        hits += np.sum(
            ref_labels[np.argmax(sq, axis=1)] == query_labels[start : start + chunk_size]
        )
    return float(hits / len(query_emb))


def plus_two_q_dot_r(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    hits = 0
    for start in range(0, len(query_emb), chunk_size):
        q = query_emb[start : start + chunk_size]
        sq = np.sum(ref_emb**2, axis=1) + 2.0 * q @ ref_emb.T  # the sign of the product
        hits += np.sum(
            ref_labels[np.argmin(sq, axis=1)] == query_labels[start : start + chunk_size]
        )
    return float(hits / len(query_emb))


def drops_the_last_chunk(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    hits, n = 0, len(query_emb) // chunk_size * chunk_size
    for start in range(0, n, chunk_size):
        q = query_emb[start : start + chunk_size]
        sq = -2.0 * q @ ref_emb.T + np.sum(ref_emb**2, axis=1)
        hits += np.sum(
            ref_labels[np.argmin(sq, axis=1)] == query_labels[start : start + chunk_size]
        )
    return float(hits / max(n, 1))


def no_chunk_size(query_emb, query_labels, ref_emb, ref_labels):
    return whole_matrix(query_emb, query_labels, ref_emb, ref_labels)


def returns_an_array(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    return np.array([loop(query_emb, query_labels, ref_emb, ref_labels, chunk_size)])


def keras_ops_whole_matrix(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    import keras

    ops = keras.ops  # the whole (Q, R) matrix in keras.ops: tracemalloc does not see it
    q, r = ops.convert_to_tensor(query_emb), ops.convert_to_tensor(ref_emb)
    sq = (
        ops.sum(q**2, axis=1)[:, None]
        + ops.sum(r**2, axis=1)[None, :]
        - 2 * ops.matmul(q, ops.transpose(r))
    )
    nearest = keras.ops.convert_to_numpy(ops.argmin(sq, axis=1))
    return float(np.mean(ref_labels[nearest] == query_labels))


def chunk_size_pieces(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    hits = 0  # the mix-up: chunk_size pieces instead of pieces of chunk_size
    for q, labels in zip(
        np.array_split(query_emb, chunk_size), np.array_split(query_labels, chunk_size), strict=True
    ):
        if len(q):
            sq = -2.0 * q @ ref_emb.T + np.sum(ref_emb**2, axis=1)
            hits += np.sum(ref_labels[np.argmin(sq, axis=1)] == labels)
    return float(hits / len(query_emb))


def skips_zero_distances(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    hits = 0  # "a query must not find itself": but a reference at distance 0 is the nearest
    ref_sq = np.sum(ref_emb**2, axis=1)
    for start in range(0, len(query_emb), chunk_size):
        q = query_emb[start : start + chunk_size]
        sq = np.sum(q**2, axis=1)[:, None] + ref_sq - 2.0 * q @ ref_emb.T
        sq[sq < 1e-9] = np.inf
        hits += np.sum(
            ref_labels[np.argmin(sq, axis=1)] == query_labels[start : start + chunk_size]
        )
    return float(hits / len(query_emb))


def stub(query_emb, query_labels, ref_emb, ref_labels, chunk_size=500):
    raise NotImplementedError()


WRONG = {
    whole_matrix: "held .* MiB at once",
    first_labels_in_every_chunk: "right in one chunk but not in several.*its own labels",
    mean_of_chunk_means: "right in one chunk but not in several.*ALL queries",
    argmax: "Even in one chunk it goes wrong.*smallest distance",
    plus_two_q_dot_r: "Even in one chunk it goes wrong.*2 q.r",
    drops_the_last_chunk: "right with chunk_size=1.*also run the last, shorter chunk",
    no_chunk_size: "no chunk_size parameter",
    returns_an_array: "return a Python float",
    stub: "not implemented precision_at_1 yet",
    keras_ops_whole_matrix: "held .* MiB at once",
    chunk_size_pieces: "chunk_size=20, your precision_at_1 held",
    skips_zero_distances: "do not skip distances of 0",
}


@pytest.mark.parametrize("answer", RIGHT, ids=lambda f: f.__name__)
def test_right_answers_pass(answer, capsys):
    checks.check_precision_at_1(answer)
    assert capsys.readouterr().out.startswith("✅")


@pytest.mark.parametrize("answer", list(WRONG), ids=lambda f: f.__name__)
def test_wrong_answers_are_rejected_with_their_mistake(answer):
    with pytest.raises(AssertionError, match=WRONG[answer]):
        checks.check_precision_at_1(answer)


@pytest.mark.parametrize("answer", RIGHT + list(WRONG), ids=lambda f: f.__name__)
def test_the_self_check_agrees_with_the_grader(answer):
    """Full marks (self-check and hidden tests pass) exactly when the self-check says so."""

    def passes(code: str) -> bool:
        try:
            exec(code, {"np": np, "helpers": helpers, "checks": checks, "precision_at_1": answer})  # noqa: S102
        except (AssertionError, NotImplementedError, TypeError, ValueError, IndexError):
            return False
        return True

    self_check = passes("checks.check_precision_at_1(precision_at_1)")
    grader = self_check and passes(
        hidden_tests("08_model_training.ipynb", "check_ex8_2_precision_at_1")
    )
    assert self_check == grader
    assert self_check == (answer in RIGHT)

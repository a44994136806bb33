"""The judges: exercises whose grade is decided here, outside the learner's kernel.

A judge is a function ``judge(remote, rng)``. It draws its inputs from ``rng``
(seeded from the operating system's randomness for every notebook, so no
submission can know them in advance), asks the learner's kernel for the
learner's answers through ``remote`` (a :class:`~siamese_grading.remote.Remote`:
data in, data out), compares them with its own numpy reference, and raises
:class:`Failed` with the learner-facing message of the first mistake it finds.
It returns None when the answer is right. The hidden tests of a judged exercise
live here, in the grader's worker; the kernel never sees them.

:data:`JUDGES` maps the nbgrader ``grade_id`` of a self-check cell to its judge.
An exercise without a judge is still graded by its self-check cell in the
kernel (see the README's threat model for which is which).

Only the standard library and numpy: the worker imports this package.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import numpy as np

from siamese_grading.remote import KernelGone, ProtocolError, Remote, RequestTimeout

from ._base import Failed, LearnerRaised
from .batches import judge_create_batch
from .distance import judge_squared_distance
from .embedding import judge_embedding_model
from .images import judge_prepare_images
from .loss import judge_triplet_loss
from .margin_loss import judge_margin_loss
from .mining import judge_batch_hard
from .plots import judge_plot_triplets
from .retrieval import judge_precision_at_1
from .siamese import judge_siamese_network
from .training import judge_compile_siamese, judge_train
from .training_data import judge_small_test_set, judge_triplet_stream

#: grade_id of a self-check cell -> the judge that decides its grade (every exercise 1.1-9.1).
JUDGES: dict[str, Callable[[Remote, np.random.Generator], None]] = {
    "check_ex1_1_squared_distance": judge_squared_distance,
    "check_ex2_1_prepare_images": judge_prepare_images,
    "check_ex3_1_plot_triplets": judge_plot_triplets,
    "check_ex4_1_create_batch": judge_create_batch,
    "check_ex5_1_embedding_model": judge_embedding_model,
    "check_ex6_1_siamese_network": judge_siamese_network,
    "check_ex7_1_triplet_loss": judge_triplet_loss,
    "check_ex7_2_margin_loss": judge_margin_loss,
    "check_ex8_1_small_test_set": judge_small_test_set,
    "check_ex8_2_precision_at_1": judge_precision_at_1,
    "check_ex8_3_compile_siamese": judge_compile_siamese,
    "check_ex8_4_triplet_stream": judge_triplet_stream,
    "check_ex8_5_train": judge_train,
    "check_ex9_1_batch_hard": judge_batch_hard,
}

__all__ = ["JUDGES", "Failed", "LearnerRaised", "judge"]


def judge(grade_id: str, remote: Remote, seed: int | None = None) -> dict:
    """Run the judge of ``grade_id`` against the kernel behind ``remote``; never raises.

    Parameters
    ----------
    grade_id : str
        A key of :data:`JUDGES`.
    remote : Remote
        The learner's kernel.
    seed : int, optional
        Seed of the judge's inputs; None (grading) draws a fresh one from the OS.

    Returns
    -------
    dict
        ``status`` (``"passed"``, ``"failed"``, ``"error"``, ``"timeout"`` or
        ``"dead"``), ``message``, ``requests``, ``seconds`` and ``seed`` (to replay a
        verdict: ``judge(grade_id, remote, seed)`` draws the same inputs).

    Examples
    --------
    >>> judge("check_ex1_1_squared_distance", remote, seed=0)["status"]
    'passed'
    """
    seed = secrets.randbits(64) if seed is None else seed
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    status, message = "passed", ""
    try:
        JUDGES[grade_id](remote, rng)
    except Failed as verdict:
        status, message = "failed", str(verdict)
    except LearnerRaised as raised:
        status, message = "error", str(raised)
    except ProtocolError as error:
        status, message = "error", f"the kernel's answer to the grader was not valid: {error}"
    except RequestTimeout:
        status, message = "timeout", "the exercise's code ran past the time limit"
    except KernelGone:
        status, message = "dead", "the kernel died while the grader checked this exercise"
    except Exception as error:  # a bug of the judge must cost this row only
        status, message = "error", f"the grader could not check this exercise ({error!r})"
    return {
        "status": status,
        "message": message,
        "requests": remote.requests,
        "seconds": round(time.monotonic() - started, 4),
        "seed": seed,
    }

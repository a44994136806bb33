"""What every judge shares: asking for a value, and the two ways a verdict goes wrong."""

from __future__ import annotations

from typing import Any

import numpy as np

from siamese_grading.remote import Remote


class Failed(AssertionError):
    """The learner's answer is wrong; the message says how (shown to the learner)."""


class LearnerRaised(Exception):
    """The learner's function raised; the message is the row's ``error`` message."""


def value(remote: Remote, name: str, *args: Any) -> np.ndarray | None:
    """The learner's ``name(*args)`` as an array (None when it returned None).

    Raises
    ------
    LearnerRaised
        If the learner's function raised (the untouched stub says "not implemented").
    """
    reply = remote.call(name, *args)
    if reply.raised is not None:
        ename, evalue = reply.raised.ename, reply.raised.evalue
        if ename == "NotImplementedError":
            raise LearnerRaised(
                f"NotImplementedError: you have not implemented {name} yet: replace "
                "`raise NotImplementedError()` with your code"
            )
        raise LearnerRaised(f"{ename}: {evalue}" if evalue else ename)
    return reply.value


def require(condition: bool, message: str) -> None:
    """Raise :class:`Failed` with ``message`` unless ``condition``."""
    if not condition:
        raise Failed(message)


def scalar(result: np.ndarray | None, what: str) -> float:
    """``result`` as one float; :class:`Failed` if it is None or not one number."""
    require(result is not None, f"{what} returned None: did you forget `return`?")
    require(
        result.size == 1,
        f"{what} should be one number, got an array of shape {result.shape}",
    )
    return float(result.reshape(()))

"""What every judge shares: asking for a value, and the two ways a verdict goes wrong."""

from __future__ import annotations

from typing import Any

import numpy as np

from siamese_grading.remote import Remote, Reply


class Failed(AssertionError):
    """The learner's answer is wrong; the message says how (shown to the learner)."""


class LearnerRaised(Exception):
    """The learner's function raised; the message is the row's ``error`` message."""


def value(remote: Remote, name: str, *args: Any, **kwargs: Any) -> Any:
    """The learner's ``name(*args, **kwargs)``, as data (see ``remote.decode_value``).

    Raises
    ------
    LearnerRaised
        If the learner's function raised (the untouched stub says "not implemented").
    """
    return unwrap(remote.call(name, *args, **kwargs), name)


def unwrap(reply: Reply, name: str) -> Any:
    """The value of ``reply``; :class:`LearnerRaised` if the learner's code raised."""
    if reply.raised is not None:
        ename, evalue = reply.raised.ename, reply.raised.evalue
        if ename == "NotImplementedError":
            raise LearnerRaised(
                f"NotImplementedError: you have not implemented {name} yet: replace "
                "`raise NotImplementedError()` with your code"
            )
        raise LearnerRaised(f"{ename}: {evalue}" if evalue else ename)
    return reply.value


def array(result: Any, what: str) -> np.ndarray | None:
    """``result`` (a number, an array or a list of them) as one numpy array; None stays None."""
    if result is None or isinstance(result, np.ndarray):
        return result
    try:
        out = np.asarray(result)
    except (ValueError, TypeError):
        raise Failed(f"{what} returned a value that is not one array of numbers") from None
    if out.dtype.kind not in "biuf":
        raise Failed(f"{what} returned a value that is not one array of numbers")
    return out


def require(condition: bool, message: str) -> None:
    """Raise :class:`Failed` with ``message`` unless ``condition``."""
    if not condition:
        raise Failed(message)


def scalar(result: Any, what: str) -> float:
    """``result`` as one float; :class:`Failed` if it is None or not one number."""
    require(result is not None, f"{what} returned None: did you forget `return`?")
    result = array(result, what)
    require(
        result.size == 1,
        f"{what} should be one number, got an array of shape {result.shape}",
    )
    return float(result.reshape(()))

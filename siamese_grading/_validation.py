"""Checks of the grader's arguments: one place, one style of message.

Each check returns the value (as the plain Python type) or raises ``TypeError``
(the wrong kind of value) or ``ValueError`` (the right kind, a wrong value), with a
message that names the argument, says what was received and what is expected.
The command line uses the same checks for its options (see ``__main__``).

Only the standard library: the command line and the worker process import this
module, and both must start fast.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def received(value: object) -> str:
    """How a message shows a received value: its type and repr, e.g. ``str '2'``."""
    return f"{type(value).__name__} {value!r}"


def check_seconds(value: object, name: str, *, optional: bool = False) -> float | None:
    """A time limit: a finite number of seconds > 0 (or None when ``optional``).

    Examples
    --------
    >>> check_seconds(120, "timeout")
    120.0
    >>> check_seconds(-1, "timeout")
    Traceback (most recent call last):
    ValueError: timeout must be a finite number of seconds > 0, e.g. 120, got -1
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        expected = "a number of seconds (int or float)" + (" or None" if optional else "")
        raise TypeError(f"{name} must be {expected}, got {received(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, e.g. 120, got {value!r}")
    return float(value)


def check_count(value: object, name: str, *, minimum: int = 1) -> int:
    """A whole number >= ``minimum`` (bool is refused).

    Examples
    --------
    >>> check_count(0, "jobs")
    Traceback (most recent call last):
    ValueError: jobs must be a whole number >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number (int), got {received(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def check_flag(value: object, name: str) -> bool:
    """True or False (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {received(value)}")
    return value


def check_name(value: object, name: str, *, example: str) -> str:
    """A non-empty string without surrounding spaces, e.g. a kernel name."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string such as {example!r}, got {received(value)}")
    if not value.strip() or value != value.strip():
        raise ValueError(
            f"{name} must be a non-empty name without surrounding spaces, such as "
            f"{example!r}, got {value!r}"
        )
    return value


def check_callable(value: T, name: str, *, example: str) -> T:
    """Something that can be called, e.g. a ``log`` function."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, e.g. {example}, got {received(value)}")
    return value


def check_instance(value: object, expected: type[T], name: str, *, example: str) -> T:
    """An instance of ``expected``."""
    if not isinstance(value, expected):
        raise TypeError(
            f"{name} must be a {expected.__module__}.{expected.__qualname__}, e.g. {example}, "
            f"got {received(value)}"
        )
    return value


def check_keys(data: object, allowed: set[str], name: str) -> Mapping[str, Any]:
    """A mapping with string keys, each of them one of ``allowed``."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{name} must be a mapping (a JSON object), got {received(data)}")
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise ValueError(f"{name} has unknown keys {unknown}; expected some of {sorted(allowed)}")
    return data

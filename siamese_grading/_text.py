"""Text helpers of the grader: one short line out of an error message or a cell.

Only the standard library: the worker process imports this module too.
"""

from __future__ import annotations

import re

_HEX = re.compile(r"0x[0-9a-fA-F]{4,}")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def first_line(text: str | None, limit: int | None = 200) -> str:
    """First non-empty line of ``text``, stripped, without colour codes or memory addresses.

    Addresses such as ``0x7f3a...`` change between runs; they become ``0x...`` so
    that the same submission always gets the same message.

    Parameters
    ----------
    text : str or None
        An error message, a traceback or a cell's source (None gives ``""``).
    limit : int or None
        Longest result in characters; a longer line is cut and ends with ``...``.
        None keeps the whole line.

    Returns
    -------
    str
        The line, or ``""`` when ``text`` has no non-empty line.

    Examples
    --------
    >>> first_line("\\nyou averaged over the embedding dimension\\nmore")
    'you averaged over the embedding dimension'
    >>> first_line("assert add(2, 3) == 5, 'add(2, 3) should be 5'", limit=20)
    'assert add(2, 3)...'
    """
    text = _ANSI.sub("", text or "")
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    line = _HEX.sub("0x...", line)
    if limit is None or len(line) <= limit:
        return line
    return line[: max(0, limit - 3)] + "..."


def describe(error: BaseException) -> str:
    """``"TypeName: message"`` for an exception, as a traceback's last line shows it.

    Examples
    --------
    >>> describe(ValueError("bad"))
    'ValueError: bad'
    """
    return f"{type(error).__name__}: {error}"

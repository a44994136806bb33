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


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(char: str) -> str:
    """A Python-style escape of one character (always 4 or 8 hex digits, never ``\\x``)."""
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str, keep: str = "") -> str:
    """``text`` with each character that is not printable written as a Python escape.

    Control characters (newlines, ``ESC``...), invisible format characters (such
    as the right-to-left override) and lone surrogates (which cannot be written
    as UTF-8) become ``\\n``, ``\\u001b``, ``\\u202e``, ``\\ud800``...; the
    characters of ``keep`` (e.g. ``"\\n\\t"`` for multi-line text) stay as they are.

    Examples
    --------
    >>> printable("line 1\\nline 2\\x1b[31m \\ud800")
    'line 1\\\\nline 2\\\\u001b[31m \\\\ud800'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else _escape(c) for c in text)


def no_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as ``\\udXXX`` (so it can be UTF-8)."""
    return _SURROGATE.sub(lambda match: _escape(match.group()), text)


def display_name(name: str) -> str:
    """A file name as the grader shows it: printable, valid text, and one name per file.

    ``os.listdir`` gives each byte of a name that is not UTF-8 as a surrogate
    (``"\\udcff"``); it is shown as ``\\xff``. Characters that are not printable
    are escaped as in :func:`printable`, and a backslash is doubled, so that two
    different names never look the same.

    Examples
    --------
    >>> display_name(b"z_\\xff\\xfe".decode("utf-8", "surrogateescape"))
    'z_\\\\xff\\\\xfe'
    >>> display_name("alice")
    'alice'
    """
    if name.isprintable() and "\\" not in name:
        return name
    out = []
    for char in name:
        if char == "\\":
            out.append("\\\\")
        elif "\udc80" <= char <= "\udcff":  # a byte that is not UTF-8
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(_escape(char))
    return "".join(out)

"""How much a process's resident memory rises while a block runs, sampled from outside.

The grader measures the learner's kernel from its own worker: a thread reads the kernel's
``/proc/<pid>/status`` (``VmRSS``) every :data:`INTERVAL` seconds while one request runs.
Nothing the kernel says about itself enters the figure, so it cannot be forged by a reply;
it is the resident memory of the kernel process (all its threads), not of its children.
The figure is the largest *rise*: the highest sample minus the lowest sample before it, so
memory that the kernel frees at the start of a request does not hide what it takes after.

Only the standard library: the worker imports this module.

Examples
--------
>>> import os
>>> with ResidentRise(os.getpid()) as rise:
...     block = bytearray(64 * 2**20)  # 64 MiB, touched
>>> rise.bytes is None or rise.bytes > 32 * 2**20
True
"""

from __future__ import annotations

import threading

#: Seconds between two samples.
INTERVAL = 0.002


def resident_bytes(pid: int) -> int | None:
    """``VmRSS`` of process ``pid`` in bytes; None if it cannot be read (gone, not Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class ResidentRise:
    """Context manager: the largest rise of ``pid``'s resident memory while the block runs.

    Parameters
    ----------
    pid : int
        The process to watch (the kernel; ``os.getpid()`` for oneself).

    Attributes
    ----------
    bytes : int or None
        After the block: the highest sample minus the lowest one before it (0 if it never
        rose); None if the process's memory could not be read.
    """

    def __init__(self, pid: int):
        self.pid = pid
        self.bytes: int | None = None
        self._low = self._rise = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        now = resident_bytes(self.pid)
        if now is None:
            return
        self._low = now if self._low is None else min(self._low, now)
        self._rise = max(self._rise or 0, now - self._low)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            self._sample()

    def __enter__(self) -> ResidentRise:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.bytes = self._rise

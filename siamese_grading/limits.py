"""The limits and settings of a notebook's run: one object from the command line to the worker.

:class:`Limits` is built once (by the command line, or by the caller of
:func:`~siamese_grading.grade.grade_submissions`), checked once, and travels as
it is: to the runner, then as JSON (:meth:`Limits.to_json`) in the worker's job
file, and back (:meth:`Limits.from_json`) in the worker.

Only the standard library: the command line and the worker process import this
module, and both must start fast.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from ._validation import check_count, check_flag, check_keys, check_name, check_seconds

#: Seconds per notebook, kernel start included, unless told otherwise.
DEFAULT_TIMEOUT_S = 120.0
#: Bytes of output kept per cell; the rest is cut.
MAX_CELL_OUTPUT = 2**20
#: Size of each sandbox's private /tmp (its working folder and home included).
SCRATCH_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Limits:
    """How each notebook of a grading run is run.

    Every field is checked when the object is made (TypeError or ValueError with
    what was received and what is expected).

    Attributes
    ----------
    timeout : float
        Seconds for the whole notebook, kernel start included.
    cell_timeout : float or None
        Seconds per cell; a slower cell is interrupted and the next cells still
        run. None: only ``timeout`` applies.
    run_all : bool
        Run every cell. By default a notebook stops after its last self-check: the
        cells after it cannot change a grade (and may train a model for minutes).
    kernel_name : str
        Jupyter kernel that runs the notebooks.
    max_cell_output : int
        Bytes of output kept per cell.
    sandbox : bool
        Run each kernel in a bubblewrap sandbox (Linux; see
        :mod:`~siamese_grading.sandbox`). False only for submissions you trust
        (``--no-sandbox``): every row of grades.csv then says ``none``.
    scratch_bytes : int
        Size of each sandbox's private ``/tmp``, its working folder included.

    Examples
    --------
    >>> limits = Limits(timeout=60, cell_timeout=5)
    >>> limits.cell_limit
    5.0
    >>> Limits.from_json(limits.to_json()) == limits
    True
    """

    timeout: float = DEFAULT_TIMEOUT_S
    cell_timeout: float | None = None
    run_all: bool = False
    kernel_name: str = "python3"
    max_cell_output: int = MAX_CELL_OUTPUT
    sandbox: bool = True
    scratch_bytes: int = SCRATCH_BYTES

    def __post_init__(self) -> None:
        checked = {
            "timeout": check_seconds(self.timeout, "timeout"),
            "cell_timeout": check_seconds(self.cell_timeout, "cell_timeout", optional=True),
            "run_all": check_flag(self.run_all, "run_all"),
            "kernel_name": check_name(self.kernel_name, "kernel_name", example="python3"),
            "max_cell_output": check_count(self.max_cell_output, "max_cell_output"),
            "sandbox": check_flag(self.sandbox, "sandbox"),
            "scratch_bytes": check_count(self.scratch_bytes, "scratch_bytes", minimum=2**20),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def cell_limit(self) -> float:
        """Seconds one cell may run: ``cell_timeout``, but never more than ``timeout``."""
        if self.cell_timeout is None:
            return self.timeout
        return min(self.cell_timeout, self.timeout)

    def to_json(self) -> dict[str, Any]:
        """The fields as a dict of JSON values (for ``json.dumps``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Limits:
        """The :class:`Limits` that :meth:`to_json` gave ``data`` for (missing keys: defaults).

        Raises
        ------
        TypeError
            If ``data`` is not a mapping, or a value has the wrong type.
        ValueError
            If ``data`` has a key that is not a field, or a value is out of range.
        """
        known = {f.name for f in fields(cls)}
        return cls(**check_keys(data, known, "Limits JSON"))


def default_jobs() -> int:
    """Notebooks run in parallel by default: 2, or 1 on a single-core machine."""
    return max(1, min(2, os.cpu_count() or 1))

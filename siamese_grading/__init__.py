"""Instructor tools: write the student notebooks, and grade what learners hand in.

Two commands (``python -m siamese_grading --help``, or ``siamese-grading``):

``release SRC_DIR OUT_DIR``
    Writes the student version of every notebook of SRC_DIR: solutions replaced by
    ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, hidden tests removed,
    outputs cleared, and a fingerprint of each self-check in the metadata.
``grade SUBMISSIONS_DIR --source SRC_DIR --out RESULTS_DIR``
    Treats every submission as untrusted code. For each notebook, a fresh kernel
    in a bubblewrap sandbox (Linux) runs the source notebook's own cells with the
    learner's exercise code (definitions only, screened) in place of the
    solutions, then the locked self-checks and hidden tests; the grader decides
    each grade from the kernel's replies, outside the sandbox, and writes
    grades.csv and one inert (text and images) HTML feedback page per notebook.

The notebooks follow nbgrader's conventions (``### BEGIN SOLUTION`` markers and
nbgrader cell metadata), so ``nbgrader generate_assignment`` works on them too.

This package is separate from the learner library ``helpers`` and imports nothing
of it (nor TensorFlow or Keras: the kernels that run the notebooks do), so that
the command line starts in a fraction of a second. The names below are imported
on first use, for the same reason.

The grader is POSIX-only (it uses ``resource`` and ``os.killpg``); on Windows, run
it under WSL or in a Linux container. Its sandbox needs Linux and bubblewrap;
``--no-sandbox`` grades without one, only for submissions you trust.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .grade import GradeReport, GradingError, grade_submissions
    from .limits import Limits
    from .release import ReleaseError, release_directory, release_notebook
    from .report import STATUSES, GradeRow

#: Public name -> the module of this package that defines it.
_EXPORTS = {
    "GradeReport": "grade",
    "GradingError": "grade",
    "grade_submissions": "grade",
    "Limits": "limits",
    "ReleaseError": "release",
    "release_directory": "release",
    "release_notebook": "release",
    "STATUSES": "report",
    "GradeRow": "report",
}

__all__ = [
    "STATUSES",
    "GradeReport",
    "GradeRow",
    "GradingError",
    "Limits",
    "ReleaseError",
    "grade_submissions",
    "release_directory",
    "release_notebook",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (``import siamese_grading`` stays cheap)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

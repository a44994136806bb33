"""Instructor tools: write the student notebooks, and grade what learners hand in.

Two commands (``python -m helpers.grading --help``, or ``siamese-grading``):

``release SRC_DIR OUT_DIR``
    Writes the student version of every notebook of SRC_DIR: solutions replaced by
    ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, hidden tests removed,
    outputs cleared, and a fingerprint of each self-check in the metadata.
``grade SUBMISSIONS_DIR --source SRC_DIR --out RESULTS_DIR``
    Runs each learner's notebook in a fresh kernel, in its own process group, with
    the locked self-checks and hidden tests put back, and writes grades.csv and one
    HTML feedback page per notebook.

The notebooks follow nbgrader's conventions (``### BEGIN SOLUTION`` markers and
nbgrader cell metadata), so ``nbgrader generate_assignment`` works on them too.

Grading isolates submissions but is not a security sandbox: for untrusted classes,
run the grader inside a container.
"""

from .grade import GradeReport, GradingError, grade_submissions
from .release import ReleaseError, release_directory, release_notebook
from .report import STATUSES, GradeRow

__all__ = [
    "STATUSES",
    "GradeReport",
    "GradeRow",
    "GradingError",
    "ReleaseError",
    "grade_submissions",
    "release_directory",
    "release_notebook",
]

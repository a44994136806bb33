"""Command line: ``python -m helpers.grading {release,grade} ...`` (or ``siamese-grading``)."""

from __future__ import annotations

import argparse
import sys

from .grade import GradingError, default_jobs, grade_submissions
from .release import ReleaseError, release_directory

DESCRIPTION = """\
Instructor tools for the course notebooks.

  release  write the student version of the notebooks (solutions and hidden tests out)
  grade    run learners' notebooks with the locked self-checks and write their grades

Grading isolates each submission (own process group, kernel, temporary folder and
time limit) but is not a security sandbox: for untrusted classes, run it inside a
container."""

RELEASE_HELP = """\
Write the student version of every notebook of SRC_DIR into OUT_DIR: each
### BEGIN SOLUTION .. ### END SOLUTION block becomes "# YOUR CODE HERE" and
"raise NotImplementedError()" (the code around it is kept), ### BEGIN HIDDEN TESTS ..
### END HIDDEN TESTS blocks are removed, outputs are cleared, and each self-check's
fingerprint goes into the notebook metadata. OUT_DIR also gets a README.md for
learners. SRC_DIR is never modified."""

GRADE_HELP = """\
Grade SUBMISSIONS_DIR/<learner>/<notebook>.ipynb against the source notebooks of
the same name. Each notebook runs top to bottom in a fresh kernel, in its own
process group and temporary folder, with the locked self-checks (hidden tests
included) put back. An exercise scores its points when its self-check runs without
error. Writes RESULTS_DIR/grades.csv (learner, notebook, exercise, points,
max_points, status, message; status is passed, failed, error, timeout, missing or
invalid-notebook) and RESULTS_DIR/feedback/<learner>/<notebook>.html, and prints a
summary table. Submissions and sources are never modified."""


def build_parser() -> argparse.ArgumentParser:
    """The ``release`` / ``grade`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="siamese-grading",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{release,grade}")
    release = commands.add_parser(
        "release",
        help="write the student version of the notebooks",
        description=RELEASE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    release.add_argument("src_dir", metavar="SRC_DIR", help="folder of the instructor notebooks")
    release.add_argument("out_dir", metavar="OUT_DIR", help="folder for the student notebooks")
    release.add_argument(
        "--force", action="store_true", help="write into a non-empty OUT_DIR (same names replaced)"
    )
    grade = commands.add_parser(
        "grade",
        help="grade learners' notebooks",
        description=GRADE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grade.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="<learner>/<notebook>.ipynb")
    grade.add_argument("--source", required=True, metavar="SRC_DIR", help="instructor notebooks")
    grade.add_argument("--out", required=True, metavar="RESULTS_DIR", help="where results go")
    grade.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per notebook (default: 120)"
    )
    grade.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        help="seconds per cell; a slower cell is interrupted and the rest still runs "
        "(default: the notebook's --timeout)",
    )
    grade.add_argument(
        "--jobs", type=int, default=default_jobs(), help="notebooks run in parallel (default: 2)"
    )
    grade.add_argument("--kernel", default="python3", help="Jupyter kernel (default: python3)")
    grade.add_argument(
        "--run-all",
        action="store_true",
        help="run every cell; by default a notebook stops after its last self-check, "
        "since later cells cannot change a grade (and may train a model for minutes)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 refused, 2 bad usage)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "release":
            release_directory(args.src_dir, args.out_dir, force=args.force)
        else:
            grade_submissions(
                args.submissions,
                args.source,
                args.out,
                timeout=args.timeout,
                jobs=args.jobs,
                cell_timeout=args.cell_timeout,
                kernel_name=args.kernel,
                run_all=args.run_all,
                log=lambda line: print(line, flush=True),
            )
    except (ReleaseError, GradingError) as error:
        print(f"siamese-grading {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

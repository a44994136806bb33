"""Command line: ``python -m siamese_grading {release,grade} ...`` (or ``siamese-grading``).

Building the parser and printing ``--help`` import only the standard library; the
commands import their modules (nbformat, nbclient, nbconvert) when they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ._validation import check_count, check_name, check_seconds
from .limits import (
    DEFAULT_TIMEOUT_S,
    MAX_PROCESSES,
    MEMORY_BYTES,
    default_jobs,
    format_mib,
    parse_size,
)

#: What the command line says on Windows, where the grader cannot run.
POSIX_ONLY = (
    "the grader is POSIX-only (it uses resource and os.killpg); "
    "run it under WSL or in a Linux container"
)

DESCRIPTION = """\
Instructor tools for the course notebooks.

  release  write the student version of the notebooks (solutions and hidden tests out)
  grade    run learners' notebooks with the locked self-checks and write their grades

A submission is untrusted code: on Linux, grading runs each notebook in a
bubblewrap sandbox (no network, nothing of yours visible, nothing left running)
and decides each grade outside it, from a fresh kernel that runs only the course's
cells and the exercises' definitions. Elsewhere, --no-sandbox grades without one
(for submissions you trust)."""

RELEASE_HELP = """\
Write the student version of every notebook of SRC_DIR into OUT_DIR: each
### BEGIN SOLUTION .. ### END SOLUTION block becomes "# YOUR CODE HERE" and
"raise NotImplementedError()" (the code around it is kept), ### BEGIN HIDDEN TESTS ..
### END HIDDEN TESTS blocks are removed, outputs are cleared, and each self-check's
fingerprint goes into the notebook metadata. OUT_DIR also gets a README.md for
learners. SRC_DIR is never modified."""

GRADE_HELP = """\
Grade SUBMISSIONS_DIR/<learner>/<notebook>.ipynb against the source notebooks of
the same name. For each notebook, a fresh kernel in a bubblewrap sandbox runs the
source notebook's own cells with the learner's exercise cells in place of the
solutions (definitions only; code that tampers with the checks is refused), then
the locked self-checks with their hidden tests. An exercise scores its points when
its self-check runs without error. Writes RESULTS_DIR/grades.csv (learner,
notebook, exercise, points, max_points, status, message, sandbox; status is passed,
failed, error, refused, timeout, missing, invalid-notebook, or memory, processes or
cpu for a notebook past --memory, --max-processes or --cpu-time) and
RESULTS_DIR/feedback/<learner>/<notebook>.html (text and images only), and prints
a summary table. Submissions and sources are never modified. Before the first
submission, the set-up cell of each source notebook runs in a kernel started as the
submissions' are; if it fails, the command says why and how to fix it, grades
nothing and exits with status 1."""


def as_option(check: Callable[[Any], Any], convert: type) -> Callable[[str], Any]:
    """An argparse ``type=`` from a check of :mod:`._validation`: convert, check, or say why not.

    argparse shows the message as ``argument --jobs: value must be ...``.
    """

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            kind = "a whole number" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        try:
            return check(value)
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def memory_option(text: str) -> int:
    """``--memory``: a size such as ``3G`` or ``512M``, at least 64 MiB (argparse ``type=``)."""
    try:
        size = parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if size < 64 * 2**20:
        raise argparse.ArgumentTypeError(
            f"a notebook needs at least 64M (a bare Python kernel uses about 50 MiB), got {text!r}"
        )
    return size


def build_parser() -> argparse.ArgumentParser:
    """The ``release`` / ``grade`` argument parser (standard library only)."""
    parser = argparse.ArgumentParser(
        prog="siamese-grading",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{release,grade}")
    release = _command(
        commands, "release", "write the student version of the notebooks", RELEASE_HELP
    )
    release.add_argument("src_dir", metavar="SRC_DIR", help="folder of the instructor notebooks")
    release.add_argument("out_dir", metavar="OUT_DIR", help="folder for the student notebooks")
    release.add_argument(
        "--force", action="store_true", help="write into a non-empty OUT_DIR (same names replaced)"
    )
    grade = _command(commands, "grade", "grade learners' notebooks", GRADE_HELP)
    grade.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="<learner>/<notebook>.ipynb")
    grade.add_argument("--source", required=True, metavar="SRC_DIR", help="instructor notebooks")
    grade.add_argument("--out", required=True, metavar="RESULTS_DIR", help="where results go")
    grade.add_argument(
        "--timeout",
        type=as_option(lambda v: check_seconds(v, "value"), float),
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds per notebook (default: {DEFAULT_TIMEOUT_S:g})",
    )
    grade.add_argument(
        "--cell-timeout",
        type=as_option(lambda v: check_seconds(v, "value"), float),
        default=None,
        help="seconds per cell; a slower cell is interrupted and the rest still runs "
        "(default: the notebook's --timeout)",
    )
    grade.add_argument(
        "--jobs",
        type=as_option(lambda v: check_count(v, "value"), int),
        default=default_jobs(),
        help="notebooks run in parallel (default: 2, or 1 on a single core)",
    )
    grade.add_argument(
        "--kernel",
        type=as_option(lambda v: check_name(v, "value", example="python3"), str),
        default="python3",
        help="Jupyter kernel (default: python3)",
    )
    grade.add_argument(
        "--memory",
        type=memory_option,
        default=MEMORY_BYTES,
        metavar="SIZE",
        help="memory of a notebook, all its processes together, e.g. 3G or 1536M; more, and "
        f"its remaining checks get status memory (default: {format_mib(MEMORY_BYTES)})",
    )
    grade.add_argument(
        "--cpu-time",
        type=as_option(lambda v: check_seconds(v, "value"), float),
        default=None,
        metavar="SECONDS",
        help="CPU-seconds of a notebook, all its processes and threads together; more, and its "
        "remaining checks get status cpu (default: 4 x --timeout)",
    )
    grade.add_argument(
        "--max-processes",
        type=as_option(lambda v: check_count(v, "value", minimum=8), int),
        default=MAX_PROCESSES,
        metavar="N",
        help="processes and threads of a notebook at once; more, and its remaining checks get "
        f"status processes (default: {MAX_PROCESSES})",
    )
    grade.add_argument(
        "--run-all",
        action="store_true",
        help="run every cell; by default a notebook stops after its last self-check, "
        "since later cells cannot change a grade (and may train a model for minutes)",
    )
    grade.add_argument(
        "--no-sandbox",
        action="store_true",
        help="grade without the bubblewrap sandbox (macOS, or Linux without bubblewrap): "
        "submissions then run as you and can read and change your files; only for "
        "submissions you trust (every row of grades.csv says sandbox=none)",
    )
    return parser


def _command(commands, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` keeps the line breaks of its ``description``."""
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 refused, 2 bad usage).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when the command did its work, 1 when it refused (the reason goes to
        stderr as one line; on Windows, always), 2 for bad usage (from argparse).
    """
    if sys.platform == "win32":
        print(f"siamese-grading: error: {POSIX_ONLY}", file=sys.stderr)
        return 1
    args = build_parser().parse_args(argv)
    # Imported here, not above: --help and bad usage must not pay for nbformat & co.
    from .grade import GradingError, grade_submissions
    from .limits import Limits
    from .release import ReleaseError, release_directory

    try:
        if args.command == "release":
            release_directory(args.src_dir, args.out_dir, force=args.force)
        else:
            limits = Limits(
                timeout=args.timeout,
                cell_timeout=args.cell_timeout,
                run_all=args.run_all,
                kernel_name=args.kernel,
                sandbox=not args.no_sandbox,
                memory_bytes=args.memory,
                cpu_seconds=args.cpu_time,
                max_processes=args.max_processes,
            )
            grade_submissions(
                args.submissions,
                args.source,
                args.out,
                limits=limits,
                jobs=args.jobs,
                log=lambda line: print(line, flush=True),
            )
    except (ReleaseError, GradingError) as error:
        print(f"siamese-grading {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

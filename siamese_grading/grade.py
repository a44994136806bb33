"""Grade learners' notebooks (``siamese-grading grade``).

Layout: ``SUBMISSIONS_DIR/<learner>/<notebook>.ipynb``; a notebook is matched to
the source notebook of the same file name. For each submitted notebook, the
grader builds a grading notebook from the *source* notebook, with the learner's
exercise code (definitions only, screened) in place of each solution
(:mod:`.assemble`), runs it in a fresh kernel in a bubblewrap sandbox
(:mod:`.sandbox`, :mod:`.runner`), and scores each exercise from the kernel's
replies, which the grader's worker receives over channels that nothing in the
sandbox can reach: full points when its self-check cell ran without error, 0
otherwise. A row's status is one of

``passed``
    the self-check ran without error;
``failed``
    it raised an AssertionError (the message is its first line);
``error``
    another exception (NotImplementedError, NameError, a syntax error in the
    exercise cell...) or the kernel died;
``refused``
    the exercise's code reaches for the grading machinery (:mod:`.screen`); it
    did not run;
``timeout``
    the notebook ran past its time limit before or while this check ran;
``missing``
    the notebook was not submitted, or the exercise's cell could not be found;
``invalid-notebook``
    the file is not a readable notebook (see
    :func:`~siamese_grading.nbtools.read_notebook`), or it or the learner's folder
    is a symbolic link (never followed: it could point at the source or at another
    learner's work);
``memory``, ``processes``, ``cpu``
    the notebook went past that limit (:class:`~.limits.Limits`: ``--memory``,
    ``--max-processes``, ``--cpu-time``) before or while this check ran.

Each submission's steps (reading, screening, assembling, running, scoring,
writing its feedback) are isolated: whatever goes wrong with one costs only its
own rows (``invalid-notebook`` or ``error``, with a one-line reason), never the
class's grades.csv. Names that are not valid UTF-8, or not printable, are shown
escaped (:func:`~siamese_grading._text.display_name`, e.g. ``z_\\xff\\xfe``) in
rows, the log and the feedback, whose folder is that name (shortened, with a
hash, when too long).


Before the first submission runs, :func:`preflight` runs the set-up cell of each
source notebook in one kernel started exactly as the submissions' kernels are; if
it fails, grading stops with the cause and its fix, and writes nothing.

The ``sandbox`` column says how the notebook ran: ``bubblewrap``, or ``none``
when the instructor passed ``--no-sandbox``.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ._text import describe, display_name, first_line, printable
from ._validation import check_callable, check_count, check_instance
from .assemble import Assembled, ExerciseCode, assemble
from .limits import LIMIT_OPTIONS, Limits
from .nbtools import Exercise, InvalidNotebookError, find_exercises, read_notebook
from .preflight import setup_cell, setup_problem
from .report import (
    FeedbackWriter,
    GradeRow,
    feedback_cell,
    format_points,
    inert_outputs,
    summary_table,
    write_csv,
)
from .runner import KERNEL_ENV, RunResult, kill_all, run_notebook
from .sandbox import Sandbox, SandboxError, build_sandbox

FEEDBACK_NOTE = (
    "Below is the notebook as the grader ran it, in a fresh kernel: the course's own cells, "
    "your exercise cells (their definitions: other statements are listed as not run) and the "
    "original self-checks, with extra hidden tests whose output is not shown. Cells you added "
    "or changed outside the exercise cells were not run."
)
FEEDBACK_NOTE_STOP = (
    " The grader stopped after the last self-check: the cells after it cannot change your "
    "grade, so they show no output here."
)
NO_SANDBOX_NOTE = " This notebook was graded without a sandbox."
#: What the feedback page shows of a cell at most (characters); the rest is cut.
MAX_SHOWN_CHARS = 20_000
#: Longest feedback folder name (UTF-8 bytes); a longer learner name is cut and hashed.
MAX_FOLDER_BYTES = 120
#: A short name that looks like a cut-and-hashed one is hashed too (one folder per learner).
_HASHED_NAME = re.compile(r"^.{0,60}-[0-9a-f]{12}$", flags=re.DOTALL)
HARD_LINK_REASON = (
    "the file is the same file as another learner's (a hard link); each learner submits a "
    "notebook file of their own"
)
SOURCE_LINK_REASON = "the file is the instructor's notebook itself (a hard link to it)"
#: How many of the other files of a learner's folder a row or the log names.
MAX_LISTED = 5
FOLDER_LINK_REASON = (
    "the learner's folder is a symbolic link; put the notebook files themselves in a folder"
)
NO_SANDBOX_WARNING = (
    "warning: grading WITHOUT a sandbox (--no-sandbox): each submission runs as your user and "
    "can read and change your files; use this only for submissions you trust"
)


class GradingError(ValueError):
    """Grading cannot start (bad folders, or sources without graded exercises)."""


@dataclass
class SourceNotebook:
    """An instructor notebook and its auto-graded exercises."""

    name: str
    nb: NotebookNode
    exercises: list[Exercise]


@dataclass
class NotebookResult:
    """The grades of one learner's notebook, with where the time went (seconds)."""

    learner: str
    notebook: str
    rows: list[GradeRow]
    times: dict[str, float] = field(default_factory=dict)


@dataclass
class GradeReport:
    """Everything one grading run produced."""

    rows: list[GradeRow]
    notebooks: list[NotebookResult]
    wall_seconds: float


@dataclass(frozen=True)
class _Task:
    """One learner's notebook, assembled and ready to run."""

    learner: str
    source: SourceNotebook
    ready: Assembled


@dataclass(frozen=True)
class _Settings:
    """What every notebook of one grading run shares."""

    limits: Limits
    jobs: int
    out: Path
    writer: FeedbackWriter
    log: Callable[[str], None]
    sandbox: Sandbox | None = None
    #: (device, inode) of files that more than one name points at -> why they are refused
    shared: dict = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """The ``sandbox`` column of this run's rows."""
        return "bubblewrap" if self.sandbox is not None else "none"

    def feedback_path(self, learner: str, notebook: str) -> Path:
        """Where the feedback page of ``learner``'s ``notebook`` goes."""
        return self.out / "feedback" / feedback_folder(learner) / (Path(notebook).stem + ".html")


def load_sources(source_dir: str | Path) -> list[SourceNotebook]:
    """The source notebooks of ``source_dir`` that hold at least one auto-graded exercise."""
    folder = Path(source_dir)
    if not folder.is_dir():
        raise GradingError(f"--source {folder} is not a folder; pass the instructor notebooks")
    sources = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as error:
            raise GradingError(f"source notebook {path.name} cannot be read: {error}") from None
        exercises = find_exercises(nb)
        if exercises:
            sources.append(SourceNotebook(path.name, nb, exercises))
    if not sources:
        raise GradingError(f"--source {folder} holds no notebook with graded self-check cells")
    return sources


def _check_folders(submissions: Path, source: Path, out: Path) -> None:
    if not submissions.is_dir():
        raise GradingError(f"SUBMISSIONS_DIR {submissions} is not a folder")
    for name, folder in (("SUBMISSIONS_DIR", submissions), ("--source", source)):
        if out == folder or folder in out.parents:
            raise GradingError(
                f"--out {out} is inside {name} {folder}; write the results somewhere else, "
                "e.g. grading_results/"
            )
    if out.exists() and not out.is_dir():
        raise GradingError(f"--out {out} exists and is not a folder")


def grade_submissions(
    submissions_dir: str | Path,
    source_dir: str | Path,
    out_dir: str | Path,
    *,
    limits: Limits | None = None,
    jobs: int = 2,
    log: Callable[[str], None] = print,
) -> GradeReport:
    """Grade every learner's notebooks; write grades.csv and the feedback pages.

    Parameters
    ----------
    submissions_dir : path
        ``<learner>/<notebook>.ipynb`` for each learner; only read.
    source_dir : path
        The instructor notebooks (with solutions and hidden tests); only read.
    out_dir : path
        Receives ``grades.csv`` and ``feedback/<learner>/<notebook>.html``.
    limits : Limits, optional
        How each notebook runs: time limits, kernel, whether every cell runs
        (default: ``Limits()``, 120 s per notebook, up to the last self-check).
    jobs : int
        Notebooks run in parallel.
    log : callable
        Receives one progress line per notebook, then the summary table.

    Returns
    -------
    GradeReport
        The rows of grades.csv (sorted) and per-notebook timings.

    Raises
    ------
    TypeError, ValueError
        If ``limits``, ``jobs`` or ``log`` is not what is expected.
    GradingError
        If a folder is wrong, the sources hold no graded exercise, or the sandbox
        cannot be set up (bubblewrap missing; ``Limits(sandbox=False)`` grades
        without one); nothing is written then.

    Examples
    --------
    >>> report = grade_submissions("submissions", "notebooks", "grading_results",
    ...                            limits=Limits(timeout=300), jobs=2)
    >>> report.rows[0].status
    'passed'
    """
    started = time.monotonic()
    if limits is None:
        limits = Limits()
    check_instance(limits, Limits, "limits", example="Limits(timeout=120)")
    jobs = check_count(jobs, "jobs")
    check_callable(log, "log", example="print")
    submissions, out = Path(submissions_dir).resolve(), Path(out_dir).resolve()
    _check_folders(submissions, Path(source_dir).resolve(), out)
    sources = {s.name: s for s in load_sources(source_dir)}
    learners = _learners(submissions, sources, log)
    run_dir = Path(tempfile.mkdtemp(prefix="siamese-grading-run-"))
    try:
        sandbox = _sandbox(limits, run_dir, [submissions, Path(source_dir).resolve(), out], log)
        shared = shared_files(Path(source_dir).resolve(), learners)
        settings = _Settings(limits, jobs, out, FeedbackWriter(), log, sandbox, shared)
        problem = settings.writer.problem()
        if problem is not None:
            raise GradingError(
                f"the feedback pages cannot be written here ({problem}); reinstall nbconvert "
                "(pip install nbconvert) or point JUPYTER_PATH at its share/jupyter; nothing was "
                "graded"
            )
        preflight([s for s in sources.values() if _submitted(s, learners)], settings)
        out.mkdir(parents=True, exist_ok=True)
        rows, results = _grade_all(learners, sources, settings)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    write_csv(rows, out / "grades.csv")
    log("")
    log(summary_table(rows))
    log(f"\nwrote {out / 'grades.csv'} and the feedback pages under {out / 'feedback'}")
    return GradeReport(rows, results, time.monotonic() - started)


def _sandbox(limits: Limits, run_dir: Path, private: list[Path], log) -> Sandbox | None:
    """The run's sandbox (its course snapshot in ``run_dir``), or None with --no-sandbox."""
    if not limits.sandbox:
        log(NO_SANDBOX_WARNING)
        return None
    if sys.platform != "linux":
        raise GradingError(
            f"the sandbox needs Linux (bubblewrap), and this is {sys.platform}: grade on Linux "
            "(a VM or a Linux container), or pass --no-sandbox for submissions you trust"
        )
    try:
        return build_sandbox(
            kernel_python(limits.kernel_name),
            run_dir / "course",
            private=private,
            scratch_bytes=limits.scratch_bytes,
            extra_env=KERNEL_ENV,
        )
    except SandboxError as error:
        raise GradingError(str(error)) from None


def _submitted(source: SourceNotebook, learners: dict[str, _Folder]) -> bool:
    """Whether any learner handed in ``source`` (only those notebooks' set-up is checked)."""
    return any(source.name in folder.files for folder in learners.values())


def preflight(sources: list[SourceNotebook], settings: _Settings) -> None:
    """Run each source's set-up cell in one kernel started as grading will (:mod:`.preflight`).

    Raises
    ------
    GradingError
        If the kernel does not start, or a set-up cell fails there: one line with
        the cause and its fix.
    """
    started = time.monotonic()
    cells = [(s.name, setup_cell(s.nb)) for s in sources]
    problem = setup_problem(cells, settings.limits, settings.sandbox)
    if problem is not None:
        raise GradingError(problem)
    settings.log(
        f"checked the grading kernel: set-up cells run ({time.monotonic() - started:.1f} s)"
    )


def kernel_python(kernel_name: str) -> str:
    """The Python executable that Jupyter kernel ``kernel_name`` runs.

    Raises
    ------
    GradingError
        If there is no such kernel.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise GradingError(
            f"no Jupyter kernel named {kernel_name!r}; see `jupyter kernelspec list`"
        ) from None
    first = spec.argv[0] if spec.argv else "python"
    if first in {"python", "python3", f"python3.{sys.version_info[1]}"}:
        return sys.executable
    return shutil.which(first) or first


def _grade_all(learners, sources, settings: _Settings):
    """Assemble, run, score and export every notebook; return (sorted rows, results)."""
    results: list[NotebookResult] = []
    tasks: list[_Task] = []
    for learner, folder in learners.items():
        for source in sources.values():
            ready = _prepare(learner, folder, source, settings)
            (tasks if isinstance(ready, _Task) else results).append(ready)
    results += _run_tasks(tasks, settings)
    rows = sorted(
        (row for result in results for row in result.rows),
        key=lambda r: (r.learner, r.notebook, _order(sources, r)),
    )
    return rows, results


def _prepare(learner: str, folder: _Folder, source: SourceNotebook, settings: _Settings):
    """Read and assemble one submission: a :class:`_Task`, or the result that replaces it.

    Anything that goes wrong (a bad file, a limit met, a bug on hostile input)
    costs this notebook's rows only.
    """
    if folder.problem is not None:
        return _invalid(learner, source, folder.problem, settings)
    path = folder.files.get(source.name)
    if path is None:
        return _missing(learner, source, _not_submitted(folder.others), settings)
    reason = settings.shared.get(_inode(path))
    if reason is not None:
        return _invalid(learner, source, reason, settings)
    try:
        return _Task(learner, source, assemble(source.nb, read_notebook(path)))
    except InvalidNotebookError as error:
        return _invalid(learner, source, str(error), settings)
    except Exception as error:  # RecursionError, MemoryError, a bug: this notebook only
        reason = f"the grader could not read this notebook ({describe(error)})"
        return _not_graded(learner, source, "error", reason, settings)


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.lstat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def shared_files(source_dir: Path, learners: dict[str, _Folder]) -> dict:
    """Submitted files that are hard links to a source notebook or to another learner's file.

    A hard link is a regular file, not a symbolic one, so only its inode tells that
    two names are one file (``cp -al``, or an archive unpacked with its links kept).
    """
    sources = {_inode(path) for path in Path(source_dir).glob("*.ipynb")} - {None}
    counts: dict = {}
    for folder in learners.values():
        for path in folder.files.values():
            key = _inode(path)
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
    shared = {key: HARD_LINK_REASON for key, count in counts.items() if count > 1}
    shared.update({key: SOURCE_LINK_REASON for key in counts if key in sources})
    return shared


def _not_submitted(others: list[str]) -> str:
    """``"notebook not submitted; found: 'essay.txt'"``: the row of a missing notebook."""
    if not others:
        return "notebook not submitted"
    listed = ", ".join(f"'{name}'" for name in others[:MAX_LISTED])
    more = f" and {len(others) - MAX_LISTED} more" if len(others) > MAX_LISTED else ""
    return f"notebook not submitted; found: {listed}{more}"


def feedback_folder(learner: str) -> str:
    """The folder of ``learner``'s feedback pages: the shown name, or a cut and hashed one.

    ``learner`` is already a :func:`~siamese_grading._text.display_name`; a name
    longer than :data:`MAX_FOLDER_BYTES` keeps its start and gets a hash of the
    whole, so that it is a valid file name and still one folder per learner; so
    does a short name that looks like such a cut one (no learner can take another's).

    Examples
    --------
    >>> feedback_folder("alice")
    'alice'
    >>> len(feedback_folder("x" * 300))
    73
    """
    short = len(learner.encode("utf-8", "backslashreplace")) <= MAX_FOLDER_BYTES
    if short and not _HASHED_NAME.match(learner):
        return learner
    digest = hashlib.sha256(learner.encode("utf-8", "backslashreplace")).hexdigest()[:12]
    return f"{learner[:60]}-{digest}"


def _run_tasks(tasks: list[_Task], settings: _Settings) -> list[NotebookResult]:
    """Run the notebooks ``settings.jobs`` at a time; score and export each one when done."""
    results = []
    pool = ThreadPoolExecutor(max_workers=settings.jobs)
    try:
        futures = {
            pool.submit(
                run_notebook,
                task.ready.nb,
                task.source.name,
                settings.limits,
                last_check=max(task.ready.check_cells.values(), default=-1),
                sandbox=settings.sandbox,
                judges=task.ready.judges,
            ): task
            for task in tasks
        }
        for done, future in enumerate(as_completed(futures), start=1):
            task = futures[future]
            try:
                run = future.result()
            except Exception as error:  # this notebook only
                reason = f"the grader could not run this notebook ({describe(error)})"
                run = RunResult()
                result = _not_graded(task.learner, task.source, "error", reason, settings)
            else:
                result = _finish(task, run, settings)
            results.append(result)
            seconds = run.times.get("total", 0)
            settings.log(f"[{done}/{len(tasks)}] {_progress(result)} in {seconds:.1f} s")
    except BaseException:  # Ctrl-C: do not wait for the running notebooks to finish
        pool.shutdown(wait=False, cancel_futures=True)
        kill_all()
        raise
    finally:
        pool.shutdown(wait=True)
    return results


def _finish(task: _Task, run: RunResult, settings: _Settings) -> NotebookResult:
    """Score a notebook that ran and write its feedback page (timed).

    A failure to score costs this notebook's rows (``error``); a failure to write
    its page is logged, and a page of the grading table alone is written instead.
    """
    learner, name = task.learner, task.source.name
    try:
        result = _score(task, run, settings)
    except Exception as error:  # this notebook only
        reason = f"the grader could not score this notebook ({describe(error)})"
        return _not_graded(learner, task.source, "error", reason, settings)
    t0, cpu0 = time.monotonic(), time.thread_time()
    try:
        page = _feedback_notebook(task, run, result, settings)
        settings.writer.write(page, settings.feedback_path(learner, name))
    except Exception as error:  # the grades stand; the page shows the table only
        settings.log(f"{learner}/{name}: feedback page not written in full ({_reason(error)})")
        note = "The grader could not write the rest of this page."
        _write_page(learner, name, result.rows, note, settings)
    result.times["export"] = time.monotonic() - t0
    result.times["cpu_export"] = time.thread_time() - cpu0
    return result


@dataclass
class _Folder:
    """What one learner's folder holds.

    Attributes
    ----------
    files : dict
        Source notebook name -> the submitted file (not yet read).
    others : list of str
        The shown names of the other entries (a folder ends with ``/``).
    problem : str or None
        Why nothing of it is read (the folder is a symbolic link, or unreadable).
    """

    files: dict[str, Path] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    problem: str | None = None


def _learners(
    submissions: Path, sources: dict[str, SourceNotebook], log: Callable[[str], None]
) -> dict[str, _Folder]:
    """Shown learner name -> :class:`_Folder`; other entries are reported and skipped.

    Nothing is followed: a learner folder that is a symbolic link gets rows that
    say so; a submitted file that is one is refused when read.
    """
    learners: dict[str, _Folder] = {}
    for entry in _entries(submissions):
        learner = display_name(entry.name)
        if entry.is_symlink():
            learners[learner] = _Folder(problem=FOLDER_LINK_REASON)
            continue
        if not entry.is_dir(follow_symlinks=False):
            log(f"skipped {learner}: not a learner folder (expected <learner>/<notebook>.ipynb)")
            continue
        try:
            inside = _entries(Path(entry.path))
        except OSError as error:
            learners[learner] = _Folder(problem=f"the learner's folder cannot be read ({error})")
            continue
        folder = learners[learner] = _Folder()
        for path in inside:
            if path.name in sources:
                folder.files[path.name] = Path(path.path)
                continue
            shown = display_name(path.name)
            folder.others.append(shown + ("/" if path.is_dir(follow_symlinks=False) else ""))
            if len(folder.others) > MAX_LISTED:
                continue  # named in the row; the log names the first few
            if path.name.endswith(".ipynb"):
                log(f"skipped {learner}/{shown}: no source notebook of that name")
            else:
                log(f"skipped {learner}/{shown}: not a notebook")
        if len(folder.others) > MAX_LISTED:
            log(f"skipped {len(folder.others) - MAX_LISTED} more entries of {learner}/")
    if not learners:
        log(f"no learner folders in {printable(str(submissions))}")
    return learners


def _entries(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder`` that do not start with a dot, sorted by name."""
    with os.scandir(folder) as found:
        return sorted((e for e in found if not e.name.startswith(".")), key=lambda e: e.name)


def _order(sources: dict[str, SourceNotebook], row: GradeRow) -> tuple[int, str]:
    names = [ex.name for ex in sources[row.notebook].exercises]
    return (names.index(row.exercise), row.exercise) if row.exercise in names else (-1, "")


def _rows_for_all(learner, source, status, message, mode: str) -> list[GradeRow]:
    return [
        GradeRow(learner, source.name, ex.name, 0, ex.points, status, message, mode)
        for ex in source.exercises
    ]


def _missing(learner, source, message, settings: _Settings) -> NotebookResult:
    rows = _rows_for_all(learner, source, "missing", message, settings.mode)
    result = NotebookResult(learner, source.name, rows)
    settings.log(f"{learner}/{source.name}: missing ({message})")
    return result


def _invalid(learner, source, message, settings: _Settings) -> NotebookResult:
    return _not_graded(learner, source, "invalid-notebook", message, settings)


def _not_graded(learner, source, status: str, message, settings: _Settings) -> NotebookResult:
    """Rows of ``status`` for a notebook that did not run, and a page that says why."""
    message = first_line(printable(message))
    rows = _rows_for_all(learner, source, status, message, settings.mode)
    if status == "invalid-notebook":
        note = "The file you submitted could not be read as a Jupyter notebook, so nothing ran."
        settings.log(f"{learner}/{source.name}: invalid notebook ({message})")
    else:
        note = "The grader could not grade this notebook, so nothing ran; tell your instructor."
        settings.log(f"{learner}/{source.name}: {status} ({message})")
    _write_page(learner, source.name, rows, note, settings)
    return NotebookResult(learner, source.name, rows)


def _write_page(learner: str, notebook: str, rows, note: str, settings: _Settings) -> None:
    """Write a feedback page of the grading table alone; log (never raise) a failure."""
    try:
        page = new_notebook(cells=[feedback_cell(learner, notebook, rows, note)])
        settings.writer.write(page, settings.feedback_path(learner, notebook))
    except Exception as error:  # the rows stand without a page
        settings.log(f"{learner}/{notebook}: feedback page not written ({_reason(error)})")


def _reason(error: BaseException) -> str:
    return first_line(printable(describe(error)))


def _score(task: _Task, run: RunResult, settings: _Settings) -> NotebookResult:
    learner, source, ready, limits = task.learner, task.source, task.ready, settings.limits
    rows = []
    for ex in source.exercises:
        code = ready.code.get(ex.solution_index) if ex.solution_index is not None else None
        status, message = _verdict(ex, code, ready, run, limits)
        if code is not None and code.screened is not None and code.screened.not_run:
            message = "; ".join(m for m in (message, not_run_note(code)) if m)
        points = ex.points if status == "passed" else 0
        row = (learner, source.name, ex.name, points, ex.points, status, message)
        rows.append(GradeRow(*row, settings.mode))
    first_code = next((i for i, c in enumerate(ready.nb.cells) if c.cell_type == "code"), -1)
    setup = run.cells.get(first_code, {})
    times = {
        **run.times,
        "setup_cell": float(setup.get("seconds") or 0.0),
        "cpu_setup_cell": float(setup.get("cpu") or 0.0),
    }
    return NotebookResult(learner, source.name, rows, times)


def _verdict(
    ex: Exercise, code: ExerciseCode | None, ready: Assembled, run: RunResult, limits: Limits
) -> tuple[str, str]:
    """(status, message) of one exercise."""
    if ex.name in ready.missing:
        return "missing", ready.missing[ex.name]
    screened = code.screened if code is not None else None
    if screened is not None and screened.error:
        return "error", screened.error
    if screened is not None and screened.refused:
        return "refused", "not run, the exercise cell " + "; ".join(screened.refused)
    index = ready.check_cells.get(ex.name)
    if index is None:
        return "missing", "self-check cell not found"
    status, message = _status(run.cells.get(index), limits)
    if status == "not-run":
        status, message = _not_run(run, limits, ready)
    if status == "passed" and index in ready.judges:
        status, message = _judged(run.judges.get(index), limits)
    own = run.cells.get(ex.solution_index) if ex.solution_index is not None else None
    if status in ("failed", "error") and own is not None and own.get("status") == "error":
        evalue = first_line(own.get("evalue"))  # the cause, rather than the check's NameError
        return "error", f"the exercise cell raised {own.get('ename')}" + (
            f": {evalue}" if evalue else ""
        )
    return status, message


def not_run_note(code: ExerciseCode) -> str:
    """``"not run (only definitions run): line 9 print(add(2, 3))"`` for an exercise cell."""
    parts = [f"line {line} {first_line(text, limit=40)}" for line, text in code.screened.not_run]
    more = f" and {len(parts) - 3} more" if len(parts) > 3 else ""
    return "not run (only definitions run): " + ", ".join(parts[:3]) + more


def _status(record: dict | None, limits: Limits) -> tuple[str, str]:
    """Status of a self-check from its cell's record ("not-run" when it has none)."""
    if record is not None:
        status = record.get("status")
        if status == "ok":
            return "passed", ""
        if status == "timeout":
            limit = limits.cell_limit
            return "timeout", f"this self-check ran past the time limit ({limit:g} s)"
        if status == "dead":
            return "error", "the kernel died while this self-check ran (os._exit, a crash, memory)"
        if status in LIMIT_OPTIONS:
            return status, limits.exceeded(status)
        if record.get("ename") == "MemoryError":
            return "memory", f"MemoryError: {limits.exceeded('memory')}"
        ename = record.get("ename") or "Error"
        message = first_line(record.get("evalue"))
        if ename == "AssertionError":
            return "failed", message or "AssertionError"
        return "error", f"{ename}: {message}" if message else ename
    return "not-run", ""


def _judged(verdict: dict | None, limits: Limits) -> tuple[str, str]:
    """(status, message) from the judge of an exercise whose self-check ran without error.

    The judge decides (:mod:`.judges`): the kernel's own run of the self-check can
    only take points away, never give them.
    """
    if verdict is None:
        return "error", "the grader could not check this exercise: the notebook stopped first"
    status, message = str(verdict.get("status")), first_line(verdict.get("message"))
    if status == "dead":
        return "error", message
    if status == "timeout":
        return "timeout", f"{message} ({limits.cell_limit:g} s)"
    return (status, message) if status in ("passed", "failed", "error") else ("error", message)


def _not_run(run: RunResult, limits: Limits, ready: Assembled) -> tuple[str, str]:
    """Why a self-check did not run, from how the notebook's run ended."""
    end = run.end or {}
    reason = end.get("reason")
    if run.killed or reason == "timeout":
        return "timeout", (
            f"the notebook ran out of time ({limits.timeout:g} s) before this self-check"
        )
    if reason in LIMIT_OPTIONS:
        return reason, f"{limits.exceeded(reason)} before this self-check ran"
    if reason == "dead":
        dead = [i for i, r in sorted(run.cells.items()) if r.get("status") == "dead"]
        where = f" in the cell '{first_line(ready.shown[dead[0]], limit=40)}'" if dead else ""
        return "error", f"the kernel died{where} before this self-check ran (os._exit, a crash)"
    if reason == "failed":
        return "error", "the notebook could not be run: " + first_line(end.get("message"))
    if reason == "done":
        return "error", "this self-check did not run"
    last = run.log_tail.strip().splitlines()[-1] if run.log_tail.strip() else ""
    return "error", "the grader's worker stopped unexpectedly: " + first_line(last)


def _feedback_notebook(task: _Task, run: RunResult, result: NotebookResult, settings: _Settings):
    """The page a learner gets: what ran, as they may see it (no hidden test, inert outputs)."""
    ready = task.ready
    checks = set(ready.check_cells.values())
    verdicts = {ready.check_cells.get(r.exercise): r for r in result.rows}
    nb = new_notebook(metadata=copy.deepcopy(ready.nb.metadata))
    for index, cell in enumerate(ready.nb.cells):
        if cell.cell_type != "code":
            nb.cells.append(new_markdown_cell(ready.shown[index]))
            continue
        shown = new_code_cell(_cut(ready.shown[index]))
        record = run.cells.get(index) or {}
        shown.execution_count = record.get("execution_count")
        notes = _notes(ready.code.get(index))
        if index in checks:
            row = verdicts.get(index)
            notes.append(_verdict_line(row))
            seed = (run.judges.get(index) or {}).get("seed")
            if seed is not None:  # so that an instructor can replay the judge's inputs
                notes.append(
                    f"[grader] judged outside your kernel, on inputs drawn with seed {seed}"
                )
        elif index not in ready.secret:
            shown.outputs = inert_outputs(record.get("outputs", []))
        if notes:
            note = new_output("stream", name="stderr", text="\n".join(notes) + "\n")
            shown.outputs.insert(0, note)
        nb.cells.append(shown)
    note = FEEDBACK_NOTE + ("" if settings.limits.run_all else FEEDBACK_NOTE_STOP)
    note += "" if settings.sandbox is not None else NO_SANDBOX_NOTE
    nb.cells.insert(0, feedback_cell(result.learner, result.notebook, result.rows, note))
    return nb


def _cut(source: str) -> str:
    """A cell's source as the feedback shows it: at most :data:`MAX_SHOWN_CHARS`."""
    if len(source) <= MAX_SHOWN_CHARS:
        return source
    rest = len(source) - MAX_SHOWN_CHARS
    return source[:MAX_SHOWN_CHARS] + f"\n# [grader] {rest:,} more characters not shown\n"


def _verdict_line(row: GradeRow | None) -> str:
    """What a self-check cell shows instead of its output (which may hold hidden tests)."""
    if row is None:
        return "[grader] this self-check ran"
    score = f"{format_points(row.points)}/{format_points(row.max_points)}"
    message = f": {printable(row.message)}" if row.message else ""
    return f"[grader] self-check {row.status} ({score}){message}"


def _notes(code: ExerciseCode | None) -> list[str]:
    """The grader's notes above an exercise cell: what did not run, and why."""
    if code is None:
        return []
    if code.learner_source is None:
        return ["[grader] your cell for this exercise was not found; its stub ran instead"]
    screened = code.screened
    if screened.error:
        return [f"[grader] not run: {printable(screened.error)}"]
    if screened.refused:
        return ["[grader] not run, the stub ran instead: " + printable("; ".join(screened.refused))]
    return [f"[grader] {printable(not_run_note(code))}"] if screened.not_run else []


def _progress(result: NotebookResult) -> str:
    got = sum(r.points for r in result.rows)
    best = sum(r.max_points for r in result.rows)
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    detail = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return (
        f"{result.learner}/{result.notebook}: {format_points(got)}/{format_points(best)} "
        f"points ({detail})"
    )

"""Grade learners' notebooks (``siamese-grading grade``).

Layout: ``SUBMISSIONS_DIR/<learner>/<notebook>.ipynb``; a notebook is matched to
the source notebook of the same file name. For each submitted notebook, the
grader puts the locked self-checks and hidden tests back (:mod:`.assemble`), runs
it in a fresh kernel in its own process group with a time limit (:mod:`.runner`),
and scores each exercise: full points when its self-check cell ran without error,
0 otherwise. A row's status is one of

``passed``
    the self-check ran without error;
``failed``
    it raised an AssertionError (the message is its first line);
``error``
    another exception (NotImplementedError, NameError, ...) or the kernel died;
``timeout``
    the notebook ran past its time limit before or while this check ran;
``missing``
    the notebook was not submitted, or the exercise's cells could not be found;
``invalid-notebook``
    the file is not a readable notebook.

This isolates submissions but is not a security sandbox: for untrusted classes,
run the grader inside a container.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_notebook

from .assemble import Assembled, assemble
from .nbtools import Exercise, InvalidNotebookError, find_exercises, read_notebook
from .report import (
    FeedbackWriter,
    GradeRow,
    feedback_cell,
    format_points,
    short_message,
    summary_table,
    write_csv,
)
from .runner import RunResult, kill_all, run_notebook

FEEDBACK_NOTE = (
    "Below is your notebook as the grader ran it: top to bottom in a fresh kernel, with the "
    "original self-checks (and their hidden tests) in place of yours."
)
FEEDBACK_NOTE_STOP = (
    " The grader stopped after the last self-check: the cells after it cannot change your "
    "grade, so they show no output here."
)


class GradingError(ValueError):
    """Grading cannot start (bad folders or options)."""


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
    timeout: float = 120.0,
    jobs: int = 2,
    cell_timeout: float | None = None,
    kernel_name: str = "python3",
    run_all: bool = False,
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
    timeout : float
        Seconds per notebook, kernel start included.
    jobs : int
        Notebooks run in parallel.
    cell_timeout : float, optional
        Seconds per cell (default: ``timeout``); a cell over it is interrupted.
    kernel_name : str
        Jupyter kernel that runs the notebooks.
    run_all : bool
        Run every cell. By default a notebook runs up to its last self-check: the
        cells after it cannot change a grade, and they are often the slow ones
        (training); the feedback page shows them without outputs.
    log : callable
        Receives one progress line per notebook, then the summary table.

    Returns
    -------
    GradeReport
        The rows of grades.csv (sorted) and per-notebook timings.

    Examples
    --------
    >>> report = grade_submissions("submissions", "notebooks", "grading_results", jobs=2)
    >>> report.rows[0].status
    'passed'
    """
    started = time.monotonic()
    _check_options(timeout, jobs, cell_timeout)
    submissions, out = Path(submissions_dir).resolve(), Path(out_dir).resolve()
    _check_folders(submissions, Path(source_dir).resolve(), out)
    sources = {s.name: s for s in load_sources(source_dir)}
    learners = _learners(submissions, sources, log)
    out.mkdir(parents=True, exist_ok=True)
    writer = FeedbackWriter()
    results: list[NotebookResult] = []
    tasks = []
    for learner, files in learners.items():
        for name, source in sources.items():
            path = files.get(name)
            if path is None:
                results.append(_missing(learner, source, "notebook not submitted", log))
                continue
            try:
                tasks.append((learner, source, assemble(source.nb, read_notebook(path))))
            except InvalidNotebookError as error:
                results.append(_invalid(learner, source, str(error), out, writer, log))
    options = {"timeout": timeout, "cell_timeout": cell_timeout, "kernel_name": kernel_name}
    _run_all(tasks, jobs, options, run_all, out, writer, results, log)
    rows = sorted(
        (row for result in results for row in result.rows),
        key=lambda r: (r.learner, r.notebook, _order(sources, r)),
    )
    write_csv(rows, out / "grades.csv")
    log("")
    log(summary_table(rows))
    log(f"\nwrote {out / 'grades.csv'} and the feedback pages under {out / 'feedback'}")
    return GradeReport(rows, results, time.monotonic() - started)


def _run_all(tasks, jobs, options, run_all, out, writer, results, log) -> None:
    """Run the notebooks ``jobs`` at a time; score and export each as soon as it is done."""
    total = len(tasks)
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {
            pool.submit(
                run_notebook,
                ready.nb,
                source.name,
                stop_after=None if run_all else max(ready.check_cells.values(), default=-1),
                **options,
            ): (learner, source, ready)
            for learner, source, ready in tasks
        }
        for done, future in enumerate(as_completed(futures), start=1):
            learner, source, ready = futures[future]
            run = future.result()
            result = _score(
                learner, source, ready, run, options["timeout"], options["cell_timeout"]
            )
            feedback = out / "feedback" / learner / (Path(source.name).stem + ".html")
            t0, cpu0 = time.monotonic(), time.thread_time()
            writer.write(_feedback_notebook(ready, run, result, run_all), feedback)
            result.times["export"] = time.monotonic() - t0
            result.times["cpu_export"] = time.thread_time() - cpu0
            results.append(result)
            log(f"[{done}/{total}] {_progress(result)} in {run.times.get('total', 0):.1f} s")
    except BaseException:  # Ctrl-C: do not wait for the running notebooks to finish
        pool.shutdown(wait=False, cancel_futures=True)
        kill_all()
        raise
    finally:
        pool.shutdown(wait=True)


def _check_options(timeout: float, jobs: int, cell_timeout: float | None) -> None:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise GradingError(f"--jobs must be a whole number >= 1, got {jobs!r}")
    for name, value in (("--timeout", timeout), ("--cell-timeout", cell_timeout)):
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            raise GradingError(f"{name} must be a number of seconds > 0, got {value!r}")


def _learners(
    submissions: Path, sources: dict[str, SourceNotebook], log: Callable[[str], None]
) -> dict[str, dict[str, Path]]:
    """learner -> {notebook name -> path}; other entries are reported and skipped."""
    learners: dict[str, dict[str, Path]] = {}
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            log(f"skipped {entry.name}: not a learner folder (expected <learner>/<notebook>.ipynb)")
            continue
        files = {}
        for path in sorted(entry.iterdir()):
            if path.name.startswith("."):
                continue
            if path.name in sources:
                files[path.name] = path
            elif path.suffix == ".ipynb":
                log(f"skipped {entry.name}/{path.name}: no source notebook of that name")
            else:
                log(f"skipped {entry.name}/{path.name}: not a notebook")
        learners[entry.name] = files
    if not learners:
        log(f"no learner folders in {submissions}")
    return learners


def _order(sources: dict[str, SourceNotebook], row: GradeRow) -> tuple[int, str]:
    names = [ex.name for ex in sources[row.notebook].exercises]
    return (names.index(row.exercise), row.exercise) if row.exercise in names else (-1, "")


def _rows_for_all(learner, source, status, message) -> list[GradeRow]:
    return [
        GradeRow(learner, source.name, ex.name, 0, ex.points, status, message)
        for ex in source.exercises
    ]


def _missing(learner, source, message, log) -> NotebookResult:
    rows = _rows_for_all(learner, source, "missing", message)
    result = NotebookResult(learner, source.name, rows)
    log(f"{learner}/{source.name}: missing ({message})")
    return result


def _invalid(learner, source, message, out, writer, log) -> NotebookResult:
    rows = _rows_for_all(learner, source, "invalid-notebook", short_message(message))
    note = "The file you submitted could not be read as a Jupyter notebook, so nothing ran."
    nb = new_notebook(cells=[feedback_cell(learner, source.name, rows, note)])
    writer.write(nb, out / "feedback" / learner / (Path(source.name).stem + ".html"))
    log(f"{learner}/{source.name}: invalid notebook ({short_message(message)})")
    return NotebookResult(learner, source.name, rows)


def _score(learner, source, ready: Assembled, run: RunResult, timeout, cell_timeout):
    rows = []
    for ex in source.exercises:
        index = ready.check_cells.get(ex.name)
        if index is None:
            status, message = "missing", ready.missing.get(ex.name, "self-check cell not found")
        else:
            status, message = _status(run.cells.get(index), timeout, cell_timeout)
            if status == "not-run":
                status, message = _not_run(run, timeout, ready.nb)
        points = ex.points if status == "passed" else 0
        rows.append(GradeRow(learner, source.name, ex.name, points, ex.points, status, message))
    first_code = next((i for i, c in enumerate(ready.nb.cells) if c.cell_type == "code"), -1)
    setup = run.cells.get(first_code, {})
    times = {
        **run.times,
        "setup_cell": float(setup.get("seconds") or 0.0),
        "cpu_setup_cell": float(setup.get("cpu") or 0.0),
    }
    return NotebookResult(learner, source.name, rows, times)


def _status(record: dict | None, timeout, cell_timeout) -> tuple[str, str]:
    """Status of a self-check from its cell's record ("not-run" when it has none)."""
    if record is not None:
        status = record.get("status")
        if status == "ok":
            return "passed", ""
        if status == "timeout":
            limit = cell_timeout if cell_timeout and cell_timeout < timeout else timeout
            return "timeout", f"this self-check ran past the time limit ({limit:g} s)"
        if status == "dead":
            return "error", "the kernel died while this self-check ran (os._exit, a crash, memory)"
        ename = record.get("ename") or "Error"
        message = short_message(record.get("evalue"))
        if ename == "AssertionError":
            return "failed", message or "AssertionError"
        return "error", f"{ename}: {message}" if message else ename
    return "not-run", ""


def _not_run(run: RunResult, timeout, nb: NotebookNode) -> tuple[str, str]:
    """Why a self-check did not run, from how the notebook's run ended."""
    end = run.end or {}
    reason = end.get("reason")
    if run.killed or reason == "timeout":
        return "timeout", f"the notebook ran out of time ({timeout:g} s) before this self-check"
    if reason == "dead":
        dead = [i for i, r in sorted(run.cells.items()) if r.get("status") == "dead"]
        where = f" in the cell '{_first_line(nb.cells[dead[0]])}'" if dead else ""
        return "error", f"the kernel died{where} before this self-check ran (os._exit, a crash)"
    if reason == "failed":
        return "error", "the notebook could not be run: " + short_message(end.get("message"))
    if reason == "done":
        return "error", "this self-check did not run"
    return "error", "the grader's worker stopped unexpectedly: " + short_message(
        run.log_tail.strip().splitlines()[-1] if run.log_tail.strip() else ""
    )


def _first_line(cell) -> str:
    line = next((s.strip() for s in cell.source.splitlines() if s.strip()), "")
    return line if len(line) <= 40 else line[:37] + "..."


def _feedback_notebook(ready: Assembled, run: RunResult, result: NotebookResult, run_all: bool):
    nb = nbformat.from_dict(ready.nb)  # a copy; the assembled notebook stays as run
    for index, record in run.cells.items():
        if index < len(nb.cells) and nb.cells[index].cell_type == "code":
            nb.cells[index].outputs = [nbformat.from_dict(o) for o in record.get("outputs", [])]
            nb.cells[index].execution_count = record.get("execution_count")
    note = FEEDBACK_NOTE + ("" if run_all else FEEDBACK_NOTE_STOP)
    nb.cells.insert(0, feedback_cell(result.learner, result.notebook, result.rows, note))
    return nb


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


def default_jobs() -> int:
    """2, or 1 on a single-core machine."""
    return max(1, min(2, os.cpu_count() or 1))

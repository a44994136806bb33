"""How long does grading a class take? Goal: 20 submissions of notebook 07 in <= 3 min.

Generates 20 submissions of notebooks/07_the_triplet_loss.ipynb into a temporary
folder (copies of the student version; learner k has the first k % (n + 1) of the
n exercises filled in from the source), grades them with ``--jobs 2`` and prints
the wall time and where the time goes: worker start-up, kernel start-up, the
setup cell (imports: TensorFlow/Keras), the other cells, and the HTML export.

Each notebook runs in the bubblewrap sandbox unless ``--no-sandbox``; ``--compare``
grades the class both ways. The sandbox's own cost is then measured apart, on a
notebook of one trivial cell run ``--repeat`` times each way (kernel start to
shutdown, no TensorFlow), plus its set-up once per grading run (probing the
kernel's Python and copying the course packages).

If notebook 07 does not exist yet, a small fixture notebook that imports keras
stands in for it (said so in the output), so the figure still includes the
TensorFlow import that dominates a real notebook's start.

``--baseline REV`` grades the same class, side by side in one run, with the grader of
git revision REV (its ``siamese_grading`` extracted into a temporary folder) and with
this tree's, both through the command line, in turns (``--rounds``, A B A B ...), and
records the ``grading`` section of the results file (the README's grading table).

Run: ``python benchmarks/bench_grading.py [--learners 20] [--jobs 2] [--run-all]
[--no-sandbox | --compare | --baseline REV [--rounds 1]] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SIAMESE_MNIST_SOURCE", "bundled")
os.environ.setdefault("MPLBACKEND", "Agg")

import nbformat  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402

from siamese_grading import Limits, grade_submissions, release_directory  # noqa: E402
from siamese_grading.grade import kernel_python  # noqa: E402
from siamese_grading.nbtools import find_exercises, nbgrader_meta  # noqa: E402
from siamese_grading.runner import KERNEL_ENV, run_notebook  # noqa: E402
from siamese_grading.sandbox import build_sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_the_triplet_loss.ipynb"
GOAL_S = 180.0


def keras_fixture() -> nbformat.NotebookNode:
    """A stand-in for notebook 07: imports keras, one exercise with keras.ops."""

    def meta(grade_id, grade):
        nbgrader = {
            "grade": grade,
            "grade_id": grade_id,
            "locked": grade,
            "schema_version": 3,
            "solution": not grade,
            "task": False,
        }
        if grade:
            nbgrader["points"] = 1
        return {"nbgrader": nbgrader}

    nb = new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)"}}
    nb.cells = [
        new_markdown_cell("# Task 7: keras fixture"),
        new_code_cell("import keras\nimport numpy as np\nfrom keras import ops"),
        new_code_cell(
            "# EXERCISE 7.1 — squared distance\ndef sq_dist(a, b):\n"
            "    ### BEGIN SOLUTION\n    return ops.sum(ops.square(a - b), axis=-1)\n"
            "    ### END SOLUTION",
            metadata=meta("ex7_1_sq_dist", grade=False),
        ),
        new_code_cell(
            "out = ops.convert_to_numpy(sq_dist(np.zeros((2, 3)), np.ones((2, 3))))\n"
            "np.testing.assert_allclose(out, [3.0, 3.0])",
            metadata=meta("check_ex7_1_sq_dist", grade=True),
        ),
    ]
    return nb


def make_class(base: Path, n_learners: int) -> tuple[Path, Path, str]:
    """Write the source, the student version and the submissions; return their folders."""
    src = base / "src"
    src.mkdir()
    if NOTEBOOK.exists():
        name, source = NOTEBOOK.name, nbformat.read(NOTEBOOK, as_version=4)
        what = f"{NOTEBOOK.relative_to(ROOT)}"
    else:
        name, source = "07_keras_fixture.ipynb", keras_fixture()
        what = "a keras fixture (notebooks/07_the_triplet_loss.ipynb does not exist yet)"
    nbformat.write(source, src / name)
    release_directory(src, base / "student", log=lambda line: None)
    answers = {
        nbgrader_meta(source.cells[ex.solution_index]).get("grade_id"): source.cells[
            ex.solution_index
        ].source
        for ex in find_exercises(source)
        if ex.solution_index is not None
    }
    ids = list(answers)
    for k in range(n_learners):
        student = nbformat.read(base / "student" / name, as_version=4)
        for grade_id in ids[: k % (len(ids) + 1)]:
            cell = next(c for c in student.cells if nbgrader_meta(c).get("grade_id") == grade_id)
            cell.source = "\n".join(
                line for line in answers[grade_id].split("\n") if "SOLUTION" not in line
            )
        folder = base / "subs" / f"learner_{k:02d}"
        folder.mkdir(parents=True)
        nbformat.write(student, folder / name)
    return src, base / "subs", what


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--run-all", action="store_true", help="run every cell, not just up to the last check"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-sandbox", action="store_true", help="grade without bubblewrap")
    mode.add_argument("--compare", action="store_true", help="grade with and without it")
    mode.add_argument("--baseline", metavar="REV", help="grade with REV's grader and this one")
    parser.add_argument("--rounds", type=int, default=1, help="turns of each with --baseline")
    parser.add_argument("--repeat", type=int, default=5, help="overhead runs (0: none)")
    args = parser.parse_args()
    if args.baseline:
        return compare_with_baseline(args)
    modes = [True, False] if args.compare else [not args.no_sandbox]
    totals = {}
    for sandbox in modes:
        totals[sandbox] = grade_class(args, sandbox)
    if args.compare:
        on, off = totals[True], totals[False]
        print(f"\nwith the sandbox {on:.1f} s, without {off:.1f} s: ratio {on / off:.2f}")
    if True in modes and args.repeat:
        print_overhead(args.repeat)
    return 0


def grade_class(args, sandbox: bool) -> float:
    """Grade the generated class once; print the figures; return the wall time."""
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        base = Path(tmp)
        src, subs, what = make_class(base, args.learners)
        mode = "every cell (--run-all)" if args.run_all else "up to the last self-check (default)"
        where = "in the bubblewrap sandbox" if sandbox else "WITHOUT a sandbox (--no-sandbox)"
        print(f"\ngrading {args.learners} submissions of {what} with --jobs {args.jobs}")
        print(f"running {mode}, {where}")
        print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
        start, cpu_start = time.perf_counter(), time.process_time()
        lines: list[str] = []
        report = grade_submissions(
            subs,
            src,
            base / "out",
            limits=Limits(timeout=args.timeout, run_all=args.run_all, sandbox=sandbox),
            jobs=args.jobs,
            log=lines.append,
        )
        wall = time.perf_counter() - start
        grader_cpu = time.process_time() - cpu_start
    runs = [nb for nb in report.notebooks if nb.times]
    statuses: dict[str, int] = {}
    for row in report.rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    print(f"grades: {statuses}")
    print(f"\nwall time: {wall:.1f} s for {len(runs)} notebooks (goal <= {GOAL_S:.0f} s)")
    print(f"ratio to goal: {wall / GOAL_S:.2f}")
    print_breakdown(runs)
    checked = [line for line in lines if line.startswith("checked the grading kernel")]
    if checked:
        print(f"\nstart-up check, once per grading run: {checked[0]}")
    peaks = [nb.times["peak_memory_mib"] for nb in runs if "peak_memory_mib" in nb.times]
    if peaks:
        print(
            f"peak memory per notebook (resident, all its processes): max {max(peaks):,.0f} MiB, "
            f"mean {statistics.mean(peaks):,.0f} MiB"
        )
    cpu = sum(nb.times["cpu_worker"] + nb.times["cpu_kernel"] for nb in runs) + grader_cpu
    busy = sum(nb.times["total"] for nb in runs)
    print(f"\nparallel speed-up: {busy / wall:.2f} (sum of per-notebook wall times / wall time)")
    print(f"CPU seconds in all: {cpu:.1f} (kernels + workers + {grader_cpu:.1f} in the grader)")
    cores = min(args.jobs, os.cpu_count() or 1)
    print(
        f"on an idle machine the CPU work alone needs >= {cpu / cores:.1f} s of wall time "
        f"on {cores} cores (ratio to goal: {cpu / cores / GOAL_S:.2f})"
    )
    return wall


def extract_grader(rev: str, dest: Path) -> None:
    """Write ``siamese_grading`` as it was at git revision ``rev`` into ``dest``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "siamese_grading"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")


def grade_by_command(grader: Path | None, subs: Path, src: Path, out: Path, args) -> tuple:
    """Grade through ``python -m siamese_grading`` (from ``grader``, else this tree)."""
    env = {**os.environ}
    if grader is not None:
        env["PYTHONPATH"] = str(grader)
    command = [sys.executable, "-m", "siamese_grading", "grade", str(subs), "--source", str(src)]
    command += ["--out", str(out), "--jobs", str(args.jobs), "--timeout", str(args.timeout)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=out.parent, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"grading failed ({done.returncode}): {done.stderr[-2000:]}")
    with open(out / "grades.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return wall, rows


def compare_with_baseline(args) -> int:
    """Grade one class with REV's grader and with this tree's, in turns; record both."""
    walls: dict[str, list[float]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        base = Path(tmp)
        extract_grader(args.baseline, base / "baseline")
        src, subs, what = make_class(base, args.learners)
        print(f"grading {args.learners} submissions of {what} with --jobs {args.jobs}, in turns")
        print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
        points = {}
        for turn in range(args.rounds):
            for name, grader in (("baseline", base / "baseline"), ("current", None)):
                out = base / f"out-{name}-{turn}"
                out.mkdir()
                wall, rows = grade_by_command(grader, subs, src, out, args)
                walls[name].append(wall)
                points[name] = sum(float(r["points"]) for r in rows)
                print(f"  {name} grader ({args.baseline if grader else 'this tree'}): {wall:.1f} s")
    best = {name: min(times) for name, times in walls.items()}
    ratio = best["current"] / best["baseline"]
    print(
        f"\nbest of {args.rounds}: baseline {best['baseline']:.1f} s, this tree "
        f"{best['current']:.1f} s: ratio {ratio:.2f} (goal <= 1.5)"
    )
    print(f"points given: baseline {points['baseline']:g}, this tree {points['current']:g}")
    from _results import record

    record(
        "grading",
        {
            "notebook": NOTEBOOK.name,
            "learners": args.learners,
            "jobs": args.jobs,
            "rounds": args.rounds,
            "baseline_rev": args.baseline,
            "baseline_s": round(best["baseline"], 1),
            "current_s": round(best["current"], 1),
            "ratio": round(ratio, 2),
        },
        script=__file__,
    )
    return 0


def print_overhead(repeat: int) -> None:
    """The sandbox's own cost: set-up once per run, and per notebook, interleaved runs.

    The probe notebook is the graded notebook's setup cell (its imports: TensorFlow),
    run alone ``repeat`` times in the sandbox and ``repeat`` times without, one after
    the other, so that the machine's load weighs on both alike.
    """
    source = nbformat.read(NOTEBOOK, as_version=4) if NOTEBOOK.exists() else keras_fixture()
    setup = next(c.source for c in source.cells if c.cell_type == "code")
    nb = new_notebook(cells=[new_code_cell(setup)])
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        start = time.perf_counter()
        box = build_sandbox(
            kernel_python("python3"),
            Path(tmp) / "course",
            private=[],
            scratch_bytes=Limits().scratch_bytes,
            extra_env=KERNEL_ENV,
        )
        setup_s = time.perf_counter() - start
        seconds: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(repeat):  # interleaved, so that the machine's load hits both alike
            for sandbox in (True, False):
                limits = Limits(timeout=120, sandbox=sandbox)
                start = time.perf_counter()
                run = run_notebook(nb, "probe.ipynb", limits, sandbox=box if sandbox else None)
                assert run.cells and run.cells[0]["status"] == "ok", run.end
                seconds[sandbox].append(time.perf_counter() - start)
    on, off = statistics.median(seconds[True]), statistics.median(seconds[False])
    print(f"\nsandbox set-up, once per grading run: {setup_s:.2f} s")
    print(
        f"the setup cell alone, median of {repeat} runs (kernel start to shutdown): "
        f"{on:.2f} s in the sandbox, {off:.2f} s without: overhead {on - off:+.2f} s per "
        f"notebook ({(on - off) / off:+.0%})"
    )
    print("each run, in the sandbox:", " ".join(f"{t:.2f}" for t in seconds[True]))
    print("each run, without:       ", " ".join(f"{t:.2f}" for t in seconds[False]))


def print_breakdown(runs) -> None:
    """Wall and CPU seconds per notebook, by phase."""
    for nb in runs:
        t = nb.times
        t["other"] = t["cells"] - t["setup_cell"]
        t["rest"] = t["total"] - t["worker"] - t["kernel"] - t["cells"]
        t["cpu_other"] = t["cpu_cells"] - t["cpu_setup_cell"]
        t["cpu_rest"] = t["cpu_kernel"] - t["cpu_kernel_start"] - t["cpu_cells"]
    parts = [
        ("worker process (python + nbclient)", "worker", "cpu_worker"),
        ("kernel start-up", "kernel", "cpu_kernel_start"),
        ("setup cell (imports: TF/Keras)", "setup_cell", "cpu_setup_cell"),
        ("other cells", "other", "cpu_other"),
        ("kernel shut-down, clean-up", "rest", "cpu_rest"),
        ("HTML export (in the grader)", "export", "cpu_export"),
    ]
    header = ("wall mean", "wall sum", "CPU mean", "CPU sum")
    print(f"\n{'per notebook (seconds)':36s} " + " ".join(f"{h:>9s}" for h in header))
    for label, wall_key, cpu_key in parts:
        walls = [nb.times.get(wall_key, 0.0) for nb in runs]
        cpus = [nb.times.get(cpu_key, 0.0) for nb in runs]
        print(
            f"{label:36s} {statistics.mean(walls):9.2f} {sum(walls):9.1f} "
            f"{statistics.mean(cpus):9.2f} {sum(cpus):9.1f}"
        )


if __name__ == "__main__":
    sys.exit(main())

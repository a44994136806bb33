"""Re-execute course notebooks top to bottom and store clean outputs.

Usage::

    python scripts/execute_notebooks.py                 # every notebook in notebooks/
    python scripts/execute_notebooks.py notebooks/08_model_training.ipynb

Each notebook runs in a fresh kernel from the ``notebooks/`` folder, on the
bundled MNIST split (``SIAMESE_MNIST_SOURCE=bundled``) so that the stored
numbers are the same on every machine. Timing metadata is not recorded and
``language_info`` is reduced to the language name, so that re-running a
notebook changes only what its cells print. The script fails if a cell raises.

:func:`run_notebook` is also what the full-size test and benchmark use: it runs a
notebook with a chosen MNIST source and reports its wall time and the peak resident
memory of its kernel.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class NotebookRun:
    """What one execution of a notebook cost, and the executed notebook."""

    notebook: nbformat.NotebookNode
    seconds: float
    #: Peak resident memory of the kernel process (``VmHWM``) in MiB; None off Linux.
    peak_mib: float | None


def kernel_peak_mib(pid: int | None) -> float | None:
    """The peak resident set size (``VmHWM``) of a live process in MiB, or None if unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # the kernel reports kB
    except (OSError, TypeError, ValueError):
        return None
    return None


def run_notebook(path: Path, *, source: str = "bundled", timeout: int = 900) -> NotebookRun:
    """Execute a notebook in a fresh kernel with ``SIAMESE_MNIST_SOURCE=source``.

    The kernel's peak memory is read from ``/proc/<pid>/status`` after every cell, while
    the kernel is still alive (the peak never decreases, so the last reading is the peak).
    """
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # inline plots
    env["SIAMESE_MNIST_SOURCE"] = source
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    peak: list[float | None] = [None]

    def record_peak(**_):
        peak[0] = kernel_peak_mib(client.km.provisioner.pid if client.km.provisioner else None)

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        on_cell_executed=record_peak,
    )
    start = time.perf_counter()
    client.execute(env=env)
    return NotebookRun(nb, time.perf_counter() - start, peak[0])


def execute(path: Path, timeout: int) -> float:
    """Execute one notebook in place on the bundled split; return the wall time in seconds."""
    run = run_notebook(path, source="bundled", timeout=timeout)
    nb = run.notebook
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return run.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        seconds = execute(path.resolve(), args.timeout)
        print(f"{path.name}: executed in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

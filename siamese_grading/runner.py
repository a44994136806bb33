"""Run one grading notebook in a fresh kernel, with a hard time limit.

:func:`run_notebook` writes the notebook (hidden tests included) into a fresh
control folder on the grader's side, starts ``_worker.py`` in a new session, and
waits. The worker runs the cells with nbclient and reports each one as it
finishes, into that control folder. With a :class:`~siamese_grading.sandbox.Sandbox`
the kernel runs in bubblewrap and sees none of it: not the notebook, not the
report, not the folder. If the worker is still running ``timeout + GRACE_S``
seconds later, its process group and the kernel's are killed. Whatever happens,
the kernel's process group is killed at the end, and with it the sandbox and
everything the notebook started; the folders are removed.

While the notebook runs, the runner samples its processes (the tree under the
kernel's first process: bwrap, or the kernel itself) every :data:`WATCH_S` seconds,
from ``/proc``: their resident memory together, their processes and threads, and
their CPU-seconds (reaped children included). When one passes its limit
(``Limits.memory_bytes``, ``max_processes``, ``cpu_limit``) it kills the tree, and
the cells from there on get that limit as their status (``memory``,
``processes``, ``cpu``). The peak of each goes into the run's ``times``. This
works without cgroups (none here: no systemd, a cgroup v1 hierarchy), for any
grader user; a burst between two samples is bounded by the kernel's own
rlimits (:meth:`Limits.rlimits <siamese_grading.limits.Limits.rlimits>`).

Without a sandbox (``Limits(sandbox=False)``) the kernel runs as the grader's
user in an empty temporary folder, and a process that leaves the kernel's process
group (``setsid``) can outlive it.

POSIX-only (process groups, ``os.killpg``): the command line refuses to start on
Windows.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ._text import describe
from ._validation import check_instance
from .limits import Limits
from .sandbox import Sandbox, sandbox_children

WORKER = Path(__file__).with_name("_worker.py")
#: Extra seconds the worker gets, beyond the notebook's limit, to start and clean up.
GRACE_S = 30.0
#: Seconds between two samples of a notebook's processes (memory, processes, CPU).
WATCH_S = 0.2
#: Environment of every grading kernel (on top of the grader's own).
KERNEL_ENV = {
    "SIAMESE_MNIST_SOURCE": "bundled",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "MPLBACKEND": "Agg",
    "PYTHONUNBUFFERED": "1",
}
_LIVE: set[int] = set()  # process groups of running workers and kernels
_LIVE_LOCK = threading.Lock()


@dataclass
class RunResult:
    """What the worker reported about one notebook.

    Attributes
    ----------
    cells : dict
        Cell index -> the worker's record (status, ename, evalue, outputs, seconds).
    end : dict or None
        The worker's last record; None if it never finished (killed or crashed).
    killed : bool
        True when the grader had to kill the worker at its hard time limit.
    times : dict
        Wall-clock seconds: ``worker`` (process start), ``kernel`` (kernel start),
        ``cells`` (sum over cells) and ``total``; CPU seconds (Linux):
        ``cpu_worker``, ``cpu_kernel`` (all of it), ``cpu_kernel_start`` and ``cpu_cells``;
        peaks sampled by the runner: ``peak_memory_mib`` (resident, all the
        notebook's processes), ``peak_processes`` (processes and threads) and
        ``cpu_tree`` (CPU-seconds of them all).
    log_tail : str
        The last few KB the worker and kernel wrote to stderr (for diagnosis).
    judges : dict
        Check cell index -> the verdict of its judge (status, message, requests,
        seconds), for the exercises decided in the worker (:mod:`.judges`).
    limit : str or None
        The limit the runner killed the notebook for (``memory``, ``processes``,
        ``cpu``); its cells from then on have it as their status, and so has
        ``end["reason"]``.
    """

    cells: dict[int, dict] = field(default_factory=dict)
    judges: dict[int, dict] = field(default_factory=dict)
    end: dict | None = None
    killed: bool = False
    times: dict[str, float] = field(default_factory=dict)
    log_tail: str = ""
    limit: str | None = None


def run_notebook(
    nb: NotebookNode,
    name: str,
    limits: Limits,
    *,
    last_check: int | None = None,
    sandbox: Sandbox | None = None,
    judges: dict[int, str] | None = None,
) -> RunResult:
    """Execute ``nb`` in a fresh kernel (sandboxed); never raises on its cells.

    Parameters
    ----------
    nb : NotebookNode
        The notebook to run (not modified).
    name : str
        File name given to the notebook in the kernel's working folder.
    limits : Limits
        Time limits, kernel and output cap; ``limits.run_all`` decides whether the
        cells after ``last_check`` run.
    last_check : int, optional
        Index of the notebook's last self-check cell. Unless ``limits.run_all``,
        the cells after it are not run. None: run them all.
    sandbox : Sandbox, optional
        Where the kernel runs; required when ``limits.sandbox`` is True.
    judges : dict, optional
        Check cell index -> grade_id of its judge (:data:`.judges.JUDGES`): after
        that cell, the worker decides the exercise by asking the kernel for data.

    Returns
    -------
    RunResult
        What the worker reported; a run that could not even start (e.g. a full
        disk) comes back with ``end["reason"] == "failed"``.

    Raises
    ------
    TypeError
        If ``limits`` is not a :class:`~siamese_grading.limits.Limits`, or
        ``sandbox`` not a :class:`~siamese_grading.sandbox.Sandbox`.
    ValueError
        If ``limits.sandbox`` is True and no ``sandbox`` is given.

    Examples
    --------
    >>> result = run_notebook(nb, "07_the_triplet_loss.ipynb", Limits(timeout=120))
    >>> result.cells[3]["status"]
    'ok'
    """
    check_instance(limits, Limits, "limits", example="Limits(timeout=120)")
    if sandbox is not None:
        check_instance(sandbox, Sandbox, "sandbox", example="build_sandbox(...)")
    elif limits.sandbox:
        raise ValueError(
            "limits.sandbox is True but no sandbox was given; pass sandbox=build_sandbox(...) "
            "or Limits(sandbox=False) for submissions you trust"
        )
    stop_after = None if limits.run_all else last_check
    control = Path(tempfile.mkdtemp(prefix="siamese-grading-"))
    work = Path(tempfile.mkdtemp(prefix="siamese-grading-cwd-"))  # empty: nothing to read
    try:
        nbformat.write(nb, control / Path(name).name)
        job = {
            "notebook": str(control / Path(name).name),
            "cwd": str(work),
            "progress": str(control / "report.jsonl"),
            "connection_file": str(control / "kernel.json"),
            "limits": limits.to_json(),
            "sandbox": sandbox.to_json() if sandbox is not None else None,
            "stop_after": stop_after,
            "judges": {str(index): grade_id for index, grade_id in (judges or {}).items()},
        }
        (control / "job.json").write_text(json.dumps(job), encoding="utf-8")
        return _supervise(control, limits.timeout + GRACE_S, limits)
    except Exception as error:  # e.g. a full disk: this notebook fails, grading goes on
        end = {"reason": "failed", "message": describe(error)}
        return RunResult(end=end, times={"total": 0.0})
    finally:
        shutil.rmtree(control, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def kill_all() -> None:
    """Kill every worker and kernel still running (e.g. when grading is interrupted)."""
    with _LIVE_LOCK:
        groups = list(_LIVE)
    for pgid in groups:
        _kill_group(pgid)


def _supervise(control: Path, hard_limit: float, limits: Limits) -> RunResult:
    env = {**os.environ, **KERNEL_ENV}
    spawned = time.time()
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(control / "job.json")],
        cwd=control,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    with _LIVE_LOCK:
        _LIVE.add(proc.pid)
    tail: collections.deque[bytes] = collections.deque(maxlen=16)
    reader = threading.Thread(target=_drain, args=(proc.stdout, tail), daemon=True)
    reader.start()
    killed = False
    kernel_pid = None
    watch = None
    try:
        deadline = time.monotonic() + hard_limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                killed = True
                _kill_group(proc.pid)
                proc.wait()
                break
            try:
                proc.wait(timeout=min(left, WATCH_S))
                break
            except subprocess.TimeoutExpired:
                pass
            if kernel_pid is None:  # register the kernel's group as soon as it exists
                kernel_pid = _kernel_pid(_read_report(control / "report.jsonl"))
                if kernel_pid is not None:
                    with _LIVE_LOCK:
                        _LIVE.add(kernel_pid)
                    watch = Watch(kernel_pid, limits)
            elif watch.limit is None and watch.sample() is not None:
                watch.kill()  # the worker sees its kernel die, reports, and ends
    finally:
        records = _read_report(control / "report.jsonl")
        kernel_pid = _kernel_pid(records)
        for pgid in (kernel_pid, proc.pid):
            if pgid is not None:
                _kill_group(pgid)
                with _LIVE_LOCK:
                    _LIVE.discard(pgid)
    reader.join(timeout=5)
    result = _result(records, killed, spawned, b"".join(tail).decode("utf-8", "replace"))
    if watch is not None:
        result.times.update(watch.peaks())
        if watch.limit is not None:
            _mark_limit(result, watch.limit)
    return result


class Watch:
    """The processes of one notebook: the tree under ``root``, sampled against ``limits``.

    Examples
    --------
    >>> watch = Watch(kernel_pid, Limits(memory_bytes=2**30))
    >>> watch.sample()  # None, or the limit passed: "memory", "processes" or "cpu"
    """

    def __init__(self, root: int, limits: Limits):
        self.root, self.limits = root, limits
        self.limit: str | None = None
        self.peak_memory = self.peak_processes = 0
        self.cpu = 0.0
        self.pids: list[int] = []

    def sample(self) -> str | None:
        """Read the tree once; return the limit it passed (kept in ``limit``), or None."""
        self.pids = process_tree(self.root)
        stats = [s for s in map(_stat, self.pids) if s is not None]
        unmapped = _memfd_bytes(self.pids)  # memory a memfd holds is in no process's RSS
        memory = sum(s[2] for s in stats) + unmapped
        if memory > self.limits.memory_bytes:  # shared pages count once in PSS
            resident = sum(_pss(pid) or s[2] for pid, s in zip(self.pids, stats, strict=False))
            memory = resident + unmapped
        tasks = sum(s[1] for s in stats)
        self.cpu = max(self.cpu, sum(s[0] for s in stats))
        self.peak_memory = max(self.peak_memory, memory)
        self.peak_processes = max(self.peak_processes, tasks)
        if memory > self.limits.memory_bytes:
            self.limit = "memory"
        elif tasks > self.limits.max_processes:
            self.limit = "processes"
        elif self.cpu > self.limits.cpu_limit:
            self.limit = "cpu"
        return self.limit

    def kill(self) -> None:
        """Kill every process of the tree, and the root's process group."""
        for pid in [self.root, *self.pids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _kill_group(self.root)

    def peaks(self) -> dict[str, float]:
        """``peak_memory_mib``, ``peak_processes`` and ``cpu_tree`` (for the run's times)."""
        return {
            "peak_memory_mib": round(self.peak_memory / 2**20, 1),
            "peak_processes": float(self.peak_processes),
            "cpu_tree": round(self.cpu, 2),
        }


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (Linux ``/proc``), parents first."""
    found, todo = [], [root]
    while todo and len(found) < 100_000:
        pid = todo.pop()
        found.append(pid)
        todo += sandbox_children(pid)
    return found


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[float, int, int] | None:
    """(CPU-seconds with reaped children, threads, resident bytes) of ``pid``, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            fields = file.read().rsplit(b")", 1)[1].split()
        cpu = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK
        return cpu, int(fields[17]), int(fields[21]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _memfd_bytes(pids: list[int]) -> int:
    """Bytes held by the memfds that ``pids`` have open (each file once).

    ``memfd_create`` gives memory that is a file: it is in no process's resident set
    until mapped, and no rlimit but ``RLIMIT_FSIZE`` bounds one. Its open file
    descriptors show it (``/proc/<pid>/fd/N`` -> ``/memfd:name``).
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    for pid in pids:
        folder = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(folder)
        except OSError:
            continue
        for fd in fds:
            try:
                if not os.readlink(f"{folder}/{fd}").startswith("/memfd:"):
                    continue
                stat = os.stat(f"{folder}/{fd}")
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += max(stat.st_size, stat.st_blocks * 512)
    return total


def _pss(pid: int) -> int | None:
    """Proportional resident bytes of ``pid`` (shared pages split), or None if unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as file:
            for line in file:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _mark_limit(result: RunResult, limit: str) -> None:
    """The cells the kill cut short, and the run's end, get ``limit`` as their status."""
    result.limit = limit
    for record in result.cells.values():
        if record.get("status") == "dead":
            record["status"] = limit
    result.end = {**(result.end or {}), "reason": limit}


def _kernel_pid(records: list[dict]) -> int | None:
    for record in records:
        if record.get("event") == "kernel" and record.get("pid"):
            return int(record["pid"])
    return None


def _drain(stream, tail: collections.deque) -> None:
    """Read the worker's output to the end, keeping only its last chunks."""
    for chunk in iter(lambda: stream.read(4096), b""):
        tail.append(chunk)
    stream.close()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_report(path: Path) -> list[dict]:
    records = []
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            for line in file:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # the last line was cut when the worker was killed
    except FileNotFoundError:
        pass
    return records


def _result(records: list[dict], killed: bool, spawned: float, log_tail: str) -> RunResult:
    result = RunResult(killed=killed, log_tail=log_tail[-4000:])
    stamps = {}
    for record in records:
        event = record.get("event")
        stamps.setdefault(event, record.get("time"))
        if event == "cell":
            result.cells[int(record["index"])] = record
        elif event == "judge":
            result.judges[int(record["index"])] = record
        elif event == "end":
            result.end = record
    start, ready = stamps.get("start"), stamps.get("ready")
    cells = result.cells.values()
    ready_record = next((r for r in records if r.get("event") == "ready"), {})
    end = result.end or {}
    result.times = {
        "worker": (start - spawned) if start else 0.0,
        "kernel": (ready - start) if start and ready else 0.0,
        "cells": sum(float(r.get("seconds") or 0.0) for r in cells),
        "total": time.time() - spawned,
        "cpu_worker": float(end.get("worker_cpu") or 0.0),
        "cpu_kernel": float(end.get("kernel_cpu") or 0.0),
        "cpu_kernel_start": float(ready_record.get("kernel_cpu") or 0.0),
        "cpu_cells": sum(float(r.get("cpu") or 0.0) for r in cells),
    }
    return result

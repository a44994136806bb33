"""Run one notebook in a fresh kernel and report each cell: the grader's worker process.

``runner`` starts this file as a script in a new process group (``python _worker.py
JOB.json``), so that nothing the notebook does can reach the grader itself. It
imports only the standard library, nbformat, nbclient and the standard-library
modules of this package (:mod:`.limits`), never ``helpers`` (which would import
TensorFlow for nothing). It is POSIX-only, like the grader (``resource``).

JOB.json holds: ``notebook`` (path), ``cwd`` (the kernel's working folder),
``progress`` (path of the JSON-lines report), ``limits`` (:meth:`Limits.to_json
<siamese_grading.limits.Limits.to_json>`: the time limits, kernel name and output
cap) and ``stop_after`` (index of the last cell to run, or null to run them all).

The report gets one JSON object per line, written as soon as it is known:
``{"event": "start"}``, ``{"event": "kernel", "pid": ...}``, one ``{"event": "cell",
"index": i, "status": "ok" | "error" | "timeout" | "dead", ...}`` per code cell run,
and ``{"event": "end", "reason": "done" | "timeout" | "dead" | "failed"}``. A report
without its ``end`` line means the worker was killed (the grader's hard time limit).
"""

from __future__ import annotations

import json
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == _HERE:
    # Run as a script: this folder's modules (report, runner, ...) must not shadow others,
    # and the package is found from its parent folder, last, when it is not installed.
    sys.path.pop(0)
    sys.path.append(os.path.dirname(_HERE))
# nbformat imports jsonschema, which imports rfc3987_syntax if it can: that builds an IRI
# grammar at import time (seconds of CPU) for a format check that notebooks never use.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402

from siamese_grading._text import describe  # noqa: E402
from siamese_grading.limits import Limits  # noqa: E402

#: ename of the error reply that nbclient makes up when a cell times out.
TIMEOUT_ENAME = "GraderCellTimeout"
MAX_EVALUE_CHARS = 2000


class CappedClient(NotebookClient):
    """A NotebookClient that keeps at most ``max_cell_output`` bytes of output per cell."""

    def __init__(self, nb, max_cell_output: int, **kwargs):
        super().__init__(nb, **kwargs)
        self.max_cell_output = max_cell_output
        self.output_bytes: dict[int, int] = {}
        self.truncated: set[int] = set()
        self.last_reply: dict | None = None
        self.on_cell_executed = self._remember_reply

    def _remember_reply(self, cell, cell_index, execute_reply):
        self.last_reply = execute_reply

    def output(self, outs, msg, display_id, cell_index):
        used = self.output_bytes.get(cell_index, 0)
        left = self.max_cell_output - used
        content = msg.get("content", {})
        size = _content_size(content)
        if size <= left:
            self.output_bytes[cell_index] = used + size
            return super().output(outs, msg, display_id, cell_index)
        out = None
        if msg.get("msg_type") == "stream" and left > 0:  # keep the part that fits
            content["text"] = content.get("text", "")[:left]
            self.output_bytes[cell_index] = self.max_cell_output
            out = super().output(outs, msg, display_id, cell_index)
        if cell_index not in self.truncated:
            self.truncated.add(cell_index)
            outs.append(
                nbformat.v4.new_output(
                    "stream",
                    name="stderr",
                    text=f"\n[grader: output cut here; a cell keeps at most "
                    f"{self.max_cell_output} bytes of output]\n",
                )
            )
        return out


def _content_size(content: dict) -> int:
    size = len(content.get("text", "") or "")
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value))
    for line in content.get("traceback") or []:
        size += len(line)
    return size


def process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system, all threads) used so far by process ``pid`` (Linux only)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Report:
    """Append-only JSON-lines report, flushed after every line."""

    def __init__(self, path: str):
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open on purpose)

    def write(self, event: str, **fields) -> None:
        fields.update(event=event, time=time.time())
        self.file.write(json.dumps(fields) + "\n")
        self.file.flush()


def run(job: dict) -> int:
    """Execute the job's notebook cell by cell, writing the report as it goes."""
    limits = Limits.from_json(job["limits"])
    report = Report(job["progress"])
    report.write("start")
    deadline = time.monotonic() + limits.timeout
    nb = nbformat.read(job["notebook"], as_version=4)
    client = CappedClient(
        nb,
        max_cell_output=limits.max_cell_output,
        kernel_name=limits.kernel_name,
        allow_errors=True,
        startup_timeout=max(1, int(deadline - time.monotonic())),
        shutdown_kernel="immediate",
        resources={"metadata": {"path": job["cwd"]}},
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "cell timed out", "traceback": []},
    )
    client.km = client.create_kernel_manager()
    try:
        client.start_new_kernel(cwd=job["cwd"])
        kernel_pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        report.write("kernel", pid=kernel_pid)
        client.start_new_kernel_client()
        report.write("ready", kernel_cpu=process_cpu(kernel_pid))
        cells = _Cells(client, nb, report, kernel_pid, deadline)
        reason = cells.run(limits.cell_limit, job.get("stop_after"))
    except Exception as error:  # kernel failed to start, or nbclient gave up
        reason = "dead" if isinstance(error, DeadKernelError) else "failed"
        message = describe(error)[:500]
    else:
        message = None
    finally:
        try:
            client._cleanup_kernel()
        except Exception:
            pass
    worker_cpu, kernel_cpu = _cpu_seconds()
    report.write(
        "end", reason=reason, message=message, worker_cpu=worker_cpu, kernel_cpu=kernel_cpu
    )
    return 0


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) of this process, and of its reaped children (the kernel)."""
    import resource  # POSIX only: imported here so that importing this module works anywhere

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


class _Cells:
    """Runs the code cells of one notebook in order and reports each one."""

    def __init__(self, client: CappedClient, nb, report: Report, kernel_pid, deadline: float):
        self.client, self.nb, self.report = client, nb, report
        self.kernel_pid, self.deadline = kernel_pid, deadline

    def run(self, cell_limit: float, stop_after: int | None) -> str:
        """Run the cells up to ``stop_after`` (None: all); return why it stopped."""
        client = self.client
        for index, cell in enumerate(self.nb.cells):
            if stop_after is not None and index > stop_after:
                break
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            left = self.deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            # A per-cell timeout interrupts the cell and goes on; the notebook's own limit stops.
            client.interrupt_on_timeout = cell_limit < left
            client.timeout = max(1, int(min(cell_limit, left) + 0.999))
            client.last_reply = None
            start = time.time(), process_cpu(self.kernel_pid)
            try:
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except CellTimeoutError:
                self._report(cell, index, start, "timeout")
                return "timeout"
            except DeadKernelError:
                self._report(cell, index, start, "dead")
                return "dead"
            self._report(cell, index, start, *_reply_status(client.last_reply))
        return "done"

    def _report(self, cell, index: int, start, status: str, ename=None, evalue=None) -> None:
        cpu = process_cpu(self.kernel_pid)
        self.report.write(
            "cell",
            index=index,
            status=status,
            ename=ename,
            evalue=evalue,
            seconds=round(time.time() - start[0], 4),
            cpu=None if cpu is None or start[1] is None else round(cpu - start[1], 4),
            execution_count=cell.get("execution_count"),
            outputs=cell.get("outputs", []),
        )


def _reply_status(reply: dict | None) -> tuple[str, str | None, str | None]:
    if reply is None:
        return "error", "GraderError", "the kernel sent no reply for this cell"
    content = reply.get("content", {})
    if content.get("status") == "ok":
        return "ok", None, None
    ename = str(content.get("ename", "Error"))
    evalue = str(content.get("evalue", ""))[:MAX_EVALUE_CHARS]
    if ename == TIMEOUT_ENAME:
        return "timeout", None, None
    return "error", ename, evalue


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python _worker.py JOB.json``."""
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as file:
        job = json.load(file)
    return run(job)


if __name__ == "__main__":
    sys.exit(main())

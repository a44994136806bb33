"""Run one notebook in a fresh kernel and report each cell: the grader's worker process.

``runner`` starts this file as a script in a new process group (``python _worker.py
JOB.json``). The worker runs *outside* the sandbox, on the grader's side: it holds
the kernel's channels and writes the report, in a folder that the kernel cannot
see. It imports only the standard library, nbformat, nbclient, jupyter_client and
the standard-library modules of this package (:mod:`.limits`, :mod:`.sandbox`),
never ``helpers`` (which would import TensorFlow for nothing). POSIX-only.

JOB.json holds: ``notebook`` (path), ``cwd`` (the kernel's working folder when it
is not sandboxed), ``progress`` (path of the JSON-lines report), ``connection_file``,
``limits`` (:meth:`Limits.to_json <siamese_grading.limits.Limits.to_json>`),
``sandbox`` (:meth:`Sandbox.to_json <siamese_grading.sandbox.Sandbox.to_json>`, or
null) and ``stop_after`` (index of the last cell to run, or null to run them all).

With a sandbox, the kernel is started through bubblewrap and creates its Unix
sockets in its own ``/tmp``; the worker connects to them from outside through
``/proc/<kernel pid>/root``, then, before any cell runs, removes the socket files
and blanks the connection file (so that nothing started in the sandbox can talk
to the kernel or read its key), and makes the kernel non-dumpable (so that no
process of the sandbox can read or write its memory).

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

import queue  # noqa: E402
import signal  # noqa: E402
import stat  # noqa: E402

import nbformat  # noqa: E402
import zmq  # noqa: E402
from jupyter_client import AsyncKernelManager  # noqa: E402
from jupyter_core.utils import run_sync  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402

from siamese_grading._text import describe  # noqa: E402
from siamese_grading.limits import Limits, limited  # noqa: E402
from siamese_grading.sandbox import (  # noqa: E402
    CONNECTION_FILE,
    SOCKETS,
    Sandbox,
    host_path,
    sandbox_children,
)

#: ename of the error reply that nbclient makes up when a cell times out.
TIMEOUT_ENAME = "GraderCellTimeout"
MAX_EVALUE_CHARS = 2000
#: Largest message the worker accepts from a kernel (a bigger one drops the connection).
MAX_MESSAGE_BYTES = 128 * 2**20
#: Run in the sandboxed kernel before any cell: no process may read or write its memory.
PROLOGUE = (
    "import ctypes as _grader_ctypes\n"
    "if _grader_ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE\n"
    "    raise OSError(_grader_ctypes.get_errno(), 'prctl(PR_SET_DUMPABLE, 0) failed')\n"
    "del _grader_ctypes\n"
)


class LimitedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel sets its rlimits first (:meth:`Limits.rlimits`)."""

    limits: Limits | None = None
    python: str = sys.executable  # runs the launcher that sets them

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return limited(self.python, cmd, self.limits.rlimits()) if self.limits else cmd


class SandboxedKernelManager(LimitedKernelManager):
    """A kernel manager whose kernel runs in the job's bubblewrap sandbox (see module doc)."""

    sandbox: Sandbox | None = None
    kernel_pid: int | None = None  # the kernel itself; the provisioner's pid is bwrap's

    async def interrupt_kernel(self) -> None:
        """SIGINT to the kernel alone: bwrap, its process group's leader, would die of it."""
        if self.kernel_pid is None:
            return await super().interrupt_kernel()
        try:
            os.kill(self.kernel_pid, signal.SIGINT)
        except OSError:
            pass

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        host_file = os.path.realpath(self.connection_file)
        cmd = [CONNECTION_FILE if arg == host_file else arg for arg in cmd]
        env = dict(getattr(self.kernel_spec, "env", None) or {})
        return self.sandbox.command(cmd, connection_file=host_file, env=env)


class CappedClient(NotebookClient):
    """A NotebookClient that keeps at most ``max_cell_output`` bytes of output per cell."""

    def __init__(self, nb, max_cell_output: int, max_output: int | None = None, **kwargs):
        super().__init__(nb, **kwargs)
        self.max_cell_output = max_cell_output
        self.max_output = max_cell_output * len(nb.cells) if max_output is None else max_output
        self.output_bytes: dict[int, int] = {}
        self.truncated: set[int] = set()
        self.last_reply: dict | None = None
        self.on_cell_executed = self._remember_reply

    def _update_display_id(self, display_id, msg) -> None:
        """Ignore display updates: each output stays as first shown (and counted).

        nbclient would copy an update's data into every earlier output of that
        display id without passing through :meth:`output`, so a notebook could
        multiply one large output past every cap (one 8 MB update, 90 displays).
        """
        return None

    def _remember_reply(self, cell, cell_index, execute_reply):
        self.last_reply = execute_reply

    def output(self, outs, msg, display_id, cell_index):
        used = self.output_bytes.get(cell_index, 0)
        total = sum(self.output_bytes.values())  # a few dozen cells: cheap
        left = max(0, min(self.max_cell_output - used, self.max_output - total))
        content = msg.get("content", {})
        size = _content_size(content)
        if size <= left:
            self.output_bytes[cell_index] = used + size
            return super().output(outs, msg, display_id, cell_index)
        out = None
        if msg.get("msg_type") == "stream" and left > 0:  # keep the part that fits
            content["text"] = content.get("text", "")[:left]
            self.output_bytes[cell_index] = used + left
            out = super().output(outs, msg, display_id, cell_index)
        if cell_index not in self.truncated:
            self.truncated.add(cell_index)
            outs.append(
                nbformat.v4.new_output(
                    "stream",
                    name="stderr",
                    text=f"\n[grader: output cut here; a cell keeps at most "
                    f"{self.max_cell_output} bytes of output, a notebook {self.max_output}]\n",
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
        max_output=limits.max_output,
        kernel_name=limits.kernel_name,
        allow_errors=True,
        startup_timeout=max(1, int(deadline - time.monotonic())),
        shutdown_kernel="immediate",
        resources={"metadata": {"path": job["cwd"]}},
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "cell timed out", "traceback": []},
    )
    sandbox = Sandbox.from_json(job["sandbox"]) if job.get("sandbox") else None
    client.km = _kernel_manager(limits, sandbox, job["connection_file"])
    kernel_pid = None
    try:
        # bwrap itself runs in the sandbox's PID namespace: it gets none of the grader's variables
        env = {"PATH": "/usr/bin:/bin"} if sandbox is not None else None
        client.start_new_kernel(cwd=job["cwd"], **({"env": env} if env else {}))
        group = getattr(getattr(client.km, "provisioner", None), "pid", None)
        report.write("kernel", pid=group)  # the runner kills this process group at the end
        kernel_pid = group
        if sandbox is not None:
            kernel_pid = _connect_sandboxed(client, group, deadline)
        client.start_new_kernel_client()
        if sandbox is not None:
            _seal(client, kernel_pid, job["connection_file"], deadline)
        report.write("ready", kernel_cpu=process_cpu(kernel_pid), cpu_pid=kernel_pid)
        judges = {int(index): grade_id for index, grade_id in (job.get("judges") or {}).items()}
        cells = _Cells(client, nb, report, kernel_pid, deadline, judges)
        reason = cells.run(limits.cell_limit, job.get("stop_after"))
    except Exception as error:  # kernel failed to start, or nbclient gave up
        reason = "dead" if isinstance(error, DeadKernelError) else "failed"
        message = describe(error)[:500]
    else:
        message = None
    finally:
        last_cpu = process_cpu(kernel_pid)
        try:
            client._cleanup_kernel()
        except Exception:
            pass
    worker_cpu, kernel_cpu = _cpu_seconds()
    kernel_cpu = max(kernel_cpu, last_cpu or 0.0)
    report.write(
        "end", reason=reason, message=message, worker_cpu=worker_cpu, kernel_cpu=kernel_cpu
    )
    return 0


def _kernel_manager(limits: Limits, sandbox: Sandbox | None, connection_file: str):
    """The kernel manager of a job: sandboxed (Unix sockets) or plain (TCP on localhost)."""
    if sandbox is None:
        km = LimitedKernelManager(kernel_name=limits.kernel_name)
    else:
        km = SandboxedKernelManager(kernel_name=limits.kernel_name, transport="ipc", ip=SOCKETS)
        km.sandbox, km.python = sandbox, sandbox.python
    km.limits = limits
    km.connection_file = connection_file
    km.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    return km


def _connect_sandboxed(client: NotebookClient, group: int, deadline: float) -> int:
    """Wait for the sandboxed kernel's sockets; point the manager at them; return its pid.

    bwrap (``group``) starts the sandbox's init, which starts the kernel: the
    kernel is bwrap's grandchild.
    """
    km = client.km
    ports = [km.shell_port, km.iopub_port, km.stdin_port, km.hb_port, km.control_port]
    while time.monotonic() < deadline:
        for init in sandbox_children(group):
            for pid in sandbox_children(init):
                paths = [host_path(pid, f"{SOCKETS}-{port}") for port in ports]
                if all(_is_socket(path) for path in paths):
                    km.ip = host_path(pid, SOCKETS)
                    km.kernel_pid = pid
                    return pid
        if not run_sync(km.is_alive)():
            raise RuntimeError("the sandbox stopped before the kernel started")
        time.sleep(0.05)
    raise TimeoutError("the sandboxed kernel did not open its sockets in time")


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False


def _seal(client: NotebookClient, kernel_pid: int, connection_file: str, deadline: float):
    """Cut every other way to the kernel, now that the worker holds its channels."""
    km = client.km
    for port in (km.shell_port, km.iopub_port, km.stdin_port, km.hb_port, km.control_port):
        try:
            os.unlink(host_path(kernel_pid, f"{SOCKETS}-{port}"))
        except OSError:
            pass
    with open(connection_file, "w", encoding="utf-8") as file:  # same inode as the sandbox's
        file.write("{}")
    reply = run_sync(client.kc.execute_interactive)(
        PROLOGUE,
        silent=True,
        store_history=False,
        timeout=max(1.0, deadline - time.monotonic()),
        output_hook=lambda msg: None,
    )
    if reply.get("content", {}).get("status") != "ok":
        evalue = reply.get("content", {}).get("evalue", "")
        raise RuntimeError(f"the sandboxed kernel could not be sealed: {evalue}")


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) of this process, and of its reaped children (the kernel)."""
    import resource  # POSIX only: imported here so that importing this module works anywhere

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


class _Cells:
    """Runs the code cells of one notebook in order and reports each one."""

    def __init__(
        self, client: CappedClient, nb, report: Report, kernel_pid, deadline: float, judges=None
    ):
        self.client, self.nb, self.report = client, nb, report
        self.kernel_pid, self.deadline = kernel_pid, deadline
        self.judges: dict[int, str] = judges or {}

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
            if index in self.judges:
                verdict = self._judge(index, cell_limit)
                if verdict in ("timeout", "dead"):
                    return verdict
        return "done"

    def _judge(self, index: int, cell_limit: float) -> str:
        """Decide the exercise of check cell ``index`` here, asking the kernel for data only."""
        from siamese_grading.judges import judge  # numpy: only notebooks with a judge need it
        from siamese_grading.remote import Remote

        limit = min(cell_limit, max(0.0, self.deadline - time.monotonic()))
        remote = Remote(_RequestChannel(self.client, time.monotonic() + limit, self.kernel_pid))
        verdict = judge(self.judges[index], remote)
        self.report.write("judge", index=index, grade_id=self.judges[index], **verdict)
        return verdict["status"]

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


class _RequestChannel:
    """Runs one request of a judge in the kernel and returns the IOPub messages it caused.

    A measured request (``measure=True``) also returns the largest rise of the kernel's
    resident memory while it ran, sampled here from the kernel's /proc entry (see
    :mod:`siamese_grading.resident`): the kernel cannot forge it with its reply.
    """

    #: Bytes of the kernel's other output kept per request (the reply is always kept).
    MAX_OTHER_OUTPUT = 2**20

    def __init__(self, client: NotebookClient, deadline: float, kernel_pid: int | None = None):
        self.client, self.deadline, self.kernel_pid = client, deadline, kernel_pid

    def __call__(self, code: str, measure: bool = False):
        if not measure:
            return self._run(code)
        from siamese_grading.resident import ResidentRise

        if self.kernel_pid is None:
            return self._run(code), None
        with ResidentRise(self.kernel_pid) as rise:
            messages = self._run(code)
        return messages, rise.bytes

    def _run(self, code: str) -> list[dict]:
        """Execute ``code``; keep the replies (at most MAX_REPLY_BYTES of them in all).

        IOPub is read a second at a time, so that a kernel that dies is noticed at once,
        not at the end of the time limit; other output is counted and dropped.
        """
        from siamese_grading.remote import (
            MAX_REPLY_BYTES,
            REPLY_MIME,
            KernelGone,
            ProtocolError,
            RequestTimeout,
        )

        kc, km = self.client.kc, self.client.km
        if self.deadline - time.monotonic() <= 0:
            raise RequestTimeout()
        msg_id = kc.execute(code, store_history=False, allow_stdin=False)
        kept: list[dict] = []
        kept_bytes, flooded = 0, False
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                run_sync(km.interrupt_kernel)()
                raise RequestTimeout()
            try:
                msg = run_sync(kc.get_iopub_msg)(timeout=min(1.0, left))
            except queue.Empty:
                if not run_sync(km.is_alive)():
                    raise KernelGone() from None
                continue
            if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
                continue
            content = msg.get("content") or {}
            if msg.get("msg_type") == "status" and content.get("execution_state") == "idle":
                break
            if msg.get("msg_type") == "display_data" and REPLY_MIME in (content.get("data") or {}):
                kept_bytes += _content_size(content)
                flooded = flooded or kept_bytes > MAX_REPLY_BYTES or len(kept) >= 8
                kept = [] if flooded else [*kept, msg]  # a flood is dropped as it comes
        if flooded:
            raise ProtocolError("the kernel sent the grader more answers than it asked for")
        return kept


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


#: The worker's own memory (soft RLIMIT_DATA): far above what it needs (about 100 MB), so that
#: only a kernel that floods it with messages (jupyter_client holds every frame of one message
#: at once) makes it fail, and then that notebook's rows say so, and no one else's.
WORKER_DATA_BYTES = 2 * 2**30


def _cap_own_memory() -> None:
    """Lower this process's soft RLIMIT_DATA (the hard limit stays: the kernel sets its own)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = WORKER_DATA_BYTES if hard == resource.RLIM_INFINITY else min(hard, WORKER_DATA_BYTES)
    if soft == resource.RLIM_INFINITY or soft > cap:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python _worker.py JOB.json``."""
    argv = sys.argv[1:] if argv is None else argv
    _cap_own_memory()
    with open(argv[0], encoding="utf-8") as file:
        job = json.load(file)
    return run(job)


if __name__ == "__main__":
    sys.exit(main())

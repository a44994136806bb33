"""The limits and settings of a notebook's run: one object from the command line to the worker.

:class:`Limits` is built once (by the command line, or by the caller of
:func:`~siamese_grading.grade.grade_submissions`), checked once, and travels as
it is: to the runner, then as JSON (:meth:`Limits.to_json`) in the worker's job
file, and back (:meth:`Limits.from_json`) in the worker.

Only the standard library: the command line and the worker process import this
module, and both must start fast.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from ._validation import check_count, check_flag, check_keys, check_name, check_seconds

#: Seconds per notebook, kernel start included, unless told otherwise.
DEFAULT_TIMEOUT_S = 120.0
#: Bytes of output kept per cell; the rest is cut.
MAX_CELL_OUTPUT = 2**20
#: Size of each sandbox's private /tmp (its working folder and home included).
SCRATCH_BYTES = 256 * 2**20
#: Bytes of output kept per notebook, all cells together; the rest is cut.
MAX_OUTPUT = 16 * 2**20
#: Memory of a notebook's processes together (resident, and each process's private data).
#: Notebook 08, the heaviest, peaks at 1,747 MiB at MNIST's full size and at 1,273 MiB on
#: the bundled data that grading kernels use (README, "At MNIST's full size").
MEMORY_BYTES = 3 * 2**30
#: Files a kernel may hold open at once (a TensorFlow kernel holds about 30).
MAX_OPEN_FILES = 256
#: RLIMIT_DATA of each process, in memory limits (see :meth:`Limits.rlimits`).
DATA_HEADROOM = 2
#: Processes and threads of a notebook at once (TensorFlow starts about two per core).
MAX_PROCESSES = 1024
#: CPU-seconds of a notebook, unless told otherwise: this many cores' worth over its timeout.
CPU_CORES_PER_NOTEBOOK = 4
#: The limits a row can say it hit (its status) and the option that sets each.
LIMIT_OPTIONS = {"memory": "--memory", "processes": "--max-processes", "cpu": "--cpu-time"}
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)


#: Sets the rlimits of ``argv[1]`` (JSON), then becomes ``argv[2:]``: how a kernel starts.
LAUNCHER = (
    "import json, os, resource, sys\n"
    "for name, pair in json.loads(sys.argv[1]).items():\n"
    "    resource.setrlimit(getattr(resource, name), tuple(pair))\n"
    "import ctypes, platform, struct\n"
    "shmget = {'x86_64': (0xC000003E, 29), 'aarch64': (0xC00000B7, 194)}.get(platform.machine())\n"
    "if shmget is not None:  # SysV shared memory: memory no rlimit or resident count bounds\n"
    "    arch, nr = shmget\n"
    "    code = [(0x20, 0, 0, 4), (0x15, 0, 3, arch), (0x20, 0, 0, 0), (0x15, 0, 1, nr),\n"
    "            (0x06, 0, 0, 0x00050000 | 1), (0x06, 0, 0, 0x7FFF0000)]\n"
    "    program = ctypes.create_string_buffer(b''.join(struct.pack('HBBI', *i) for i in code))\n"
    "    class Prog(ctypes.Structure):\n"
    "        _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]\n"
    "    prog = Prog(len(code), ctypes.cast(program, ctypes.c_void_p))\n"
    "    libc = ctypes.CDLL(None, use_errno=True)\n"
    "    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, which a filter needs\n"
    "    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER\n"
    "        raise OSError(ctypes.get_errno(), 'the seccomp filter could not be installed')\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def parse_size(text: str) -> int:
    """Bytes in a size such as ``3G``, ``512M``, ``1.5g`` or ``1048576`` (K, M, G: powers of 1024).

    Raises
    ------
    ValueError
        If ``text`` is not such a size (the message shows what is expected).

    Examples
    --------
    >>> parse_size("3G")
    3221225472
    >>> parse_size("3x")
    Traceback (most recent call last):
    ValueError: expected a size such as 3G, 512M or 1048576 (bytes; ...), got '3x'
    """
    match = _SIZE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            "expected a size such as 3G, 512M or 1048576 (bytes; K, M, G are powers of 1024), "
            f"got {text!r}"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_mib(size: int) -> str:
    """``"3,072 MiB"`` for 3 GiB."""
    return f"{size / 2**20:,.0f} MiB"


@dataclass(frozen=True)
class Limits:
    """How each notebook of a grading run is run.

    Every field is checked when the object is made (TypeError or ValueError with
    what was received and what is expected).

    Attributes
    ----------
    timeout : float
        Seconds for the whole notebook, kernel start included.
    cell_timeout : float or None
        Seconds per cell; a slower cell is interrupted and the next cells still
        run. None: only ``timeout`` applies.
    run_all : bool
        Run every cell. By default a notebook stops after its last self-check: the
        cells after it cannot change a grade (and may train a model for minutes).
    kernel_name : str
        Jupyter kernel that runs the notebooks.
    max_cell_output : int
        Bytes of output kept per cell.
    sandbox : bool
        Run each kernel in a bubblewrap sandbox (Linux; see
        :mod:`~siamese_grading.sandbox`). False only for submissions you trust
        (``--no-sandbox``): every row of grades.csv then says ``none``.
    scratch_bytes : int
        Size of each sandbox's private ``/tmp``, its working folder included; the
        only place a sandboxed notebook can write (``/dev/shm`` is in it).
    memory_bytes : int
        Memory of the notebook's processes together: the grader kills them when
        their resident memory passes it (sampled every 0.2 s), and an allocation
        of twice as much fails at once with MemoryError (``RLIMIT_DATA``).
        Status ``memory``.
    max_processes : int
        Processes and threads of the notebook at once; more, and the grader kills
        them. Status ``processes``.
    cpu_seconds : float or None
        CPU-seconds of the notebook, all its processes and threads together; more,
        and the grader kills them. Status ``cpu``. None:
        :data:`CPU_CORES_PER_NOTEBOOK` x ``timeout``.
    max_output : int
        Bytes of output kept per notebook, all cells together.

    Examples
    --------
    >>> limits = Limits(timeout=60, cell_timeout=5)
    >>> limits.cell_limit
    5.0
    >>> Limits.from_json(limits.to_json()) == limits
    True
    """

    timeout: float = DEFAULT_TIMEOUT_S
    cell_timeout: float | None = None
    run_all: bool = False
    kernel_name: str = "python3"
    max_cell_output: int = MAX_CELL_OUTPUT
    sandbox: bool = True
    scratch_bytes: int = SCRATCH_BYTES
    memory_bytes: int = MEMORY_BYTES
    max_processes: int = MAX_PROCESSES
    cpu_seconds: float | None = None
    max_output: int = MAX_OUTPUT

    def __post_init__(self) -> None:
        checked = {
            "timeout": check_seconds(self.timeout, "timeout"),
            "cell_timeout": check_seconds(self.cell_timeout, "cell_timeout", optional=True),
            "run_all": check_flag(self.run_all, "run_all"),
            "kernel_name": check_name(self.kernel_name, "kernel_name", example="python3"),
            "max_cell_output": check_count(self.max_cell_output, "max_cell_output"),
            "sandbox": check_flag(self.sandbox, "sandbox"),
            "scratch_bytes": check_count(self.scratch_bytes, "scratch_bytes", minimum=2**20),
            "memory_bytes": check_count(self.memory_bytes, "memory_bytes", minimum=64 * 2**20),
            "max_processes": check_count(self.max_processes, "max_processes", minimum=8),
            "cpu_seconds": check_seconds(self.cpu_seconds, "cpu_seconds", optional=True),
            "max_output": check_count(self.max_output, "max_output"),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def cell_limit(self) -> float:
        """Seconds one cell may run: ``cell_timeout``, but never more than ``timeout``."""
        if self.cell_timeout is None:
            return self.timeout
        return min(self.cell_timeout, self.timeout)

    @property
    def cpu_limit(self) -> float:
        """CPU-seconds a notebook may use: ``cpu_seconds``, or a few cores' worth of ``timeout``."""
        if self.cpu_seconds is None:
            return CPU_CORES_PER_NOTEBOOK * self.timeout
        return self.cpu_seconds

    def exceeded(self, limit: str) -> str:
        """What a row says when its notebook went past ``limit`` (a key of :data:`LIMIT_OPTIONS`).

        Examples
        --------
        >>> Limits().exceeded("memory")
        'the notebook used more than 3,072 MiB of memory (--memory)'
        """
        what = {
            "memory": f"{format_mib(self.memory_bytes)} of memory",
            "processes": f"{self.max_processes:,} processes and threads at once",
            "cpu": f"{self.cpu_limit:,.0f} CPU-seconds",
        }
        return f"the notebook used more than {what[limit]} ({LIMIT_OPTIONS[limit]})"

    def rlimits(self) -> dict[str, list[int]]:
        """The kernel's own rlimits (soft, hard), set before it starts (see :func:`limited`).

        They back up the runner's watchdog, which enforces the limits themselves
        (:class:`~siamese_grading.runner.Watch`), against a burst between two of
        its samples. ``RLIMIT_DATA`` (private writable memory, since Linux 4.7)
        makes an allocation past twice ``memory_bytes`` fail at once with
        MemoryError. Twice, because it counts address space, not memory: each
        thread's stack counts 8 MiB (``ulimit -s``) however little it uses, and
        TensorFlow starts about two threads per core. ``RLIMIT_AS`` would not do:
        TensorFlow reserves address space it never uses (``VmPeak`` 2.9 GB while
        0.75 GB is resident, for a tiny model: 2 GB of ``RLIMIT_AS`` breaks it).
        ``RLIMIT_CPU`` backs up the CPU count, a few seconds later.
        """
        cpu = int(self.cpu_limit) + 5
        data = DATA_HEADROOM * self.memory_bytes
        return {
            "RLIMIT_DATA": [data, data],
            "RLIMIT_CPU": [cpu, cpu + 5],
            "RLIMIT_CORE": [0, 0],
            # memory outside any mapping (a memfd, a file in a tmpfs) grows by writing a
            # file: no file may be larger than the scratch space, and few may be open at
            # once; the watchdog counts what memfds hold (runner.Watch)
            "RLIMIT_FSIZE": [self.scratch_bytes, self.scratch_bytes],
            "RLIMIT_NOFILE": [MAX_OPEN_FILES, MAX_OPEN_FILES],
        }

    def to_json(self) -> dict[str, Any]:
        """The fields as a dict of JSON values (for ``json.dumps``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Limits:
        """The :class:`Limits` that :meth:`to_json` gave ``data`` for (missing keys: defaults).

        Raises
        ------
        TypeError
            If ``data`` is not a mapping, or a value has the wrong type.
        ValueError
            If ``data`` has a key that is not a field, or a value is out of range.
        """
        known = {f.name for f in fields(cls)}
        return cls(**check_keys(data, known, "Limits JSON"))


def limited(python: str, argv: list[str], rlimits: dict[str, list[int]]) -> list[str]:
    """``argv`` run by ``python`` after it sets ``rlimits`` (:meth:`Limits.rlimits`); same pid.

    Examples
    --------
    >>> limited("python3", ["ipykernel"], {"RLIMIT_CORE": [0, 0]})[-2:]
    ['{"RLIMIT_CORE": [0, 0]}', 'ipykernel']
    """
    return [python, "-I", "-S", "-c", LAUNCHER, json.dumps(rlimits), *argv]


def default_jobs() -> int:
    """Notebooks run in parallel by default: 2, or 1 on a single-core machine."""
    return max(1, min(2, os.cpu_count() or 1))

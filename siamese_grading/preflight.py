"""Before grading: do the course's set-up cells run in a grading kernel? If not, say why.

A class graded with a kernel that cannot import the course (a Python the sandbox
cannot show, a kernel that does not start, a package missing) would get 0 on every
row. :func:`setup_problem` runs the set-up cell of each source notebook (its first
code cell: the imports) in one kernel, started exactly as the submissions' kernels
are (same limits, same sandbox, same environment), and returns one line with the
cause and its fix, or None when they all ran.
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from ._text import first_line
from .limits import LIMIT_OPTIONS, Limits
from .runner import RunResult, run_notebook
from .sandbox import Sandbox


def setup_cell(nb: NotebookNode) -> str | None:
    """The source of ``nb``'s first code cell (its set-up: imports), or None.

    Examples
    --------
    >>> setup_cell(new_notebook(cells=[new_code_cell("import numpy as np")]))
    'import numpy as np'
    """
    return next((c.source for c in nb.cells if c.cell_type == "code"), None)


def setup_problem(
    cells: list[tuple[str, str | None]], limits: Limits, sandbox: Sandbox | None
) -> str | None:
    """Run the set-up ``cells`` ((notebook name, source) pairs) in one grading kernel.

    Returns
    -------
    str or None
        One line: what failed, why, and how to fix it; None when every cell ran.

    Examples
    --------
    >>> setup_problem([("07.ipynb", "import nothing_here")], Limits(sandbox=False), None)
    "the set-up cell of 07.ipynb fails in a grading kernel (ModuleNotFoundError: ..."
    """
    used = [(name, source) for name, source in cells if source is not None]
    if not used:
        return None
    nb = new_notebook(cells=[new_code_cell(source) for _, source in used])
    nb.metadata["kernelspec"] = {"name": limits.kernel_name, "display_name": limits.kernel_name}
    run = run_notebook(nb, "preflight.ipynb", limits, sandbox=sandbox)
    where = " in the sandbox" if sandbox is not None else ""
    for index, (name, _) in enumerate(used):
        record = run.cells.get(index)
        if record is not None and record.get("status") == "ok":
            continue
        if record is None and index == 0 and not run.limit and not run.killed:
            return _no_kernel(run, limits.kernel_name, where)
        return _failed_cell(name, record or {}, run, limits, where)
    return None


def _no_kernel(run: RunResult, kernel: str, where: str) -> str:
    end = run.end or {}
    cause = first_line(end.get("message")) or "it stopped"
    log = [line for line in run.log_tail.strip().splitlines() if line.strip()]
    if log:
        cause += f" (its last words: {first_line(log[-1], limit=120)})"
    return (
        f"the grading kernel {kernel!r} does not start{where}: {cause}; check that "
        "`jupyter kernelspec list` shows it and that its Python has ipykernel, or pick "
        "another with --kernel; nothing was graded"
    )


def _failed_cell(name: str, record: dict, run: RunResult, limits: Limits, where: str) -> str:
    status = record.get("status") or (run.end or {}).get("reason")
    ename = record.get("ename")
    cause = f"{ename}: {first_line(record.get('evalue'))}" if ename else f"status {status}"
    kernel = limits.kernel_name
    if status in LIMIT_OPTIONS:
        cause, fix = limits.exceeded(status), f"raise {LIMIT_OPTIONS[status]}"
    elif status == "timeout" or run.killed or (run.end or {}).get("reason") == "timeout":
        cause, fix = f"it ran past the time limit ({limits.timeout:g} s)", "pass a larger --timeout"
    elif ename in ("ModuleNotFoundError", "ImportError"):
        fix = (
            f"install the course into the Python of kernel {kernel!r} (pip install -e .) "
            "or put it on PYTHONPATH"
        )
    else:
        fix = f"run that cell in kernel {kernel!r} to see why"
    return (
        f"the set-up cell of {name} fails in a grading kernel{where} ({cause}); {fix}; "
        "nothing was graded"
    )

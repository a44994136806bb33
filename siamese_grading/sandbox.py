"""The sandbox each grading kernel runs in (Linux, bubblewrap): what it sees and how it starts.

A kernel started through :meth:`Sandbox.command` runs in fresh namespaces:

- **PID**: the kernel is process 2 of its own PID namespace; when it exits or
  is killed, the kernel kills every process it started, whatever they did
  (``setsid``, double forks, new process groups). ``/proc`` shows only them.
- **network, IPC, UTS**: no network at all (only its own loopback), no shared
  memory with the host.
- **mounts**: a new, empty root with, read-only, the system (``/usr``, ``/etc``
  and the ``/bin``, ``/lib``... links), the Python installation that runs the
  kernel (its prefixes and site-packages; bound after the private ``/tmp`` when
  they are in the host's ``/tmp``, e.g. a CI runner's venv) and a *copy* of the
  course packages (:func:`snapshot_course`), at ``/course``. Writable: only a
  private ``/tmp`` of bounded size (``Limits.scratch_bytes``), which holds the
  kernel's working folder, its home and ``/dev/shm`` (a link to ``/tmp/.shm``);
  the root, ``/dev`` (the usual devices, bound one by one) and the masked folders
  are remounted read-only once set up, so ``/``, ``/var`` or ``/dev/shm`` cannot
  hold a byte outside the bound. Nothing else of the host exists there: not the
  source notebooks, not the submissions, not the results, not the grader's files.
- **privileges**: all capabilities dropped, no new privileges, no nested user
  namespaces.

The grader talks to the kernel over Unix sockets that the kernel creates in its
own ``/tmp`` and that the grader reaches from outside through
``/proc/<kernel pid>/root`` (:func:`host_path`): the sandbox shares no writable
folder with the host.

Only the standard library: the worker process imports this module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Where things are inside the sandbox.
SCRATCH = "/tmp/work"  # the kernel's working folder
HOME = "/tmp/home"
SOCKETS = "/tmp/.kernel/k"  # prefix of the kernel's Unix sockets (k-1 ... k-5)
CONNECTION_FILE = "/run/grading/kernel.json"
COURSE = "/course"  # the read-only copy of the course packages
#: System folders bound read-only (or re-created as the same symbolic link).
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Device nodes of /dev (each bound from the host, as ``bwrap --dev`` does) and its links.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("/tmp/.shm", "/dev/shm"),  # POSIX shared memory and semaphores: in the bounded /tmp
)
#: Files of /etc that the kernel has no business reading.
MASKED = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh")
#: Environment of the kernel (nothing else of the grader's environment goes in).
BASE_ENV = {
    "HOME": HOME,
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONPATH": COURSE,
    "PYTHONDONTWRITEBYTECODE": "1",
    "JPY_PARENT_PID": "1",  # ipykernel: no parent poller (its parent is the sandbox's init)
}
#: Files copied into the course snapshot are never notebooks (they may hold hidden tests).
SNAPSHOT_IGNORE = (".git", ".ipynb_checkpoints", "*.ipynb")
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
    "bubblewrap), or pass --no-sandbox to grade without one (only for submissions you trust; "
    "every row of grades.csv then says so)"
)

_PROBE = r"""
import json, os, site, sys
mappings = {}
for finder in sys.meta_path:
    module = sys.modules.get(getattr(finder, "__module__", "") or "")
    mapping = getattr(module, "MAPPING", None)
    if isinstance(mapping, dict):
        mappings.update({str(k): str(v) for k, v in mapping.items()})
sites = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
if site.ENABLE_USER_SITE:
    sites.append(site.getusersitepackages())
print(json.dumps({
    "executable": sys.executable,
    "prefixes": sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}),
    "path": [p for p in sys.path if p],
    "sites": sites,
    "mappings": mappings,
}))
"""


@dataclass(frozen=True)
class Sandbox:
    """Everything a worker needs to start a kernel in a sandbox (JSON round trip).

    Attributes
    ----------
    bwrap : str
        Path of the ``bwrap`` executable.
    ro_binds : list of [host path, sandbox path]
        Folders and files bound read-only.
    symlinks : list of [target, sandbox path]
        Symbolic links re-created in the sandbox (``/bin -> usr/bin``).
    env : dict
        The kernel's whole environment.
    scratch_bytes : int
        Size of the sandbox's private ``/tmp`` (working folder and home included).
    masked : list of str
        Paths of :data:`MASKED` that exist here: hidden under an empty file or folder.
    drop_caps : bool
        Pass ``--cap-drop ALL`` (bwrap keeps root's capabilities otherwise).
    user_ns : bool
        Use a user namespace, with nested ones disabled.
    python : str
        The kernel's Python (it sets the kernel's rlimits before the kernel starts).
    """

    bwrap: str
    ro_binds: list = field(default_factory=list)
    symlinks: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    scratch_bytes: int = 256 * 2**20
    masked: list = field(default_factory=list)
    drop_caps: bool = False
    user_ns: bool = True
    python: str = sys.executable

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON values (for the worker's job file)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sandbox:
        """The :class:`Sandbox` that :meth:`to_json` gave ``data`` for."""
        return cls(**data)

    def command(
        self,
        argv: list[str],
        connection_file: str | None = None,
        env: dict[str, str] | None = None,
    ) -> list[str]:
        """``bwrap ... -- argv``: ``argv`` run in the sandbox.

        ``connection_file`` (a host path) is bound read-only at
        :data:`CONNECTION_FILE`; ``argv`` should name that path. ``env`` is added to
        the sandbox's environment (e.g. a kernelspec's ``env``).
        """
        cmd = [self.bwrap, "--die-with-parent", "--unshare-pid", "--unshare-net"]
        cmd += ["--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grading"]
        if self.user_ns:
            cmd += ["--unshare-user", "--disable-userns"]
        if self.drop_caps:
            cmd += ["--cap-drop", "ALL"]
        cmd += ["--clearenv"]
        for key, value in sorted({**self.env, **(env or {})}.items()):
            cmd += ["--setenv", key, value]
        for target, path in self.symlinks:
            cmd += ["--symlink", target, path]
        in_tmp = [[source, path] for source, path in self.ro_binds if _under(path, ["/tmp"])]
        for source, path in self.ro_binds:
            if [source, path] not in in_tmp:
                cmd += ["--ro-bind", source, path]
        masked_dirs = [path for path in self.masked if os.path.isdir(path)]
        for path in self.masked:
            cmd += ["--tmpfs", path] if path in masked_dirs else ["--ro-bind", "/dev/null", path]
        cmd += ["--proc", "/proc"]
        for device in DEVICES:
            cmd += ["--dev-bind-try", f"/dev/{device}", f"/dev/{device}"]
        for target, path in DEV_LINKS:
            cmd += ["--symlink", target, path]
        cmd += ["--size", str(self.scratch_bytes), "--tmpfs", "/tmp"]
        for folder in (SCRATCH, HOME, os.path.dirname(SOCKETS), "/tmp/.shm"):
            cmd += ["--dir", folder]
        for source, path in in_tmp:  # after the private /tmp, which would hide them
            cmd += ["--ro-bind", source, path]
        if connection_file is not None:
            cmd += ["--ro-bind", connection_file, CONNECTION_FILE]
        for path in ["/", *masked_dirs]:  # only the private /tmp stays writable
            cmd += ["--remount-ro", path]
        cmd += ["--chdir", SCRATCH, "--", *argv]
        return cmd


class SandboxError(RuntimeError):
    """The sandbox cannot be set up on this machine (the message says why and what to do)."""


def find_bwrap() -> str | None:
    """Path of ``bwrap`` (on PATH, or in /usr/bin), or None."""
    return shutil.which("bwrap") or (shutil.which("bwrap", path="/usr/bin:/bin"))


def probe_python(executable: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """What the kernel's Python can import from: prefixes, ``sys.path``, editable mappings.

    Raises
    ------
    SandboxError
        If the interpreter cannot be run.
    """
    try:
        done = subprocess.run(
            [executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SandboxError(f"cannot run the kernel's Python {executable}: {error}") from None
    if done.returncode != 0:
        raise SandboxError(f"the kernel's Python {executable} failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _under(path: str, folders) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def snapshot_course(layout: dict[str, Any], bound: list[str], dest: Path) -> list[str]:
    """Copy what the kernel imports from outside the Python installation into ``dest``.

    That is: the packages of editable installs (setuptools' ``MAPPING``), and the
    packages and modules of every ``sys.path`` folder that is neither inside a
    folder of ``bound`` nor a site-packages folder (e.g. ``PYTHONPATH``). Notebooks
    are never copied. Returns the names copied.
    """
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(*SNAPSHOT_IGNORE)
    copied: list[str] = []

    def copy(source: Path, name: str) -> None:
        if name in copied or name.startswith("."):
            return
        if source.is_dir():
            shutil.copytree(source, dest / name, symlinks=False, ignore=ignore)
        else:
            shutil.copy2(source, dest / name)
        copied.append(name)

    for name, folder in layout["mappings"].items():
        path = Path(folder)
        if path.is_dir():
            copy(path, name)
        elif path.with_suffix(".py").is_file():
            copy(path.with_suffix(".py"), name + ".py")
    sites = [os.path.realpath(s) for s in layout["sites"]]
    for entry in layout["path"]:
        real = os.path.realpath(entry)
        if not os.path.isdir(real) or _under(real, bound) or real in sites:
            continue
        for child in sorted(Path(real).iterdir()):
            is_package = child.is_dir() and (child / "__init__.py").is_file()
            is_module = child.is_file() and child.suffix in (".py", ".so")
            if is_package or is_module:
                copy(child, child.name)
    return copied


def system_layout() -> tuple[list[list[str]], list[list[str]]]:
    """(read-only binds, symlinks) for the system folders that exist here."""
    binds, links = [], []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            links.append([os.readlink(path), path])
        elif os.path.isdir(path):
            binds.append([path, path])
    return binds, links


def build_sandbox(
    executable: str,
    course_dir: Path,
    *,
    private: list[Path],
    scratch_bytes: int,
    extra_env: dict[str, str],
) -> Sandbox:
    """The sandbox for kernels run by ``executable``, with a course snapshot in ``course_dir``.

    Parameters
    ----------
    executable : str
        The kernel's Python.
    course_dir : Path
        An empty folder for the read-only copy of the course packages.
    private : list of Path
        Folders that must not be visible in the sandbox (sources, submissions,
        results); a read-only bind that would contain one is refused.
    scratch_bytes : int
        Size of the private ``/tmp``.
    extra_env : dict
        Environment variables for the kernel, on top of :data:`BASE_ENV`.

    Raises
    ------
    SandboxError
        If bubblewrap is missing or cannot create namespaces here, or a folder to
        bind would expose a private one.
    """
    bwrap = find_bwrap()
    if bwrap is None:
        raise SandboxError(f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}")
    layout = probe_python(executable)
    binds, links = system_layout()
    system = [path for path, _ in binds]
    python_dirs: list[str] = []
    for folder in [*layout["prefixes"], *layout["sites"]]:
        for path in {folder, os.path.realpath(folder)}:
            if os.path.isdir(path) and not _under(path, system + python_dirs):
                python_dirs.append(path)
    binds += [[path, path] for path in sorted(python_dirs)]
    exe = os.path.realpath(layout["executable"])
    if not _under(exe, system + python_dirs):
        binds.append([exe, exe])
    for folder in private:
        real = os.path.realpath(folder)
        for path, _ in binds:
            if _under(real, [path]):
                raise SandboxError(
                    f"{folder} is inside {path}, which the sandbox shows read-only to every "
                    "submission; move it out of there"
                )
    snapshot_course(layout, system + python_dirs, course_dir)
    binds.append([str(course_dir), COURSE])
    env = {
        **BASE_ENV,
        "PATH": ":".join([os.path.dirname(layout["executable"]), "/usr/bin", "/bin"]),
        **extra_env,
    }
    sandbox = Sandbox(
        bwrap=bwrap,
        ro_binds=binds,
        symlinks=links,
        env=env,
        scratch_bytes=scratch_bytes,
        masked=[path for path in MASKED if os.path.lexists(path)],
        drop_caps=os.geteuid() == 0,
        python=layout["executable"],
    )
    return _working(sandbox, layout["executable"])


def _working(sandbox: Sandbox, executable: str) -> Sandbox:
    """``sandbox``, or the same without a user namespace; whichever starts ``executable`` here.

    Raises
    ------
    SandboxError
        If bubblewrap cannot create namespaces here, or the kernel's Python
        ``executable`` does not start in the sandbox (the message says which).
    """
    errors = []
    for candidate in (sandbox, Sandbox(**{**sandbox.to_json(), "user_ns": False})):
        error = _try(candidate.command(["/bin/sh", "-c", "exit 0"]))
        if error is None:
            error = _try(candidate.command([executable, "-c", "import sys"]))
            if error is not None:
                raise SandboxError(
                    f"the kernel's Python {executable} does not start in the sandbox ({error}); "
                    "the sandbox shows only the system folders and that Python's prefixes and "
                    "site-packages: install the course into a Python whose files are all there "
                    "(a venv or the system's), or report this bug"
                )
            return candidate
        errors.append(error)
    raise SandboxError(f"bubblewrap cannot create a sandbox here ({errors[-1]}); {INSTALL_HINT}")


def _try(cmd: list[str]) -> str | None:
    """None when ``cmd`` exits 0, else the last line it wrote (or why it did not run)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def host_path(kernel_pid: int, path: str) -> str:
    """The host's path to ``path`` inside the sandbox whose kernel is ``kernel_pid``."""
    return f"/proc/{kernel_pid}/root{path}"


def sandbox_children(pid: int) -> list[int]:
    """Child processes of ``pid`` (Linux ``/proc``), e.g. bwrap's process in the sandbox."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as file:
                found += [int(p) for p in file.read().split()]
    except OSError:
        pass
    return found


if sys.platform != "linux":  # pragma: no cover - documented in the README
    INSTALL_HINT = (
        "bubblewrap exists on Linux only; grade on Linux (a VM or a Linux container), or "
        "pass --no-sandbox to grade without one (only for submissions you trust)"
    )

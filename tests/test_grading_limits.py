"""The grader's limits: memory, processes, CPU time, writable space, and a loud start.

The attacks of the issue "resources outside the limits" and "a silent all-zero
class", tried as a hostile learner (or an unlucky instructor) would:

- group L, one grading run (``--jobs 2``) of every limit attacker beside two
  correct victims, with small test limits (1 GiB of memory, 64 processes and
  threads, 20 CPU-seconds, 16 MiB of scratch): a memory hog in one process and
  one spread over three, writes everywhere but ``/tmp``, six CPU burners left
  running, a fork bomb and a thread bomb. Each attacker scores 0 with the
  status of its limit, the victims keep full marks, nothing it started
  survives, and nothing outside the results changes.
- the proofs that each attack really does its harm without the defence: the
  same hog allocates 1.5 GiB in a plain Python; the same writes succeed in the
  sandbox without its read-only remounts; the same bomb forks in plain Python.
- the start-up check (preflight): a source whose set-up cell raises, and a
  kernel that cannot start, stop the command with exit status 1, one line of
  cause and fix, and no grades.csv.
- a Python installed in a venv under ``/tmp`` (CI runners, lab machines) and one
  outside it grade the instructor's own notebook 07 with full marks.

The attacks run on the tiny numpy source of ``test_grading_adversarial`` (its
helpers are reused). All of it needs bubblewrap; without it the module is
skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from test_grading_adversarial import (
    ANSWERS,
    EXERCISES,
    NB,
    SANDBOX_PROBLEM,
    indent,
    learner_notebook,
    make_course,
    rows_by_learner,
    write_class,
    wrong_add,
)
from test_grading_units import read_rows, tree_hashes

import siamese_grading
from siamese_grading import Limits, grade_submissions
from siamese_grading.limits import parse_size
from siamese_grading.sandbox import build_sandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SANDBOX_PROBLEM is not None, reason=f"no sandbox: {SANDBOX_PROBLEM}"),
]

TOKEN = "lim" + uuid.uuid4().hex[:12]  # in every attacker process's command line
REPO = Path(siamese_grading.__file__).resolve().parent.parent
LIMITS = Limits(
    timeout=90,
    memory_bytes=2**30,
    max_processes=64,
    cpu_seconds=20,
    scratch_bytes=16 * 2**20,
)

# --------------------------------------------------------------------------- the attacks

#: One process touches 24 blocks of 64 MiB (1.5 GiB), keeping them.
HOG = (
    "blocks = []\n"
    "for _ in range(24):\n"
    "    blocks.append(np.ones(2**26, dtype=np.uint8))\n"
    "raise AssertionError(f'held {len(blocks) * 64} MiB')"
)
#: A child that touches 400 MiB and keeps it (three of them pass 1 GiB together).
HOLDER = "import sys, time, numpy as np; a = np.ones(400 * 2**20, dtype=np.uint8); time.sleep(60)"
SPREAD_HOG = (
    f"kids = [subprocess.Popen([sys.executable, '-c', {HOLDER!r}, {TOKEN + '-hold'!r}])\n"
    "        for _ in range(3)]\n"
    "time.sleep(40)\n"
    "raise AssertionError('still running')"
)
#: Every place a sandboxed notebook could write, but /tmp; then /dev/shm until it is full.
WRITE_TARGETS = ("/x", "/var/x", "/dev/x", "/etc/x", "/run/x", "/course/x", "/usr/x")
WRITES = (
    "got = []\n"
    f"for path in {WRITE_TARGETS!r} + (os.path.join(sys.prefix, 'x'),):\n"
    "    try:\n"
    "        os.makedirs(os.path.dirname(path), exist_ok=True)\n"
    "        with open(path, 'wb') as out:\n"
    "            out.write(b'x' * 2**20)\n"
    "        got.append(path + ':wrote')\n"
    "    except OSError as error:\n"
    "        got.append(f'{path}:{error.errno}')\n"
    "written = 0\n"
    "try:\n"
    "    with open('/dev/shm/fill', 'wb') as out:\n"
    "        for _ in range(300):\n"
    "            out.write(b'x' * 2**20)\n"
    "            written += 1\n"
    "    got.append(f'shm:{written}:ok')\n"
    "except OSError as error:\n"
    "    got.append(f'shm:{written}:{error.errno}')\n"
    "raise AssertionError(' '.join(got))"
)
#: Six busy processes left running while the check waits.
BURNERS = (
    "for _ in range(6):\n"
    f"    subprocess.Popen([sys.executable, '-c', 'while True: pass', {TOKEN + '-burn'!r}])\n"
    "time.sleep(60)\n"
    "raise AssertionError('still running')"
)
FORK_BOMB_COUNT = 3000
#: Forks ``count`` children that sleep (the kernel itself forks them, one after another).
#: (``os._exit`` would be refused by the screen, a private name.)
FORK_BOMB = (
    "kids = 0\n"
    "for _ in range({count}):\n"
    "    if os.fork() == 0:\n"
    "        os.execv('/bin/sleep', ['sleep', '{seconds}'])\n"
    "    kids += 1\n"
    "raise AssertionError(f'forked {{kids}}')"
)
#: 3000 threads that sleep, kept (RLIMIT_DATA stops it near 250: each stack counts 8 MiB).
THREADS = (
    "import threading, time\n"
    "try:\n"
    "    for _ in range(3000):\n"
    "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    "finally:\n"
    "    time.sleep(60)"
)
THREAD_BOMB = (
    f"subprocess.Popen([sys.executable, '-c', {THREADS!r}, {TOKEN + '-threads'!r}])\n"
    "time.sleep(40)\n"
    "raise AssertionError('still running')"
)
#: Memory that is a file: 192 memfds of 8 MiB (1.5 GiB), in no process's resident set.
MEMFD_HOG = (
    "fds = []\n"
    "for _ in range(192):\n"
    "    fd = os.memfd_create('hog')\n"
    "    os.write(fd, b'x' * 2**23)\n"
    "    fds.append(fd)\n"
    "raise AssertionError(f'held {len(fds) * 8} MiB in memfds')"
)
ATTACKERS = {
    "m_hog": HOG,
    "m_memfd": MEMFD_HOG,
    "m_spread": SPREAD_HOG,
    "w_writes": WRITES,
    "c_burners": BURNERS,
    "p_fork_bomb": FORK_BOMB.format(count=FORK_BOMB_COUNT, seconds=60),
    "p_thread_bomb": THREAD_BOMB,
}


def token_processes() -> list[str]:
    """Command lines of the processes (on this machine) that carry this run's TOKEN."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                cmdline = file.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if TOKEN in cmdline and "pytest" not in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


@pytest.fixture(scope="module")
def group_l(tmp_path_factory):
    """Every limit attacker and two correct victims, graded in one run (--jobs 2)."""
    base = tmp_path_factory.mktemp("group_l")
    src, student_dir, site = make_course(base)
    student = nbformat.read(student_dir / NB, as_version=4)
    subs, out = base / "submissions", base / "out"
    learners = {
        name: learner_notebook(student, add=wrong_add(indent(code)))
        for name, code in ATTACKERS.items()
    }
    both = {"add": ANSWERS["ex1_1_add"], "mul": ANSWERS["ex1_2_mul"]}
    learners["z_victim_1"] = learner_notebook(student, **both)
    learners["z_victim_2"] = learner_notebook(student, **both)
    write_class(subs, learners)
    watched = {"src": src, "subs": subs, "site": site}
    before = {name: tree_hashes(path) for name, path in watched.items()}
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(site))
        started = time.monotonic()
        report = grade_submissions(subs, src, out, limits=LIMITS, jobs=2, log=lines.append)
        seconds = time.monotonic() - started
    survivors = token_processes()
    time.sleep(2)
    return {
        "rows": read_rows(out),
        "times": {r.learner: r.times for r in report.notebooks},
        "lines": lines,
        "seconds": seconds,
        "changed": {name: before[name] != tree_hashes(path) for name, path in watched.items()},
        "survivors": survivors + token_processes(),
        "site": site,
    }


def assert_limited(group, attacker: str, status: str) -> dict[str, dict]:
    """The attacker scores 0 with ``status`` on its first check; the victims keep theirs."""
    table = rows_by_learner(group["rows"])
    mine = table[attacker]
    assert sorted(mine) == sorted(EXERCISES)
    assert [mine[e]["points"] for e in EXERCISES] == ["0", "0"], mine
    assert mine["ex1_1_add"]["status"] == status, mine
    for victim in ("z_victim_1", "z_victim_2"):
        assert {e: (r["status"], r["points"]) for e, r in table[victim].items()} == {
            "ex1_1_add": ("passed", "1"),
            "ex1_2_mul": ("passed", "1"),
        }, victim
    assert group["changed"] == dict.fromkeys(group["changed"], False)
    assert group["survivors"] == []
    return mine


# --------------------------------------------------------------------------- group L


def test_a_memory_hog_gets_status_memory_and_the_victims_keep_their_marks(group_l):
    mine = assert_limited(group_l, "m_hog", "memory")
    assert "more than 1,024 MiB of memory (--memory)" in mine["ex1_1_add"]["message"]
    assert mine["ex1_2_mul"]["status"] in ("memory", "error")  # killed, or its own stub


def test_the_same_hog_does_allocate_without_the_limit():
    code = "import numpy as np\n" + HOG.replace("raise AssertionError", "print")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "held 1536 MiB", done.stderr[-500:]


def test_memory_held_in_memfds_counts_and_no_file_outgrows_the_scratch_space(group_l):
    mine = assert_limited(group_l, "m_memfd", "memory")
    assert "more than 1,024 MiB of memory (--memory)" in mine["ex1_1_add"]["message"]


def test_memfds_hold_memory_that_no_resident_count_sees():
    """The attack is real: in a plain Python the memfds hold 1.5 GiB outside VmRSS."""
    code = (
        "import os\n"
        + MEMFD_HOG.replace("raise AssertionError", "print")
        + "\nrss = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0]\n"
        "print(int(rss.split()[1]) // 1024)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    held, rss_mib = done.stdout.split("\n")[0], int(done.stdout.split("\n")[1])
    assert held == "held 1536 MiB in memfds" and rss_mib < 200, done.stdout


def test_memory_spread_over_processes_counts_together(group_l):
    mine = assert_limited(group_l, "m_spread", "memory")
    assert mine["ex1_1_add"]["message"] == (
        "the notebook used more than 1,024 MiB of memory (--memory)"
    )
    assert mine["ex1_2_mul"]["status"] == "memory"
    assert mine["ex1_2_mul"]["message"].endswith("before this self-check ran")
    assert group_l["times"]["m_spread"]["peak_memory_mib"] > 1024  # it did allocate


def test_peak_memory_is_recorded_for_every_notebook(group_l):
    for learner, times in group_l["times"].items():
        assert 20 < times["peak_memory_mib"] < 3 * 1024, learner
        assert times["peak_processes"] >= 1, learner
    assert group_l["times"]["z_victim_1"]["peak_memory_mib"] < 1024


def test_only_the_bounded_temporary_folder_is_writable(group_l):
    mine = assert_limited(group_l, "w_writes", "failed")
    got = dict(item.rsplit(":", 1) for item in mine["ex1_1_add"]["message"].split(" "))
    erofs = str(30)  # every write was tried, and refused by a read-only file system
    assert {path: got[path] for path in WRITE_TARGETS} == dict.fromkeys(WRITE_TARGETS, erofs)
    shm = [v for k, v in got.items() if k.startswith("shm:")]
    written = int(next(k for k in got if k.startswith("shm:")).split(":")[1])
    assert shm == ["28"] and 1 <= written <= 16  # ENOSPC: /dev/shm is in the 16 MiB /tmp


def test_the_same_writes_succeed_without_the_read_only_remounts(tmp_path):
    sandbox = build_sandbox(
        sys.executable, tmp_path / "c", private=[], scratch_bytes=16 * 2**20, extra_env={}
    )
    script = "import os, sys\n" + WRITES.replace("raise AssertionError", "print").replace(
        "range(300)", "range(32)"
    )
    cmd = sandbox.command([sys.executable, "-c", script])
    assert cmd.count("--remount-ro") >= 1
    weak = []
    for arg in cmd:  # drop each "--remount-ro PATH", and /dev/shm's link into /tmp
        if weak and weak[-1] == "--remount-ro":
            weak.pop()
        elif weak[-2:] == ["--symlink", "/tmp/.shm"] and arg == "/dev/shm":
            weak[-2:] = ["--dir", "/dev/shm"]
        else:
            weak.append(arg)
    got = {}
    for argv in (cmd, weak):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        got[argv is cmd] = dict(i.rsplit(":", 1) for i in done.stdout.split())
    for path in ("/x", "/var/x", "/dev/x", "/run/x"):
        assert (got[True][path], got[False][path]) == ("30", "wrote"), path
    assert [v for k, v in got[False].items() if k.startswith("shm:")] == ["ok"]  # 32 MiB
    assert [v for k, v in got[True].items() if k.startswith("shm:")] == ["28"]


def test_cpu_burners_left_running_hit_the_cpu_limit(group_l):
    mine = assert_limited(group_l, "c_burners", "cpu")
    assert mine["ex1_1_add"]["message"] == "the notebook used more than 20 CPU-seconds (--cpu-time)"
    assert mine["ex1_2_mul"]["status"] == "cpu"
    assert group_l["times"]["c_burners"]["cpu_tree"] > 20


@pytest.mark.parametrize("bomb", ["p_fork_bomb", "p_thread_bomb"])
def test_fork_and_thread_bombs_hit_the_processes_limit(group_l, bomb):
    mine = assert_limited(group_l, bomb, "processes")
    assert mine["ex1_1_add"]["message"] == (
        "the notebook used more than 64 processes and threads at once (--max-processes)"
    )
    assert group_l["times"][bomb]["peak_processes"] > 64


def test_the_same_fork_bomb_forks_without_the_limit():
    code = "import os\n" + FORK_BOMB.format(count=100, seconds=2).replace(
        "raise AssertionError", "print"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "forked 100", done.stderr[-500:]


def test_group_l_is_graded_in_reasonable_time(group_l):
    assert len(group_l["times"]) == len(ATTACKERS) + 2
    assert group_l["seconds"] < 150  # the burners run ~10 s, the hog ~5 s; the rest ~2 s each
    assert any(
        line.startswith("checked the grading kernel: set-up cells run") for line in group_l["lines"]
    )


# --------------------------------------------------------------------------- loud start


def run_cli(*args: str, env: dict | None = None, python: str = sys.executable):
    return subprocess.run(
        [python, "-m", "siamese_grading", "grade", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd="/",
    )


def test_a_failing_set_up_cell_stops_the_command_with_no_grades(tmp_path):
    src, student_dir, site = make_course(tmp_path)
    nb = nbformat.read(src / NB, as_version=4)
    nb.cells[1].source += "\nimport course_checks_missing_module"
    nbformat.write(nb, src / NB)
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    shutil.copy(student_dir / NB, tmp_path / "subs" / "alice" / NB)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{site}"}
    done = run_cli(str(tmp_path / "subs"), "--source", str(src), "--out", str(out), env=env)
    assert done.returncode == 1, done.stdout[-2000:]
    error = done.stderr.strip()
    assert len(error.splitlines()) == 1, error
    assert error.startswith(f"siamese-grading grade: error: the set-up cell of {NB} fails")
    assert "ModuleNotFoundError: No module named 'course_checks_missing_module'" in error
    assert "pip install -e ." in error and "nothing was graded" in error
    assert not (out / "grades.csv").exists() and not out.exists()


def test_a_kernel_that_cannot_start_stops_the_command_with_no_grades(tmp_path):
    src, student_dir, site = make_course(tmp_path)
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    shutil.copy(student_dir / NB, tmp_path / "subs" / "alice" / NB)
    spec = tmp_path / "jupyter" / "kernels" / "broken"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", "import sys; sys.exit(3)", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        f'{{"argv": {str(argv).replace(chr(39), chr(34))}, "display_name": "broken", '
        '"language": "python"}',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{site}", "JUPYTER_PATH": str(tmp_path / "jupyter")}
    out = tmp_path / "out"
    for extra in ([], ["--no-sandbox"]):
        done = run_cli(
            str(tmp_path / "subs"), "--source", str(src), "--out", str(out),
            "--kernel", "broken", "--timeout", "30", *extra, env=env,
        )  # fmt: skip
        assert done.returncode == 1, (extra, done.stdout[-2000:])
        error = done.stderr.strip()
        assert len(error.splitlines()) == 1, error
        assert error.startswith("siamese-grading grade: error: the grading kernel 'broken' does")
        assert "--kernel" in error and "see the log" not in error
        assert not out.exists()


def make_venv(where: Path) -> Path:
    """A venv at ``where`` that sees this Python's packages and has the course installed."""
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(where)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, OSError) as error:
        pytest.skip(f"cannot create a venv here: {error}")
    python = where / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", REPO],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return python


@pytest.mark.parametrize("where", ["tmp", "home"])
def test_a_venv_under_tmp_or_elsewhere_grades_the_instructor_notebook(tmp_path, where):
    """The kernel spec python3 is the grader's Python: the venv's, under /tmp or not."""
    name = f"siamese-venv-{TOKEN}-{where}"
    venv = Path("/tmp", name) if where == "tmp" else Path.home() / ".cache" / name
    try:
        python = make_venv(venv)
        source = tmp_path / "src"
        source.mkdir()
        shutil.copy(REPO / "notebooks" / "07_the_triplet_loss.ipynb", source)
        (tmp_path / "subs" / "teacher").mkdir(parents=True)
        shutil.copy(source / "07_the_triplet_loss.ipynb", tmp_path / "subs" / "teacher")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        # nbconvert's templates are in the base Python's share/jupyter, which a
        # --system-site-packages venv does not search (a full venv has its own)
        env["JUPYTER_PATH"] = str(Path(sys.base_prefix) / "share" / "jupyter")
        out = tmp_path / "out"
        done = run_cli(
            str(tmp_path / "subs"), "--source", str(source), "--out", str(out), "--jobs", "1",
            env=env, python=str(python),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
        rows = read_rows(out)
        assert [(r["status"], r["points"], r["max_points"]) for r in rows] == [
            ("passed", "1", "1")
        ] * 2, rows
        assert all(r["sandbox"] == "bubblewrap" for r in rows)
        if where == "tmp":
            assert_tmp_python_needs_binding_after_the_private_tmp(python, tmp_path / "course")
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def assert_tmp_python_needs_binding_after_the_private_tmp(python: Path, course: Path) -> None:
    """The same sandbox with every bind before the private /tmp (as before) loses the venv."""
    sandbox = build_sandbox(str(python), course, private=[], scratch_bytes=2**24, extra_env={})
    cmd = sandbox.command([str(python), "-c", "print('started')"])
    late = [
        i for i in range(len(cmd) - 2) if cmd[i] == "--ro-bind" and cmd[i + 2].startswith("/tmp/")
    ]
    assert late and min(late) > cmd.index("--tmpfs")
    moved = [arg for i in late for arg in cmd[i : i + 3]]
    old = [arg for i, arg in enumerate(cmd) if not any(j <= i < j + 3 for j in late)]
    at = old.index("--size")
    old[at:at] = moved
    runs = [subprocess.run(c, capture_output=True, text=True, timeout=60) for c in (cmd, old)]
    assert runs[0].stdout.strip() == "started", runs[0].stderr
    assert runs[1].returncode != 0 and "started" not in runs[1].stdout


def test_memory_option_accepts_suffixes_and_rejects_bad_sizes(capsys):
    from siamese_grading.__main__ import build_parser

    assert parse_size("3G") == 3 * 2**30 and parse_size("1536m") == 1536 * 2**20
    parser = build_parser()
    args = parser.parse_args(["grade", "s", "--source", "x", "--out", "o", "--memory", "2G"])
    assert args.memory == 2 * 2**30
    for bad, message in (("3X", "expected a size such as 3G"), ("10M", "at least 64M")):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(["grade", "s", "--source", "x", "--out", "o", "--memory", bad])
        assert stop.value.code == 2
        assert message in capsys.readouterr().err

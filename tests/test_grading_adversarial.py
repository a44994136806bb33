"""Adversarial tests of the grader: every attack of issue 11, tried as a hostile learner would.

Each attacker leaves the exercises unsolved and tries to earn points anyway, or to
hurt the others. Every test asserts that the attacker scores 0, that the correct
victims keep full marks, that no file outside the results changed (hashes before
and after), that no process outlives the grader, and that grades.csv does not
change after the grader exits.

To stay fast, the attacks run on a tiny source notebook made here (numpy and a
small course package ``course_checks``, no TensorFlow), and many attackers and
victims are graded together in one run per group:

- group A, in process (``grade_submissions``): forged report, sabotage of others,
  every in-kernel tampering variant (in an earlier cell, at the top level of the
  exercise cell, inside the exercise function), secrets, each kind of survivor,
  feedback spoofing and a full temporary folder;
- group B, through the command line, twice, from a copy of the grader and of the
  course package: edits of the package, of the grader's worker and of the source
  notebook, and a daemon that rewrites grades.csv after the grader exits.

Where an attack relies on the old behaviour (a plain kernel running the whole
notebook), ``test_the_in_kernel_attacks_do_work_in_a_plain_kernel`` shows that it
does work there, so that these tests can fail.

All of it needs bubblewrap (``.ci/run`` installs it); without it the module is
skipped, with the reason.
"""

from __future__ import annotations

import hashlib
import html
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from test_grading_units import (
    check_meta,
    notebook,
    quiet,
    read_rows,
    solution_meta,
    tree_hashes,
)

import siamese_grading
from siamese_grading import Limits, grade_submissions, release_directory
from siamese_grading.sandbox import SandboxError, build_sandbox


def sandbox_problem() -> str | None:
    """Why no sandbox can run here (None when one can)."""
    if sys.platform != "linux":
        return f"the sandbox needs Linux and bubblewrap; this is {sys.platform}"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap (.ci/run does)"
    with tempfile.TemporaryDirectory(prefix="bwrap-probe-") as probe:
        try:
            build_sandbox(
                sys.executable, Path(probe) / "c", private=[], scratch_bytes=2**20, extra_env={}
            )
        except SandboxError as error:
            return str(error)
    return None


SANDBOX_PROBLEM = sandbox_problem() if sys.platform != "win32" else "POSIX-only grader"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SANDBOX_PROBLEM is not None, reason=f"no sandbox: {SANDBOX_PROBLEM}"),
]

TOKEN = "adv" + uuid.uuid4().hex[:12]  # in every attacker process's command line
HIDDEN_MARK = f"HIDDEN-{TOKEN}"  # in the hidden tests only
SOLUTION_MARK = f"SOLUTION-{TOKEN}"  # in the solutions only
NB = "01_target.ipynb"
EXERCISES = ("ex1_1_add", "ex1_2_mul")
COURSE_CHECKS = '''"""The adversarial fixture's course package (stands in for helpers.checks)."""
import numpy as np


def check_add(add):
    got = add(2, 3)
    assert np.allclose(got, 5), f"add(2, 3) should be 5, got {got}"
    np.testing.assert_allclose(add(-2, 2), 0)
    print("add works")


def check_mul(mul):
    got = mul(2, 3)
    assert np.allclose(got, 6), f"mul(2, 3) should be 6, got {got}"
    np.testing.assert_allclose(mul(-2, 2), -4)
'''


def target_notebook():
    """Two exercises checked by course_checks with numpy, hidden tests, a course cell between."""
    return notebook(
        [
            new_markdown_cell("# Task 1: a target\n\n**Time:** 1 minute"),
            new_code_cell(
                "import math\nimport os\nimport subprocess\nimport sys\nimport time\n\n"
                "import numpy as np\n\nimport course_checks as checks"
            ),
            new_code_cell(
                "# EXERCISE 1.1 — add\ndef add(a, b):\n"
                f"    ### BEGIN SOLUTION\n    # {SOLUTION_MARK}\n    return a + b\n"
                "    ### END SOLUTION",
                metadata=solution_meta("ex1_1_add"),
            ),
            new_code_cell(
                "checks.check_add(add)\n### BEGIN HIDDEN TESTS\n"
                f"# {HIDDEN_MARK}\n"
                'assert np.allclose(add(0.5, 0.25), 0.75), "add(0.5, 0.25) should be 0.75"\n'
                "np.testing.assert_allclose(add(-1.0, 1.0), 0.0)\n### END HIDDEN TESTS",
                metadata=check_meta("check_ex1_1_add"),
            ),
            new_code_cell('print("add(2, 3) =", add(2, 3))'),
            new_code_cell(
                "# EXERCISE 1.2 — multiply\ndef mul(a, b):\n"
                f"    ### BEGIN SOLUTION\n    # {SOLUTION_MARK}\n    return a * b\n"
                "    ### END SOLUTION",
                metadata=solution_meta("ex1_2_mul"),
            ),
            new_code_cell(
                "checks.check_mul(mul)\n### BEGIN HIDDEN TESTS\n"
                f"# {HIDDEN_MARK}\nassert np.allclose(mul(3, 0.5), 1.5)\n### END HIDDEN TESTS",
                metadata=check_meta("check_ex1_2_mul"),
            ),
        ]
    )


ANSWERS = {
    "ex1_1_add": "# EXERCISE 1.1 — add\ndef add(a, b):\n    return a + b",
    "ex1_2_mul": "# EXERCISE 1.2 — multiply\ndef mul(a, b):\n    return a * b",
}
#: Wrong answers that the visible checks catch and the hidden tests do not (so that
#: defeating the visible check alone would be enough).
SLY = {
    "add": "# EXERCISE 1.1 — add\ndef add(a, b):\n    return 0 if a == 2 else a + b",
    "mul": "# EXERCISE 1.2 — multiply\ndef mul(a, b):\n    return 0 if a == 2 else a * b",
}
#: The sly add with room for an attack in its body (``{body}``, 4 spaces indented).
WRONG_ADD = (
    "# EXERCISE 1.1 — add\n{helpers}\ndef add(a, b):\n{body}\n"
    "    return 0 if a == 2 else a + b\n{top}"
)

# --------------------------------------------------------------------------- the attacks

#: In-kernel tampering, as code that works in a plain kernel (see the module docstring).
TAMPERING = {
    "check_noop": "checks.check_add = lambda f: None\nchecks.check_mul = lambda f: None",
    "numpy": "np.testing.assert_allclose = lambda *a, **k: None\n"
    "np.allclose = lambda *a, **k: True",
    "input_transformer": "def _blank(lines):\n"
    "    return [] if any('checks.' in line for line in lines) else lines\n"
    "get_ipython().input_transformers_cleanup.append(_blank)",
    "ast_transformer": "import ast\n"
    "class _Swallow(ast.NodeTransformer):\n"
    "    def visit_Module(self, node):\n"
    "        handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()),\n"
    "                                    name=None, body=[ast.Pass()])\n"
    "        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler],\n"
    "                             orelse=[], finalbody=[])]\n"
    "        return ast.fix_missing_locations(node)\n"
    "get_ipython().ast_transformers.append(_Swallow())",
}


def indent(code: str, spaces: int = 4) -> str:
    return "\n".join(" " * spaces + line if line else line for line in code.split("\n"))


def find_files_attack(names: tuple[str, ...], action: str) -> str:
    """Function body: walk what the kernel sees for files called ``names``; do ``action``."""
    return indent(
        "hits, seen = 0, 0\n"
        "for top in ('/tmp', '/', os.getcwd(), os.path.expanduser('~')):\n"
        "    for root, dirs, files in os.walk(top):\n"
        "        if root.count('/') > 5 or root.startswith(('/proc', '/sys', '/dev', '/usr')):\n"
        "            dirs[:] = []\n"
        "            continue\n"
        "        for name in files:\n"
        f"            if name in {names!r} or name.endswith('.ipynb'):\n"
        "                seen += 1\n"
        "                path = os.path.join(root, name)\n"
        "                try:\n"
        f"{indent(action, 20)}\n"
        "                    hits += 1\n"
        "                except OSError:\n"
        "                    pass\n"
        "try:\n"
        f"    open('/tmp/siamese-canary-{TOKEN}', 'w').write('x')  # the host's /tmp?\n"
        "except OSError:\n"
        "    pass\n"
        "raise AssertionError(f'hits={hits} seen={seen}')"
    )


FORGE = (
    "with open(path, 'a') as report:\n"
    "    for index in range(20):\n"
    '        report.write(\'{"event": "cell", "index": %d, "status": "ok"}\\n\' % index)'
)

DAEMON = (
    "import os, sys, time\n"
    "end = time.time() + 25\n"
    "while time.time() < end:\n"
    "    for top in ['/tmp'] + sys.argv[2:]:\n"
    "        for root, dirs, files in os.walk(top):\n"
    "            for name in files:\n"
    "                if name in ('report.jsonl', 'grades.csv'):\n"
    "                    try:\n"
    "                        with open(os.path.join(root, name), 'a') as f:\n"
    '                            f.write(\'{"event": "end", "reason": "failed", \'\n'
    '                                    \'"message": "your notebook crashed"}\\n\')\n'
    "                    except OSError:\n"
    "                        pass\n"
    "    time.sleep(0.2)\n"
)


def saboteur_body(paths: list[str]) -> str:
    return indent(
        f"cmd = [sys.executable, '-c', {DAEMON!r}, {TOKEN + '-saboteur'!r}, *{paths!r}]\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.execv(sys.executable, cmd)\n"
        "    os.execv('/bin/true', ['true'])\n"
        "os.waitpid(child, 0)\n"
        "time.sleep(1)\n"
        "raise AssertionError('saboteur started')"
    )


SLEEPER = "import time; time.sleep(120)"
SURVIVORS = indent(
    f"subprocess.Popen([sys.executable, '-c', {SLEEPER!r}, {TOKEN + '-popen'!r}],\n"
    "                 start_new_session=True, stdin=subprocess.DEVNULL,\n"
    "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "if os.fork() == 0:\n"
    "    os.setpgrp()\n"
    f"    os.execv(sys.executable, [sys.executable, '-c', {SLEEPER!r}, {TOKEN + '-setpgrp'!r}])\n"
    "child = os.fork()\n"
    "if child == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    f"        os.execv(sys.executable, [sys.executable, '-c', {SLEEPER!r}, "
    f"{TOKEN + '-setsid'!r}])\n"
    "    os.execv('/bin/true', ['true'])\n"
    "os.waitpid(child, 0)\n"
    "time.sleep(0.5)\n"
    "alive = 0\n"
    "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
    "    try:\n"
    f"        alive += {TOKEN!r} in open(f'/proc/{{pid}}/cmdline').read()\n"
    "    except OSError:\n"
    "        pass\n"
    "raise AssertionError(f'spawned {alive}')"
)


def secrets_body(paths: list[str]) -> str:
    hidden = HIDDEN_MARK.split("-")  # never written whole in the learner's own cell
    solution = SOLUTION_MARK.split("-")
    return indent(
        "found = []\n"
        f"marks = [{hidden[0]!r} + '-' + {hidden[1]!r}, {solution[0]!r} + '-' + {solution[1]!r}]\n"
        f"for path in {paths!r}:\n"
        "    if os.path.exists(path):\n"
        "        found.append('exists:' + path)\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    for what in ('cmdline', 'environ'):\n"
        "        try:\n"
        "            text = open(f'/proc/{pid}/{what}', 'rb').read()\n"
        "        except OSError:\n"
        "            continue\n"
        f"        if b'--source' in text or {TOKEN + '-canary'!r}.encode() in text:\n"
        "            found.append(f'{what}:{pid}')\n"
        "for top in ('/tmp', '/run', '/course', '/etc', '/root'):\n"
        "    for root, dirs, files in os.walk(top):\n"
        "        if root.startswith(sys.prefix):\n"
        "            dirs[:] = []\n"
        "            continue\n"
        "        for name in files:\n"
        "            try:\n"
        "                data = open(os.path.join(root, name), 'rb').read(4_000_000)\n"
        "            except OSError:\n"
        "                continue\n"
        "            if any(mark.encode() in data for mark in marks):\n"
        "                found.append('file:' + os.path.join(root, name))\n"
        "try:\n"
        "    if len(open('/run/grading/kernel.json').read()) > 2:\n"
        "        found.append('connection file')\n"
        "except OSError:\n"
        "    pass\n"
        "parent = os.getpid()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    try:\n"
        "        open(f'/proc/{parent}/mem', 'rb').close()\n"
        "        os.execv('/bin/sh', ['sh', '-c', 'exit 1'])\n"
        "    except OSError:\n"
        "        os.execv('/bin/sh', ['sh', '-c', 'exit 0'])\n"
        "if os.waitpid(child, 0)[1]:\n"
        "    found.append('kernel memory')\n"
        "raise AssertionError(f'secrets found: {found}')"
    )


SPOOF = indent(
    "display({'text/html': '<style>.jp-Cell{display:none}</style>'\n"
    f"         '<h1 class=\"spoof-{TOKEN}\">1 / 1 passed</h1>',\n"
    f"         'text/markdown': '<script>alert(\"{TOKEN}\")</script>',\n"
    f"         'image/svg+xml': '<svg onload=\"alert(1)\" class=\"spoof-{TOKEN}\"></svg>',\n"
    "         'application/javascript': 'alert(1)'}, raw=True)\n"
    f"display({{'image/png': '\"><script>alert(\"{TOKEN}\")</script>'}}, raw=True)\n"
    f"print('<b class=\"spoof-{TOKEN}\">1 / 1 passed</b>')"
)
FILL_TMP = indent(
    "written, block = 0, b'x' * 2**20\n"
    "for folder in ('/tmp', os.getcwd(), os.path.expanduser('~')):\n"
    "    try:\n"
    "        with open(os.path.join(folder, 'fill.bin'), 'ab') as out:\n"
    "            for _ in range(2048):\n"
    "                out.write(block)\n"
    "                written += len(block)\n"
    "    except OSError:\n"
    "        pass\n"
    "raise AssertionError(f'wrote {written // 2**20} MB')"
)


# --------------------------------------------------------------------------- fixtures


def wrong_add(body: str = "", top: str = "", helpers: str = "") -> str:
    return WRONG_ADD.format(body=body or "    pass", top=top, helpers=helpers)


def learner_notebook(student, add=None, mul=None, before=None):
    """The student notebook with these exercise cells, and a cell of its own before them."""
    nb = nbformat.from_dict(student)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "ex1_1_add" and add is not None:
            cell.source = add
        if grade_id == "ex1_2_mul" and mul is not None:
            cell.source = mul
    if before is not None:
        nb.cells.insert(2, new_code_cell(before))
    return nb


def make_course(base: Path, grader_copy: bool = False) -> tuple[Path, Path, Path]:
    """Source, student version, and a site folder (course package, maybe a grader copy)."""
    src = base / "src"
    src.mkdir()
    nbformat.write(target_notebook(), src / NB)
    release_directory(src, base / "student", log=quiet)
    site = base / "site"
    (site / "course_checks").mkdir(parents=True)
    (site / "course_checks" / "__init__.py").write_text(COURSE_CHECKS, encoding="utf-8")
    if grader_copy:
        shutil.copytree(
            Path(siamese_grading.__file__).parent,
            site / "siamese_grading",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return src, base / "student", site


def write_class(subs: Path, learners: dict) -> None:
    for learner, nb in learners.items():
        (subs / learner).mkdir(parents=True)
        nbformat.write(nb, subs / learner / NB)


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


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def group_a(tmp_path_factory):
    """Every in-process attacker and two correct victims, graded in one run (--jobs 2)."""
    base = tmp_path_factory.mktemp("group_a")
    src, student_dir, site = make_course(base)
    student = nbformat.read(student_dir / NB, as_version=4)
    subs, out = base / "submissions", base / "out"
    host_paths = [str(src / NB), str(subs), str(out), str(site)]
    learners = {
        "a_forger": learner_notebook(
            student,
            add=wrong_add(find_files_attack(("report.jsonl", "job.json"), FORGE)),
            before="import os\n" + indent(FORGE, 0).replace("path", "'/tmp/report.jsonl'"),
        ),
        "a_saboteur": learner_notebook(student, add=wrong_add(saboteur_body(host_paths))),
        "a_secrets": learner_notebook(student, add=wrong_add(secrets_body(host_paths))),
        "a_survivors": learner_notebook(student, add=wrong_add(SURVIVORS)),
        "a_spoof": learner_notebook(
            student,
            add=wrong_add(SPOOF),
            before="from IPython.display import HTML, display\n"
            "display(HTML('<style>table{display:none}</style><b>2 / 2 points</b>'))",
        ),
        "a_fill_tmp": learner_notebook(student, add=wrong_add(FILL_TMP)),
    }
    for name, code in TAMPERING.items():
        learners[f"t_{name}_cell"] = learner_notebook(
            student, add=SLY["add"], mul=SLY["mul"], before=code
        )
        learners[f"t_{name}_top"] = learner_notebook(
            student, add=wrong_add(top=code), mul=SLY["mul"]
        )
        helper = "def _tamper():\n" + indent(code)
        learners[f"t_{name}_body"] = learner_notebook(
            student, add=wrong_add(body="    _tamper()", helpers=helper), mul=SLY["mul"]
        )
    both = {"add": ANSWERS["ex1_1_add"], "mul": ANSWERS["ex1_2_mul"]}
    learners["z_victim_1"] = learner_notebook(student, **both)
    learners["z_victim_2"] = learner_notebook(student, **both)
    write_class(subs, learners)
    watched = {"src": src, "subs": subs, "site": site}
    before = {name: tree_hashes(path) for name, path in watched.items()}
    grader = Path(siamese_grading.__file__).parent
    grader_before = {k: v for k, v in tree_hashes(grader).items() if "__pycache__" not in k}
    lines = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(site))
        patch.setenv("GRADER_SECRET_CANARY", TOKEN + "-canary")
        started = time.monotonic()
        grade_submissions(
            subs,
            src,
            out,
            limits=Limits(timeout=60, cell_timeout=30, scratch_bytes=16 * 2**20),
            jobs=2,
            log=lines.append,
        )
        seconds = time.monotonic() - started
    csv_at_exit = file_hash(out / "grades.csv")
    survivors_at_exit = token_processes()
    time.sleep(3)
    return {
        "out": out,
        "rows": read_rows(out),
        "lines": lines,
        "seconds": seconds,
        "learners": learners,
        "changed": {name: before[name] != tree_hashes(path) for name, path in watched.items()}
        | {
            "grader": grader_before
            != {k: v for k, v in tree_hashes(grader).items() if "__pycache__" not in k}
        },
        "csv_changed_after_exit": file_hash(out / "grades.csv") != csv_at_exit,
        "survivors": survivors_at_exit + token_processes(),
    }


def rows_by_learner(rows) -> dict[str, dict[str, dict]]:
    table: dict[str, dict[str, dict]] = {}
    for row in rows:
        table.setdefault(row["learner"], {})[row["exercise"]] = row
    return table


def assert_attack_failed(group, attacker: str) -> dict[str, dict]:
    """The checks every attack test makes; returns the attacker's rows."""
    table = rows_by_learner(group["rows"])
    mine = table[attacker]
    assert sorted(mine) == sorted(EXERCISES)
    assert [mine[e]["points"] for e in EXERCISES] == ["0", "0"], mine
    assert all(row["sandbox"] == "bubblewrap" for row in mine.values())
    for victim, rows in table.items():
        if victim.startswith("z_victim"):
            assert {e: (r["status"], r["points"]) for e, r in rows.items()} == {
                "ex1_1_add": ("passed", "1"),
                "ex1_2_mul": ("passed", "1"),
            }, victim
    assert group["changed"] == dict.fromkeys(group["changed"], False)
    assert group["survivors"] == []
    assert not group["csv_changed_after_exit"]
    assert not Path(f"/tmp/siamese-canary-{TOKEN}").exists()
    return mine


# --------------------------------------------------------------------------- group A


def test_forged_report_finds_no_report_and_scores_zero(group_a):
    mine = assert_attack_failed(group_a, "a_forger")
    assert mine["ex1_1_add"]["status"] == "failed"
    assert mine["ex1_1_add"]["message"].startswith("hits=0 ")  # nothing it could change
    assert mine["ex1_2_mul"]["message"].startswith("NotImplementedError")


def test_sabotage_of_others_leaves_the_victims_their_marks(group_a):
    mine = assert_attack_failed(group_a, "a_saboteur")
    assert mine["ex1_1_add"]["message"] == "saboteur started"


@pytest.mark.parametrize("attack", sorted(TAMPERING))
@pytest.mark.parametrize("where", ["cell", "top", "body"])
def test_in_kernel_tampering_earns_nothing(group_a, attack, where):
    mine = assert_attack_failed(group_a, f"t_{attack}_{where}")
    add, mul = mine["ex1_1_add"], mine["ex1_2_mul"]
    if where == "cell":  # a cell of the learner's own: it never runs
        assert (add["status"], add["message"]) == ("failed", "add(2, 3) should be 5, got 0")
    elif where == "top" and attack != "ast_transformer":  # top level of the cell: not run
        assert add["status"] == "failed"
        assert add["message"].startswith("add(2, 3) should be 5, got 0; not run (only definitions")
    else:  # in the exercise's code (or importing ast): refused, with the line
        assert add["status"] == "refused", add
        assert add["message"].startswith("not run, the exercise cell line ")
    assert (mul["status"], mul["message"]) == ("failed", "mul(2, 3) should be 6, got 0")


def test_secrets_are_out_of_reach_and_out_of_the_feedback(group_a):
    mine = assert_attack_failed(group_a, "a_secrets")
    assert mine["ex1_1_add"]["message"] == "secrets found: []"
    for page in (group_a["out"] / "feedback").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert HIDDEN_MARK not in text and SOLUTION_MARK not in text, page
        assert "np.testing.assert_allclose(add(-1.0, 1.0), 0.0)" not in text, page


def test_processes_started_by_a_submission_do_not_survive_it(group_a):
    mine = assert_attack_failed(group_a, "a_survivors")
    assert mine["ex1_1_add"]["message"] == "spawned 3"  # they did start, in the sandbox


class Elements(HTMLParser):
    """The elements of a page: (tag, attributes, text of a <style> or <script>)."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict, str]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs), ""))

    def handle_data(self, data):
        if self.found and self.found[-1][0] in ("style", "script"):
            tag, attrs, text = self.found[-1]
            self.found[-1] = (tag, attrs, text + data)


def test_feedback_spoofing_shows_only_inert_text(group_a):
    assert_attack_failed(group_a, "a_spoof")
    page = (group_a["out"] / "feedback" / "a_spoof" / "01_target.html").read_text("utf-8")
    parser = Elements()
    parser.feed(page)
    tags = parser.found
    assert not [t for t in tags if f"spoof-{TOKEN}" in t[1].get("class", "")]
    assert not [t for t in tags if t[0] in ("style", "script") and TOKEN in t[2]]
    assert not [t for t in tags if t[0] in ("style", "script") and ".jp-Cell{" in t[2]]
    assert not [t for t in tags if t[0] == "svg" or (t[0] == "h1" and "class" in t[1])]
    assert not [t for t in tags if "alert" in " ".join(str(v) for v in t[1].values())]
    assert "0 / 2 points" in page
    printed = html.escape(f'<b class="spoof-{TOKEN}">1 / 1 passed</b>', quote=False)
    assert printed in page  # what the learner printed is there, as text
    assert "the feedback page shows only text and images" in page


def test_filling_the_temporary_folder_is_bounded_and_hurts_no_one(group_a):
    mine = assert_attack_failed(group_a, "a_fill_tmp")
    written = int(mine["ex1_1_add"]["message"].removeprefix("wrote ").removesuffix(" MB"))
    assert 1 <= written <= 16  # Limits(scratch_bytes=16 MiB), shared by /tmp, cwd and home


def test_group_a_is_graded_in_reasonable_time(group_a):
    n = len(group_a["learners"])
    assert n == 20
    assert group_a["seconds"] < 12 * n  # about 2 s per notebook on 2 busy cores


def test_the_in_kernel_attacks_do_work_in_a_plain_kernel(group_a, tmp_path):
    """Without the grader's design (the whole notebook in one kernel) they earn full marks."""
    from nbclient import NotebookClient

    source = target_notebook()
    checks = [i for i, c in enumerate(source.cells) if c.metadata.get("nbgrader", {}).get("grade")]
    site = group_a["out"].parent / "site"
    for attack in sorted(TAMPERING):
        nb = nbformat.from_dict(group_a["learners"][f"t_{attack}_cell"])
        for index in checks:  # the locked checks, hidden tests included, as the old grader did
            nb.cells[index + 1].source = source.cells[index].source
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PYTHONPATH", str(site))
            NotebookClient(nb, timeout=60, allow_errors=True, resources={}).execute()
        errors = [o for i in checks for o in nb.cells[i + 1].outputs if o.output_type == "error"]
        assert errors == [], attack


# --------------------------------------------------------------------------- group B

EDITOR = """def _edit_everything():
    edited = []
    targets = list(TARGETS)
    for folder in ("/course", os.getcwd(), "/tmp"):  # where the kernel imports them from
        targets.append(os.path.join(folder, "course_checks", "__init__.py"))
        targets.append(os.path.join(folder, "siamese_grading", "_worker.py"))
    for path in targets:
        try:
            with open(path, "a") as file:
                file.write("\\ncheck_add = check_mul = lambda f: None\\n")
            edited.append(path)
        except OSError:
            pass
    try:
        os.remove(SOURCE)
        edited.append("removed the source")
    except OSError:
        pass
    subprocess.Popen([sys.executable, "-c", REWRITER, TOKEN_ARG, OUT],
                     start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return edited
"""
REWRITER = (
    "import os, sys, time\n"
    "out = sys.argv[2]\n"
    "end = time.time() + 40\n"
    "while time.time() < end:\n"
    "    for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
    "        try:\n"
    "            args = open(f'/proc/{pid}/cmdline').read().split('\\0')\n"
    "        except OSError:\n"
    "            continue\n"
    "        if '--out' in args:\n"
    "            out = args[args.index('--out') + 1]\n"
    "    try:\n"
    "        with open(os.path.join(out, 'grades.csv'), 'a') as f:\n"
    "            f.write('a_editor,01_target.ipynb,ex1_1_add,1,1,passed,,bubblewrap\\n')\n"
    "    except OSError:\n"
    "        pass\n"
    "    time.sleep(0.5)\n"
)


@pytest.fixture(scope="module")
def group_b(tmp_path_factory):
    """The editor, graded twice through the command line, from copies of grader and package."""
    base = tmp_path_factory.mktemp("group_b")
    src, student_dir, site = make_course(base, grader_copy=True)
    student = nbformat.read(student_dir / NB, as_version=4)
    subs = base / "submissions"
    constants = (
        f"TARGETS = {[str(site / 'course_checks' / '__init__.py'), str(site / 'siamese_grading' / '_worker.py')]!r}\n"  # noqa: E501
        f"SOURCE = {str(src / NB)!r}\nOUT = {str(base / 'out1')!r}\n"
        f"TOKEN_ARG = {TOKEN + '-rewriter'!r}\nREWRITER = {REWRITER!r}\n"
    )
    body = "    edited = _edit_everything()\n    raise AssertionError(f'edited {edited}')"
    learners = {
        "a_editor": learner_notebook(student, add=wrong_add(body, helpers=constants + EDITOR)),
        "b_victim_ok": learner_notebook(
            student, add=ANSWERS["ex1_1_add"], mul=ANSWERS["ex1_2_mul"]
        ),
        "c_victim_unsolved": learner_notebook(student),
    }
    write_class(subs, learners)
    watched = [src, subs, site]
    before = [tree_hashes(p) for p in watched]
    env = {**os.environ, "PYTHONPATH": str(site)}
    runs = []
    for out in (base / "out1", base / "out2"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "siamese_grading",
                "grade",
                str(subs),
                "--source",
                str(src),
                "--out",
                str(out),
                "--jobs",
                "2",
                "--timeout",
                "60",
            ],
            cwd=base,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        at_exit = file_hash(out / "grades.csv")
        time.sleep(4)  # a daemon would now rewrite grades.csv
        runs.append(
            {
                "returncode": done.returncode,
                "stderr": done.stderr,
                "rows": rows_by_learner(read_rows(out)),
                "csv_changed_after_exit": file_hash(out / "grades.csv") != at_exit,
                "survivors": token_processes(),
            }
        )
    return {
        "runs": runs,
        "changed": [b != tree_hashes(p) for b, p in zip(before, watched, strict=True)],
    }


def test_package_grader_and_source_edits_change_nothing_in_this_run_or_the_next(group_b):
    assert group_b["changed"] == [False, False, False]  # source, submissions, site copies
    for run in group_b["runs"]:
        assert run["returncode"] == 0, run["stderr"]
        rows = run["rows"]
        editor = rows["a_editor"]
        assert [editor[e]["points"] for e in EXERCISES] == ["0", "0"]
        assert editor["ex1_1_add"]["message"] == "edited []"
        assert {e: r["points"] for e, r in rows["b_victim_ok"].items()} == dict.fromkeys(
            EXERCISES, "1"
        )
        assert {e: r["points"] for e, r in rows["c_victim_unsolved"].items()} == dict.fromkeys(
            EXERCISES, "0"
        )


def test_grades_csv_does_not_change_after_the_grader_exits(group_b):
    for run in group_b["runs"]:
        assert not run["csv_changed_after_exit"]
        assert run["survivors"] == []

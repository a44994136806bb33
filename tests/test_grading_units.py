"""Fast tests of the instructor tools (siamese_grading): nothing here starts a kernel.

Release, assemble, argument checks and the command line's refusals; the tests that
run notebooks in fresh kernels (grading end to end) are in test_grading.py, marked
``slow``. The fixture notebooks are built here, in code (tiny exercises, no
TensorFlow), so that they follow the course conventions without being collected by
nbval; test_grading.py imports them from here.
"""

from __future__ import annotations

import ast
import base64
import copy
import csv
import errno
import hashlib
import json
import math
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from siamese_grading import (
    GradingError,
    Limits,
    ReleaseError,
    grade_submissions,
    release_directory,
    release_notebook,
)
from siamese_grading import grade as grade_module
from siamese_grading import sandbox as sandbox_module
from siamese_grading.__main__ import main
from siamese_grading._text import first_line
from siamese_grading.assemble import assemble
from siamese_grading.limits import limited, parse_size
from siamese_grading.report import STATUSES, GradeRow, feedback_cell, inert_outputs
from siamese_grading.runner import run_notebook
from siamese_grading.sandbox import (
    CONNECTION_FILE,
    Sandbox,
    SandboxError,
    build_sandbox,
    snapshot_course,
)
from siamese_grading.screen import (
    BUILTIN_NAMES,
    IPYTHON_NAMES,
    SAFE_MODULES,
    Policy,
    blank_magics,
    dump,
    screen,
)

pytestmark = pytest.mark.skipif(
    sys.platform == "win32",
    reason="the grader is POSIX-only (resource, os.killpg); run it under WSL or Linux",
)

ROOT = Path(__file__).resolve().parents[1]
REAL_NOTEBOOKS = sorted(ROOT.glob("notebooks/0*.ipynb"))
BASICS = "01_fixture_basics.ipynb"
STRINGS = "02_fixture_strings.ipynb"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
SANDBOX_SENTENCE = "bubblewrap sandbox"


# --------------------------------------------------------------------------- fixtures


def solution_meta(grade_id):
    return {
        "nbgrader": {
            "grade": False,
            "grade_id": grade_id,
            "locked": False,
            "schema_version": 3,
            "solution": True,
            "task": False,
        }
    }


def check_meta(grade_id, points=1):
    return {
        "nbgrader": {
            "grade": True,
            "grade_id": grade_id,
            "locked": True,
            "points": points,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
    }


def notebook(cells):
    nb = new_notebook(cells=cells)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nb


def basics_notebook():
    """Task 1: two exercises (1 and 2 points) and a graded cell of hidden tests only."""
    return notebook(
        [
            new_markdown_cell(
                "# Task 1: Fixture basics\n\n**What you will learn**\n- adding\n\n"
                "**Time:** about 1 minute"
            ),
            new_code_cell("import math"),
            new_markdown_cell("Adding is the first step.\n\n$$c = a + b$$"),
            new_code_cell(
                "# EXERCISE 1.1 — add two numbers\n"
                "def add(a, b):\n"
                '    """Return the sum of a and b."""\n'
                "    ### BEGIN SOLUTION\n"
                "    total = a + b\n"
                "    return total\n"
                "    ### END SOLUTION",
                metadata=solution_meta("ex1_1_add"),
            ),
            new_markdown_cell("<details><summary>Hint</summary>Use +.</details>"),
            new_code_cell(
                'assert add(2, 3) == 5, "add(2, 3) should be 5"\n'
                'print("add works")\n'
                "### BEGIN HIDDEN TESTS\n"
                'assert add(-4, 4) == 0, "add(-4, 4) should be 0"\n'
                "### END HIDDEN TESTS",
                metadata=check_meta("check_ex1_1_add"),
            ),
            new_code_cell(
                "# EXERCISE 1.2 — the length of the hypotenuse\n"
                "def hypotenuse(a, b):\n"
                '    """Length of the long side of a right triangle with sides a and b."""\n'
                "    ### BEGIN SOLUTION\n"
                "    squares = a * a + b * b\n"
                "    return math.sqrt(squares)\n"
                "    ### END SOLUTION",
                metadata=solution_meta("ex1_2_hypotenuse"),
            ),
            new_markdown_cell("<details><summary>Hint</summary>Pythagoras.</details>"),
            new_code_cell(
                'assert hypotenuse(3, 4) == 5, "hypotenuse(3, 4) should be 5"\n'
                'print("hypotenuse works")',
                metadata=check_meta("check_ex1_2_hypotenuse", points=2),
            ),
            new_code_cell(
                "### BEGIN HIDDEN TESTS\n"
                'assert abs(hypotenuse(5, 12) - 13) < 1e-12, "hypotenuse(5, 12) should be 13"\n'
                "### END HIDDEN TESTS",
                metadata=check_meta("hidden_ex1_2_more"),
            ),
            new_code_cell("print(add(1, 2), hypotenuse(6, 8))"),
            new_markdown_cell("You built two functions. Next: [Task 2](02_fixture_strings.ipynb)"),
        ]
    )


def strings_notebook():
    """Task 2: one exercise worth 2 points."""
    return notebook(
        [
            new_markdown_cell("# Task 2: Fixture strings\n\n**Time:** about 1 minute"),
            new_code_cell(
                "# EXERCISE 2.1 — shout\n"
                "def shout(text):\n"
                '    """Return text in capitals followed by an exclamation mark."""\n'
                "    ### BEGIN SOLUTION\n"
                "    loud = text.upper()\n"
                '    return loud + "!"\n'
                "    ### END SOLUTION",
                metadata=solution_meta("ex2_1_shout"),
            ),
            new_markdown_cell("<details><summary>Hint</summary>str.upper()</details>"),
            new_code_cell(
                'assert shout("hi") == "HI!", f"shout(\'hi\') gave {shout(\'hi\')!r}"\n'
                "### BEGIN HIDDEN TESTS\n"
                'assert shout("") == "!", "shout(\'\') should be \'!\'"\n'
                "### END HIDDEN TESTS",
                metadata=check_meta("check_ex2_1_shout", points=2),
            ),
            new_markdown_cell("You built shout."),
        ]
    )


FIXTURES = {BASICS: basics_notebook, STRINGS: strings_notebook}
#: Fixture exercise -> its points (an independent record of what the notebooks say).
POINTS = {
    (BASICS, "ex1_1_add"): 1,
    (BASICS, "ex1_2_hypotenuse"): 2,
    (BASICS, "hidden_ex1_2_more"): 1,
    (STRINGS, "ex2_1_shout"): 2,
}


def write_sources(folder: Path, names=(BASICS, STRINGS)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        nbformat.write(FIXTURES[name](), folder / name)
    return folder


def _lines_between(nb, begin: str, end: str, keep) -> list[str]:
    """The stripped lines of ``nb`` between ``begin`` and ``end`` markers that ``keep`` accepts."""
    lines = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside and keep(line.strip()):
                lines.append(line.strip())
    return lines


def solution_lines(nb) -> list[str]:
    """Every non-trivial line between the solution markers of ``nb``."""
    return _lines_between(
        nb, "BEGIN SOLUTION", "END SOLUTION", lambda t: len(t) > 6 and not t.startswith("#")
    )


def hidden_lines(nb) -> list[str]:
    """Every non-empty line between the hidden-test markers of ``nb``."""
    return _lines_between(nb, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", bool)


def visible_text(nb) -> str:
    """All of ``nb``'s text outside solution and hidden-test blocks."""
    kept = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                inside = False
            elif not inside:
                kept.append(line)
    return "\n".join(kept)


def secret_lines(nb) -> list[str]:
    """Solution and hidden-test lines that the author did not also write elsewhere.

    A hint that quotes a line of the solution, or a visible assertion that repeats a
    hidden one, was made public by the author; every other line must not leak.
    """
    public = visible_text(nb)
    return [line for line in solution_lines(nb) + hidden_lines(nb) if line not in public]


def unmarked(source: str) -> str:
    """A solution cell's source with the marker lines dropped: the worked answer."""
    return "\n".join(line for line in source.split("\n") if "SOLUTION" not in line)


def cell_with(nb, text: str) -> int:
    matches = [i for i, cell in enumerate(nb.cells) if text in cell.source]
    assert len(matches) == 1, f"{text!r} found in cells {matches}"
    return matches[0]


def fill(student, source, grade_id):
    """Copy the instructor's answer of exercise ``grade_id`` into ``student`` (in place)."""
    answer = next(
        c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    target = next(
        c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    target.source = unmarked(answer.source)
    return student


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_rows(results: Path) -> list[dict]:
    with open(results / "grades.csv", newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def rows_of(rows, learner, notebook=BASICS) -> dict[str, dict]:
    return {r["exercise"]: r for r in rows if r["learner"] == learner and r["notebook"] == notebook}


def quiet(line):  # the grader's progress lines are not needed in tests
    pass


def make_released(base: Path) -> tuple[Path, Path]:
    """Write the fixture sources to ``base/src`` and their student version to ``base/student``."""
    src = write_sources(base / "src")
    release_directory(src, base / "student", log=quiet)
    return src, base / "student"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Fixture sources and their student version."""
    return make_released(tmp_path_factory.mktemp("released"))


# --------------------------------------------------------------------------- release


def test_release_replaces_each_solution_by_the_stub_and_keeps_the_signature(released):
    _, student_dir = released
    student = nbformat.read(student_dir / BASICS, as_version=4)
    cell = student.cells[cell_with(student, "def hypotenuse")]
    assert cell.source == (
        "# EXERCISE 1.2 — the length of the hypotenuse\n"
        "def hypotenuse(a, b):\n"
        '    """Length of the long side of a right triangle with sides a and b."""\n'
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError()"
    )


@pytest.mark.parametrize("name", [BASICS, STRINGS])
def test_release_contains_no_solution_and_no_hidden_test(released, name):
    src, student_dir = released
    source = nbformat.read(src / name, as_version=4)
    text = (student_dir / name).read_text(encoding="utf-8")
    secrets = secret_lines(source)
    assert secrets == solution_lines(source) + hidden_lines(source) and len(secrets) >= 3
    source_text = (src / name).read_text(encoding="utf-8")
    for line in secrets:
        assert json.dumps(line)[1:-1] in source_text  # the search finds it where it is
        assert json.dumps(line)[1:-1] not in text
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text


def test_release_removes_a_cell_of_hidden_tests_only_and_clears_outputs(released, tmp_path):
    src, student_dir = released
    source = nbformat.read(src / BASICS, as_version=4)
    student = nbformat.read(student_dir / BASICS, as_version=4)
    assert len(student.cells) == len(source.cells) - 1
    assert not any("hidden_ex1_2_more" in json.dumps(c.metadata) for c in student.cells)
    executed = copy.deepcopy(source)
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    executed.cells[1].execution_count = 7
    again = release_notebook(executed, BASICS)
    code = [c for c in again.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_release_metadata_fingerprints_the_released_checks(released):
    _, student_dir = released
    student = nbformat.read(student_dir / BASICS, as_version=4)
    entries = student.metadata["siamese_grading"]["exercises"]
    assert [(e["grade_id"], e["points"]) for e in entries] == [
        ("ex1_1_add", 1),
        ("ex1_2_hypotenuse", 2),
        ("hidden_ex1_2_more", 1),
    ]
    check = student.cells[cell_with(student, "add(2, 3) == 5")].source
    assert check == 'assert add(2, 3) == 5, "add(2, 3) should be 5"\nprint("add works")'
    assert entries[0]["fingerprint"] == hashlib.sha256(check.encode()).hexdigest()
    assert entries[0]["check_grade_id"] == "check_ex1_1_add"
    assert entries[2]["fingerprint"] is None  # the whole cell is hidden


def test_release_locks_the_checks_in_jupyter(released):
    _, student_dir = released
    student = nbformat.read(student_dir / BASICS, as_version=4)
    check = student.cells[cell_with(student, "add(2, 3) == 5")]
    answer = student.cells[cell_with(student, "def add")]
    assert check.metadata["editable"] is False and check.metadata["deletable"] is False
    assert "editable" not in answer.metadata


def test_release_writes_a_readme_for_learners(released):
    _, student_dir = released
    text = " ".join((student_dir / "README.md").read_text(encoding="utf-8").split())
    for phrase in (
        "# YOUR CODE HERE",
        "self-check",
        "Restart Kernel and Run All",
        SANDBOX_SENTENCE,
    ):
        assert phrase in text


@pytest.mark.parametrize(
    ("out", "force", "match"),
    [
        (".", False, "same folder as SRC_DIR"),
        ("student", False, "inside SRC_DIR"),
        ("sub/student", True, "inside SRC_DIR"),
        ("..", True, "contains SRC_DIR"),
    ],
)
def test_release_refuses_to_write_into_the_source(tmp_path, out, force, match):
    src = write_sources(tmp_path / "course" / "src")
    before = tree_hashes(tmp_path)
    with pytest.raises(ReleaseError, match=match):
        release_directory(src, src / out, force=force, log=quiet)
    assert tree_hashes(tmp_path) == before


def test_release_refuses_a_non_empty_folder_without_force(tmp_path):
    src = write_sources(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ReleaseError, match="not empty; pass --force"):
        release_directory(src, out, log=quiet)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    release_directory(src, out, force=True, log=quiet)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["README.md", BASICS, STRINGS, "mine.txt"]
    )
    assert (out / "mine.txt").read_text() == "keep me"


def test_release_never_modifies_the_source_and_reports_each_notebook(tmp_path, capsys):
    src = write_sources(tmp_path / "src")
    before = tree_hashes(src)
    assert main(["release", str(src), str(tmp_path / "out")]) == 0
    assert tree_hashes(src) == before
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        f"released {BASICS}: 3 exercises (4 points), 2 hidden-test blocks removed",
        f"released {STRINGS}: 1 exercise (2 points), 1 hidden-test block removed",
    ]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda nb: nb.cells[3].update(
                source=nb.cells[3].source.replace("    ### END SOLUTION", "")
            ),
            "never closed",
        ),
        (
            lambda nb: nb.cells[6].metadata["nbgrader"].update(grade_id="ex1_1_add"),
            "grade_id also used",
        ),
        (lambda nb: nb.cells[5].metadata["nbgrader"].pop("points"), "needs points"),
        (lambda nb: nb.cells[5].metadata["nbgrader"].update(locked=False), "must be locked"),
        (lambda nb: nb.cells[3].metadata["nbgrader"].update(locked=True), "must not be locked"),
        (lambda nb: nb.cells[3].metadata["nbgrader"].update(schema_version=2), "schema_version"),
        (lambda nb: nb.cells[3].update(source="def add(a, b):\n    return a + b"), "needs ###"),
    ],
)
def test_release_rejects_broken_nbgrader_conventions(change, match):
    nb = basics_notebook()
    change(nb)
    with pytest.raises(ReleaseError, match=match):
        release_notebook(nb, BASICS)


def test_command_line_help_explains_both_commands(capsys):
    for argv, phrases in (
        (["--help"], ["release", "grade", SANDBOX_SENTENCE]),
        (["release", "--help"], ["SRC_DIR", "OUT_DIR", "--force", "NotImplementedError"]),
        (
            ["grade", "--help"],
            ["--source", "--out", "--timeout", "--jobs", "invalid-notebook", "refused"]
            + ["--no-sandbox", "sandbox=none"],
        ),
    ):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        for phrase in phrases:
            assert phrase in text


def test_command_line_reports_a_refusal_with_exit_status_1(tmp_path, capsys):
    src = write_sources(tmp_path / "src")
    assert main(["release", str(src), str(src)]) == 1
    assert "error: OUT_DIR is the same folder as SRC_DIR" in capsys.readouterr().err


# --------------------------------------------------------------------------- assemble

LOCKED_CHECK = basics_notebook().cells[5].source  # with its hidden tests
HIDDEN_CELL = basics_notebook().cells[9].source
ADD_ANSWER = "def add(a, b):\n    return a + b"


def assembled(released, change):
    """The grading notebook of a changed student notebook of the basics fixture."""
    src, student_dir = released
    student = nbformat.read(student_dir / BASICS, as_version=4)
    change(student)
    return assemble(nbformat.read(src / BASICS, as_version=4), student)


def drop_metadata(nb):
    for cell in nb.cells:
        cell.metadata = {}


def set_cell(text, source):
    def change(nb):
        nb.cells[cell_with(nb, text)].source = source

    return change


def test_assemble_runs_the_source_cells_with_the_learners_exercise_cells(released):
    def change(nb):
        nb.cells[cell_with(nb, "def add")].source = "# EXERCISE 1.1\n" + ADD_ANSWER
        nb.cells[cell_with(nb, "import math")].source = "import math\nmath.pi = 3"
        nb.cells[cell_with(nb, "add(2, 3) == 5")].source = "pass  # check edited away"
        nb.cells.insert(0, new_code_cell("import numpy as np\nnp.allclose = lambda *a: True"))

    ready = assembled(released, change)
    sources = [cell.source for cell in ready.nb.cells]
    source = basics_notebook()
    assert len(sources) == len(source.cells)  # the learner's own cell is not there
    assert sources[1] == "import math"  # the course's setup cell, not the edited one
    assert sources[3] == "# EXERCISE 1.1\n" + ADD_ANSWER
    assert sources[5] == LOCKED_CHECK and ready.check_cells["ex1_1_add"] == 5
    assert sources[9] == HIDDEN_CELL and 9 in ready.secret and 5 in ready.secret
    assert not any("np.allclose" in text for text in sources)
    assert "BEGIN HIDDEN TESTS" not in "".join(ready.shown)  # what the feedback shows
    assert ready.shown[9] == "# (a self-check of hidden tests)"


def test_assemble_never_runs_a_solution_of_the_source(released):
    ready = assembled(released, lambda nb: nb.cells.clear())
    text = "".join(cell.source for cell in ready.nb.cells)
    assert "BEGIN SOLUTION" not in text and "total = a + b" not in text
    assert text.count("raise NotImplementedError()") == 2  # the stubs run instead
    assert sorted(ready.missing) == ["ex1_1_add", "ex1_2_hypotenuse"]
    assert ready.missing["ex1_2_hypotenuse"].startswith("could not find the cells of EXERCISE 1.2")


@pytest.mark.parametrize(
    "change",
    [
        drop_metadata,  # found by its "# EXERCISE 1.1" line
        set_cell("def add", "def add(a, b):\n    return a + b"),  # by what it defines
    ],
    ids=["title", "definitions"],
)
def test_assemble_finds_an_exercise_cell_without_metadata(released, change):
    def solve_then_change(nb):
        nb.cells[cell_with(nb, "def add")].source = "# EXERCISE 1.1\n" + ADD_ANSWER
        drop_metadata(nb)
        change(nb)

    ready = assembled(released, solve_then_change)
    assert "return a + b" in ready.nb.cells[3].source
    assert sorted(ready.missing) == []


def test_assemble_reports_top_level_statements_that_do_not_run(released):
    cell = "# EXERCISE 1.1\n" + ADD_ANSWER + "\n\nprint(add(2, 3))\n%timeit add(1, 2)\nLIMIT = 3"
    ready = assembled(released, set_cell("def add", cell))
    screened = ready.code[3].screened
    assert screened.runs and screened.not_run == [(5, "print(add(2, 3))"), (6, "%timeit add(1, 2)")]
    lines = ready.nb.cells[3].source.split("\n")
    assert lines[:3] == cell.split("\n")[:3] and lines[4:6] == ["", ""] and lines[6] == "LIMIT = 3"
    assert ready.shown[3] == cell  # the feedback shows the cell as submitted


def test_assemble_puts_the_stub_in_place_of_refused_code(released):
    cell = "def add(a, b):\n    math.sqrt = abs\n    return a + b"
    ready = assembled(released, set_cell("def add", cell))
    assert ready.code[3].screened.refused == [
        "line 2: assigns to math.sqrt; exercise code may only set attributes of self"
    ]
    assert "raise NotImplementedError()" in ready.nb.cells[3].source


# --------------------------------------------------------------------------- screen


def policy(**fields):
    defaults = {
        "protected": frozenset(BUILTIN_NAMES | IPYTHON_NAMES | {"np", "checks", "rng", "math"}),
        "modules": frozenset(SAFE_MODULES | {"numpy", "math", "os", "sys"}),
    }
    return Policy(**{**defaults, **fields})


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        ("np.allclose = lambda *a, **k: True", "assigns to np.allclose"),
        ("np.testing.assert_allclose = print", "assigns to np.testing.assert_allclose"),
        ("checks.check_add = lambda f: None", "assigns to checks.check_add"),
        ("del checks.check_add", "deletes checks.check_add"),
        ("m = np\n    m.allclose = abs", "assigns to m.allclose"),
        ("setattr(np, 'allclose', abs)", "uses 'setattr'"),
        ("vars(np)['allclose'] = abs", "uses 'vars'"),
        ("np.__dict__['allclose'] = abs", "uses the attribute .__dict__"),
        ("get_ipython().ast_transformers.append(1)", "uses 'get_ipython'"),
        ("__builtins__['abs'] = max", "uses '__builtins__'"),
        ("import sys\n    sys.settrace(None)", "uses the attribute .settrace"),
        ("import sys\n    sys.modules['numpy'] = 1", "uses the attribute .modules"),
        ("import sys\n    sys._getframe(1)", "uses the attribute ._getframe"),
        ("import ctypes", "imports ctypes"),
        ("import IPython", "imports IPython"),
        ("from inspect import stack", "imports inspect"),
        ("import os\n    os.environ['X'] = '1'", "changes an item of os"),
        ("global rng\n    rng = 1", "uses global/nonlocal"),
        ("exec('x = 1')", "uses 'exec'"),
        ("return In[-1]", "uses 'In'"),
        ("np.ctypeslib.as_array(1)", "uses the attribute .ctypeslib"),
        ("import sys\n    sys.path.insert(0, '/tmp')", "uses sys.path"),
        ("from sys import path", "imports 'path'"),
        ("import os\n    os.sys.modules.clear()", "uses the attribute .sys"),
    ],
)
def test_screen_refuses_code_that_tampers_with_the_checks(code, refusal):
    done = screen(f"def add(a, b):\n    {code}\n    return a + b", policy())
    assert not done.runs
    assert any(refusal in reason for reason in done.refused), done.refused
    assert done.refused[0].startswith("line ")


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        ("def abs(x):\n    return 0", "redefines 'abs'"),
        ("class np:\n    allclose = print", "redefines 'np'"),
        ("from unittest import mock as checks", "redefines 'checks'"),
        ("def add(a, b, _=setattr(np, 'allclose', abs)):\n    return a + b", "uses 'setattr'"),
        ("@print\ndef add(a, b):\n    return a + b", "redefines"),
    ],
)
def test_screen_refuses_definitions_that_shadow_or_run_tampering(code, refusal):
    if refusal == "redefines":  # a decorator that is a builtin's name is fine: it is a load
        assert screen(code, policy()).runs
        return
    done = screen(code, policy())
    assert any(refusal in reason for reason in done.refused), done.refused


@pytest.mark.parametrize(
    "code",
    [
        "import numpy as np\ndef f(x):\n    return np.sum(x ** 2, axis=-1)",
        "def f(x, y, batch_size=256, rng=None):\n    rng = rng or 0\n    out = [0] * 3\n"
        "    out[0] = x\n    return out",
        "class Loss:\n    def __init__(self, alpha=0.2):\n        super().__init__()\n"
        "        self.alpha = alpha\n    def get_config(self):\n"
        "        return {'alpha': self.alpha}",
        "EPS = 1e-9\nSIZES = (1, 2, 3)\ndef f(x):\n    return [v for v in x if v > EPS]",
        "def f(x):\n    import math\n    return sorted(x, key=lambda v: -math.fabs(v))",
    ],
)
def test_screen_runs_ordinary_exercise_code(code):
    same_import = screen_template("import numpy as np")  # as the notebook's setup cell has it
    done = screen(code, policy(imports_as_source=same_import))
    assert done.runs and done.not_run == [] and done.code == code


def test_screen_runs_every_statement_of_a_top_level_exercise_and_the_template():
    template = screen_template("emb_size = 64\nx_train = prepare(x_raw)")
    top = "emb_size = 64\ninputs = keras.Input(shape=(784,))\nmodel = keras.Model(inputs, inputs)"
    assert screen(top, policy(top_level=True, template=template)).not_run == []
    assert screen(top, policy(template=template)).not_run == [
        (2, "inputs = keras.Input(shape=(784,))"),
        (3, "model = keras.Model(inputs, inputs)"),
    ]
    same = "def prepare(x):\n    return x\n\n\nx_train = prepare(x_raw)"
    done = screen(same, policy(protected=frozenset({"x_train"}), template=template))
    assert done.runs and done.not_run == []  # the template's own line may bind x_train
    assert screen("x_train = 3", policy(protected=frozenset({"x_train"}))).refused


def screen_template(code):
    return frozenset(dump(node) for node in ast.parse(code).body)


def test_screen_reports_a_syntax_error_with_its_line():
    done = screen("def add(a, b)\n    return a + b", policy())
    assert not done.runs and done.error.startswith("SyntaxError in the exercise cell (line 1)")


def test_blank_magics_leaves_python_alone_and_blanks_ipython_syntax():
    assert blank_magics("x = 5 % 3\ny = '!'") == ("x = 5 % 3\ny = '!'", [])
    assert blank_magics("%time f()\n!ls\nf?\nx = 1") == ("pass\npass\npass\nx = 1", [1, 2, 3])


# --------------------------------------------------------------------------- grade refusals


@pytest.mark.parametrize(
    ("subs", "out", "match"),
    [
        ("subs", "subs/results", "inside SUBMISSIONS_DIR"),
        ("subs", "subs", "inside SUBMISSIONS_DIR"),
        ("subs", "src", "inside --source"),
        ("nowhere", "out", "is not a folder"),
    ],
)
def test_grade_refuses_bad_folders(tmp_path, subs, out, match):
    src = write_sources(tmp_path / "src")
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    before = tree_hashes(tmp_path)
    with pytest.raises(GradingError, match=match):
        grade_submissions(tmp_path / subs, src, tmp_path / out, log=quiet)
    assert tree_hashes(tmp_path) == before


def test_grade_refuses_sources_without_graded_cells(tmp_path):
    (tmp_path / "src").mkdir()
    nbformat.write(notebook([new_code_cell("x = 1")]), tmp_path / "src" / "01_plain.ipynb")
    (tmp_path / "subs").mkdir()
    with pytest.raises(GradingError, match="holds no notebook with graded self-check cells"):
        grade_submissions(tmp_path / "subs", tmp_path / "src", tmp_path / "out", log=quiet)


@pytest.fixture
def no_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox_module, "find_bwrap", lambda: None)


def test_grade_refuses_to_run_without_a_sandbox_unless_told(tmp_path, no_bwrap, capsys):
    src = write_sources(tmp_path / "src")
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    with pytest.raises(GradingError, match="bubblewrap") as refusal:
        grade_submissions(tmp_path / "subs", src, tmp_path / "out", log=quiet)
    assert "apt-get install bubblewrap" in str(refusal.value)
    assert "--no-sandbox" in str(refusal.value)
    assert not (tmp_path / "out").exists()
    argv = ["grade", str(tmp_path / "subs"), "--source", str(src), "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    assert "pass --no-sandbox" in capsys.readouterr().err


def test_command_line_no_sandbox_reaches_the_limits(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(grade_module, "grade_submissions", lambda *a, **k: seen.append(k))
    argv = ["grade", "subs", "--source", "src", "--out", "out"]
    assert main(argv) == 0 and main([*argv, "--no-sandbox"]) == 0
    assert [k["limits"].sandbox for k in seen] == [True, False]


def test_no_such_kernel_is_a_grading_error():
    with pytest.raises(GradingError, match="no Jupyter kernel named 'no-such-kernel'"):
        grade_module.kernel_python("no-such-kernel")
    assert grade_module.kernel_python("python3") == sys.executable


# --------------------------------------------------------------------------- sandbox

BOX = Sandbox(
    bwrap="/usr/bin/bwrap",
    ro_binds=[["/usr", "/usr"], ["/opt/py", "/opt/py"], ["/srv/snap", "/course"]],
    symlinks=[["usr/bin", "/bin"]],
    env={"HOME": "/tmp/home", "PYTHONPATH": "/course"},
    scratch_bytes=2**24,
    masked=["/etc/shadow"],
    drop_caps=True,
)


def test_sandbox_command_binds_a_python_under_tmp_after_the_private_tmp_and_seals_the_rest():
    box = Sandbox(**{**BOX.to_json(), "ro_binds": [*BOX.ro_binds, ["/tmp/venv", "/tmp/venv"]]})
    cmd = box.command(["python"])
    tmpfs, venv = cmd.index("--tmpfs"), cmd.index("/tmp/venv")
    assert cmd[tmpfs + 1] == "/tmp" and tmpfs < venv < cmd.index("--remount-ro")
    assert cmd[cmd.index("--remount-ro") + 1] == "/"  # the root (and /dev, /var...) read-only
    assert "--dev" not in cmd and " --symlink /tmp/.shm /dev/shm " in " ".join(cmd)


def test_limits_give_the_kernel_its_rlimits_and_say_which_limit_a_row_hit():
    limits = Limits(timeout=60, memory_bytes=2**30, cpu_seconds=20, max_processes=64)
    assert limits.rlimits() == {
        "RLIMIT_DATA": [2**31, 2**31],
        "RLIMIT_CPU": [25, 30],
        "RLIMIT_CORE": [0, 0],
        "RLIMIT_FSIZE": [limits.scratch_bytes, limits.scratch_bytes],
        "RLIMIT_NOFILE": [256, 256],
    }
    assert Limits(timeout=60).cpu_limit == pytest.approx(240)
    assert limits.exceeded("memory") == "the notebook used more than 1,024 MiB of memory (--memory)"
    assert limits.exceeded("cpu") == "the notebook used more than 20 CPU-seconds (--cpu-time)"
    assert limits.exceeded("processes").endswith(
        "64 processes and threads at once (--max-processes)"
    )
    done = subprocess.run(
        limited(sys.executable, [sys.executable, "-c", LIMITS_PROBE], limits.rlimits()),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.split() == [str(2**31), "25", "0", str(limits.scratch_bytes), "256"]


LIMITS_PROBE = (
    "import resource\n"
    "print(*(resource.getrlimit(getattr(resource, n))[0] for n in ('RLIMIT_DATA', 'RLIMIT_CPU',"
    " 'RLIMIT_CORE', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE')))"
)


@pytest.mark.parametrize(
    ("text", "size"), [("3G", 3 * 2**30), ("1.5g", 3 * 2**29), ("512MiB", 2**29), ("4096", 4096)]
)
def test_parse_size_reads_k_m_g_suffixes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "3X", "G", "-1G", "1e9", None])
def test_parse_size_refuses_what_is_not_a_size(text):
    with pytest.raises(ValueError, match=re.escape("expected a size such as 3G, 512M or 1048576")):
        parse_size(text)


def test_sandbox_command_isolates_the_kernel():
    cmd = BOX.command(
        ["python", "-m", "ipykernel_launcher", "-f", "/run/grading/kernel.json"],
        connection_file="/ctl/kernel.json",
        env={"EXTRA": "1"},
    )
    joined = " ".join(cmd)
    flags = [
        "--die-with-parent",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-user --disable-userns",
        "--cap-drop ALL",
        "--clearenv",
        "--proc /proc",
        "--dev-bind-try /dev/null /dev/null",
        "--symlink /tmp/.shm /dev/shm",
        "--remount-ro /",
        f"--size {2**24} --tmpfs /tmp",
        "--ro-bind /srv/snap /course",
        "--ro-bind /ctl/kernel.json /run/grading/kernel",
        "--ro-bind /dev/null /etc/shadow",
        "--setenv EXTRA 1",
        "--chdir /tmp/work",
    ]
    for flag in flags:
        assert flag in joined, flag
    assert cmd[-6:] == ["--", "python", "-m", "ipykernel_launcher", "-f", CONNECTION_FILE]
    assert "--bind" not in cmd  # nothing of the host is writable
    assert cmd.index("--tmpfs") < cmd.index("--dir")  # the folders are made in the tmpfs
    assert Sandbox.from_json(BOX.to_json()) == BOX
    without = Sandbox(**{**BOX.to_json(), "drop_caps": False, "user_ns": False}).command(["x"])
    assert "--cap-drop" not in without and "--unshare-user" not in without


def test_course_snapshot_copies_packages_and_modules_but_never_notebooks(tmp_path):
    repo = tmp_path / "repo"
    (repo / "course" / "checks").mkdir(parents=True)
    (repo / "course" / "__init__.py").write_text("X = 1")
    (repo / "course" / "checks" / "__init__.py").write_text("")
    (repo / "course" / "secret.ipynb").write_text("{}")
    (repo / "notebooks").mkdir()
    (repo / "notebooks" / "07.ipynb").write_text("{}")
    (repo / "tool.py").write_text("")
    (repo / "notes.txt").write_text("")
    site = tmp_path / "prefix" / "site-packages"
    site.mkdir(parents=True)
    layout = {
        "mappings": {"course": str(repo / "course")},
        "path": [str(repo), str(site), str(tmp_path / "gone")],
        "sites": [str(site)],
    }
    copied = snapshot_course(layout, [str(tmp_path / "prefix")], tmp_path / "snap")
    assert sorted(copied) == ["course", "tool.py"]
    files = sorted(str(p.relative_to(tmp_path / "snap")) for p in (tmp_path / "snap").rglob("*"))
    assert files == [
        "course",
        "course/__init__.py",
        "course/checks",
        "course/checks/__init__.py",
        "tool.py",
    ]


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
def test_build_sandbox_refuses_to_show_a_private_folder(tmp_path):
    private = Path(sys.prefix) / "course-notebooks"  # inside a folder bound read-only
    with pytest.raises(SandboxError, match="which the sandbox shows read-only to every submission"):
        build_sandbox(
            sys.executable, tmp_path / "c", private=[private], scratch_bytes=2**20, extra_env={}
        )


# --------------------------------------------------------------------------- inert feedback

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(20)).decode()


def test_inert_outputs_keep_text_and_real_images_only():
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": ["<b>hi</b>", "\n"]},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["tb"]},
        {
            "output_type": "execute_result",
            "execution_count": 3,
            "metadata": {"image/png": {"width": "1 onerror=alert(1)"}},
            "data": {
                "text/plain": "3",
                "image/png": PNG[:8] + "\n" + PNG[8:],
                "text/html": "<script>alert(1)</script>",
            },
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {
                "image/png": '"><script>x</script>',
                "image/svg+xml": "<svg onload=x>",
                "text/markdown": "<style>*{}</style>",
                "application/javascript": "x",
            },
        },
        {"output_type": "display_data", "metadata": {}, "data": {"image/jpeg": PNG}},
    ]
    kept = inert_outputs(outputs)
    assert kept[0] == {"output_type": "stream", "name": "stdout", "text": "<b>hi</b>\n"}
    assert (kept[1]["ename"], kept[1]["evalue"], kept[1]["traceback"]) == (
        "ValueError",
        "bad",
        ["tb"],
    )
    assert kept[2]["output_type"] == "display_data" and kept[2]["metadata"] == {}
    assert kept[2]["data"] == {"image/png": PNG, "text/plain": "3"}  # re-encoded, html dropped
    assert list(kept[3]["data"]) == ["text/plain"]
    note = kept[3]["data"]["text/plain"]
    assert note.startswith("[an output of type application/javascript, image/png, image/svg+xml")
    assert "shows only text and images" in note
    assert kept[4]["data"]["text/plain"].startswith("[an output of type image/jpeg")  # not a JPEG


def test_feedback_table_escapes_and_keeps_learner_text_out_of_mathjax():
    row = GradeRow("<b>eve</b>", BASICS, "ex1_1_add", 0, 1, "failed", "$\\huge 1/1$ <i>", "none")
    cell = feedback_cell("<b>eve</b>", BASICS, [row], "note")
    assert "<b>eve</b>" not in cell.source and "&lt;b&gt;eve&lt;/b&gt;" in cell.source
    assert "&lt;i&gt;" in cell.source and cell.source.count('class="tex2jax_ignore"') == 2
    assert STATUSES == (
        "passed",
        "failed",
        "error",
        "refused",
        "timeout",
        "missing",
        "invalid-notebook",
        "memory",
        "processes",
        "cpu",
    )


# --------------------------------------------------------------------------- real notebooks


NBGRADER_KEYS = {"grade", "grade_id", "locked", "schema_version", "solution", "task"}


@pytest.mark.parametrize("path", REAL_NOTEBOOKS, ids=lambda p: p.name)
def test_real_notebook_follows_nbgrader_conventions(path):
    nb = nbformat.read(path, as_version=4)
    graded = [c for c in nb.cells if "nbgrader" in c.metadata]
    ids = [c.metadata["nbgrader"]["grade_id"] for c in graded]
    assert len(ids) == len(set(ids)), f"duplicate grade_ids in {ids}"
    for cell in graded:
        meta = cell.metadata["nbgrader"]
        assert set(meta) - {"points"} == NBGRADER_KEYS, meta
        assert meta["schema_version"] == 3
        assert re.fullmatch(r"[A-Za-z0-9_-]+", meta["grade_id"])
        if meta["solution"]:
            assert meta["locked"] is False and meta["grade"] is False and "points" not in meta
            assert cell.source.splitlines()[0].startswith("# EXERCISE ")
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        if meta["grade"]:
            assert meta["locked"] is True and meta["solution"] is False
            assert isinstance(meta["points"], (int, float)) and meta["points"] > 0
    for cell in nb.cells:
        if "nbgrader" not in cell.metadata:
            assert "BEGIN SOLUTION" not in cell.source


@pytest.mark.parametrize("path", REAL_NOTEBOOKS, ids=lambda p: p.name)
def test_real_notebook_student_version_has_no_solution_or_hidden_test(path):
    source = nbformat.read(path, as_version=4)
    student = release_notebook(source, path.name)
    text = json.dumps(student)  # every cell, output and metadata
    for line in secret_lines(source):
        assert json.dumps(line)[1:-1] not in text, f"{path.name}: {line!r} leaked"
    n_solutions = sum("### BEGIN SOLUTION" in c.source for c in source.cells)
    assert text.count("raise NotImplementedError()") >= n_solutions


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("\n  \n  first line  \nsecond", 200, "first line"),
        ("\x1b[0;31mAssertionError\x1b[0m: bad", 200, "AssertionError: bad"),
        ("<object at 0x7f3a12bc>", 200, "<object at 0x...>"),
        ("x" * 50, 40, "x" * 37 + "..."),
        ("x" * 50, None, "x" * 50),
        (None, 200, ""),
    ],
)
def test_first_line_gives_one_short_line_that_is_the_same_in_every_run(text, limit, expected):
    assert first_line(text, limit=limit) == expected


def test_limits_are_converted_once_and_cap_the_cell_limit_at_the_notebook_limit():
    limits = Limits(timeout=60, cell_timeout=5)
    assert isinstance(limits.timeout, float) and isinstance(limits.cell_timeout, float)
    assert limits.cell_limit == pytest.approx(5)
    assert Limits(timeout=10, cell_timeout=30).cell_limit == pytest.approx(10)
    assert Limits(timeout=10).cell_limit == pytest.approx(10)
    with pytest.raises(AttributeError):
        limits.timeout = 1  # frozen: one value from the command line to the worker


def test_limits_round_trip_through_json():
    limits = Limits(timeout=90, cell_timeout=5, run_all=True, kernel_name="py3", max_cell_output=99)
    assert Limits.from_json(json.loads(json.dumps(limits.to_json()))) == limits
    assert Limits.from_json({}) == Limits()
    assert Limits.from_json({"timeout": 8}) == Limits(timeout=8)


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ([1, 2], TypeError, "Limits JSON must be a mapping (a JSON object), got list [1, 2]"),
        ({"timeout": 60, "timeuot": 5}, ValueError, "Limits JSON has unknown keys ['timeuot']"),
        ({"timeout": "60"}, TypeError, "timeout must be a number of seconds (int or float)"),
    ],
)
def test_limits_from_json_rejects_bad_data(data, error, match):
    with pytest.raises(error, match=re.escape(match)):
        Limits.from_json(data)


BAD_LIMITS = [
    (
        {"timeout": -1},
        ValueError,
        "timeout must be a finite number of seconds > 0, e.g. 120, got -1",
    ),
    ({"timeout": 0}, ValueError, "timeout must be a finite number of seconds > 0"),
    ({"timeout": math.inf}, ValueError, "> 0, e.g. 120, got inf"),
    ({"timeout": math.nan}, ValueError, "> 0, e.g. 120, got nan"),
    ({"timeout": "60"}, TypeError, "timeout must be a number of seconds (int or float), got str"),
    ({"timeout": True}, TypeError, "got bool True"),
    ({"timeout": None}, TypeError, "got NoneType None"),
    ({"cell_timeout": 0}, ValueError, "cell_timeout must be a finite number of seconds > 0"),
    ({"cell_timeout": "5"}, TypeError, "(int or float) or None, got str '5'"),
    ({"run_all": 1}, TypeError, "run_all must be True or False, got int 1"),
    ({"kernel_name": ""}, ValueError, "kernel_name must be a non-empty name"),
    ({"kernel_name": " python3"}, ValueError, "without surrounding spaces, such as 'python3'"),
    ({"kernel_name": 3}, TypeError, "kernel_name must be a string such as 'python3', got int 3"),
    ({"max_cell_output": 0}, ValueError, "max_cell_output must be a whole number >= 1, got 0"),
    ({"max_cell_output": 2.5}, TypeError, "must be a whole number (int), got float 2.5"),
    ({"sandbox": "no"}, TypeError, "sandbox must be True or False, got str 'no'"),
    ({"scratch_bytes": 1000}, ValueError, "scratch_bytes must be a whole number >= 1048576"),
    ({"memory_bytes": 2**20}, ValueError, "memory_bytes must be a whole number >= 67108864"),
    ({"memory_bytes": "3G"}, TypeError, "memory_bytes must be a whole number (int), got str"),
    ({"max_processes": 2}, ValueError, "max_processes must be a whole number >= 8, got 2"),
    ({"cpu_seconds": 0}, ValueError, "cpu_seconds must be a finite number of seconds > 0"),
    ({"max_output": 0}, ValueError, "max_output must be a whole number >= 1, got 0"),
]


@pytest.mark.parametrize(("fields", "error", "match"), BAD_LIMITS)
def test_limits_reject_bad_values_saying_what_is_expected(fields, error, match):
    with pytest.raises(error, match=re.escape(match)):
        Limits(**fields)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"jobs": 0}, ValueError, "jobs must be a whole number >= 1, got 0"),
        ({"jobs": 1.5}, TypeError, "jobs must be a whole number (int), got float 1.5"),
        ({"jobs": True}, TypeError, "jobs must be a whole number (int), got bool True"),
        (
            {"limits": {"timeout": 60}},
            TypeError,
            "limits must be a siamese_grading.limits.Limits, e.g. Limits(timeout=120), got dict",
        ),
        ({"log": "print"}, TypeError, "log must be callable, e.g. print, got str 'print'"),
    ],
)
def test_grade_rejects_bad_arguments_before_writing_anything(tmp_path, options, error, match):
    src = write_sources(tmp_path / "src")
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    before = tree_hashes(tmp_path)
    with pytest.raises(error, match=re.escape(match)):
        grade_submissions(tmp_path / "subs", src, tmp_path / "out", **{"log": quiet, **options})
    assert tree_hashes(tmp_path) == before
    assert not (tmp_path / "out").exists()


def test_run_notebook_needs_limits_and_a_sandbox():
    with pytest.raises(
        TypeError, match=re.escape("limits must be a siamese_grading.limits.Limits")
    ):
        run_notebook(basics_notebook(), BASICS, {"timeout": 60})
    with pytest.raises(ValueError, match="limits.sandbox is True but no sandbox was given"):
        run_notebook(basics_notebook(), BASICS, Limits())
    with pytest.raises(TypeError, match="sandbox must be a siamese_grading.sandbox.Sandbox"):
        run_notebook(basics_notebook(), BASICS, Limits(), sandbox={"bwrap": "bwrap"})


def test_release_rejects_bad_arguments_before_writing_anything(tmp_path):
    src = write_sources(tmp_path / "src")
    with pytest.raises(TypeError, match=re.escape("nb must be a nbformat.notebooknode.Notebook")):
        release_notebook({"cells": []}, BASICS)
    with pytest.raises(TypeError, match=re.escape("force must be True or False, got str 'yes'")):
        release_directory(src, tmp_path / "out", force="yes", log=quiet)
    with pytest.raises(TypeError, match=re.escape("log must be callable, e.g. print, got str")):
        release_directory(src, tmp_path / "out", log="quiet")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--jobs", "0", "argument --jobs: value must be a whole number >= 1, got 0"),
        ("--jobs", "two", "argument --jobs: expected a whole number, got 'two'"),
        (
            "--timeout",
            "-5",
            "argument --timeout: value must be a finite number of seconds > 0, e.g. 120, got -5.0",
        ),
        ("--timeout", "inf", "argument --timeout: value must be a finite number"),
        ("--cell-timeout", "soon", "argument --cell-timeout: expected a number, got 'soon'"),
        ("--kernel", "", "argument --kernel: value must be a non-empty name"),
    ],
)
def test_command_line_rejects_bad_options_with_exit_status_2(
    tmp_path, capsys, option, value, message
):
    src = write_sources(tmp_path / "src")
    (tmp_path / "subs").mkdir()
    argv = ["grade", str(tmp_path / "subs"), "--source", str(src), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as stop:
        main([*argv, option, value])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


SHMGET_PROBE = (
    "import ctypes\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "print(libc.shmget(0, 2**20, 0o1600), ctypes.get_errno())"  # IPC_PRIVATE, 1 MiB
)


@pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"),
    reason="the kernel's seccomp filter is built for Linux on x86_64 and aarch64",
)
def test_the_kernels_launcher_refuses_sysv_shared_memory():
    """A written, detached SysV segment holds memory that no rlimit or resident count sees."""
    plain = subprocess.run(
        [sys.executable, "-c", SHMGET_PROBE], capture_output=True, text=True, timeout=60
    )
    assert plain.stdout.split()[0] != "-1"  # the call works without the filter: it is real
    limited_run = subprocess.run(
        limited(sys.executable, [sys.executable, "-c", SHMGET_PROBE], Limits().rlimits()),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert limited_run.stdout.split() == ["-1", str(errno.EPERM)], limited_run.stderr

"""End-to-end tests of the grader (siamese_grading grade): each one runs notebooks in kernels.

Every test here starts fresh kernels (minutes in all), so the whole module is
marked ``slow``: ``python -m pytest -m "not slow"`` skips it and runs the fast
tests of test_grading_units.py (release, assemble, argument checks) and
test_grading_imports.py. Fixture classes are built from the notebooks of
test_grading_units.py: instructor copies, untouched student versions, and
adversarial submissions (infinite loops, crashes, deleted cells, junk files). The
real course notebooks (notebooks/0*.ipynb) are graded together in one run.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from test_grading_units import (
    BASICS,
    FIXTURES,
    POINTS,
    REAL_NOTEBOOKS,
    STRINGS,
    cell_with,
    fill,
    make_released,
    quiet,
    read_rows,
    rows_of,
    tree_hashes,
)

from siamese_grading import Limits, grade_submissions, release_directory, runner
from siamese_grading.__main__ import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.platform == "win32",
        reason="the grader is POSIX-only (resource, os.killpg); run it under WSL or Linux",
    ),
]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Fixture sources and their student version."""
    return make_released(tmp_path_factory.mktemp("released"))


# --------------------------------------------------------------------------- grade


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, released):
    """Instructor copies, untouched student notebooks and one exercise done; --jobs 2 and 1."""
    src, student_dir = released
    base = tmp_path_factory.mktemp("class")
    subs = base / "submissions"
    for learner in ("instructor", "student", "one_done"):
        (subs / learner).mkdir(parents=True)
    for name in FIXTURES:
        (subs / "instructor" / name).write_bytes((src / name).read_bytes())
        (subs / "student" / name).write_bytes((student_dir / name).read_bytes())
    student = nbformat.read(student_dir / BASICS, as_version=4)
    source = nbformat.read(src / BASICS, as_version=4)
    nbformat.write(fill(student, source, "ex1_1_add"), subs / "one_done" / BASICS)
    (subs / "one_done" / STRINGS).write_bytes((student_dir / STRINGS).read_bytes())
    before = tree_hashes(subs), tree_hashes(src)
    lines = []
    report = grade_submissions(
        subs, src, base / "jobs2", limits=Limits(timeout=60), jobs=2, log=lines.append
    )
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):  # the same class through the command line
        status = main(["grade", str(subs), "--source", str(src), "--out", str(base / "jobs1"),
                       "--timeout", "60", "--jobs", "1", "--run-all"])  # fmt: skip
    assert status == 0
    after = tree_hashes(subs), tree_hashes(src)
    return base, report, stdout.getvalue().splitlines(), before, after


def test_instructor_notebooks_get_full_marks(graded_class):
    base, *_ = graded_class
    rows = [r for r in read_rows(base / "jobs2") if r["learner"] == "instructor"]
    assert {(r["notebook"], r["exercise"]): int(r["points"]) for r in rows} == POINTS
    assert {r["status"] for r in rows} == {"passed"}
    assert all(int(r["max_points"]) == POINTS[r["notebook"], r["exercise"]] for r in rows)


def test_untouched_student_version_scores_zero_without_crashing(graded_class):
    base, *_ = graded_class
    rows = [r for r in read_rows(base / "jobs2") if r["learner"] == "student"]
    assert len(rows) == len(POINTS)
    assert all(r["points"] == "0" for r in rows)
    assert {r["status"] for r in rows} <= {"failed", "error"}
    add = rows_of(rows, "student")["ex1_1_add"]
    assert add["message"].startswith("NotImplementedError")


def test_one_exercise_filled_in_scores_exactly_that_exercise(graded_class):
    base, *_ = graded_class
    rows = [r for r in read_rows(base / "jobs2") if r["learner"] == "one_done"]
    scored = {r["exercise"]: int(r["points"]) for r in rows}
    assert scored == {
        "ex1_1_add": 1,
        "ex1_2_hypotenuse": 0,
        "hidden_ex1_2_more": 0,
        "ex2_1_shout": 0,
    }


def test_jobs_2_gives_the_same_grades_as_jobs_1(graded_class):
    base, *_ = graded_class
    first = (base / "jobs2" / "grades.csv").read_bytes()
    assert first == (base / "jobs1" / "grades.csv").read_bytes()
    rows = read_rows(base / "jobs2")
    keys = [(r["learner"], r["notebook"]) for r in rows]
    assert keys == sorted(keys)
    assert list(rows[0]) == [
        "learner",
        "notebook",
        "exercise",
        "points",
        "max_points",
        "status",
        "message",
        "sandbox",
    ]
    assert {r["sandbox"] for r in rows} == {"bubblewrap"}


def test_grading_stops_after_the_last_check_unless_run_all(graded_class):
    base, *_ = graded_class
    page = base / "feedback" / "instructor" / "01_fixture_basics.html"
    stopped = (base / "jobs2" / page.relative_to(base)).read_text()
    ran_all = (base / "jobs1" / page.relative_to(base)).read_text()
    # The "use it" cell after the last check prints add(1, 2) and hypotenuse(6, 8).
    assert "3 10.0" in ran_all and "3 10.0" not in stopped
    assert "stopped after the last self-check" in stopped
    assert "stopped after the last self-check" not in ran_all


def test_grading_never_modifies_submissions_or_sources(graded_class):
    *_, before, after = graded_class
    assert before == after


def test_feedback_pages_show_the_score_and_the_run(graded_class):
    base, report, lines, *_ = graded_class
    page = (base / "jobs2" / "feedback" / "one_done" / "01_fixture_basics.html").read_text()
    assert "Grading feedback" in page and "1 / 4 points" in page
    row = "<tr><td>ex1_2_hypotenuse</td><td>0 / 2</td><td>error</td><td>NotImplementedError</td>"
    assert row in page  # the failing check's message ...
    assert page.index(row) < page.index("add works")  # ... above the notebook's own cells
    assert "[grader] self-check passed (1/1)" in page  # each check shows its verdict only
    assert "[grader] self-check error (0/2): NotImplementedError" in page
    assert "add(-4, 4) == 0" not in page  # not its hidden tests
    full = (base / "jobs2" / "feedback" / "instructor" / "02_fixture_strings.html").read_text()
    assert "2 / 2 points" in full
    assert sum(1 for line in lines if line.startswith("[")) == 6  # one line per notebook
    table = "\n".join(lines)
    assert re.search(r"instructor\s+4/4\s+2/2\s+6/6", table)
    assert re.search(r"one_done\s+1/4\s+0/2\s+1/6", table)


# --------------------------------------------------------------------------- adversarial


def adversarial_submissions(src: Path, student_dir: Path, subs: Path) -> dict:
    """One learner per way of breaking a notebook; alice does everything right."""
    source = nbformat.read(src / BASICS, as_version=4)

    def start(*solved):
        nb = nbformat.read(student_dir / BASICS, as_version=4)
        for grade_id in solved:
            fill(nb, source, grade_id)
        return nb

    def insert_after(nb, text, code):
        nb.cells.insert(cell_with(nb, text) + 1, new_code_cell(code))
        return nb

    def replace_in(nb, text, old, new):
        cell = nb.cells[cell_with(nb, text)]
        assert old in cell.source
        cell.source = cell.source.replace(old, new)
        return nb

    both = ("ex1_1_add", "ex1_2_hypotenuse")
    learners = {
        "alice": start(*both),
        "loop": replace_in(
            start(*both),
            "def hypotenuse",
            "    squares =",
            "    while True:\n        pass\n    squares =",
        ),
        "sys_exit": replace_in(
            start(*both), "def add", "    total = a + b", "    raise SystemExit(3)"
        ),
        "own_cell": insert_after(start(*both), "add(2, 3) == 5", "import os\nos._exit(1)"),
        "kernel_kill": replace_in(
            start(*both),
            "def add",
            "    total = a + b",
            "    import os\n    os.kill(os.getpid(), 9)",
        ),
        "import_error": replace_in(
            start(*both), "import math", "import math", "import not_a_module_xyz\nimport math"
        ),
        "renamed": replace_in(start(*both), "def add", "def add(a, b)", "def add_numbers(a, b)"),
        "huge_output": replace_in(
            start(*both),
            "def add",
            "    total = a + b",
            "    for _ in range(100):\n        print('x' * 1_000_000)\n    total = a + b",
        ),
        "file_vandal": replace_in(
            start(*both),
            "def add",
            "    total = a + b",
            "    import os\n"
            "    for name in os.listdir('.'):\n"
            "        if os.path.isfile(name):\n"
            "            os.remove(name)\n"
            "    open('junk.txt', 'w').write('x' * 1000)\n"
            "    os.makedirs('made/by/learner', exist_ok=True)\n"
            "    total = a + b",
        ),
    }
    # Deleted cells: the check of 1.1 (put back by the grader) and both cells of 1.2.
    nb = start(*both)
    for text in ("hypotenuse(3, 4) == 5", "def hypotenuse", "add(2, 3) == 5"):
        del nb.cells[cell_with(nb, text)]
    learners["deleted_cells"] = nb
    # Moved cells: exercise 1.2 (answer, hint, check) moved to the end.
    nb = start(*both)
    first = cell_with(nb, "def hypotenuse")
    block = nb.cells[first : first + 3]
    del nb.cells[first : first + 3]
    nb.cells.extend(block)
    learners["moved_cells"] = nb
    # Lost metadata: every cell's and the notebook's metadata emptied; 1.1 done.
    nb = start("ex1_1_add")
    nb.metadata = {}
    for cell in nb.cells:
        cell.metadata = {}
    learners["no_metadata"] = nb
    # Tampered check: metadata lost, the check edited away, and a wrong answer.
    nb = replace_in(
        start(),
        "def add",
        "    # YOUR CODE HERE\n    raise NotImplementedError()",
        "    return a - b",
    )
    replace_in(nb, "add(2, 3) == 5", 'assert add(2, 3) == 5, "add(2, 3) should be 5"', "pass")
    for cell in nb.cells:
        cell.metadata = {}
    learners["tampered"] = nb
    # Edited check with metadata kept: the locked version runs instead.
    nb = replace_in(
        start(),
        "def add",
        "    # YOUR CODE HERE\n    raise NotImplementedError()",
        "    return a - b",
    )
    replace_in(nb, "add(2, 3) == 5", 'assert add(2, 3) == 5, "add(2, 3) should be 5"', "pass")
    learners["edited_check"] = nb
    for learner, nb in learners.items():
        (subs / learner).mkdir(parents=True)
        nbformat.write(nb, subs / learner / BASICS)
    (subs / "malformed").mkdir()
    (subs / "malformed" / BASICS).write_text(
        '{"cells": [{"cell_type": "code", "sou', encoding="utf-8"
    )
    (subs / "png").mkdir()
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    (subs / "png" / BASICS).write_bytes(png)
    (subs / "png" / "notes.txt").write_text("my notes")
    (subs / "not_a_notebook").mkdir()
    (subs / "not_a_notebook" / BASICS).write_text('{"hello": "world"}')
    (subs / "empty").mkdir()
    return learners


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory, released):
    """All the adversarial learners graded together in one run (--jobs 2, 5 s per cell)."""
    src, student_dir = released
    base = tmp_path_factory.mktemp("adversarial")
    only_basics = base / "src"
    only_basics.mkdir()
    (only_basics / BASICS).write_bytes((src / BASICS).read_bytes())
    subs = base / "submissions"
    adversarial_submissions(only_basics, student_dir, subs)
    before = tree_hashes(subs), tree_hashes(only_basics)
    lines = []
    grade_submissions(
        subs,
        only_basics,
        base / "out",
        limits=Limits(timeout=90, cell_timeout=5),
        jobs=2,
        log=lines.append,
    )
    after = tree_hashes(subs), tree_hashes(only_basics)
    return base / "out", read_rows(base / "out"), lines, before, after


def statuses(rows, learner):
    return {name: row["status"] for name, row in rows_of(rows, learner).items()}


def test_adversarial_class_every_learner_gets_one_row_per_exercise(adversarial):
    out, rows, lines, before, after = adversarial
    learners = {r["learner"] for r in rows}
    assert len(learners) == 18
    for learner in learners:
        assert sorted(rows_of(rows, learner)) == [
            "ex1_1_add",
            "ex1_2_hypotenuse",
            "hidden_ex1_2_more",
        ]
    assert statuses(rows, "alice") == dict.fromkeys(statuses(rows, "alice"), "passed")
    assert before == after  # submissions and sources never modified


def test_adversarial_infinite_loop_times_out_and_the_rest_is_graded(adversarial):
    _, rows, *_ = adversarial
    assert statuses(rows, "loop") == {
        "ex1_1_add": "passed",
        "ex1_2_hypotenuse": "timeout",
        "hidden_ex1_2_more": "timeout",
    }
    assert "time limit (5 s)" in rows_of(rows, "loop")["ex1_2_hypotenuse"]["message"]


def test_adversarial_sys_exit_is_an_error_of_that_exercise_only(adversarial):
    _, rows, *_ = adversarial
    assert statuses(rows, "sys_exit") == {
        "ex1_1_add": "error",
        "ex1_2_hypotenuse": "passed",
        "hidden_ex1_2_more": "passed",
    }
    assert rows_of(rows, "sys_exit")["ex1_1_add"]["message"].startswith("SystemExit")


def test_adversarial_a_cell_of_the_learners_own_never_runs(adversarial):
    _, rows, *_ = adversarial  # os._exit(1) in a cell between the exercises
    assert set(statuses(rows, "own_cell").values()) == {"passed"}


def test_adversarial_kernel_crash_during_a_check(adversarial):
    _, rows, *_ = adversarial
    row = rows_of(rows, "kernel_kill")
    assert {name: r["status"] for name, r in row.items()} == dict.fromkeys(row, "error")
    assert "died while this self-check ran" in row["ex1_1_add"]["message"]
    assert "died in the cell 'assert add(2, 3) == 5" in row["ex1_2_hypotenuse"]["message"]


def test_adversarial_an_edited_course_cell_is_replaced_by_the_course_version(adversarial):
    _, rows, *_ = adversarial  # "import not_a_module_xyz" added to the setup cell
    assert set(statuses(rows, "import_error").values()) == {"passed"}


def test_adversarial_renamed_function(adversarial):
    _, rows, *_ = adversarial
    assert statuses(rows, "renamed")["ex1_1_add"] == "error"
    assert statuses(rows, "renamed")["ex1_2_hypotenuse"] == "passed"
    assert (
        rows_of(rows, "renamed")["ex1_1_add"]["message"] == "NameError: name 'add' is not defined"
    )


def test_adversarial_deleted_cells(adversarial):
    _, rows, *_ = adversarial
    # The deleted check of 1.1 is put back after its answer; 1.2 has no cell left.
    assert statuses(rows, "deleted_cells") == {
        "ex1_1_add": "passed",
        "ex1_2_hypotenuse": "missing",
        "hidden_ex1_2_more": "error",
    }
    assert "could not find" in rows_of(rows, "deleted_cells")["ex1_2_hypotenuse"]["message"]


def test_adversarial_moved_cells(adversarial):
    _, rows, *_ = adversarial
    assert set(statuses(rows, "moved_cells").values()) == {"passed"}


def test_adversarial_lost_metadata_is_found_by_fingerprint(adversarial):
    _, rows, *_ = adversarial
    assert statuses(rows, "no_metadata") == {
        "ex1_1_add": "passed",
        "ex1_2_hypotenuse": "error",
        "hidden_ex1_2_more": "error",
    }


@pytest.mark.parametrize("learner", ["tampered", "edited_check"])
def test_adversarial_an_edited_check_is_replaced_by_the_locked_one(adversarial, learner):
    _, rows, *_ = adversarial
    row = rows_of(rows, learner)["ex1_1_add"]
    assert (row["status"], row["message"], row["points"]) == (
        "failed",
        "add(2, 3) should be 5",
        "0",
    )


@pytest.mark.parametrize("learner", ["malformed", "png", "not_a_notebook"])
def test_adversarial_files_that_are_not_notebooks(adversarial, learner):
    out, rows, lines, *_ = adversarial
    assert set(statuses(rows, learner).values()) == {"invalid-notebook"}
    assert (out / "feedback" / learner / "01_fixture_basics.html").is_file()


def test_adversarial_non_notebook_file_is_skipped_and_empty_folder_is_missing(adversarial):
    _, rows, lines, *_ = adversarial
    assert "skipped png/notes.txt: not a notebook" in lines
    assert set(statuses(rows, "empty").values()) == {"missing"}
    assert rows_of(rows, "empty")["ex1_1_add"]["message"] == "notebook not submitted"


def test_adversarial_huge_output_is_cut(adversarial):
    out, rows, *_ = adversarial  # 100 MB printed by add() while its check runs
    assert set(statuses(rows, "huge_output").values()) == {"passed"}
    page = out / "feedback" / "huge_output" / "01_fixture_basics.html"
    assert page.stat().st_size < 4 * 2**20


def test_adversarial_notebook_that_vandalises_its_folder(adversarial):
    _, rows, *_ = adversarial  # add() empties its working folder, in its sandbox
    assert set(statuses(rows, "file_vandal").values()) == {"passed"}


def test_without_a_sandbox_every_row_says_so(tmp_path, released):
    src, student_dir = released
    only = tmp_path / "src"
    only.mkdir()
    (only / BASICS).write_bytes((src / BASICS).read_bytes())
    for learner, folder in (("instructor", src), ("student", student_dir)):
        (tmp_path / "subs" / learner).mkdir(parents=True)
        (tmp_path / "subs" / learner / BASICS).write_bytes((folder / BASICS).read_bytes())
    lines = []
    limits = Limits(timeout=60, sandbox=False)
    grade_submissions(tmp_path / "subs", only, tmp_path / "out", limits=limits, log=lines.append)
    rows = read_rows(tmp_path / "out")
    assert {r["sandbox"] for r in rows} == {"none"}
    assert {r["status"] for r in rows if r["learner"] == "instructor"} == {"passed"}
    assert {r["points"] for r in rows if r["learner"] == "student"} == {"0"}
    assert any("WITHOUT a sandbox" in line for line in lines)
    page = (tmp_path / "out" / "feedback" / "student" / "01_fixture_basics.html").read_text()
    assert "graded without a sandbox" in page


def stubborn_class(tmp_path: Path, released) -> tuple[Path, Path]:
    """A learner whose add() loops forever and swallows every interrupt."""
    src, student_dir = released
    source = nbformat.read(src / BASICS, as_version=4)
    nb = nbformat.read(student_dir / BASICS, as_version=4)
    cell = nb.cells[cell_with(nb, "def add")]
    cell.source = cell.source.replace(
        "    # YOUR CODE HERE\n    raise NotImplementedError()",
        "    while True:\n        try:\n            import time; time.sleep(0.1)\n"
        "        except BaseException:\n            pass",
    )
    fill(nb, source, "ex1_2_hypotenuse")
    (tmp_path / "subs" / "stubborn").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "subs" / "stubborn" / BASICS)
    only = tmp_path / "src"
    only.mkdir()
    (only / BASICS).write_bytes((src / BASICS).read_bytes())
    return tmp_path / "subs", only


def running(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_notebook_that_ignores_interrupts_is_stopped_at_its_time_limit(tmp_path, released):
    subs, src = stubborn_class(tmp_path, released)
    start = time.monotonic()
    grade_submissions(subs, src, tmp_path / "out", limits=Limits(timeout=8), jobs=1, log=quiet)
    elapsed = time.monotonic() - start
    rows = read_rows(tmp_path / "out")
    assert {r["status"] for r in rows} == {"timeout"}
    assert "ran out of time (8 s)" in rows_of(rows, "stubborn")["ex1_2_hypotenuse"]["message"]
    assert elapsed < 8 + runner.GRACE_S  # the worker stopped it, not the grader's hard kill


def test_a_hung_worker_is_killed_with_its_kernel(tmp_path, released, monkeypatch):
    subs, src = stubborn_class(tmp_path, released)
    killed = []
    kill = runner._kill_group
    monkeypatch.setattr(runner, "_kill_group", lambda pgid: (killed.append(pgid), kill(pgid)))
    monkeypatch.setattr(runner, "GRACE_S", -45.0)  # hard kill at 15 s, long before 60 s
    grade_submissions(subs, src, tmp_path / "out", limits=Limits(timeout=60), jobs=1, log=quiet)
    rows = read_rows(tmp_path / "out")
    assert {r["status"] for r in rows} == {"timeout"}
    assert len(set(killed)) == 4  # the worker's process group and the kernel's, and the
    # same two of the start-up check (preflight) that ran before it
    time.sleep(0.5)
    assert not any(running(pid) for pid in killed)


@pytest.fixture(scope="module")
def real_class(tmp_path_factory):
    """The real notebooks graded in one run: instructor copies and the student version."""
    assert REAL_NOTEBOOKS, "no notebooks/0*.ipynb yet"
    base = tmp_path_factory.mktemp("real")
    src = base / "src"
    src.mkdir()
    for path in REAL_NOTEBOOKS:
        (src / path.name).write_bytes(path.read_bytes())
    release_directory(src, base / "student", log=quiet)
    for learner, folder in (("instructor", src), ("student", base / "student")):
        (base / "subs" / learner).mkdir(parents=True)
        for path in folder.glob("*.ipynb"):
            (base / "subs" / learner / path.name).write_bytes(path.read_bytes())
    grade_submissions(
        base / "subs", src, base / "out", limits=Limits(timeout=600), jobs=2, log=quiet
    )
    return read_rows(base / "out")


@pytest.mark.parametrize("path", REAL_NOTEBOOKS, ids=lambda p: p.name)
def test_real_notebook_graded_instructor_full_marks_student_zero(real_class, path):
    mine = [r for r in real_class if r["notebook"] == path.name]
    n_checks = sum(
        c.metadata.get("nbgrader", {}).get("grade", False)
        for c in nbformat.read(path, as_version=4).cells
    )
    instructor = [r for r in mine if r["learner"] == "instructor"]
    student = [r for r in mine if r["learner"] == "student"]
    assert len(instructor) == len(student) == n_checks
    assert all(r["status"] == "passed" and r["points"] == r["max_points"] for r in instructor), (
        instructor
    )
    assert all(r["status"] in ("failed", "error") and r["points"] == "0" for r in student), student

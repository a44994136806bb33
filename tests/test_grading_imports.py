"""The instructor tool stays apart from the learner library, and starts fast.

``siamese_grading`` must import nothing of ``helpers`` (whose import starts
TensorFlow) and never TensorFlow or Keras itself: the kernels that run the
notebooks do that. ``--help`` must not even import nbformat (a second of
jsonschema set-up). The checks: a static scan of every file of the package, and
fresh interpreters that run ``--help`` or import every module and then report
what ``sys.modules`` holds. None of these tests starts a kernel.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

import siamese_grading
from siamese_grading.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "siamese_grading"
#: Top-level modules that the grading package must never import.
FORBIDDEN = {"tensorflow", "keras", "helpers"}
#: Imported by the commands when they run, but not by ``--help``.
NOT_FOR_HELP = {"nbformat", "nbclient", "nbconvert", "jsonschema"}


def run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return the JSON object of its last stdout line."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return {"stdout": done.stdout, **json.loads(done.stdout.strip().splitlines()[-1])}


def loaded(names: set[str]) -> str:
    """Python code: the sorted modules of ``sys.modules`` whose top level is in ``names``."""
    return f"sorted(m for m in sys.modules if m.split('.')[0] in {sorted(names)!r})"


# --------------------------------------------------------------------------- at run time


def test_help_imports_neither_tensorflow_nor_keras_nor_helpers_nor_nbformat():
    report = run_python(
        "import json, runpy, sys\n"
        "sys.argv = ['siamese_grading', '--help']\n"
        "try:\n"
        "    runpy.run_module('siamese_grading', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as stop:\n"
        "    status = stop.code\n"
        f"print(json.dumps({{'status': status, 'forbidden': {loaded(FORBIDDEN)},\n"
        f"                  'heavy': {loaded(NOT_FOR_HELP)}}}))\n"
    )
    assert report["status"] == (1 if sys.platform == "win32" else 0)
    if sys.platform != "win32":
        assert "release" in report["stdout"] and "grade" in report["stdout"]
    assert report["forbidden"] == [], "--help imported the learner library or TensorFlow"
    assert report["heavy"] == [], "--help imported the modules of the commands (slow)"


def test_every_module_imports_without_resource_and_without_tensorflow():
    """As on Windows, where ``import resource`` fails: importing must still work."""
    report = run_python(
        "import importlib, json, pkgutil, sys\n"
        "sys.modules['resource'] = None  # import resource now raises ImportError\n"
        "import siamese_grading\n"
        "names = sorted(m.name for m in pkgutil.walk_packages(\n"
        "    siamese_grading.__path__, 'siamese_grading.'))\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "for name in siamese_grading.__all__:\n"
        "    getattr(siamese_grading, name)\n"
        f"print(json.dumps({{'imported': names, 'forbidden': {loaded(FORBIDDEN)}}}))\n"
    )
    modules = {f"siamese_grading.{path.stem}" for path in PACKAGE.glob("*.py")}
    assert modules - {"siamese_grading.__init__"} <= set(report["imported"])
    assert {"siamese_grading._worker", "siamese_grading.grade"} <= set(report["imported"])
    assert report["forbidden"] == []


def test_public_names_are_imported_on_first_use():
    assert sorted(siamese_grading.__all__) == sorted(siamese_grading._EXPORTS)
    for name in siamese_grading.__all__:
        assert getattr(siamese_grading, name) is not None
        assert name in dir(siamese_grading)
    with pytest.raises(AttributeError, match="has no attribute 'grade_everything'"):
        siamese_grading.grade_everything  # noqa: B018


def test_console_script_runs_the_package_main():
    scripts = importlib.metadata.entry_points(group="console_scripts", name="siamese-grading")
    if not scripts:
        pytest.skip("the project is not installed (pip install -e .)")
    assert {script.value for script in scripts} == {"siamese_grading.__main__:main"}
    assert all(script.load() is main for script in scripts)


def test_on_windows_the_command_line_says_in_one_line_that_it_is_posix_only(monkeypatch, capsys):
    monkeypatch.setattr(sys, "platform", "win32")
    for argv in (["--help"], ["grade", "subs", "--source", "src", "--out", "out"]):
        assert main(argv) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert len(err.strip().splitlines()) == 1, err
        assert "POSIX-only" in err and "WSL" in err and "Linux container" in err


# --------------------------------------------------------------------------- in the source


def imported_roots(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, top-level module) of every import in ``source``, static or by a string.

    ``from .x import y`` is the package's own; ``from .. import y`` (out of the
    package) is reported as ``..``. ``importlib.import_module("m")`` and
    ``__import__("m")`` with a literal name count as imports of ``m``.
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.append((node.lineno, (node.module or "").split(".")[0]))
            elif node.level > 1:
                found.append((node.lineno, ".."))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                if isinstance(first.value, str) and not first.value.startswith("."):
                    found.append((node.lineno, first.value.split(".")[0]))
    return found


@pytest.mark.parametrize(
    ("source", "root"),
    [
        ("import helpers", "helpers"),
        ("import helpers.data as data", "helpers"),
        ("from helpers import checks", "helpers"),
        ("import numpy, tensorflow as tf", "tensorflow"),
        ("from keras import ops", "keras"),
        ("def f():\n    import keras.ops", "keras"),
        ("import importlib\nimportlib.import_module('helpers.models')", "helpers"),
        ("__import__('tensorflow')", "tensorflow"),
        ("from .. import helpers", ".."),
    ],
)
def test_the_scan_finds_each_kind_of_import(source, root):
    assert root in {name for _, name in imported_roots(source)}


def test_the_scan_ignores_the_package_own_relative_imports():
    assert imported_roots("from . import grade\nfrom .limits import Limits") == []


def test_no_file_of_the_package_imports_helpers_tensorflow_or_keras():
    files = sorted(PACKAGE.rglob("*.py"))
    assert {"__init__.py", "__main__.py", "_worker.py", "grade.py"} <= {f.name for f in files}
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {root}"
        for path in files
        for line, root in imported_roots(path.read_text(encoding="utf-8"), str(path))
        if root in FORBIDDEN | {".."}
    ]
    assert bad == [], "the grading package must stay apart from helpers and TensorFlow"

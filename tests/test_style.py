"""The code base, notebooks included, passes the pinned ruff's lint and format checks."""

import subprocess
import sys
from pathlib import Path

import pytest

from backend_tools import only_on

ROOT = Path(__file__).resolve().parents[1]


#: ruff reads the source, whatever the Keras backend: the TensorFlow run (the README's
#: command) checks it, and the JAX and PyTorch runs of .ci/run need not repeat it.
_SOURCE_ONLY = only_on("tensorflow", reason="ruff reads source only; the TensorFlow run lints")


@_SOURCE_ONLY
@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"ruff {' '.join(command)} failed:\n{result.stdout}{result.stderr}"
    )


@_SOURCE_ONLY
def test_ruff_version_is_the_pinned_one():
    pinned = next(
        line.split("==")[1].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("ruff==")
    )
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.split()[-1] == pinned

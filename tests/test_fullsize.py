"""The course at MNIST's full size: every notebook that loads MNIST, on 60,000 / 10,000 images.

CI has no internet, so the notebooks run on the stand-in that ``scripts/make_fullsize_mnist.py``
builds from the bundled digits (Keras's format, MNIST's size, types and class balance). Each
notebook runs top to bottom in a fresh kernel, so its own assertions (quality included) must hold
at full size, and its kernel's peak resident memory must stay within ``LIMIT_MIB``: a learner
with an 8 GB laptop or Colab's 12 GB has about 2 GB to spare beside the browser and the system.

``SIAMESE_FULLSIZE_LIMIT_MIB`` overrides the limit (to see the test fail, set it below a
notebook's measured peak).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from execute_notebooks import kernel_peak_mib, run_notebook  # noqa: E402
from make_fullsize_mnist import TEST_SIZE, TRAIN_SIZE, build  # noqa: E402

LIMIT_MIB = float(os.environ.get("SIAMESE_FULLSIZE_LIMIT_MIB", 2048))
#: The notebooks that load MNIST (notebook 02 loads it itself and then through helpers).
NOTEBOOKS = sorted(
    path.name
    for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    if "load_mnist(" in path.read_text(encoding="utf-8")
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="reads the kernel's peak memory from /proc"
    ),
]


@pytest.fixture(scope="module")
def fullsize_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fullsize") / "mnist.npz"
    np.savez(path, **build())
    return path


def test_the_stand_in_has_mnist_size_types_and_balance(fullsize_file):
    from helpers import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist(fullsize_file)
    assert x_train.shape == (TRAIN_SIZE, 784) and x_test.shape == (TEST_SIZE, 784)
    assert np.bincount(y_train).tolist() == [TRAIN_SIZE // 10] * 10
    assert np.bincount(y_test).tolist() == [TEST_SIZE // 10] * 10
    with np.load(fullsize_file) as raw:
        assert raw["x_train"].dtype == np.uint8 and raw["y_test"].dtype == np.uint8
        train_rows = {row.tobytes() for row in raw["x_train"]}
        assert not any(row.tobytes() in train_rows for row in raw["x_test"])


def test_the_runner_hands_the_source_to_the_kernel(tmp_path, fullsize_file):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    probe = tmp_path / "probe.ipynb"
    code = "import os\nimport numpy as np\nx = np.ones((4096, 65536))  # 2 GiB\n"
    code += "print(os.environ['SIAMESE_MNIST_SOURCE'])"
    nbformat.write(new_notebook(cells=[new_code_cell(code)]), probe)
    run = run_notebook(probe, source=str(fullsize_file))
    assert run.notebook.cells[0].outputs[0]["text"].strip() == str(fullsize_file)
    # the kernel's own peak, not this process's: the 2 GiB array shows up
    assert 2048 < run.peak_mib < 4096


def test_the_peak_reader_sees_this_process():
    peak = kernel_peak_mib(os.getpid())
    assert peak is not None and 10 < peak < 64 * 1024
    assert kernel_peak_mib(None) is None


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_at_full_size_within_the_memory_limit(name, fullsize_file):
    run = run_notebook(ROOT / "notebooks" / name, source=str(fullsize_file), timeout=900)
    assert run.peak_mib is not None
    print(f"{name}: {run.seconds:.0f} s, kernel peak {run.peak_mib:.0f} MiB")
    assert run.peak_mib <= LIMIT_MIB, (
        f"{name} peaked at {run.peak_mib:.0f} MiB at full size, above {LIMIT_MIB:.0f} MiB"
    )

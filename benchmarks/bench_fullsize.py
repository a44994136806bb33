"""Time and peak memory of every notebook, on the bundled subset and at MNIST's full size.

Each notebook runs top to bottom in a fresh kernel twice, side by side on the same machine:
with ``SIAMESE_MNIST_SOURCE=bundled`` (4,000 / 1,000 images) and with the full-size stand-in
built by ``scripts/make_fullsize_mnist.py`` (60,000 / 10,000 images, Keras's format). The
figures are the wall time and the kernel's peak resident memory (``VmHWM``), and the ratio of
the full-size time to the bundled time.

Run: ``python benchmarks/bench_fullsize.py`` (about 15 minutes on 2 CPU cores), or name
notebooks: ``python benchmarks/bench_fullsize.py 08_model_training.ipynb``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from _results import RESULTS_FILE, record  # noqa: E402
from execute_notebooks import run_notebook  # noqa: E402
from make_fullsize_mnist import build  # noqa: E402
from nbclient.exceptions import CellExecutionError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="file names in notebooks/ (default: all)")
    args = parser.parse_args(argv)
    names = args.notebooks or sorted(
        p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    )
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        fullsize = Path(tmp) / "fullsize_mnist.npz"
        np.savez(fullsize, **build())
        columns = ["notebook", "bundled: s", "bundled: peak MiB", "full size: s"]
        columns += ["full size: peak MiB", "time ratio"]
        print("| " + " | ".join(columns) + " |")
        print("|---" * len(columns) + "|")
        rows = {}
        for name in names:
            path = ROOT / "notebooks" / name
            try:
                small = run_notebook(path, source="bundled")
                large = run_notebook(path, source=str(fullsize))
            except CellExecutionError as error:
                print(f"| {name} | failed: {str(error).strip().splitlines()[-1][:120]} |")
                continue
            print(
                f"| {name} | {small.seconds:.0f} | {small.peak_mib:.0f} | {large.seconds:.0f} | "
                f"{large.peak_mib:.0f} | {large.seconds / small.seconds:.2f}x |",
                flush=True,
            )
            rows[name.removesuffix(".ipynb")] = {
                "bundled_s": round(small.seconds, 1),
                "bundled_peak_mib": round(small.peak_mib),
                "fullsize_s": round(large.seconds, 1),
                "fullsize_peak_mib": round(large.peak_mib),
            }
    if args.notebooks:  # a partial run: keep the other notebooks' figures
        previous = json.loads(RESULTS_FILE.read_text()).get("notebooks", {}).get("notebooks", {})
        rows = {**previous, **rows}
    record(
        "notebooks",
        {
            "setting": "each notebook in a fresh kernel, bundled split and full-size stand-in, "
            "side by side in one run",
            "notebooks": dict(sorted(rows.items())),
        },
        script=__file__,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

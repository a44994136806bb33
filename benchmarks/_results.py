"""The one writer of helpers/benchmark_results.json: each benchmark records its own section."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path

RESULTS_FILE = Path(__file__).resolve().parent.parent / "helpers" / "benchmark_results.json"


def record(section: str, data: dict, *, script: str) -> None:
    """Replace ``section`` of the results file with ``data``, plus how and where it was measured.

    The other sections are left as they are. Values are rounded by the caller
    to the precision the README shows, so the file reads like the tables.
    """
    results = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    results[section] = {
        "command": f"python benchmarks/{Path(script).name}",
        "measured": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, Python "
        f"{sys.version_info.major}.{sys.version_info.minor}",
        **data,
    }
    RESULTS_FILE.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"recorded section {section!r} in {RESULTS_FILE.relative_to(RESULTS_FILE.parents[1])}")

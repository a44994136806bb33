"""The figures the benchmarks measured: one results file, read by the notebooks and the README.

A notebook prints what it computes itself. When it quotes a figure measured
elsewhere (by a benchmark script, or by another notebook's run), it reads it
from ``benchmark_results.json``, which sits next to this module and which only
the scripts in ``benchmarks/`` write. The README's tables are rendered from the
same file (``python scripts/render_results.py``) and a test checks they agree.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

#: The one results file, written by ``benchmarks/*.py`` (see ``benchmarks/_results.py``).
RESULTS_FILE = Path(__file__).with_name("benchmark_results.json")


@cache
def _read(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def benchmark_results(section: str | None = None) -> dict[str, Any]:
    """The measured figures: every section of the results file, or one.

    Parameters
    ----------
    section : str, optional
        A benchmark's section, e.g. ``"embedding"`` (``benchmarks/bench_embedding.py``).

    Returns
    -------
    dict
        What the benchmark recorded, including ``"command"`` (how to measure it again).

    Examples
    --------
    >>> benchmark_results("embedding")["command"]
    'python benchmarks/bench_embedding.py'
    """
    results = _read(RESULTS_FILE)
    if section is None:
        return results
    if not isinstance(section, str):
        raise TypeError(f"section must be a string such as 'embedding', got {section!r}")
    if section not in results:
        raise ValueError(f"no section {section!r} in {RESULTS_FILE.name}; it has {sorted(results)}")
    return results[section]


def quoted(key: str) -> Any:
    """One measured figure, by its dotted key, e.g. ``quoted("embedding.models.conv.p1")``.

    Examples
    --------
    >>> 0.0 < quoted("embedding.models.conv.p1") <= 1.0
    True
    """
    if not isinstance(key, str) or "." not in key:
        raise ValueError(
            f"key must be a dotted path such as 'embedding.models.conv.p1', got {key!r}"
        )
    value: Any = _read(RESULTS_FILE)
    walked = []
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            have = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise ValueError(
                f"{RESULTS_FILE.name} has no {key!r}: after {'.'.join(walked) or 'the top'} "
                f"there is {have}"
            )
        value = value[part]
        walked.append(part)
    return value

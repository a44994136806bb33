"""Render the measured figures of helpers/benchmark_results.json into README.md and the notebooks.

The benchmarks write the results file (``benchmarks/_results.py``); this script is the only
thing that turns it into text. In README.md every table of measured figures sits between
``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``, and is replaced by ``RENDERERS[NAME]``;
in each notebook's title cell the sentence "It runs in N s on a 2-core CPU (M s at MNIST's
full size)" is filled in from the ``notebooks`` section. ``tests/test_results.py`` checks that
both agree with the results file.

Run: ``python scripts/render_results.py`` (rewrite), ``--check`` (exit 1 if anything is stale).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_FILE = ROOT / "helpers" / "benchmark_results.json"
README = ROOT / "README.md"
NOTEBOOKS = ROOT / "notebooks"

#: The title cell's measured sentence; the two numbers are rewritten, the rest is kept.
TIME_SENTENCE = re.compile(
    r"It runs in (?P<bundled>\d+|\?\?) s on a 2-core CPU "
    r"\((?P<full>\d+|\?\?) s at MNIST's full size\)"
)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def embedding_table(results: dict) -> str:
    section = results["embedding"]
    models = section["models"]
    labels = {
        "original_mean": "original course: Dense 64 -> sigmoid, loss *averaged* over the dimension",
        "original_summed": "original model, loss summed over the dimension (FaceNet)",
        "mlp": "MLP: Dense 256 -> L2 normalisation",
        "conv": "**course default: small convnet -> L2 normalisation**",
    }
    rows = [["raw pixels (no training)", f"{section['raw_pixels_p1']:.3f}", "-", "-"]]
    for key, label in labels.items():
        m = models[key]
        p1 = f"**{m['p1']:.3f}**" if key == "conv" else f"{m['p1']:.3f}"
        rows.append([label, p1, f"{m['p1_untrained']:.3f}", f"{m['train_s']:.0f} s"])
    return _table(["embedding model", "P@1", "P@1 untrained", "training time"], rows)


def batches_table(results: dict) -> str:
    ms = results["batches"]["ms_per_batch"]
    loop = ms["original_loop"]
    rows = [
        ["original per-sample loop", f"{loop:.1f}", "1x"],
        [
            "`create_batch` (called afresh)",
            f"{ms['create_batch']:.1f}",
            f"{loop / ms['create_batch']:.0f}x",
        ],
        [
            "`data_generator` (next batch, class indices precomputed)",
            f"{ms['data_generator']:.2f}",
            f"{loop / ms['data_generator']:.0f}x",
        ],
    ]
    return _table(["method", "ms per batch", "speed-up"], rows)


def notebooks_table(results: dict) -> str:
    rows = []
    for name, r in results["notebooks"]["notebooks"].items():
        rows.append(
            [
                name,
                f"{r['bundled_s']:.0f}",
                f"{r['bundled_peak_mib']}",
                f"{r['fullsize_s']:.0f}",
                f"{r['fullsize_peak_mib']}",
                f"{r['fullsize_s'] / r['bundled_s']:.2f}x",
            ]
        )
    header = [
        "notebook",
        "bundled: wall s",
        "bundled: peak MiB",
        "full size: wall s",
        "full size: peak MiB",
        "time ratio",
    ]
    return _table(header, rows)


def _mean_sd(figure: dict, digits: int = 3) -> str:
    return f"{figure['mean']:.{digits}f} ± {figure['sd']:.{digits}f}"


def recipes_table(results: dict) -> str:
    section = results["recipes"]
    rows = []
    for recipe in section["recipe_order"]:
        row = section["race"][recipe]
        rows.append(
            [
                recipe,
                *(_mean_sd(row[key]) for key in ("p1", "r_precision", "map_at_r")),
                _mean_sd(row["ms_per_step"], 1),
            ]
        )
    final = section["final"]
    rows.append(
        [
            f"**{section['winner']}, {section['final_steps']} steps**",
            *(f"**{_mean_sd(final[key])}**" for key in ("p1", "r_precision", "map_at_r")),
            "-",  # the benchmark times the race only
        ]
    )
    rows.append(["raw pixels (no training)", f"{section['raw_pixels_p1']:.3f}", "-", "-", "-"])
    return _table(["recipe", "P@1", "R-precision", "MAP@R", "ms per step"], rows)


#: Gallery sizes shown in the README's open-set table (the results file has more).
OPEN_SET_SHOWN = (1, 5, 20, 400)


def open_set_table(results: dict) -> str:
    section = results["open_set"]
    shown = [i for i, n in enumerate(section["enrolled"]) if n in OPEN_SET_SHOWN]
    pixels = section["raw_pixels"]
    rows = [
        [
            "new digits 7-9: embedding",
            *(_mean_sd({k: v[i] for k, v in section["new_digits"].items()}) for i in shown),
        ],
        ["new digits 7-9: raw pixels", *(f"{pixels['new'][i]:.3f}" for i in shown)],
        [
            "3 trained digits: the same embedding",
            *(_mean_sd({k: v[i] for k, v in section["known_digits"].items()}) for i in shown),
        ],
        ["3 trained digits: raw pixels", *(f"{pixels['known'][i]:.3f}" for i in shown)],
    ]
    header = ["P@1, enrolled images per digit"]
    header += [f"{section['enrolled'][i]}" for i in shown]
    gallery = _table(header, rows)
    rejection = _table(
        [
            "unknown digit (5 images of the other two enrolled)",
            "rejected as unknown",
            "enrolled falsely rejected",
            "AUC",
        ],
        [
            [
                digit,
                _mean_sd(row["rejected"]),
                _mean_sd(row["falsely_rejected"]),
                _mean_sd(row["auc"], 2),
            ]
            for digit, row in section["unknown"].items()
        ],
    )
    return gallery + "\n\n" + rejection


#: README row label of each loss of ``benchmarks/bench_losses.py``.
LOSS_LABELS = {
    "batch-all": "batch-all",
    "batch-hard": "batch-hard",
    "soft batch-hard": "soft batch-hard",
    "semi-hard": "semi-hard",
    "naive semi-hard (BxBxB)": "naive semi-hard (B x B x B tensor)",
}


def _ratio(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.0f}x"


def losses_table(results: dict) -> str:
    section = results["losses"]
    mlp = section["ms_per_step"]["mlp"]
    sizes = [str(b) for b in section["batch_sizes"]]
    rows = []
    for name, label in LOSS_LABELS.items():
        cells = []
        for b in sizes:
            ms, ratio = mlp[name][b], mlp[name][b] / mlp["batch-hard"][b]
            cells.append(
                f"{ms:.1f} ({_ratio(ratio)})" if ms < 1000 else f"{ms:.0f} ({_ratio(ratio)})"
            )
        rows.append([label, *cells])
    table = _table(["loss", *(f"B={b}" for b in sizes)], rows)
    bare = section["semi_hard_over_batch_hard_at_256"]["variable"]
    return (
        table + "\n\nOn the bare loss (the embeddings a trainable (B, 64) variable), semi-hard "
        f"takes {bare:.2f}x the time of batch-hard at B=256."
    )


def onednn_table(results: dict) -> str:
    r = results["onednn"]
    rows = [
        ["on (the course's setting)", f"{r['on_s']:.1f}", "1x"],
        ["off (`TF_ENABLE_ONEDNN_OPTS=0`)", f"{r['off_s']:.1f}", f"{r['off_s'] / r['on_s']:.2f}x"],
    ]
    return _table(["oneDNN", f"training s ({r['setting']})", "time"], rows)


#: Rows of the backends table: label, where the figure sits, format, whether less is faster.
BACKEND_ROWS = [
    ("import keras + helpers (s)", ("import_s",), "{:.1f}"),
    ("one Siamese train step, 256 triplets (ms)", ("train_step_ms",), "{:.0f}"),
    ("`triplet_loss` forward, 256 triplets (ms)", ("loss_forward_ms", "triplet_loss"), "{:.2f}"),
    ("`batch_all_triplet_loss` forward, B=256 (ms)", ("loss_forward_ms", "batch_all"), "{:.1f}"),
    ("`batch_hard_triplet_loss` forward, B=256 (ms)", ("loss_forward_ms", "batch_hard"), "{:.1f}"),
    ("`semi_hard_triplet_loss` forward, B=256 (ms)", ("loss_forward_ms", "semi_hard"), "{:.1f}"),
    ("training, 50 steps of 128 triplets (s)", ("train_s",), "{:.0f}"),
]


def backends_table(results: dict) -> str:
    """Each backend's figure and its ratio to TensorFlow's (time / TensorFlow's time)."""
    figures = results["backends"]["backends"]
    names = ["tensorflow", *sorted(set(figures) - {"tensorflow"})]  # the file sorts its keys

    def at(backend, path):
        value = figures[backend]
        for key in path:
            value = value[key]
        return value

    rows = []
    for label, path, fmt in BACKEND_ROWS:
        base = at("tensorflow", path)
        cells = [fmt.format(base)]
        cells += [f"{fmt.format(at(b, path))} ({at(b, path) / base:.2f}x)" for b in names[1:]]
        rows.append([label, *cells])
    rows.append(["P@1 after that training", *(f"{figures[b]['p1']:.3f}" for b in names)])
    header = ["", *(f"{b} {figures[b]['version']}" for b in names)]
    return _table(header, rows)


#: README marker name -> function of the whole results file that returns the Markdown.
def grading_table(results: dict) -> str:
    section = results["grading"]
    what = f"{section['learners']} submissions of {section['notebook']}, --jobs {section['jobs']}"
    rows = [
        [f"before the judges (`{section['baseline_rev']}`)", f"{section['baseline_s']:.1f}", "1x"],
        [
            "this version (judges, limits, start-up check)",
            f"{section['current_s']:.1f}",
            _ratio(section["ratio"]),
        ],
    ]
    return _table(["grader", f"s to grade {what}", "time"], rows)


RENDERERS: dict[str, Callable[[dict], str]] = {
    "embedding": embedding_table,
    "batches": batches_table,
    "notebooks": notebooks_table,
    "grading": grading_table,
    "recipes": recipes_table,
    "open_set": open_set_table,
    "losses": losses_table,
    "onednn": onednn_table,
    "backends": backends_table,
}


def render_readme(text: str, results: dict) -> str:
    """README text with every marked block replaced by its renderer's output."""
    for name, render in RENDERERS.items():
        pattern = re.compile(
            rf"(<!-- results:{name} -->\n)(?:.*?\n)?(<!-- /results:{name} -->)", flags=re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"README.md has no <!-- results:{name} --> block")
        text = pattern.sub(lambda m, r=render: m.group(1) + r(results) + "\n" + m.group(2), text)
    return text


def render_title_time(source: str, figures: dict) -> str:
    """A title cell's source with its measured sentence filled in from ``figures``."""
    if not TIME_SENTENCE.search(source):
        raise ValueError("the title cell has no sentence 'It runs in N s on a 2-core CPU (...)'")
    return TIME_SENTENCE.sub(
        f"It runs in {figures['bundled_s']:.0f} s on a 2-core CPU "
        f"({figures['fullsize_s']:.0f} s at MNIST's full size)",
        source,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale text")
    args = parser.parse_args(argv)
    results = json.loads(RESULTS_FILE.read_text())
    stale = []
    readme = README.read_text()
    rendered = render_readme(readme, results)
    if rendered != readme:
        stale.append(README.name)
        if not args.check:
            README.write_text(rendered)
    for name, figures in results["notebooks"]["notebooks"].items():
        path = NOTEBOOKS / f"{name}.ipynb"
        notebook = json.loads(path.read_text())
        title = notebook["cells"][0]
        source = "".join(title["source"])
        new = render_title_time(source, figures)
        if new != source:
            stale.append(path.name)
            if not args.check:
                title["source"] = new.splitlines(keepends=True)
                path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    print(("stale: " if args.check else "rewrote: ") + (", ".join(stale) or "nothing"))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())

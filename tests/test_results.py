"""One source for every measured number: the results file, the README and the notebooks agree.

The benchmarks write helpers/benchmark_results.json (through benchmarks/_results.py); the
README's tables and each notebook's title-cell time are rendered from it by
scripts/render_results.py. These tests fail when the README or a title cell was edited by
hand, when a benchmark's section is missing, or when a measured number is typed into a README
table or a notebook's markdown instead of being printed or read from the results file.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from helpers import results
from notebook_tools import all_notebooks, load, source

ROOT = Path(__file__).resolve().parents[1]


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


render = _module(ROOT / "scripts" / "render_results.py", "render_results")
writer = _module(ROOT / "benchmarks" / "_results.py", "_results")
RESULTS = json.loads(results.RESULTS_FILE.read_text())
README = (ROOT / "README.md").read_text()


def test_every_section_the_readme_renders_was_measured_by_its_benchmark():
    for name in render.RENDERERS:
        section = RESULTS[name]
        script = ROOT / section["command"].removeprefix("python ")
        assert script.exists(), f"section {name!r} names {section['command']}, which is missing"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", section["measured"])


def test_the_readme_tables_are_rendered_from_the_results_file():
    assert render.render_readme(README, RESULTS) == README, (
        "README.md differs from helpers/benchmark_results.json: "
        "run python scripts/render_results.py"
    )


def _outside_results_blocks(text: str) -> str:
    return re.sub(r"<!-- results:(\w+) -->.*?<!-- /results:\1 -->", "", text, flags=re.DOTALL)


def test_no_readme_table_holds_a_measured_number_outside_the_rendered_blocks():
    rows = [
        line
        for line in _outside_results_blocks(README).splitlines()
        if line.startswith("|") and re.search(r"\d+\.\d+|\d+x\b|\d+ s\b", line)
    ]
    assert rows == [], "table rows with measured numbers must be rendered from the results file"


def test_the_outside_check_sees_rendered_tables():
    """The check above can fail: the rendered blocks themselves hold such rows."""
    inside = [line for line in README.splitlines() if line.startswith("|") and "x |" in line]
    assert inside, "the rendered tables should hold ratios"
    assert _outside_results_blocks(README).count("<!-- results:") == 0


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: p.name)
def test_each_title_cell_states_the_measured_time_of_its_notebook(path):
    figures = RESULTS["notebooks"]["notebooks"][path.stem]
    title = source(load(path)["cells"][0])
    match = render.TIME_SENTENCE.search(title)
    assert match, f"{path.name}: the title cell has no 'It runs in N s on a 2-core CPU (...)'"
    assert int(match["bundled"]) == round(figures["bundled_s"])
    assert int(match["full"]) == round(figures["fullsize_s"])
    assert render.render_title_time(title, figures) == title


def test_render_title_time_replaces_only_the_two_numbers():
    title = "**Time:** 20 minutes. It runs in ?? s on a 2-core CPU (?? s at MNIST's full size)."
    out = render.render_title_time(title, {"bundled_s": 12.4, "fullsize_s": 30.6})
    assert (
        out == "**Time:** 20 minutes. It runs in 12 s on a 2-core CPU (31 s at MNIST's full size)."
    )
    with pytest.raises(ValueError, match="no sentence"):
        render.render_title_time("**Time:** 20 minutes.", {"bundled_s": 1, "fullsize_s": 2})


def test_render_readme_needs_every_block():
    with pytest.raises(ValueError, match="has no <!-- results:"):
        render.render_readme("no blocks here", RESULTS)


def test_record_replaces_its_own_section_only(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"other": {"kept": 1}, "mine": {"old": 1}}))
    monkeypatch.setattr(writer, "RESULTS_FILE", path)
    writer.record("mine", {"p1": 0.5}, script="benchmarks/bench_x.py")
    written = json.loads(path.read_text())
    assert written["other"] == {"kept": 1}
    assert written["mine"]["p1"] == 0.5 and "old" not in written["mine"]
    assert written["mine"]["command"] == "python benchmarks/bench_x.py"


def test_quoted_reads_a_dotted_key_and_names_what_exists():
    assert results.quoted("embedding.raw_pixels_p1") == RESULTS["embedding"]["raw_pixels_p1"]
    with pytest.raises(ValueError, match="after embedding there is"):
        results.quoted("embedding.no_such_key")
    with pytest.raises(ValueError, match="dotted path"):
        results.quoted("embedding")
    with pytest.raises(ValueError, match="no section 'nope'"):
        results.benchmark_results("nope")
    with pytest.raises(TypeError, match="must be a string"):
        results.benchmark_results(3)


def test_the_measured_scores_are_scores():
    embedding = RESULTS["embedding"]
    for model in embedding["models"].values():
        assert 0.0 <= model["p1_untrained"] <= 1.0 and 0.0 <= model["p1"] <= 1.0
    # the facts the lessons build on: training helps the convnet, and it beats raw pixels
    conv = embedding["models"]["conv"]
    assert conv["p1"] > embedding["raw_pixels_p1"] > conv["p1_untrained"]


#: What a typed measurement looks like in prose: a score with three decimals (0.938), a
#: duration (12 s, 4.6 s), a ratio (2.19x), a percentage with decimals (17.5 %), or a number
#: hedged as measured ("about 0.81", "≈ 0.90").
MEASURED_LOOKING = re.compile(
    r"(?<![\w.])0\.\d{3,}\b"
    r"|(?<![\w.])\d+(?:\.\d+)? s\b"
    r"|(?<![\w.])\d+(?:\.\d+)?x\b"
    r"|(?<![\w.])\d+\.\d+\s?%"
    r"|(?:about|≈|~|roughly|reaches|gets|scores)\s*\$?\d*\.\d+"
)
#: Numbers in markdown that look measured but are not, each with its reason.
NOT_MEASURED = {
    "05_the_embedding_model": {"0.3 %": "the margin 0.2 as a share of the range 64, derived"},
    "09_going_further": {
        "0.985": "an example of a bar the text argues against",
        **{
            rate: "a learning rate that was tried, a setting"
            for rate in ("0.001", "0.002", "0.003", "0.005")
        },
    },
}


def measured_looking(text: str) -> list[str]:
    """The measured-looking numbers of a markdown text, code blocks and the title left out."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = render.TIME_SENTENCE.sub("", text)
    return [m.group(0).strip() for m in MEASURED_LOOKING.finditer(text)]


def test_the_pattern_finds_typed_measurements():
    found = measured_looking(
        "P@1 0.938 in 12 s (2.19x); 17.5 % rejected; about 0.81; ≈ 0.90; margin 0.2 of 784 px"
    )
    assert found == ["0.938", "12 s", "2.19x", "17.5 %", "about 0.81", "≈ 0.90"]
    assert (
        measured_looking(
            "```\nprint(0.938)\n```\nIt runs in 12 s on a 2-core CPU (30 s at MNIST's full size)"
        )
        == []
    )


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: p.name)
def test_no_measured_number_is_typed_into_a_markdown_cell(path):
    allowed = NOT_MEASURED.get(path.stem, {})
    typed = [
        number
        for cell in load(path)["cells"]
        if cell["cell_type"] == "markdown"
        for number in measured_looking(source(cell))
        if number not in allowed
    ]
    assert typed == [], (
        f"{path.name}: print these from code, or read them with helpers.quoted(...) from the "
        "results file"
    )

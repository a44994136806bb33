"""What grading writes: grades.csv, the feedback pages and the summary table."""

from __future__ import annotations

import csv
import html
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell, new_notebook

from ._text import describe, first_line

#: The statuses of a row of grades.csv.
STATUSES = ("passed", "failed", "error", "timeout", "missing", "invalid-notebook")


@dataclass(frozen=True)
class GradeRow:
    """One row of grades.csv: one exercise of one notebook of one learner."""

    learner: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    status: str
    message: str


def format_points(points: float) -> str:
    """``2`` for 2.0, ``1.5`` for 1.5."""
    return f"{points:g}"


def write_csv(rows: Iterable[GradeRow], path: Path) -> None:
    """Write grades.csv (rows in the given order)."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([f.name for f in fields(GradeRow)])
        for row in rows:
            values = list(astuple(row))
            values[3], values[4] = format_points(row.points), format_points(row.max_points)
            writer.writerow(values)


def summary_table(rows: list[GradeRow]) -> str:
    """A learner x notebook table of points, with a total column.

    Examples
    --------
    >>> print(summary_table(rows))
    learner  07      total
    alice    3/3     3/3
    """
    notebooks = sorted({row.notebook for row in rows})
    learners = sorted({row.learner for row in rows})
    labels = _short_labels(notebooks)
    table = [["learner", *labels, "total"]]
    for learner in learners:
        line = [learner]
        total = [0.0, 0.0]
        for notebook in notebooks:
            mine = [r for r in rows if r.learner == learner and r.notebook == notebook]
            got, best = sum(r.points for r in mine), sum(r.max_points for r in mine)
            missing = mine and all(r.status in ("missing", "invalid-notebook") for r in mine)
            line.append("-" if missing else f"{format_points(got)}/{format_points(best)}")
            total[0] += got
            total[1] += best
        line.append(f"{format_points(total[0])}/{format_points(total[1])}")
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    text = "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip()
        for r in table
    )
    pairs = zip(labels, notebooks, strict=True)
    legend = ", ".join(f"{label} = {nb}" for label, nb in pairs if label != nb)
    return text + (f"\n({legend}; - = not submitted or not readable)" if legend else "")


def _short_labels(notebooks: list[str]) -> list[str]:
    labels = [name.split("_", 1)[0].removesuffix(".ipynb") for name in notebooks]
    return labels if len(set(labels)) == len(labels) else list(notebooks)


def feedback_cell(learner: str, notebook: str, rows: list[GradeRow], note: str) -> NotebookNode:
    """A markdown cell with the score and each exercise's status and message.

    Everything that comes from the learner's run is HTML-escaped.
    """
    got = sum(r.points for r in rows)
    best = sum(r.max_points for r in rows)
    lines = [
        "## Grading feedback",
        "",
        f"**{html.escape(learner)}**, `{html.escape(notebook)}`: "
        f"**{format_points(got)} / {format_points(best)} points**",
        "",
        "<table>",
        "<tr><th>Exercise</th><th>Points</th><th>Status</th><th>Message</th></tr>",
    ]
    for row in rows:
        lines.append(
            f"<tr><td>{html.escape(row.exercise)}</td>"
            f"<td>{format_points(row.points)} / {format_points(row.max_points)}</td>"
            f"<td>{html.escape(row.status)}</td><td>{html.escape(row.message)}</td></tr>"
        )
    lines += ["</table>", "", note]
    return new_markdown_cell("\n".join(lines))


class FeedbackWriter:
    """Renders feedback notebooks to HTML with nbconvert (lab template, built once)."""

    def __init__(self):
        from nbconvert import HTMLExporter

        # nbconvert's sanitize_html would also escape the markdown's own <p> and <h2>, so
        # the page shows the learner's outputs as Jupyter would (their HTML included).
        self.exporter = HTMLExporter(template_name="lab")

    def write(self, nb: NotebookNode, path: Path) -> None:
        """Write ``nb`` as HTML to ``path``; on failure, write its first cell only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            body, _ = self.exporter.from_notebook_node(nb)
        except Exception as error:  # a learner's odd output must not stop grading
            fallback = new_notebook(cells=[nb.cells[0]]) if nb.cells else new_notebook()
            fallback.cells.append(
                new_markdown_cell(
                    "The notebook itself could not be rendered: "
                    + html.escape(first_line(describe(error)))
                )
            )
            body, _ = self.exporter.from_notebook_node(fallback)
        path.write_text(body, encoding="utf-8")

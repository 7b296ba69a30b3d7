"""How the library's objects show themselves in Jupyter: HTML tables, the graph inline, Markdown.

The classes' ``_repr_html_`` / ``_repr_markdown_`` methods call these functions, which read only
public attributes (an explanation's records, a recording's :meth:`~modes.reverse.Recording.nodes`,
a counting block's :class:`~modes.stats.Stats`, a :class:`~modes.check.CheckReport`). Nothing here
runs unless a notebook asks; matplotlib is imported only to draw an explanation's graph.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from modes.core import primal, shape_of

if TYPE_CHECKING:
    from modes.check import CheckReport
    from modes.explain import Explanation
    from modes.reverse import Recording
    from modes.stats import Stats

#: Longest tape listed in full; longer tapes show their first entries and say how many follow.
MAX_ROWS = 60
_STYLE = "border-collapse:collapse;font-family:monospace;font-size:90%"
_CELL = "padding:2px 8px;border-bottom:1px solid #ddd"


def _num(v: Any) -> str:
    """A number (or an array's shape) the way the tables show it."""
    from modes.explain import fmt

    v = primal(v)
    if type(v) is float or isinstance(v, (int, np.floating)):
        return fmt(float(v))
    return f"array{shape_of(v)}"


def html_table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[int] = (),
    colours: dict[int, str] | None = None,
) -> str:
    """A small HTML table; cells are escaped; ``right`` columns are right-aligned (numbers)."""
    colours = colours or {}

    def cell(tag: str, i: int, text: str) -> str:
        align = "right" if i in right else "left"
        colour = f";color:{colours[i]}" if i in colours and tag == "td" else ""
        return f'<{tag} style="{_CELL};text-align:{align}{colour}">{html.escape(text)}</{tag}>'

    out = [
        f'<table style="{_STYLE}">',
        "<tr>" + "".join(cell("th", i, h) for i, h in enumerate(head)) + "</tr>",
    ]
    out += ["<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in rows]
    out.append("</table>")
    return "\n".join(out)


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A GitHub-flavoured Markdown table (``|`` in cells escaped)."""

    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    rule = ["---:" if i in right else "---" for i in range(len(head))]
    lines = ["| " + " | ".join(esc(h) for h in head) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# -------------------------------------------------------------------------------- explanations


def _trace_rows(e: Explanation) -> tuple[list[str], list[list[str]]]:
    from modes.explain import fmt

    head = ["node", "definition", "value", "local partials", "adjoint df/dnode"]
    rows = []
    for n in e.nodes:
        partials = ", ".join(f"∂{n.name}/∂{p} = {fmt(d)}" for p, d in zip(n.parents, n.partials))
        rows.append(
            [n.name + (" (f)" if n.is_output else ""), n.definition, fmt(n.value), partials, fmt(n.adjoint)]
        )
    return head, rows


def _tangent_rows(e: Explanation) -> tuple[list[str], list[list[str]]]:
    from modes.explain import fmt

    head = ["node", "value", *(f"seed {s}" for s in e.inputs)]
    rows = [
        [n.name + (" (f)" if n.is_output else ""), fmt(n.value), *(fmt(n.tangents.get(s)) for s in e.inputs)]
        for n in e.nodes
    ]
    return head, rows


def _count_rows(e: Explanation) -> tuple[list[str], list[list[str]]]:
    fw, rv = e.counts["forward"], e.counts["reverse"]
    head = ["", "forward (chunk 1)", "reverse"]
    rows = [
        ["passes through f", str(fw["passes"]), str(rv["passes"])],
        ["primitive evaluations", str(fw["ops"]), str(rv["ops"])],
        ["backward sweeps", str(fw["sweeps"]), str(rv["sweeps"])],
        ["derivative updates", str(fw["tangent_updates"]), str(rv["adjoint_updates"])],
    ]
    return head, rows


def figure_svg(fig: Any) -> str:
    """A matplotlib Figure as an inline SVG string (editable text, no XML header, no date)."""
    from matplotlib import rc_context

    buf = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "compare-modes"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def explanation_html(e: Explanation, graph: bool = True) -> str:
    """The explanation in a notebook: the graph inline (SVG), then the trace, tangent and count tables."""
    from modes.explain import fmt

    parts = [
        f"<h4>f = {html.escape(e.source)}" + (f" at {html.escape(e.point_text)}" if e.point else "") + "</h4>"
    ]
    if not e.nodes:
        parts.append(f"<p>f = {fmt(e.value)} is a constant: nothing to differentiate.</p>")
        return "\n".join(parts)
    if graph:
        svg = figure_svg(e.figure(size=(9.6, 5.4), dpi=72))
        parts.append(f'<div style="max-width:100%;overflow-x:auto">{svg}</div>')
    grad = ", ".join(f"df/d{k} = {fmt(v)}" for k, v in e.gradient.items())
    parts.append(
        f"<p><b>f = {fmt(e.value)}</b>; gradient (reverse mode's adjoints of the inputs): {grad}</p>"
    )
    head, rows = _trace_rows(e)
    parts += ["<p>Wengert trace (reverse mode: record, then sweep back from f with adjoint 1)</p>"]
    parts.append(html_table(head, rows, right=(2, 4), colours={2: "#1f5fbf", 4: "#c0392b"}))
    head, rows = _tangent_rows(e)
    parts += ["<p>forward mode: tangents d(node)/d(seed), one pass per seeded input</p>"]
    parts.append(html_table(head, rows, right=tuple(range(1, len(head))), colours={1: "#1f5fbf"}))
    if e.counts:
        head, rows = _count_rows(e)
        parts += ["<p>operation counts (modes.counting)</p>", html_table(head, rows, right=(1, 2))]
    if e.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in e.notes) + "</ul>")
    return "\n".join(parts)


def explanation_markdown(e: Explanation) -> str:
    """The explanation's tables as Markdown (for frontends that render Markdown, not HTML)."""
    from modes.explain import fmt

    title = f"**f = {e.source}**" + (f" at {e.point_text}" if e.point else "")
    if not e.nodes:
        return f"{title}: a constant, f = {fmt(e.value)}"
    parts = [title, "", markdown_table(*_trace_rows(e), right=(2, 4)), ""]
    head, rows = _tangent_rows(e)
    parts += ["forward mode, one pass per seeded input:", "", markdown_table(head, rows, range(1, len(head)))]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------- recordings


def _listing(rec: Recording) -> tuple[list[str], list[list[str]], int]:
    nodes = rec.nodes()
    inputs = {k: i for i, k in enumerate(rec.input_nodes)}
    out = rec.output_node
    rows = []
    for node in nodes[:MAX_ROWS]:
        k = node.index
        if node.primitive is None:
            op = f"input {inputs[k]}" if k in inputs else "input"
            args = partials = ""
        else:
            op = node.primitive.name
            args = ", ".join(f"%{p}" for p in node.parents)
            partials = ", ".join(_num(d) for d in node.partials)
        rows.append([f"%{k}" + (" (f)" if k == out else ""), op, args, partials, _num(node.value)])
    return ["entry", "operation", "parents", "local partials", "value"], rows, len(nodes)


def recording_html(rec: Recording) -> str:
    """A recording as a notebook shows it: the tape, one row per entry, in execution order."""
    head, rows, total = _listing(rec)
    more = f"<p>... {total - MAX_ROWS} more entries</p>" if total > MAX_ROWS else ""
    return (
        f"<p><b>Recording</b>: {total} tape entries, value {html.escape(_num(rec.value))}</p>"
        + html_table(head, rows, right=(4,))
        + more
    )


def recording_markdown(rec: Recording) -> str:
    head, rows, total = _listing(rec)
    more = f"\n\n... {total - MAX_ROWS} more entries" if total > MAX_ROWS else ""
    return f"**Recording**: {total} tape entries\n\n" + markdown_table(head, rows, right=(4,)) + more


# ------------------------------------------------------------------------------ stats, checks

_STATS = (
    ("calls", "differentiations"),
    ("passes", "passes through f"),
    ("ops", "primitive evaluations"),
    ("tangent_updates", "tangent updates (forward)"),
    ("adjoint_updates", "adjoint updates (reverse)"),
    ("sweeps", "backward sweeps"),
    ("tape_length", "tape entries"),
    ("tape_bytes", "tape bytes (estimate)"),
    ("peak_bytes", "peak bytes (tracemalloc)"),
)


def stats_rows(s: Stats) -> list[list[str]]:
    untraced = "not traced (counting(memory=True))"  # 0 would read as a measurement
    return [
        [label, untraced if key == "peak_bytes" and not s.memory else f"{getattr(s, key):,}"]
        for key, label in _STATS
    ]


def stats_html(s: Stats) -> str:
    modes = ", ".join(dict.fromkeys(s.modes)) or "none yet"
    return f"<p><b>modes.counting</b> (modes: {html.escape(modes)})</p>" + html_table(
        ["", "count"], stats_rows(s), right=(1,)
    )


def check_html(r: CheckReport) -> str:
    verdict = "all checks passed" if r.passed else f"{len(r.failures())} check(s) FAILED"
    colour = "#1e8449" if r.passed else "#c0392b"
    rows = [
        [c.name, f"{c.max_abs:.2e}", f"{c.max_rel:.2e}", f"{c.rtol:.0e}", "ok" if c.passed else "FAILED"]
        for c in r.comparisons
    ]
    return (
        f'<p><b>gradient check (order {r.order})</b>: <span style="color:{colour}">{verdict}</span></p>'
        + (html_table(["check", "max abs", "max rel", "rtol", "result"], rows, right=(1, 2, 3)))
    )


__all__ = [
    "MAX_ROWS",
    "check_html",
    "explanation_html",
    "explanation_markdown",
    "figure_svg",
    "html_table",
    "markdown_table",
    "recording_html",
    "recording_markdown",
    "stats_html",
]

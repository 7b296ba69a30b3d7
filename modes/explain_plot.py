"""The article's picture for any expression: the computation graph of an :class:`Explanation`,
finished or one step at a time (numbered frames and an animated GIF).

Inputs at the bottom, operations in layers above them, the output on top. Each node is labelled
with its value (blue) and its adjoint ``df/dnode`` after the reverse sweep (red); each edge with
the local partial ``d child / d parent`` stored on the tape. Beside it, one small panel per
forward pass: the same graph with every node's tangent (green) when that input is seeded.

Slide-ready: figures are 16:9 landscape (12.8 x 7.2 inches by default, scaled up for large
graphs), any ``size`` and ``dpi``, PNG, SVG (text kept as editable text) or PDF. Labels never
overlap: the font shrinks and the labels get terser until every node box fits, and an edge label
with no free spot is left off (the figure says how many; the trace table has them all).

Drawn with matplotlib only (an object-oriented ``Figure``, no pyplot state). If Graphviz's
``dot`` is installed it may place the nodes (``engine="graphviz"``, or ``"auto"``); otherwise a
layered layout computed here does (longest path from the inputs, then the parents' barycentre
within a layer, inputs ordered to cross fewer edges). matplotlib is imported only here, so
``import modes`` stays light.
"""

from __future__ import annotations

import itertools
import math
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from modes.explain import Explanation, NodeRecord, Step, fmt, sum_text

VALUE = "#1f5fbf"  # blue: values
ADJOINT = "#c0392b"  # red: adjoints
TANGENT = "#1e8449"  # green: tangents
HIGHLIGHT = "#e67e22"  # orange: the edge and node of the current step
PENDING = "#9a9a9a"  # grey: not computed yet
EDGE = "#555555"
#: Default resolution (dots per inch): a 12.8 x 7.2 inch slide is 1920 x 1080 pixels.
DPI = 150
#: Default figure size in inches (16:9, a full-HD slide at :data:`DPI`).
SLIDE = (12.8, 7.2)
#: Formats :func:`draw` and :func:`save_frames` write.
FORMATS = ("png", "svg", "pdf")
#: More inputs than this: no per-seed panels beside the graph (the trace table has the tangents).
MAX_SEED_PANELS = 12

Position = tuple[float, float]
Line = tuple[str, str, str]  # (text, colour, weight)
_RC = {"svg.fonttype": "none", "svg.hashsalt": "compare-modes", "pdf.fonttype": 42}


# ------------------------------------------------------------------------------------- layout


def layers(expl: Explanation) -> dict[str, int]:
    """Each node's layer: 0 for inputs, else one more than its highest parent (longest path)."""
    out: dict[str, int] = {}
    for n in expl.nodes:  # tape order is topological
        out[n.name] = 0 if n.kind == "input" else 1 + max((out[p] for p in n.parents), default=-1)
    return out


@dataclass
class Layout:
    """Node centres (slot units: layer ``L`` at ``y = L``, neighbours one unit apart) and, for
    edges that skip layers, the bend points they are routed through (one per skipped layer)."""

    pos: dict[str, Position]
    bends: dict[tuple[str, str], list[Position]] = field(default_factory=dict)


def layered_layout(expl: Explanation, input_order: Sequence[str] | None = None) -> Layout:
    """A Sugiyama-style layered layout, small enough to read.

    Layers by longest path; an edge that skips layers gets a dummy point in each layer it
    crosses (so it is routed around the nodes, not through them); inputs are placed in
    ``input_order`` (default: as they appear) and each later layer is ordered by the mean
    position of its predecessors. Nodes take one unit of width, dummies half a unit.
    """
    layer = layers(expl)
    items: dict[int, list[tuple[str, ...]]] = {}  # layer -> ("n", name) | ("d", parent, child)
    preds: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    rank = {name: i for i, name in enumerate(input_order or ())}
    nodes = sorted(expl.nodes, key=lambda n: (n.kind != "input", rank.get(n.name, 0)))
    for n in nodes:
        key = ("n", n.name)
        items.setdefault(layer[n.name], []).append(key)
        preds[key] = []
        for p in dict.fromkeys(n.parents):  # one route per (parent, child) pair
            prev: tuple[str, ...] = ("n", p)
            for lv in range(layer[p] + 1, layer[n.name]):
                dummy = ("d", p, n.name, str(lv))
                items.setdefault(lv, []).append(dummy)
                preds[dummy] = [prev]
                prev = dummy
            preds[key].append(prev)
    xy: dict[tuple[str, ...], Position] = {}
    for lv in sorted(items):
        row = items[lv]
        if lv > 0:
            order = {k: i for i, k in enumerate(row)}

            def bary(k: tuple[str, ...], order: dict[tuple[str, ...], int] = order) -> tuple[float, int]:
                xs = [xy[q][0] for q in preds[k]]
                return (sum(xs) / len(xs) if xs else 0.0, order[k])

            row = sorted(row, key=bary)
        widths = [1.0 if k[0] == "n" else 0.5 for k in row]
        if lv == 0:
            total = sum(widths)
            x = -total / 2
            for k, w in zip(row, widths):
                xy[k] = (x + w / 2, 0.0)
                x += w
            continue
        # each item as near its predecessors' mean as the items to its left allow, then the row
        # shifted so that it sits, on average, where it wants to be (long edges stay straight)
        want = [bary(k)[0] for k in row]
        xs: list[float] = []
        for i, (w, d) in enumerate(zip(widths, want)):
            xs.append(d if i == 0 else max(d, xs[-1] + (widths[i - 1] + w) / 2))
        shift = sum(d - x for d, x in zip(want, xs)) / len(xs)
        for k, x in zip(row, xs):
            xy[k] = (x + shift, float(lv))
    pos = {k[1]: v for k, v in xy.items() if k[0] == "n"}
    bends: dict[tuple[str, str], list[Position]] = {}
    for k, v in sorted(xy.items(), key=lambda kv: kv[1][1]):
        if k[0] == "d":
            bends.setdefault((k[1], k[2]), []).append(v)
    return Layout(pos, bends)


def crossings(expl: Explanation, lay: Layout) -> int:
    """How many pairs of edge segments cross between adjacent layers (bends included)."""
    by_gap: dict[float, list[tuple[float, float]]] = {}
    for n in expl.nodes:
        for p in dict.fromkeys(n.parents):
            pts = [lay.pos[p], *lay.bends.get((p, n.name), []), lay.pos[n.name]]
            for (x0, y0), (x1, _) in itertools.pairwise(pts):
                by_gap.setdefault(y0, []).append((x0, x1))
    count = 0
    for segs in by_gap.values():
        for i, (a0, a1) in enumerate(segs):
            for b0, b1 in segs[i + 1 :]:
                if (a0 - b0) * (a1 - b1) < 0:
                    count += 1
    return count


def _ordered_layout(expl: Explanation) -> Layout:
    """The layered layout with the inputs ordered to cross fewer edges.

    Tries the inputs as written and sorted by the mean position of the nodes that use them
    (one barycentre sweep down from a first layout), and keeps the one with fewer crossings
    (ties keep the written order, so the article's ``a, b, c`` stay in order).
    """
    first = layered_layout(expl)
    uses: dict[str, list[float]] = {}
    for n in expl.nodes:
        for p in n.parents:
            uses.setdefault(p, []).append(first.pos[n.name][0])
    written = {s: i for i, s in enumerate(expl.inputs)}
    order = sorted(expl.inputs, key=lambda s: (sum(uses.get(s, [0.0])) / len(uses.get(s, [0.0])), written[s]))
    if order == list(expl.inputs):
        return first
    second = layered_layout(expl, order)
    return second if crossings(expl, second) < crossings(expl, first) else first


def graphviz_layout(
    expl: Explanation, dot: str | None = None, timeout: float = 10.0
) -> dict[str, Position] | None:
    """Positions from Graphviz's ``dot`` (if installed), in the same units; ``None`` on failure."""
    dot = dot or shutil.which("dot")
    if dot is None or not expl.nodes:
        return None
    lines = ["digraph G {", "rankdir=BT;", "node [shape=box];"]
    lines += [f'"{n.name}";' for n in expl.nodes]
    lines += [f'"{p}" -> "{n.name}";' for n in expl.nodes for p in n.parents]
    lines.append("{rank=same; " + " ".join(f'"{s}";' for s in expl.inputs) + "}")
    lines.append("}")
    try:
        proc = subprocess.run(
            [dot, "-Tplain"],
            input="\n".join(lines),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    raw: dict[str, Position] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "node":
            try:
                raw[parts[1].strip('"')] = (float(parts[2]), float(parts[3]))
            except ValueError:
                return None
    if set(raw) != {n.name for n in expl.nodes}:
        return None
    ys = sorted({round(y, 3) for _, y in raw.values()})
    rank = {y: i for i, y in enumerate(ys)}
    by_rank: dict[int, list[float]] = {}
    for x, y in raw.values():
        by_rank.setdefault(rank[round(y, 3)], []).append(x)
    gaps = [b - a for xs in by_rank.values() for a, b in zip(sorted(xs), sorted(xs)[1:]) if b - a > 1e-9]
    unit = min(gaps) if gaps else 1.0
    mid = (min(x for x, _ in raw.values()) + max(x for x, _ in raw.values())) / 2
    return {name: ((x - mid) / unit, float(rank[round(y, 3)])) for name, (x, y) in raw.items()}


def layout(expl: Explanation, engine: str = "auto") -> Layout:
    """Node positions; ``engine``: ``"auto"`` (Graphviz if installed), ``"graphviz"``, ``"matplotlib"``."""
    if engine not in ("auto", "graphviz", "matplotlib"):
        raise ValueError(f"engine must be 'auto', 'graphviz' or 'matplotlib', got {engine!r}")
    if engine != "matplotlib":
        pos = graphviz_layout(expl)
        if pos is not None:
            return Layout(pos)
    return _ordered_layout(expl)


def _shape(lay: Layout) -> tuple[float, int]:
    """(width in slots, number of layers) of a layout, bends included."""
    if not lay.pos:
        return 1.0, 1
    points = [*lay.pos.values(), *(q for bend in lay.bends.values() for q in bend)]
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    return max(xs) - min(xs) + 1, round(max(ys) - min(ys)) + 1


# ------------------------------------------------------------------------------ sizes, checks


def seed_panels(expl: Explanation, seeds: bool = True) -> tuple[str, ...]:
    """The inputs that get a forward-mode panel (none if there are too many)."""
    if not seeds or len(expl.inputs) > MAX_SEED_PANELS:
        return ()
    return expl.inputs


def _panel_grid(k: int) -> tuple[int, int]:
    """(rows, columns) of the forward-pass panels beside the main graph."""
    cols = 1 if k <= 3 else (2 if k <= 8 else 3)
    return math.ceil(k / cols), cols


def figure_size(expl: Explanation, seeds: bool = True, engine: str = "auto") -> tuple[float, float]:
    """The default (width, height) in inches: a 16:9 slide, scaled up when the graph needs it."""
    width, n_layers = _shape(layout(expl, engine))
    panels = seed_panels(expl, seeds)
    main = 0.6 if panels else 0.98
    need_w = 0.95 * width / main + 0.3
    need_h = 0.8 * n_layers + 1.6
    scale = max(1.0, need_w / SLIDE[0], need_h / SLIDE[1])
    return round(SLIDE[0] * scale, 2), round(SLIDE[1] * scale, 2)


def parse_size(text: str) -> tuple[float, float]:
    """``"12.8x7.2"`` (inches) -> ``(12.8, 7.2)``; ``ValueError`` if malformed or not positive."""
    w, sep, h = text.lower().partition("x")
    try:
        size = (float(w), float(h))
    except ValueError:
        raise ValueError(f"size must be WIDTHxHEIGHT in inches, e.g. 12.8x7.2, got {text!r}") from None
    if not sep or not all(math.isfinite(v) and 0.5 <= v <= 100 for v in size):
        raise ValueError(f"size must be WIDTHxHEIGHT in inches between 0.5 and 100, got {text!r}")
    return size


def label_boxes(fig: Figure) -> list[tuple[str, Bbox]]:
    """Every label the figure shows, as (text, window extent): node boxes (one box per node,
    its lines inside it), edge labels, titles and notes. For tests and for fitting."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]  # type: ignore[attr-defined]
    out = []
    for t in texts:
        if not t.get_visible() or not t.get_text() or getattr(t, "_inside_box", False):
            continue
        out.append((t.get_text(), _extent(t, renderer)))
    return out


def overlaps(fig: Figure, pad: float = 0.0) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes overlap (see :func:`label_boxes`), and ``("<edge>", label)``
    for a label that crosses the figure's edge; empty when all is clean."""
    boxes = label_boxes(fig)
    page = fig.bbox
    out = [
        ("<edge>", t)
        for t, b in boxes
        if b.x0 < page.x0 - 0.5 or b.y0 < page.y0 - 0.5 or b.x1 > page.x1 + 0.5 or b.y1 > page.y1 + 0.5
    ]
    for i, (ta, a) in enumerate(boxes):
        a = a.expanded(1, 1).padded(pad)
        for tb, b in boxes[i + 1 :]:
            if a.overlaps(b):
                out.append((ta, tb))
    return out


# ------------------------------------------------------------------------------ node drawing


@dataclass
class Look:
    """How one node is drawn in one panel: its lines, the widest lines it will ever show (they
    size the box, so boxes keep their size from frame to frame), and its box style."""

    lines: list[Line]
    template: list[str]
    face: str = "#f4f4f4"
    edge: str = "#333333"
    lw: float = 1.0
    style: str = "round,pad=0.35"


def _face(n: NodeRecord) -> str:
    return "#fff7d6" if n.kind == "input" else ("#e3f1e3" if n.is_output else "#eef2f7")


def _title(n: NodeRecord, detail: int) -> str:
    """A node's name line: inputs by name; operations with their definition when there is room."""
    mark = "  (f)" if n.is_output else ""
    if n.kind == "input" or detail < 2:
        return n.name + mark
    return f"{n.name} = {n.definition}{mark}"


def _final_look(n: NodeRecord, detail: int, seed: str | None) -> Look:
    """The finished picture: value and adjoint, or value and tangent in a forward pass."""
    name = _title(n, detail)
    if seed is not None:  # a small forward-pass panel: name and tangent
        lines = [(name, "black", "normal"), (fmt(n.tangents.get(seed)), TANGENT, "bold")]
        lw = 2.0 if n.name == seed else 1.0
        return Look(lines, [t for t, _, _ in lines], _face(n), TANGENT if n.name == seed else "#333333", lw)
    v, a = (
        (f"value {fmt(n.value)}", f"adjoint {fmt(n.adjoint)}")
        if detail >= 2
        else (fmt(n.value), fmt(n.adjoint))
    )
    lines = [(name, "black", "normal"), (v, VALUE, "normal"), (a, ADJOINT, "bold")]
    if detail == 0:
        lines = lines[:1]
    return Look(lines, [t for t, _, _ in lines], _face(n), "#333333", 1.8 if n.is_output else 1.0)


def _nodes(ax: Axes, expl: Explanation, lay: Layout, looks: dict[str, Look], fs: float) -> dict[str, Text]:
    """Draw the node boxes: an invisible copy of the widest lines sizes each box; the lines are
    drawn on top in colour. Returns each node's box text."""
    ax.set_axis_off()
    pos = lay.pos
    _, n_layers = _shape(lay)
    xs = [x for x, _ in pos.values()] + [x for bend in lay.bends.values() for x, _ in bend]
    ax.set_xlim(min(xs) - 0.55, max(xs) + 0.55)
    ax.set_ylim(-0.5, n_layers - 0.5)
    boxes = {}
    for n in expl.nodes:
        look = looks[n.name]
        x, y = pos[n.name]
        box = ax.text(
            x,
            y,
            "\n".join(look.template),
            ha="center",
            va="center",
            fontsize=fs,
            fontweight="bold",
            color=(0, 0, 0, 0),
            zorder=3,
            linespacing=1.3,
            bbox={"boxstyle": look.style, "fc": look.face, "ec": look.edge, "lw": look.lw},
        )
        k = len(look.template)
        for i, (text, colour, weight) in enumerate(look.lines):
            line = ax.annotate(
                text,
                xy=(0.5, 1 - (2 * i + 1) / (2 * k)),
                xycoords=box,
                ha="center",
                va="center",
                fontsize=fs,
                color=colour,
                fontweight=weight,
                zorder=4,
            )
            line._inside_box = True  # type: ignore[attr-defined]
        boxes[n.name] = box
    return boxes


def _extent(t: Text, renderer: Any) -> Bbox:
    """A text's extent on the canvas, its box included (placed now: no full draw needed)."""
    patch = t.get_bbox_patch()
    if patch is None:
        return t.get_window_extent(renderer)
    t.update_bbox_position_size(renderer)
    return patch.get_window_extent(renderer)


def _fits(ax: Axes, boxes: dict[str, Text], renderer: Any) -> bool:
    """Whether the node boxes lie inside the panel and clear of each other (2 px apart)."""
    frame = ax.get_window_extent(renderer).padded(1)
    ext = [_extent(t, renderer) for t in boxes.values()]
    if any(
        not (frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1) for b in ext
    ):
        return False
    for i, a in enumerate(ext):
        a = a.padded(2)
        if any(a.overlaps(b) for b in ext[i + 1 :]):
            return False
    return True


#: (detail, font size) tried in turn until the boxes fit: full labels, then terse, then names.
_FITS = (
    [(2, fs) for fs in (11.5, 10.5, 9.5, 8.5, 7.5)]
    + [(1, fs) for fs in (10, 9, 8, 7, 6, 5)]
    + [(0, 5.0), (0, 4.0)]
)


def _fit(
    fig: Figure,
    ax: Axes,
    expl: Explanation,
    lay: Layout,
    looks_for: Any,
    start: int = 0,
) -> tuple[dict[str, Text], int, float, int]:
    """Draw the nodes at the first (detail, font size) whose boxes fit; returns the boxes, the
    detail, the font size and the index tried (so the other panels can start from there)."""
    for i in range(start, len(_FITS)):
        detail, fs = _FITS[i]
        ax.cla()
        boxes = _nodes(ax, expl, lay, looks_for(detail), fs)
        if _fits(ax, boxes, fig.canvas.get_renderer()) or i == len(_FITS) - 1:  # type: ignore[attr-defined]
            return boxes, detail, fs, i
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------ edge drawing


def _clip(p: Position, q: Position, box: tuple[float, float, float, float], gap: float) -> Position:
    """Where the segment from ``p`` (inside ``box``) towards ``q`` leaves the box, plus ``gap``."""
    (px, py), (qx, qy) = p, q
    dx, dy = qx - px, qy - py
    x0, y0, x1, y1 = box
    ts = []
    if dx:
        ts.append(((x1 if dx > 0 else x0) - px) / dx)
    if dy:
        ts.append(((y1 if dy > 0 else y0) - py) / dy)
    t = min((t for t in ts if t > 0), default=0.0) + gap
    t = min(t, 0.5)
    return px + t * dx, py + t * dy


def _arc_point(ax: Axes, a: Position, b: Position, rad: float) -> Position:
    """The midpoint of matplotlib's ``arc3`` curve from ``a`` to ``b`` (computed in display space)."""
    to_px = ax.transData
    (ax_, ay), (bx, by) = to_px.transform([a, b])
    mx, my = (ax_ + bx) / 2, (ay + by) / 2
    dx, dy = bx - ax_, by - ay
    cx, cy = mx + rad * dy, my - rad * dx  # the Bezier control point
    x, y = to_px.inverted().transform(((mx + cx) / 2, (my + cy) / 2))
    return float(x), float(y)


_ALONG = (0.5, 0.35, 0.65, 0.22, 0.78, 0.12, 0.88)


def _edges(
    ax: Axes,
    expl: Explanation,
    lay: Layout,
    boxes: dict[str, Text],
    renderer: Any,
    fs: float,
    labels: dict[tuple[str, int], tuple[str, str]] | None,
    highlight: tuple[str, int] | None = None,
    colour: str = HIGHLIGHT,
    backward: bool = False,
) -> int:
    """Edges parent -> child, stopping at the boxes, routed through their bends; with
    ``labels[(child, slot)] = (full, short)`` each gets its local partial where it overlaps
    nothing (the short form if the full one finds no room). Returns how many labels were left off.

    An operand used twice (``a * a``) gives two edges, drawn as two arcs bending apart. The
    ``highlight``ed edge is drawn thick, pointing back at the parent when ``backward`` (the
    adjoint flowing back in the reverse sweep).
    """
    inv = ax.transData.inverted()

    def data_box(t: Text) -> tuple[float, float, float, float]:
        bb = _extent(t, renderer)
        (x0, y0), (x1, y1) = inv.transform([(bb.x0, bb.y0), (bb.x1, bb.y1)])
        return x0, y0, x1, y1

    extents = {name: data_box(t) for name, t in boxes.items()}
    placed = [_extent(t, renderer).padded(1) for t in boxes.values()]
    frame = ax.get_window_extent(renderer)
    left_off = 0
    pending: list[tuple[tuple[str, int], list[Position], float, bool]] = []
    for n in expl.nodes:
        count = {p: n.parents.count(p) for p in n.parents}
        seen: dict[str, int] = {}
        for slot, p in enumerate(n.parents):
            k = seen.get(p, 0)
            seen[p] = k + 1
            pts = [lay.pos[p], *lay.bends.get((p, n.name), []), lay.pos[n.name]]
            start = _clip(pts[0], pts[1], extents[p], 0.01)
            end = _clip(pts[-1], pts[-2], extents[n.name], 0.01)
            path = [start, *pts[1:-1], end]
            rad = 0.0 if count[p] == 1 else 0.5 * (k - (count[p] - 1) / 2)
            hot = highlight == (n.name, slot)
            style = {"color": colour if hot else EDGE, "lw": 3.0 if hot else 1.1}
            z = 2.5 if hot else 1
            if len(path) > 2:
                ax.plot([q[0] for q in path[:-1]], [q[1] for q in path[:-1]], zorder=z, **style)
            ax.annotate(
                "",
                xy=end,
                xytext=path[-2],
                zorder=z,
                arrowprops={
                    "arrowstyle": "<|-" if hot and backward else "-|>",
                    "shrinkA": 0,
                    "shrinkB": 0,
                    "connectionstyle": f"arc3,rad={rad}",
                    "mutation_scale": 16 if hot else 12,
                    **style,
                },
            )
            pending.append(((n.name, slot), path, rad, hot))
    if labels is None:
        return 0
    pending.sort(key=lambda item: not item[3])  # the highlighted edge's label goes first
    for key, path, rad, hot in pending:
        if key not in labels:
            continue
        full, short = labels[key]
        candidates: list[Position] = []
        if rad:
            candidates.append(_arc_point(ax, path[-2], path[-1], rad))
        else:
            for a, b in reversed(list(itertools.pairwise(path))):
                candidates += [(a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])) for f in _ALONG]
        done = False
        for text in (full, short):
            t = ax.text(
                0,
                0,
                text,
                ha="center",
                va="center",
                fontsize=fs,
                color=colour if hot else "#222222",
                fontweight="bold" if hot else "normal",
                zorder=5 if hot else 2,
                bbox={
                    "boxstyle": "round,pad=0.15",
                    "fc": "white",
                    "ec": colour if hot else "none",
                    "alpha": 0.92,
                },
            )
            for xy in candidates:
                t.set_position(xy)
                bb = _extent(t, renderer)
                inside = frame.x0 <= bb.x0 and bb.x1 <= frame.x1 and frame.y0 <= bb.y0 and bb.y1 <= frame.y1
                if inside and not any(bb.overlaps(o) for o in placed):
                    placed.append(bb.padded(1))
                    done = True
                    break
            if done:
                break
            t.remove()
        left_off += not done
    return left_off


def _edge_labels(expl: Explanation, detail: int) -> dict[tuple[str, int], tuple[str, str]]:
    out = {}
    for n in expl.nodes:
        for slot, (p, d) in enumerate(zip(n.parents, n.partials)):
            full = f"∂{n.name}/∂{p} = {fmt(d)}" if detail >= 2 else fmt(d)
            out[(n.name, slot)] = (full, fmt(d))
    return out


# ---------------------------------------------------------------------------- the whole graph


def _new_figure(size: tuple[float, float], dpi: float) -> Figure:
    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _heading(fig: Figure, expl: Explanation, fontsize: float = 15) -> None:
    """``f = ... at a = ...`` across the top, shrunk (then shortened) until it fits the width."""
    at = f" at {expl.point_text}" if expl.point else ""
    t = fig.text(
        0.5, 0.985, f"f = {expl.source}{at}", ha="center", va="top", fontsize=fontsize, fontweight="bold"
    )
    _shrink(t, 0.98 * fig.bbox.width, fig.canvas.get_renderer())  # type: ignore[attr-defined]


def _shrink(t: Text, width: float, renderer: Any, smallest: float = 7.0) -> None:
    """Make ``t`` at most ``width`` pixels wide: a smaller font, then an ellipsis at the end."""
    while t.get_window_extent(renderer).width > width and t.get_fontsize() > smallest:
        t.set_fontsize(t.get_fontsize() - 0.5)
    text = t.get_text()
    while t.get_window_extent(renderer).width > width and len(text) > 8:
        text = text[: max(8, int(len(text) * 0.95))]
        t.set_text(text.rstrip() + " ...")


def _top(fig: Figure, inches: float) -> float:
    """The figure fraction ``inches`` below the top edge."""
    return 1 - inches / fig.get_figheight()


def figure(
    expl: Explanation,
    seeds: bool = True,
    engine: str = "auto",
    *,
    size: tuple[float, float] | None = None,
    dpi: float = DPI,
) -> Figure:
    """The graph as a matplotlib Figure (with an Agg canvas): the reverse-mode graph on the left,
    one small panel per forward pass on the right. ``size`` in inches (default
    :func:`figure_size`, 16:9); see :func:`draw` to save it."""
    size = size or figure_size(expl, seeds, engine)
    fig = _new_figure(size, dpi)
    _heading(fig, expl)
    if not expl.nodes:
        fig.text(0.5, 0.5, f"f = {fmt(expl.value)} is a constant: there is no graph to draw", ha="center")
        return fig
    lay = layout(expl, engine)
    panels = seed_panels(expl, seeds)
    top = _top(fig, 0.95)
    bottom = 0.3 / size[1]
    if panels:
        outer = fig.add_gridspec(
            1, 2, width_ratios=[3, 2], left=0.01, right=0.99, top=top, bottom=bottom, wspace=0.04
        )
        ax = fig.add_subplot(outer[0, 0])
        rows, cols = _panel_grid(len(panels))
        sub = outer[0, 1].subgridspec(rows, cols, hspace=0.3, wspace=0.06)
        axes = [fig.add_subplot(sub[i // cols, i % cols]) for i in range(len(panels))]
    else:
        ax = fig.add_axes((0.01, bottom, 0.98, top - bottom))
        axes = []
    boxes, detail, fs, _ = _fit(
        fig, ax, expl, lay, lambda d: {n.name: _final_look(n, d, None) for n in expl.nodes}
    )
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    title = ax.set_title(
        "reverse mode: value (blue), adjoint df/dnode after one backward sweep (red),\n"
        "local partials on the edges"
        + ("; right: forward mode, one pass per input, tangents (green)" if panels else ""),
        fontsize=10.5,
    )
    _shrink(title, ax.get_window_extent(renderer).width, renderer)

    def seeded(s: str) -> Any:
        return lambda d: {n.name: _final_look(n, min(d, 1), s) for n in expl.nodes}

    # the panels share one font: the first (detail, size) at which every panel fits
    start = 5  # terse from the start: name and tangent
    small = []
    for a, s in zip(axes, panels):
        b, _, _, tried = _fit(fig, a, expl, lay, seeded(s), start)
        if tried > start and small:
            small = [
                (a2, _fit(fig, a2, expl, lay, seeded(s2), tried)[0])
                for a2, s2 in zip(axes, panels[: len(small)])
            ]
        start = tried
        small.append((a, b))
    for a, s in zip(axes, panels):
        a.set_title(
            f"forward pass seeding {s}" if len(panels) <= 3 else f"seeding {s}", fontsize=9, color=TANGENT
        )
    left_off = _edges(ax, expl, lay, boxes, renderer, max(fs - 1.5, 4.0), _edge_labels(expl, detail))
    for a, b in small:
        _edges(a, expl, lay, b, renderer, 6.0, None)
    notes = []
    if left_off:
        notes.append(
            f"{left_off} edge partial{'s' if left_off != 1 else ''} left off for room (see the trace table)"
        )
    if seeds and len(expl.inputs) > MAX_SEED_PANELS:
        notes.append(f"{len(expl.inputs)} inputs: per-seed panels omitted (see the tangent table)")
    if notes:
        fig.text(0.5, 0.004, "; ".join(notes), ha="center", va="bottom", fontsize=9)
    return fig


def save(fig: Figure, path: str | Path, dpi: float | None = None) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix: png, svg or pdf), reproducibly: SVG text
    stays editable text, no timestamps, stable SVG ids."""
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"cannot save {path.name}: the format must be one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, Any] = {
        "png": {"Software": None},
        "svg": {"Date": None},
        "pdf": {"CreationDate": None},
    }[ext]
    with rc_context(_RC):
        fig.savefig(path, format=ext, dpi=dpi or fig.dpi, metadata=metadata)
    return path


def draw(
    expl: Explanation,
    out_dir: str | Path,
    stem: str = "explain-graph",
    formats: Sequence[str] = ("png", "svg"),
    seeds: bool = True,
    engine: str = "auto",
    *,
    size: tuple[float, float] | None = None,
    dpi: float = DPI,
) -> list[Path]:
    """Save the graph as ``out_dir/stem.<format>`` for each format (creating ``out_dir``)."""
    _check_formats(formats)
    fig = figure(expl, seeds=seeds, engine=engine, size=size, dpi=dpi)
    return [save(fig, Path(out_dir) / f"{stem}.{ext}") for ext in formats]


def _check_formats(formats: Iterable[str]) -> None:
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown format {bad[0]!r}: choose from {', '.join(FORMATS)}")


# ----------------------------------------------------------------------------- vector outputs

#: At most this many panels per row in a Jacobian figure (the rest are counted, not drawn).
MAX_TRIPS = 6


def jacobian_figure(je: Any, *, size: tuple[float, float] | None = None, dpi: float = DPI) -> Figure:
    """A :class:`~modes.explain_jacobian.JacobianExplanation` as the "when does forward mode
    win" slide: forward passes on the top row (one per input: each node's tangent, green; the
    outputs' tangents are a column of J), reverse sweeps on the bottom row (one per output: each
    node's adjoint, red; the inputs' adjoints are a row of J)."""
    size = size or SLIDE
    fig = _new_figure(size, dpi)
    n, m = len(je.inputs), len(je.outputs)
    heading = fig.text(
        0.5,
        0.985,
        f"Jacobian of f = {je.source} at {je.point_text}",
        ha="center",
        va="top",
        fontsize=14,
        fontweight="bold",
    )
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    _shrink(heading, 0.98 * fig.bbox.width, renderer)
    verdict = fig.text(
        0.5,
        _top(fig, 0.45),
        f"{n} inputs, {m} outputs: {je.verdict}",
        ha="center",
        va="top",
        fontsize=12,
        color=TANGENT if n < m else (ADJOINT if m < n else "black"),
    )
    _shrink(verdict, 0.98 * fig.bbox.width, renderer)
    shown_n, shown_m = min(n, MAX_TRIPS), min(m, MAX_TRIPS)
    cols = max(shown_n, shown_m)
    grid = fig.add_gridspec(
        2, cols, left=0.01, right=0.99, top=_top(fig, 1.05), bottom=0.35 / size[1], hspace=0.25, wspace=0.05
    )

    class _View:  # the records as a panel reads them (lay out once, on the graph's own nodes)
        nodes = je.nodes
        inputs = je.inputs

    lay = _ordered_layout(_View)  # type: ignore[arg-type]
    outputs = set(je.outputs)

    def look(nd: NodeRecord, number: str, colour: str, ring: bool) -> Look:
        face = "#fff7d6" if nd.kind == "input" else ("#e3f1e3" if nd.name in outputs else "#eef2f7")
        lines = [(nd.name, "black", "normal"), (number, colour, "bold")]
        return Look(
            lines, [f" {t} " for t, _, _ in lines], face, colour if ring else "#333333", 2.5 if ring else 1.0
        )

    panels = []
    for i, s in enumerate(je.inputs[:shown_n]):
        ax = fig.add_subplot(grid[0, i])
        looks = {nd.name: look(nd, fmt(nd.tangents.get(s)), TANGENT, nd.name == s) for nd in je.nodes}
        panels.append((ax, looks, f"pass {i + 1}: seed {s}  ->  column d/d{s}", TANGENT))
    for j, o in enumerate(je.outputs[:shown_m]):
        ax = fig.add_subplot(grid[1, j])
        adj = je.adjoints[o]
        looks = {nd.name: look(nd, fmt(adj[nd.name]), ADJOINT, nd.name == o) for nd in je.nodes}
        panels.append((ax, looks, f"sweep {j + 1}: seed {o}  ->  row {o}", ADJOINT))
    start = 5
    drawn = []
    for ax, looks, _, _ in panels:
        _, _, _, tried = _fit(fig, ax, _View, lay, lambda d, looks=looks: looks, start)  # type: ignore[arg-type]
        start = max(start, tried)
    for ax, looks, title, colour in panels:  # all panels at the font the most crowded one needed
        ax.cla()
        boxes = _nodes(ax, _View, lay, looks, _FITS[start][1])  # type: ignore[arg-type]
        t = ax.set_title(title, fontsize=9.5, color=colour)
        _shrink(t, ax.get_window_extent(renderer).width, renderer, smallest=5)
        drawn.append((ax, boxes))
    for ax, boxes in drawn:
        _edges(ax, _View, lay, boxes, renderer, 6.0, None)  # type: ignore[arg-type]
    left = []
    if n > shown_n:
        left.append(f"{n - shown_n} more forward passes")
    if m > shown_m:
        left.append(f"{m - shown_m} more reverse sweeps")
    if left:
        fig.text(0.5, 0.004, " and ".join(left) + " not drawn", ha="center", va="bottom", fontsize=9)
    return fig


# ------------------------------------------------------------------------------ step by step


def _step_templates(expl: Explanation, steps: Sequence[Step], detail: int) -> dict[str, list[str]]:
    """For each node, the widest text each of its lines takes in any frame."""
    third: dict[str, list[str]] = {n.name: [_adj_text("?", detail)] for n in expl.nodes}
    for st in steps:
        for name, terms in st.terms.items():
            third[name].append(_adj_text(sum_text(terms, st.adjoints[name]), detail))
        for name, t in st.tangents.items():
            third[name].append(_tan_text(fmt(t), detail))
    out = {}
    for n in expl.nodes:
        value = f"value {fmt(n.value)}" if detail >= 2 else fmt(n.value)
        lines = [_title(n, detail), value, max(third[n.name], key=len)]
        out[n.name] = [f" {t} " for t in lines]  # a margin: bold digits and letters differ in width
    return out


def _adj_text(s: str, detail: int) -> str:
    return f"adjoint {s}" if detail >= 2 else s


def _tan_text(s: str, detail: int) -> str:
    return f"tangent {s}" if detail >= 2 else s


def _step_looks(
    expl: Explanation, step: Step, detail: int, templates: dict[str, list[str]]
) -> dict[str, Look]:
    """What every node shows after ``step``: computed values so far, the running adjoints, or the
    tangents of the current pass; the nodes the step touches are outlined."""
    looks = {}
    for n in expl.nodes:
        known = n.name in step.values
        name: Line = (_title(n, detail), "black" if known else PENDING, "normal")
        value: Line = (
            (f"value {fmt(n.value)}" if detail >= 2 else fmt(n.value), VALUE, "normal")
            if known
            else ("value ?" if detail >= 2 else "?", PENDING, "normal")
        )
        third: Line = ("", "black", "normal")
        edge, lw, face = "#333333" if known else PENDING, 1.8 if n.is_output else 1.0, _face(n)
        if step.phase == "evaluate" and n.name == step.node:
            edge, lw = HIGHLIGHT, 3.0
        elif step.phase == "reverse":
            if n.name in step.terms:
                total = step.adjoints[n.name]
                terms = step.terms[n.name]
                current = n.name == step.parent
                text = sum_text(terms, total) if current else fmt(total)
                third = (_adj_text(text, detail), ADJOINT, "bold")
            else:
                third = (_adj_text("?", detail), PENDING, "normal")
            if n.name == step.parent:
                edge, lw, face = HIGHLIGHT, 3.0, "#fde9d4"
            elif n.name == step.node:
                edge, lw = ADJOINT, 2.4
        elif step.phase == "forward":
            third = (_tan_text(fmt(step.tangents.get(n.name)), detail), TANGENT, "bold")
            if n.name == step.seed:
                edge, lw = TANGENT, 3.0
        looks[n.name] = Look([name, value, third], templates[n.name], face, edge, lw)
    return looks


_PHASES = {
    "evaluate": "forward evaluation, node by node",
    "reverse": "reverse sweep: one adjoint update per edge",
    "forward": "forward mode: one pass per seeded input",
}


def _caption(expl: Explanation, step: Step) -> str:
    if step.phase == "evaluate":
        n = expl.node(step.node)
        if n.kind == "input":
            return f"{n.name} = {fmt(n.value)}: an input"
        operands = ", ".join(f"{p} = {fmt(step.values[p])}" for p in dict.fromkeys(n.parents))
        return f"{n.name} = {n.definition} = {fmt(n.value)}" + (f"   (with {operands})" if operands else "")
    if step.phase == "reverse":
        p, c = step.parent, step.node
        g = step.adjoints[c]  # type: ignore[index]
        total = step.adjoints[p]  # type: ignore[index]
        return (
            f"adj({p}) += ∂{c}/∂{p} × adj({c}) = {fmt(step.partial)} × {fmt(g)} = {fmt(step.contribution)}"
            f"      adj({p}) = {sum_text(step.terms[p], total)}"  # type: ignore[index]
        )
    s = step.seed
    return (
        f"seed d{s} = 1 (the other inputs 0), push tangents forward along the edges:   "
        f"df/d{s} = {fmt(step.tangents.get(expl.output))}"  # type: ignore[arg-type]
    )


def _draw_step(
    fig: Figure, expl: Explanation, lay: Layout, steps: Sequence[Step], number: int, fit: tuple[int, float]
) -> None:
    step, total = steps[number - 1], len(steps)
    detail, fs = fit
    h = fig.get_figheight()
    fig.text(
        0.5,
        0.985,
        f"f = {expl.source}" + (f" at {expl.point_text}" if expl.point else ""),
        ha="center",
        va="top",
        fontsize=14,
        fontweight="bold",
    )
    colour = {"evaluate": VALUE, "reverse": ADJOINT, "forward": TANGENT}[step.phase]
    fig.text(
        0.5,
        _top(fig, 0.5),
        f"step {step.number} of {total}: {_PHASES[step.phase]}",
        ha="center",
        va="top",
        fontsize=12,
        color=colour,
    )
    fig.text(
        0.5,
        0.35 / h,
        _caption(expl, step),
        ha="center",
        va="center",
        fontsize=13,
        bbox={"boxstyle": "round,pad=0.4", "fc": "#fafafa", "ec": colour},
    )
    ax = fig.add_axes((0.01, 0.8 / h, 0.98, _top(fig, 0.95) - 0.8 / h))
    templates = _step_templates(expl, steps, detail)
    boxes = _nodes(ax, expl, lay, _step_looks(expl, step, detail, templates), fs)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    highlight = (step.node, step.slot) if step.phase == "reverse" else None
    _edges(
        ax,
        expl,
        lay,
        boxes,
        renderer,
        max(fs - 1.5, 4.0),
        _edge_labels(expl, detail),
        highlight,
        backward=True,
    )


def _step_fit(
    expl: Explanation, steps: Sequence[Step], lay: Layout, size: tuple[float, float], dpi: float
) -> tuple[int, float]:
    """The (detail, font size) at which every frame's boxes fit: fitted on the widest lines."""
    fig = _new_figure(size, dpi)
    h = size[1]
    ax = fig.add_axes((0.01, 0.8 / h, 0.98, _top(fig, 0.95) - 0.8 / h))

    def looks(detail: int) -> dict[str, Look]:
        templates = _step_templates(expl, steps, detail)
        return {n: Look([(t, "black", "normal") for t in lines], lines) for n, lines in templates.items()}

    _, detail, fs, _ = _fit(fig, ax, expl, lay, looks)
    return detail, fs


def step_figure(
    expl: Explanation,
    number: int,
    *,
    size: tuple[float, float] | None = None,
    dpi: float = DPI,
    engine: str = "auto",
) -> Figure:
    """Frame ``number`` (1-based) of the step-by-step explanation (see :meth:`Explanation.steps`)."""
    steps = expl.steps()
    if not 1 <= number <= len(steps):
        raise ValueError(f"step {number} does not exist: there are {len(steps)} steps")
    size = size or step_size(expl, engine)
    lay = layout(expl, engine)
    fig = _new_figure(size, dpi)
    _draw_step(fig, expl, lay, steps, number, _step_fit(expl, steps, lay, size, dpi))
    return fig


def step_size(expl: Explanation, engine: str = "auto") -> tuple[float, float]:
    """The default frame size in inches: a 16:9 slide, scaled up when the graph needs it."""
    width, n_layers = _shape(layout(expl, engine))
    scale = max(1.0, (1.05 * width + 0.3) / SLIDE[0], (0.85 * n_layers + 1.9) / SLIDE[1])
    return round(SLIDE[0] * scale, 2), round(SLIDE[1] * scale, 2)


def _frames(expl: Explanation, size: tuple[float, float], dpi: float, engine: str) -> Iterable[Figure]:
    """Each step's frame in turn, all drawn into one figure (cleared between frames)."""
    steps = expl.steps()
    if not expl.nodes:
        raise ValueError(f"f = {expl.source} is a constant: there are no steps to draw")
    lay = layout(expl, engine)
    fit = _step_fit(expl, steps, lay, size, dpi)
    fig = _new_figure(size, dpi)
    for number in range(1, len(steps) + 1):
        fig.clear()
        _draw_step(fig, expl, lay, steps, number, fit)
        yield fig


def save_frames(
    expl: Explanation,
    out_dir: str | Path,
    stem: str = "step",
    formats: Sequence[str] = ("png",),
    *,
    size: tuple[float, float] | None = None,
    dpi: float = DPI,
    engine: str = "auto",
) -> list[Path]:
    """One numbered file per step and format: ``out_dir/stem-01.png``, ...; returns the paths."""
    _check_formats(formats)
    size = size or step_size(expl, engine)
    width = len(str(len(expl.steps())))
    paths = []
    for i, fig in enumerate(_frames(expl, size, dpi, engine), 1):
        for ext in formats:
            paths.append(save(fig, Path(out_dir) / f"{stem}-{i:0{max(width, 2)}d}.{ext}", dpi))
    return paths


def save_animation(
    expl: Explanation,
    path: str | Path,
    *,
    size: tuple[float, float] | None = None,
    dpi: float = 100,
    seconds_per_step: float = 1.5,
    engine: str = "auto",
) -> Path:
    """The steps as one animated GIF (matplotlib's Pillow writer), one frame per step."""
    from matplotlib.animation import PillowWriter

    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"the animation is a GIF: give a path ending in .gif, got {path.name}")
    if not seconds_per_step > 0:
        raise ValueError(f"seconds_per_step must be positive, got {seconds_per_step}")
    path.parent.mkdir(parents=True, exist_ok=True)
    size = size or step_size(expl, engine)
    writer = PillowWriter(fps=1 / seconds_per_step)
    frames = iter(_frames(expl, size, dpi, engine))
    fig = next(frames)
    writer.setup(fig, str(path), dpi=dpi)
    try:
        writer.grab_frame()
        for _ in frames:
            writer.grab_frame()
    finally:
        writer.finish()
    return path


__all__ = [
    "ADJOINT",
    "DPI",
    "FORMATS",
    "MAX_SEED_PANELS",
    "SLIDE",
    "TANGENT",
    "VALUE",
    "crossings",
    "draw",
    "figure",
    "figure_size",
    "graphviz_layout",
    "jacobian_figure",
    "label_boxes",
    "layered_layout",
    "layers",
    "layout",
    "overlaps",
    "parse_size",
    "save",
    "save_animation",
    "save_frames",
    "seed_panels",
    "step_figure",
    "step_size",
]

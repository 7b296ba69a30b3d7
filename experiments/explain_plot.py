"""The article's picture for any expression: the computation graph of an :class:`Explanation`.

Inputs at the bottom, operations in layers above them, the output on top. Each node is labelled
with its value (blue) and its adjoint ``df/dnode`` after the reverse sweep (red); each edge with
the local partial ``d child / d parent`` stored on the tape. Below, one small panel per forward
pass: the same graph with every node's tangent (green) when that input is seeded.

Drawn with matplotlib only (an object-oriented ``Figure``, no pyplot state, Agg for PNG and the
SVG backend for SVG). If Graphviz's ``dot`` is already installed it is used to place the nodes
(``layout(..., engine="graphviz")``, or ``"auto"``); otherwise, or if it fails, a layered layout
computed here places them (longest path from the inputs, then parents' barycentre within a layer).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from modes.explain import Explanation, fmt

VALUE = "#1f5fbf"  # blue: values
ADJOINT = "#c0392b"  # red: adjoints
TANGENT = "#1e8449"  # green: tangents
EDGE = "#555555"
DPI = 100
#: Graphs with more nodes than this are not drawn (the picture would be unreadable).
MAX_NODES = 60
#: More inputs than this: no per-seed panels (one pass per input would not fit).
MAX_SEED_PANELS = 6

Position = tuple[float, float]


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


def layered_layout(expl: Explanation) -> Layout:
    """A Sugiyama-style layered layout, small enough to read.

    Layers by longest path; an edge that skips layers gets a dummy point in each layer it
    crosses (so it is routed around the nodes, not through them); inputs keep their order and
    each later layer is ordered by the mean position of its predecessors. Nodes take one unit of
    width, dummies half a unit.
    """
    layer = layers(expl)
    items: dict[int, list[tuple[str, ...]]] = {}  # layer -> ("n", name) | ("d", parent, child)
    preds: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for n in expl.nodes:
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
        total = sum(widths)
        x = -total / 2
        for k, w in zip(row, widths):
            xy[k] = (x + w / 2, float(lv))
            x += w
    pos = {k[1]: v for k, v in xy.items() if k[0] == "n"}
    bends: dict[tuple[str, str], list[Position]] = {}
    for k, v in sorted(xy.items(), key=lambda kv: kv[1][1]):
        if k[0] == "d":
            bends.setdefault((k[1], k[2]), []).append(v)
    return Layout(pos, bends)


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
    return layered_layout(expl)


# ------------------------------------------------------------------------------------ drawing


def _shape(lay: Layout) -> tuple[float, int]:
    """(width in slots, number of layers) of a layout, bends included."""
    if not lay.pos:
        return 1.0, 1
    points = [*lay.pos.values(), *(q for bend in lay.bends.values() for q in bend)]
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    return max(xs) - min(xs) + 1, round(max(ys) - min(ys)) + 1


def seed_panels(expl: Explanation, seeds: bool = True) -> tuple[str, ...]:
    """The inputs that get a forward-mode panel (none if there are too many)."""
    if not seeds or len(expl.inputs) > MAX_SEED_PANELS:
        return ()
    return expl.inputs


def figure_size(expl: Explanation, seeds: bool = True, engine: str = "auto") -> tuple[float, float]:
    """The figure's (width, height) in inches; the PNG is this times :data:`DPI` pixels."""
    width, n_layers = _shape(layout(expl, engine))
    w = max(9.0, 2.5 * width + 1.2)
    h = 1.5 * n_layers + 1.6
    panels = seed_panels(expl, seeds)
    if panels:
        rows = math.ceil(len(panels) / 3)
        h += rows * (1.05 * n_layers + 1.1)
    return round(w, 2), round(h + 0.9, 2)


def _extent(ax: Axes, renderer: object, t: Text) -> tuple[float, float, float, float]:
    """A node box's (x0, y0, x1, y1) in data coordinates, from a drawn figure."""
    patch = t.get_bbox_patch()
    bb = (patch if patch is not None else t).get_window_extent(renderer)
    (x0, y0), (x1, y1) = ax.transData.inverted().transform([(bb.x0, bb.y0), (bb.x1, bb.y1)])
    return x0, y0, x1, y1


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


def _panel(ax: Axes, expl: Explanation, lay: Layout, seed: str | None, small: bool) -> list[tuple[Text, str]]:
    """Nodes of one panel, each a box of three lines: name (black), value (blue), adjoint (red)
    or tangent (green). Returns the boxes' texts (edges are added after a first draw)."""
    ax.set_axis_off()
    pos = lay.pos
    _, n_layers = _shape(lay)
    xs = [x for x, _ in pos.values()] + [x for bend in lay.bends.values() for x, _ in bend]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(-0.5, n_layers - 1 + 0.62)
    fs = 8.5 if small else 10.5
    texts = []
    for n in expl.nodes:
        x, y = pos[n.name]
        name = n.name if (small or n.kind == "input") else f"{n.name} = {n.definition}"
        if seed is None:
            lines = [
                (name, "black", "normal"),
                (f"value {fmt(n.value)}", VALUE, "normal"),
                (f"adjoint {fmt(n.adjoint)}", ADJOINT, "bold"),
            ]
        elif small:
            lines = [
                (name, "black", "normal"),
                (fmt(n.value), VALUE, "normal"),
                (fmt(n.tangents.get(seed)), TANGENT, "bold"),
            ]
        else:
            lines = [
                (name, "black", "normal"),
                (f"value {fmt(n.value)}", VALUE, "normal"),
                (f"tangent {fmt(n.tangents.get(seed))}", TANGENT, "bold"),
            ]
        face = "#fff7d6" if n.kind == "input" else ("#e3f1e3" if n.is_output else "#f4f4f4")
        # the box: an invisible copy of the three lines sizes it; the lines are drawn on top in colour
        box = ax.text(
            x,
            y,
            "\n".join(text for text, _, _ in lines),
            ha="center",
            va="center",
            fontsize=fs,
            fontweight="bold",
            color=(0, 0, 0, 0),
            zorder=3,
            linespacing=1.3,
            bbox={
                "boxstyle": "round,pad=0.4",
                "fc": face,
                "ec": "#333333",
                "lw": 1.8 if n.is_output else 1.0,
            },
        )
        for i, (text, colour, weight) in enumerate(lines):
            ax.annotate(
                text,
                xy=(0.5, 1 - (2 * i + 1) / 6),
                xycoords=box,
                ha="center",
                va="center",
                fontsize=fs,
                color=colour,
                fontweight=weight,
                zorder=4,
            )
        texts.append((box, n.name))
        if n.is_output:
            ax.annotate(
                "f",
                xy=(0.5, 1),
                xytext=(0, 8),
                ha="center",
                va="bottom",
                fontsize=fs + 2,
                fontweight="bold",
                xycoords=box,
                textcoords="offset points",
            )
    return texts


def _arc_midpoint(ax: Axes, a: Position, b: Position, rad: float) -> Position:
    """The midpoint of matplotlib's ``arc3`` curve from ``a`` to ``b`` (computed in display space)."""
    to_px = ax.transData
    (ax_, ay), (bx, by) = to_px.transform([a, b])
    mx, my = (ax_ + bx) / 2, (ay + by) / 2
    dx, dy = bx - ax_, by - ay
    cx, cy = mx + rad * dy, my - rad * dx  # the Bezier control point
    x, y = to_px.inverted().transform(((mx + cx) / 2, (my + cy) / 2))
    return float(x), float(y)


def _edges(
    ax: Axes, expl: Explanation, lay: Layout, texts: list[tuple[Text, str]], renderer: object, small: bool
) -> None:
    """Edges parent -> child, stopping at the boxes, routed through their bends, with partials.

    An operand used twice (``a * a``) gives two edges, drawn as two arcs bending apart.
    """
    boxes = {name: _extent(ax, renderer, t) for t, name in texts}
    placed = [t.get_bbox_patch().get_window_extent(renderer) for t, _ in texts]  # type: ignore[union-attr]
    fs = 7.5 if small else 9.5
    style = {"color": EDGE, "lw": 1.1}
    for n in expl.nodes:
        count = {p: n.parents.count(p) for p in n.parents}
        seen: dict[str, int] = {}
        partials = n.partials if n.partials else (None,) * len(n.parents)
        for p, d in zip(n.parents, partials):
            k = seen.get(p, 0)
            seen[p] = k + 1
            pts = [lay.pos[p], *lay.bends.get((p, n.name), []), lay.pos[n.name]]
            start = _clip(pts[0], pts[1], boxes[p], 0.02)
            end = _clip(pts[-1], pts[-2], boxes[n.name], 0.02)
            path = [start, *pts[1:-1], end]
            rad = 0.0 if count[p] == 1 else 0.5 * (k - (count[p] - 1) / 2)
            if len(path) > 2:
                ax.plot([q[0] for q in path[:-1]], [q[1] for q in path[:-1]], zorder=1, **style)
            ax.annotate(
                "",
                xy=end,
                xytext=path[-2],
                zorder=1,
                arrowprops={
                    "arrowstyle": "-|>",
                    "shrinkA": 0,
                    "shrinkB": 0,
                    "connectionstyle": f"arc3,rad={rad}",
                    "mutation_scale": 10 if small else 14,
                    **style,
                },
            )
            if d is None:
                continue
            label = fmt(d) if small else f"∂{n.name}/∂{p} = {fmt(d)}"
            a, b = path[-2], end  # the segment entering the child
            t = ax.text(
                0,
                0,
                label,
                ha="center",
                va="center",
                fontsize=fs,
                color="#222222",
                zorder=2,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9},
            )
            # slide the label along its segment until it overlaps no other label and no node
            for f in (0.5, 0.38, 0.62, 0.28, 0.72, 0.5):
                if rad:
                    x, y = _arc_midpoint(ax, a, b, rad)
                else:
                    x, y = a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])
                t.set_position((x, y))
                bb = t.get_window_extent(renderer).expanded(1.05, 1.1)
                if not any(bb.overlaps(o) for o in placed) or rad:
                    break
            placed.append(t.get_window_extent(renderer))


def figure(expl: Explanation, seeds: bool = True, engine: str = "auto") -> Figure:
    """The graph as a matplotlib Figure (with an Agg canvas); see :func:`draw` to save it."""
    if len(expl.nodes) > MAX_NODES:
        raise ValueError(f"the graph has {len(expl.nodes)} nodes; at most {MAX_NODES} are drawn")
    lay = layout(expl, engine)
    panels = seed_panels(expl, seeds)
    w, h = figure_size(expl, seeds, engine)
    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    at = f" at {expl.point_text}" if expl.point else ""
    fig.suptitle(f"f = {expl.source}{at}", fontsize=14, fontweight="bold", y=1 - 0.2 / h, va="top")
    if not expl.nodes:
        fig.text(0.5, 0.5, f"f = {fmt(expl.value)} is a constant: there is no graph to draw", ha="center")
        return fig
    _, n_layers = _shape(lay)
    main_h = 1.5 * n_layers + 1.6
    cols = min(len(panels), 3) if panels else 1
    rows = math.ceil(len(panels) / 3) if panels else 0
    seed_h = 1.05 * n_layers + 1.1
    grid = fig.add_gridspec(
        1 + rows,
        cols,
        height_ratios=[main_h] + [seed_h] * rows,
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - 1.0 / h,
        hspace=0.18,
        wspace=0.04,
    )
    drawn: list[tuple[Axes, list[tuple[Text, str]], bool]] = []
    ax = fig.add_subplot(grid[0, :])
    ax.set_title(
        "reverse mode: value (blue) and adjoint df/dnode after one backward sweep (red); "
        "edges: local partials",
        fontsize=10.5,
    )
    drawn.append((ax, _panel(ax, expl, lay, None, small=False), False))
    for i, s in enumerate(panels):
        sub = fig.add_subplot(grid[1 + i // 3, i % 3])
        sub.set_title(
            f"forward pass seeding {s} (d{s} = 1)\nvalue (blue), tangent d(node)/d{s} (green)", fontsize=9.5
        )
        drawn.append((sub, _panel(sub, expl, lay, s, small=True), True))
    if len(expl.inputs) > MAX_SEED_PANELS and seeds:
        fig.text(0.5, 0.005, f"({len(expl.inputs)} inputs: per-seed panels omitted)", ha="center", fontsize=9)
    fig.canvas.draw()  # lay the text out once so that edges can stop at the node boxes
    renderer = fig.canvas.get_renderer()
    for a, texts, small in drawn:
        _edges(a, expl, lay, texts, renderer, small)
    return fig


def draw(
    expl: Explanation,
    out_dir: str | Path,
    stem: str = "explain-graph",
    formats: Sequence[str] = ("png", "svg"),
    seeds: bool = True,
    engine: str = "auto",
) -> list[Path]:
    """Save the graph as ``out_dir/stem.png`` and ``.svg`` (creating ``out_dir``); return the paths."""
    fig = figure(expl, seeds=seeds, engine=engine)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = out / f"{stem}.{ext}"
        metadata = {"Date": None} if ext == "svg" else {"Software": None}
        with rc_context({"svg.hashsalt": "compare-modes"}):  # stable ids: reproducible SVGs
            fig.savefig(path, format=ext, dpi=DPI, metadata=metadata)
        paths.append(path)
    return paths


__all__ = [
    "ADJOINT",
    "DPI",
    "MAX_NODES",
    "MAX_SEED_PANELS",
    "TANGENT",
    "VALUE",
    "draw",
    "figure",
    "figure_size",
    "graphviz_layout",
    "layered_layout",
    "layers",
    "layout",
    "seed_panels",
]

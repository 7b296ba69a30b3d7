"""The report's figures, drawn from saved cells only (never re-timed), with matplotlib's object API
(a :class:`~matplotlib.figure.Figure`, no pyplot state; PNG through Agg, SVG through its own backend).

Each builder takes the cells of one run and returns a figure, or raises :class:`NoDataError` saying
what the figure would need; the report then prints that sentence in the figure's place.

1. :func:`time_figure`: time per call against n (or a ``--sizes`` run's size at a fixed n),
   log-log, per mode with its interquartile band, f alone for reference, O(n) and O(n^2) guides,
   and each mode's fitted slope in the legend;
2. :func:`speedup_figure`: reverse mode's speedup over forward mode, with the ideal (forward
   passes per reverse sweep) and the crossover n* (a Jacobian's chunked reverse mode against
   chunked forward mode too, where it was timed);
3. :func:`audit_figure`: time relative to f alone, against the 3-4x band of the cheap-gradient
   principle;
4. :func:`counts_figure`: forward passes and reverse sweeps, and primitive evaluations;
5. :func:`memory_figure`: peak memory, and below it reverse mode's bytes per recorded operation;
6. :func:`chunk_figure`: forward-mode time against the chunk size at one n, reverse as a line;
7. :func:`heatmap_figure`: for a Jacobian measured over a grid of (n, m), the faster mode and by
   how much, with the n = m line.

Legends sit below the axes, never over the data. Cells that were not timed are drawn as such:
hollow markers at their predicted time where the run predicted one, crosses on the n axis
otherwise (the table says why).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context, rcParams
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatterSciNotation, NullFormatter
from matplotlib.transforms import blended_transform_factory

from experiments import fits
from experiments.human import human_bytes, human_seconds
from experiments.peers import figures as peer_figures
from experiments.report_data import (
    TAPE_MODES,
    Cell,
    best_forward,
    best_reverse,
    bytes_per_op,
    cell_at,
    in_chunk_sweep,
    main_cells,
    modes_present,
    not_timed,
    series,
    timed,
)
from experiments.results import (
    FORWARD,
    FORWARD_CHUNKED,
    FORWARD_MODES,
    FUNCTION,
    REVERSE,
    REVERSE_CHUNKED,
    REVERSE_MODES,
    REVERSE_REPLAY,
)

DPI = 150
SIZE = (7.2, 4.6)  # inches: 1080 x 690 pixels at DPI, legible at a README's width
STYLE = {
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.labelsize": 10.5,
    "legend.fontsize": 9.5,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "compare-modes",  # stable SVG ids: a regenerated report is identical
}
#: Okabe-Ito colours (readable with colour-blindness).
COLOR = {
    FUNCTION: "#555555",
    FORWARD: "#D55E00",
    FORWARD_CHUNKED: "#E69F00",
    REVERSE: "#0072B2",
    REVERSE_CHUNKED: "#CC79A7",
    REVERSE_REPLAY: "#56B4E9",
}
LABEL = {
    FUNCTION: "f alone",
    FORWARD: "forward, chunk 1",
    FORWARD_CHUNKED: "forward, chunked",
    REVERSE: REVERSE,
    REVERSE_CHUNKED: "reverse, chunked",
    REVERSE_REPLAY: "reverse, replayed tape",
}
MARKER = {
    FUNCTION: "s",
    FORWARD: "o",
    FORWARD_CHUNKED: "D",
    REVERSE: "^",
    REVERSE_CHUNKED: "P",
    REVERSE_REPLAY: "v",
}
GUIDE = "#888888"
BAND = "#009E73"
#: Log axes with fewer powers of ten than this in view also label their 2s and 5s (a short axis
#: still shows a few numbers).
MINOR_LABELS = 2.5
#: The memory figure's forward (chunk 1) line: above the chunked one, which it often covers.
MEMORY_ON_TOP = {"ls": (0, (4, 2)), "mfc": "none", "ms": 7, "mew": 1.4, "zorder": 4}
#: Where a heat map row's crossover star sits, as a fraction of the row's (log) height from its
#: bottom edge: under the cell labels, which are centred on the row.
STAR_HEIGHT = 0.18
#: The share of the bytes-per-operation panel's height its data may take (the top is for the values
#: written there).
PER_OP_DATA_HEIGHT = 0.68
#: Griewank and Walther's bound: a reverse gradient costs a small constant times f (3 to 4).
CHEAP_GRADIENT = (3.0, 4.0)


class NoDataError(Exception):
    """The cells do not hold what a figure needs; the message says what is missing."""


# ---------------------------------------------------------------------------- shared helpers


class _LogLabels(LogFormatterSciNotation):
    """Log-axis labels in words, not powers: on every power of ten, and (``minor=True``) on the
    2s and 5s between them when the axis spans fewer than :data:`MINOR_LABELS` decades."""

    def __init__(self, minor: bool = False) -> None:
        super().__init__(labelOnlyBase=not minor, minor_thresholds=(MINOR_LABELS, math.inf))
        self.minor = minor

    def __call__(self, x: float, pos: int | None = None) -> str:
        if x <= 0 or not super().__call__(x, pos):
            return ""
        if self.minor:
            mantissa = x / 10 ** math.floor(math.log10(x) + 1e-9)
            if min(abs(mantissa - 2), abs(mantissa - 5)) > 1e-6:
                return ""
        return self.text(x)

    def text(self, x: float) -> str:
        return f"{x:,.0f}" if x >= 1 else f"{x:g}"


class _Seconds(_LogLabels):
    """Durations: ``10 ms``."""

    def text(self, x: float) -> str:
        return human_seconds(x)


def binary_bytes(x: float) -> str:
    """A power-of-two size in the tables' binary units: ``512 B``, ``4 KiB``, ``16 MiB``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if x >= scale:
            return f"{x / scale:g} {unit}"
    return f"{x:g} B"


def _binary_ticks(ax: Axes) -> None:
    """Byte ticks at powers of two (1 KiB, 4 KiB, ... a step that keeps 1 KiB and 1 MiB on the
    axis), labelled in KiB/MiB as the tables are, at most eight of them."""
    lo, hi = ax.get_ylim()
    first, last = math.ceil(math.log2(max(lo, 1.0))), math.floor(math.log2(max(hi, 1.0)))
    step = next(k for k in (1, 2, 5, 10, 20) if (last - first) // k < 8)
    ticks = [2.0**e for e in range(first, last + 1) if e % step == 0]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: binary_bytes(x)))
    ax.yaxis.set_minor_locator(FixedLocator([]))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(lo, hi)


class _Plain(_LogLabels):
    """Plain numbers: ``1,000``, ``0.5``."""


def _figure(size: tuple[float, float] = SIZE, **kw: Any) -> Figure:
    return Figure(figsize=size, dpi=DPI, layout="constrained", **kw)


def _loglog(ax: Axes, y_formatter: _LogLabels | None = None) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(_Plain())
    ax.xaxis.set_minor_formatter(_Plain(minor=True))
    if y_formatter is not None:
        ax.yaxis.set_major_formatter(y_formatter)
        ax.yaxis.set_minor_formatter(type(y_formatter)(minor=True))


def _legend(ax: Axes, handles: Sequence[Any] | None = None, ncol: int = 2) -> None:
    """The legend below the axes, outside the data area (the layout makes room for it)."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    _figure_legend(ax.figure, list(handles), ncol)


def _figure_legend(fig: Figure, handles: list[Any], ncol: int, labels: list[str] | None = None) -> None:
    """A legend below the axes whose entries are wrapped to fit their column, so that no long
    label (a crossover, a fitted slope) runs past the figure's edge and is clipped."""
    texts = labels if labels is not None else [h.get_label() for h in handles]
    width = legend_chars(fig, ncol)
    fig.legend(
        handles=handles,
        labels=[textwrap.fill(t, width, break_on_hyphens=False) for t in texts],
        loc="outside lower center",
        ncol=ncol,
        frameon=False,
        handlelength=2.2,
        columnspacing=1.4,
    )


def legend_chars(fig: Figure, ncol: int) -> int:
    """Characters a legend entry may hold per line in one of ``ncol`` columns across ``fig``: the
    column's width less the handle and spacing, over a generous average character width."""
    size = FontProperties(size=rcParams["legend.fontsize"]).get_size_in_points()
    column = fig.get_figwidth() * 72 / ncol - (2.2 + 0.8 + 1.4) * size - 12
    return max(20, int(column / (0.6 * size)))


def _unit(cells: Sequence[Cell]) -> str:
    return "Jacobian" if any(c.get("kind") == "jacobian" for c in cells) else "gradient"


def _arr(values: Iterable[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _estimate(c: Cell) -> float | None:
    """A cell that was not timed: its one untimed call if it got that far, else its prediction."""
    if c.get("status") != "skipped":
        return None
    v = c.get("first_call_s") or c.get("predicted_time_s")
    return float(v) if v else None


def _absent(ax: Axes, ns: Sequence[float], color: str) -> None:
    """Crosses on the n axis at sizes where nothing could be measured."""
    if ns:
        ax.scatter(
            ns,
            [0.0] * len(ns),
            transform=blended_transform_factory(ax.transData, ax.transAxes),
            marker="x",
            s=42,
            color=color,
            linewidths=1.6,
            clip_on=False,
            zorder=5,
        )


_ABSENT = Line2D([], [], ls="none", marker="x", color="#333333", label="× on the n axis: not measured")
_ABSENT_SIZE = Line2D(
    [], [], ls="none", marker="x", color="#333333", label="× on the size axis: not measured"
)
_PREDICTED = Line2D(
    [], [], ls="none", marker="o", mfc="none", color="#333333", label="hollow: not timed, predicted time"
)


def _mode_series(
    ax: Axes, cells: Sequence[Cell], mode: str, value: Callable[[Cell], float | None], label: str, **kw: Any
) -> tuple[list[float], bool]:
    """Plot ``value(cell)`` against n for one mode; sizes with no value get a cross on the n axis.
    Returns (sizes plotted, whether any cross was drawn)."""
    rows = [c for c in main_cells(cells) if c.get("mode") == mode]
    have = sorted(((c["n"], value(c)) for c in rows if value(c) is not None), key=lambda t: t[0])
    missing = sorted({c["n"] for c in rows} - {n for n, _ in have})
    if have:
        style = {
            "color": COLOR.get(mode),
            "marker": MARKER.get(mode, "o"),
            "ms": 5,
            "ls": "--" if mode == FUNCTION else "-",
            **kw,
        }
        ax.plot([n for n, _ in have], [v for _, v in have], label=label, **style)
    _absent(ax, missing, COLOR.get(mode, "#333333"))
    return [n for n, _ in have], bool(missing)


# ----------------------------------------------------------------------------- 1. time vs n


def _hollow(ax: Axes, points: Sequence[tuple[float, float]], mode: str) -> None:
    """Hollow markers in ``mode``'s style at ``points``: cells not timed, at their estimate."""
    ax.scatter(
        [x for x, _ in points],
        [y for _, y in points],
        marker=MARKER[mode],
        s=36,
        facecolors="none",
        edgecolors=COLOR[mode],
        linewidths=1.3,
        zorder=4,
    )


def time_figure(
    cells: Sequence[Cell], title: str, peers: Sequence[Cell] = (), size: str | None = None
) -> Figure:
    """Median time per call against n, log-log, one line per mode with its IQR band (and the
    ``peers``' reverse gradients dashed, from ``--peers``). ``size``: the cells' ``n`` is a
    problem size (a ``--sizes`` run at a fixed input count, :func:`report_data.against_size`),
    named so on the x axis; its guide is then O(size) alone."""
    present = [m for m in modes_present(cells) if series(cells, m)]
    if not present or len({c["n"] for m in present for c in series(cells, m)}) < 2:
        what = "problem sizes" if size else "input counts n"
        raise NoDataError(f"the time figure needs a mode timed at two or more {what}")
    fig = _figure()
    ax = fig.add_subplot()
    _loglog(ax, _Seconds())
    extra: list[Any] = []
    absent = _ABSENT if size is None else _ABSENT_SIZE
    for mode in present:
        pts = series(cells, mode)
        ns = [c["n"] for c in pts]
        fit = fits.fit_slope(pts)
        label = LABEL[mode] + (f": slope {fit.text()}" if fit else "")
        ax.plot(
            ns,
            [c["time_median_s"] for c in pts],
            color=COLOR[mode],
            marker=MARKER[mode],
            ms=5,
            ls="--" if mode == FUNCTION else "-",
            label=label,
            zorder=3,
        )
        q1, q3 = _arr(c.get("time_q1_s") for c in pts), _arr(c.get("time_q3_s") for c in pts)
        ok = ~(np.isnan(q1) | np.isnan(q3))
        if ok.any():
            ax.fill_between(
                np.array(ns, dtype=float),
                q1,
                q3,
                where=ok,
                color=COLOR[mode],
                alpha=0.18,
                lw=0,
                interpolate=False,
            )
        # not timed: at the predicted time (hollow), or a cross on the n axis
        guessed = [(c["n"], _estimate(c)) for c in not_timed(cells, mode)]
        est = [(n, t) for n, t in guessed if t is not None]
        if est:
            _hollow(ax, est, mode)
            if _PREDICTED not in extra:
                extra.append(_PREDICTED)
        bare = [n for n, t in guessed if t is None]
        _absent(ax, bare, COLOR[mode])
        if bare and absent not in extra:
            extra.append(absent)
    peer_figures.draw_times(ax, peers)
    # O(n) through reverse mode's first point, O(n^2) through forward mode's first point (against
    # a problem size at a fixed n, every mode makes the same passes at each size: O(size) alone)
    anchors = {REVERSE: ("O(n)", 1), FORWARD: ("O(n²)", 2)} if size is None else {REVERSE: ("O(size)", 1)}
    first = series(cells, present[0])[0]
    x = "n" if size is None else "size"
    for mode, (name, k) in anchors.items():
        pts = series(cells, mode) or [first]
        n0, t0 = pts[0]["n"], pts[0]["time_median_s"]
        through = LABEL.get(pts[0]["mode"], "the first point")
        ax.axline(
            (n0, t0),
            (n0 * 10, t0 * 10**k),
            color=GUIDE,
            lw=1.1,
            ls=":" if k == 1 else "-.",
            zorder=1,
            label=f"{name} guide, through {through} at {x} = {n0}",
        )
    ax.margins(x=0.06)
    ax.set_xlabel("inputs n" if size is None else size)
    unit = _unit(cells)
    ax.set_ylabel(f"time per {unit} (median, seconds)")
    ax.set_title(title)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color="#999999", alpha=0.35, lw=0, label="shaded: interquartile range"))
    _legend(ax, handles + extra)
    return fig


# ------------------------------------------------------------------------------- 2. speedup


def speedup_points(cells: Sequence[Cell], fwd_mode: str, rev_mode: str = REVERSE) -> list[tuple[Cell, Cell]]:
    """(forward cell, reverse cell) at each n where both were timed."""
    rev = {c["n"]: c for c in series(cells, rev_mode)}
    return [(f, rev[f["n"]]) for f in series(cells, fwd_mode) if f["n"] in rev]


#: The speedup figure's comparisons, (forward mode, reverse mode): each forward mode against
#: reverse mode, and (a Jacobian where it was timed) chunked forward against chunked reverse mode,
#: each side carrying c directions per pass or sweep (the fair fight the heat map also shows).
SPEEDUP_PAIRS = ((FORWARD, REVERSE), (FORWARD_CHUNKED, REVERSE), (FORWARD_CHUNKED, REVERSE_CHUNKED))


def speedup_label(fwd_mode: str, rev_mode: str, named: bool) -> str:
    """A comparison's legend name: the forward mode alone against plain reverse mode, unless
    ``named`` (the figure also compares against chunked reverse mode: both sides named)."""
    if rev_mode == REVERSE_CHUNKED:
        return "both chunked: forward ÷ reverse"
    return f"{LABEL[fwd_mode]} ÷ reverse" if named else LABEL[fwd_mode]


def speedup_figure(cells: Sequence[Cell], title: str, peers: Sequence[Cell] = ()) -> Figure:
    """Speedup of reverse over forward mode against n, with the ideal and the crossover n* (and
    the ``peers``' own forward/reverse ratios dashed, from ``--peers``). A Jacobian with chunked
    reverse mode timed gets a third line: chunked forward ÷ chunked reverse."""
    comparisons = [(f, r) for f, r in SPEEDUP_PAIRS if len(speedup_points(cells, f, r)) >= 2]
    if not comparisons:
        raise NoDataError(
            "the speedup figure needs forward and reverse mode timed at the same n, at two "
            "or more input counts n"
        )
    fig = _figure((7.2, 5.0 if len(comparisons) < 3 else 6.4))  # a third comparison: a longer legend
    ax = fig.add_subplot()
    _loglog(ax, _Plain())
    lo_n, hi_n = math.inf, 0.0
    handles: list[Any] = []
    hollow = False
    jac = _unit(cells) == "Jacobian"
    named = any(r == REVERSE_CHUNKED for _, r in comparisons)
    for mode, rev_mode in comparisons:
        rev_all = {c["n"]: c for c in main_cells(cells) if c.get("mode") == rev_mode}
        pairs = speedup_points(cells, mode, rev_mode)
        # a comparison's colour and marker: its forward mode's, or chunked reverse mode's
        style = rev_mode if rev_mode == REVERSE_CHUNKED else mode
        ns = np.array([f["n"] for f, _ in pairs], dtype=float)
        s = np.array([f["time_median_s"] / r["time_median_s"] for f, r in pairs])
        bounds = [fits.quartile_ratio(f, r) for f, r in pairs]
        err = np.array([[v - b[0], b[1] - v] if b else [0.0, 0.0] for v, b in zip(s, bounds)]).T
        fit = fits.fit_ratio_slope([f for f, _ in pairs], [r for _, r in pairs])
        label = speedup_label(mode, rev_mode, named) + (f": slope {fit.text()}" if fit else "")
        handles.append(
            ax.errorbar(
                ns,
                s,
                yerr=np.clip(err, 0, None),
                color=COLOR[style],
                marker=MARKER[style],
                ms=5,
                capsize=3,
                label=label,
                zorder=3,
            )
        )
        lo_n, hi_n = min(lo_n, ns.min()), max(hi_n, ns.max())
        # the ideal: forward passes per reverse sweep, at every n the run asked for
        fw_all = sorted(
            (c for c in main_cells(cells) if c.get("mode") == mode and c.get("passes")), key=lambda c: c["n"]
        )
        ideal = [(c["n"], c["passes"] / ((rev_all.get(c["n"]) or {}).get("sweeps") or 1)) for c in fw_all]
        what = ("n" if mode == FORWARD else "⌈n/c⌉") + (
            " / ⌈m/c⌉" if rev_mode == REVERSE_CHUNKED else " / m" if jac else ""
        )
        which = "both chunked" if rev_mode == REVERSE_CHUNKED else LABEL[mode].split(", ")[1]
        handles += ax.plot(
            [n for n, _ in ideal],
            [v for _, v in ideal],
            color=COLOR[style],
            ls="--",
            lw=1.2,
            alpha=0.8,
            label=f"ideal, {which}: {what}",
            zorder=2,
        )
        # estimated speedups where one side was over the budget
        est = []
        for n in sorted({c["n"] for c in main_cells(cells)} - set(ns.tolist())):
            f, r = cell_at(cells, n, None, mode), rev_all.get(n)
            tf = f and (f["time_median_s"] if timed(f) else _estimate(f))
            tr = r and (r["time_median_s"] if timed(r) else _estimate(r))
            if tf and tr:
                est.append((n, tf / tr))
        if est:
            _hollow(ax, est, style)
            hollow = True
            lo_n, hi_n = min(lo_n, est[0][0]), max(hi_n, est[-1][0])
        # the crossover, on the break-even line, with its interval
        co = fits.crossover([f for f, _ in pairs], [r for _, r in pairs])
        if co is not None and co.found and lo_n / 30 <= co.n_star <= hi_n * 30:
            xerr = None
            if co.low is not None and co.high is not None:
                xerr = [[co.n_star - co.low], [co.high - co.n_star]]
            face = COLOR[style] if co.how == "measured" else "white"
            handles.append(
                ax.errorbar(
                    [co.n_star],
                    [1.0],
                    xerr=xerr,
                    color=COLOR[style],
                    marker="*",
                    ms=13,
                    mfc=face,
                    capsize=4,
                    lw=1.6,
                    ls="none",
                    zorder=6,
                    label=_short(co),
                )
            )
            lo_n, hi_n = min(lo_n, co.low or co.n_star), max(hi_n, co.high or co.n_star)
        elif co is not None:
            handles.append(
                Line2D(
                    [], [], ls="none", marker="*", mfc="white", color=COLOR[style], ms=11, label=_short(co)
                )
            )
    handles += peer_figures.draw_speedups(ax, peers)
    handles.append(
        ax.axhline(1.0, color="#222222", lw=0.9, zorder=2, label="break-even (forward wins below)")
    )
    if hollow:
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                mfc="none",
                color="#333333",
                label="hollow: estimate (over budget)",
            )
        )
    ax.set_xlim(lo_n / 1.5, hi_n * 1.5)
    ax.set_xlabel("inputs n")
    ax.set_ylabel("speedup (forward time ÷ reverse time)")
    ax.set_title(title)
    _legend(ax, handles, ncol=2)
    return fig


def _short(co: fits.Crossover) -> str:
    """The crossover in a legend entry (the report's text says more)."""
    span = f"{min(co.sizes)} to {max(co.sizes)}"
    if not co.found:
        who = "reverse" if co.how == "below" else "forward"
        return f"no n* in {span}: {who} faster at every n"
    rng = f" ({_g(co.low)} to {_g(co.high)})" if co.low is not None and co.high is not None else ""
    return f"n* ≈ {_g(co.n_star)}{rng}" + (", extrapolated" if co.how != "measured" else "")


def _g(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x:.2g}" if x < 10 else f"{x:,.0f}"


# ------------------------------------------------------------------ 3. cheap-gradient audit


def audit_figure(cells: Sequence[Cell], title: str) -> Figure:
    """Time of each mode relative to f alone, with the 3-4x band of the cheap-gradient principle
    for a gradient (a Jacobian's reverse mode makes m sweeps, which that bound does not cover)."""
    f_time = {c["n"]: c["time_median_s"] for c in series(cells, FUNCTION)}
    ad = [m for m in modes_present(cells) if m != FUNCTION]

    def ratio(c: Cell) -> float | None:
        if not timed(c):
            return None
        if c.get("ratio_to_function"):
            return c["ratio_to_function"]
        return c["time_median_s"] / f_time[c["n"]] if c["n"] in f_time else None

    if len({c["n"] for c in main_cells(cells) if c.get("mode") in ad and ratio(c)}) < 2:
        raise NoDataError(
            "the cheap-gradient audit needs f alone and a derivative timed at the same n, "
            "at two or more input counts n"
        )
    fig = _figure()
    ax = fig.add_subplot()
    _loglog(ax, _Plain())
    crosses = False
    for mode in ad:
        got = [r for c in main_cells(cells) if c.get("mode") == mode and (r := ratio(c))]
        label = LABEL[mode] + (f": {min(got):.3g}× to {max(got):.3g}× f" if mode == REVERSE and got else "")
        _, missing = _mode_series(ax, cells, mode, ratio, label)
        crosses = crosses or missing
    lo, hi = CHEAP_GRADIENT
    if _unit(cells) == "gradient":
        ax.axhspan(
            lo,
            hi,
            color=BAND,
            alpha=0.25,
            lw=0,
            label=f"{lo:g} to {hi:g} × f: cheap-gradient bound, reverse (Griewank & Walther)",
        )
    ax.axhline(1.0, color=COLOR[FUNCTION], lw=0.9, ls="--", label="f alone (ratio 1)")
    ymin, ymax = ax.get_ylim()
    ax.set_ylim(min(ymin, 0.7), max(ymax, hi * 1.4 if _unit(cells) == "gradient" else ymax))
    ax.set_xlabel("inputs n")
    ax.set_ylabel(f"{_unit(cells)} time ÷ time of f alone")
    ax.set_title(title)
    handles, _ = ax.get_legend_handles_labels()
    _legend(ax, handles + ([_ABSENT] if crosses else []), ncol=2)
    return fig


# ----------------------------------------------------------------------- 4. operation counts


def counts_figure(cells: Sequence[Cell], title: str) -> Figure:
    """Forward passes / reverse sweeps (left) and primitive evaluations (right) against n."""
    ad = [m for m in modes_present(cells) if m != FUNCTION]
    rows = [c for c in main_cells(cells) if c.get("mode") in ad and c.get("ops")]
    if len({c["n"] for c in rows}) < 2:
        raise NoDataError("the operation-count figure needs counts at two or more input counts n")
    fig = _figure((7.2, 4.4))
    left, right = fig.subplots(1, 2, sharex=True)
    crosses = False

    def passes(c: Cell) -> float | None:
        if c.get("ops") is None:
            return None
        return c.get("sweeps") if c.get("mode") in REVERSE_MODES else c.get("passes")

    for mode in ad:
        _, a = _mode_series(left, cells, mode, passes, LABEL[mode])
        _, b = _mode_series(right, cells, mode, lambda c: c.get("ops"), LABEL[mode])
        crosses = crosses or a or b
    for ax in (left, right):
        _loglog(ax, _Plain())
        ax.set_xlabel("inputs n")
    left.set_ylabel("forward passes / reverse sweeps (count)")
    left.set_title("passes through f", fontsize=10.5)
    right.set_ylabel("primitive evaluations (count)")
    right.set_title("operations evaluated", fontsize=10.5)
    fw = {c["n"]: c["ops"] for c in rows if c["mode"] == FORWARD}
    rv = {c["n"]: c["ops"] for c in rows if c["mode"] == REVERSE}
    both = sorted(set(fw) & set(rv))
    if both:
        n = both[-1]
        ratio = f"{fw[n] / rv[n]:,.0f}"
        right.set_title(f"operations evaluated\nforward ÷ reverse = {ratio} at n = {n:,}", fontsize=10)
    fig.suptitle(title, fontsize=11.5)
    handles, _ = left.get_legend_handles_labels()
    _figure_legend(fig, handles + ([_ABSENT] if crosses else []), 2)
    return fig


# ------------------------------------------------------------------------------ 5. memory


def memory_figure(cells: Sequence[Cell], title: str) -> Figure:
    """Peak memory (tracemalloc) per mode against n, the objects reverse mode's tape holds dotted
    (``Tape.nbytes``: an estimate that includes the inputs, made before the call); below it,
    on the same n axis, reverse mode's bytes per recorded operation (peak ÷ ops), where its cells
    have both (else the one panel, and the report says why)."""
    if len({c["n"] for c in main_cells(cells) if c.get("peak_bytes")}) < 2:
        raise NoDataError("the memory figure needs peak memory measured at two or more input counts n")
    per_op = {m: bytes_per_op(cells, m) for m in TAPE_MODES}
    per_op = {m: pts for m, pts in per_op.items() if pts}
    if per_op:
        fig = _figure((7.2, 6.6))
        ax, low = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1))
    else:
        fig = _figure()
        ax, low = fig.add_subplot(), None
    _loglog(ax)
    crosses = False
    for mode in modes_present(cells):
        # forward chunk 1 and chunked often need the same memory: chunk 1 is drawn dashed with
        # hollow markers on top, so the chunked line under it still shows through
        style = MEMORY_ON_TOP if mode == FORWARD else {}
        _, missing = _mode_series(
            ax, cells, mode, lambda c: c.get("peak_bytes") or None, LABEL[mode], **style
        )
        crosses = crosses or missing
    tape = sorted(
        (c["n"], c["tape_bytes"])
        for c in main_cells(cells)
        if c.get("mode") == REVERSE and c.get("tape_bytes")
    )
    if tape:
        ax.plot(
            [n for n, _ in tape],
            [b for _, b in tape],
            color=COLOR[REVERSE],
            ls=":",
            lw=1.4,
            marker=".",
            label="reverse: objects the tape holds (estimate)",
        )
    _binary_ticks(ax)
    ax.set_ylabel("peak memory during one call (bytes)")
    ax.set_title(title)
    if low is None:
        ax.set_xlabel("inputs n")
    else:
        crosses = _bytes_per_op_panel(low, cells, per_op) or crosses
        ax.set_xlabel("")
    handles, _ = ax.get_legend_handles_labels()
    _legend(ax, handles + ([_ABSENT] if crosses else []))
    return fig


def _bytes_per_op_panel(
    ax: Axes, cells: Sequence[Cell], per_op: dict[str, list[tuple[int, float, Cell]]]
) -> bool:
    """Peak bytes ÷ recorded operations per tape mode against n (the tape's own estimate dotted),
    the largest n's value written beside its point; returns whether a cross was drawn (a cell
    with operations but no peak memory, or no operations)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_Plain())
    ax.xaxis.set_minor_formatter(_Plain(minor=True))
    values: list[float] = []
    crosses = False
    for mode, pts in per_op.items():
        ns, vs = [n for n, _, _ in pts], [v for _, v, _ in pts]
        ax.plot(ns, vs, color=COLOR[mode], marker=MARKER[mode], ms=5, label=LABEL[mode])
        values += vs
        missing = sorted({c["n"] for c in main_cells(cells) if c.get("mode") == mode} - set(ns))
        _absent(ax, missing, COLOR[mode])
        crosses = crosses or bool(missing)
    tape = [
        (int(c["n"]), c["tape_bytes"] / c["ops"])
        for _, _, c in per_op.get(REVERSE, [])
        if c.get("tape_bytes")
    ]
    if tape:
        ax.plot([n for n, _ in tape], [v for _, v in tape], color=COLOR[REVERSE], ls=":", lw=1.4, marker=".")
        values += [v for _, v in tape]
    # from zero (a share of the peak reads as a length), unless the values span a decade or pass
    # a few KiB (an array operation's bytes): then log, in the tables' KiB and MiB; either way the
    # top third of the panel is left free for the values written there
    lo, hi = min(values), max(values)
    if hi > 10 * lo or hi >= 4 * 1024:
        ax.set_yscale("log")
        bottom = lo / 2
        ax.set_ylim(bottom, bottom * (hi / bottom) ** (1 / PER_OP_DATA_HEIGHT))
        _binary_ticks(ax)
    else:
        ax.set_ylim(0, hi / PER_OP_DATA_HEIGHT)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f} B"))
    # each line's value at its largest n, in its colour, in the top corner on the side where the
    # lines are lower (the left when bytes per op grow with n)
    top = max(per_op.values(), key=lambda pts: pts[-1][1])
    left = top[0][1] <= top[-1][1]
    for k, (mode, pts) in enumerate(sorted(per_op.items(), key=lambda t: -t[1][-1][1])):
        n, v, _ = pts[-1]
        ax.annotate(
            f"{LABEL[mode]}: {human_bytes(v)} per operation at n = {n:,}",
            (0.02 if left else 0.98, 0.96),
            xycoords="axes fraction",
            xytext=(0, -12 * k),
            textcoords="offset points",
            ha="left" if left else "right",
            va="top",
            fontsize=9,
            color=COLOR[mode],
        )
    ax.set_xlabel("inputs n")
    ax.set_ylabel("bytes per operation")
    ax.set_title("reverse mode: peak memory ÷ operations recorded on its tape", fontsize=10)
    return crosses


# ------------------------------------------------------------------------ 6. chunk sweep


def chunk_figure(n: int, chunk_cells: Sequence[Cell], cells: Sequence[Cell], title: str) -> Figure:
    """Forward-mode time against the chunk size at one n; reverse mode (and f) as lines."""
    ok = [c for c in chunk_cells if timed(c)]
    if len(ok) < 2:
        raise NoDataError(
            f"the chunk-size figure needs forward mode timed at two or more chunk sizes (n = {n})"
        )
    fig = _figure()
    ax = fig.add_subplot()
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_Seconds())
    ax.yaxis.set_minor_formatter(_Seconds(minor=True))
    cs = [c["chunk"] for c in ok]
    med = np.array([c["time_median_s"] for c in ok])
    q1, q3 = _arr(c.get("time_q1_s") for c in ok), _arr(c.get("time_q3_s") for c in ok)
    err = np.vstack([np.where(np.isnan(q1), 0, med - q1), np.where(np.isnan(q3), 0, q3 - med)])
    ax.errorbar(
        cs,
        med,
        yerr=np.clip(err, 0, None),
        color=COLOR[FORWARD],
        marker="o",
        ms=5,
        capsize=3,
        label="forward mode, chunk c",
    )
    best = min(ok, key=lambda c: c["time_median_s"])
    ax.scatter(
        [best["chunk"]],
        [best["time_median_s"]],
        s=140,
        facecolors="none",
        edgecolors="#222222",
        linewidths=1.4,
        zorder=5,
        label=f"fastest: c = {best['chunk']}, {human_seconds(best['time_median_s'])}",
    )
    default = default_chunk_cell(chunk_cells)
    if default is not None:
        ax.axvline(
            default["chunk"],
            color="#444444",
            ls=":",
            lw=1.3,
            zorder=1,
            label=f"the run's default chunk: c = {default['chunk']}"
            + (f", {human_seconds(default['time_median_s'])}" if timed(default) else ""),
        )
    others = [c for c in chunk_cells if not timed(c)]
    est = [(c["chunk"], _estimate(c)) for c in others]
    if any(t for _, t in est):
        ax.scatter(
            [c for c, t in est if t],
            [t for _, t in est if t],
            marker="o",
            s=36,
            facecolors="none",
            edgecolors=COLOR[FORWARD],
            zorder=4,
            label="hollow: not timed, predicted time",
        )
    _absent(ax, [c for c, t in est if not t], COLOR[FORWARD])
    rev = cell_at(cells, n, None, REVERSE)
    if rev is not None and timed(rev):
        ax.axhline(
            rev["time_median_s"],
            color=COLOR[REVERSE],
            ls="-",
            lw=1.4,
            label=f"{LABEL['reverse']}: {human_seconds(rev['time_median_s'])}",
        )
        if rev.get("time_q1_s") and rev.get("time_q3_s"):
            ax.axhspan(rev["time_q1_s"], rev["time_q3_s"], color=COLOR[REVERSE], alpha=0.15, lw=0)
    chunks = sorted({c["chunk"] for c in chunk_cells})
    ax.xaxis.set_major_locator(FixedLocator(chunks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    top = ax.secondary_xaxis("top")
    top.xaxis.set_major_locator(FixedLocator(chunks))
    top.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{math.ceil(n / x)}"))
    top.xaxis.set_minor_locator(FixedLocator([]))
    top.set_xlabel("forward passes ⌈n/c⌉", fontsize=9.5)
    ax.set_xlabel("chunk size c (tangent directions carried per forward pass)")
    ax.set_ylabel(f"time per {_unit(cells)} (median, seconds)")
    ax.set_title(title)
    _legend(ax)
    return fig


def default_chunk_cell(chunk_cells: Sequence[Cell]) -> Cell | None:
    """The run's own forward-chunked cell among a chunk sweep's: the chunk the engine chose by
    default (the sweep's extra chunk sizes are tagged as such)."""
    return next((c for c in chunk_cells if c.get("mode") == FORWARD_CHUNKED and not in_chunk_sweep(c)), None)


# -------------------------------------------------------------------------- 7. heat map


def _edges(values: Sequence[int]) -> np.ndarray:
    """Cell edges around sorted values, geometric midpoints (log axes)."""
    v = np.array(values, dtype=float)
    mid = np.sqrt(v[:-1] * v[1:])
    first = v[0] ** 2 / mid[0]
    last = v[-1] ** 2 / mid[-1]
    return np.concatenate([[first], mid, [last]])


def forward_over_reverse(cells: Sequence[Cell], n: int, m: int) -> float | None:
    """The faster forward mode's time (chunk 1 or chunked) over the faster reverse mode's (one
    sweep per output, or chunked) at (n, m): each side at its best, a fair fight."""
    fw = [c for c in (cell_at(cells, n, m, k) for k in FORWARD_MODES) if c and timed(c)]
    rev = [c for c in (cell_at(cells, n, m, k) for k in REVERSE_MODES) if c and timed(c)]
    if not fw or not rev:
        return None
    return min(c["time_median_s"] for c in fw) / min(c["time_median_s"] for c in rev)


def jacobian_crossover(cells: Sequence[Cell], m: int) -> fits.Crossover | None:
    """Along one row of a Jacobian grid (m outputs): where the faster reverse mode starts to beat
    the faster forward mode as n grows."""
    return fits.crossover(best_forward(cells, m), best_reverse(cells, m))


def _factor(x: float) -> str:
    """``1.0``, ``2.8``, ``55``: one decimal below 10, so a near-tie reads 1.0, not 1."""
    return f"{x:.1f}" if x < 9.95 else f"{x:,.0f}"


def heatmap_figure(cells: Sequence[Cell], ns: Sequence[int], ms: Sequence[int], title: str) -> Figure:
    """Over (inputs n, outputs m): log10 of (best forward time / reverse time), annotated."""
    ratio = np.full((len(ms), len(ns)), np.nan)
    text = [["" for _ in ns] for _ in ms]
    for j, m in enumerate(ms):
        for i, n in enumerate(ns):
            r = forward_over_reverse(cells, n, m)
            if r is None:
                text[j][i] = "not\ntimed"
                continue
            ratio[j, i] = math.log10(r)
            text[j][i] = f"reverse\n{_factor(r)}×" if r >= 1 else f"forward\n{_factor(1 / r)}×"
    if np.isnan(ratio).all():
        raise NoDataError("the heat map needs forward and reverse mode timed at some (n, m)")
    span = max(0.3, float(np.nanmax(np.abs(ratio))))
    fig = _figure((7.2, 5.6))
    ax = fig.add_subplot()
    xe, ye = _edges(ns), _edges(ms)
    # log10(forward / reverse) > 0: reverse wins, drawn blue as reverse mode is everywhere else
    mesh = ax.pcolormesh(
        xe, ye, np.ma.masked_invalid(ratio), cmap="RdBu", norm=TwoSlopeNorm(0.0, -span, span), shading="flat"
    )
    ax.set_facecolor("#dddddd")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(False)
    for j, m in enumerate(ms):
        for i, n in enumerate(ns):
            v = ratio[j, i]
            dark = not np.isnan(v) and abs(v) > 0.6 * span
            # the label sits on a patch of its cell's own colour, above the n = m line: the line
            # passes behind the words instead of striking through them
            ax.text(
                n,
                m,
                text[j][i],
                ha="center",
                va="center",
                fontsize=9,
                zorder=4,
                color="white" if dark else "#222222",
                bbox={
                    "boxstyle": "round,pad=0.25",
                    "facecolor": mesh.cmap(mesh.norm(v)) if not np.isnan(v) else ax.get_facecolor(),
                    "edgecolor": "none",
                },
            )
    lo, hi = min(xe[0], ye[0]), max(xe[-1], ye[-1])
    ax.plot([lo, hi], [lo, hi], color="#222222", ls="--", lw=1.1, alpha=0.7, zorder=3, label="n = m")
    # the crossover n* in each row (outputs m), where it lies inside the grid
    stars = [
        (m, co)
        for m in ms
        if (co := jacobian_crossover(cells, m)) is not None and co.found and co.how == "measured"
    ]
    # each star sits low in its row, below the cell labels centred on m
    low_in_row = {
        m: math.exp(math.log(ye[j]) + STAR_HEIGHT * math.log(ye[j + 1] / ye[j])) for j, m in enumerate(ms)
    }
    for m, co in stars:
        xerr = None
        if co.low is not None or co.high is not None:
            low = xe[0] if co.low is None else max(co.low, xe[0])
            high = xe[-1] if co.high is None else min(co.high, xe[-1])
            xerr = [[co.n_star - low], [high - co.n_star]]
        ax.errorbar(
            [co.n_star],
            [low_in_row[m]],
            xerr=xerr,
            marker="*",
            ms=14,
            color="#222222",
            mfc="#ffd700",
            capsize=4,
            lw=1.4,
            ls="none",
            zorder=5,
            label="crossover",
        )
    if stars:
        handles = ax.get_legend_handles_labels()[0][-1:]
        _figure_legend(
            fig, handles, 1, ["crossover n* in this row: reverse mode wins to its right (68% interval)"]
        )
    top = min(xe[-1], ye[-1])
    ax.text(
        top / 1.08,
        top / 1.08,
        "n = m ",
        rotation=45,
        rotation_mode="anchor",
        ha="right",
        va="bottom",
        fontsize=9,
        color="#222222",
        zorder=4,
    )
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    for axis, vals in ((ax.xaxis, ns), (ax.yaxis, ms)):
        axis.set_major_locator(FixedLocator(list(vals)))
        axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        axis.set_minor_formatter(NullFormatter())
        axis.set_minor_locator(FixedLocator([]))
    ax.set_xlabel("inputs n")
    ax.set_ylabel("outputs m")
    ax.set_title(title)
    bar = fig.colorbar(mesh, ax=ax, shrink=0.9)
    factors = [f for f in (1.5, 2, 5, 10, 20, 50, 100, 1000) if math.log10(f) <= span]
    factors = factors if len(factors) <= 5 else factors[1::2]
    ticks = [-math.log10(f) for f in reversed(factors)] + [0.0] + [math.log10(f) for f in factors]
    bar.set_ticks(ticks)
    bar.set_ticklabels(
        [f"forward {10**-t:.3g}×" if t < 0 else f"reverse {10**t:.3g}×" if t > 0 else "even" for t in ticks]
    )
    bar.set_label("faster mode, and by how much")
    return fig


# ------------------------------------------------------------------------------- saving


def save(fig: Figure, folder: str | Path, stem: str, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``folder/stem.png`` and ``.svg``, byte-identical for the same figure (no dates, a
    fixed SVG hash salt); returns the paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = out / f"{stem}.{ext}"
        metadata = {"Date": None} if ext == "svg" else {"Software": None}
        with rc_context({"svg.hashsalt": STYLE["svg.hashsalt"]}):
            fig.savefig(path, format=ext, dpi=DPI, metadata=metadata)
        paths.append(path)
    return paths


def styled(build: Callable[..., Figure], *args: Any) -> Figure:
    """Build a figure under the report's style (fonts, grid), without touching global state."""
    with rc_context(STYLE):
        return build(*args)

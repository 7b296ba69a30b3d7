"""The peers on the report's figures: dashed lines beside our engines' solid ones, drawn from saved
cells only (a peer's ``library`` and our mode names; :mod:`experiments.plots` calls these).

* time vs n: each library's reverse gradient (and JAX's compiled one, ``jax-jit``);
* speedup: each library's forward over its reverse time, forward being n JVP passes (circles) or
  its one-pass batched ``jacfwd`` (diamonds).

One colour per library (Okabe-Ito, apart from our modes' colours); a compiled line is dash-dotted
with hollow markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes

from experiments.results import FORWARD, FORWARD_CHUNKED, JIT, REVERSE

Cell = dict[str, Any]
#: A colour per peer; an unknown peer gets grey.
PEER_COLOR = {"jax": "#009E73", "torch": "#CC79A7", "autograd": "#8C564B"}
MARKERS = {REVERSE: "^", FORWARD: "o", FORWARD_CHUNKED: "D"}


def _timed(cells: Sequence[Cell], library: str, mode: str) -> dict[int, float]:
    """n -> median seconds of one library's mode (timed cells only, the first per n)."""
    out: dict[int, float] = {}
    for c in cells:
        if c.get("library") == library and c.get("mode") == mode and c.get("status") == "ok":
            if c.get("time_median_s") is not None:
                out.setdefault(int(c["n"]), float(c["time_median_s"]))
    return dict(sorted(out.items()))


def lines(cells: Sequence[Cell]) -> list[tuple[str, str]]:
    """(library, "" or "-jit") for each peer line, in the order the cells name them."""
    found: list[tuple[str, str]] = []
    for c in cells:
        key = (str(c.get("library")), JIT if str(c.get("mode")).endswith(JIT) else "")
        if key not in found:
            found.append(key)
    return found


def _style(library: str, jit: str, mode: str) -> dict[str, Any]:
    color = PEER_COLOR.get(library, "#999999")
    return {
        "color": color,
        "marker": MARKERS[mode],
        "ms": 4.5,
        "lw": 1.2,
        "ls": "-." if jit else "--",
        "mfc": "white" if jit else color,
        "alpha": 0.9,
        "zorder": 2.5,
    }


def draw_times(ax: Axes, peers: Sequence[Cell]) -> list[Any]:
    """Each peer's reverse gradient time against n, dashed; returns the lines drawn."""
    drawn = []
    for library, jit in lines(peers):
        t = _timed(peers, library, REVERSE + jit)
        if len(t) >= 1:
            drawn += ax.plot(
                list(t), list(t.values()), label=f"{library}{jit} reverse", **_style(library, jit, REVERSE)
            )
    return drawn


def draw_speedups(ax: Axes, peers: Sequence[Cell]) -> list[Any]:
    """Each peer's forward time over its reverse time against n, dashed; returns the lines drawn."""
    drawn = []
    for library, jit in lines(peers):
        rev = _timed(peers, library, REVERSE + jit)
        for mode, what in ((FORWARD, "n JVPs"), (FORWARD_CHUNKED, "jacfwd")):
            fwd = _timed(peers, library, mode + jit)
            ns = [n for n in fwd if n in rev]
            if ns:
                drawn += ax.plot(
                    ns,
                    [fwd[n] / rev[n] for n in ns],
                    label=f"{library}{jit}: {what} ÷ reverse",
                    **_style(library, jit, mode),
                )
    return drawn

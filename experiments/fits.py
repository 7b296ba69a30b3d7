"""Fits of a run's timings: log-log growth slopes with their uncertainty, and the crossover n*.

Everything here reads cells (the dictionaries of ``results.json``) and nothing else; nothing is
re-timed.

* **Slope.** ``t ~ A n^k``: ``k`` is the least-squares slope of ``log(median)`` against ``log(n)``
  over the large-n tail (the largest half of the measured sizes, at least :data:`TAIL_MIN` of them
  when there are that many), where fixed per-call overheads matter least.
  A slope needs at least :data:`SLOPE_MIN_SIZES` sizes (none is given from two).
* **Uncertainty.** Two sources, combined in quadrature: the fit's own standard error (with three
  or more points; it grows when the points do not lie on a line), and the sampling spread of the
  medians, estimated by a bootstrap: each cell's raw samples are resampled with replacement
  :data:`BOOTSTRAP` times (fixed seed, so a report is reproducible) and the fit repeated; the
  standard deviation of the refitted slopes is that spread. A cell with one sample (a long call
  timed once) contributes no sampling spread, which the ``±`` then under-states.
* **Crossover n\\*.** Where reverse mode starts to beat forward mode: the speedup
  ``S(n) = t_forward / t_reverse`` crosses 1. When the measured speedups bracket 1, n* is
  interpolated log-log between the last size where forward won and the next; when reverse won at
  every size (or at none), n* is extrapolated from a log-log line through the measured speedups
  nearest the crossing and flagged as such (none when they do not trend toward 1, when the
  line meets 1 below one input, or when it meets 1 more than a factor :data:`EXTRAPOLATE` beyond
  the sizes measured: a crossover is a number only near the data, otherwise words). Its interval
  is the 16th to 84th percentile of the same estimate over the bootstrap resamples (about one
  standard deviation either side); an end beyond that window is said in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Bootstrap resamples per fit.
BOOTSTRAP = 400
#: A fit's tail holds at least this many sizes when the series has that many.
TAIL_MIN = 3
#: A slope needs at least this many sizes: a line through two points always fits, so it says
#: nothing about whether the growth is a power law, and its fit has no standard error.
SLOPE_MIN_SIZES = 3
#: Fixed seed: the same results give the same uncertainties.
SEED = 20240611
#: Extrapolate n* from at most this many speedups nearest the crossing.
CROSSOVER_POINTS = 3
#: An extrapolated n* is stated only within this factor of the smallest or largest size measured.
EXTRAPOLATE = 2.0

Cell = dict[str, Any]


def median_of(cell: Cell) -> float | None:
    """A cell's median time, or None if it was not timed."""
    t = cell.get("time_median_s")
    return float(t) if t is not None and t > 0 and math.isfinite(t) else None


def _boot_medians(cell: Cell, rng: np.random.Generator, b: int) -> np.ndarray:
    """``b + 1`` medians: the recorded one, then ``b`` bootstrap medians of the raw samples."""
    med = median_of(cell)
    assert med is not None
    s = np.asarray([v for v in (cell.get("samples_s") or []) if v is not None and v > 0], dtype=float)
    out = np.full(b + 1, med)
    if s.size >= 2:
        idx = rng.integers(0, s.size, size=(b, s.size))
        out[1:] = np.median(s[idx], axis=1)
    return out


def tail(ns: Sequence[float]) -> int:
    """How many of the largest sizes a slope is fitted over."""
    k = len(ns)
    return k if k <= TAIL_MIN else max(TAIL_MIN, math.ceil(k / 2))


@dataclass(frozen=True)
class SlopeFit:
    """``value ~ exp(intercept) * n ** slope`` over ``sizes``; ``error`` is one standard
    uncertainty (None when nothing could estimate it)."""

    slope: float
    error: float | None
    intercept: float
    sizes: tuple[int, ...]

    def at(self, n: float) -> float:
        return math.exp(self.intercept) * n**self.slope

    def text(self, digits: int = 2) -> str:
        """``1.02 ± 0.05`` (or ``1.02`` alone when nothing could estimate the uncertainty)."""
        s = f"{self.slope:.{digits}f}"
        return s if self.error is None else f"{s} ± {self.error:.{digits}f}"


def _lines(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (slope, intercept) of each row of ``y`` (rows: data, then resamples) on x."""
    xm = x.mean()
    dx = x - xm
    slope = (y - y.mean(axis=1, keepdims=True)) @ dx / (dx @ dx)
    return slope, y.mean(axis=1) - slope * xm


def _fit(ns: np.ndarray, logy: np.ndarray) -> SlopeFit | None:
    """Slope fit over the tail; ``logy`` rows: the data, then bootstrap resamples."""
    if len(set(ns.tolist())) < SLOPE_MIN_SIZES:
        return None
    keep = np.argsort(ns)[-tail(ns) :]
    x, y = np.log(ns[keep]), logy[:, keep]
    slopes, intercepts = _lines(x, y)
    k, c = float(slopes[0]), float(intercepts[0])
    parts = []
    if len(x) >= SLOPE_MIN_SIZES:
        resid = y[0] - (c + k * x)
        dx = x - x.mean()
        parts.append(float(resid @ resid) / (len(x) - 2) / float(dx @ dx))
    spread = float(np.std(slopes[1:])) if slopes.size > 1 else 0.0
    if spread > 1e-12:  # resamples of single samples vary only by rounding
        parts.append(spread**2)
    error = math.sqrt(sum(parts)) if parts else None
    return SlopeFit(k, error, c, tuple(int(n) for n in ns[keep]))


def fit_slope(cells: Sequence[Cell], b: int = BOOTSTRAP) -> SlopeFit | None:
    """The log-log slope of the timed cells' medians against n (one cell per n; None below
    :data:`SLOPE_MIN_SIZES` sizes)."""
    timed = sorted((c for c in cells if median_of(c) is not None), key=lambda c: c["n"])
    if len(timed) < SLOPE_MIN_SIZES:
        return None
    rng = np.random.default_rng(SEED)
    logy = np.log(np.stack([_boot_medians(c, rng, b) for c in timed], axis=1))
    return _fit(np.array([c["n"] for c in timed], dtype=float), logy)


def _paired(num: Sequence[Cell], den: Sequence[Cell], b: int) -> tuple[np.ndarray, np.ndarray]:
    """Sizes timed in both series, and ``log(num / den)`` there (rows: data, then resamples)."""
    d = {c["n"]: c for c in den if median_of(c) is not None}
    pairs = sorted(
        ((c["n"], c, d[c["n"]]) for c in num if median_of(c) is not None and c["n"] in d), key=lambda t: t[0]
    )
    if not pairs:
        return np.zeros(0), np.zeros((b + 1, 0))
    rng = np.random.default_rng(SEED)
    cols = [np.log(_boot_medians(a, rng, b)) - np.log(_boot_medians(z, rng, b)) for _, a, z in pairs]
    return np.array([n for n, _, _ in pairs], dtype=float), np.stack(cols, axis=1)


def fit_ratio_slope(num: Sequence[Cell], den: Sequence[Cell], b: int = BOOTSTRAP) -> SlopeFit | None:
    """The log-log slope of ``num / den`` (e.g. forward over reverse: the speedup) against n."""
    ns, logr = _paired(num, den, b)
    return _fit(ns, logr)


@dataclass(frozen=True)
class Crossover:
    """Where reverse mode starts to win: ``n_star`` with a 68% interval ``[low, high]``.

    ``how`` is ``"measured"`` (the speedups bracket 1 and n* is interpolated between two sizes),
    ``"below"`` (reverse won at every size; n* is extrapolated below the smallest) or ``"above"``
    (forward won at every size; extrapolated above the largest). An extrapolation needs the
    speedups nearest the crossing to trend toward 1 and to meet it within a factor
    :data:`EXTRAPOLATE` of the sizes measured; when they do not, ``n_star`` is None. ``low`` or
    ``high`` is None when that end of the interval lies beyond the same window.
    ``sizes`` are the n where both modes were timed; ``closest`` is (n, speedup) nearest to 1.
    """

    n_star: float | None
    low: float | None
    high: float | None
    how: str
    sizes: tuple[int, ...]
    closest: tuple[int, float]
    #: the 68% interval reaches beyond the window (its open end is None)
    wide: bool = False

    @property
    def found(self) -> bool:
        """A crossover at one input or more (an extrapolation below one input is none)."""
        return self.n_star is not None and self.n_star >= 1

    def text(self) -> str:
        """``n* ≈ 26 (68% interval 23 to 29), between measured sizes``, or why there is none."""
        lo, hi = min(self.sizes), max(self.sizes)
        n, s = self.closest
        near = f"the speedup nearest 1 was {s:.3g}× at n = {n}"
        if not self.found:
            who = "reverse" if self.how == "below" else "forward"
            return (
                f"none: {who} mode was faster at every n measured ({lo} to {hi}); no crossover in "
                f"that range ({near})"
            )
        head = f"n* ≈ {_num(self.n_star)}{self.interval_text()}"
        if self.how == "below":
            return f"{head}, extrapolated: reverse mode was faster at every n measured ({lo} to {hi})"
        if self.how == "above":
            return f"{head}, extrapolated: forward mode was faster at every n measured ({lo} to {hi})"
        return f"{head}, between measured sizes"

    def interval_text(self) -> str:
        """`` (68% interval 23 to 29)``; an end beyond the window is said in words, not as a number."""
        if not self.wide and (self.low is None or self.high is None):
            return ""
        lo = _num(self.low) if self.low is not None else f"below {_num(min(self.sizes) / EXTRAPOLATE)}"
        hi = _num(self.high) if self.high is not None else f"above {_num(max(self.sizes) * EXTRAPOLATE)}"
        return f" (68% interval {lo} to {hi})"


def _num(x: float) -> str:
    return f"{x:.2g}" if x < 10 else f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


#: Extrapolations past e^700 (float's limit) are no crossing at all, not an overflow.
MAX_LOG_N = 700.0


def _crossing(logn: np.ndarray, logs: np.ndarray) -> tuple[float | None, str]:
    """n* for one set of log speedups (sorted by n): interpolated, or extrapolated from the
    :data:`CROSSOVER_POINTS` speedups nearest the crossing (None if they do not trend toward 1)."""
    losing = np.nonzero(logs < 0)[0]
    if losing.size and losing[-1] < len(logs) - 1:
        i = int(losing[-1])
        x0, x1, y0, y1 = logn[i], logn[i + 1], logs[i], logs[i + 1]
        return float(math.exp(x0 + (0.0 - y0) * (x1 - x0) / (y1 - y0))), "measured"
    how = "above" if losing.size else "below"
    sel = slice(-CROSSOVER_POINTS, None) if how == "above" else slice(0, CROSSOVER_POINTS)
    x, y = logn[sel], logs[sel]
    if len(x) < 2:
        return None, how
    k, c = _lines(x, y[None, :])
    if k[0] <= 0:
        return None, how
    log_n = -c[0] / k[0]  # a speedup that barely moves puts n* astronomically far: no crossing
    # an extrapolated crossing lies outside the sizes measured, on the side the data points to:
    # one inside them would contradict the speedups measured there
    inside = log_n > logn[0] if how == "below" else log_n < logn[-1]
    return (float(math.exp(log_n)), how) if log_n < MAX_LOG_N and not inside else (None, how)


def crossover(forward: Sequence[Cell], reverse: Sequence[Cell], b: int = BOOTSTRAP) -> Crossover | None:
    """The crossover n* between a forward series and the reverse series (None: fewer than two
    sizes timed in both)."""
    ns, logs = _paired(forward, reverse, b)
    if len(ns) < 2:
        return None
    logn = np.log(ns)
    n_star, how = _crossing(logn, logs[0])
    sizes = tuple(int(n) for n in ns)
    i = int(np.argmin(np.abs(logs[0])))
    closest = (sizes[i], float(math.exp(logs[0][i])))
    window = (min(sizes) / EXTRAPOLATE, max(sizes) * EXTRAPOLATE)
    if n_star is None or not window[0] <= n_star <= window[1]:
        return Crossover(None, None, None, how, sizes, closest)
    crossings = [_crossing(logn, row)[0] for row in logs[1:]]
    low = high = None
    if len(crossings) >= 10:
        # a resample with no crossing lies beyond the window, on the side the data points to
        far = {"below": window[0] / 2, "above": window[1] * 2}.get(how)
        boots = [far if v is None else v for v in crossings if v is not None or far is not None]
        if len(boots) >= 10 and np.ptp(boots) > 0:
            low, high = (float(v) for v in np.percentile(boots, [16, 84]))
            low, high = min(low, n_star), max(high, n_star)
            wide = low < window[0] or high > window[1]
            low = low if low >= window[0] else None
            high = high if high <= window[1] else None
            return Crossover(n_star, low, high, how, sizes, closest, wide)
    return Crossover(n_star, low, high, how, sizes, closest)


def quartile_ratio(num: Cell, den: Cell) -> tuple[float, float] | None:
    """Bounds of ``num / den`` from the quartiles: (Q1 num / Q3 den, Q3 num / Q1 den)."""
    q = [num.get("time_q1_s"), num.get("time_q3_s"), den.get("time_q1_s"), den.get("time_q3_s")]
    if any(v is None or v <= 0 for v in q):
        return None
    return q[0] / q[3], q[1] / q[2]

"""Predicting a cell's cost from smaller n, so a run skips hopeless cells instead of hanging.

The runner predicts a call as (its number of passes, known exactly: ceil(n / c) forward passes,
one reverse recording, m reverse sweeps for a Jacobian) x (the cost of one pass), the cost of a
pass grown from the largest size measured like the plain function's cost grows. Growth is fitted
as a power law ``v = v0 (n / n0)^k`` over the three largest sizes measured below the target;
``k`` is clamped to ``[0.5, 2]``: at small n fixed overheads flatten the curve, and
extrapolating all of that flatness would under-predict (a pass through an O(n) function is O(n)).
A prediction that still falls short is caught by the verification call, which is timed (and
interrupted at the budget) before any sample is taken.

A cell costs one verification call, ``timeit``'s autorange when a call is short, at least
:data:`MIN_REPEATS` samples, and (if it fits) one ``tracemalloc`` run for peak memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from experiments.timing import AUTORANGE_S

#: The fewest timed samples a cell is worth (a median and quartiles need a few).
MIN_REPEATS = 3
#: Seconds ``timeit.Timer.autorange`` spends finding the loop count for a short call (at most).
AUTORANGE_COST_S = 2.5 * AUTORANGE_S
#: tracemalloc's slowdown assumed until one is measured.
DEFAULT_MEMORY_SLOWDOWN = 10.0


@dataclass(frozen=True)
class Fit:
    """``value(n) = v0 (n / n0) ** exponent``, fitted through the points in ``sizes``."""

    exponent: float
    n0: int
    v0: float
    sizes: tuple[int, ...]

    def at(self, n: int) -> float:
        return self.v0 * (n / self.n0) ** self.exponent

    def largest_n(self, limit: float) -> int:
        """The largest n whose predicted value stays within ``limit``."""
        if limit <= 0:
            return 0
        return max(0, math.floor(self.n0 * (limit / self.v0) ** (1.0 / self.exponent)))


def fit_power(
    points: Iterable[tuple[int, float]], below: int, *, lo: float = 0.5, hi: float = 2.0, single: float = 1.0,
    span: int = 3,
) -> Fit | None:
    """A power law anchored at the largest size under ``below``, its exponent the least-squares
    slope of log v against log n over the ``span`` largest sizes (the smallest value kept per size,
    which is the least disturbed by other load). One size gives exponent ``single``; none, None.
    """
    best: dict[int, float] = {}
    for n, v in points:
        if n < below and v > 0 and math.isfinite(v):
            best[n] = min(v, best.get(n, math.inf))
    if not best:
        return None
    sizes = sorted(best)[-span:]
    top = sizes[-1]
    if len(sizes) == 1:
        return Fit(single, top, best[top], (top,))
    xs = [math.log(s) for s in sizes]
    ys = [math.log(best[s]) for s in sizes]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    k = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return Fit(min(hi, max(lo, k)), top, best[top], tuple(sizes))


def timing_cost(call_s: float, repeats: int) -> float:
    """Seconds to find the loop count and take ``repeats`` samples of a call of ``call_s``."""
    autorange = AUTORANGE_COST_S if call_s < AUTORANGE_S else 0.0
    return autorange + repeats * max(call_s, AUTORANGE_S)


def minimum_cost(call_s: float) -> float:
    """The least a cell can cost: the verification call and :data:`MIN_REPEATS` samples."""
    return call_s + timing_cost(call_s, MIN_REPEATS)


def largest_call_within(budget: float) -> float:
    """The longest call whose :func:`minimum_cost` fits ``budget`` (0 if none does)."""
    if minimum_cost(0.0) > budget:
        return 0.0
    if minimum_cost(AUTORANGE_S) <= budget:
        return budget / (1 + MIN_REPEATS)
    return budget - timing_cost(0.0, MIN_REPEATS)


def repeats_within(sample_s: float, seconds: float, wanted: int) -> int:
    """How many samples of ``sample_s`` each (at most ``wanted``) fit in ``seconds``."""
    return max(0, min(wanted, math.floor(seconds / max(sample_s, 1e-9))))


def round_down(n: int) -> int:
    """``n`` rounded down to two significant digits (a readable "what would fit")."""
    if n < 100:
        return n
    scale = 10 ** (len(str(n)) - 2)
    return n // scale * scale

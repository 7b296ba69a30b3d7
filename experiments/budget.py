"""Predicting a cell's cost from smaller n, so a run skips hopeless cells instead of hanging.

The runner predicts a call as (its number of passes, known exactly: ceil(n / c) forward passes,
one reverse recording, m reverse sweeps for a Jacobian) x (the cost of one pass), the cost of a
pass grown from the largest size measured like the plain function's cost grows. Growth is fitted
as a power law ``v = v0 (n / n0)^k`` over the three largest sizes measured below the target;
``k`` is clamped to ``[0.5, 2]``: at small n fixed overheads flatten the curve, and
extrapolating all of that flatness would under-predict (a pass through an O(n) function is O(n)).
A prediction that still falls short is caught by the verification call, which is timed (and
interrupted at the budget) before any sample is taken; that is also why a cell is skipped unrun
only when predicted well over the budget (:data:`PREDICTION_SLACK`), predictions being rough.

A cell costs one verification call, ``timeit``'s autorange when a call is short, at least
:data:`MIN_REPEATS` samples, and (if it fits) one ``tracemalloc`` run for peak memory. A long
call (at least :data:`LONG_CALL_S`) needs no warm-up: its verification call, timed like a sample,
is its first sample, so such a cell costs at least that one call, and it may be reported with
fewer than :data:`MIN_REPEATS` samples (down to that one) when the budget allows no more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from experiments.timing import AUTORANGE_S

#: The fewest timed samples a cell of short calls is worth (a median and quartiles need a few).
MIN_REPEATS = 3
#: A call at least this long (seconds) needs no warm-up, so its verification call counts as a timed
#: sample. Why: warm-up only removes a first call's one-off costs (lazy imports, caches, the
#: allocator growing), which are milliseconds, under 1% of a call this long; and the verification
#: call is timed exactly like a sample (``gc.collect()`` first, the collector off, one call between
#: two ``perf_counter`` reads; autorange would also take one call per sample, as
#: ``AUTORANGE_S`` < this). A cell of such calls needs only that one call, so a budget that fits one
#: call (such as forward mode, chunk 1, on scalar Rosenbrock at n = 1000) measures it, not estimates it;
#: with fewer than two samples its IQR is not available (None), and its note says so.
LONG_CALL_S = 1.0
#: The default time budget per cell (``--budget``), in seconds. Chosen so that
#: ``compare-modes --inputs 1000`` (scalar Rosenbrock) times all three modes on a 2-core machine:
#: forward mode (chunk 1) takes one long call (about 10-17 s there, unloaded) and fits; the run
#: as a whole (probes, four cells, the chunked cell using its full budget) stays under a minute.
DEFAULT_BUDGET_S = 20.0
#: How far over the budget a prediction may be before its cell is skipped unrun. A prediction
#: extrapolates from n/16 or so, and on a loaded machine it was seen to be off by 2-3x either way
#: (forward mode, chunk 1, at n = 1000: predicted 14-114 s for a call that took 30-40 s). Trying a
#: cell costs at most the budget, since its verification call is interrupted there; skipping it
#: unrun loses a measurement. So only a cell predicted at more than this many budgets is skipped
#: unrun; the others are tried (``PREDICTION_SLACK = 1`` trusts predictions fully).
PREDICTION_SLACK = 2.0
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
    points: Iterable[tuple[int, float]],
    below: int,
    *,
    lo: float = 0.5,
    hi: float = 2.0,
    single: float = 1.0,
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


def is_long(call_s: float) -> bool:
    """Whether a call of ``call_s`` seconds is long enough to need no warm-up (:data:`LONG_CALL_S`)."""
    return call_s >= LONG_CALL_S


def least_samples(call_s: float, repeat: int = MIN_REPEATS) -> int:
    """The fewest samples a cell of ``call_s`` calls is reported with: one (its verification call)
    for a long call, else ``min(MIN_REPEATS, repeat)`` of its own."""
    return 1 if is_long(call_s) else min(MIN_REPEATS, repeat)


def minimum_cost(call_s: float, repeat: int = MIN_REPEATS) -> float:
    """The least a cell can cost: a long call's verification call alone (it is the one sample);
    for a short call the verification call, autorange and ``min(MIN_REPEATS, repeat)`` samples.
    (Not monotone: a call just under :data:`LONG_CALL_S` costs more than one just over it.)"""
    if is_long(call_s):
        return call_s
    return call_s + timing_cost(call_s, min(MIN_REPEATS, repeat))


def hopeless(predicted_s: float, budget: float, repeat: int = MIN_REPEATS) -> bool:
    """Whether a cell predicted at ``predicted_s`` per call is skipped unrun: its
    :func:`minimum_cost` passes the budget by more than :data:`PREDICTION_SLACK` allows for."""
    return minimum_cost(predicted_s, repeat) > PREDICTION_SLACK * budget


def largest_call_within(budget: float, repeat: int = MIN_REPEATS) -> float:
    """The longest call ``c`` such that every call up to ``c`` fits ``budget`` (0 if none does):
    the longest short call that fits, or ``budget`` itself once every short call fits (a long
    call costs one call). Calls between a short limit and :data:`LONG_CALL_S` would not fit."""
    r = min(MIN_REPEATS, repeat)
    if minimum_cost(0.0, r) > budget:
        return 0.0
    if minimum_cost(AUTORANGE_S, r) <= budget:
        short = budget / (1 + r)
    else:
        short = budget - timing_cost(0.0, r)
    return budget if short >= LONG_CALL_S else short


def smallest_budget(repeat: int = MIN_REPEATS) -> float:
    """The shortest budget worth running: one that times the cheapest call (autorange and
    ``min(MIN_REPEATS, repeat)`` samples of :data:`~experiments.timing.AUTORANGE_S`). A long call
    needs only itself, but a budget under this would time nothing except calls between
    :data:`LONG_CALL_S` and the budget."""
    return timing_cost(0.0, min(MIN_REPEATS, repeat))


def repeats_within(sample_s: float, seconds: float, wanted: int) -> int:
    """How many samples of ``sample_s`` each (at most ``wanted``) fit in ``seconds``."""
    return max(0, min(wanted, math.floor(seconds / max(sample_s, 1e-9))))


def round_down(n: int) -> int:
    """``n`` rounded down to two significant digits (a readable "what would fit")."""
    if n < 100:
        return n
    scale = 10 ** (len(str(n)) - 2)
    return n // scale * scale

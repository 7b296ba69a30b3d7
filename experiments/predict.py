"""Predicting a cell's cost before running it, and skipping what would not fit.

Before each size n the runner asks :class:`Predictor` which kernels are worth running. A
kernel's cost per unit of work (a forward pass, a reverse sweep) is measured at smaller n (earlier
sizes of the run, or quick probes at n/2, n/4, ...) and grown to n the way f itself grows (f is
cheap, so its growth is measured up to larger n and with less noise); a kernel predicted to pass
the budget by more than a prediction may be off (``budget.PREDICTION_SLACK``), or to need more
memory than the machine has, is skipped, its reason saying which n would fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from experiments import budget as bud
from experiments.human import human_seconds
from experiments.kernels import kernel, work
from experiments.memory import MemoryMeter
from experiments.problems import Instance, Problem
from experiments.results import FUNCTION, Cell
from experiments.timing import TimeLimitExceeded, probe_time

#: A probe stops growing n once one call takes this long.
PROBE_STOP_S = 0.1
#: Probe calls shorter than this are repeated and the fastest kept (less noise).
PROBE_REPEAT_S = 0.25
#: Memory probes run at the largest probe size whose call took at most this long.
MEMORY_PROBE_MAX_S = 0.02
#: A "which n would fit" more than this many times the largest n a mode was timed at is an
#: extrapolation, and is said to be one (a promise the next run could refute is not made).
ADVICE_REACH = 2.0


class Predictor:
    """What each kernel costs per unit of work at the sizes measured so far, and what that predicts."""

    def __init__(
        self,
        problem: Problem,
        kernels: Iterable[str],
        memory: MemoryMeter,
        *,
        budget: float,
        repeat: int,
        seed: int,
        chunk: int | None,
        options: dict[str, Any],
        kind: str,
        by_size: bool = False,
    ) -> None:
        self.problem = problem
        self.kernels = tuple(kernels)
        self.memory = memory
        self.budget, self.repeat, self.seed, self.chunk, self.options = budget, repeat, seed, chunk, options
        self.kind = kind  # gradient or jacobian: decides what a unit of reverse-mode work is
        #: sizes are problem sizes (build(size, seed)), not input counts: a call is the unit of
        #: work, and its time is followed against the size
        self.by_size = by_size
        self.unit = "size" if by_size else "n"
        #: seconds per unit of work (per forward pass, per reverse sweep) at each n measured
        self.times: dict[str, list[tuple[int, float]]] = {k: [] for k in self.kernels}
        self._probed: set[int] = set()  # requested sizes at which f has been probed
        self._predicted: dict[str, Callable[[int], float]] = {}  # this size's predictors, by kernel
        #: the smallest n at which a kernel's one call overran the budget: no advice reaches it
        self.overran_at: dict[str, int] = {}

    def work(self, k: str, n: int, m: int) -> int:
        """Units of work a call of kernel ``k`` does at (n, m) (one call per size with ``by_size``)."""
        return 1 if self.by_size else work(k, n, m, self.kind, self.chunk)

    def measured(self, k: str, n: int, m: int, seconds: float) -> None:
        """Record a kernel's median seconds per call at (n, m)."""
        self.times[k].append((n, seconds / self.work(k, n, m)))

    # ------------------------------------------------------------------------- probing

    def climbing(self, n: int) -> list[str]:
        """Modes with fewer than two measured sizes below n: they need probes to be predicted."""
        return [k for k in self.kernels if k != FUNCTION and len({s for s, _ in self.times[k] if s < n}) < 2]

    def needs_probe(self, n: int) -> bool:
        if self.problem.fixed_n is not None or not self._ladder(n):
            return False
        return bool(self.climbing(n)) or not set(self._ladder(n)) <= self._probed

    def _ladder(self, n: int) -> list[int]:
        lo = max(self.problem.min_n, 1)
        return sorted({n >> j for j in range(1, 64) if (n >> j) >= lo})

    def probe(self, n: int, outputs: int | None) -> None:
        """Quick timings at n/2^j, smallest first: a mode climbs until one call takes
        ``PROBE_STOP_S``; f (cheap) is timed at every size up to n/2 not probed yet, so that its
        growth, which predictions follow, is measured close to n."""
        p = self.problem
        climbing = self.climbing(n)
        cheap = FUNCTION in self.kernels
        small: dict[str, tuple[Instance, float]] = {}
        size_of: dict[str, int] = {}
        for size in self._ladder(n):
            todo = climbing + ([FUNCTION] if cheap and size not in self._probed else [])
            if not todo:
                continue
            if self.memory.too_much(p.footprint(size, p.outputs_for(size, outputs) or 1)):
                break
            try:
                inst = p.build(size, self.seed, outputs, self.options)
            except Exception:
                break
            self.kind = inst.kind
            self._probed.add(size)
            for k in todo:
                fn = kernel(inst, k, self.chunk)
                try:
                    t = probe_time(fn, limit=self.budget, again_below=PROBE_REPEAT_S)
                except TimeLimitExceeded:
                    t = self.budget
                except Exception:
                    t = math.nan
                if math.isfinite(t):
                    self.measured(k, size if self.by_size else inst.n, inst.m, t)
                if t <= MEMORY_PROBE_MAX_S or k not in small:
                    small[k] = (inst, t)
                    size_of[k] = size
                if not t < PROBE_STOP_S:
                    if k == FUNCTION:
                        cheap = False
                    else:
                        climbing.remove(k)
        if self.memory.enabled:
            for k, (inst, t) in small.items():
                if math.isfinite(t) and not self.memory.measured_below(k, n):
                    at = size_of[k] if self.by_size else inst.n
                    self.memory.probe(k, at, kernel(inst, k, self.chunk), t)

    # ---------------------------------------------------------------------- prediction

    def _predictor(
        self, k: str, n: int, outputs: int | None
    ) -> tuple[Callable[[int], float], bud.Fit] | None:
        """Predicted seconds per call as a function of size: passes x cost per pass. A pass of a
        mode costs its last measured cost, grown like f itself grows (f is cheap, so its growth is
        measured up to larger n and with less noise than a mode's); without f, like the mode's own."""
        fit = bud.fit_power(self.times[k], n)
        if fit is None:
            return None
        growth = bud.fit_power(self.times[FUNCTION], n) if k != FUNCTION else None
        if growth is not None and len(growth.sizes) > 1:
            fit = replace(fit, exponent=growth.exponent)
        p = self.problem

        def seconds(size: int) -> float:
            return fit.at(size) * self.work(k, size, p.outputs_for(size, outputs) or 1)

        return seconds, fit

    def predict(self, cells: dict[str, Cell], n: int, outputs: int | None) -> set[str]:
        """Fill each cell's prediction; return the kernels worth running (the others are skipped,
        their reasons saying which n would fit)."""
        live = set()
        self._predicted = {}
        repeat = self.repeat
        most = bud.largest_call_within(self.budget, repeat)
        for k, c in cells.items():
            pred = self._predictor(k, n, outputs)
            if pred is not None:
                seconds, fit = pred
                self._predicted[k] = seconds
                t = c.predicted_time_s = seconds(n)
                c.predicted_exponent = round(fit.exponent, 3)
                c.predicted_from = list(fit.sizes)
                if bud.hopeless(t, self.budget, repeat):
                    fits = self.capped(k, self.largest(seconds, most, n) if most else 0)
                    cost = (
                        f"even one call (a call of {bud.LONG_CALL_S:g} s or more is timed once: its "
                        "verification call is its sample)"
                        if bud.is_long(t)
                        else f"checking and timing it {min(bud.MIN_REPEATS, repeat)} times"
                    )
                    u = self.unit
                    basis = (
                        f"a pass taking at least {human_seconds(fit.v0)} at {u} = {fit.n0}, where one "
                        "call overran the budget"
                        if self.overran_at.get(k) == fit.n0
                        else f"{'a call' if self.by_size else 'a pass'} measured at {u} = {fit.n0}"
                    )
                    c.skip(
                        f"predicted {human_seconds(t)} per call ({basis}, growing like "
                        f"{u}^{fit.exponent:.2f}); {cost} would pass the "
                        f"{self.budget:g} s budget by more than the {bud.PREDICTION_SLACK:g}x a "
                        "prediction may be off; "
                        + self.advice(k, fits)
                        + f", or --budget {math.ceil(bud.minimum_cost(t, repeat))}"
                    )
                    continue
            why = self.memory.prediction_too_large(k, c, n, self.problem.footprint(n, c.m))
            if why:
                c.skip(why)
                continue
            live.add(k)
        return live

    def overran(self, k: str, c: Cell) -> str:
        """Why a cell whose verification call was cut off at the budget is skipped, and an upper
        bound on the n that would fit: its prediction, scaled up to at least the budget at this n
        (the call took longer than that), is a lower bound on its cost. The overrun is kept: the
        budget becomes a measured lower bound on a call at this n for every later prediction, and
        no later advice names an n this large."""
        why = f"one call did not finish within the {self.budget:g} s budget"
        at = c.size if self.by_size and c.size is not None else c.n
        self.overran_at[k] = min(at, self.overran_at.get(k, at))
        self.times[k].append((at, self.budget / self.work(k, c.n, c.m)))
        seconds, t = self._predicted.get(k), c.predicted_time_s
        if seconds is None or not t:
            return why
        scale = max(1.0, self.budget / t)
        most = bud.largest_call_within(self.budget, self.repeat)
        top = (c.size if self.by_size and c.size else c.requested_n) - 1
        fits = self.largest(lambda size: scale * seconds(size), most, top) if most else 0
        short = f"{scale:,.0f}" if scale >= 10 else f"{scale:.2g}"
        missed = f", so the prediction was more than {short}x short" if scale >= bud.PREDICTION_SLACK else ""
        u = self.unit
        return f"{why} (predicted {human_seconds(t)}{missed}); " + (
            f"at most {u} <= {fits} would fit" if fits >= self.problem.min_n else f"no {u} would fit"
        )

    def capped(self, k: str, fits: int) -> int:
        """``fits`` below the smallest n at which kernel ``k`` overran the budget, if any."""
        if k in self.overran_at:
            return min(fits, bud.round_down(self.overran_at[k] - 1))
        return fits

    def advice(self, k: str, fits: int) -> str:
        """``n <= 460000 would fit``, said as an extrapolation when ``fits`` lies more than
        :data:`ADVICE_REACH` times past the largest n kernel ``k`` was timed at."""
        u = self.unit
        if fits < self.problem.min_n:
            return f"no {u} would fit"
        top = max((size for size, _ in self.times[k]), default=0)
        if top and fits > ADVICE_REACH * top:
            return (
                f"{u} <= {fits} would fit by a prediction extrapolated from {u} <= {top} (the largest "
                f"{u} this mode was timed at; larger {u} not tried)"
            )
        return f"{u} <= {fits} would fit"

    @staticmethod
    def missed(c: Cell) -> str | None:
        """A note when a timed cell's median is off its prediction by more than
        ``budget.PREDICTION_SLACK`` either way (predictions are checked against what was measured)."""
        t, p = c.time_median_s, c.predicted_time_s
        if not t or not p:
            return None
        r = t / p
        if 1 / bud.PREDICTION_SLACK <= r <= bud.PREDICTION_SLACK:
            return None
        return f"predicted {human_seconds(p)} per call, measured {human_seconds(t)}: {r:.2g}x the prediction"

    @staticmethod
    def largest(cost: Callable[[int], float], limit: float, n: int) -> int:
        """The largest k <= n with ``cost(k) <= limit`` (cost increasing in k), rounded down."""
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if cost(mid) <= limit:
                lo = mid
            else:
                hi = mid - 1
        return bud.round_down(lo)

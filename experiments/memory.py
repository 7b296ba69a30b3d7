"""Peak memory: measured in a ``tracemalloc`` run of its own, kept per mode to predict larger n,
and checked against the memory this machine has before a cell is built or run."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

import modes
from experiments import budget as bud
from experiments.environment import available_memory
from experiments.human import human_bytes, human_seconds
from experiments.results import Cell
from experiments.timing import TimeLimitExceeded, time_limit

#: A cell is skipped if its predicted peak memory passes this share of the available memory.
MEMORY_HEADROOM = 0.8


def traced_peak(fn: Callable[[], Any]) -> tuple[int, float, modes.Stats]:
    """(peak bytes allocated during ``fn()``, seconds it took under tracemalloc, its counts).

    When ``fn`` differentiates through the library, the peak is the library's own
    (``counting(memory=True)``: each differentiation's peak above what existed when it began), not
    the traced peak of the whole call: counting's bookkeeping after a differentiation (the tape's
    size estimate walks every entry) allocates more than the tape itself and must not be counted
    as the tape's memory. A ``fn`` that does not differentiate (a peer library, f alone) gets the
    traced peak of the call.
    """
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        with modes.counting(memory=True) as stats:
            fn()
        elapsed = time.perf_counter() - t0
        peak = stats.peak_bytes if stats.calls else tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()
    return peak, elapsed, stats


class MemoryMeter:
    """Peak memory per kernel over a run: what was measured (by n), how much slower a call runs
    under tracemalloc, and the limit a cell must stay under."""

    def __init__(self, kernels: Iterable[str], enabled: bool = True) -> None:
        self.enabled = enabled
        self.available = available_memory()
        self.peaks: dict[str, list[tuple[int, float]]] = {k: [] for k in kernels}
        self.slowdown: dict[str, float] = {}
        self.unit = "n"  # what peaks are measured against: the input count, or the problem size

    @property
    def limit(self) -> float | None:
        """Bytes a cell may need at most (None: the available memory is unknown)."""
        return MEMORY_HEADROOM * self.available if self.available else None

    def too_much(self, need: float) -> bool:
        """``need`` bytes would pass the limit."""
        return self.limit is not None and need > self.limit

    def inputs_too_large(self, n: int, need: int, fit: int) -> str:
        """Why no cell of size n is built: its inputs alone pass the limit (``fit``: the n that fits)."""
        return (
            f"its inputs and data alone need at least {human_bytes(need)}, and this machine has "
            f"{human_bytes(self.available)} available; n <= {fit} would fit"
        )

    def measure(
        self, k: str, c: Cell, fn: Callable[[], Any], call_s: float, left: float, n: int, reserve: float
    ) -> float:
        """Measure ``c``'s peak memory if the tracemalloc run fits in ``left`` seconds while leaving
        ``reserve`` seconds for the samples; returns the budget left after it."""
        if not self.enabled:
            return left
        factor = self.slowdown.get(k, bud.DEFAULT_MEMORY_SLOWDOWN)
        room = left - reserve
        if factor * call_s > room:
            run = human_seconds(factor * call_s)
            c.add_note(f"peak memory not measured: a tracemalloc run (~{run}) would not fit the budget")
            return left
        try:
            with time_limit(room):
                peak, elapsed, stats = traced_peak(fn)
        except TimeLimitExceeded:
            c.add_note("peak memory not measured: the tracemalloc run overran the budget")
            return max(0.0, left - room)
        c.peak_bytes = peak
        c.tape_bytes = stats.tape_bytes or None
        self.peaks[k].append((n, float(peak)))
        self.slowdown[k] = max(1.0, elapsed / max(call_s, 1e-9))
        return left - elapsed

    def probe(self, k: str, n: int, fn: Callable[[], Any], call_s: float) -> None:
        """A tracemalloc run of a small probe call (taking ``call_s`` untraced), for predictions."""
        try:
            peak, elapsed, _ = traced_peak(fn)
        except Exception:
            return
        self.peaks[k].append((n, float(peak)))
        self.slowdown[k] = max(1.0, elapsed / max(call_s, 1e-9))

    def measured_below(self, k: str, n: int) -> bool:
        return any(s < n for s, _ in self.peaks[k])

    def prediction_too_large(self, k: str, c: Cell, n: int, footprint: int) -> str | None:
        """Why ``c`` is skipped if its peak memory predicted from smaller n (plus ``footprint``, its
        inputs) would pass the limit; None if it fits or cannot be predicted."""
        mfit = bud.fit_power(self.peaks[k], n)
        if mfit is None or self.limit is None:
            return None
        need = mfit.at(n) + footprint
        if need <= self.limit:
            return None
        fits = bud.round_down(mfit.largest_n(self.limit))
        u = self.unit
        return (
            f"would need about {human_bytes(need)} of memory (peak ~ "
            f"{u}^{mfit.exponent:.2f} from {u} = {', '.join(map(str, mfit.sizes))}), and "
            f"{human_bytes(self.available)} is available; {u} <= {fits} would fit"
        )

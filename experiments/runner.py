"""The timing runner: for each (problem, n, mode) cell, verify, time, count and record.

Per size n (with m outputs for Jacobian problems) the runner

1. predicts each mode's cost per call from smaller n (earlier sizes of the run, or quick probes
   at n/2, n/4, ...) and skips modes that would not fit ``budget`` seconds, allowing for the
   prediction's error (``budget.PREDICTION_SLACK``), or memory, saying why and which n would fit;
2. builds the instance and calls each mode once, timed but apart from the samples, inside
   ``modes.counting()``: that call is the warm-up, gives the operation counts, and its result is
   checked: forward and reverse must agree within ``tolerance`` (and match the closed-form
   reference when there is one). A call of at least ``budget.LONG_CALL_S`` needs no warm-up, so
   its verification call is its first sample, and the cell may end with fewer than
   ``budget.MIN_REPEATS`` samples (down to that one, IQR not available) when the budget allows
   no more; the cell's note says so;
3. measures peak memory in a separate ``tracemalloc`` run (if it fits the budget);
4. times the plain function and every mode with interleaved repeats (``experiments.timing``);
5. hands each finished :class:`~experiments.results.Cell` to the record, which saves it at once.

Only the public API of :mod:`modes` is used, so a user's function is timed exactly as ours are.
"""

from __future__ import annotations

import math
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

import modes
from experiments import budget as bud
from experiments.environment import available_memory
from experiments.problems import GRADIENT, Instance, Problem, ProblemError
from experiments.results import Cell, RunRecord
from experiments.tables import human_bytes, human_seconds
from experiments.timing import (
    Plan,
    Summary,
    TimeLimitExceeded,
    interleave,
    loops_for,
    probe_time,
    time_limit,
    timed_call,
)

MODES = ("forward", "forward-chunked", "reverse")
FUNCTION = "function"
#: A probe stops growing n once one call takes this long.
PROBE_STOP_S = 0.1
#: Probe calls shorter than this are repeated and the fastest kept (less noise).
PROBE_REPEAT_S = 0.25
#: Memory probes run at the largest probe size whose call took at most this long.
MEMORY_PROBE_MAX_S = 0.02
#: A cell is skipped if its predicted peak memory passes this share of the available memory.
MEMORY_HEADROOM = 0.8
#: Exit codes.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_DISAGREE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

_MODES_DIR = str(Path(modes.__file__).resolve().parent)
_SELF_DIR = str(Path(__file__).resolve().parent)


@dataclass
class Settings:
    """What to run: one problem at the given sizes, in the given modes."""

    problem: Problem
    sizes: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    outputs: list[int] | None = None  # Jacobian problems: output counts (None: problem default)
    modes: tuple[str, ...] = MODES
    chunk: int | None = None  # forward-chunked's chunk (None: modes.choose_chunk's default)
    repeat: int = 7
    budget: float = bud.DEFAULT_BUDGET_S
    seed: int = 0
    tolerance: float = 1e-8
    memory: bool = True

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(problem=self.problem.name, modes=list(self.modes), sizes=list(self.sizes))
        return d


@dataclass
class Outcome:
    """How a run went: its cells and why it stopped."""

    cells: list[Cell]
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.cells)

    @property
    def disagreements(self) -> list[Cell]:
        return [c for c in self.cells if c.agrees is False and c.mode != "reverse"]

    @property
    def too_large(self) -> bool:
        """Nothing was measured: every differentiation cell was over the budget or the memory."""
        ad = [c for c in self.cells if c.mode != FUNCTION]
        return bool(ad) and all(c.status == "skipped" for c in ad)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.disagreements:
            return EXIT_DISAGREE
        if self.count("error"):
            return EXIT_FAILURE
        if self.too_large:
            return EXIT_USAGE
        return EXIT_OK


def rel_diff(a: Any, b: Any) -> float:
    """max |a - b| / max |b| over finite entries; inf if shapes or NaN positions differ."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or (np.isnan(a) != np.isnan(b)).any():
        return math.inf
    mask = ~np.isnan(a)
    if not mask.any():
        return 0.0
    with np.errstate(invalid="ignore"):
        d = np.where(a == b, 0.0, np.abs(a - b))[mask]
    diff = float(d.max())
    scale = float(np.abs(b[mask & np.isfinite(b)]).max()) if (mask & np.isfinite(b)).any() else 0.0
    if diff == 0.0:
        return 0.0
    return diff / scale if scale > 0 and math.isfinite(diff) else math.inf


def describe_error(e: BaseException) -> str:
    """``Type: message (file:line)``, pointing at the innermost frame outside this toolkit's engines."""
    frames = [
        f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith((_MODES_DIR, _SELF_DIR))
    ]
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(e).__name__}: {e}{where}"


def chunk_for(mode: str, n: int, chunk: int | None) -> int | None:
    """Forward directions per pass for ``mode`` at ``n`` (None for reverse and the function)."""
    if mode == "forward":
        return 1
    if mode == "forward-chunked":
        return modes.choose_chunk(n, chunk)
    return None


def kernel(inst: Instance, mode: str, chunk: int | None) -> Callable[[], Any]:
    """The zero-argument callable timed for ``mode``: f itself, or its gradient/Jacobian."""
    f, x = inst.f, inst.x
    if mode == FUNCTION:
        return lambda: f(x)
    diff = modes.grad if inst.kind == GRADIENT else modes.jacobian
    if mode == "reverse":
        return lambda: diff(f, x, mode="reverse")
    c = chunk_for(mode, inst.n, chunk)
    return lambda: diff(f, x, mode="forward", chunk=c)


def traced_peak(fn: Callable[[], Any]) -> tuple[int, float, modes.Stats]:
    """(peak bytes allocated during ``fn()``, seconds it took under tracemalloc, its counts)."""
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
        peak = max(tracemalloc.get_traced_memory()[1] - base, stats.peak_bytes)
    finally:
        if started:
            tracemalloc.stop()
    return peak, elapsed, stats


class Runner:
    """Runs :class:`Settings` and records each cell as it finishes."""

    def __init__(
        self,
        settings: Settings,
        record: RunRecord | None = None,
        narrate: Callable[[str], None] | None = None,
        progress: Callable[[int, str], None] | None = None,
    ) -> None:
        self.s = settings
        self.record = record
        self.narrate = narrate or (lambda msg: None)
        self.progress = progress or (lambda step, label: None)
        self.kernels = (FUNCTION, *self.s.modes)
        # seconds per unit of work (per forward pass, per reverse sweep) at each n measured
        self.times: dict[str, list[tuple[int, float]]] = {k: [] for k in self.kernels}
        self.peaks: dict[str, list[tuple[int, float]]] = {k: [] for k in self.kernels}
        self.slowdown: dict[str, float] = {}
        self.cells: list[Cell] = []
        self.kind = settings.problem.kind if settings.problem.kind != "user" else GRADIENT
        self.memory_available = available_memory()
        self._built: set[tuple[int, int]] = set()
        self._probed: set[int] = set()  # requested sizes at which f has been probed
        self._predicted: dict[str, Callable[[int], float]] = {}  # this size's predictors, by kernel

    # --------------------------------------------------------------------- the whole run

    def groups(self) -> list[tuple[int, int | None]]:
        """The (n, outputs) pairs to run, in order."""
        return [(n, m) for n in self.s.sizes for m in (self.s.outputs or [None])]

    def run(self) -> Outcome:
        """Run every size; Ctrl-C stops the run, keeping (and recording) what was measured."""
        outcome = Outcome(self.cells)
        try:
            for n, m in self.groups():
                self._group(n, m)
        except KeyboardInterrupt:
            outcome.interrupted = True
        return outcome

    def _emit(self, cell: Cell) -> None:
        self.cells.append(cell)
        if self.record is not None:
            self.record.add(cell)
        self.progress(len(self.cells), f"{cell.mode} n={cell.n}")

    # ------------------------------------------------------------------------ one size

    def _base(self, mode: str, n: int, requested: int, m: int, kind: str) -> Cell:
        c = chunk_for(mode, n, self.s.chunk)
        return Cell(
            problem=self.s.problem.name,
            kind=kind,
            n=n,
            requested_n=requested,
            m=m,
            mode=mode,
            chunk=c,
            passes=math.ceil(n / c) if c else 1,
            sweeps=m if mode == "reverse" else None,
            seed=self.s.seed,
        )

    def _group(self, n: int, outputs: int | None) -> None:
        p = self.s.problem
        m_req = p.outputs_for(n, outputs)
        m_guess = m_req or 1
        cells = {k: self._base(k, n, n, m_guess, self.kind) for k in self.kernels}

        # 1. inputs and data that could not even be allocated
        need = p.footprint(n, m_guess)
        if self.memory_available and need > MEMORY_HEADROOM * self.memory_available:
            fit = self._largest(
                lambda k: p.footprint(k, p.outputs_for(k, outputs) or 1),
                MEMORY_HEADROOM * self.memory_available,
                n,
            )
            why = (
                f"its inputs and data alone need at least {human_bytes(need)}, and this machine has "
                f"{human_bytes(self.memory_available)} available; n <= {fit} would fit"
            )
            for c in cells.values():
                self._emit(_skip(c, why))
            self.narrate(f"n = {n}: skipped: {why}")
            return

        # 2. predictions from smaller n
        if self._needs_probe(n):
            if self._climbing(n):
                self.narrate(f"n = {n}: probing smaller sizes to predict the cost")
            self._probe(n, outputs)
        live = self._predict(cells, n, outputs)
        if not any(k != FUNCTION and k in live for k in cells):
            for k in list(live):
                cells[k] = _skip(
                    cells[k], "no differentiation mode fits the budget at this n, so f is not timed"
                )
                live.discard(k)
        for k, c in cells.items():
            if k not in live:
                self._emit(c)
        skipped = [k for k in cells if k not in live]
        self.narrate(
            f"n = {n}: "
            + (f"measuring {', '.join(k for k in cells if k in live)}" if live else "nothing fits")
            + (f"; skipped {', '.join(skipped)}" if skipped else "")
        )
        if not live:
            return

        # 3. build
        try:
            inst = p.build(n, self.s.seed, outputs, self.s.options)
        except Exception as e:
            msg = (
                str(e) if isinstance(e, ProblemError) else f"building the problem failed: {describe_error(e)}"
            )
            for k in live:
                self._emit(_error(cells[k], msg))
            self.narrate(f"n = {n}: error: {msg}")
            return
        if (inst.n, inst.m) in self._built:
            self.narrate(f"n = {n}: {p.name} rounds it to n = {inst.n}, already measured; skipping")
            self.progress(len(self.cells), "")
            return
        self._built.add((inst.n, inst.m))
        self.kind = inst.kind
        for k in live:
            base = self._base(k, inst.n, n, inst.m, inst.kind)
            base.predicted_time_s = cells[k].predicted_time_s
            base.predicted_exponent = cells[k].predicted_exponent
            base.predicted_from = cells[k].predicted_from
            base.details = dict(inst.details)
            cells[k] = base
        self._measure(inst, cells, live)

    def _measure(self, inst: Instance, cells: dict[str, Cell], live: set[str]) -> None:
        """Verify, count, size memory and time the live kernels of one instance; emit the cells."""
        fns = {k: kernel(inst, k, self.s.chunk) for k in self.kernels if k in live}
        results: dict[str, Any] = {}
        plans: dict[str, Plan] = {}
        try:
            for k in fns:
                self.progress(len(self.cells), f"checking {k} n={inst.n}")
                cells[k], results[k] = self._verify(k, fns[k], cells[k])
            self._check(inst, cells, results)
            for k in fns:
                if cells[k].status == "ok":
                    cells[k], plan = self._plan(k, fns[k], cells[k], inst.n)
                    if plan is not None:
                        plans[k] = plan
            rounds = max((pl.repeats for pl in plans.values()), default=0)
            label = f"timing n={inst.n}"
            self.progress(len(self.cells), label)
            interleave(plans, on_round=lambda r: self.progress(len(self.cells), f"{label}: {r}/{rounds}"))
        except KeyboardInterrupt:
            for k in fns:
                c = cells[k]
                if c.status == "ok":
                    c.status, c.reason = "interrupted", "interrupted (Ctrl-C) while this size was measured"
                    self._fill_times(c, plans.get(k))
                self._emit(c)
            raise
        for k, plan in plans.items():
            c = cells[k]
            self._fill_times(c, plan)
            if bud.is_long(c.first_call_s or 0.0):
                c.note = _join(
                    c.note, _long_call_note(len(plan.samples), self.s.repeat, self.s.budget, plan.stopped)
                )
            elif plan.stopped:
                c.note = _join(c.note, plan.stopped)
            if not plan.samples:
                cells[k] = _skip(c, plan.stopped or "no sample fitted the budget")
            else:
                self.times[k].append((inst.n, c.time_median_s / self._work(k, inst.n, inst.m)))
        self._ratios(cells)
        for k in fns:
            self._emit(cells[k])

    def _verify(self, k: str, fn: Callable[[], Any], c: Cell) -> tuple[Cell, Any]:
        """The first call, timed like a sample (``first_call_s``): warm-up (or, for a long call,
        the first sample), operation counts, and the result to check."""
        try:
            with modes.counting(memory=False) as stats:
                c.first_call_s, result = timed_call(fn, limit=self.s.budget)
        except TimeLimitExceeded:
            return _skip(c, self._overran(k, c)), None
        except Exception as e:
            return _error(c, f"{k} failed: {describe_error(e)}"), None
        if k == "reverse":
            c.ops, c.adjoint_updates, c.tape_length = stats.ops, stats.adjoint_updates, stats.tape_length
        elif k != FUNCTION:
            c.ops, c.tangent_updates = stats.ops, stats.tangent_updates
        if k != FUNCTION:
            c.passes = stats.passes or c.passes
            c.sweeps = stats.sweeps or c.sweeps
        return c, result

    def _overran(self, k: str, c: Cell) -> str:
        """Why a cell whose verification call was cut off at the budget is skipped, and an upper
        bound on the n that would fit: its prediction, scaled up to at least the budget at this n
        (the call took longer than that), is a lower bound on its cost."""
        why = f"one call did not finish within the {self.s.budget:g} s budget"
        seconds, t = self._predicted.get(k), c.predicted_time_s
        if seconds is None or not t:
            return why
        scale = max(1.0, self.s.budget / t)
        most = bud.largest_call_within(self.s.budget, self.s.repeat)
        fits = self._largest(lambda size: scale * seconds(size), most, c.requested_n - 1) if most else 0
        return f"{why} (predicted {human_seconds(t)}); " + (
            f"at most n <= {fits} would fit" if fits >= self.s.problem.min_n else "no n would fit"
        )

    def _plan(self, k: str, fn: Callable[[], Any], c: Cell, n: int) -> tuple[Cell, Plan | None]:
        """Loop count (autorange), the memory run, and as many repeats as the budget leaves. A long
        call (``budget.LONG_CALL_S``) skips the warm-up and autorange: its verification call is
        its first sample, and it is timed even when no further sample fits."""
        first = c.first_call_s or 0.0
        left = self.s.budget - first
        if bud.is_long(first):
            # samples first: a tracemalloc run of a long call costs several calls, so peak memory
            # is measured only if every sample wanted still fits after it
            left = self._memory(k, c, fn, first, left, n, reserve=(self.s.repeat - 1) * first)
            repeats = 1 + bud.repeats_within(first, left, self.s.repeat - 1)
            c.loops = 1  # the note on its samples is added once they are taken
            return c, Plan(fn, 1, repeats, first, allowance=left, samples=[first])
        least = min(bud.MIN_REPEATS, self.s.repeat)
        over = f"{least} timed samples would pass the {self.s.budget:g} s budget"
        if left < bud.timing_cost(first, least):
            guess = f" (predicted {human_seconds(c.predicted_time_s)})" if c.predicted_time_s else ""
            return _skip(c, f"one call took {human_seconds(first)}{guess}; {over}"), None
        t0 = time.perf_counter()
        loops, call_s = loops_for(fn, first, limit=left)
        left -= time.perf_counter() - t0
        left = self._memory(k, c, fn, call_s, left, n, reserve=bud.timing_cost(call_s, least))
        repeats = bud.repeats_within(call_s * loops, left, self.s.repeat)
        if repeats < least:
            return _skip(c, over), None
        if repeats < self.s.repeat:
            c.note = _join(c.note, f"{repeats} of {self.s.repeat} repeats to stay within the budget")
        c.loops = loops
        return c, Plan(fn, loops, repeats, call_s, allowance=left)

    # ----------------------------------------------------------------- checks and ratios

    def _check(self, inst: Instance, cells: dict[str, Cell], results: dict[str, Any]) -> None:
        """Forward against reverse (or the other forward), and each against the reference."""
        ad = [
            k for k in ("reverse", "forward-chunked", "forward") if k in results and cells[k].status == "ok"
        ]
        tol = self.s.tolerance
        if len(ad) >= 2:
            base = ad[0]
            diffs = {k: rel_diff(results[k], results[base]) for k in ad[1:]}
            for k, d in diffs.items():
                cells[k].max_rel_diff, cells[k].agrees = d, d <= tol
            worst = max(diffs.values())
            cells[base].max_rel_diff, cells[base].agrees = worst, worst <= tol
            for k, d in diffs.items():
                if d > tol:
                    why = f"{k} and {base} disagree: max relative difference {d:.3g} > tolerance {tol:g}"
                    cells[k] = _error(cells[k], why)
                    cells[base].note = _join(cells[base].note, f"disagrees with {k}")
                    self.narrate(f"n = {inst.n}: error: {why}")
        if inst.reference is not None:
            for k in ad:
                d = rel_diff(results[k], inst.reference)
                cells[k].ref_rel_diff = d
                if d > tol and cells[k].status == "ok":
                    cells[k] = _error(
                        cells[k],
                        f"differs from the closed-form reference by {d:.3g} (relative) > tolerance {tol:g}",
                    )

    def _ratios(self, cells: dict[str, Cell]) -> None:
        def med(k: str) -> float | None:
            c = cells.get(k)
            return c.time_median_s if c is not None and c.status == "ok" else None

        f, fw, fc = med(FUNCTION), med("forward"), med("forward-chunked")
        for k, c in cells.items():
            t = med(k)
            if t is None:
                continue
            c.function_time_s = f
            if k != FUNCTION:
                c.ratio_to_function = t / f if f else None
                c.speedup_vs_forward = fw / t if fw else None
                c.speedup_vs_forward_chunked = fc / t if fc else None

    @staticmethod
    def _fill_times(c: Cell, plan: Plan | None) -> None:
        if plan is None or not plan.samples:
            return
        s = Summary.of(plan.samples)
        c.samples_s = list(plan.samples)
        c.time_median_s, c.time_q1_s, c.time_q3_s, c.time_iqr_s = s.median, s.q1, s.q3, s.iqr

    # ------------------------------------------------------------------------ memory

    def _memory(
        self, k: str, c: Cell, fn: Callable[[], Any], call_s: float, left: float, n: int, reserve: float
    ) -> float:
        """Measure peak memory if the tracemalloc run fits in ``left`` while leaving ``reserve``
        seconds for the samples; returns the budget left after it."""
        if not self.s.memory:
            return left
        factor = self.slowdown.get(k, bud.DEFAULT_MEMORY_SLOWDOWN)
        room = left - reserve
        if factor * call_s > room:
            run = human_seconds(factor * call_s)
            c.note = _join(
                c.note, f"peak memory not measured: a tracemalloc run (~{run}) would not fit the budget"
            )
            return left
        try:
            with time_limit(room):
                peak, elapsed, stats = traced_peak(fn)
        except TimeLimitExceeded:
            c.note = _join(c.note, "peak memory not measured: the tracemalloc run overran the budget")
            return max(0.0, left - room)
        c.peak_bytes = peak
        c.tape_bytes = stats.tape_bytes or None
        self.peaks[k].append((n, float(peak)))
        self.slowdown[k] = max(1.0, elapsed / max(call_s, 1e-9))
        return left - elapsed

    # -------------------------------------------------------------------- prediction

    def _climbing(self, n: int) -> list[str]:
        """Modes with fewer than two measured sizes below n: they need probes to be predicted."""
        return [k for k in self.kernels if k != FUNCTION and len({s for s, _ in self.times[k] if s < n}) < 2]

    def _needs_probe(self, n: int) -> bool:
        if self.s.problem.fixed_n is not None or not self._ladder(n):
            return False
        return bool(self._climbing(n)) or not set(self._ladder(n)) <= self._probed

    def _ladder(self, n: int) -> list[int]:
        lo = max(self.s.problem.min_n, 1)
        return sorted({n >> j for j in range(1, 64) if (n >> j) >= lo})

    def _probe(self, n: int, outputs: int | None) -> None:
        """Quick timings at n/2^j, smallest first: a mode climbs until one call takes
        ``PROBE_STOP_S``; f (cheap) is timed at every size up to n/2 not probed yet, so that its
        growth, which predictions follow, is measured close to n."""
        p = self.s.problem
        climbing = self._climbing(n)
        cheap = FUNCTION in self.kernels
        small: dict[str, tuple[Instance, float]] = {}
        for size in self._ladder(n):
            todo = climbing + ([FUNCTION] if cheap and size not in self._probed else [])
            if not todo:
                continue
            if (
                self.memory_available
                and p.footprint(size, p.outputs_for(size, outputs) or 1)
                > MEMORY_HEADROOM * self.memory_available
            ):
                break
            try:
                inst = p.build(size, self.s.seed, outputs, self.s.options)
            except Exception:
                break
            self.kind = inst.kind
            self._probed.add(size)
            for k in todo:
                work = self._work(k, inst.n, inst.m)
                fn = kernel(inst, k, self.s.chunk)
                try:
                    t = probe_time(fn, limit=self.s.budget, again_below=PROBE_REPEAT_S)
                except TimeLimitExceeded:
                    t = self.s.budget
                except Exception:
                    t = math.nan
                if math.isfinite(t):
                    self.times[k].append((inst.n, t / work))
                if t <= MEMORY_PROBE_MAX_S or k not in small:
                    small[k] = (inst, t)
                if not t < PROBE_STOP_S:
                    if k == FUNCTION:
                        cheap = False
                    else:
                        climbing.remove(k)
        if self.s.memory:
            for k, (inst, t) in small.items():
                if math.isfinite(t) and not any(s < n for s, _ in self.peaks[k]):
                    try:
                        peak, elapsed, _ = traced_peak(kernel(inst, k, self.s.chunk))
                    except Exception:
                        continue
                    self.peaks[k].append((inst.n, float(peak)))
                    self.slowdown[k] = max(1.0, elapsed / max(t, 1e-9))

    def _work(self, k: str, n: int, m: int) -> int:
        """Units of work a call does: forward passes, reverse sweeps (Jacobians), else 1."""
        if k in ("forward", "forward-chunked"):
            return math.ceil(n / (chunk_for(k, n, self.s.chunk) or 1))
        return m if k == "reverse" and self.kind != GRADIENT else 1

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
        p = self.s.problem

        def seconds(size: int) -> float:
            return fit.at(size) * self._work(k, size, p.outputs_for(size, outputs) or 1)

        return seconds, fit

    def _predict(self, cells: dict[str, Cell], n: int, outputs: int | None) -> set[str]:
        """Fill each cell's prediction; return the kernels worth running (others become skipped)."""
        live = set()
        self._predicted = {}
        repeat = self.s.repeat
        most = bud.largest_call_within(self.s.budget, repeat)
        for k, c in cells.items():
            pred = self._predictor(k, n, outputs)
            if pred is not None:
                seconds, fit = pred
                self._predicted[k] = seconds
                t = c.predicted_time_s = seconds(n)
                c.predicted_exponent = round(fit.exponent, 3)
                c.predicted_from = list(fit.sizes)
                if bud.hopeless(t, self.s.budget, repeat):
                    fits = self._largest(seconds, most, n) if most else 0
                    cost = (
                        f"even one call (a call of {bud.LONG_CALL_S:g} s or more is timed once: its "
                        "verification call is its sample)"
                        if bud.is_long(t)
                        else f"checking and timing it {min(bud.MIN_REPEATS, repeat)} times"
                    )
                    cells[k] = _skip(
                        c,
                        (
                            f"predicted {human_seconds(t)} per call (a pass measured at "
                            f"n = {fit.n0}, growing like n^{fit.exponent:.2f}); {cost} would pass the "
                            f"{self.s.budget:g} s budget by more than the {bud.PREDICTION_SLACK:g}x a "
                            "prediction may be off; "
                            + (f"n <= {fits} would fit" if fits >= self.s.problem.min_n else "no n would fit")
                            + f", or --budget {math.ceil(bud.minimum_cost(t, repeat))}"
                        ),
                    )
                    continue
            mfit = bud.fit_power(self.peaks[k], n)
            if mfit is not None and self.memory_available:
                need = mfit.at(n) + self.s.problem.footprint(n, c.m)
                limit = MEMORY_HEADROOM * self.memory_available
                if need > limit:
                    fits = bud.round_down(mfit.largest_n(limit))
                    cells[k] = _skip(
                        c,
                        (
                            f"would need about {human_bytes(need)} of memory (peak ~ "
                            f"n^{mfit.exponent:.2f} from n = {', '.join(map(str, mfit.sizes))}), and "
                            f"{human_bytes(self.memory_available)} is available; n <= {fits} would fit"
                        ),
                    )
                    continue
            live.add(k)
        return live

    def _largest(self, cost: Callable[[int], float], limit: float, n: int) -> int:
        """The largest k <= n with ``cost(k) <= limit`` (cost increasing in k), rounded down."""
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if cost(mid) <= limit:
                lo = mid
            else:
                hi = mid - 1
        return bud.round_down(lo)


def _long_call_note(samples: int, wanted: int, budget: float, stopped: str | None) -> str:
    """What a long call's cell says about its samples, the first of which is its verification call."""
    why = f"a call this long (>= {bud.LONG_CALL_S:g} s) needs no warm-up"
    if samples < 2:
        text = f"1 sample: the verification call; {why}; IQR not available"
    else:
        text = (
            f"{samples} {'' if samples == wanted else f'of {wanted} '}samples, the first being the "
            f"verification call ({why})"
        )
    if samples < wanted:
        text += (
            "; " + stopped
            if stopped and "overran" in stopped
            else f"; the {budget:g} s budget allows no more"
        )
    return text


def _join(a: str | None, b: str) -> str:
    return b if not a else f"{a}; {b}"


def _skip(c: Cell, why: str) -> Cell:
    c.status, c.reason = "skipped", why
    return c


def _error(c: Cell, why: str) -> Cell:
    c.status, c.reason = "error", why
    return c

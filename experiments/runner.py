"""The timing runner: for each (problem, n, mode) cell, predict, verify, time, count and record.

Per size n (with m outputs for Jacobian problems) the runner

1. asks :class:`~experiments.predict.Predictor` which modes fit ``budget`` seconds and the memory
   (the others are skipped, saying why and which n would fit);
2. builds the instance and calls each mode once, timed but apart from the samples, inside
   ``modes.counting()``: that call is the warm-up, gives the operation counts, and its result is
   checked (:mod:`experiments.verify`): forward and reverse must agree within ``tolerance`` (and
   match the closed-form reference when there is one). A call of at least ``budget.LONG_CALL_S``
   needs no warm-up, so its verification call is its first sample, and the cell may end with
   fewer than ``budget.MIN_REPEATS`` samples (down to that one, IQR not available) when the
   budget allows no more; the cell's note says so;
3. measures peak memory in a separate ``tracemalloc`` run if it fits the budget
   (:mod:`experiments.memory`);
4. times the plain function and every mode with interleaved repeats (:mod:`experiments.timing`);
5. hands each finished :class:`~experiments.results.Cell` to the record, which saves it at once.

With ``Settings.chunks`` the run ends with a chunk-size sweep: forward-chunked timed again at
each further chunk size, checked against (and interleaved with) its own reverse-mode run.

With ``Settings.peers`` (``--peers``) each size also times the peers' kernels
(:mod:`experiments.peers.run`), checked against our reverse mode and interleaved with ours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

import modes
from experiments import budget as bud
from experiments.human import human_seconds, plural
from experiments.kernels import chunk_for, input_elements, kernel
from experiments.memory import MemoryMeter
from experiments.peers.run import PeerBench
from experiments.predict import Predictor
from experiments.problems import GRADIENT, Instance, Problem, ProblemError
from experiments.results import (
    CHUNK_SWEEP,
    DEFAULT_MODES,
    FORWARD,
    FORWARD_CHUNKED,
    FORWARD_MODES,
    FUNCTION,
    OURS,
    REVERSE,
    REVERSE_CHUNKED,
    REVERSE_REPLAY,
    Cell,
)
from experiments.tables import reason_key
from experiments.timing import (
    IQR_MIN_SAMPLES,
    Plan,
    Summary,
    TimeLimitExceeded,
    interleave,
    loops_for,
    timed_call,
)
from experiments.verify import check, check_peers, describe_error


@dataclass
class Settings:
    """What to run: one problem at the given sizes, in the given modes."""

    problem: Problem
    sizes: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    outputs: list[int] | None = None  # Jacobian problems: output counts (None: problem default)
    modes: tuple[str, ...] = DEFAULT_MODES
    chunk: int | None = None  # forward-chunked's chunk (None: modes.choose_chunk's default)
    repeat: int = 7
    budget: float = bud.DEFAULT_BUDGET_S
    seed: int = 0
    tolerance: float = 1e-8
    memory: bool = True
    chunks: list[int] | None = None  # a chunk-size sweep after the run (one n): these chunk sizes
    peers: tuple[Any, ...] = ()  # experiments.peers adapters timed beside ours at each size
    #: ``sizes`` are problem sizes (``--sizes``: build(size, seed), the input count read from x),
    #: not input counts; predictions then follow the time per call against the size
    by_size: bool = False
    #: (K, N): run only the K-th of N shares of the sizes (``--shard K/N``), for merging later
    shard: tuple[int, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(problem=self.problem.name, modes=list(self.modes), sizes=list(self.sizes))
        d.update(peers=[p.name for p in self.peers])
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
        return [c for c in self.cells if c.agrees is False and (c.mode != REVERSE or c.library != OURS)]

    @property
    def too_large(self) -> bool:
        """Nothing was measured: every differentiation cell was over the budget or the memory."""
        ad = [c for c in self.cells if c.mode != FUNCTION and c.library == OURS]
        return bool(ad) and all(c.status == "skipped" for c in ad)


class Record(Protocol):
    """Where finished cells go (:class:`experiments.results.RunRecord`)."""

    def add(self, cell: Cell) -> None: ...


class Runner:
    """Runs :class:`Settings` and records each cell as it finishes."""

    def __init__(
        self,
        settings: Settings,
        record: Record | None = None,
        narrate: Callable[[str], None] | None = None,
        progress: Callable[[int, str], None] | None = None,
    ) -> None:
        self.s = settings
        self.record = record
        self.narrate = narrate or (lambda msg: None)
        self.progress = progress or (lambda step, label: None)
        self.kernels = (FUNCTION, *self.s.modes)
        self.cells: list[Cell] = []
        self.memory = MemoryMeter(self.kernels, enabled=settings.memory)
        self.predictor = Predictor(
            settings.problem,
            self.kernels,
            self.memory,
            budget=settings.budget,
            repeat=settings.repeat,
            seed=settings.seed,
            chunk=settings.chunk,
            options=settings.options,
            kind=settings.problem.kind if settings.problem.kind != "user" else GRADIENT,
            by_size=settings.by_size,
        )
        self.memory.unit = self.predictor.unit
        self._built: set[tuple[int, int]] = set()
        self.done = 0  # progress steps done: cells emitted, and cells planned but not run (see total)
        self._build_errors: dict[str, int] = {}  # a builder's error (said once), by the first n
        s = settings
        self.peers = (
            PeerBench(s.peers, s.problem.name, s.modes, s.budget, s.repeat, s.seed) if s.peers else None
        )

    # --------------------------------------------------------------------- the whole run

    @property
    def total(self) -> int:
        """Progress steps in the whole run: a cell per kernel and size, and three per chunk size
        of a chunk-size sweep (its f, forward-chunked and reverse runs). Steps that turn out not
        to be needed (a size rounded to one already measured) are counted as done when dropped."""
        per_size = len(self.kernels) + self._peer_kernels()
        return len(self.groups()) * per_size + 3 * len(self.s.chunks or [])

    def _peer_kernels(self) -> int:
        return self.peers.kernel_count() if self.peers is not None else 0

    def groups(self) -> list[tuple[int, int | None]]:
        """The (n, outputs) pairs to run, in order; with a shard, its share of them."""
        return shard_of([(n, m) for n in self.s.sizes for m in (self.s.outputs or [None])], self.s.shard)

    def run(self) -> Outcome:
        """Run every size, then the chunk-size sweep if asked for; Ctrl-C stops the run, keeping
        (and recording) what was measured."""
        outcome = Outcome(self.cells)
        try:
            for n, m in self.groups():
                self._group(n, m)
            if self.s.chunks:
                self._chunk_sweep(self.s.chunks)
        except KeyboardInterrupt:
            outcome.interrupted = True
        return outcome

    def _emit(self, cell: Cell) -> None:
        self.cells.append(cell)
        if self.record is not None:
            self.record.add(cell)
        self.done += 1
        at = f"size={cell.size}" if cell.size is not None else f"n={cell.n}"
        self.progress(self.done, f"{cell.mode} {at}")

    def _chunk_sweep(self, chunks: list[int]) -> None:
        """After the run (f, forward, the default chunk and reverse at its one n), time
        forward-chunked at each further chunk size, checked against reverse mode like any cell.
        Only the sweep's forward-chunked cells are kept (tagged ``CHUNK_SWEEP``): its f and reverse
        cells are timed again only to check and interleave."""
        done = {c.chunk for c in self.cells if c.mode in FORWARD_MODES and c.chunk}
        n = max((c.n for c in self.cells), default=self.s.sizes[0])
        todo = sorted({min(c, n) for c in chunks} - done)
        self.done += 3 * (len(chunks) - len(todo))  # chunk sizes already timed, or clamped together
        for chunk in todo:
            self.narrate(f"n = {n}: chunk-size sweep, forward-chunked with chunk {chunk}")
            sub = replace(self.s, modes=(FORWARD_CHUNKED, REVERSE), chunk=chunk, chunks=None, peers=())
            base = self.done
            on = self._counting_on(base)
            sweep = Runner(sub, _SweepRecord(self), narrate=self.narrate, progress=on)
            interrupted = sweep.run().interrupted
            self.done = base + sweep.done
            if interrupted:
                raise KeyboardInterrupt

    def _counting_on(self, base: int) -> Callable[[int, str], None]:
        """A progress callback for a sweep's runner, counting on from ``base`` steps done."""
        return lambda k, label: self.progress(base + k, label)

    # ------------------------------------------------------------------------ one size

    def _base(self, mode: str, n: int, requested: int, m: int, kind: str, elements: int = 1) -> Cell:
        c = chunk_for(mode, n, self.s.chunk, elements, m)
        rows = mode == REVERSE_CHUNKED  # c cotangents per sweep: one pass, ceil(m / c) sweeps
        return Cell(
            problem=self.s.problem.name,
            kind=kind,
            n=n,
            requested_n=requested,
            m=m,
            mode=mode,
            chunk=c,
            passes=math.ceil(n / c) if c and not rows else 1,
            sweeps=m if mode == REVERSE else math.ceil(m / c) if rows and c else None,
            seed=self.s.seed,
        )

    def _group(self, n: int, outputs: int | None) -> None:
        """One size: ``n`` is the input count asked for, or with ``by_size`` the problem size.
        The instance is built before anything is predicted or skipped, so that every cell names
        the input count and the passes of the instance that exists, never of one not built."""
        p = self.s.problem
        pred = self.predictor
        at = pred.unit  # "n" or "size"
        m_guess = p.outputs_for(n, outputs) or 1

        # 1. inputs and data that could not even be allocated (n inputs: unknown for a size)
        need = p.footprint(n, m_guess)
        if not self.s.by_size and self.memory.too_much(need):
            limit = self.memory.limit or math.inf
            fit = pred.largest(lambda k: p.footprint(k, p.outputs_for(k, outputs) or 1), limit, n)
            why = self.memory.inputs_too_large(n, need, fit)
            for k in self.kernels:
                self._emit(self._base(k, n, n, m_guess, pred.kind).skip(why))
            self._skip_peers(n, m_guess, why)
            self.narrate(f"n = {n}: skipped: {why}")
            return

        # 2. probes at smaller sizes, for the predictions
        if pred.needs_probe(n):
            if pred.climbing(n):
                self.narrate(f"{at} = {n}: probing smaller sizes to predict the cost")
            pred.probe(n, outputs)

        # 3. build
        try:
            inst = p.build(n, self.s.seed, outputs, self.s.options)
        except Exception as e:
            failed = f"building the problem failed: {describe_error(e)}"
            msg = str(e) if isinstance(e, ProblemError) else failed
            for k in self.kernels:
                c = self._base(k, n, n, m_guess, pred.kind)
                if self.s.by_size:  # n is unknown: no counts for an instance that does not exist
                    c.size, c.passes, c.sweeps = n, None, None
                self._emit(c.fail(msg))
            self._skip_peers(n, m_guess, msg)
            first = self._build_errors.setdefault(reason_key({"mode": "", "reason": msg}), n)
            self.narrate(f"{at} = {n}: error: " + (msg if first == n else f"the same as at {at} = {first}"))
            return
        key = (n, inst.m) if self.s.by_size else (inst.n, inst.m)
        if key in self._built:
            self.narrate(f"n = {n}: {p.name} rounds it to n = {inst.n}, already measured; skipping")
            self.done += len(self.kernels) + self._peer_kernels()  # this size's cells, never made
            self.progress(self.done, "")
            return
        self._built.add(key)
        pred.kind = inst.kind
        cells = {}
        for k in self.kernels:
            c = cells[k] = self._base(k, inst.n, n, inst.m, inst.kind, input_elements(inst.x))
            c.details = dict(inst.details)
            if self.s.by_size:
                c.size = n
        where = f"size = {n} (n = {inst.n})" if self.s.by_size else f"n = {inst.n}"
        if not self.s.by_size and inst.n != n:
            where = f"n = {n} (built with n = {inst.n})"

        # 4. predictions for this instance: what does not fit is skipped
        live = pred.predict(cells, n if self.s.by_size else inst.n, outputs)
        if not any(k != FUNCTION and k in live for k in cells):
            for k in list(live):
                cells[k].skip(f"no differentiation mode fits the budget at this {at}, so f is not timed")
                live.discard(k)
        for k, c in cells.items():
            if k not in live:
                self._emit(c)
        skipped = [k for k in cells if k not in live]
        self.narrate(
            f"{where}: "
            + (f"measuring {', '.join(k for k in cells if k in live)}" if live else "nothing fits")
            + (f"; skipped {', '.join(skipped)}" if skipped else "")
        )
        if not live:
            self._skip_peers(inst.n, inst.m, f"our engines measured nothing at this {at} (over the budget)")
            return
        self._measure(inst, cells, live, n if self.s.by_size else inst.n)

    def _skip_peers(self, n: int, m: int, why: str) -> None:
        """The peers' cells at ``n``, skipped because ours were not measured (``why``)."""
        if self.peers is not None:
            for c in self.peers.skipped(self.s.problem.name, self.predictor.kind, n, m, f"not timed: {why}"):
                self._emit(c)

    def _measure(self, inst: Instance, cells: dict[str, Cell], live: set[str], at: int) -> None:
        """Verify, count, size memory and time the live kernels of one instance (and the peers'
        kernels, checked against ours; ``at``: its size for predictions, the input count or the
        problem size); emit the cells."""
        fns = {k: kernel(inst, k, self.s.chunk) for k in self.kernels if k in live}
        where = f"size={at}" if self.s.by_size else f"n={inst.n}"
        results: dict[str, Any] = {}
        plans: dict[str, Plan] = {}
        peers = None
        try:
            if self.peers is not None:
                self.progress(self.done, f"preparing peers n={inst.n}")
                peers = self.peers.size(inst, self.s.problem.name, cells[next(iter(live))].requested_n)
            for k in fns:
                self.progress(self.done, f"checking {k} {where}")
                results[k] = self._verify(k, fns[k], cells[k])
            check(cells, results, inst.reference, self.s.tolerance, self.narrate)
            if peers is not None:
                self.progress(self.done, f"checking peers n={inst.n}")
                got = peers.verify()
                check_peers(peers.cells, got, cells, results, inst.reference, self.s.tolerance, self.narrate)
            for k in fns:
                if cells[k].status == "ok":
                    try:
                        plan = self._plan(k, fns[k], cells[k], at)
                    except Exception as e:  # this cell fails; the others are still timed
                        cells[k].fail(f"{k} failed after its verification call: {describe_error(e)}")
                        plan = None
                    if plan is not None:
                        plans[k] = plan
            if peers is not None:
                plans.update(peers.plans())
            rounds = max((pl.repeats for pl in plans.values()), default=0)
            label = f"timing {where}"
            self.progress(self.done, label)
            interleave(plans, on_round=lambda r: self.progress(self.done, f"{label}: {r}/{rounds}"))
        except KeyboardInterrupt:
            for k in fns:
                c = cells[k]
                if c.status == "ok":
                    c.status, c.reason = "interrupted", "interrupted (Ctrl-C) while this size was measured"
                    plan = plans.get(k)
                    if plan is not None and plan.samples:
                        c.reason = (
                            f"interrupted (Ctrl-C) after {len(plan.samples)} of {plan.repeats} samples "
                            "(the median shown is theirs)"
                        )
                    _fill_times(c, plan)
                self._emit(c)
            for c in peers.interrupted(plans) if peers is not None else []:
                self._emit(c)
            raise
        for k, plan in plans.items():
            if k not in cells:  # a peer's (filled in below)
                continue
            c = cells[k]
            if plan.error is not None:
                taken = plural(len(plan.samples), "sample")
                c.fail(f"{k} failed while timed (after {taken}): {describe_error(plan.error)}")
                continue
            _fill_times(c, plan)
            if bud.is_long(c.first_call_s or 0.0):
                c.add_note(
                    _long_call_note(
                        len(plan.samples), self.s.repeat, self.s.budget, plan.stopped, c.first_call_s or 0.0
                    )
                )
            elif plan.stopped:
                c.add_note(plan.stopped)
            if not plan.samples:
                c.skip(plan.stopped or "no sample fitted the budget")
            else:
                self.predictor.measured(k, at, inst.m, c.time_median_s)
                if miss := self.predictor.missed(c):
                    c.add_note(miss)
        _ratios(cells)
        for k in fns:
            self._emit(cells[k])
        for c in peers.finish(plans) if peers is not None else []:
            self._emit(c)

    def _verify(self, k: str, fn: Callable[[], Any], c: Cell) -> Any:
        """The first call, timed like a sample (``first_call_s``): warm-up (or, for a long call,
        the first sample), operation counts, and the result to check (None if it did not finish)."""
        try:
            with modes.counting(memory=False) as stats:
                c.first_call_s, result = timed_call(fn, limit=self.s.budget)
        except TimeLimitExceeded:
            c.skip(self.predictor.overran(k, c))
            return None
        except Exception as e:
            c.fail(f"{k} failed: {describe_error(e)}")
            return None
        if k == REVERSE_REPLAY:
            c.record_time_s = getattr(fn, "compile_seconds", None)
        if k in (REVERSE, REVERSE_CHUNKED, REVERSE_REPLAY):
            c.ops, c.adjoint_updates, c.tape_length = stats.ops, stats.adjoint_updates, stats.tape_length
        elif k != FUNCTION:
            c.ops, c.tangent_updates = stats.ops, stats.tangent_updates
        if k != FUNCTION:
            c.passes = stats.passes or c.passes
            c.sweeps = stats.sweeps or c.sweeps
        return result

    def _plan(self, k: str, fn: Callable[[], Any], c: Cell, n: int) -> Plan | None:
        """Loop count (autorange), the memory run, and as many repeats as the budget leaves. A long
        call (``budget.LONG_CALL_S``) skips the warm-up and autorange: its verification call is
        its first sample, and it is timed even when no further sample fits. None: ``c`` skipped."""
        first = c.first_call_s or 0.0
        left = self.s.budget - first
        if bud.is_long(first):
            # samples first: a tracemalloc run of a long call costs several calls, so peak memory
            # is measured only if every sample wanted still fits after it
            left = self.memory.measure(k, c, fn, first, left, n, reserve=(self.s.repeat - 1) * first)
            repeats = 1 + bud.repeats_within(first, left, self.s.repeat - 1)
            c.loops = 1  # the note on its samples is added once they are taken
            return Plan(fn, 1, repeats, first, allowance=left, samples=[first])
        least = min(bud.MIN_REPEATS, self.s.repeat)
        over = f"{least} timed samples would pass the {self.s.budget:g} s budget"
        if left < bud.timing_cost(first, least):
            guess = f" (predicted {human_seconds(c.predicted_time_s)})" if c.predicted_time_s else ""
            c.skip(f"one call took {human_seconds(first)}{guess}; {over}")
            return None
        t0 = time.perf_counter()
        loops, call_s = loops_for(fn, first, limit=left)
        left -= time.perf_counter() - t0
        left = self.memory.measure(k, c, fn, call_s, left, n, reserve=bud.timing_cost(call_s, least))
        repeats = bud.repeats_within(call_s * loops, left, self.s.repeat)
        if repeats < least:
            c.skip(over)
            return None
        if repeats < self.s.repeat:
            c.add_note(f"{repeats} of {self.s.repeat} repeats to stay within the budget")
        c.loops = loops
        return Plan(fn, loops, repeats, call_s, allowance=left)


def shard_of(groups: list[Any], shard: tuple[int, int] | None) -> list[Any]:
    """Shard K of N: every N-th size from the K-th (1-based), so that each shard gets small and
    large sizes alike. Deterministic; the N shards together hold every size exactly once, and
    each size's modes stay together (their repeats are interleaved on one machine)."""
    if shard is None:
        return list(groups)
    k, n = shard
    return [g for i, g in enumerate(groups) if i % n == k - 1]


class _SweepRecord:
    """Hands a chunk sweep's forward-chunked cells, tagged as the sweep's, to the runner that
    asked for the sweep (and its record) as they finish; the sweep's f and reverse cells are not
    kept."""

    def __init__(self, owner: Runner) -> None:
        self.owner = owner

    def add(self, cell: Cell) -> None:
        if cell.mode == FORWARD_CHUNKED:
            cell.details = {**cell.details, "sweep": CHUNK_SWEEP}
            self.owner.cells.append(cell)
            if self.owner.record is not None:
                self.owner.record.add(cell)


def _ratios(cells: dict[str, Cell]) -> None:
    """Each timed cell's time against f's and the forward modes' at the same n."""

    def med(k: str) -> float | None:
        c = cells.get(k)
        return c.time_median_s if c is not None and c.status == "ok" else None

    f, fw, fc, rv = med(FUNCTION), med(FORWARD), med(FORWARD_CHUNKED), med(REVERSE)
    replay, t_replay = cells.get(REVERSE_REPLAY), med(REVERSE_REPLAY)
    if replay is not None and t_replay is not None and rv is not None and replay.record_time_s is not None:
        saved = rv - t_replay
        replay.break_even_calls = math.ceil(replay.record_time_s / saved) if saved > 0 else None
    for k, c in cells.items():
        t = med(k)
        if t is None:
            continue
        c.function_time_s = f
        if k != FUNCTION:
            c.ratio_to_function = t / f if f else None
            c.speedup_vs_forward = fw / t if fw else None
            c.speedup_vs_forward_chunked = fc / t if fc else None


def _fill_times(c: Cell, plan: Plan | None) -> None:
    if plan is None or not plan.samples:
        return
    s = Summary.of(plan.samples)
    c.samples_s = list(plan.samples)
    c.time_median_s, c.time_q1_s, c.time_q3_s, c.time_iqr_s = s.median, s.q1, s.q3, s.iqr


def _long_call_note(samples: int, wanted: int, budget: float, stopped: str | None, first_s: float) -> str:
    """What a long call's cell says about its samples, the first of which is its verification call
    (the note names that call's time: the median of the samples may be under the threshold)."""
    why = f"its first call took {human_seconds(first_s)} (>= {bud.LONG_CALL_S:g} s), so it needs no warm-up"
    if samples < 2:
        text = f"1 sample: the verification call; {why}; IQR not available"
    else:
        of = "" if samples == wanted else f"of {wanted} "
        text = f"{samples} {of}samples, the first being the verification call ({why})"
        if samples < IQR_MIN_SAMPLES:
            text += f"; IQR not available (fewer than {IQR_MIN_SAMPLES} samples)"
    if samples < wanted:
        overran = stopped and "overran" in stopped
        text += f"; {stopped}" if overran else f"; the {budget:g} s budget allows no more"
    return text

"""Time our engines and the peers on one problem, in one run, the way the runner times our cells.

Per size n every kernel (ours: ``function``, ``forward``, ``forward-chunked``, ``reverse``; each
peer's: ``function`` and its modes, see :mod:`experiments.peers.base`)

1. is predicted from the smaller sizes of this run (seconds per pass, grown like its own fit) and
   skipped if hopeless for ``budget`` (``experiments.budget``); a jit's compile time likewise;
2. is called once, timed and interrupted at the budget: the warm-up (for ours, a call of at
   least ``budget.LONG_CALL_S`` is its own first sample; a peer's long first call is followed by
   a second that stands in for it, since a peer's first call may hold seconds of one-off
   compilation) and the result to check. Every derivative is
   checked against our reverse mode (max relative difference <= ``tolerance``; f's value against
   ours), and our reverse mode against the closed-form reference where there is one;
3. gets a loop count from ``timeit``'s autorange and as many samples as its budget allows;
4. is timed with every other kernel of this n in interleaved rounds (``experiments.timing``):
   gc collected before each sample and off while it runs, BLAS pinned to one thread by
   threadpoolctl, torch and XLA to one thread by their adapters.

Peak memory is not measured for peers (tracemalloc does not see their allocators).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import modes
from experiments import budget as bud
from experiments.environment import pinned_threads
from experiments.human import human_seconds
from experiments.peers.base import JIT, Peer, Prepared, settle
from experiments.peers.forms import Form
from experiments.problems import GRADIENT, Instance, Problem
from experiments.results import FORWARD, FORWARD_CHUNKED, FUNCTION, REVERSE
from experiments.timing import Plan, Summary, TimeLimitExceeded, interleave, loops_for, timed_call
from experiments.verify import describe_error, rel_diff

OURS = "modes"
OUR_MODES = (FUNCTION, FORWARD, FORWARD_CHUNKED, REVERSE)


@dataclass
class Row:
    """One (library, mode) cell at one n. Times are seconds per call; None: not measured."""

    problem: str
    kind: str
    n: int
    requested_n: int
    library: str  # "modes" for ours, else the peer's name
    mode: str  # our mode names; "-jit" where compiled; "function" is f alone
    status: str = "ok"  # ok, skipped, error, interrupted
    reason: str | None = None
    note: str | None = None
    chunk: int | None = None  # forward directions per pass (n for a peer's jacfwd)
    passes: int | None = None
    time_median_s: float | None = None
    time_q1_s: float | None = None
    time_q3_s: float | None = None
    time_iqr_s: float | None = None
    samples_s: list[float] = field(default_factory=list)
    loops: int | None = None
    first_call_s: float | None = None  # the verification call (warm-up, or first sample if long)
    compile_s: float | None = None  # jit: trace and compile, once, apart from the calls
    max_rel_diff: float | None = None  # vs our reverse mode (f: vs our f's value)
    ref_rel_diff: float | None = None  # ours: vs the closed-form reference
    agrees: bool | None = None
    predicted_time_s: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.library, self.mode

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclass
class PeerSettings:
    """What to run: one problem at the given sizes, with these peers."""

    problem: Problem
    form: Form
    sizes: list[int]
    peers: list[Peer]
    repeat: int = 7
    budget: float = bud.DEFAULT_BUDGET_S
    seed: int = 0
    tolerance: float = 1e-8


class PeerRun:
    """Runs :class:`PeerSettings`; rows are kept in :attr:`rows` as each size finishes."""

    def __init__(self, settings: PeerSettings, narrate: Callable[[str], None] | None = None) -> None:
        self.s = settings
        self.narrate = narrate or (lambda msg: None)
        self.rows: list[Row] = []
        self.interrupted = False
        # seconds per unit of work (a forward pass, else a call) and compile seconds, by kernel
        self.history: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self.compiles: dict[tuple[str, str], list[tuple[int, float]]] = {}

    def run(self) -> list[Row]:
        """Every size in turn, BLAS pinned to one thread; Ctrl-C keeps what was measured."""
        with pinned_threads(1):
            try:
                for n in self.s.sizes:
                    self._size(n)
            except KeyboardInterrupt:
                self.interrupted = True
        return self.rows

    # ------------------------------------------------------------------------- one size

    def _size(self, n: int) -> None:
        p, s = self.s.problem, self.s
        inst = p.build(n, s.seed)
        if any(r.n == inst.n for r in self.rows):
            self.narrate(f"n = {n}: {p.name} rounds it to n = {inst.n}, already measured; skipping")
            return
        rows: dict[tuple[str, str], Row] = {}
        kernels: dict[tuple[str, str], Prepared] = {}

        def row(library: str, mode: str) -> Row:
            r = Row(p.name, inst.kind, inst.n, n, library, mode)
            rows[r.key] = r
            return r

        for mode in OUR_MODES:
            r = row(OURS, mode)
            if self._hopeless(r):
                continue
            kernels[r.key] = _our_kernel(inst, mode)
            r.chunk, r.passes = kernels[r.key].chunk, kernels[r.key].passes
        for peer in s.peers:
            self._peer_kernels(peer, inst, n, row, kernels)
        self.narrate(f"n = {inst.n}: checking {len(kernels)} kernels")
        results = {k: self._verify(rows[k], kernels[k]) for k in list(kernels)}
        settle()  # what the first calls built (JAX's caches) stays out of every later gc.collect()
        self._check(inst, rows, results)
        plans: dict[tuple[str, str], Plan] = {}
        for k in kernels:
            if rows[k].status == "ok":
                plan = self._plan(rows[k], kernels[k])
                if plan is not None:
                    plans[k] = plan
        self.narrate(f"n = {inst.n}: timing {len(plans)} kernels, interleaved")
        try:
            interleave(plans)
        except KeyboardInterrupt:
            for k, r in rows.items():
                if r.status == "ok":
                    r.status, r.reason = "interrupted", "interrupted (Ctrl-C) while this size was timed"
                    _fill(r, plans.get(k))
            self.rows.extend(rows.values())
            raise
        for k, plan in plans.items():
            r = rows[k]
            _fill(r, plan)
            if plan.stopped:
                r.note = _join(r.note, plan.stopped)
            if not plan.samples:
                r.status, r.reason = "skipped", plan.stopped or "no sample fitted the budget"
            else:
                assert r.time_median_s is not None
                self.history.setdefault(k, []).append((inst.n, r.time_median_s / self._work(r)))
        for r in rows.values():
            if r.status == "ok" and r.time_median_s is None:
                r.status, r.reason = "skipped", r.reason or "not timed"
        self.rows.extend(rows.values())

    def _peer_kernels(
        self,
        peer: Peer,
        inst: Instance,
        n: int,
        row: Callable[[str, str], Row],
        kernels: dict[tuple[str, str], Prepared],
    ) -> None:
        """Build ``peer``'s form at ``n`` and prepare each of its modes (jit ones compiled here)."""
        form = self.s.form
        modes_ = peer.all_modes()
        try:
            f, x = form.build(peer.namespace(), n, self.s.seed)
            if not np.array_equal(np.asarray(x, dtype=float), np.asarray(inst.x, dtype=float)):
                raise AssertionError(
                    f"the {form.problem} form's input differs from the catalogue's at n = {n}"
                )
        except Exception as e:
            for m in modes_:
                r = row(peer.name, m)
                r.status, r.reason = "error", f"building the {peer.name} form failed: {describe_error(e)}"
            return
        for m in modes_:
            r = row(peer.name, m)
            if self._hopeless(r):
                continue
            try:
                prep = peer.prepare(form, f, x, inst.kind, m, limit=self.s.budget)
            except TimeLimitExceeded:
                r.status, r.reason = "skipped", f"compiling took longer than the {self.s.budget:g} s budget"
                continue
            except Exception as e:
                r.status, r.reason = "error", f"{peer.name} {m} failed to prepare: {describe_error(e)}"
                continue
            r.chunk, r.passes, r.compile_s = prep.chunk, prep.passes, prep.compile_s
            if prep.compile_s is not None:
                self.compiles.setdefault(r.key, []).append((inst.n, prep.compile_s))
            kernels[r.key] = prep

    # --------------------------------------------------------------- predict, verify, plan

    @staticmethod
    def _work(r: Row) -> int:
        """Passes a call makes (n JVPs for forward, ours chunked ceil(n / c)), else 1."""
        base = r.mode.removesuffix(JIT)
        if base == FORWARD:
            return r.n
        if base == FORWARD_CHUNKED and r.library == OURS:
            return math.ceil(r.n / modes.choose_chunk(r.n))
        return 1

    def _hopeless(self, r: Row) -> bool:
        """Predict ``r`` from smaller n; mark it skipped (and say what would fit) if hopeless."""
        s = self.s
        fit = bud.fit_power(self.history.get(r.key, []), r.n)
        if fit is not None:
            t = r.predicted_time_s = fit.at(r.n) * self._work(r)
            if bud.hopeless(t, s.budget, s.repeat):
                r.status, r.reason = (
                    "skipped",
                    (
                        f"predicted {human_seconds(t)} per call (measured at n = {fit.n0}, growing like "
                        f"n^{fit.exponent:.2f} per pass); checking and timing it would pass the "
                        f"{s.budget:g} s budget by more than {bud.PREDICTION_SLACK:g}x"
                    ),
                )
                return True
        cfit = bud.fit_power(self.compiles.get(r.key, []), r.n)
        if cfit is not None and cfit.at(r.n) > bud.PREDICTION_SLACK * s.budget:
            r.status, r.reason = (
                "skipped",
                (
                    f"compiling predicted to take {human_seconds(cfit.at(r.n))}, over the "
                    f"{s.budget:g} s budget"
                ),
            )
            return True
        return False

    def _verify(self, r: Row, prep: Prepared) -> np.ndarray | None:
        """The first call: warm-up and the result to check, as float64 NumPy (None if it failed)."""
        try:
            r.first_call_s, out = timed_call(prep.fn, limit=self.s.budget)
            return prep.to_numpy(out)
        except TimeLimitExceeded:
            r.status, r.reason = "skipped", f"one call did not finish within the {self.s.budget:g} s budget"
        except Exception as e:
            r.status, r.reason = "error", f"{r.library} {r.mode} failed: {describe_error(e)}"
        return None

    def _check(
        self,
        inst: Instance,
        rows: dict[tuple[str, str], Row],
        results: dict[tuple[str, str], np.ndarray | None],
    ) -> None:
        """Our reverse mode against the reference; every other derivative against our reverse
        mode, every f against our f."""
        tol = self.s.tolerance
        ours = rows[OURS, REVERSE]
        ref = results.get((OURS, REVERSE))
        if ref is not None and inst.reference is not None:
            ours.ref_rel_diff = rel_diff(ref, inst.reference)
            ours.agrees = ours.ref_rel_diff <= tol
            if not ours.agrees:
                ours.status, ours.reason = (
                    "error",
                    (
                        f"differs from the closed-form reference by {ours.ref_rel_diff:.3g} "
                        f"> tolerance {tol:g}"
                    ),
                )
        value = results.get((OURS, FUNCTION))
        for k, got in results.items():
            r = rows[k]
            if got is None or k == (OURS, REVERSE) or r.status != "ok":
                continue
            against = value if r.mode.startswith(FUNCTION) else ref
            what = "our f" if r.mode.startswith(FUNCTION) else "our reverse mode"
            if against is None:
                r.status, r.reason = "error", f"not checked: {what} has no result at this n"
                continue
            d = r.max_rel_diff = rel_diff(got, against)
            r.agrees = d <= tol
            if not r.agrees:
                r.status, r.reason = (
                    "error",
                    (
                        f"{r.library} {r.mode} disagrees with {what}: max relative "
                        f"difference {d:.3g} > tolerance {tol:g}"
                    ),
                )
                self.narrate(f"n = {inst.n}: error: {r.reason}")

    def _plan(self, r: Row, prep: Prepared) -> Plan | None:
        """Loop count and repeats within the budget (a long call's first call is its first sample)."""
        s = self.s
        first = r.first_call_s or 0.0
        left = s.budget - first
        if bud.is_long(first) and r.library != OURS:
            # A peer's first call can hold seconds of one-off work (JAX eager compiles each primitive
            # for each new shape, torch.func sets itself up), unlike ours (milliseconds): it is a
            # warm-up only, and a second call, timed the same way, stands in for it.
            try:
                first, _ = timed_call(prep.fn, limit=left)
            except TimeLimitExceeded:
                r.status, r.reason = (
                    "skipped",
                    (
                        f"the first call took {human_seconds(r.first_call_s or 0.0)} "
                        "and the second did not finish within the budget"
                    ),
                )
                return None
            left -= first
        if bud.is_long(first):
            r.loops = 1
            repeats = 1 + bud.repeats_within(first, left, s.repeat - 1)
            r.note = _join(
                r.note,
                f"a call this long (>= {bud.LONG_CALL_S:g} s) needs no warm-up: the "
                "verification call is the first sample",
            )
            return Plan(prep.fn, 1, repeats, first, allowance=left, samples=[first])
        least = min(bud.MIN_REPEATS, s.repeat)
        over = (
            f"one call took {human_seconds(first)}; {least} timed samples would pass the "
            f"{s.budget:g} s budget"
        )
        if left < bud.timing_cost(first, least):
            r.status, r.reason = "skipped", over
            return None
        t0 = time.perf_counter()
        try:
            loops, call_s = loops_for(prep.fn, first, limit=left)
        except TimeLimitExceeded:
            r.status, r.reason = "skipped", over
            return None
        left -= time.perf_counter() - t0
        repeats = bud.repeats_within(call_s * loops, left, s.repeat)
        if repeats < least:
            r.status, r.reason = "skipped", over
            return None
        if repeats < s.repeat:
            r.note = _join(r.note, f"{repeats} of {s.repeat} repeats to stay within the budget")
        r.loops = loops
        return Plan(prep.fn, loops, repeats, call_s, allowance=left)


def _our_kernel(inst: Instance, mode: str) -> Prepared:
    """Our engines' kernel of ``mode`` through the public API (as the runner times them)."""
    f, x = inst.f, inst.x
    if mode == FUNCTION:
        return Prepared(lambda: f(x), lambda v: np.asarray(v, dtype=np.float64))
    diff = modes.grad if inst.kind == GRADIENT else modes.jacobian
    as_numpy = lambda v: np.asarray(v, dtype=np.float64)
    if mode == REVERSE:
        return Prepared(lambda: diff(f, x, mode="reverse"), as_numpy, passes=1)
    c = 1 if mode == FORWARD else modes.choose_chunk(inst.n)
    return Prepared(
        lambda: diff(f, x, mode="forward", chunk=c), as_numpy, chunk=c, passes=math.ceil(inst.n / c)
    )


def _fill(r: Row, plan: Plan | None) -> None:
    if plan is None or not plan.samples:
        return
    sm = Summary.of(plan.samples)
    r.samples_s = list(plan.samples)
    r.time_median_s, r.time_q1_s, r.time_q3_s, r.time_iqr_s = sm.median, sm.q1, sm.q3, sm.iqr


def _join(a: str | None, b: str) -> str:
    return b if not a else f"{a}; {b}"

"""The peers' side of a run: their kernels, prepared, checked and timed beside ours at each n.

``compare-modes --peers ...`` gives the runner (:mod:`experiments.runner`) a :class:`PeerBench`.
For each size n the runner asks it for a :class:`PeerSize`, which

1. builds each peer's form of the problem (:mod:`experiments.peers.forms`) at n, checking that its
   input is the catalogue's, and prepares each of the peer's modes (jit ones compiled here, the
   compile time kept apart as the cell's ``compile_s``), keyed ``peer:mode`` (:func:`peer_key`);
2. predicts each kernel from the smaller sizes of this run (seconds per pass, grown like its own
   fit; a jit's compile time likewise) and skips it if hopeless for the budget
   (:mod:`experiments.budget`), saying why;
3. makes each kernel's first call, timed and interrupted at the budget: the warm-up and the result
   the runner checks against our reverse mode (:func:`experiments.verify.check_peers`);
4. plans its samples (a loop count from ``timeit``'s autorange, as many repeats as the budget
   allows); a peer's first call of a second or more (JAX eager compiles each primitive for each new
   shape, ``torch.func`` sets itself up) is one-off setup, kept out of the budget like a jit's
   compile: a second call stands in for it (the cell's note gives both).

The runner then times the peers' plans and ours in the same interleaved rounds
(:func:`experiments.timing.interleave`: gc collected before each sample, off while it runs; BLAS
pinned by threadpoolctl, torch and XLA to one thread by their adapters), and emits the cells that
:meth:`PeerSize.finish` fills in. Peak memory is not measured for peers (tracemalloc does not see
their allocators), nor are operation counts (they have no ``modes.counting``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from experiments import budget as bud
from experiments.human import human_seconds
from experiments.peers.base import JIT, Peer, Prepared, settle
from experiments.peers.forms import Form, form_for
from experiments.problems import Instance
from experiments.results import FORWARD, FORWARD_CHUNKED, FUNCTION, Cell
from experiments.timing import Plan, Summary, TimeLimitExceeded, loops_for, timed_call
from experiments.verify import describe_error


def peer_key(library: str, mode: str) -> str:
    """The kernel name of a peer's mode in a run's interleaved rounds (``jax:reverse-jit``)."""
    return f"{library}:{mode}"


def base_mode(mode: str) -> str:
    """A peer mode without its ``-jit`` suffix (``reverse-jit`` -> ``reverse``)."""
    return mode.removesuffix(JIT)


class PeerBench:
    """The peers of one run, and what they measured so far (for predictions at larger n)."""

    def __init__(
        self,
        peers: Sequence[Peer],
        problem: str,
        modes: Sequence[str],
        budget: float = bud.DEFAULT_BUDGET_S,
        repeat: int = 7,
        seed: int = 0,
    ) -> None:
        form = form_for(problem)
        if form is None:
            raise ValueError(f"problem '{problem}' has no peer form")
        self.peers = list(peers)
        self.form: Form = form
        self.wanted = {FUNCTION, *modes}
        self.budget, self.repeat, self.seed = budget, repeat, seed
        # seconds per unit of work (a forward pass, else a call) and compile seconds, by kernel
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.compiles: dict[str, list[tuple[int, float]]] = {}

    def modes_of(self, peer: Peer) -> list[str]:
        """The peer's modes this run times: ``function`` and those whose base mode is asked for."""
        return [m for m in peer.all_modes() if base_mode(m) in self.wanted]

    def kernel_count(self) -> int:
        """Kernels per size (for a progress bar)."""
        return sum(len(self.modes_of(p)) for p in self.peers)

    def cell(self, problem: str, kind: str, n: int, requested: int, m: int, library: str, mode: str) -> Cell:
        return Cell(
            problem=problem,
            kind=kind,
            n=n,
            requested_n=requested,
            m=m,
            mode=mode,
            chunk=None,
            passes=None,
            sweeps=None,
            library=library,
            seed=self.seed,
        )

    def skipped(self, problem: str, kind: str, n: int, m: int, why: str) -> list[Cell]:
        """Every peer cell at ``n``, skipped because ours were (``why``)."""
        return [
            self.cell(problem, kind, n, n, m, p.name, mode).skip(why)
            for p in self.peers
            for mode in self.modes_of(p)
        ]

    def size(self, inst: Instance, problem: str, requested: int) -> PeerSize:
        """The peers' kernels at one instance (built and compiled now; see :class:`PeerSize`)."""
        return PeerSize(self, inst, problem, requested)

    # ---------------------------------------------------------------------------- predictions

    @staticmethod
    def work(c: Cell) -> int:
        """Passes a call makes: n JVPs for forward, else 1 (a batched jacfwd is one call)."""
        return c.n if base_mode(c.mode) == FORWARD else 1

    def hopeless(self, key: str, c: Cell) -> bool:
        """Predict ``c`` from smaller n; mark it skipped (saying what was predicted) if hopeless."""
        fit = bud.fit_power(self.history.get(key, []), c.n)
        if fit is not None:
            t = fit.at(c.n) * self.work(c)
            c.predicted_time_s, c.predicted_exponent, c.predicted_from = t, fit.exponent, list(fit.sizes)
            if bud.hopeless(t, self.budget, self.repeat):
                c.skip(
                    f"predicted {human_seconds(t)} per call (measured at n = {fit.n0}, growing like "
                    f"n^{fit.exponent:.2f} per pass); checking and timing it would pass the "
                    f"{self.budget:g} s budget by more than {bud.PREDICTION_SLACK:g}x"
                )
                return True
        cfit = bud.fit_power(self.compiles.get(key, []), c.n)
        if cfit is not None and cfit.at(c.n) > bud.PREDICTION_SLACK * self.budget:
            c.skip(
                f"compiling predicted to take {human_seconds(cfit.at(c.n))}, "
                f"over the {self.budget:g} s budget"
            )
            return True
        return False


class PeerSize:
    """The peers' cells and kernels at one instance: ``cells`` and ``kernels`` keyed by
    :func:`peer_key` (a skipped or failed cell has no kernel)."""

    def __init__(self, bench: PeerBench, inst: Instance, problem: str, requested: int) -> None:
        self.bench, self.inst = bench, inst
        self.cells: dict[str, Cell] = {}
        self.kernels: dict[str, Prepared] = {}
        for peer in bench.peers:
            for mode in bench.modes_of(peer):
                c = bench.cell(problem, inst.kind, inst.n, requested, inst.m, peer.name, mode)
                self.cells[peer_key(peer.name, mode)] = c
            self._prepare(peer)

    def _prepare(self, peer: Peer) -> None:
        """Build ``peer``'s form at n and prepare each of its modes (jit ones compiled here)."""
        b, inst = self.bench, self.inst
        mine = {k: c for k, c in self.cells.items() if c.library == peer.name}
        try:
            f, x = b.form.build(peer.namespace(), inst.n, b.seed)
            if not np.array_equal(np.asarray(x, dtype=float), np.asarray(inst.x, dtype=float)):
                raise AssertionError(
                    f"the {b.form.problem} form's input differs from the catalogue's at n = {inst.n}"
                )
        except Exception as e:
            for c in mine.values():
                c.fail(f"building the {peer.name} form failed: {describe_error(e)}")
            return
        for k, c in mine.items():
            if b.hopeless(k, c):
                continue
            try:
                prep = peer.prepare(b.form, f, x, inst.kind, c.mode, limit=b.budget)
            except TimeLimitExceeded:
                c.skip(f"compiling took longer than the {b.budget:g} s budget")
                continue
            except Exception as e:
                c.fail(f"{peer.name} {c.mode} failed to prepare: {describe_error(e)}")
                continue
            c.chunk, c.passes, c.compile_s = prep.chunk, prep.passes, prep.compile_s
            if prep.compile_s is not None:
                b.compiles.setdefault(k, []).append((inst.n, prep.compile_s))
            self.kernels[k] = prep

    def verify(self) -> dict[str, np.ndarray | None]:
        """Each kernel's first call (warm-up and the result to check, as float64 NumPy; None if it
        failed or overran the budget, the cell saying so)."""
        out: dict[str, np.ndarray | None] = {}
        for k, prep in self.kernels.items():
            c = self.cells[k]
            try:
                c.first_call_s, got = timed_call(prep.fn, limit=self.bench.budget)
                out[k] = prep.to_numpy(got)
            except TimeLimitExceeded:
                c.skip(f"one call did not finish within the {self.bench.budget:g} s budget")
                out[k] = None
            except Exception as e:
                c.fail(f"{c.library} {c.mode} failed: {describe_error(e)}")
                out[k] = None
        settle()  # what the first calls built (JAX's caches) stays out of every later gc.collect()
        return out

    def plans(self) -> dict[str, Plan]:
        """Plans for the kernels still ok after the check (see the module's docstring, step 4)."""
        plans = {}
        for k, prep in self.kernels.items():
            c = self.cells[k]
            if c.status == "ok":
                try:
                    plan = self._plan(c, prep)
                except Exception as e:  # a later call failed (autorange): this cell only
                    c.fail(f"{c.library} {c.mode} failed while its loop count was found: {describe_error(e)}")
                    continue
                if plan is not None:
                    plans[k] = plan
        return plans

    def _plan(self, c: Cell, prep: Prepared) -> Plan | None:
        b = self.bench
        first = c.first_call_s or 0.0
        left = b.budget - first
        if bud.is_long(first):
            # one-off setup, like a jit's compile: the budget counts from a second call
            try:
                first, _ = timed_call(prep.fn, limit=b.budget)
            except TimeLimitExceeded:
                c.skip(
                    f"the first call took {human_seconds(c.first_call_s or 0.0)} and the second did not "
                    "finish within the budget"
                )
                return None
            left = b.budget - first
            c.add_note(
                f"its first call took {human_seconds(c.first_call_s or 0.0)} and is kept out of the "
                "samples (a peer's first call may hold one-off setup, as JAX eager compiling each "
                f"primitive for a new shape); a second took {human_seconds(first)}"
            )
        if bud.is_long(first):
            c.loops = 1
            repeats = 1 + bud.repeats_within(first, left, b.repeat - 1)
            long_s = bud.LONG_CALL_S
            c.add_note(f"a call this long (>= {long_s:g} s) needs no more warm-up: the second is sampled")
            return Plan(prep.fn, 1, repeats, first, allowance=left, samples=[first])
        least = min(bud.MIN_REPEATS, b.repeat)
        over = (
            f"one call took {human_seconds(first)}; {least} timed samples would pass "
            f"the {b.budget:g} s budget"
        )
        if left < bud.timing_cost(first, least):
            c.skip(over)
            return None
        t0 = time.perf_counter()
        try:
            loops, call_s = loops_for(prep.fn, first, limit=left)
        except TimeLimitExceeded:
            c.skip(over)
            return None
        left -= time.perf_counter() - t0
        repeats = bud.repeats_within(call_s * loops, left, b.repeat)
        if repeats < least:
            c.skip(over)
            return None
        if repeats < b.repeat:
            c.add_note(f"{repeats} of {b.repeat} repeats to stay within the budget")
        c.loops = loops
        return Plan(prep.fn, loops, repeats, call_s, allowance=left)

    def finish(self, plans: dict[str, Plan]) -> list[Cell]:
        """The cells with their samples and ratios (each peer against its own f and forward modes,
        jit against jit); what was timed feeds the predictions at larger n."""
        for k, plan in plans.items():
            if k not in self.cells:  # one of ours
                continue
            c = self.cells[k]
            if plan.error is not None:
                taken = "sample" if len(plan.samples) == 1 else "samples"
                c.fail(
                    f"{c.library} {c.mode} failed while timed (after {len(plan.samples)} {taken}): "
                    f"{describe_error(plan.error)}"
                )
                continue
            _fill(c, plan)
            if plan.stopped:
                c.add_note(plan.stopped)
            if not plan.samples:
                c.skip(plan.stopped or "no sample fitted the budget")
            else:
                assert c.time_median_s is not None
                self.bench.history.setdefault(k, []).append((c.n, c.time_median_s / self.bench.work(c)))
        for c in self.cells.values():
            if c.status == "ok" and c.time_median_s is None:
                c.skip(c.reason or "not timed")
        self._ratios()
        return list(self.cells.values())

    def interrupted(self, plans: dict[str, Plan]) -> list[Cell]:
        """The cells as they stand when Ctrl-C stopped the timing (samples so far kept)."""
        for k, c in self.cells.items():
            if c.status == "ok":
                c.status, c.reason = "interrupted", "interrupted (Ctrl-C) while this size was measured"
                _fill(c, plans.get(k))
        return list(self.cells.values())

    def _ratios(self) -> None:
        def med(library: str, mode: str) -> float | None:
            c = self.cells.get(peer_key(library, mode))
            return c.time_median_s if c is not None and c.status == "ok" else None

        for c in self.cells.values():
            t = c.time_median_s if c.status == "ok" else None
            if t is None:
                continue
            jit = JIT if c.mode.endswith(JIT) else ""
            f = med(c.library, FUNCTION + jit)
            fw, fc = med(c.library, FORWARD + jit), med(c.library, FORWARD_CHUNKED + jit)
            c.function_time_s = f
            if base_mode(c.mode) != FUNCTION:
                c.ratio_to_function = t / f if f else None
                c.speedup_vs_forward = fw / t if fw else None
                c.speedup_vs_forward_chunked = fc / t if fc else None


def _fill(c: Cell, plan: Plan | None) -> None:
    if plan is None or not plan.samples:
        return
    s = Summary.of(plan.samples)
    c.samples_s = list(plan.samples)
    c.time_median_s, c.time_q1_s, c.time_q3_s, c.time_iqr_s = s.median, s.q1, s.q3, s.iqr

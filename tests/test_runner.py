"""The runner on tiny sizes: timing, prediction and skipping, agreement, incremental results."""

import csv
import gc
import json
import math
import re
import time
import types

import numpy as np
import pytest

from experiments import budget, runner, tables, timing
from experiments.cli import exit_code
from experiments.problems import CATALOGUE, GRADIENT, Instance, Problem
from experiments.results import CELL_FIELDS, SCHEMA_VERSION, Cell, RunRecord, create_run_folder, load
from experiments.runner import Runner, Settings
from experiments.verify import rel_diff


def make_fast(monkeypatch):
    """One call per sample instead of timeit's 0.2 s autorange, and no full garbage collection
    before each sample (tens of ms each here): keeps runner tests fast."""
    monkeypatch.setattr(runner, "loops_for", lambda fn, first, limit=None: (1, first))
    monkeypatch.setattr(budget, "AUTORANGE_S", 0.0)
    monkeypatch.setattr(budget, "AUTORANGE_COST_S", 0.0)
    fake_gc = types.SimpleNamespace(
        collect=lambda: 0, isenabled=gc.isenabled, enable=gc.enable, disable=gc.disable
    )
    monkeypatch.setattr(timing, "gc", fake_gc)


@pytest.fixture
def fast_timing(monkeypatch):
    make_fast(monkeypatch)


def sleepy_problem(per_call=0.004):
    """f sleeps per call: forward chunk 1 calls it once per input (n passes), reverse once."""

    def build(n, seed, m, opts):
        def f(v):
            time.sleep(per_call)
            return sum(v[i] * v[i] for i in range(len(v)))

        x = [float(i + 1) for i in range(n)]
        return Instance(f, x, n, 1, GRADIENT, np.array([2.0 * (i + 1) for i in range(n)]))

    return Problem("sleepy", "sleeps per call", GRADIENT, "any n >= 1", build)


# ----------------------------------------------------------------------------------- timing


def test_summary_median_and_iqr():
    s = timing.Summary.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.median, s.q1, s.q3, s.iqr) == (3.0, 2.0, 4.0, 2.0)
    one = timing.Summary.of([12.5])  # one sample has no spread: None, not 0
    assert (one.median, one.q1, one.q3, one.iqr) == (12.5, None, None, None)


def test_interleave_counts_a_sample_taken_before():
    calls = []
    plan = timing.Plan(lambda: calls.append(1), loops=1, repeats=3, call_s=0.0, samples=[5.0])
    timing.interleave({"long": plan})
    assert len(calls) == 2 and len(plan.samples) == 3 and plan.samples[0] == 5.0
    done = timing.Plan(lambda: calls.append(1), loops=1, repeats=1, call_s=5.0, samples=[5.0])
    timing.interleave({"long": done})
    assert len(calls) == 2 and done.samples == [5.0]


def test_interleave_rotates_and_keeps_every_sample():
    order = []
    plans = {k: timing.Plan(lambda k=k: order.append(k), loops=1, repeats=3, call_s=0.0) for k in "abc"}
    timing.interleave(plans)
    assert order == list("abcbcacab")
    assert all(len(p.samples) == 3 and p.stopped is None for p in plans.values())


def test_interleave_stops_a_kernel_at_its_allowance():
    plans = {
        "slow": timing.Plan(lambda: time.sleep(0.02), loops=1, repeats=10, call_s=0.02, allowance=0.07),
        "fast": timing.Plan(lambda: None, loops=2, repeats=4, call_s=0.0),
    }
    timing.interleave(plans)
    assert 1 <= len(plans["slow"].samples) <= 3 and "budget reached" in plans["slow"].stopped
    assert len(plans["fast"].samples) == 4


def test_time_limit_interrupts_a_hopeless_call():
    """A 60 s call with a 0.05 s limit is cut off long before it ends (the bound is loose: the
    gc.collect() before the call can take seconds in a full test session on a loaded machine)."""
    start = time.perf_counter()
    with pytest.raises(timing.TimeLimitExceeded):
        timing.timed_call(lambda: time.sleep(60), limit=0.05)
    assert time.perf_counter() - start < 30.0


def test_loops_for_uses_autorange_only_for_short_calls():
    assert timing.loops_for(lambda: None, first_call_s=0.5) == (1, 0.5)
    loops, per_call = timing.loops_for(lambda: time.sleep(0.03), first_call_s=0.03)
    assert loops in (5, 10) and 0.02 < per_call < 0.2


# --------------------------------------------------------------------------------- budget


def test_fit_power_recovers_an_exponent():
    pts = [(n, 1e-6 * n**1.5) for n in (10, 20, 40, 80)]
    fit = budget.fit_power(pts, below=100)
    assert fit.exponent == pytest.approx(1.5) and fit.n0 == 80 and fit.sizes == (20, 40, 80)
    assert fit.at(160) == pytest.approx(1e-6 * 160**1.5)
    assert fit.largest_n(fit.at(320)) in (319, 320)


def test_fit_power_clamps_and_ignores_sizes_at_or_above_the_target():
    flat = budget.fit_power([(10, 1.0), (20, 1.0), (1000, 5.0)], below=1000)
    assert flat.exponent == 0.5 and flat.sizes == (10, 20)
    steep = budget.fit_power([(10, 1.0), (20, 100.0)], below=50)
    assert steep.exponent == 2.0
    assert budget.fit_power([(10, 1.0)], below=50).exponent == 1.0
    assert budget.fit_power([], below=50) is None
    assert budget.fit_power([(10, 3.0), (10, 1.0), (20, 2.0)], below=50).exponent == pytest.approx(
        1.0
    )  # min per size


def test_budget_helpers():
    assert budget.round_down(1234) == 1200 and budget.round_down(87) == 87
    assert budget.repeats_within(0.5, 2.0, wanted=7) == 4
    assert budget.repeats_within(0.1, 2.0, wanted=7) == 7
    call = budget.largest_call_within(10.0)
    assert budget.minimum_cost(call) == pytest.approx(10.0)


def test_a_long_call_costs_one_call():
    """A call of LONG_CALL_S or more is its own sample: a cell of them needs just that call."""
    long, short = budget.LONG_CALL_S, budget.LONG_CALL_S * 0.9
    assert budget.is_long(long) and not budget.is_long(short)
    assert budget.minimum_cost(15.0) == 15.0 and budget.minimum_cost(long) == long
    assert budget.minimum_cost(short) == pytest.approx(short + 3 * short)  # warm-up, then 3 samples
    assert budget.minimum_cost(short, repeat=1) == pytest.approx(2 * short)
    assert (budget.least_samples(15.0), budget.least_samples(short), budget.least_samples(short, 2)) == (
        1,
        3,
        2,
    )
    assert budget.largest_call_within(20.0) == 20.0  # every short call fits, and one 20 s call
    assert budget.largest_call_within(2.0) == pytest.approx(0.5)  # 0.5-1 s calls would not: stop short
    assert budget.largest_call_within(0.5) == 0.0
    assert budget.smallest_budget() == pytest.approx(1.1) and budget.smallest_budget(1) == pytest.approx(0.7)


def test_skipping_allows_for_the_prediction_error():
    slack = budget.PREDICTION_SLACK
    assert slack >= 1
    assert not budget.hopeless(15.0, 20.0)  # one 15 s call fits 20 s
    assert not budget.hopeless(slack * 20.0, 20.0)  # tried: the verification call stops at 20 s
    assert budget.hopeless(slack * 20.0 + 1, 20.0)
    assert budget.hopeless(0.9, 1.5)  # short: 0.9 + 3 x 0.9 > 2 x 1.5


def test_rel_diff():
    assert rel_diff([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_diff([1.0, 2.0 + 2e-9], [1.0, 2.0]) == pytest.approx(1e-9)
    assert rel_diff([1.0, math.nan], [1.0, math.nan]) == 0.0
    assert rel_diff([1.0, math.nan], [1.0, 2.0]) == math.inf
    assert rel_diff([1.0], [1.0, 2.0]) == math.inf
    assert rel_diff([math.inf, 1.0], [math.inf, 1.0]) == 0.0


# --------------------------------------------------------------------------------- runner


def test_runner_on_tiny_sizes(fast_timing):
    s = Settings(problem=CATALOGUE["rosenbrock"], sizes=[3, 6], repeat=3, budget=5.0)
    out = Runner(s).run()
    assert exit_code(out) == 0 and not out.interrupted
    cells = {(c.n, c.mode): c for c in out.cells}
    assert set(cells) == {
        (n, m) for n in (3, 6) for m in ("function", "forward", "forward-chunked", "reverse")
    }
    for c in out.cells:
        assert c.status == "ok", c.reason
        assert len(c.samples_s) == 3 and c.time_q1_s <= c.time_median_s <= c.time_q3_s
        assert c.function_time_s == cells[(c.n, "function")].time_median_s
        assert c.peak_bytes is not None and c.peak_bytes > 0
    fwd, fc, rev = cells[(6, "forward")], cells[(6, "forward-chunked")], cells[(6, "reverse")]
    assert (fwd.chunk, fwd.passes, fc.chunk, fc.passes, rev.passes, rev.sweeps) == (1, 6, 6, 1, 1, 1)
    assert fwd.ops == 6 * rev.ops and fwd.speedup_vs_forward == 1.0
    assert rev.speedup_vs_forward == pytest.approx(fwd.time_median_s / rev.time_median_s)
    assert rev.ratio_to_function == pytest.approx(rev.time_median_s / cells[(6, "function")].time_median_s)
    assert rev.agrees and fwd.agrees and fwd.max_rel_diff <= 1e-12 and rev.ref_rel_diff <= 1e-12
    assert rev.tape_length and rev.tape_bytes and rev.adjoint_updates and fwd.tangent_updates
    assert rev.tangent_updates is None and fwd.adjoint_updates is None


def test_runner_times_jacobians(fast_timing):
    s = Settings(problem=CATALOGUE["tall"], sizes=[2], outputs=[8], repeat=3, budget=5.0)
    out = Runner(s).run()
    assert exit_code(out) == 0
    rev = next(c for c in out.cells if c.mode == "reverse")
    fwd = next(c for c in out.cells if c.mode == "forward")
    assert rev.kind == "jacobian" and rev.m == 8 and rev.sweeps == 8 and fwd.passes == 2


def test_skip_prediction_from_smaller_n(fast_timing):
    """Forward chunk 1 calls f n times: at n = 400 it is predicted far over the budget and skipped,
    without being run; reverse (one call) still fits."""
    s = Settings(
        problem=sleepy_problem(),
        sizes=[4, 8, 400],
        modes=("forward", "reverse"),
        repeat=3,
        budget=0.5,
        memory=False,
    )
    start = time.perf_counter()
    out = Runner(s).run()
    assert time.perf_counter() - start < 10
    fwd = next(c for c in out.cells if c.n == 400 and c.mode == "forward")
    rev = next(c for c in out.cells if c.n == 400 and c.mode == "reverse")
    assert fwd.status == "skipped" and fwd.first_call_s is None and not fwd.samples_s
    assert fwd.predicted_time_s > 0.5 and max(fwd.predicted_from) == 8
    assert "predicted" in fwd.reason and "n <= " in fwd.reason and "budget" in fwd.reason
    assert rev.status == "ok"
    assert exit_code(out) == 0


def _predicted(budget_s):
    """Predictions at n = 100 from records saying: a forward pass cost 75 ms at n = 50, f grows like n."""
    r = Runner(
        Settings(problem=sleepy_problem(), sizes=[100], modes=("forward",), budget=budget_s, memory=False)
    )
    r.predictor.times["function"] = [(25, 1e-4), (50, 2e-4)]
    r.predictor.times["forward"] = [(50, 0.075)]
    cells = {k: r._base(k, 100, 100, 1, GRADIENT) for k in ("function", "forward")}
    return cells, r.predictor.predict(cells, 100, None)


def test_prediction_uses_the_one_call_minimum_for_long_calls():
    """Forward predicted at 100 passes x 150 ms = 15 s: one call fits a 20 s budget (three
    samples and a warm-up would not: 60 s), so the cell is run, not skipped."""
    cells, live = _predicted(20.0)
    fwd = cells["forward"]
    assert fwd.predicted_time_s == pytest.approx(15.0) and fwd.predicted_exponent == 1.0
    assert "forward" in live and fwd.status == "ok"
    assert budget.minimum_cost(fwd.predicted_time_s) == pytest.approx(15.0)


def test_a_cell_predicted_far_over_the_budget_is_skipped_unrun():
    cells, live = _predicted(7.0)  # 15 s > PREDICTION_SLACK x 7 s
    fwd = cells["forward"]
    assert "forward" not in live and fwd.status == "skipped"
    assert fwd.reason.startswith("predicted 15 s per call (a pass measured at n = 50, growing like n^1.00)")
    assert "even one call" in fwd.reason and "would pass the 7 s budget by more than the 2x" in fwd.reason
    assert fwd.reason.endswith("n <= 68 would fit, or --budget 15")


def long_calls(monkeypatch, seconds):
    """Calls of ``seconds`` or more count as long (a real one takes LONG_CALL_S = 1 s)."""
    monkeypatch.setattr(budget, "LONG_CALL_S", seconds)


def test_a_long_call_cell_with_one_sample(fast_timing, monkeypatch):
    """Forward chunk 1 at n = 4 calls f 4 times (~0.12 s, long here); after its verification call
    a 0.2 s budget fits no second call: the cell is timed by that one call, IQR not available."""
    long_calls(monkeypatch, 0.05)
    s = Settings(
        problem=sleepy_problem(0.03),
        sizes=[4],
        modes=("forward", "reverse"),
        repeat=7,
        budget=0.2,
        memory=False,
    )
    out = Runner(s).run()
    assert exit_code(out) == 0
    cells = {c.mode: c for c in out.cells}
    fwd = cells["forward"]
    assert fwd.status == "ok" and fwd.loops == 1
    assert fwd.samples_s == [fwd.first_call_s] and fwd.time_median_s == fwd.first_call_s
    assert fwd.time_iqr_s is None and fwd.time_q1_s is None and fwd.time_q3_s is None
    # the note names the first call's time, not "a call this long" (issue 15: on a 947 ms cell)
    assert re.match(
        r"1 sample: the verification call; its first call took [\d.]+ ms \(>= 0.05 s\), so it needs no "
        r"warm-up; IQR not available",
        fwd.note,
    ), fwd.note
    assert "the 0.2 s budget allows no more" in fwd.note
    rev = cells["reverse"]  # short calls keep the rule: warm-up, then at least 3 samples of their own
    assert rev.status == "ok" and 3 <= len(rev.samples_s) and rev.first_call_s not in rev.samples_s
    assert rev.time_iqr_s is not None and "verification" not in (rev.note or "")
    assert rev.speedup_vs_forward == pytest.approx(fwd.time_median_s / rev.time_median_s)
    doc = [c.as_dict() for c in out.cells]
    assert json.loads(json.dumps(doc))[1]["time_iqr_s"] is None
    row = next(line for line in tables.format_table(doc).splitlines() if " forward " in line)
    assert " n/a " in row
    assert tables.summary(doc)[0].startswith("Reverse mode was ")  # measured, not estimated


def test_a_long_call_cell_counts_its_verification_call_among_its_samples(fast_timing, monkeypatch):
    long_calls(monkeypatch, 0.05)
    s = Settings(
        problem=sleepy_problem(0.03), sizes=[4], modes=("forward",), repeat=3, budget=1.0, memory=False
    )
    fwd = next(c for c in Runner(s).run().cells if c.mode == "forward")
    assert fwd.status == "ok" and len(fwd.samples_s) == 3 and fwd.samples_s[0] == fwd.first_call_s
    assert fwd.time_iqr_s is not None and fwd.time_q1_s <= fwd.time_median_s <= fwd.time_q3_s
    assert re.fullmatch(
        r"3 samples, the first being the verification call \(its first call took [\d.]+ ms \(>= 0.05 s\), "
        r"so it needs no warm-up\)",
        fwd.note,
    ), fwd.note


def test_a_call_over_the_budget_is_cut_off_and_says_what_would_fit(fast_timing):
    """Cheap up to n = 32, then 0.2 s a call: the prediction is far too low, the verification call
    is interrupted at the budget, and the reason bounds the n that would fit."""

    def build(n, seed, m, opts):
        def f(v):
            time.sleep(0.2 if n >= 64 else 1e-4)
            return sum(x * x for x in v)

        return Instance(f, [1.0] * n, n, 1, GRADIENT)

    p = Problem("cliff", "slow from n = 64", GRADIENT, "any n >= 1", build)
    start = time.perf_counter()
    out = Runner(
        Settings(problem=p, sizes=[64], modes=("reverse",), repeat=3, budget=0.1, memory=False)
    ).run()
    assert time.perf_counter() - start < 3
    rev = next(c for c in out.cells if c.mode == "reverse")
    assert rev.status == "skipped" and rev.first_call_s is None and rev.predicted_time_s < 0.1
    assert rev.reason.startswith("one call did not finish within the 0.1 s budget (predicted ")
    assert "at most n <= " in rev.reason and rev.reason.endswith(" would fit")


def test_every_mode_over_budget_is_too_large(fast_timing):
    """Every mode predicted at more than PREDICTION_SLACK budgets: nothing is run at all."""
    s = Settings(
        problem=sleepy_problem(0.1),
        sizes=[2, 3],
        modes=("forward", "reverse"),
        repeat=3,
        budget=0.15,
        memory=False,
    )
    out = Runner(s).run()
    assert out.too_large and exit_code(out) == 2
    assert all(c.status == "skipped" for c in out.cells)


def test_footprint_too_large_is_skipped_before_building(fast_timing):
    s = Settings(problem=CATALOGUE["rosenbrock-array"], sizes=[10**13], repeat=3)
    out = Runner(s).run()
    assert exit_code(out) == 2
    assert all(c.status == "skipped" and "would fit" in c.reason for c in out.cells)


def test_disagreement_is_an_error_with_exit_code_3(fast_timing):
    rng = np.random.default_rng(0)

    def build(n, seed, m, opts):
        return Instance(lambda v: sum(v) * rng.normal(), np.ones(n), n, 1, GRADIENT)

    p = Problem("random", "a different function at every call", GRADIENT, "any", build)
    out = Runner(Settings(problem=p, sizes=[4], repeat=3, budget=5.0, memory=False)).run()
    assert exit_code(out) == 3
    bad = [c for c in out.cells if c.status == "error"]
    assert bad and all("disagree" in c.reason and c.agrees is False for c in bad)
    assert {c.mode for c in bad} <= {"forward", "forward-chunked"}


def test_a_failing_function_is_an_error_with_exit_code_1(fast_timing):
    def build(n, seed, m, opts):
        def f(v):
            if not isinstance(v, list) or isinstance(v[0], float):
                return sum(v)
            raise ValueError("no engines please")

        return Instance(f, [1.0] * n, n, 1, GRADIENT)

    p = Problem("picky", "fails under AD", GRADIENT, "any", build)
    out = Runner(Settings(problem=p, sizes=[3], repeat=3, budget=5.0, memory=False)).run()
    assert exit_code(out) == 1
    errors = [c for c in out.cells if c.status == "error"]
    assert {c.mode for c in errors} == {"forward", "forward-chunked", "reverse"}
    assert "ValueError: no engines please (test_runner.py:" in errors[0].reason


# ------------------------------------------------------------------------------- results


def test_run_folders_are_never_reused(tmp_path):
    a, b = create_run_folder(tmp_path, "x"), create_run_folder(tmp_path, "x")
    assert a != b and a.is_dir() and b.is_dir()


def test_results_written_incrementally_survive_an_interruption(tmp_path, fast_timing):
    """Ctrl-C during n = 5: the cells of n = 3 are on disk, in JSON and CSV, marked partial."""
    base = CATALOGUE["rosenbrock"]

    def build(n, seed, m, opts):
        if n == 5:
            raise KeyboardInterrupt
        return base.build(n, seed)

    p = Problem("interrupted", "stops at n = 5", GRADIENT, "any n >= 2", build, min_n=2, fixed_n=None)
    folder = create_run_folder(tmp_path, "run")
    record = RunRecord({"settings": {"x": 1}}, folder)
    out = Runner(Settings(problem=p, sizes=[3, 5], repeat=3, budget=5.0), record).run()
    assert out.interrupted and exit_code(out) == 130
    # nothing called record.finish(): this is what a killed process leaves behind
    doc = load(folder)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["status"] == "partial"
    assert (folder / "PARTIAL").exists()
    assert {c["n"] for c in doc["cells"]} == {3} and len(doc["cells"]) == 4
    for c in doc["cells"]:
        assert set(c) == set(CELL_FIELDS)
    rows = list(csv.DictReader(open(folder / "results.csv")))
    assert len(rows) == 4 and list(rows[0]) == list(CELL_FIELDS)
    assert [float(v) for v in rows[0]["samples_s"].split(";")] == doc["cells"][0]["samples_s"]
    record.finish("partial", "interrupted")
    assert load(folder)["status_reason"] == "interrupted"


def test_finished_record_is_complete_and_json_safe(tmp_path):
    folder = create_run_folder(tmp_path, "run")
    record = RunRecord({"settings": {}}, folder)
    record.add(Cell("p", "gradient", 3, 3, 1, "reverse", None, 1, 1, ratio_to_function=math.inf))
    record.finish("complete", None, ["done."])
    doc = json.loads((folder / "results.json").read_text())
    assert doc["status"] == "complete" and doc["summary"] == ["done."] and not (folder / "PARTIAL").exists()
    assert doc["cells"][0]["ratio_to_function"] is None
    assert not list(folder.glob("*.tmp"))


def test_load_refuses_another_schema(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version 99"):
        load(tmp_path)

"""Issue 15 item 6: predictions are checked against what was then measured, a prediction that
overran is reported as such, and size advice comes from the measured cells: it never names an n
at which the mode already overran, and an extrapolation says it is one."""

import time

from test_plots import cell
from test_runner import make_fast

from experiments import report_text
from experiments.problems import GRADIENT, Instance, Problem
from experiments.runner import Runner, Settings


def cliff(slow_from, slow_s):
    """f is cheap below ``slow_from`` inputs and takes ``slow_s`` per call from there on."""

    def build(n, seed, m, opts):
        def f(v):
            time.sleep(slow_s if n >= slow_from else 1e-4)
            return sum(x * x for x in v)

        return Instance(f, [1.0] * n, n, 1, GRADIENT)

    return Problem("cliff", f"slow from n = {slow_from}", GRADIENT, "any n >= 1", build)


def test_an_overrun_is_reported_and_bounds_every_later_advice(monkeypatch):
    make_fast(monkeypatch)
    s = Settings(
        problem=cliff(64, 0.2), sizes=[16, 64, 128], modes=("reverse",), repeat=3, budget=0.1, memory=False
    )
    out = Runner(s).run()
    at = {c.n: c for c in out.cells if c.mode == "reverse"}
    over = at[64]
    assert over.status == "skipped" and over.reason.startswith(
        "one call did not finish within the 0.1 s budget"
    )
    assert "so the prediction was more than" in over.reason and "x short" in over.reason
    # n = 128 is now predicted from the overrun (a lower bound), skipped unrun, and its advice
    # stays below the n that overran
    big = at[128]
    assert big.status == "skipped" and big.first_call_s is None and big.reason.startswith("predicted")
    assert "where one call overran the budget" in big.reason
    advised = int(big.reason.split("n <= ")[1].split(" ")[0])
    assert advised < 64


def test_a_timed_cell_far_off_its_prediction_says_so(monkeypatch):
    make_fast(monkeypatch)
    s = Settings(
        problem=cliff(64, 0.02), sizes=[16, 64], modes=("reverse",), repeat=3, budget=5.0, memory=False
    )
    out = Runner(s).run()
    c = next(c for c in out.cells if c.mode == "reverse" and c.n == 64)
    assert c.status == "ok" and c.predicted_time_s < c.time_median_s / 2
    assert "x the prediction" in (c.note or "") and "predicted " in c.note


def test_advice_far_past_the_sizes_timed_says_it_is_an_extrapolation():
    r = Runner(
        Settings(problem=cliff(10**9, 0), sizes=[100000], modes=("forward",), budget=7.0, memory=False)
    )
    r.predictor.times["function"] = [(25, 1e-4), (50, 2e-4)]
    r.predictor.times["forward"] = [(50, 1e-3)]
    cells = {k: r._base(k, 100000, 100000, 1, GRADIENT) for k in ("function", "forward")}
    r.predictor.predict(cells, 100000, None)
    why = cells["forward"].reason
    assert "would fit by a prediction extrapolated from n <= 50 (the largest n" in why


def test_the_report_checks_predictions_against_the_measurements():
    cells = [
        cell(100, "reverse", 1e-3, predicted_time_s=1.2e-3, samples=1),  # within 2x
        cell(100, "forward", 0.5, predicted_time_s=0.01, samples=1),  # 50x over
        cell(
            1000,
            "forward",
            0.5,
            predicted_time_s=0.784,
            status="skipped",
            reason="one call did not finish within the 20 s budget (predicted 784 ms)",
            time_median_s=None,
        ),
        cell(
            3000,
            "forward",
            0.5,
            predicted_time_s=99.0,
            status="skipped",
            reason="predicted 99 s per call",
            time_median_s=None,
        ),
    ]
    text = report_text.prediction_check([(20.0, cells)])
    assert "Of 2 cells predicted before they ran and then timed, 1 came within 2× of the prediction" in text
    assert (
        "1 were off by more, the farthest: forward at n = 100, predicted 10 ms, measured 500 ms (50×" in text
    )
    assert (
        "forward at n = 1000, predicted 784 ms, did not finish within the 20 s budget (more than 26× the prediction)"
        in text
    )
    assert "1 cell was skipped on a prediction alone" in text
    assert report_text.prediction_check([(20.0, [cell(10, "reverse", 1e-3)])]) is None

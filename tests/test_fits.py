"""Log-log slopes with uncertainty and the crossover n*, on cells whose answer is known."""

import math
import re

import pytest
from test_plots import cell

from experiments import fits


def power(k, a=1e-6, sizes=(10, 30, 100, 300, 1000), mode="reverse", spread=0.0, samples=5):
    return [cell(n, mode, a * n**k, spread=spread, samples=samples) for n in sizes]


def test_an_exact_power_law_gives_its_exponent():
    fit = fits.fit_slope(power(1.5))
    assert fit.slope == pytest.approx(1.5, abs=1e-9)
    assert fit.error == pytest.approx(0.0, abs=1e-9)
    assert fit.at(100) == pytest.approx(1e-6 * 100**1.5)
    assert fit.text() == "1.50 ± 0.00"


def test_the_fit_uses_the_large_n_tail():
    # a fixed overhead flattens small n: the tail (the largest half, at least 3 sizes) ignores it
    cells = [
        cell(n, "reverse", 1e-3 + 1e-6 * n * n, spread=0.0) for n in (1, 3, 10, 30, 100, 300, 1000, 3000)
    ]
    fit = fits.fit_slope(cells)
    assert fit.sizes == (100, 300, 1000, 3000)
    assert fit.slope == pytest.approx(2, abs=0.1)
    assert fits.tail([1, 2]) == 2 and fits.tail([1, 2, 3]) == 3 and fits.tail(range(7)) == 4


def test_noise_widens_the_uncertainty_and_the_truth_stays_inside():
    fit = fits.fit_slope(power(2.0, spread=0.2, samples=7))
    assert 0.005 < fit.error < 0.3
    assert abs(fit.slope - 2.0) < 3 * fit.error


def test_a_slope_needs_three_sizes():
    # issue 15: two sizes printed "n^1.02 ± 0.00", a line through two points passed off as a fit
    for samples in (1, 5):
        assert fits.fit_slope(power(1.0, sizes=(10, 100), samples=samples, spread=0.1)) is None
        assert (
            fits.fit_ratio_slope(
                power(2.0, sizes=(10, 100), mode="forward", samples=samples), power(1.0, sizes=(10, 100))
            )
            is None
        )
    assert fits.fit_slope(power(1.0, sizes=(10,))) is None
    fit = fits.fit_slope(power(1.0, sizes=(10, 30, 100), samples=1))
    assert fit.slope == pytest.approx(1.0) and fit.sizes == (10, 30, 100)


def test_two_sizes_give_speedups_but_no_growth_rate_in_the_report():
    from pathlib import Path

    from test_plots import document

    from experiments import report_text
    from experiments.report_data import Run

    cells = power(2, a=1e-6, mode="forward", sizes=(10, 100)) + power(1, a=1e-5, sizes=(10, 100))
    text = report_text.claim_growth(cells)
    assert "n^" not in text and "± 0.00" not in text and "at least 3 sizes" in text
    advice = report_text.advice_gradient(Run(document(cells), Path("results.json")))
    assert "n^" not in advice


def test_one_size_gives_one_pass_cost_not_a_range():
    from pathlib import Path

    from test_plots import document

    from experiments import report_text
    from experiments.report_data import Run

    cells = power(2, a=1e-6, mode="forward", sizes=(100,)) + power(1, a=1.5e-6, sizes=(100,))
    cells += power(1, a=1e-7, mode="function", sizes=(100,))
    advice = report_text.advice_gradient(Run(document(cells), Path("results.json")))
    assert not re.search(r"([\d.]+) to \1 forward passes", advice)


def test_two_samples_have_no_interquartile_range():
    from experiments import timing

    two = timing.Summary.of([1.0, 2.0])
    assert (two.median, two.q1, two.q3, two.iqr) == (1.5, None, None, None)
    three = timing.Summary.of([1.0, 2.0, 4.0])
    assert three.iqr is not None and three.q1 <= three.median <= three.q3


def test_untimed_cells_are_left_out():
    cells = power(1.0)
    cells[-1] = {**cells[-1], "status": "skipped", "time_median_s": None, "samples_s": []}
    assert fits.fit_slope(cells).sizes == (30, 100, 300)


def test_the_same_cells_give_the_same_uncertainty():
    cells = power(1.2, spread=0.1)
    assert fits.fit_slope(cells) == fits.fit_slope(cells)
    assert fits.crossover(power(2, a=1e-7, mode="forward"), cells) == fits.crossover(
        power(2, a=1e-7, mode="forward"), cells
    )


def test_crossover_between_measured_sizes():
    fwd = power(2, a=1e-6, mode="forward", sizes=(2, 5, 10, 20, 50, 100))
    rev = power(1, a=2e-5, sizes=(2, 5, 10, 20, 50, 100))  # speedup n / 20
    co = fits.crossover(fwd, rev)
    assert co.how == "measured" and co.found
    assert co.n_star == pytest.approx(20, rel=1e-6)
    assert co.closest == (20, pytest.approx(1.0))
    assert co.text().startswith("n* ≈ 20")


def test_crossover_with_noise_has_an_interval_around_it():
    fwd = power(2, a=1e-6, mode="forward", sizes=(2, 5, 10, 20, 50, 100), spread=0.3, samples=7)
    rev = power(1, a=2e-5, sizes=(2, 5, 10, 20, 50, 100), spread=0.3, samples=7)
    co = fits.crossover(fwd, rev)
    assert co.low < co.n_star < co.high
    assert 10 < co.n_star < 40
    assert "68% interval" in co.text()


def test_crossover_extrapolated_below_the_sizes_measured():
    fwd = power(2, a=1e-6, mode="forward")
    rev = power(1, a=6e-6)  # speedup n / 6, reverse faster from n = 10 on
    co = fits.crossover(fwd, rev)
    assert (co.how, co.found) == ("below", True)
    assert co.n_star == pytest.approx(6, rel=1e-6)
    assert "extrapolated" in co.text()


def test_no_crossover_when_reverse_wins_everywhere():
    # speedup n / 0.5: the line meets 1 below one input
    co = fits.crossover(power(2, a=1e-6, mode="forward"), power(1, a=5e-7))
    assert co.how == "below" and not co.found and co.n_star is None
    assert co.text().startswith(
        "none: reverse mode was faster at every n measured (10 to 1000); no crossover in that range"
    )
    # speedup falling with n at the small end: nothing to extrapolate
    fwd = [cell(n, "forward", t, spread=0.0) for n, t in ((2, 4.0), (3, 3.0), (10, 2.0), (30, 6.0))]
    rev = [cell(n, "reverse", 1.0, spread=0.0) for n in (2, 3, 10, 30)]
    co = fits.crossover(fwd, rev)
    assert co.n_star is None and not co.found and co.closest == (10, pytest.approx(2.0))
    assert "nearest 1 was 2× at n = 10" in co.text()


def test_crossover_above_when_forward_wins_everywhere():
    co = fits.crossover(power(2, a=1e-6, mode="forward"), power(1, a=1.5e-3))  # speedup n / 1500
    assert co.how == "above" and co.n_star == pytest.approx(1500, rel=1e-6)
    assert "extrapolated: forward mode was faster at every n" in co.text()


@pytest.mark.parametrize(
    ("a", "how"),
    [(4e-6, "below"), (1e-2, "above")],  # the line meets 1 at n = 4 and at n = 10000: outside 5 to 2000
)
def test_a_crossover_more_than_a_factor_2_outside_the_sizes_is_words_not_a_number(a, how):
    co = fits.crossover(power(2, a=1e-6, mode="forward"), power(1, a=a))
    assert co.how == how and co.n_star is None and not co.found
    who = "reverse" if how == "below" else "forward"
    assert co.text().startswith(f"none: {who} mode was faster at every n measured (10 to 1000); no crossover")


def test_a_barely_trending_speedup_never_gives_an_absurd_crossover():
    # the speedup 0.5 n^0.02 creeps toward 1 so slowly that its line meets 1 at n = 2^50 (issue 15:
    # a legend printed n* ≈ 1,076,121,478,787,619,617,608,040,448)
    fwd = power(1.0, a=1e-6, mode="forward", spread=0.05)
    rev = power(0.98, a=2e-6)
    co = fits.crossover(fwd, rev)
    assert co.n_star is None and co.low is None and co.high is None
    assert "no crossover in that range" in co.text()
    from experiments import plots

    assert plots._short(co) == "no n* in 10 to 1000: forward faster at every n"


def test_an_interval_reaching_past_the_window_is_said_in_words():
    fwd = power(2, a=1e-6, mode="forward", sizes=(10, 20, 40), spread=0.6, samples=5)
    rev = power(1, a=1.6e-5, sizes=(10, 20, 40), spread=0.6, samples=5)  # speedup n / 16
    co = fits.crossover(fwd, rev)
    assert co.found
    for end in (co.low, co.high):
        assert end is None or 5 <= end <= 80
    if co.wide:
        assert "below 5" in co.text() or "above 80" in co.text()


def test_speedup_slope_and_quartile_bounds():
    fwd, rev = power(2, a=1e-6, mode="forward"), power(1, a=1e-5)
    assert fits.fit_ratio_slope(fwd, rev).slope == pytest.approx(1.0)
    lo, hi = fits.quartile_ratio(fwd[0], rev[0])
    assert lo <= fwd[0]["time_median_s"] / rev[0]["time_median_s"] <= hi
    assert fits.quartile_ratio({**fwd[0], "time_q1_s": None}, rev[0]) is None
    assert math.isfinite(fits.fit_ratio_slope(fwd, rev).intercept)


def test_the_advice_states_no_crossover_outside_the_sizes_measured():
    # reverse faster at every n in 10 to 1000, its line meeting 1 at n = 4: issue 15 printed
    # "chunked forward mode would win only below n* ≈ 4" (and measuring n = 2, 3 refuted it)
    from pathlib import Path

    from test_plots import document

    from experiments import report_text
    from experiments.report_data import Run

    cells = power(2, a=1e-6, mode="forward") + power(1, a=4e-6)
    text = report_text.advice_gradient(Run(document(cells), Path("results.json")))
    assert "n*" not in text
    assert "reverse mode was faster than forward mode (chunk 1) at every n measured (10 to 1000" in text
    assert "no crossover in that range" in text

"""Issue 15 item 3: a report of a pytest-benchmark JSON file holding several problems gives every
problem its sections, says no empty sentence, and keeps every legend inside its figure."""

import json
import math
import re

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from test_plots import add_ratios, cell, sweep_cells

from experiments import fits, plots, report, report_data
from experiments import report_render as rr
from experiments.report_data import Run, jacobian_grid

INFO = ("problem", "kind", "n", "requested_n", "m", "mode", "chunk", "passes", "sweeps", "ops", "agrees")


def renamed(cells, problem):
    return [{**c, "problem": problem} for c in cells]


def tall_cells(ns=(10, 100, 1000)):
    """A Jacobian whose outputs grow with its inputs (tall's default m = 10n), as the benchmarks
    time it: a size sweep, not a grid; forward mode wins at every n."""
    cells = []
    for n in ns:
        for mode, t in (
            ("function", 1e-5),
            ("forward", 1e-4 * n),
            ("forward-chunked", 3e-4),
            ("reverse", 2e-4 * n),
        ):
            cells.append(cell(n, mode, t, m=10 * n, kind="jacobian", problem="tall"))
    return add_ratios(cells)


def bench_file(tmp_path, cells):
    benches = []
    for c in cells:
        if c["status"] != "ok":  # pytest-benchmark leaves failed benchmarks out
            continue
        s = sorted(c["samples_s"])
        stats = {
            "min": s[0],
            "max": s[-1],
            "mean": sum(s) / len(s),
            "stddev": 0.0,
            "rounds": len(s),
            "median": c["time_median_s"],
            "iqr": c["time_iqr_s"],
            "q1": c["time_q1_s"],
            "q3": c["time_q3_s"],
            "iterations": 1,
            "data": c["samples_s"],
        }
        name = f"test_mode[{c['problem']}-{c['n']}-{c['mode']}]"
        benches.append(
            {
                "group": None,
                "name": name,
                "fullname": name,
                "extra_info": {k: c[k] for k in INFO},
                "stats": stats,
                "params": {"problem": c["problem"], "n": c["n"], "mode": c["mode"]},
            }
        )
    doc = {
        "machine_info": {"cpu": {"brand_raw": "Bench CPU", "count": 2}, "python_version": "3.11.7"},
        "commit_info": {"id": "feedbeef", "dirty": False},
        "benchmarks": benches,
        "datetime": "2026-01-01T00:00:00",
        "version": "5.2.3",
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(doc))
    return path


def article_cells():
    return add_ratios(
        [
            cell(3, m, t, problem="article")
            for m, t in (("function", 1e-6), ("forward", 3e-5), ("reverse", 2e-5))
        ]
    )


def section(md, title, level="## "):
    return md.split(f"{level}{title}")[1].split(f"\n{level}")[0]


def test_every_problem_of_a_benchmark_file_gets_claims_and_advice(tmp_path):
    cells = [*article_cells(), *renamed(sweep_cells(), "rosenbrock"), *renamed(sweep_cells(), "logsumexp")]
    path = bench_file(tmp_path, cells + tall_cells())
    runs = report_data.load_runs(path)
    assert [r.problem for r in runs] == ["article", "rosenbrock", "logsumexp", "tall"]
    built = report.build(runs, tmp_path, report.regenerate_command(runs, None))
    md = rr.markdown(built.blocks)
    # no sentence ends in an empty list ("Jacobian of tall (n inputs, m outputs): .")
    assert not re.search(r":\s*\.", md)
    claims, advice = section(md, "What the article claims"), section(md, "Mode advice")
    for problem in ("article", "rosenbrock", "logsumexp", "tall"):
        assert f"### {problem}" in claims
    assert "at n = 3 forward mode (chunk 1) made 3 passes" in section(claims, "article", "### ")
    assert "Reverse mode's advantage grows" in section(claims, "logsumexp", "### ")
    assert "ideal speedup of reverse mode over forward mode (chunk 1) is n/m" in section(
        claims, "tall", "### "
    )
    for problem in ("rosenbrock", "logsumexp", "tall"):
        assert f"For **{problem}** on this machine" in advice
    glance = section(md, "At a glance")
    assert "on rosenbrock" in glance and "on logsumexp" in glance and "on tall" in glance
    assert glance.count("Fitted growth") == 1  # the slopes of the main sweep only


def test_m_growing_with_n_is_a_size_sweep_not_a_jacobian_grid():
    assert jacobian_grid(Run({"cells": tall_cells()}, None)) is None
    assert report_data.is_size_sweep(Run({"cells": tall_cells()}, None))


def test_a_jacobian_headline_with_nothing_to_say_is_left_out():
    from experiments import report_text

    # a grid where no output count was timed at two n in both modes
    cells = [c for c in tall_cells(ns=(10, 100)) if c["mode"] != "reverse"]
    cells += [cell(10, "reverse", 1e-3, m=1000, kind="jacobian")]
    cells += [cell(100, m, 1e-3, m=100, kind="jacobian") for m in ("forward", "reverse")]
    run = Run({"cells": cells}, None)
    assert jacobian_grid(run) is not None
    assert report_text.jacobian_headline(run, jacobian_grid(run)[1]) is None


def legend_inside(fig):
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    boxes = [leg.get_window_extent(renderer) for leg in fig.legends]
    return boxes and all(b.x0 >= 0 and b.x1 <= width for b in boxes)


def test_long_legend_entries_are_wrapped_inside_the_figure():
    """The tall speedup legend was clipped: its crossover and slope entries ran past the edge."""
    cells = tall_cells(ns=(10, 30, 100, 300, 1000, 3000))
    fig = plots.styled(plots.speedup_figure, cells, "tall: reverse mode's speedup over forward mode")
    assert legend_inside(fig)
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    with rc_context(plots.STYLE):
        width = plots.legend_chars(fig, 2)
    assert all(len(line) <= width for t in texts for line in t.split("\n"))
    # a label longer than a column is wrapped, not cut: every word is still there
    long = "no n* in 10 to 3000: forward faster at every n"
    assert any(t.replace("\n", " ") == long for t in texts)
    for build in (plots.time_figure, plots.audit_figure, plots.counts_figure, plots.memory_figure):
        assert legend_inside(plots.styled(build, cells, "tall"))


def test_a_speedup_that_barely_moves_has_no_crossover_rather_than_an_overflow():
    # forward mode 5x faster at every n, the speedup creeping up like n^1e-4: the fitted line
    # meets 1 near n = e^16000, past what a float holds
    fw = [cell(n, "forward", 2e-4 * n**1e-4, samples=1) for n in (10, 100, 1000)]
    rv = [cell(n, "reverse", 1e-3, samples=1) for n in (10, 100, 1000)]
    co = fits.crossover(fw, rv)
    assert co is not None and not co.found and co.n_star is None and co.how == "above"
    assert math.isfinite(co.closest[1]) and np.isclose(co.closest[1], 0.2, rtol=1e-2)


def test_an_extrapolated_crossover_never_lands_inside_the_sizes_measured():
    # reverse mode faster at every n (1.13x, 1.25x, 775x as rosenbrock-array measured): a line
    # through the three speedups meets 1 near n = 19, inside the range where 1.25x was measured
    fw = [cell(n, "forward", s * 1e-3, samples=1) for n, s in ((10, 1.13), (100, 1.25), (1000, 775.0))]
    rv = [cell(n, "reverse", 1e-3, samples=1) for n in (10, 100, 1000)]
    co = fits.crossover(fw, rv)
    assert co is not None and co.how == "below" and (co.n_star is None or co.n_star < 10)
    assert "reverse mode was faster at every n measured (10 to 1000)" in co.text()

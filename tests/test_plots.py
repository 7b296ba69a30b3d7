"""The report's figures, built from small synthetic results and checked on the matplotlib objects."""

import math
import re

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection, PolyCollection, QuadMesh
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer
from matplotlib.image import imread

from experiments import fits, plots
from experiments.report_data import Run, cell_at, chunk_sweep, jacobian_grid, series

SIZES = (10, 30, 100, 300, 1000)
MODES = ("function", "forward", "forward-chunked", "reverse")


def _chunk(n):
    passes = -(-n // 12)
    return -(-n // passes)


def cell(n, mode, t, *, m=1, kind="gradient", chunk=None, samples=5, spread=0.04, seed=0, **extra):
    """One timed cell whose samples scatter around ``t`` (fixed seed)."""
    rng = np.random.default_rng([n, m, MODES.index(mode), seed, chunk or 0])
    s = t * (1 + spread * rng.uniform(-1, 1, samples)) if samples > 1 else np.array([t])
    q1, q3 = (float(v) for v in np.percentile(s, [25, 75])) if samples > 1 else (None, None)
    if mode == "forward":
        chunk = 1
    elif mode == "forward-chunked" and chunk is None:
        chunk = _chunk(n)
    passes = -(-n // chunk) if chunk else 1
    c = {
        "problem": "synthetic",
        "kind": kind,
        "n": n,
        "requested_n": n,
        "m": m,
        "mode": mode,
        "chunk": chunk,
        "passes": passes,
        "sweeps": m if mode == "reverse" else None,
        "status": "ok",
        "reason": None,
        "time_median_s": float(np.median(s)),
        "time_q1_s": q1,
        "time_q3_s": q3,
        "time_iqr_s": None if q1 is None else q3 - q1,
        "samples_s": [float(v) for v in s],
        "loops": 10,
        "first_call_s": float(t),
        "function_time_s": None,
        "ratio_to_function": None,
        "speedup_vs_forward": None,
        "speedup_vs_forward_chunked": None,
        "ops": None if mode == "function" else 4 * n * passes,
        "tangent_updates": None,
        "adjoint_updates": None,
        "tape_length": None,
        "tape_bytes": 500 * n if mode == "reverse" else None,
        "peak_bytes": {"function": 1000, "forward": 100 * n, "forward-chunked": 120 * n, "reverse": 1000 * n}[
            mode
        ],
        "max_rel_diff": None if mode == "function" else 1e-16,
        "ref_rel_diff": None,
        "agrees": None if mode == "function" else True,
        "predicted_time_s": None,
        "predicted_exponent": None,
        "predicted_from": [],
        "note": None,
        "seed": 0,
        "details": {},
    }
    c.update(extra)
    return c


def model(n, mode):
    """Seconds per gradient: forward (chunk 1) ~ n^2, reverse ~ n, speedup n / 25."""
    return {
        "function": 1e-6 * n,
        "forward": 2e-6 * n * n,
        "forward-chunked": 2.5e-6 * n * -(-n // _chunk(n)),
        "reverse": 5e-5 * n,
    }[mode]


def add_ratios(cells):
    f = {c["n"]: c["time_median_s"] for c in cells if c["mode"] == "function" and c["status"] == "ok"}
    fw = {c["n"]: c["time_median_s"] for c in cells if c["mode"] == "forward" and c["status"] == "ok"}
    for c in cells:
        if c["status"] != "ok" or c["mode"] == "function":
            continue
        c["function_time_s"] = f.get(c["n"])
        c["ratio_to_function"] = c["time_median_s"] / f[c["n"]] if c["n"] in f else None
        c["speedup_vs_forward"] = fw[c["n"]] / c["time_median_s"] if c["n"] in fw else None
    return cells


def sweep_cells(sizes=SIZES, skip_forward_at=1000):
    """A size sweep: every mode timed at every n, except forward (chunk 1) at the largest n,
    skipped over the budget with a predicted time (as the runner records it)."""
    cells = []
    for n in sizes:
        for mode in MODES:
            if mode == "forward" and n == skip_forward_at:
                c = cell(n, mode, model(n, mode), ops=None, peak_bytes=None)
                c.update(
                    status="skipped",
                    reason="predicted 2 s per call; over the budget",
                    time_median_s=None,
                    time_q1_s=None,
                    time_q3_s=None,
                    time_iqr_s=None,
                    samples_s=[],
                    first_call_s=None,
                    predicted_time_s=model(n, mode),
                )
                cells.append(c)
            else:
                cells.append(cell(n, mode, model(n, mode)))
    return add_ratios(cells)


def chunk_cells(n=200, chunks=(1, 2, 4, 8, 12, 50, 200)):
    """A --chunks run at one n: the run's own cells, then the sweep's extra forward-chunked cells."""
    cells = [cell(n, m, model(n, m)) for m in MODES]
    for c in chunks:
        if c in (1, _chunk(n)):
            continue
        t = 2e-6 * n * -(-n // c) * (1 + c / 50)
        cells.append(cell(n, "forward-chunked", t, chunk=c, details={"sweep": "chunk"}))
    return add_ratios(cells)


def grid_cells(ns=(2, 8, 32), ms=(2, 8, 32)):
    """A Jacobian over a grid: forward costs ~ n passes, reverse ~ m sweeps; forward's best is
    n / 3m of reverse."""
    cells = []
    for n in ns:
        for m in ms:
            for mode, t in (
                ("function", 1e-5),
                ("forward", 1e-4 * n),
                ("forward-chunked", 2e-4 * n / 3),
                ("reverse", 2e-4 * m),
            ):
                cells.append(cell(n, mode, t, m=m, kind="jacobian"))
    return add_ratios(cells)


def document(cells, name="synthetic", kind="gradient", status="complete", command=None):
    """A results.json document around ``cells`` (schema version 1)."""
    ns = sorted({c["n"] for c in cells})
    return {
        "schema_version": 1,
        "status": status,
        "status_reason": None if status == "complete" else "interrupted",
        "started_at": "2026-01-01T00:00:00+0000",
        "finished_at": "2026-01-01T00:01:00+0000",
        "elapsed_s": 60.0,
        "tool": {"name": "compare-modes", "version": "0.1.0"},
        "command": {
            "argv": None,
            "line": command or f"compare-modes --inputs {','.join(map(str, ns))}",
            "cwd": "/tmp",
        },
        "run_folder": None,
        "settings": {"repeat": 5, "budget": 10.0, "tolerance": 1e-8, "threads": 1},
        "environment": {
            "cpu_model": "Test CPU",
            "cpu_count": 2,
            "cpus_available": 2,
            "memory_available_bytes": 2**33,
            "os": "Linux",
            "python": "3.11.7",
            "python_implementation": "CPython",
            "numpy": "2.0",
            "modes": "0.1.0",
            "compare_modes": "0.1.0",
            "thread_pools": [{"internal_api": "openblas", "num_threads": 1}],
            "git": {"commit": "0123456789abcdef", "dirty": False},
        },
        "problem": {
            "name": name,
            "description": f"{name}, made up for the tests",
            "kind": kind,
            "sizes": "any n",
            "options": {},
        },
        "cells": [{**c, "problem": name} for c in cells],
        "summary": [],
    }


def mode_lines(ax):
    """Each mode's line, by mode (its label is the mode's name, then its fitted slope)."""
    by_label = {line.get_label().split(": slope")[0]: line for line in ax.lines}
    return {mode: by_label[plots.LABEL[mode]] for mode in MODES if plots.LABEL[mode] in by_label}


def mode_band_vertices(ax, mode):
    """The vertices of the IQR band(s) drawn in ``mode``'s colour."""
    bands = [
        c
        for c in ax.collections
        if isinstance(c, PolyCollection) and np.allclose(c.get_facecolor()[0][:3], to_rgb(plots.COLOR[mode]))
    ]
    return np.concatenate([p.vertices for b in bands for p in b.get_paths()]) if bands else np.empty((0, 2))


def legend_texts(fig):
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def slope_in_legend(fig, label):
    for text in legend_texts(fig):
        m = re.fullmatch(rf"{re.escape(label)}: slope (-?[\d.]+) ± ([\d.]+)", text)
        if m:
            return float(m.group(1)), float(m.group(2))
    raise AssertionError(f"no slope for {label!r} in {legend_texts(fig)}")


@pytest.fixture(scope="module")
def sweep():
    return sweep_cells()


# ------------------------------------------------------------------------------ 1. time vs n


def test_time_figure_axes_lines_and_slopes(sweep):
    fig = plots.styled(plots.time_figure, sweep, "synthetic: time vs n")
    (ax,) = fig.axes
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_xlabel() == "inputs n"
    assert "seconds" in ax.get_ylabel() and "gradient" in ax.get_ylabel()
    assert ax.get_title() == "synthetic: time vs n"
    # each mode's medians, at the sizes it was timed, and its IQR band from Q1 to Q3
    lines = mode_lines(ax)
    assert set(lines) == set(MODES)
    for mode, line in lines.items():
        pts = series(sweep, mode)
        assert list(line.get_xdata()) == [c["n"] for c in pts]
        np.testing.assert_array_equal(line.get_ydata(), [c["time_median_s"] for c in pts])
        v = mode_band_vertices(ax, mode)
        assert (v[:, 0].min(), v[:, 0].max()) == (pts[0]["n"], pts[-1]["n"])
        assert v[:, 1].min() == pytest.approx(min(c["time_q1_s"] for c in pts))
        assert v[:, 1].max() == pytest.approx(max(c["time_q3_s"] for c in pts))
    # the guides grow like n and n^2, through reverse's and forward's first points
    guides = {
        line.get_label().split(" guide")[0]: line for line in ax.lines if " guide, " in line.get_label()
    }
    for name, mode, k in (("O(n)", "reverse", 1), ("O(n²)", "forward", 2)):
        (x1, y1), (x2, y2) = guides[name].get_xy1(), guides[name].get_xy2()
        first = series(sweep, mode)[0]
        assert (x1, y1) == (first["n"], first["time_median_s"])
        assert math.log(y2 / y1) / math.log(x2 / x1) == pytest.approx(k)
    # the fitted slopes are in the legend, with their uncertainty
    k, err = slope_in_legend(fig, "forward, chunk 1")
    assert abs(k - 2) < 0.05 and 0 < err < 0.1
    k, err = slope_in_legend(fig, "reverse")
    assert abs(k - 1) < 0.05
    assert fits.fit_slope([c for c in sweep if c["mode"] == "reverse"]).text() in " ".join(legend_texts(fig))


def test_time_figure_shows_the_skipped_cell_at_its_prediction(sweep):
    fig = plots.styled(plots.time_figure, sweep, "t")
    ax = fig.axes[0]
    hollow = [
        c
        for c in ax.collections
        if isinstance(c, PathCollection) and len(c.get_offsets()) and not c.get_facecolor().any()
    ]
    assert any(
        tuple(o) == (1000, pytest.approx(model(1000, "forward"))) for c in hollow for o in c.get_offsets()
    )
    assert any("not timed" in t for t in legend_texts(fig))


def test_the_legend_does_not_cover_the_data(sweep):
    for build in (plots.time_figure, plots.speedup_figure):
        fig = plots.styled(build, sweep, "t")
        FigureCanvasAgg(fig).draw()
        renderer = fig.canvas.get_renderer()
        legend = fig.legends[0].get_window_extent(renderer)
        for ax in fig.axes:
            assert not legend.overlaps(ax.get_window_extent(renderer)), build.__name__


def test_a_cell_timed_once_has_no_band_and_still_draws(sweep):
    cells = [dict(c) for c in sweep]
    once = next(c for c in cells if c["mode"] == "forward" and c["n"] == 300)
    once.update(time_q1_s=None, time_q3_s=None, time_iqr_s=None, samples_s=[once["time_median_s"]])
    fig = plots.styled(plots.time_figure, cells, "t")
    ax = fig.axes[0]
    forward = mode_lines(ax)["forward"]
    assert (300, once["time_median_s"]) in zip(forward.get_xdata(), forward.get_ydata())
    assert 300 not in mode_band_vertices(ax, "forward")[:, 0]  # no band where there is no spread
    assert 300 in mode_band_vertices(ax, "reverse")[:, 0]
    k, _ = slope_in_legend(fig, "forward, chunk 1")
    assert abs(k - 2) < 0.05


def test_a_figure_without_its_data_says_what_it_needs():
    one_size = [cell(100, m, model(100, m)) for m in MODES]
    for build in (plots.time_figure, plots.speedup_figure, plots.counts_figure, plots.memory_figure):
        with pytest.raises(plots.NoDataError, match=r"two or more|same n"):
            plots.styled(build, one_size, "t")
    no_f = [{**c, "ratio_to_function": None} for c in sweep_cells() if c["mode"] != "function"]
    with pytest.raises(plots.NoDataError, match="f alone"):
        plots.styled(plots.audit_figure, no_f, "t")


# ------------------------------------------------------------------------------- 2. speedup


def test_speedup_figure_ideal_break_even_and_crossover(sweep):
    fig = plots.styled(plots.speedup_figure, sweep, "speedup")
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert "forward time ÷ reverse time" in ax.get_ylabel()
    labels = [line.get_label() for line in ax.lines]
    assert "ideal, chunk 1: n" in labels and "ideal, chunked: ⌈n/c⌉" in labels
    ideal = ax.lines[labels.index("ideal, chunk 1: n")]
    assert list(ideal.get_ydata()) == list(ideal.get_xdata())  # n passes per sweep, at every n asked for
    even = next(line for line in ax.lines if line.get_label().startswith("break-even"))
    assert list(even.get_ydata()) == [1, 1]
    stars = [
        c for c in ax.containers if isinstance(c, ErrorbarContainer) and c.get_label().startswith("n* ≈")
    ]
    assert stars, "the crossover is marked"
    n_star = float(re.search(r"n\* ≈ ([\d.]+)", stars[0].get_label()).group(1))
    assert 20 <= n_star <= 31  # the model's speedup is n / 25
    assert stars[0].lines[0].get_ydata()[0] == 1  # on the break-even line
    k, _ = slope_in_legend(fig, "forward, chunk 1")
    assert abs(k - 1) < 0.05


# ----------------------------------------------------------------- 3. to 5. audit, counts, memory


def test_audit_figure_shades_the_cheap_gradient_band(sweep):
    fig = plots.styled(plots.audit_figure, sweep, "audit")
    ax = fig.axes[0]
    band = [p for p in ax.patches if "cheap-gradient" in p.get_label()]
    assert len(band) == 1
    assert (band[0].get_y(), band[0].get_y() + band[0].get_height()) == (3, 4)
    lo, hi = ax.get_ylim()
    assert lo < 3 and hi > 4
    assert "÷ time of f alone" in ax.get_ylabel()


def test_counts_figure_shows_passes_and_operations(sweep):
    fig = plots.styled(plots.counts_figure, sweep, "counts")
    left, right = fig.axes
    for ax in (left, right):
        assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert "passes" in left.get_ylabel() and "primitive evaluations" in right.get_ylabel()
    rev = next(line for line in left.lines if line.get_label() == "reverse")
    assert set(rev.get_ydata()) == {1}  # one sweep at every n
    fw = next(line for line in left.lines if line.get_label() == "forward, chunk 1")
    assert list(fw.get_ydata()) == list(fw.get_xdata())  # n passes
    assert right.get_title().endswith("forward ÷ reverse = 300 at n = 300")


def test_memory_figure_in_bytes(sweep):
    fig = plots.styled(plots.memory_figure, sweep, "memory")
    ax = fig.axes[0]
    assert "bytes" in ax.get_ylabel()
    assert "reverse: objects the tape holds (estimate)" in [line.get_label() for line in ax.lines]
    FigureCanvasAgg(fig).draw()
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert any(t.endswith(("KiB", "MiB")) for t in ticks)


# ------------------------------------------------------------------ 6. and 7. chunks, heat map


def test_chunk_figure_from_a_chunk_sweep():
    cells = chunk_cells()
    n, sweep = chunk_sweep(Run({"cells": cells}, None))
    assert n == 200 and [c["chunk"] for c in sweep] == [1, 2, 4, 8, 12, 50, 200]
    fig = plots.styled(plots.chunk_figure, n, sweep, cells, "chunks")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "chunk size c" in ax.get_xlabel()
    (rev,) = [line for line in ax.lines if line.get_label().startswith("reverse")]
    assert set(rev.get_ydata()) == {cell_at(cells, 200, None, "reverse")["time_median_s"]}  # horizontal
    forward = next(c for c in ax.containers if c.get_label() == "forward mode, chunk c").lines[0]
    timed = [c for c in sweep if c["status"] == "ok"]
    assert list(forward.get_xdata()) == [c["chunk"] for c in timed]
    np.testing.assert_array_equal(forward.get_ydata(), [c["time_median_s"] for c in timed])
    assert any(t.startswith("fastest: c = ") for t in legend_texts(fig))


def test_heatmap_figure_over_inputs_and_outputs():
    cells = grid_cells()
    ns, ms = jacobian_grid(Run({"cells": cells}, None))
    fig = plots.styled(plots.heatmap_figure, cells, ns, ms, "grid")
    ax = fig.axes[0]
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    # rows are m, columns n: log10 of (faster forward time / reverse time) in each cell
    expected = [[math.log10(plots.forward_over_reverse(cells, n, m)) for n in ns] for m in ms]
    np.testing.assert_allclose(mesh.get_array().reshape(len(ms), len(ns)), expected, rtol=1e-12)
    assert [line.get_label() for line in ax.lines].count("n = m") == 1
    # the crossover n* along each row where the winner changes (forward costs n/3m of reverse
    # here): inside the grid for m = 2 and 8; for m = 32 it would lie past the largest n
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    rows = {ms[np.searchsorted(plots._edges(ms), line.get_ydata()[0]) - 1]: line for line in stars}
    assert {(round(line.get_xdata()[0] / m), m) for m, line in rows.items()} == {(3, 2), (3, 8)}
    # low in its row (m's cell), under the labels centred on m
    for m, line in rows.items():
        y = line.get_ydata()[0]
        label = next(t for t in ax.texts if t.get_position()[1] == m)
        assert plots._edges(ms)[ms.index(m)] < y < m / 1.3 and label.get_va() == "center"
    assert any(t.startswith("crossover n* in this row") for t in legend_texts(fig))
    labels = [t.get_text() for t in ax.texts]
    assert sum(t.startswith(("forward\n", "reverse\n")) for t in labels) == 9
    # forward wins above the diagonal (m > n), reverse below it
    r = plots.forward_over_reverse(cells, 32, 2)
    assert r > 1 and plots.forward_over_reverse(cells, 2, 32) < 1
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("inputs n", "outputs m")


# ----------------------------------------------------------------------------- rendering


def test_one_png_is_a_non_blank_image_of_the_expected_size(sweep, tmp_path):
    fig = plots.styled(plots.speedup_figure, sweep, "speedup")
    (png,) = plots.save(fig, tmp_path, "speedup", formats=("png",))
    img = imread(png)
    w, h = fig.get_size_inches() * plots.DPI
    assert img.shape[:2] == (round(h), round(w))
    rgb = img[..., :3]
    ink = (rgb < 0.9).any(axis=2).mean()
    assert 0.02 < ink < 0.6, ink  # drawn on, not a solid block
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20  # colours, text, antialiasing


def test_bootstrap_is_deterministic(sweep):
    rev = [c for c in sweep if c["mode"] == "reverse"]
    assert fits.fit_slope(rev) == fits.fit_slope(rev)
    assert not math.isnan(fits.fit_slope(rev).error)

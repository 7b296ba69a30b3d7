"""The runner's reverse-chunked mode (issue 13 item 5): a Jacobian's rows in ceil(m / c) vector
sweeps, beside forward-chunked, and the Jacobian heat map comparing each side at its best."""

import math

import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from test_plots import add_ratios, cell, grid_cells
from test_runner import make_fast

import modes
from experiments import cli, plots
from experiments.kernels import chunk_for, kernel, work
from experiments.problems import CATALOGUE
from experiments.report_data import Run, best_reverse, jacobian_grid
from experiments.results import JACOBIAN_DEFAULT_MODES, MODES, REVERSE_CHUNKED
from experiments.runner import Runner, Settings


def test_reverse_chunked_is_a_mode_with_the_forward_chunk_rule():
    assert REVERSE_CHUNKED in MODES and REVERSE_CHUNKED in JACOBIAN_DEFAULT_MODES
    # the rows of a Jacobian are grouped by the rule forward mode groups its columns by
    assert chunk_for(REVERSE_CHUNKED, 5, None, m=40) == modes.choose_chunk(40)
    assert chunk_for(REVERSE_CHUNKED, 5, 16, m=40) == 16
    assert chunk_for(REVERSE_CHUNKED, 5, 100, m=40) == 40  # clamped to m
    assert work(REVERSE_CHUNKED, 5, 40, "jacobian", 16) == 3  # ceil(40 / 16) sweeps
    assert work(REVERSE_CHUNKED, 5, 1, "gradient", 16) == 1


@pytest.mark.parametrize("chunk", [1, 3, 4, 5, 13])
def test_reverse_chunked_kernel_gives_the_jacobian_in_ceil_m_over_c_sweeps(chunk):
    inst = CATALOGUE["tall"].build(3, 0, 12, {})
    with modes.counting() as stats:
        J = kernel(inst, REVERSE_CHUNKED, chunk)()
    np.testing.assert_allclose(J, inst.reference, rtol=1e-12, atol=1e-14)
    assert stats.sweeps == math.ceil(12 / min(chunk, 12))


def test_runner_times_reverse_chunked_beside_forward_chunked(monkeypatch):
    make_fast(monkeypatch)
    s = Settings(
        problem=CATALOGUE["tall"],
        sizes=[3],
        outputs=[10],
        modes=JACOBIAN_DEFAULT_MODES,
        chunk=4,
        repeat=3,
        budget=5.0,
        memory=False,
    )
    out = Runner(s).run()
    by = {c.mode: c for c in out.cells}
    rc, rv = by[REVERSE_CHUNKED], by["reverse"]
    assert rc.status == "ok" and rc.agrees and rc.ref_rel_diff <= 1e-12
    assert (rc.chunk, rc.passes, rc.sweeps) == (4, 1, 3)  # ceil(10 / 4) sweeps of 4 cotangents
    assert (rv.chunk, rv.sweeps) == (None, 10)
    assert rc.ops and rc.adjoint_updates and rc.tangent_updates is None
    assert by["forward-chunked"].chunk == 3  # the same --chunk, clamped to n


def _settings(argv):
    return cli._settings(cli.build_parser().parse_args(argv))


def test_cli_default_modes_add_reverse_chunked_for_jacobians_only():
    assert _settings(["--problem", "tall", "--inputs", "4"]).modes == JACOBIAN_DEFAULT_MODES
    assert REVERSE_CHUNKED not in _settings(["--inputs", "4"]).modes
    with pytest.raises(cli.UsageError, match="reverse-chunked chunks a Jacobian's rows"):
        _settings(["--inputs", "4", "--modes", "reverse,reverse-chunked"])
    # --chunk applies to reverse-chunked too
    assert (
        _settings(["--problem", "tall", "--inputs", "4", "--modes", "reverse-chunked", "--chunk", "2"]).chunk
        == 2
    )


def _with_chunked_reverse(cells, speed=8.0):
    """Add a reverse-chunked cell per (n, m), ``speed`` times faster than one sweep per output."""
    extra = [
        cell(
            c["n"],
            "reverse",
            c["time_median_s"] / speed,
            m=c["m"],
            kind="jacobian",
            samples=1,
            mode_name=REVERSE_CHUNKED,
        )
        for c in cells
        if c["mode"] == "reverse"
    ]
    for c in extra:
        c["mode"] = c.pop("mode_name")
        c["chunk"], c["sweeps"] = c["m"], 1
    return add_ratios(cells + extra)


def test_heat_map_compares_the_faster_reverse_mode():
    plain = grid_cells()
    cells = _with_chunked_reverse(plain)
    ns, ms = jacobian_grid(Run({"cells": cells}, None))
    for n in ns:
        for m in ms:
            # chunked reverse is 8x faster here: the fair fight moves every cell 8x towards reverse
            assert plots.forward_over_reverse(cells, n, m) == pytest.approx(
                8 * plots.forward_over_reverse(plain, n, m)
            )
    assert {c["mode"] for c in best_reverse(cells, 8)} == {REVERSE_CHUNKED}
    # forward mode (n / 3m of reverse) wins (8, 8) without chunked reverse, loses it with it
    assert plots.forward_over_reverse(plain, 8, 8) < 1 < plots.forward_over_reverse(cells, 8, 8)

    def reverse_wins(cs):
        fig = plots.styled(plots.heatmap_figure, cs, ns, ms, "grid")
        return sum(t.get_text().startswith("reverse\n") for t in fig.axes[0].texts)

    assert reverse_wins(cells) > reverse_wins(plain)


def test_figures_draw_reverse_chunked_with_its_own_style():
    cells = _with_chunked_reverse(grid_cells(ns=(2, 8, 32), ms=(4,)))
    assert plots.LABEL[REVERSE_CHUNKED] == "reverse, chunked"
    fig = plots.styled(plots.time_figure, cells, "time")
    assert any(line.get_label().startswith("reverse, chunked") for line in fig.axes[0].lines)
    fig = plots.styled(plots.counts_figure, cells, "counts")
    left = fig.axes[0]
    (line,) = [ln for ln in left.lines if ln.get_label() == "reverse, chunked"]
    assert list(line.get_ydata()) == [1, 1, 1]  # its sweeps, not its passes


def test_heat_map_labels_sit_above_the_diagonal_on_their_cells_colour():
    """Issue 15 item 5: the n = m line must not strike through the cell labels."""
    cells = grid_cells()
    ns, ms = jacobian_grid(Run({"cells": cells}, None))
    fig = plots.styled(plots.heatmap_figure, cells, ns, ms, "grid")
    ax = fig.axes[0]
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    (diagonal,) = [line for line in ax.lines if line.get_label() == "n = m"]
    labels = [t for t in ax.texts if t.get_text().startswith(("forward\n", "reverse\n"))]
    colours = mesh.cmap(mesh.norm(mesh.get_array())).reshape(len(ms), len(ns), 4)
    for t in labels:
        n, m = t.get_position()
        box = t.get_bbox_patch()
        assert box is not None and t.get_zorder() > diagonal.get_zorder()
        np.testing.assert_allclose(box.get_facecolor(), colours[ms.index(m), ns.index(n)])


def test_jacobian_advice_says_when_chunking_both_sides_leaves_little_between_them():
    """With both modes chunked (one pass, one sweep) the grid is nearly even: the advice says
    so, and claims no crossover growing with m that the measured n* do not show."""
    from experiments import report_text

    cells = []
    for n in (2, 8, 32, 128):
        for m in (2, 8, 32, 128):
            for mode, t in (
                ("function", 1e-5),
                ("forward", 1e-4 * n),
                ("forward-chunked", 1e-4),
                ("reverse", 1e-4 * m),
            ):
                cells.append(cell(n, mode, t, m=m, kind="jacobian", samples=1))
            # chunked reverse: a little slower than chunked forward at small n, faster at n = 128
            rc = cell(n, "reverse", 1.2e-4 if n < 128 else 0.9e-4, m=m, kind="jacobian", samples=1)
            rc.update(mode=REVERSE_CHUNKED, chunk=m, sweeps=1)
            cells.append(rc)
    run = Run({"cells": add_ratios(cells)}, None)
    text = report_text.advice_jacobian(run, *jacobian_grid(run))
    assert "neither was more than 1.2× faster anywhere on the grid" in text
    assert "grows with the outputs" not in text
    assert "crossover lies at n* ≈" in text

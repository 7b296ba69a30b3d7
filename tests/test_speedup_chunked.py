"""Issue 13's leftover: for a Jacobian whose chunked reverse mode was timed, the speedup figure
also compares chunked forward mode with chunked reverse mode (both carrying c directions), and
names which reverse mode each line divides by; a gradient's figure is unchanged."""

import numpy as np
from test_plots import add_ratios, cell, document, sweep_cells

from experiments import plots, report
from experiments import report_render as rr
from experiments.report_data import Run

NS = (2, 8, 32, 128)


def jacobian_cells(ns=NS, chunked_reverse=True):
    """tall-like: m = 10n outputs; forward-chunked one pass, reverse m sweeps, reverse-chunked
    ceil(m / c) sweeps with c = m (one sweep), each with its own time."""
    cells = []
    for n in ns:
        m = 10 * n
        for mode, t in (
            ("function", 1e-5),
            ("forward", 1e-4 * n),
            ("forward-chunked", 3e-4),
            ("reverse", 2e-4 * m),
        ):
            c = cell(n, mode, t, m=m, kind="jacobian")
            if mode == "forward-chunked":
                c.update(chunk=n, passes=1)
            cells.append(c)
        if chunked_reverse:
            c = cell(n, "reverse", 5e-4 * n, m=m, kind="jacobian", seed=1)
            c.update(mode="reverse-chunked", chunk=m, sweeps=1)
            cells.append(c)
    return add_ratios(cells)


def lines_by_label(fig):
    ax = fig.axes[0]
    bars = {c.get_label(): c.lines[0] for c in ax.containers}
    dashed = {line.get_label(): line for line in ax.lines if line.get_linestyle() == "--"}
    return bars, dashed


def median(cells, n, mode):
    return next(c["time_median_s"] for c in cells if c["n"] == n and c["mode"] == mode)


def test_both_chunked_is_a_line_of_its_own_with_its_ideal():
    cells = jacobian_cells()
    fig = plots.styled(plots.speedup_figure, cells, "tall")
    bars, dashed = lines_by_label(fig)
    (both,) = [line for label, line in bars.items() if label.startswith("both chunked: forward ÷ reverse")]
    want = [median(cells, n, "forward-chunked") / median(cells, n, "reverse-chunked") for n in NS]
    np.testing.assert_allclose(both.get_ydata(), want, rtol=1e-12)
    assert list(both.get_xdata()) == list(NS)
    assert both.get_color() == plots.COLOR["reverse-chunked"]
    ideal = dashed["ideal, both chunked: ⌈n/c⌉ / ⌈m/c⌉"]
    assert list(ideal.get_ydata()) == [1.0] * len(NS)  # one pass against one sweep
    # the other lines say that they divide by (plain) reverse mode, m sweeps
    assert any(label.startswith("forward, chunk 1 ÷ reverse") for label in bars)
    chunked = next(line for label, line in bars.items() if label.startswith("forward, chunked ÷ reverse"))
    want = [median(cells, n, "forward-chunked") / median(cells, n, "reverse") for n in NS]
    np.testing.assert_allclose(chunked.get_ydata(), want, rtol=1e-12)
    assert list(dashed["ideal, chunked: ⌈n/c⌉ / m"].get_ydata()) == [1 / (10 * n) for n in NS]


def test_without_chunked_reverse_the_labels_stay_as_they_were():
    for cells in (jacobian_cells(chunked_reverse=False), sweep_cells()):
        bars, _ = lines_by_label(plots.styled(plots.speedup_figure, cells, "t"))
        assert not any("÷" in label or label.startswith("both") for label in bars)


def test_the_caption_says_which_reverse_each_line_uses(tmp_path):
    doc = document(jacobian_cells(), name="tall", kind="jacobian")
    md = rr.markdown(report.build([Run(doc, tmp_path / "results.json")], tmp_path, "x").blocks)
    (caption,) = [line for line in md.splitlines() if line.startswith("**Figure 2.**")]
    assert "chunked forward mode ÷ chunked reverse mode" in caption
    assert "The other lines compare against reverse mode's m sweeps." in caption
    plain = document(jacobian_cells(chunked_reverse=False), name="tall", kind="jacobian")
    md = rr.markdown(report.build([Run(plain, tmp_path / "results.json")], tmp_path, "x").blocks)
    assert "chunked reverse mode" not in next(
        line for line in md.splitlines() if line.startswith("**Figure 2.**")
    )

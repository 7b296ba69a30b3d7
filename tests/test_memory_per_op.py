"""Issue 14 item 4: the memory figure shows reverse mode's bytes per recorded operation (peak
memory ÷ ops) below the peak memory, and the report's sentence quotes them from results.json; cells
with no operations or no peak memory neither crash the figure nor make up a number."""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from test_plots import SIZES, document, sweep_cells

from experiments import plots, report
from experiments import report_render as rr
from experiments.report_data import Run, bytes_per_op, no_bytes_per_op


def per_op_cells(sizes=SIZES):
    """A sweep whose reverse peak has a fixed part, so bytes per op changes with n: peak
    1000 n + 6000 over 4 n ops is 250 + 1500 / n bytes per op; the tape alone 500 n is 125."""
    cells = sweep_cells(sizes)
    for c in cells:
        if c["mode"] == "reverse":
            c["peak_bytes"] = 1000 * c["n"] + 6000
    return cells


def expected(n):
    return 250 + 1500 / n


def lower_panel(fig):
    assert len(fig.axes) == 2, "the memory figure has a bytes-per-operation panel below it"
    return fig.axes[1]


def markdown(cells, tmp_path):
    run = Run(document(cells), tmp_path / "results.json")
    return rr.markdown(report.build([run], tmp_path, "compare-modes report x").blocks)


def test_the_lower_panel_plots_peak_over_ops_for_reverse_mode():
    cells = per_op_cells()
    fig = plots.styled(plots.memory_figure, cells, "memory")
    ax = lower_panel(fig)
    (rev,) = [line for line in ax.lines if line.get_label() == "reverse"]
    assert list(rev.get_xdata()) == list(SIZES)
    np.testing.assert_allclose(rev.get_ydata(), [expected(n) for n in SIZES], rtol=1e-12)
    (tape,) = [line for line in ax.lines if line.get_linestyle() == ":"]
    np.testing.assert_allclose(tape.get_ydata(), [125.0] * len(SIZES), rtol=1e-12)
    notes = [t.get_text() for t in ax.texts]
    assert notes == [f"reverse: {expected(1000):.0f} B per operation at n = 1,000"]  # the largest n's
    assert ax.get_xscale() == "log" and "bytes per operation" in ax.get_ylabel()
    assert fig.axes[0].get_shared_x_axes().joined(fig.axes[0], ax)  # one n axis for both panels
    FigureCanvasAgg(fig).draw()
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ticks and all(t.endswith(" B") for t in ticks)


def test_the_panels_do_not_overlap():
    fig = plots.styled(plots.memory_figure, per_op_cells(), "memory")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    top, low = (ax.get_tightbbox(r) for ax in fig.axes)
    assert top.y0 >= low.y1 - 1  # the upper panel (tick labels included) sits above the lower one
    (legend,) = fig.legends
    assert legend.get_window_extent(r).y1 <= low.y0 + 1  # the legend below both


def test_the_report_sentence_quotes_bytes_per_op(tmp_path):
    md = markdown(per_op_cells(), tmp_path)
    (caption,) = [line for line in md.splitlines() if line.startswith("**Figure 5.**")]
    listed = ", ".join(f"{expected(n):,.0f} B at n = {n}" for n in SIZES)
    assert "Lower panel: reverse mode's peak memory per recorded operation (peak ÷ ops" in caption
    assert listed in caption
    assert "at n = 1000 that is 982.4 KiB ÷ 4,000 operations" in caption  # 1,006,000 B
    assert "the objects the tape holds come to 125 B per operation" in caption


def test_a_long_sweep_quotes_its_smallest_and_largest_n(tmp_path):
    sizes = (10, 20, 50, 100, 200, 500, 1000)
    md = markdown(per_op_cells(sizes), tmp_path)
    assert f"{expected(10):,.0f} B at n = 10 … {expected(1000):,.0f} B at n = 1000;" in md
    assert "B at n = 100," not in md


def test_ops_of_zero_or_missing_give_no_panel_and_say_why(tmp_path):
    cells = per_op_cells()
    for c in cells:
        if c["mode"] == "reverse":
            c["ops"] = 0 if c["n"] < 300 else None
    assert bytes_per_op(cells, "reverse") == []
    fig = plots.styled(plots.memory_figure, cells, "memory")  # no ZeroDivisionError
    assert len(fig.axes) == 1
    md = markdown(cells, tmp_path)
    assert "No bytes per recorded operation: reverse mode's cells record no operation count" in md
    assert "Lower panel" not in md


def test_one_cell_without_ops_is_a_cross_not_a_point():
    cells = per_op_cells()
    zero = next(c for c in cells if c["mode"] == "reverse" and c["n"] == 100)
    zero["ops"] = 0
    fig = plots.styled(plots.memory_figure, cells, "memory")
    ax = lower_panel(fig)
    (rev,) = [line for line in ax.lines if line.get_label() == "reverse"]
    assert 100 not in list(rev.get_xdata()) and len(rev.get_xdata()) == len(SIZES) - 1
    crosses = [c for c in ax.collections if c.get_offsets().shape[0] and c.get_offsets()[0][0] == 100]
    assert crosses, "the size without operations is marked on the n axis"


def test_no_peak_memory_for_reverse_says_so(tmp_path):
    cells = per_op_cells()
    for c in cells:
        if c["mode"] == "reverse":
            c["peak_bytes"] = None
            c["note"] = "peak memory not measured: a tracemalloc run would not fit the budget"
    assert no_bytes_per_op(cells) == "reverse mode's peak memory was not measured (the table's notes say why)"
    fig = plots.styled(plots.memory_figure, cells, "memory")
    assert len(fig.axes) == 1
    assert "No bytes per recorded operation: reverse mode's peak memory was not measured" in markdown(
        cells, tmp_path
    )


def test_a_run_without_reverse_mode_says_so():
    cells = [c for c in per_op_cells() if c["mode"] != "reverse"]
    assert "timed no reverse mode" in no_bytes_per_op(cells)
    assert len(plots.styled(plots.memory_figure, cells, "memory").axes) == 1


def test_numbers_stand_when_the_memory_figure_cannot_be_drawn(tmp_path):
    cells = per_op_cells()
    for c in cells:  # peak memory at one n only: no figure, but that n's bytes per op are known
        if c["n"] != 100:
            c["peak_bytes"] = None
    md = markdown(cells, tmp_path)
    assert "No peak memory figure" in md
    assert (
        f"Reverse mode's peak memory per recorded operation (peak ÷ ops): {expected(100):,.0f} B at n = 100"
        in md
    )


def array_cells():
    """A Jacobian-like sweep of few, large operations with chunked reverse mode beside reverse:
    bytes per op in KiB and MiB, growing with n."""
    cells = per_op_cells()
    for c in list(cells):
        if c["mode"] == "reverse":
            c["ops"] = 3
            cells.append(
                {**c, "mode": "reverse-chunked", "peak_bytes": 8 * c["peak_bytes"], "tape_bytes": None}
            )
    return cells


def test_large_bytes_per_op_go_log_in_kib_and_mib_and_their_values_clear_the_data():
    cells = array_cells()
    fig = plots.styled(plots.memory_figure, cells, "memory")
    ax = lower_panel(fig)
    assert ax.get_yscale() == "log"
    chunked = next(line for line in ax.lines if line.get_label() == "reverse, chunked")
    np.testing.assert_allclose(chunked.get_ydata(), [8 * (1000 * n + 6000) / 3 for n in SIZES])
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ticks and all(t.endswith(("KiB", "MiB")) for t in ticks)
    assert [t.get_text().split(":")[0] for t in ax.texts] == ["reverse, chunked", "reverse"]
    r = canvas.get_renderer()
    lowest_text = min(t.get_window_extent(r).y0 for t in ax.texts)
    highest_point = max(ax.transData.transform(xy)[1] for line in ax.lines for xy in line.get_xydata())
    assert lowest_text > highest_point  # the values sit above every line, not over one


def test_the_sentence_names_each_tape_mode_once(tmp_path):
    md = markdown(array_cells(), tmp_path)
    (caption,) = [line for line in md.splitlines() if line.startswith("**Figure 5.**")]
    assert caption.count("Lower panel") == 1
    assert "Chunked reverse mode's peak memory per recorded operation (peak ÷ ops): " in caption
    assert "at n = 1000 that is 7.7 MiB ÷ 3 operations." in caption  # 8 × 1,006,000 B

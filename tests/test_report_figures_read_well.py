"""Issue 15 item 5 and issue 14 item 5: the memory figure speaks the tables' KiB/MiB and shows the
chunk-1 line over the chunked one; the chunk-sweep figure marks the default chunk; report.html
wraps long commands in its environment table."""

import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from test_plots import chunk_cells, document, sweep_cells

from experiments import plots, report
from experiments import report_render as rr
from experiments.report_data import Run, chunk_sweep


def test_memory_figure_ticks_are_powers_of_two_in_kib_and_mib():
    cells = sweep_cells()
    fig = plots.styled(plots.memory_figure, cells, "memory")
    ax = fig.axes[0]
    FigureCanvasAgg(fig).draw()
    ticks = [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels() if t.get_text()]
    assert len(ticks) >= 2
    for value, text in ticks:
        assert math.log2(value).is_integer(), value
        assert text.endswith((" B", "KiB", "MiB", "GiB")) and not text.endswith(("kB", "MB"))
        assert text == plots.binary_bytes(value)
    assert plots.binary_bytes(4096) == "4 KiB" and plots.binary_bytes(2**20) == "1 MiB"


def test_memory_figure_draws_chunk_1_over_the_chunked_line():
    cells = sweep_cells()
    for c in cells:  # the same memory in both forward modes: one line would hide the other
        if c["mode"] == "forward-chunked":
            c["peak_bytes"] = 100 * c["n"]
    fig = plots.styled(plots.memory_figure, cells, "memory")
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    one, chunked = lines["forward, chunk 1"], lines["forward, chunked"]
    assert list(one.get_ydata()) == list(chunked.get_ydata())[: len(one.get_ydata())]
    assert one.get_zorder() > chunked.get_zorder()
    assert one.get_linestyle() != chunked.get_linestyle() and one.get_markerfacecolor() == "none"
    assert one.get_markersize() > chunked.get_markersize()


def test_chunk_sweep_figure_marks_the_default_chunk():
    cells = chunk_cells()
    n, sweep = chunk_sweep(Run({"cells": cells}, None))
    default = plots.default_chunk_cell(sweep)
    own = next(c for c in cells if c["mode"] == "forward-chunked" and not c["details"])
    assert default is own  # the run's own forward-chunked cell, not one of the sweep's extras
    fig = plots.styled(plots.chunk_figure, n, sweep, cells, "chunks")
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("the run's default chunk")]
    assert set(line.get_xdata()) == {own["chunk"]}
    assert f"c = {own['chunk']}," in line.get_label()


def test_environment_table_wraps_long_commands_in_html(tmp_path):
    long = "compare-modes --problem tall --inputs " + ",".join(map(str, range(2, 400, 3))) + " --out x"
    doc = document(sweep_cells(), command=long)
    run = Run(doc, tmp_path / "results.json")
    built = report.build([run], tmp_path, "compare-modes report x")
    (table,) = [b for b in built.blocks if isinstance(b, rr.Table) and "command" in b.head]
    assert table.head.index("command") in table.wrap
    html = rr.page([table], tmp_path, "t")
    assert "td.w { white-space: normal; overflow-wrap: anywhere;" in html
    row = html.split("<tr>")[2]
    assert row.count("<td class=w>") == 1 and "<td class=w><code>compare-modes --problem tall" in row

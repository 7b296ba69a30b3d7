"""Issue 15 item 16, the figure part: a ``--sizes`` run whose input count n never changes draws its
time figure against the problem size, named as the builder names its size (``build(steps, seed)``:
"steps"), and the report says so; a run whose n changes keeps its figures against n."""

import json
import textwrap

import pytest
from test_plots import cell, document, model
from test_runner import make_fast

from experiments import plots, report
from experiments import report_render as rr
from experiments.cli import main
from experiments.problems import load_user_problem
from experiments.report_data import Run, against_size, size_name

ODE = '''
import numpy as np
from modes import ops

def build({size}, seed):
    """Euler steps of y' = -a y + b sin(c y) with 4 parameters."""
    p = np.random.default_rng(seed).uniform(0.5, 1.5, size=4)

    def f(q):
        y, h = q[0], 1.0 / {size}
        for _ in range({size}):
            y = y + h * (-q[1] * y + q[2] * ops.sin(q[3] * y))
        return y

    return f, [float(v) for v in p]
'''


def ode_file(tmp_path, size="steps"):
    path = tmp_path / f"ode_{size}.py"
    path.write_text(textwrap.dedent(ODE.format(size=size)))
    return path


@pytest.mark.parametrize(
    "param, name", [("steps", "steps"), ("batch_size", "batch size"), ("n", None), ("size", None)]
)
def test_a_builder_names_its_size_by_its_first_parameter(tmp_path, param, name):
    assert load_user_problem(str(ode_file(tmp_path, param)), "build").size_name == name


def sized_cells(sizes=(10, 30, 100, 300), n=4, n_grows=False):
    """A --sizes run: each size's cells at input count n (or n = size when ``n_grows``)."""
    out = []
    for s in sizes:
        for mode in ("function", "forward", "reverse"):
            k = s if n_grows else n
            c = cell(k, mode, model(s, mode), size=s)
            c["passes"] = k if mode == "forward" else 1
            out.append(c)
    return out


def test_a_fixed_n_gives_cells_keyed_by_size():
    cells = sized_cells()
    n, by_size = against_size(Run({"cells": cells}, None))
    assert n == 4
    assert sorted({c["n"] for c in by_size}) == [10, 30, 100, 300]
    assert {c["inputs_n"] for c in by_size} == {4}
    assert all(c["n"] == 4 for c in cells)  # the run's own cells are not changed


def test_a_size_whose_build_failed_does_not_hide_the_fixed_n():
    cells = sized_cells()
    for mode in ("function", "forward", "reverse"):  # as the runner records a failed build: n = size
        c = cell(1000, mode, 1.0, size=1000, status="error", reason="building the problem failed")
        c.update(passes=None, sweeps=None, time_median_s=None)
        cells.append(c)
    n, by_size = against_size(Run({"cells": cells}, None))
    assert n == 4 and 1000 in {c["n"] for c in by_size}


def test_no_size_axis_when_n_changes_or_sizes_were_not_asked_for():
    assert against_size(Run({"cells": sized_cells(n_grows=True)}, None)) is None
    plain = [{**c, "size": None} for c in sized_cells()]
    assert against_size(Run({"cells": plain}, None)) is None
    assert against_size(Run({"cells": sized_cells(sizes=(10,))}, None)) is None


def test_the_time_figure_against_a_size_names_its_axis_and_guide():
    _, by_size = against_size(Run({"cells": sized_cells()}, None))
    fig = plots.styled(plots.time_figure, by_size, "t", (), "steps (the problem size); n = 4")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "steps (the problem size); n = 4"
    rev = next(line for line in ax.lines if line.get_label().startswith("reverse"))
    assert list(rev.get_xdata()) == [10, 30, 100, 300]
    labels = [line.get_label() for line in ax.lines]
    assert any(t.startswith("O(size) guide, through reverse at size = 10") for t in labels)
    assert not any("O(n" in t for t in labels)


def test_the_report_of_a_synthetic_fixed_n_run_draws_time_against_size(tmp_path):
    doc = document(sized_cells(), command="compare-modes --problem ode.py:build --sizes 10,30,100,300")
    doc["problem"]["size_name"] = "steps"
    run = Run(doc, tmp_path / "results.json")
    assert size_name(run) == "steps"
    built = report.build([run], tmp_path, "x")
    assert [stem for stem, _ in built.figures] == ["synthetic-time"]
    (_, fig), md = built.figures[0], rr.markdown(built.blocks)
    assert fig.axes[0].get_xlabel() == "steps (the problem size); n = 4 inputs at every size"
    assert "## Run 1: synthetic, steps = 10, 30, 100, 300 at n = 4" in md
    assert (
        "against the problem size (steps, as `--sizes` gave it; log-log) at a fixed input count, n = 4" in md
    )
    assert "the time figure is drawn against the size (steps)" in md
    doc["problem"].pop("size_name")  # an older results.json, or a builder whose size is unnamed
    built = report.build([Run(doc, tmp_path / "results.json")], tmp_path, "x")
    assert built.figures[0][1].axes[0].get_xlabel().startswith("problem size; n = 4")


def test_a_sized_cli_run_records_the_size_name_and_reports_against_it(tmp_path, monkeypatch, capsys):
    make_fast(monkeypatch)
    out = tmp_path / "runs"
    problem = f"{ode_file(tmp_path)}:build"
    assert main(["--problem", problem, "--sizes", "3,30", "--repeat", "3", "-q", "--out", str(out)]) == 0
    (folder,) = out.iterdir()
    assert json.loads((folder / "results.json").read_text())["problem"]["size_name"] == "steps"
    assert main(["report", str(folder)]) == 0
    md = (folder / "report.md").read_text()
    assert "(figures/ode-steps-py-build-time.png)" in md
    assert "This run swept the problem size (`--sizes`: 3, 30) at n = 4: the input count never changed" in md
    assert (folder / "figures" / "ode-steps-py-build-time.png").is_file()

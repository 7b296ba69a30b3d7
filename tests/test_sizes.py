"""Problems whose size is not the input count (issue 15 item 16): ``--sizes`` calls
``build(size, seed)`` and reads the input count from x; both show in the table, the JSON and the
sentences; no cell claims a count or a prediction for an instance that was not built."""

import json
import textwrap
import time

import numpy as np
import pytest
from test_runner import make_fast

from experiments import tables
from experiments.cli import main
from experiments.problems import GRADIENT, Instance, Problem
from experiments.runner import Runner, Settings

ODE = '''
import numpy as np
from modes import ops

def build(steps, seed):
    """Euler steps of y' = -a y + b sin(c y) with 4 parameters."""
    p = np.random.default_rng(seed).uniform(0.5, 1.5, size=4)

    def f(q):
        y, h = q[0], 1.0 / steps
        for _ in range(steps):
            y = y + h * (-q[1] * y + q[2] * ops.sin(q[3] * y))
        return y

    return f, [float(v) for v in p]
'''


@pytest.fixture
def ode(tmp_path, monkeypatch):
    make_fast(monkeypatch)
    path = tmp_path / "ode.py"
    path.write_text(textwrap.dedent(ODE))
    return f"{path}:build"


def test_sizes_sweep_the_problem_size_and_read_n_from_x(ode, capsys):
    assert main(["--problem", ode, "--sizes", "3,30", "--repeat", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["by_size"] is True and doc["settings"]["sizes"] == [3, 30]
    cells = doc["cells"]
    assert {(c["size"], c["n"]) for c in cells} == {(3, 4), (30, 4)}
    assert all(c["status"] == "ok" for c in cells)
    fwd = {c["size"]: c for c in cells if c["mode"] == "forward"}
    assert fwd[3]["passes"] == fwd[30]["passes"] == 4  # 4 inputs, whatever the size
    assert fwd[30]["ops"] > 5 * fwd[3]["ops"]  # the work grows with the size
    table = tables.format_table(cells)
    assert table.splitlines()[0].split()[:3] == ["size", "n", "mode"]
    said = " ".join(doc["summary"])
    assert "at size = 3 (n = 4)" in said and "at size = 30 (n = 4)" in said


def test_inputs_on_a_problem_that_keeps_its_own_n_claim_nothing_unbuilt(ode, capsys):
    """--inputs 10,100,1000 on the 4-parameter ODE: one instance (n = 4) is measured and said to
    be; the other sizes are dropped without rows claiming 100 or 1000 inputs, passes or times."""
    assert main(["--problem", ode, "--inputs", "10,100,1000", "--repeat", "3"]) == 0
    out, err = capsys.readouterr()
    assert "n = 10 (built with n = 4): measuring" in err
    assert "n = 100: ode.py:build rounds it to n = 4, already measured; skipping" in err
    rows = [line.split() for line in out.splitlines() if line[:1].isspace() or line[:1].isdigit()]
    data = [r for r in rows if r and r[0].isdigit()]
    assert data and all(r[0] == "4" for r in data)
    assert "1,000" not in out and " 100 " not in out and "predicted" not in out


def test_sizes_need_a_builder_and_exclude_inputs(ode, capsys):
    assert main(["--sizes", "10"]) == 2
    assert "--sizes is for your own builder build(size, seed)" in capsys.readouterr().err
    assert main(["--problem", ode, "--sizes", "10", "--inputs", "10"]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_size_predicted_over_the_budget_says_which_size_would_fit(monkeypatch):
    """The time per call grows with the size (not with n = 2): the prediction follows the size."""
    make_fast(monkeypatch)

    def build(size, seed, m, opts):
        def f(v):
            time.sleep(0.0005 * size)
            return v[0] * v[1]

        return Instance(f, [1.0, 2.0], 2, 1, GRADIENT, np.array([2.0, 1.0]))

    p = Problem("slow", "sleeps per size", "user", "decided by the builder", build)
    s = Settings(
        problem=p, sizes=[4, 8, 4000], modes=("forward", "reverse"), repeat=3, budget=0.3, memory=False
    )
    s.by_size = True
    out = Runner(s).run()
    big = [c for c in out.cells if c.size == 4000]
    assert big and all(c.n == 2 for c in big)
    fwd = next(c for c in big if c.mode == "forward")
    assert fwd.status == "skipped" and "size <= " in fwd.reason and "a call measured at size = " in fwd.reason
    assert fwd.passes == 2 and fwd.predicted_time_s > 1.0


def test_the_report_of_a_sized_run_shows_the_size(ode, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["--problem", ode, "--sizes", "3,30", "--repeat", "3", "-q", "--out", str(out)]) == 0
    (folder,) = out.iterdir()
    assert main(["report", str(folder)]) == 0
    md = (folder / "report.md").read_text()
    assert "| size | n | mode |" in md and "| 30 | 4 | reverse |" in md
    assert "This run swept the problem size (`--sizes`: 3, 30) at n = 4" in md

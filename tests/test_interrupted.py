"""After Ctrl-C (issue 15 item 4): the table and the closing sentences agree about what was
timed, "results saved" is said once, and the report of the partial run draws what it has."""

import pytest
from test_runner import make_fast

from experiments import runner, tables
from experiments.cli import main
from experiments.problems import CATALOGUE
from experiments.report import main as report_main
from experiments.results import load
from experiments.runner import Runner, Settings


@pytest.fixture
def fast(monkeypatch):
    make_fast(monkeypatch)


def _ctrl_c_in_reverse(monkeypatch, at_n: int, after_calls: int) -> None:
    """Ctrl-C arrives during reverse mode's ``after_calls + 1``-th call at n = ``at_n``."""
    real = runner.kernel

    def kernel(inst, k, chunk):
        fn = real(inst, k, chunk)
        if k != "reverse" or inst.n != at_n:
            return fn
        calls = []

        def interrupted():
            calls.append(1)
            if len(calls) > after_calls:
                raise KeyboardInterrupt
            return fn()

        return interrupted

    monkeypatch.setattr(runner, "kernel", kernel)


def test_the_table_and_the_summary_agree_on_a_cell_interrupted_while_timed(fast, monkeypatch):
    _ctrl_c_in_reverse(monkeypatch, at_n=3, after_calls=2)  # the verification call, one sample
    s = Settings(problem=CATALOGUE["rosenbrock"], sizes=[3], repeat=5, budget=5.0, memory=False)
    out = Runner(s).run()
    assert out.interrupted
    cells = [c.as_dict() for c in out.cells]
    rev = next(c for c in cells if c["mode"] == "reverse")
    assert rev["status"] == "interrupted" and len(rev["samples_s"]) == 1 and rev["time_median_s"]
    assert rev["reason"].startswith("interrupted (Ctrl-C) after 1 of 5 samples")
    table = tables.format_table(cells)
    row = next(line for line in table.splitlines() if line.split()[1:2] == ["reverse"])
    assert "[" in row  # its median is footnoted
    assert "interrupted (Ctrl-C) after 1 of 5 samples" in table
    summary = " ".join(tables.summary(cells))
    assert "not timed" not in summary
    assert "partial: interrupted by Ctrl-C" in summary and "reverse mode after 1 sample" in summary


def test_a_sweep_summary_marks_interrupted_cells(fast, monkeypatch):
    _ctrl_c_in_reverse(monkeypatch, at_n=4, after_calls=2)
    s = Settings(problem=CATALOGUE["rosenbrock"], sizes=[3, 4], repeat=5, budget=5.0, memory=False)
    cells = [c.as_dict() for c in Runner(s).run().cells]
    first = tables.summary(cells)[0]
    assert "*" in first and "* a cell interrupted (Ctrl-C)" in first and "not timed" not in first


def test_an_interrupted_run_says_results_saved_once_and_its_report_draws_what_it_has(
    tmp_path, fast, monkeypatch, capsys
):
    # n = 2 and 3 complete; Ctrl-C at n = 4 after reverse's verification, memory run and a sample
    _ctrl_c_in_reverse(monkeypatch, at_n=4, after_calls=3)
    out = tmp_path / "runs"
    assert main(["--inputs", "2,3,4", "--repeat", "3", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.count("results saved") == 1 and "partial results saved in" in err
    (folder,) = out.iterdir()
    doc = load(folder)
    assert doc["status"] == "partial"
    assert [c["status"] for c in doc["cells"] if c["n"] == 4] == ["interrupted"] * 4
    assert report_main([str(folder)]) == 0
    md = (folder / "report.md").read_text()
    assert "**Partial run**" in md
    assert (folder / "figures" / "rosenbrock-time.png").exists()
    assert (folder / "figures" / "rosenbrock-speedup.png").exists()
